"""baims gen on existing cubes: insert, append, replace, reruns, kill -9 at every stage of a
write followed by a rerun, bad inputs, config errors, and the writer lock."""

import datetime as dt
import fcntl
import json
import os
import shutil
import subprocess
import zlib

import numpy as np
from baimstest import xr  # imported on first use (pandas, dask: ~1 s CPU)

from baimstest import (BAIMS, RUN_ATTRS, TempDirTest, cube_differences, cube_files, run, snapshot,
                       traced_env, write_cf, write_config)

T0 = dt.datetime(2022, 3, 1, 11, 0)
LAT = np.arange(9.75, 0, -0.5)        # 20 rows, descending
LON = np.arange(0.25, 15, 0.5)        # 30 cols
REGION = [0.0, 0.0, 15.0, 10.0]
SIZE = (45, 30)                       # 3x upsampling: 1/3 deg
CHUNKS = (7, 10)                      # ragged in both dims


def field(k):
    rng = np.random.default_rng(100 + k)
    d = rng.normal(loc=k, size=(20, 30))
    d[: 2 + k % 5, :] = np.nan        # a NaN band whose height depends on k: some chunks empty
    return d


class _Inputs(TempDirTest):
    """Seven daily inputs (day 4 twice, with other values) and a gen helper; no tests."""

    def setUp(self):
        super().setUp()
        self.inputs = {}
        for k in range(1, 7):
            path = self.p(f"in{k}.nc")
            t = T0 + dt.timedelta(days=k)
            write_cf(path, LAT, LON, field(k)[None], [t],
                     bounds=[(t - dt.timedelta(hours=12), t + dt.timedelta(hours=12))])
            self.inputs[k] = path
        # a replacement for day 4 (same time, other values)
        path = self.p("in4b.nc")
        t = T0 + dt.timedelta(days=4)
        write_cf(path, LAT, LON, (field(4) * 2 + 1)[None], [t],
                 bounds=[(t - dt.timedelta(hours=12), t + dt.timedelta(hours=12))])
        self.inputs["4b"] = path

    def gen(self, out, keys, check=0, env=None, extra=()):
        cfg = self.p("cfg.yml")
        write_config(cfg, REGION, SIZE, out, chunks=CHUNKS)
        return run(["gen", "-c", cfg] + list(extra) + [self.inputs[k] for k in keys], env=env, check=check)

    def assert_same_cube(self, a, b):
        """Every file of the two cubes has the same bytes (the lock file aside), except the root
        group's RUN_ATTRS (date_created, date_modified, history) in .zattrs and .zmetadata; and
        xarray reads the same coordinates, values and attributes."""
        self.assertEqual(cube_files(a), cube_files(b))
        self.assertEqual(cube_differences(a, b), [])
        da, db = xr.open_zarr(a), xr.open_zarr(b)
        np.testing.assert_array_equal(da.time.values, db.time.values)
        np.testing.assert_array_equal(da.time_bnds.values, db.time_bnds.values)
        np.testing.assert_array_equal(da.v.values, db.v.values)
        strip = lambda attrs: {k: v for k, v in attrs.items() if k not in RUN_ATTRS}
        self.assertEqual(strip(da.attrs), strip(db.attrs))

    def assert_metadata_is(self, out, snap):
        """The cube's metadata files (root and per array, .baims-sources.json, coordinate chunks)
        are exactly those of snapshot `snap`."""
        now = snapshot(out)
        meta = lambda s: {k: v for k, v in s.items()
                          if not k.startswith((".baims-staging", ".baims-journal")) and
                          (k.startswith(".") or "/." in k or k.split("/")[0] != "v")}
        self.assertEqual(meta(now), meta(snap))

