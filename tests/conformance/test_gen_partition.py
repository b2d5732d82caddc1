"""baims gen --partition K/N and --finalize (SPEC §2 "Scale out", docs/scale-out.md): four
processes started together each write their part of a new cube's chunk grid, --finalize publishes
the cube, and it equals the cube one process makes, file for file; a killed partition makes
--finalize fail naming it (exit 5), and a rerun of that partition alone is enough."""

import datetime as dt
import os
import subprocess

import numpy as np
import xarray as xr

from baimstest import (BAIMS, TempDirTest, cube_differences, cube_files, write_cf, write_config)

T0 = dt.datetime(2022, 7, 1, 12, 0)
LAT = np.arange(9.75, 0, -0.5)        # 20 rows
LON = np.arange(0.25, 15, 0.5)        # 30 cols
REGION = [0.0, 0.0, 15.0, 10.0]
SIZE = (45, 30)
CHUNKS = (7, 10)                      # a 5x5 chunk grid, ragged at the edges
N = 4


class Partitions(TempDirTest):
    def setUp(self):
        super().setUp()
        self.inputs = []
        for k in range(3):
            path = self.p(f"d{k}.nc")
            rng = np.random.default_rng(40 + k)
            values = rng.normal(loc=k, size=(20, 30))
            values[: 3 + 2 * k, :] = np.nan          # some chunks all NaN (not written)
            t = T0 + dt.timedelta(days=k)
            write_cf(path, LAT, LON, values[None], [t],
                     bounds=[(t - dt.timedelta(hours=12), t + dt.timedelta(hours=12))])
            self.inputs.append(path)

    def command(self, out, *extra):
        cfg = self.p(os.path.basename(out) + ".yml")
        write_config(cfg, REGION, SIZE, out, chunks=CHUNKS)
        return [BAIMS, "--progress", "never", "--threads", "1", "gen", "-c", cfg, *extra] + \
            self.inputs

    def run_ok(self, cmd, env=None):
        p = subprocess.run(cmd, capture_output=True, text=True, env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p

    def start_partitions(self, out, ks, env=None):
        procs = {k: subprocess.Popen(self.command(out, "--partition", f"{k}/{N}"),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=env(k) if env else None) for k in ks}
        return {k: (p.wait(timeout=300), p.communicate()[1]) for k, p in procs.items()}

    def chunks_of(self, folder):
        return {os.path.relpath(os.path.join(d, f), folder) for d, _, files in os.walk(folder)
                for f in files if f[0].isdigit() and os.path.basename(d) == "v"}

    def test_four_processes_then_finalize_equal_one_process(self):
        one, out = self.p("one.zarr"), self.p("out.zarr")
        self.run_ok(self.command(one))
        done = self.start_partitions(out, range(1, N + 1))
        for k, (code, err) in done.items():
            self.assertEqual(code, 0, err)
            self.assertIn(f"wrote partition {k}/{N} of a new cube (3 slices); run baims gen "
                          f"--finalize once all {N} partitions are done", err)
        self.assertFalse(os.path.exists(out))           # nothing visible before --finalize
        # disjoint parts of the chunk grid that together are every chunk of the cube
        parts = [self.chunks_of(self.p(f"out.zarr.baims-parts/{k}-of-{N}")) for k in range(1, N + 1)]
        self.assertEqual(sum(len(p) for p in parts), len(set().union(*parts)))
        self.assertEqual(set().union(*parts), self.chunks_of(one))
        self.assertTrue(all(parts))
        p = self.run_ok(self.command(out, "--finalize"))
        self.assertIn("created cube: 3 appended", p.stderr)
        self.assertEqual(cube_files(out), cube_files(one))
        self.assertEqual(cube_differences(out, one), [])   # every file byte for byte (run times aside)
        self.assertFalse(os.path.exists(out + ".baims-parts"))
        np.testing.assert_array_equal(xr.open_zarr(out).v.values, xr.open_zarr(one).v.values)

    def test_killed_partition_rerun_alone_then_finalize(self):
        one, out = self.p("one.zarr"), self.p("out.zarr")
        self.run_ok(self.command(one))
        env = lambda k: dict(os.environ, **({"BAIMS_TEST_KILL_AT": "chunk:3"} if k == 3 else {}))
        done = self.start_partitions(out, range(1, N + 1), env)
        self.assertEqual({k: c for k, (c, _) in done.items()}, {1: 0, 2: 0, 3: -9, 4: 0})
        p = subprocess.run(self.command(out, "--finalize"), capture_output=True, text=True)
        self.assertEqual(p.returncode, 5, p.stderr)
        self.assertEqual(p.stderr.strip().splitlines()[-1],
                         f"baims gen: error: cube '{out}': partition 3/{N} not done. Run baims gen "
                         "--partition K/N with the same config and inputs for that partition, then "
                         "--finalize again")
        self.assertFalse(os.path.exists(out))
        # the rerun of partition 3 alone, then --finalize
        code, err = self.start_partitions(out, [3])[3]
        self.assertEqual(code, 0, err)
        self.run_ok(self.command(out, "--finalize"))
        self.assertEqual(cube_files(out), cube_files(one))
        self.assertEqual(cube_differences(out, one), [])
        self.assertFalse(os.path.exists(out + ".baims-parts"))

    def test_bad_partition_and_existing_cube(self):
        out = self.p("out.zarr")
        for bad in ("0/4", "5/4", "2", "a/b", "1/0"):
            p = subprocess.run(self.command(out, "--partition", bad), capture_output=True,
                               text=True)
            self.assertEqual(p.returncode, 2, bad)
            self.assertEqual(p.stderr.strip().splitlines()[-1],
                             f"baims gen: error: --partition '{bad}' is not K/N with 1 <= K <= N. "
                             "Give e.g. --partition 2/4 for the second of four processes")
        p = subprocess.run(self.command(out, "--finalize"), capture_output=True, text=True)
        self.assertEqual(p.returncode, 5)
        self.assertEqual(p.stderr.strip().splitlines()[-1],
                         f"baims gen: error: cube '{out}' has no partitions to finalize (no "
                         f"'{out}.baims-parts'). Run baims gen --partition K/N for every K first")
        self.run_ok(self.command(out))
        p = subprocess.run(self.command(out, "--partition", "1/2"), capture_output=True, text=True)
        self.assertEqual(p.returncode, 2)
        self.assertEqual(p.stderr.strip().splitlines()[-1],
                         f"baims gen: error: cube '{out}' exists; --partition and --finalize make "
                         "a new cube only. Update an existing cube without --partition")


if __name__ == "__main__":
    import unittest
    unittest.main()
