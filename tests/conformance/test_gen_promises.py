"""Promises of docs/cli/gen.md and SPEC §2 that had no test: partial inputs keep the other
variables' data, mosaicking, "the later one wins" for equal times, refusing a cube with other
chunk sizes, byte-identical output for any --threads value, output paths given with a trailing
slash, "..", "." or through a symbolic link, and the removal of a new cube whose build failed."""

import datetime as dt
import os
import signal
import subprocess
import time
import zlib

import numpy as np
from baimstest import xr  # imported on first use (pandas, dask: ~1 s CPU)

from baimstest import (BAIMS, TempDirTest, add_var, cube_differences, nearest_expected, run,
                       snapshot, write_cf, write_config)

T0 = dt.datetime(2022, 3, 1, 12, 0)
LAT = np.arange(9.75, 0, -0.5)        # 20 rows, descending
LON = np.arange(0.25, 15, 0.5)        # 30 cols
REGION = [0.0, 0.0, 15.0, 10.0]
SIZE = (44, 28)                       # no output centre on a source pixel edge
CHUNKS = (7, 10)


def field(seed, loc=0.0):
    return np.random.default_rng(seed).normal(loc=loc, size=(20, 30))


def day(k):
    return T0 + dt.timedelta(days=k)


class PartialInputs(TempDirTest):
    """SPEC §2 "Partial inputs": a variable that no input of a time step provides keeps its
    existing data for that step (issue 7 item 2)."""

    def setUp(self):
        super().setUp()
        self.both = {}
        for k in (1, 2):
            path = self.p(f"both{k}.nc")
            write_cf(path, LAT, LON, field(k, 280)[None], [day(k)], name="tas")
            add_var(path, "pr", field(10 + k)[None])
            self.both[k] = path
        self.pr2 = self.p("pr2.nc")                         # day 2 again, pr only, other values
        write_cf(self.pr2, LAT, LON, (field(22) + 5)[None], [day(2)], name="pr")
        self.pr3 = self.p("pr3.nc")                         # a new day, pr only
        write_cf(self.pr3, LAT, LON, field(23)[None], [day(3)], name="pr")

    def cube(self, out, extra=""):
        cfg = self.p("cfg.yml")
        write_config(cfg, REGION, SIZE, out, chunks=CHUNKS, extra=extra)
        run(["gen", "-c", cfg, self.both[1], self.both[2]], check=0)
        return cfg

    def check_rerun_keeps_tas(self, extra):
        out = self.p("c.zarr")
        cfg = self.cube(out, extra)
        before = xr.open_zarr(out)
        tas, pr = before.tas.values.copy(), before.pr.values.copy()
        tas_files = {k: v for k, v in snapshot(out).items() if k.startswith("tas/1.")}
        self.assertGreater(len(tas_files), 0)
        p = run(["gen", "-c", cfg, self.pr2, self.pr3], check=0)
        self.assertIn("1 appended, 0 inserted, 1 replaced", p.stderr)
        after = xr.open_zarr(out)
        # tas of day 2: the very same chunk files and values; of the new day 3: none
        self.assertEqual({k: v for k, v in snapshot(out).items() if k.startswith("tas/1.")},
                         tas_files)
        np.testing.assert_array_equal(after.tas.values[:2], tas)
        self.assertTrue(np.isnan(after.tas.values[2]).all())
        self.assertFalse(any(k.startswith("tas/2.") for k in snapshot(out)))
        # pr of day 2 is the new file's, independently resampled; day 1 untouched
        np.testing.assert_array_equal(after.pr.values[0], pr[0])
        want = nearest_expected(field(22) + 5, LAT, LON, REGION, SIZE).astype("f4")
        np.testing.assert_array_equal(after.pr.values[1], want)
        np.testing.assert_array_equal(after.pr.values[2],
                                      nearest_expected(field(23), LAT, LON, REGION, SIZE).astype("f4"))
        self.assertIn("warning: no input has variable 'tas' of the cube; time steps given again "
                      "keep their 'tas' data, new ones have none", p.stderr)
        self.assertIn("info: time step 2022-03-03T12:00:00Z: no input has 'tas'; the cube's 'tas' "
                      "data of that step is kept", p.stderr)

    def test_rerun_with_fewer_variables_keeps_the_others(self):
        self.check_rerun_keeps_tas("")

    def test_same_with_mosaic(self):
        self.check_rerun_keeps_tas("input_processor_params: {mosaic: true}\n")


