"""baims gen --partition K/N and --finalize (SPEC §2 "Scale out", docs/scale-out.md): four
processes started together each write their part of a new cube's chunk grid, --finalize publishes
the cube, and it equals the cube one process makes, file for file; a killed partition makes
--finalize fail naming it (exit 5), and a rerun of that partition alone is enough. The same for
updates of an existing cube (PartitionedUpdates): appends, inserts and replacements."""

import datetime as dt
import os
import shutil
import subprocess
import tempfile

import numpy as np
from baimstest import xr  # imported on first use (pandas, dask: ~1 s CPU)

from baimstest import (BAIMS, TempDirTest, cube_differences, cube_files, snapshot, write_cf,
                       write_config)

T0 = dt.datetime(2022, 7, 1, 12, 0)
LAT = np.arange(9.75, 0, -0.5)        # 20 rows
LON = np.arange(0.25, 15, 0.5)        # 30 cols
REGION = [0.0, 0.0, 15.0, 10.0]
SIZE = (45, 30)
CHUNKS = (7, 10)                      # a 5x5 chunk grid, ragged at the edges
N = 4


def write_days(folder):
    """The three daily inputs of the base cube, in `folder`."""
    paths = []
    for k in range(3):
        path = os.path.join(folder, f"d{k}.nc")
        rng = np.random.default_rng(40 + k)
        values = rng.normal(loc=k, size=(20, 30))
        values[: 3 + 2 * k, :] = np.nan          # some chunks all NaN (not written)
        t = T0 + dt.timedelta(days=k)
        write_cf(path, LAT, LON, values[None], [t],
                 bounds=[(t - dt.timedelta(hours=12), t + dt.timedelta(hours=12))])
        paths.append(path)
    return paths


def gen_command(out, inputs, *extra):
    """baims gen of `inputs` into `out` with the config `out`.yml."""
    cfg = out + ".yml"
    write_config(cfg, REGION, SIZE, out, chunks=CHUNKS)
    return [BAIMS, "--progress", "never", "--threads", "1", "gen", "-c", cfg, *extra] + inputs


