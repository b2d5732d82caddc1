#!/usr/bin/env python3
# bench/tiles_commit_sim.py ROUNDS: the file-system part of an in-place `tiles --update` commit without
# baims (bench/results/2026-12-02-tiles-update-6.md), run in /tmp/tu/sim2 (removed and rebuilt each
# round). Prints per variant the median ms of each phase and the total of each round.
# Simulates the commit of an in-place tiles --update (bench/results/2026-12-02-tiles-update-6.md):
# 23 chunk files (~250 kB, writeback started at write), ~25 staged metadata files, journal.
# Variants: A = syncfs; rename journal; fsync root; renames; syncfs; unlink (as main)
#           B = as A, but the second syncfs replaced by an fsync of each changed folder
#           C = as B, and the first syncfs replaced by fsync of each new file + its folder
import os, ctypes, time, sys, shutil, statistics
libc = ctypes.CDLL(None, use_errno=True)
root = os.environ.get('SIM_DIR', '/tmp/tu/sim2')
def fsync_path(p, d=False):
    fd = os.open(p, os.O_RDONLY | (os.O_DIRECTORY if d else 0)); os.fsync(fd); os.close(fd)
def syncfs(p):
    fd = os.open(p, os.O_RDONLY); libc.syncfs(fd); os.close(fd)
def prepare(r):
    shutil.rmtree(root, ignore_errors=True)
    for k in (1, 2, 3):
        for a in ('sst', 'time', 'time_bnds'):
            os.makedirs(f'{root}/{k}.zarr/{a}')
    os.makedirs(f'{root}/.st')
    os.sync()
def run(variant):
    t0 = time.perf_counter()
    data = os.urandom(250_000)
    new = []
    for i in range(23):
        p = f'{root}/{1 + i % 3}.zarr/sst/10.{i}.0'
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC); os.write(fd, data)
        libc.sync_file_range(fd, ctypes.c_long(0), ctypes.c_long(0), 2); os.close(fd); new.append(p)
    moves = []
    for k in (1, 2, 3):
        for f in ('.zmetadata', 'sst/.zarray', 'time/.zarray', 'time/0', 'time_bnds/.zarray', 'time_bnds/0.0', '.zattrs', 'sst/.zattrs'):
            s = f'{root}/.st/{k}.zarr/{f}'
            os.makedirs(os.path.dirname(s), exist_ok=True)
            with open(s, 'w') as fh: fh.write('x' * 400)
            moves.append((s, f'{root}/{k}.zarr/{f}')); new.append(s)
    with open(f'{root}/.st/j', 'w') as fh: fh.write('j' * 3000)
    new.append(f'{root}/.st/j')
    t1 = time.perf_counter()
    if variant == 'C':
        for p in new: fsync_path(p)
        for dd in sorted({os.path.dirname(p) for p in new}): fsync_path(dd, True)
    else:
        syncfs(root)
    t2 = time.perf_counter()
    os.rename(f'{root}/.st/j', f'{root}/j'); fsync_path(root, True)
    t3 = time.perf_counter()
    for s, d in moves: os.rename(s, d)
    t4 = time.perf_counter()
    if variant == 'A':
        syncfs(root)
    else:
        for dd in sorted({os.path.dirname(d) for s, d in moves}): fsync_path(dd, True)
    t5 = time.perf_counter()
    os.unlink(f'{root}/j'); shutil.rmtree(f'{root}/.st')
    t6 = time.perf_counter()
    return [1000 * x for x in (t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t0 - (t1 - t0))]
rounds = int(sys.argv[1]); res = {v: [] for v in 'ABC'}
for r in range(rounds):
    for v in 'ABC':
        prepare(r); time.sleep(0.2)
        res[v].append(run(v))
for v in 'ABC':
    cols = list(zip(*res[v]))
    print(v, 'medians ms: sync1 %.1f  commit-fsync %.1f  renames %.1f  sync2 %.1f  total-commit %.1f' % tuple(statistics.median(c) for c in cols),
          '| totals', ' '.join('%.0f' % x for x in cols[4]))