class Combining(TempDirTest):
    """Two inputs of the same time: mosaicked (first valid pixel wins, in input order) or the
    later one wins (docs/cli/gen.md)."""

    def setUp(self):
        super().setUp()
        self.a = field(1, 10)
        self.a[13:, :] = np.nan              # valid in rows 0-12
        self.b = field(2, 20)
        self.b[:8, :] = np.nan               # valid in rows 8-19 (rows 8-12 overlap)
        self.pa, self.pb = self.p("a.nc"), self.p("b.nc")
        write_cf(self.pa, LAT, LON, self.a[None], [day(1)])
        write_cf(self.pb, LAT, LON, self.b[None], [day(1)])

    def gen(self, extra, *inputs):
        out = self.p("c.zarr")
        cfg = self.p("cfg.yml")
        write_config(cfg, REGION, SIZE, out, chunks=CHUNKS, extra=extra)
        return out, run(["gen", "-c", cfg] + list(inputs), check=0)

    def test_mosaic_first_valid_pixel_wins(self):
        out, _ = self.gen("input_processor_params: {mosaic: true}\n", self.pa, self.pb)
        both = np.where(np.isnan(self.a), self.b, self.a)
        want = nearest_expected(both, LAT, LON, REGION, SIZE).astype("f4")
        ds = xr.open_zarr(out)
        self.assertEqual(ds.v.shape, (1, 28, 44))
        np.testing.assert_array_equal(ds.v.values[0], want)
        self.assertFalse(np.isnan(want).any())
        # the other order: b's pixels where both are valid
        os.rename(out, self.p("first.zarr"))
        out, _ = self.gen("input_processor_params: {mosaic: true}\n", self.pb, self.pa)
        both = np.where(np.isnan(self.b), self.a, self.b)
        np.testing.assert_array_equal(xr.open_zarr(out).v.values[0],
                                      nearest_expected(both, LAT, LON, REGION, SIZE).astype("f4"))

    def test_later_one_wins_for_equal_times(self):
        out, p = self.gen("", self.pa, self.pb)
        self.assertIn(f"warning: inputs '{self.pa}' and '{self.pb}' have the same time "
                      "2022-03-02T12:00:00Z; the later one is used (set input_processor_params: "
                      "{mosaic: true} to combine them)", p.stderr)
        ds = xr.open_zarr(out)
        self.assertEqual(ds.time.size, 1)
        np.testing.assert_array_equal(ds.v.values[0],
                                      nearest_expected(self.b, LAT, LON, REGION, SIZE).astype("f4"))


class CubeLayout(TempDirTest):
    def setUp(self):
        super().setUp()
        self.inputs = []
        for k in range(4):
            path = self.p(f"in{k}.nc")
            d = field(k, k)
            d[: 1 + 3 * k, :] = np.nan
            write_cf(path, LAT, LON, d[None], [day(k)])
            self.inputs.append(path)

    def test_other_chunk_sizes_are_refused_and_the_cube_is_untouched(self):
        out = self.p("c.zarr")
        cfg = self.p("cfg.yml")
        write_config(cfg, REGION, SIZE, out, chunks=CHUNKS)
        run(["gen", "-c", cfg, self.inputs[0]], check=0)
        snap = snapshot(out)
        bad = self.p("bad.yml")
        write_config(bad, REGION, SIZE, out, chunks=(5, 10))
        p = run(["gen", "-c", bad, self.inputs[1]], check=5)
        line = p.stderr.strip().splitlines()[-1]
        self.assertTrue(line.startswith(f"baims gen: error: cube '{out}' has chunks [1, 7, 10]; "
                                        "the config asks for [1, 5, 10]; "), line)
        self.assertEqual(snap, snapshot(out))

    def test_any_thread_count_writes_the_same_bytes(self):
        cubes = []
        for threads in (1, 2, 4):
            out = self.p(f"t{threads}.zarr")
            cfg = self.p(f"t{threads}.yml")
            write_config(cfg, REGION, (90, 60), out, chunks=(7, 10))
            run(["--threads", str(threads), "gen", "-c", cfg] + self.inputs, check=0)
            cubes.append(out)
        chunks = [k for k in snapshot(cubes[0]) if k.startswith("v/") and "/." not in k]
        self.assertGreater(len(chunks), 100)
        for other in cubes[1:]:
            self.assertEqual(cube_differences(cubes[0], other), [])