class _PartitionCase(TempDirTest):
    def setUp(self):
        super().setUp()
        self.inputs = write_days(self.tmp)

    def command(self, out, *extra):
        return gen_command(out, self.inputs, *extra)

    def run_ok(self, cmd, env=None):
        p = subprocess.run(cmd, capture_output=True, text=True, env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p

    def start_partitions(self, out, ks, env=None):
        # every command first: self.command() rewrites the config file, which a partition started
        # before would read while it is being rewritten (empty)
        cmds = {k: self.command(out, "--partition", f"{k}/{N}") for k in ks}
        procs = {k: subprocess.Popen(cmds[k], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env(k) if env else None) for k in ks}
        return {k: (p.wait(timeout=300), p.communicate()[1]) for k, p in procs.items()}

    def chunks_of(self, folder):
        return {os.path.relpath(os.path.join(d, f), folder) for d, _, files in os.walk(folder)
                for f in files if f[0].isdigit() and os.path.basename(d) == "v"}


class Partitions(_PartitionCase):
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

    def test_finalize_refused_while_a_partition_holds_its_lock(self):
        import fcntl
        out = self.p("out.zarr")
        done = self.start_partitions(out, range(1, N + 1))
        self.assertEqual({k: c for k, (c, _) in done.items()}, {1: 0, 2: 0, 3: 0, 4: 0})
        # partition 2 run again meanwhile (its lock file held, with this process's pid)
        with open(self.p(f"out.zarr.baims-parts/2-of-{N}/.baims-lock"), "r+") as f:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            f.truncate(0)
            f.write(f"{os.getpid()}\n")
            f.flush()
            p = subprocess.run(self.command(out, "--finalize"), capture_output=True, text=True)
            self.assertEqual(p.returncode, 5, p.stderr)
            self.assertEqual(p.stderr.strip().splitlines()[-1],
                             f"baims gen: error: partition 2/{N} of cube '{out}' is locked by "
                             f"another baims process (pid {os.getpid()}). Wait for it to finish; "
                             "the lock is released when that process ends")
            self.assertFalse(os.path.exists(out))
        p = self.run_ok(self.command(out, "--finalize"))
        self.assertIn("created cube: 3 appended", p.stderr)
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


class PartitionedUpdates(_PartitionCase):
    """An existing cube of 3 days updated by 4 partitions + --finalize, against the same update by
    one process (two cubes alike: equal file for file, run times aside).

    The inputs, the 3-day cube and the one-process append of days 3 and 4 (the reference of four
    of the cases) are made once for the class; each case updates its own copy of the 3-day cube
    (until 2026-12-02 every case made both cubes again: 2-3 more gens per case, each the same
    create or append that Partitions and test_gen_update check)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.shared = tempfile.mkdtemp(prefix="baims-test-")
        cls.days = write_days(cls.shared)
        cls.extra = {}
        for name, days, seed in (("a3", 3, 50), ("a4", 4, 51), ("early", -1, 52), ("r1", 1, 53)):
            path = os.path.join(cls.shared, f"{name}.nc")
            values = np.random.default_rng(seed).normal(size=(20, 30))
            values[:5, :] = np.nan
            t = T0 + dt.timedelta(days=days)
            write_cf(path, LAT, LON, values[None], [t],
                     bounds=[(t - dt.timedelta(hours=12), t + dt.timedelta(hours=12))])
            cls.extra[name] = path
        cls.base_cube = os.path.join(cls.shared, "base.zarr")
        cls.appended = os.path.join(cls.shared, "appended.zarr")
        subprocess.run(gen_command(cls.base_cube, cls.days), check=True, capture_output=True)
        shutil.copytree(cls.base_cube, cls.appended)
        subprocess.run(gen_command(cls.appended, cls.days + [cls.extra["a3"], cls.extra["a4"]]),
                       check=True, capture_output=True)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.shared, ignore_errors=True)
        super().tearDownClass()

    def setUp(self):
        TempDirTest.setUp(self)             # the inputs are the class's
        self.base = list(self.days)
        self.inputs = self.base

    def cubes(self):
        """(path of the one-process cube, made by update(); the 3-day cube to update by
        partitions, a copy of the class's)."""
        out = self.p("out.zarr")
        shutil.copytree(self.base_cube, out)
        return self.p("one.zarr"), out

    def update(self, one, out, names, kill=None):
        """The update by one process on `one` (the class's append of days 3 and 4 copied, else a
        copy of the 3-day cube updated here), then the 4 partitions on `out` (partition 3 with
        BAIMS_TEST_KILL_AT=kill); returns {k: (exit code, stderr)}."""
        self.inputs = self.base + [self.extra[n] for n in names]
        if names == ["a3", "a4"] and self.base == self.days:
            shutil.copytree(self.appended, one)
        else:
            shutil.copytree(self.base_cube, one)
            self.run_ok(self.command(one))
        env = lambda k: dict(os.environ, **({"BAIMS_TEST_KILL_AT": kill} if k == 3 and kill
                                            else {}))
        return self.start_partitions(out, range(1, N + 1), env)

    def finalize(self, out, code=0, env=None):
        p = subprocess.run(self.command(out, "--finalize"), capture_output=True, text=True,
                           env=env)
        self.assertEqual(p.returncode, code, p.stderr)
        return p

    def assert_same(self, out, one):
        self.assertEqual(cube_files(out), cube_files(one))
        self.assertEqual(cube_differences(out, one), [])
        self.assertFalse(os.path.exists(out + ".baims-parts"))
        self.assertFalse(os.path.exists(out + ".baims-swap"))
        a, b = xr.open_zarr(out), xr.open_zarr(one)
        np.testing.assert_array_equal(a.time.values, b.time.values)
        np.testing.assert_array_equal(a.v.values, b.v.values)

    def test_append_two_days(self):
        one, out = self.cubes()
        before = snapshot(out)
        done = self.update(one, out, ["a3", "a4"])
        for k, (code, err) in done.items():
            self.assertEqual(code, 0, err)
            self.assertIn(f"wrote partition {k}/{N} of an update of the cube (2 slices); run baims "
                          f"gen --finalize once all {N} partitions are done; 5 time steps", err)
        self.assertEqual(snapshot(out), before)         # nothing visible before --finalize
        parts = [self.chunks_of(self.p(f"out.zarr.baims-parts/{k}-of-{N}/.baims-staging"))
                 for k in range(1, N + 1)]
        self.assertTrue(all(parts))
        self.assertEqual(sum(len(p) for p in parts), len(set().union(*parts)))   # disjoint
        p = self.finalize(out)
        self.assertIn("updated cube: 2 appended, 0 inserted, 0 replaced", p.stderr)
        self.assert_same(out, one)
        self.assertEqual(len(xr.open_zarr(out).time), 5)

    def test_killed_partition_early_finalize_refused_then_rerun(self):
        one, out = self.cubes()
        before = snapshot(out)
        done = self.update(one, out, ["a3", "a4"], kill="chunk:3")
        self.assertEqual({k: c for k, (c, _) in done.items()}, {1: 0, 2: 0, 3: -9, 4: 0})
        p = self.finalize(out, 5)
        self.assertEqual(p.stderr.strip().splitlines()[-1],
                         f"baims gen: error: cube '{out}': partition 3/{N} not done. Run baims gen "
                         "--partition K/N with the same config and inputs for that partition, then "
                         "--finalize again")
        self.assertEqual(snapshot(out), before)         # the cube untouched
        code, err = self.start_partitions(out, [3])[3]
        self.assertEqual(code, 0, err)
        self.finalize(out)
        self.assert_same(out, one)

    def test_finalize_killed_then_run_again(self):
        # before the commit (linking the staged chunks) and after it (writing the metadata)
        for point in ("finalize-link:2", "journal-M:1"):
            with self.subTest(point=point):
                for path in ("one.zarr", "out.zarr", "out.zarr.baims-parts"):
                    subprocess.run(["rm", "-rf", self.p(path)], check=True)
                one, out = self.cubes()
                before = snapshot(out)
                done = self.update(one, out, ["a3", "a4"])
                self.assertEqual({k: c for k, (c, _) in done.items()}, {1: 0, 2: 0, 3: 0, 4: 0})
                self.finalize(out, -9, dict(os.environ, BAIMS_TEST_KILL_AT=point))
                if point.startswith("finalize"):
                    # the cube untouched; the staged links the next run of gen removes aside
                    after = {k: v for k, v in snapshot(out).items()
                             if not k.startswith(".baims-staging/")}
                    self.assertEqual(after, before)
                self.finalize(out)
                self.assert_same(out, one)

    def test_insert_and_replace(self):
        one, out = self.cubes()
        # a day before the first (every step shifts: the exchange) and a new version of day 1
        self.base[1] = self.extra["r1"]
        done = self.update(one, out, ["early"])
        for k, (code, err) in done.items():
            self.assertEqual(code, 0, err)
        p = self.finalize(out)
        self.assertIn("updated cube: 0 appended, 1 inserted, 1 replaced", p.stderr)
        self.assert_same(out, one)
        self.assertEqual(len(xr.open_zarr(out).time), 4)

    def test_up_to_date(self):
        one, out = self.cubes()
        before = snapshot(out)
        done = self.update(one, out, [])
        self.assertEqual({k: c for k, (c, _) in done.items()}, {1: 0, 2: 0, 3: 0, 4: 0})
        p = self.finalize(out)
        self.assertIn("cube is up to date (nothing changed)", p.stderr)
        self.assertEqual(snapshot(out), before)
        self.assertFalse(os.path.exists(out + ".baims-parts"))

    def test_cube_changed_after_the_partitions(self):
        one, out = self.cubes()
        done = self.update(one, out, ["a3", "a4"])
        self.assertEqual({k: c for k, (c, _) in done.items()}, {1: 0, 2: 0, 3: 0, 4: 0})
        self.inputs = self.base + [self.extra["a3"]]
        self.run_ok(self.command(out))                  # another gen appends a day meanwhile
        before = snapshot(out)
        p = self.finalize(out, 5)
        self.assertEqual(p.stderr.strip().splitlines()[-1],
                         f"baims gen: error: cube '{out}' changed after its partitions read it "
                         f"(another gen updated it). Remove '{out}.baims-parts' and run every "
                         "partition again")
        self.assertEqual(snapshot(out), before)


if __name__ == "__main__":
    import unittest
    unittest.main()