class Update(_Inputs):
    def test_insert_append_replace_equals_fresh_cube(self):
        out = self.p("u.zarr")
        self.gen(out, [2, 4])
        self.gen(out, [1])            # insert before
        self.gen(out, [6])            # append after
        self.gen(out, [3, 5])         # insert in the middle, twice
        self.gen(out, ["4b"])         # replace
        ref = self.p("ref.zarr")
        self.gen(ref, [1, 2, 3, "4b", 5, 6])
        self.assert_same_cube(out, ref)
        ds = xr.open_zarr(out)
        self.assertEqual(ds.time.size, 6)
        self.assertEqual(len(ds.attrs["history"].splitlines()), 5)

    def test_file_name_not_utf8(self):
        # A file name in Latin-1 bytes (b"t\xe4gl.nc"): recorded as its characters ("t\u00e4gl.nc"),
        # the cube made (it used to stop with exit 70, an internal error), a rerun up to date.
        name = os.fsdecode(b"t\xe4gl.nc")
        shutil.copy(self.inputs[1], self.p(name))
        self.inputs["latin1"] = self.p(name)
        out = self.p("u.zarr")
        self.gen(out, ["latin1"])
        with open(os.path.join(out, ".baims-sources.json"), encoding="utf-8") as f:
            self.assertEqual(json.load(f)["steps"][0]["inputs"][0]["name"], "t\u00e4gl.nc")
        self.assertEqual(xr.open_zarr(out).attrs["source"], "t\u00e4gl.nc")
        before = snapshot(out)
        p = self.gen(out, ["latin1"])
        self.assertIn("up to date", p.stderr)
        self.assertEqual(before, snapshot(out))

    def test_rerun_changes_nothing(self):
        out = self.p("u.zarr")
        self.gen(out, [1, 2, 3])
        before = snapshot(out)
        p = self.gen(out, [1, 2, 3])
        self.assertIn("up to date", p.stderr)
        self.assertEqual(before, snapshot(out))

    def test_extending_xcube_golden_cube(self):
        from baimstest import DATA
        import glob
        src = os.path.join(DATA, "golden", "golden-xcube-1.0.5", "ostia-golden.zarr")
        out = self.p("golden.zarr")
        shutil.copytree(src, out)
        os.chmod(out, 0o755)
        for root, dirs, files in os.walk(out):
            for d in dirs:
                os.chmod(os.path.join(root, d), 0o755)
            for f in files:
                os.chmod(os.path.join(root, f), 0o644)
        cfg = os.path.join(DATA, "golden", "golden-xcube-1.0.5", "gen-config-ostia.yml")
        inputs = sorted(glob.glob(os.path.join(DATA, "ostia", "*.nc")))
        golden = xr.open_zarr(src)
        before = golden.analysed_sst.values
        # xcube's inputs on xcube's cube: each slice is replaced in place (values differ from
        # xcube's by float32 decoding, at most 1 ulp), keeping xcube's chunking and encodings
        p = run(["gen", "-c", cfg, "-o", out] + inputs, check=0)
        self.assertIn("0 appended, 0 inserted, 3 replaced", p.stderr)
        fresh = self.p("fresh.zarr")
        run(["gen", "-c", cfg, "-o", fresh] + inputs, check=0)
        np.testing.assert_array_equal(xr.open_zarr(out).analysed_sst.values,
                                      xr.open_zarr(fresh).analysed_sst.values)
        import zarr
        z = zarr.open_consolidated(out, mode="r")
        self.assertEqual(z["time_bnds"].dtype, np.dtype("<i8"))   # xcube's encoding is kept
        np.testing.assert_array_equal(z["time_bnds"][:], [[17322, 17323], [17323, 17324], [17324, 17325]])
        self.assertEqual(z["analysed_sst"].chunks, (1, 176, 320))
        self.assertEqual(z.attrs["title"], "OSTIA sample cube (xcube 1.0.5 gen golden output)")
        # and now a rerun changes nothing
        p = run(["gen", "-c", cfg, "-o", out] + inputs, check=0)
        self.assertIn("up to date", p.stderr)
        # a config that disagrees with the cube is refused, and the cube is untouched
        snap = snapshot(out)
        bad = self.p("bad.yml")
        with open(cfg) as f:
            text = f.read().replace("output_size: [640, 352]", "output_size: [320, 176]")
        with open(bad, "w") as f:
            f.write(text)
        p = run(["gen", "-c", bad, "-o", out] + inputs, check=5)
        self.assertIn("has grid 640x352", p.stderr)
        self.assertEqual(snap, snapshot(out))
        np.testing.assert_array_equal(xr.open_zarr(out).analysed_sst.values,
                                      xr.open_zarr(fresh).analysed_sst.values)
        self.assertEqual(before.shape, (3, 352, 640))

    def kill_update_at_every_stage(self, old_keys, new_keys, ref_keys, stages):
        """An update by exchange (an insert or a replacement) killed at each (fault point, n):
        before the exchange every file of the cube is as it was and xarray reads the old values;
        after it, every file is the new cube's (the journal aside); then the rerun completes."""
        ref, base, done = self.p("ref.zarr"), self.p("base.zarr"), self.p("done.zarr")
        self.gen(ref, ref_keys)
        self.gen(base, old_keys)
        shutil.copytree(base, done)
        self.gen(done, new_keys)
        old = xr.open_zarr(base).v.values.copy()
        new = xr.open_zarr(done).v.values.copy()
        for name, n in stages:
            with self.subTest(stage=name, n=n):
                out = self.p(f"k-{name}-{n}.zarr")
                swap = out + ".baims-swap"
                shutil.copytree(base, out)
                self.gen(out, new_keys, env={"BAIMS_TEST_KILL_AT": f"{name}:{n}"}, check=-9)
                journal = os.path.join(out, ".baims-journal.json")
                phase = None
                if os.path.exists(journal):
                    with open(journal) as f:
                        phase = json.load(f)["phase"]
                self.assertEqual(phase, {"chunk": None, "before-commit": None,
                                         "journal-D": "D"}.get(name, "B"))
                if name != "journal-D":
                    # before the exchange: every file of the cube as it was (staged chunks and
                    # the journal aside), xarray reads the old cube
                    self.assertEqual(cube_differences(base, out, skip=(".baims-staging",
                                                                       ".baims-journal")), [])
                    np.testing.assert_array_equal(xr.open_zarr(out).v.values, old)
                else:
                    # exchanged: exactly the new cube (timestamps aside) plus the journal; the old
                    # tree waits beside it to be deleted
                    self.assertEqual(cube_differences(done, out, skip=(".baims-journal",)), [])
                    np.testing.assert_array_equal(xr.open_zarr(out).v.values, new)
                    self.assertTrue(os.path.isdir(swap))
                # a second writer is not blocked by the dead one, and the rerun finishes the job
                p = self.gen(out, new_keys)
                if phase:
                    self.assertIn("completing an interrupted update", p.stderr)
                self.assert_same_cube(out, ref)
                self.assertFalse(os.path.exists(journal))
                self.assertFalse(os.path.exists(os.path.join(out, ".baims-staging")))
                self.assertFalse(os.path.exists(swap))

    # The stages: staging (chunk), staged but no journal (before-commit), phase B after the old
    # chunks' links into the new tree and before the first staged one (journal-B:1), the new
    # tree complete before the exchange (journal-X), exchanged (journal-D). A kill between two
    # staged links of phase B (journal-B:9 and :6 until 2026-12-02) leaves the same journal phase
    # and a new tree between those of journal-B:1 and journal-X, which the rerun rebuilds the same
    # way; test_gen_crash.MetadataKillsInsert/Replace kill at the first and the last of those
    # links and at every metadata write of the new tree (dev build).
    def test_kill9_at_every_stage_then_rerun(self):
        # insert days 1 and 3 into a cube of days 2, 4, 5
        self.kill_update_at_every_stage(
            [2, 4, 5], [1, 3], [1, 2, 3, 4, 5],
            [("chunk", 5), ("before-commit", 1), ("journal-B", 1), ("journal-X", 1),
             ("journal-D", 1)])

    def test_kill9_during_append_and_replace_then_rerun(self):
        # append days 5 and 6 and replace day 4: the replacement makes it an exchange
        self.kill_update_at_every_stage(
            [1, 2, 4], [5, 6, "4b"], [1, 2, "4b", 5, 6],
            [("chunk", 3), ("before-commit", 1), ("journal-B", 1), ("journal-X", 1),
             ("journal-D", 1)])

    def test_kill9_during_append_then_rerun(self):
        """Appends alone stay in place (phases C and M): appended steps are invisible until
        .zmetadata names them."""
        ref = self.p("ref.zarr")
        self.gen(ref, [1, 2, 4, 5, 6])
        self.gen(self.p("base.zarr"), [1, 2, 4])
        shutil.copytree(self.p("base.zarr"), self.p("done.zarr"))
        self.gen(self.p("done.zarr"), [5, 6])
        # journal-C:6: five staged chunks already moved into place, the rerun moves the rest
        # (journal-C:1, nothing moved yet, was dropped on 2026-12-02: the rerun then moves every
        # chunk, as after journal-C:6 it moves the rest, and journal-M checks the phase after C)
        stages = [("chunk", 3), ("before-commit", 1), ("journal-C", 6), ("journal-M", 1),
                  ("journal-M-done", 1)]
        for name, n in stages:
            with self.subTest(stage=name, n=n):
                out = self.p(f"a-{name}-{n}.zarr")
                shutil.copytree(self.p("base.zarr"), out)
                before = snapshot(out)
                old = xr.open_zarr(out).v.values.copy()
                self.gen(out, [5, 6], env={"BAIMS_TEST_KILL_AT": f"{name}:{n}"}, check=-9)
                self.assertFalse(os.path.exists(out + ".baims-swap"))
                ds = xr.open_zarr(out)
                if name in ("chunk", "before-commit"):
                    self.assertEqual(cube_differences(self.p("base.zarr"), out,
                                                      skip=(".baims-staging",)), [])
                    np.testing.assert_array_equal(ds.v.values, old)
                elif name != "journal-M-done":
                    self.assert_metadata_is(out, before)
                    self.assertEqual(ds.time.size, 3)
                    np.testing.assert_array_equal(ds.v.values, old)
                else:
                    self.assertEqual(cube_differences(self.p("done.zarr"), out,
                                                      skip=(".baims-journal",)), [])
                p = self.gen(out, [5, 6])
                if name not in ("chunk", "before-commit"):
                    self.assertIn("completing an interrupted update", p.stderr)
                self.assert_same_cube(out, ref)
                self.assertFalse(os.path.exists(os.path.join(out, ".baims-journal.json")))

    def test_kill9_during_create_then_rerun(self):
        ref = self.p("ref.zarr")
        self.gen(ref, [1, 2, 3])
        for name, n in (("chunk", 4), ("create-rename", 1)):
            with self.subTest(stage=name):
                out = self.p(f"c-{name}.zarr")
                self.gen(out, [1, 2, 3], env={"BAIMS_TEST_KILL_AT": f"{name}:{n}"}, check=-9)
                self.assertFalse(os.path.exists(out))   # the old state: no cube
                self.gen(out, [1, 2, 3])
                self.assert_same_cube(out, ref)
                self.assertFalse(os.path.exists(out + ".baims-new"))

    def test_kill9_from_outside_inside_the_write(self):
        """kill -9 from outside at moments known to lie inside the update (issue 12 item 1; a
        random 0-80 ms delay killed release builds before they had written anything): (a) once
        the staging folder has appeared (polled), plus a random delay, while the process still
        runs: staging or the journal is there; (b) at a random rename of phase B (the new cube's
        metadata written in <cube>.baims-swap) and at the exchange (strace -e inject), checked
        against the killed syscall in strace's log. xarray then reads the old or the new cube."""
        import re
        import time
        ref = self.p("ref.zarr")
        self.gen(ref, [1, 2, 3, 4, 5, 6])
        base = self.p("base.zarr")
        self.gen(base, [2, 4, 6])
        old = xr.open_zarr(base).v.values.copy()
        new = xr.open_zarr(ref).v.values.copy()
        cfg = self.p("cfg.yml")
        rng = np.random.default_rng(3)
        strace = shutil.which("strace")
        self.assertIsNotNone(strace, "strace is needed (scripts/install-deps.sh installs it)")

        def command(out, prefix=()):
            write_config(cfg, REGION, SIZE, out, chunks=CHUNKS)
            return list(prefix) + [BAIMS, "--progress", "never", "--threads", "1", "gen", "-c", cfg,
                                   self.inputs[1], self.inputs[3], self.inputs[5]]

        def renames(log, cube):
            """(syscall, target relative to the cube) per rename/renameat2, in order; killed"""
            out = []
            with open(log) as f:
                for line in f:
                    m = re.match(r'^\d+\s+(rename|renameat2)\((.*)', line)
                    if m and "resumed>" not in line:
                        target = os.path.relpath(re.findall(r'"([^"]*)"', m.group(2))[-1], cube)
                        swap = "../" + os.path.basename(cube) + ".baims-swap"
                        if target.startswith(swap):
                            target = "SWAP" + target[len(swap):]
                        out.append((m.group(1), target, line.rstrip().endswith("= ?")))
            return out

        def phase(call):
            kind, dst, _ = call
            if kind == "renameat2":
                return "X"
            if dst == ".baims-journal.json":
                return "journal"
            return "B" if dst.startswith("SWAP/") else "?"

        # the renames of the update, in order (one thread: the same order every run)
        probe = self.p("probe.zarr")
        shutil.copytree(base, probe)
        log = self.p("renames.log")
        trace = ["-f", "-qq", "-e", "trace=rename,renameat2", "-o", log]
        subprocess.run(command(probe, [strace] + trace), check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, env=traced_env())
        calls = renames(log, probe)
        # the probe of the file system's exchange, the commit point, phase B, the exchange
        self.assertEqual([phase(c) for c in calls[:2]], ["X", "journal"])
        self.assertEqual(phase(calls[-1]), "X")
        self.assertEqual({phase(c) for c in calls[2:-1]}, {"B"})
        self.assertGreater(len(calls), 10)
        self.assert_same_cube(probe, ref)
        # one kill of each kind (two "poll" and two "B" until 2026-12-02: the kills at every rename
        # of phase B and at the exchange are test_gen_crash.MetadataKills*, on the dev build)
        for trial, kind in enumerate(["poll", "B", "X"]):
            with self.subTest(trial=trial, kind=kind):
                out = self.p(f"r{trial}.zarr")
                shutil.copytree(base, out)
                staging = os.path.join(out, ".baims-staging")
                journal = os.path.join(out, ".baims-journal.json")
                if kind == "poll":
                    proc = subprocess.Popen(command(out), stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL)
                    deadline = time.monotonic() + 30
                    while not os.path.exists(staging) and proc.poll() is None \
                            and time.monotonic() < deadline:
                        time.sleep(0.0005)
                    time.sleep(float(rng.uniform(0.0, 0.01)))
                    alive = proc.poll() is None
                    proc.kill()
                    proc.wait()
                    # the kill hit a running update that had started staging
                    self.assertTrue(alive, "the update ended before the kill")
                    self.assertEqual(proc.returncode, -9)
                    self.assertTrue(os.path.exists(staging) or os.path.exists(journal))
                else:
                    n = len(calls) if kind == "X" else int(rng.integers(3, len(calls)))
                    name = calls[n - 1][0]
                    k = sum(1 for c in calls[:n] if c[0] == name)
                    p = subprocess.run(command(out, [strace] + trace + [
                                           "-e", f"inject={name}:signal=KILL:when={k}"]),
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                       env=traced_env())
                    self.assertEqual(p.returncode, -9, f"{name} {k}")
                    killed = renames(log, out)
                    # killed at the n-th rename, the one of that phase, before it ran
                    self.assertEqual(len(killed), n)
                    self.assertEqual(killed[-1][:2], calls[n - 1][:2])
                    self.assertTrue(killed[-1][2])
                    self.assertEqual(phase(killed[-1]), kind)
                    self.assertTrue(os.path.exists(journal))
                # the old cube, exactly, until the exchange
                np.testing.assert_array_equal(xr.open_zarr(out).v.values, old)
                self.gen(out, [1, 3, 5])
                self.assert_same_cube(out, ref)
                np.testing.assert_array_equal(xr.open_zarr(out).v.values, new)

    def test_lock_refuses_second_writer(self):
        out = self.p("u.zarr")
        self.gen(out, [1])
        with open(os.path.join(out, ".baims-lock"), "a+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            f.seek(0); f.truncate(); f.write("4242\n"); f.flush()
            snap = snapshot(out)
            p = self.gen(out, [2], check=5)
            self.assertEqual(p.stderr.strip().splitlines()[-1],
                             f"baims gen: error: cube '{out}' is locked by another baims process (pid 4242). "
                             "Wait for it to finish; the lock is released when that process ends")
            self.assertEqual(snap, snapshot(out))


class Sources(_Inputs):
    """.baims-sources.json: what made each time step; reruns skip the slices it vouches for; the
    history and source attributes stay bounded."""

    def sources(self, out):
        with open(os.path.join(out, ".baims-sources.json")) as f:
            return json.load(f)

    def fingerprint(self, path):
        """Independent: os.stat and zlib.crc32 over the file's bytes."""
        st = os.stat(path)
        with open(path, "rb") as f:
            crc = zlib.crc32(f.read())
        when = dt.datetime.fromtimestamp(st.st_mtime_ns // 10**9, dt.timezone.utc)
        return {"name": os.path.basename(path), "size": st.st_size, "crc32": "%08x" % crc,
                "mtime": when.strftime("%Y-%m-%dT%H:%M:%S") + ".%09dZ" % (st.st_mtime_ns % 10**9),
                "step": 0}

    def test_each_step_records_its_inputs(self):
        out = self.p("u.zarr")
        self.gen(out, [3, 1])
        self.gen(out, [2])                                   # inserted in the middle
        rec = self.sources(out)
        self.assertEqual(rec["format"], "baims-sources/1")
        self.assertEqual([s["inputs"] for s in rec["steps"]],
                         [[self.fingerprint(self.inputs[k])] for k in (1, 2, 3)])
        self.assertEqual(len({s["recipe"] for s in rec["steps"]}), 1)
        self.assertRegex(rec["steps"][0]["recipe"], "^[0-9a-f]{16}$")
        # not Zarr metadata: zarr and xarray do not see it
        with open(os.path.join(out, ".zmetadata")) as f:
            self.assertNotIn(".baims-sources.json", json.load(f)["metadata"])
        self.assertEqual(xr.open_zarr(out).v.shape, (3, 30, 45))
        self.assertEqual(xr.open_zarr(out).attrs["source"], "in1.nc, in2.nc, in3.nc")

    def test_rerun_skips_recorded_slices_and_notices_changed_files(self):
        out = self.p("u.zarr")
        self.gen(out, [1, 2, 3])
        before = snapshot(out)
        p = self.gen(out, [1, 2, 3])
        self.assertIn("info: all 3 slices were made from these inputs before "
                      "(same name, size and mtime or CRC-32)", p.stderr)
        self.assertIn("cube is up to date (nothing changed); 3 time steps", p.stderr)
        self.assertEqual(before, snapshot(out))
        # touched (or copied): same bytes by CRC-32, not recomputed; the record takes the mtime
        os.utime(self.inputs[2], ns=(1_600_000_000_123_456_789, 1_600_000_000_123_456_789))
        p = self.gen(out, [1, 2, 3])
        self.assertIn("info: all 3 slices were made from these inputs before", p.stderr)
        after = snapshot(out)
        self.assertEqual({k for k in before if before[k] != after[k]}, {".baims-sources.json"})
        self.assertEqual(self.sources(out)["steps"][1]["inputs"][0],
                         self.fingerprint(self.inputs[2]))
        self.assertEqual(self.sources(out)["steps"][1]["inputs"][0]["mtime"],
                         "2020-09-13T12:26:40.123456789Z")
        # rewritten with other values of the same size: the mtime differs and so does the CRC
        size = os.path.getsize(self.inputs[3])
        t = T0 + dt.timedelta(days=3)
        write_cf(self.inputs[3], LAT, LON, (field(3) + 5)[None], [t],
                 bounds=[(t - dt.timedelta(hours=12), t + dt.timedelta(hours=12))])
        self.assertEqual(os.path.getsize(self.inputs[3]), size)
        p = self.gen(out, [1, 2, 3])
        self.assertIn("info: 2 slices were made from these inputs before: not recomputed", p.stderr)
        self.assertIn("0 appended, 0 inserted, 1 replaced, 2 unchanged", p.stderr)
        ds = xr.open_zarr(out)
        fresh = self.p("fresh.zarr")
        self.gen(fresh, [1, 2, 3])
        np.testing.assert_array_equal(ds.v.values, xr.open_zarr(fresh).v.values)
        self.assertEqual(self.sources(out), self.sources(fresh))

    def test_damaged_record_is_rebuilt(self):
        out = self.p("u.zarr")
        self.gen(out, [1, 2])
        good = self.sources(out)
        with open(os.path.join(out, ".baims-sources.json"), "w") as f:
            f.write("{not json")
        p = self.gen(out, [1, 2])
        self.assertIn(f"warning: cube '{out}': .baims-sources.json is unreadable or does not match "
                      "the time axis; slices given again are recomputed and recorded anew", p.stderr)
        self.assertIn("cube is up to date (nothing changed)", p.stderr)
        self.assertEqual(self.sources(out), good)
        p = self.gen(out, [1, 2])
        self.assertIn("all 2 slices were made from these inputs before", p.stderr)

    def test_other_recipe_recomputes(self):
        out = self.p("u.zarr")
        self.gen(out, [1, 2])
        nearest = {s["recipe"] for s in self.sources(out)["steps"]}
        cfg = self.p("bilinear.yml")
        write_config(cfg, REGION, SIZE, out, chunks=CHUNKS, resampling="bilinear")
        p = run(["gen", "-c", cfg, self.inputs[1], self.inputs[2]], check=0)
        self.assertNotIn("made from these inputs before", p.stderr)
        self.assertIn("0 appended, 0 inserted, 2 replaced", p.stderr)
        bilinear = {s["recipe"] for s in self.sources(out)["steps"]}
        self.assertEqual(len(nearest), 1)
        self.assertEqual(len(bilinear), 1)
        self.assertNotEqual(nearest, bilinear)
        p = run(["gen", "-c", cfg, self.inputs[1], self.inputs[2]], check=0)
        self.assertIn("all 2 slices were made from these inputs before", p.stderr)

    def test_history_keeps_first_and_latest_lines(self):
        out = self.p("u.zarr")
        self.gen(out, [1])
        zattrs = os.path.join(out, ".zattrs")
        with open(zattrs) as f:
            attrs = json.load(f)
        first = attrs["history"]
        attrs["history"] = "\n".join([first] + [f"2022-01-01T00:00:{k % 60:02d}Z: run {k}"
                                                for k in range(149)])
        with open(zattrs, "w") as f:
            json.dump(attrs, f)
        self.gen(out, [2])
        lines = xr.open_zarr(out).attrs["history"].split("\n")
        self.assertEqual(len(lines), 100)
        self.assertEqual(lines[0], first)
        # 1 + 149 + 1 lines: the first, 52 omitted, the last 98
        self.assertEqual(lines[1], "(52 earlier entries omitted by baims)")
        self.assertEqual(lines[2], "2022-01-01T00:00:52Z: run 52")
        self.assertIn("baims gen", lines[-1])
        self.gen(out, [3])
        lines = xr.open_zarr(out).attrs["history"].split("\n")
        self.assertEqual(len(lines), 100)
        self.assertEqual(lines[1], "(53 earlier entries omitted by baims)")
        self.assertEqual(lines[2], "2022-01-01T00:00:53Z: run 53")

    def test_source_attribute_summarises_many_inputs(self):
        paths = []
        for k in range(101):
            path = self.p(f"s{k:03d}.nc")
            t = T0 + dt.timedelta(hours=6 * k)
            write_cf(path, LAT, LON, field(k % 7)[None], [t])
            paths.append(path)
        out = self.p("many.zarr")
        cfg = self.p("cfg.yml")
        write_config(cfg, REGION, SIZE, out, chunks=CHUNKS)
        run(["gen", "-c", cfg] + paths[:100], check=0)
        self.assertEqual(xr.open_zarr(out).attrs["source"],
                         ", ".join(f"s{k:03d}.nc" for k in range(100)))
        run(["gen", "-c", cfg, paths[100]], check=0)
        self.assertEqual(xr.open_zarr(out).attrs["source"],
                         "101 input files, from s000.nc to s100.nc; the inputs of each time step "
                         "are listed in .baims-sources.json")
        self.assertEqual(len(self.sources(out)["steps"]), 101)


class BadInput(TempDirTest):
    def setUp(self):
        super().setUp()
        self.good = []
        for k in range(2):
            path = self.p(f"good{k}.nc")
            write_cf(path, LAT, LON, field(k)[None], [T0 + dt.timedelta(days=k)])
            self.good.append(path)
        self.truncated = self.p("truncated.nc")
        with open(self.good[0], "rb") as f, open(self.truncated, "wb") as g:
            g.write(f.read()[:3000])
        self.text = self.p("notes.nc")
        with open(self.text, "w") as f:
            f.write("this is not netcdf\n")
        self.cfg = self.p("cfg.yml")
        write_config(self.cfg, REGION, SIZE, self.p("c.zarr"), chunks=CHUNKS)

    def test_bad_inputs_are_skipped_with_exit_8(self):
        p = run(["gen", "-c", self.cfg, self.good[0], self.truncated, self.text, self.p("missing.nc"),
                 self.good[1]], check=8)
        lines = p.stderr.splitlines()
        self.assertIn("baims gen: 3 of 5 inputs failed:", lines)
        self.assertTrue(any(l.startswith(f"  {self.truncated}: cannot read '{self.truncated}'") for l in lines), p.stderr)
        self.assertTrue(any(l.startswith(f"  {self.text}: ") for l in lines), p.stderr)
        self.assertTrue(any(l.startswith(f"  {self.p('missing.nc')}: ") for l in lines), p.stderr)
        ds = xr.open_zarr(self.p("c.zarr"))
        self.assertEqual(ds.time.size, 2)

    def test_dry_run_names_an_input_outside_the_region(self):
        """--dry-run gives the run's warning for a (regular) input with no cell in the output
        region, and none for the inputs that overlap it; nothing is written, exit 0."""
        far = self.p("far.nc")
        write_cf(far, LAT, LON + 40.0, field(0)[None], [T0 + dt.timedelta(days=5)])
        p = run(["--dry-run", "gen", "-c", self.cfg, self.good[0], far], check=0)
        warn = [ln for ln in p.stderr.splitlines() if "no cell in the output region" in ln]
        self.assertEqual(len(warn), 1, p.stderr)
        self.assertTrue(warn[0].endswith(
            f"warning: input '{far}' (cells at longitude 40.25..54.75, latitude 0.25..9.75) has "
            "no cell in the output region [0, 0, 15, 10], in degrees of longitude and latitude: "
            "its slices are empty. If that is not meant, check that output_region covers the "
            "input"), warn[0])
        self.assertFalse(os.path.exists(self.p("c.zarr")))

    def test_only_inputs_outside_the_region_are_refused(self):
        """Inputs on 1-D lat/lon that all lie outside the output region would make a cube with
        no data: the run and its --dry-run end with exit 4 and the same line, and no cube is
        made."""
        far = self.p("far.nc")
        write_cf(far, LAT, LON + 40.0, field(0)[None], [T0 + dt.timedelta(days=5)])
        line = (f"baims gen: error: input '{far}' (cells at longitude 40.25..54.75, latitude "
                "0.25..9.75) has no cell in the output region [0, 0, 15, 10], in degrees of "
                "longitude and latitude: nothing was written. Check that output_region covers "
                "the input")
        for dry in ([], ["--dry-run"]):
            p = run(dry + ["gen", "-c", self.cfg, far], check=4)
            self.assertEqual(p.stderr.strip().splitlines()[-1], line)
            warn = [ln for ln in p.stderr.splitlines() if "warning: input" in ln]
            self.assertEqual(len(warn), 1, p.stderr)
            self.assertIn("(cells at longitude 40.25..54.75, latitude 0.25..9.75) has no cell",
                          warn[0])
            self.assertFalse(os.path.exists(self.p("c.zarr")))
            self.assertFalse(os.path.exists(self.p("c.zarr.baims-new")))

    def test_an_input_without_a_variable_of_the_cube_is_named(self):
        """An input that lacks a variable the other inputs have (a product version that renamed
        it) gives its time step without that variable's data, as before, but now says so: one
        warning naming the input, the variable and the time step (before: no message, exit 0).
        Its other variable is written."""
        run(["gen", "-c", self.cfg, self.good[0]], check=0)
        renamed = self.p("renamed.nc")
        write_cf(renamed, LAT, LON, field(1)[None], [T0 + dt.timedelta(days=1)], name="v_new")
        p = run(["gen", "-c", self.cfg, self.good[0], renamed], check=0)
        warn = [ln for ln in p.stderr.splitlines() if "warning:" in ln]
        self.assertEqual(len(warn), 1, p.stderr)
        self.assertTrue(warn[0].endswith(
            f"warning: input '{renamed}' has no variable 'v' (other inputs have it): the time "
            "step 2022-03-02T11:00:00Z has no 'v' data from it. If the product renamed it, map "
            "the new name to the old one in output_variables (NEW: OLD)"), warn[0])
        ds = xr.open_zarr(self.p("c.zarr"))
        self.assertEqual(ds.time.size, 2)
        self.assertTrue(np.isnan(ds.v.isel(time=1).values).all())
        self.assertGreater(int(np.isfinite(ds.v.isel(time=0).values).sum()), 0)
        # the mapping the line suggests reads the renamed variable into 'v'
        cfg = self.p("map.yml")
        with open(self.cfg) as f:
            text = f.read()
        with open(cfg, "w") as f:
            f.write(text + "output_variables: [{v_new: v}]\n")
        out = self.p("mapped.zarr")
        p = run(["gen", "-c", cfg, "-o", out, renamed], check=0)
        self.assertNotIn("warning:", p.stderr)
        ref = self.p("ref.zarr")
        run(["gen", "-c", self.cfg, "-o", ref, self.good[1]], check=0)
        np.testing.assert_array_equal(xr.open_zarr(out).v.values, xr.open_zarr(ref).v.values)

    def test_output_inside_a_cube_is_refused(self):
        """output_path inside another cube (a typo'd -o c.zarr/new.zarr) would make a group of
        that cube: refused with exit 5 (also in a dry run), the cube as it was."""
        run(["gen", "-c", self.cfg, self.good[0]], check=0)
        snap = snapshot(self.p("c.zarr"))
        for dry in ([], ["--dry-run"]):
            for inner in ("new.zarr", os.path.join("v", "x")):
                out = os.path.join(self.p("c.zarr"), inner)
                p = run(dry + ["gen", "-c", self.cfg, "-o", out, self.good[1]], check=5)
                self.assertEqual(p.stderr.strip().splitlines()[-1],
                                 f"baims gen: error: output_path '{out}' lies inside the Zarr cube "
                                 f"'{self.p('c.zarr')}'. Choose an output_path outside of any cube")
                self.assertEqual(snapshot(self.p("c.zarr")), snap)

    def test_time_chunks_above_one_name_the_rechunk(self):
        """A cube rechunked along time (optimise --chunks time=2) cannot be extended: the line
        gives the command that makes it extendable again, which then works (the values equal a
        cube made in one run)."""
        cube = self.p("c.zarr")
        third = self.p("good2.nc")
        write_cf(third, LAT, LON, field(2)[None], [T0 + dt.timedelta(days=2)])
        run(["gen", "-c", self.cfg] + self.good, check=0)
        run(["optimise", cube, "--in-place", "--chunks", "time=2"], check=0)
        snap = snapshot(cube)
        p = run(["gen", "-c", self.cfg] + self.good + [third], check=4)
        self.assertEqual(p.stderr.strip().splitlines()[-1],
                         f"baims gen: error: cube '{cube}': variable 'v' has time chunks of 2; "
                         "extending a cube whose time chunks are not 1 is not available in this "
                         f"version. Rechunk the cube first with 'baims optimise CUBE --in-place "
                         "--chunks time=1', or write to another output_path")
        self.assertEqual(snapshot(cube), snap)
        run(["optimise", cube, "--in-place", "--chunks", "time=1"], check=0)
        run(["gen", "-c", self.cfg] + self.good + [third], check=0)
        ref = self.p("ref.zarr")
        run(["gen", "-c", self.cfg, "-o", ref] + self.good + [third], check=0)
        np.testing.assert_array_equal(xr.open_zarr(cube).v.values, xr.open_zarr(ref).v.values)

    def test_a_folder_as_input_names_the_glob(self):
        folder = self.p("day")
        os.makedirs(folder)
        shutil.copy(self.good[0], folder)
        p = run(["gen", "-c", self.cfg, folder + "/"], check=4)
        self.assertIn(f"error: skipping input: cannot read '{folder}/': is a directory, not a "
                      f"NetCDF file. Give the path of a .nc file, or the files in it with a glob: "
                      f"'{folder}/*.nc'", p.stderr)
        run(["gen", "-c", self.cfg, folder + "/*.nc"], check=0)  # the glob it names works

    def test_fail_fast_stops_and_writes_nothing(self):
        p = run(["gen", "-c", self.cfg, "--fail-fast", self.good[0], self.text, self.good[1]], check=4)
        self.assertTrue(p.stderr.strip().splitlines()[-1].startswith(f"baims gen: error: input {self.text}: "), p.stderr)
        self.assertFalse(os.path.exists(self.p("c.zarr")))

    def test_all_inputs_bad_is_exit_4(self):
        p = run(["gen", "-c", self.cfg, self.text], check=4)
        self.assertEqual(p.stderr.strip().splitlines()[-1],
                         "baims gen: error: none of the 1 inputs could be read. See the messages above; nothing was written")

    def test_config_errors_exact_lines_and_cube_untouched(self):
        run(["gen", "-c", self.cfg, self.good[0]], check=0)
        snap = snapshot(self.p("c.zarr"))
        cases = [
            ("output_sise: [4, 4]\n", "unknown key 'output_sise' (did you mean 'output_size'?). Fix the key name", 2),
            ("output_resampling: bilinar\n", "output_resampling: expected one of nearest, bilinear, average, mode; got 'bilinar' (did you mean 'bilinear'?).", 2),
            ("input_processor_params: {mosaic: maybe}\n", "input_processor_params.mosaic: expected true or false, got 'maybe'.", 2),
        ]
        for extra, msg, _ in cases:
            with self.subTest(extra=extra):
                bad = self.p("bad.yml")
                with open(self.cfg) as f:
                    text = f.read()
                with open(bad, "w") as f:
                    f.write(text + extra)
                p = run(["gen", "-c", bad, self.good[1]], check=3)
                line = p.stderr.strip().splitlines()[-1]
                self.assertTrue(line.startswith(f"baims gen: error: {bad}:5:"), line)
                self.assertTrue(line.endswith(msg), line)
                self.assertEqual(snap, snapshot(self.p("c.zarr")))

    def test_empty_and_malformed_yaml(self):
        bad = self.p("empty.yml")
        open(bad, "w").close()
        p = run(["gen", "-c", bad, self.good[0]], check=3)
        self.assertEqual(p.stderr.strip(), f"baims gen: error: {bad}: the config is empty. Give at least one key")
        with open(bad, "w") as f:
            f.write("output_region: [1, 2\n")
        p = run(["gen", "-c", bad, self.good[0]], check=3)
        self.assertTrue(p.stderr.strip().startswith(f"baims gen: error: {bad}:2:1: invalid YAML"), p.stderr)

    def test_dry_run_and_print_config_write_nothing(self):
        p = run(["--dry-run", "gen", "-c", self.cfg, self.good[0]], check=0)
        self.assertIn("dry run: would create cube", p.stderr)
        self.assertFalse(os.path.exists(self.p("c.zarr")))
        p = run(["--print-config", "gen", "-c", self.cfg, self.good[0]], check=0)
        self.assertIn("output_size: [45, 30]", p.stdout)
        self.assertIn("chunksizes: {time: 1, lat: 7, lon: 10}", p.stdout)
        self.assertFalse(os.path.exists(self.p("c.zarr")))

    def test_env_substitution_and_merge(self):
        over = self.p("over.yml")
        with open(over, "w") as f:
            f.write("output_path: ${BAIMS_TEST_OUT}\noutput_metadata: {title: merged}\n")
        run(["gen", "-c", self.cfg, "-c", over, self.good[0]], env={"BAIMS_TEST_OUT": self.p("env.zarr")}, check=0)
        self.assertEqual(xr.open_zarr(self.p("env.zarr")).attrs["title"], "merged")
        p = run(["gen", "-c", self.cfg, "-c", over, self.good[0]], env={"BAIMS_TEST_OUT": ""}, check=3)
        self.assertIn("environment variable BAIMS_TEST_OUT is not set", p.stderr)


if __name__ == "__main__":
    import unittest
    unittest.main()