class OutputPaths(TempDirTest):
    """Output paths are normalised (issue 7 item 8): a trailing slash, "..", "." and symbolic
    links make the cube where the path points, never a hidden cube inside it."""

    def setUp(self):
        super().setUp()
        self.inputs = []
        for k in range(2):
            path = self.p(f"in{k}.nc")
            write_cf(path, LAT, LON, field(k)[None], [day(k)])
            self.inputs.append(path)
        self.cfg = self.p("cfg.yml")
        write_config(self.cfg, REGION, SIZE, "unused.zarr", chunks=CHUNKS)

    def gen(self, output, inputs, cwd=None, check=0):
        p = subprocess.run([BAIMS, "--progress", "never", "gen", "-c", self.cfg, "-o", output] +
                           inputs, capture_output=True, text=True, cwd=cwd)
        self.assertEqual(p.returncode, check, p.stderr)
        return p

    def assert_cube(self, path, nt):
        self.assertEqual(xr.open_zarr(path).v.shape, (nt, 28, 44))
        self.assertFalse(os.path.exists(os.path.join(path, ".baims-new")))
        self.assertEqual([n for n in os.listdir(os.path.dirname(path)) if ".baims-new" in n], [])

    def test_trailing_slash(self):
        out = self.p("cube.zarr")
        self.gen(out + "/", self.inputs[:1])
        self.assert_cube(out, 1)
        self.gen(out + "//", self.inputs)
        self.assert_cube(out, 2)
        p = self.gen(out + "/", self.inputs)
        self.assertIn("cube is up to date", p.stderr)

    def test_dot_dot_dot_and_relative(self):
        os.mkdir(self.p("sub"))
        self.gen(self.p("sub", "..", "rel.zarr"), self.inputs[:1])
        self.assert_cube(self.p("rel.zarr"), 1)
        self.gen("rel.zarr/", self.inputs, cwd=self.tmp)
        self.assert_cube(self.p("rel.zarr"), 2)
        os.mkdir(self.p("here.zarr"))                    # an empty folder, given as "."
        self.gen(".", self.inputs, cwd=self.p("here.zarr"))
        self.assert_cube(self.p("here.zarr"), 2)
        self.gen("./", self.inputs, cwd=self.p("here.zarr"))
        self.assert_cube(self.p("here.zarr"), 2)

    def test_symbolic_links(self):
        os.mkdir(self.p("real"))
        os.symlink(self.p("real"), self.p("link"))       # a linked parent folder
        self.gen(self.p("link", "a.zarr") + "/", self.inputs[:1])
        self.assert_cube(self.p("real", "a.zarr"), 1)
        os.mkdir(self.p("real", "b.zarr"))               # a link to an empty cube folder
        os.symlink(self.p("real", "b.zarr"), self.p("b-link.zarr"))
        self.gen(self.p("b-link.zarr"), self.inputs)
        self.assertTrue(os.path.islink(self.p("b-link.zarr")))
        self.assert_cube(self.p("real", "b.zarr"), 2)
        p = self.gen(self.p("b-link.zarr") + "/", self.inputs)
        self.assertIn("cube is up to date", p.stderr)


class FailedCreate(TempDirTest):
    """A new cube whose build fails is removed, with a message (issue 7 item 13)."""

    def setUp(self):
        super().setUp()
        self.inputs = []
        for k in range(3):
            path = self.p(f"in{k}.nc")
            write_cf(path, LAT, LON, field(k)[None], [day(k)])
            self.inputs.append(path)
        # in1.nc: a readable header, a damaged data chunk (its deflate stream, found by
        # compressing the shuffled values as netCDF4-python does: shuffle, zlib level 4)
        raw = field(1).astype("<f4").tobytes()
        shuffled = np.frombuffer(raw, np.uint8).reshape(-1, 4).T.copy().tobytes()
        stream = zlib.compress(shuffled, 4)
        with open(self.inputs[1], "r+b") as f:
            data = f.read()
            at = data.find(stream[:64])
            self.assertGreater(at, 0)
            f.seek(at + 40)
            f.write(b"\xff" * 64)
        self.out = self.p("c.zarr")
        self.cfg = self.p("cfg.yml")
        write_config(self.cfg, REGION, SIZE, self.out, chunks=CHUNKS)

    def test_fail_fast_removes_the_unfinished_cube(self):
        p = run(["gen", "-c", self.cfg, "--fail-fast"] + self.inputs, check=4)
        self.assertIn(f"warning: removed the unfinished new cube '{self.out}.baims-new'", p.stderr)
        self.assertFalse(os.path.exists(self.out + ".baims-new"))
        self.assertFalse(os.path.exists(self.out))
        # without --fail-fast the damaged input is skipped and the cube is made
        p = run(["gen", "-c", self.cfg] + self.inputs, check=8)
        self.assertEqual(xr.open_zarr(self.out).time.size, 2)
        self.assertFalse(os.path.exists(self.out + ".baims-new"))

    def test_interrupt_removes_the_unfinished_cube(self):
        many = []
        for k in range(40):
            path = self.p(f"m{k}.nc")
            write_cf(path, LAT, LON, field(k)[None], [day(10 + k)])
            many.append(path)
        proc = subprocess.Popen([BAIMS, "--progress", "never", "--threads", "1", "gen", "-c",
                                 self.cfg] + many, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while not os.path.exists(os.path.join(self.out + ".baims-new", "v")) and \
                proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.001)
        self.assertIsNone(proc.poll(), "the build ended before the interrupt")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 130, err)
        self.assertIn(f"warning: removed the unfinished new cube '{self.out}.baims-new'", err)
        self.assertFalse(os.path.exists(self.out + ".baims-new"))
        self.assertFalse(os.path.exists(self.out))


if __name__ == "__main__":
    import unittest
    unittest.main()
