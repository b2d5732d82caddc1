"""gen end to end: configuration, usage, input and output errors give the documented exit code and
exactly one line (docs/exit-codes.md); interrupts exit 130 and internal errors 70."""

import datetime as dt
import glob
import json
import os
import signal
import subprocess
import time
import unittest

import numpy as np
from baimstest import lazy_module  # imported on first use
zarr = lazy_module("zarr")

from baimstest import BAIMS, TempDirTest, run, write_cf, write_config

LAT = np.arange(9.75, 0, -0.5)
LON = np.arange(0.25, 15, 0.5)


def small_input(path, day, name="v"):
    write_cf(path, LAT, LON, np.full((1, 20, 30), float(day)), [dt.datetime(2022, 3, day, 12)],
             name=name)


class ConfigErrors(TempDirTest):
    """Issue 7 #11, #12 and the message bullets: exit 3 with file:line:col."""

    def gen_with(self, body, inputs=None, check=3):
        cfg = self.p("gen.yml")
        with open(cfg, "w") as f:
            f.write("output_region: [0.25, 0.0, 15.25, 10.0]\noutput_size: [30, 20]\n" + body)
        src = self.p("in.nc")
        if not os.path.exists(src):
            small_input(src, 1)
        return run(["gen", "-c", cfg, "-o", self.p("c.zarr")] + (inputs or [src]), check=check)

    def assertOneLine(self, p, line):
        self.assertEqual(p.stderr.strip().splitlines(), [line])

    def test_output_names(self):
        cfg = self.p("gen.yml")
        cases = [
            ('output_variables: [{v: {name: "a/b"}}]\n',
             f"{cfg}:3:31: output_variables[0].v.name: 'a/b' holds '/' or '\\', which would make "
             "it a folder of the cube. Choose another output name"),
            ("output_variables: [{v: time_bnds}]\n",
             f"{cfg}:3:24: output_variables[0].v: 'time_bnds' is a coordinate of the cube (time, "
             "time_bnds, lat, lat_bnds, lon, lon_bnds, crs) and cannot name a data variable. "
             "Choose another output name"),
            ("output_variables: [{v: {name: .zattrs}}]\n",
             f"{cfg}:3:31: output_variables[0].v.name: '.zattrs' starts with '.', which Zarr and "
             "baims reserve for their own files. Choose another output name"),
            ("output_variables: [v, {w: v}]\n",
             f"{cfg}:3:27: output_variables[1].w: the output variable 'v' is already defined at "
             f"{cfg}:3:20. Give each output variable its own name"),
        ]
        for body, line in cases:
            with self.subTest(body=body):
                p = self.gen_with(body)
                self.assertOneLine(p, "baims gen: error: " + line)
                self.assertFalse(os.path.exists(self.p("c.zarr")))

    def test_nested_metadata_is_a_config_error_not_internal(self):
        p = self.gen_with("output_metadata: {a: [[1]]}\n")
        self.assertOneLine(p, f"baims gen: error: {self.p('gen.yml')}:3:23: output_metadata.a[0]: "
                              "expected a text, a number or a list of them, got a list. "
                              "Attributes are scalars or flat lists")

    def test_duplicate_keys_and_did_you_mean(self):
        cfg = self.p("gen.yml")
        p = self.gen_with("output_size: [60, 40]\n")
        self.assertOneLine(p, f"baims gen: error: {cfg}:3:1: duplicate key 'output_size' (first "
                              f"given at {cfg}:2:1). Remove one of them")
        with open(cfg, "w") as f:
            f.write("output_region: [0.25, 0.0, 15.25, 10.0]\noutput_resolution: 0.5\n"
                    "output_sise: [30, 20]\n")
        p = run(["gen", "-c", cfg, "-o", self.p("c.zarr"), self.p("in.nc")], check=3)
        self.assertOneLine(p, f"baims gen: error: {cfg}:3:1: unknown key 'output_sise' (did you "
                              "mean 'output_size'?). Fix the key name")

    def test_chunk_sizes(self):
        cfg = self.p("gen.yml")
        p = self.gen_with("output_writer_params: {chunksizes: {x: 8, y: 8}}\n")
        self.assertOneLine(p, f"baims gen: error: {cfg}:3:40: output_writer_params.chunksizes.x: "
                              "the cube's dimensions are time, lat and lon (output_crs is "
                              "EPSG:4326). Give the chunk sizes as {lat: N, lon: N}")
        p = self.gen_with("output_writer_params: {chunksizes: {lat: 0}}\n")
        self.assertOneLine(p, f"baims gen: error: {cfg}:3:42: output_writer_params.chunksizes.lat: "
                              "expected a positive whole number, got 0. Remove it for the default "
                              "(512, or the cube's own)")
        with open(cfg, "w") as f:
            f.write("output_region: [0.25, 0.0, 15.25, 10.0]\noutput_size: [30, 20]\n")
        q = run(["gen", "-c", cfg, "--print-config"], check=0)
        self.assertIn("chunksizes: {time: 1}\n", q.stdout)
        self.assertNotIn("lat: 0", q.stdout)

    def test_huge_grid_is_refused_at_once(self):
        cfg = self.p("gen.yml")
        with open(cfg, "w") as f:
            f.write("output_region: [0.25, 0.0, 15.25, 10.0]\noutput_size: [1e8, 1e8]\n")
        t0 = time.monotonic()
        p = run(["gen", "-c", cfg, "-o", self.p("c.zarr"), self.p("x.nc")], check=3)
        self.assertLess(time.monotonic() - t0, 5)
        self.assertOneLine(p, f"baims gen: error: {cfg}:2:14: output_size: the grid would be "
                              "100000000 x 100000000 pixels; this version allows at most 1000000 "
                              "pixels along each axis and 1e11 pixels per time step. Check the "
                              "numbers; split a larger area into several cubes")


class UsageInputOutput(TempDirTest):
    """Exit 2, 4 and 5 lines from the message bullets of issue 7."""

    def config(self, extra=""):
        cfg = self.p("gen.yml")
        write_config(cfg, (0.25, 0.0, 15.25, 10.0), (30, 20), self.p("c.zarr"), extra=extra)
        return cfg

    def test_unknown_command_suggests(self):
        p = run(["gne"], check=2)
        self.assertEqual(p.stderr.strip(), "baims: error: unknown command 'gne' (did you mean "
                                           "'gen'?). Run 'baims --help' for the commands")
        p = run(["--threads", "2", "catalgo"], check=2)
        self.assertEqual(p.stderr.strip(), "baims: error: unknown command 'catalgo' (did you "
                                           "mean 'catalog'?). Run 'baims --help' for the commands")

    def test_glob_matching_nothing_is_an_input_error(self):
        pattern = self.p("nothing", "*.nc")
        p = run(["gen", "-c", self.config(), pattern], check=4)
        self.assertEqual(p.stderr.strip(), f"baims gen: error: no input matches '{pattern}'. "
                                           "Check the pattern and the current directory")

    def test_unwritable_or_missing_parent(self):
        src = self.p("in.nc")
        small_input(src, 1)
        afile = self.p("afile")
        with open(afile, "w") as f:
            f.write("x")
        out = os.path.join(afile, "c.zarr")
        p = run(["gen", "-c", self.config(), "-o", out, src], check=5)
        self.assertEqual(p.stderr.strip(), f"baims gen: error: cannot create cube '{out}': "
                                           f"'{afile}' is not a folder. Choose another output_path")
        out = os.path.join(afile, "sub", "c.zarr")
        p = run(["gen", "-c", self.config(), "-o", out, src], check=5)
        self.assertEqual(p.stderr.strip(),
                         f"baims gen: error: cannot create cube '{out}': its folder '{afile}/sub' "
                         "does not exist and cannot be created (Not a directory). Create the "
                         "folder or choose another output_path")
        ro = self.p("ro")
        os.mkdir(ro, 0o555)
        try:
            if not os.access(ro, os.W_OK):   # (root may write anywhere)
                out = os.path.join(ro, "c.zarr")
                p = run(["gen", "-c", self.config(), "-o", out, src], check=5)
                self.assertEqual(p.stderr.strip(),
                                 f"baims gen: error: cannot create cube '{out}': the folder "
                                 f"'{ro}' is not writable (Permission denied). Fix its "
                                 "permissions or choose another output_path")
        finally:
            os.chmod(ro, 0o755)
        # a missing parent in a writable place is created
        out = self.p("new", "dir", "c.zarr")
        run(["gen", "-c", self.config(), "-o", out, src], check=0)
        self.assertTrue(os.path.exists(os.path.join(out, ".zmetadata")))

    def test_other_chunks_for_an_existing_cube(self):
        src = self.p("in.nc")
        small_input(src, 1)
        run(["gen", "-c", self.config(), src], check=0)
        cfg = self.config("output_writer_params: {chunksizes: {lat: 10, lon: 10}}\n")
        p = run(["gen", "-c", cfg, src], check=5)
        self.assertEqual(p.stderr.strip(),
                         f"baims gen: error: cube '{self.p('c.zarr')}' has chunks [1, 20, 30]; the "
                         "config asks for [1, 10, 10]; changing the chunk sizes of an existing "
                         "cube in gen is not available in this version. Rechunk the cube first "
                         "with 'baims optimise CUBE --in-place --chunks lat=...,lon=...', remove "
                         "output_writer_params.chunksizes (the cube keeps its own) or write to "
                         "another output_path")
        # The hint works: rechunk as it says, then the same gen runs.
        run(["optimise", self.p("c.zarr"), "--in-place", "--chunks", "lat=10,lon=10"], check=0)
        run(["gen", "-c", cfg, src], check=0)

    def test_json_partial_summary_is_json(self):
        good = self.p("good.nc")
        small_input(good, 1)
        bad = self.p("bad.nc")
        with open(bad, "w") as f:
            f.write("not netcdf")
        p = run(["--log-format", "json", "gen", "-c", self.config(), good, bad], check=8)
        lines = p.stderr.strip().splitlines()
        objs = [json.loads(l) for l in lines]   # every line is a JSON object
        msgs = [o["msg"] for o in objs if o["level"] == "error"]
        self.assertIn("baims gen: 1 of 2 inputs failed:", msgs)
        self.assertTrue(any(m.startswith("failed input: " + bad + ": ") for m in msgs), msgs)

    def test_history_is_quoted_and_bounded(self):
        d = self.p("in put")
        os.mkdir(d)
        paths = []
        for day in range(1, 9):
            paths.append(os.path.join(d, f"d{day:02d}.nc"))
            small_input(paths[-1], day)
        cfg = self.config()
        run(["gen", "-c", cfg] + paths, check=0)
        attrs = zarr.open_group(self.p("c.zarr"), mode="r").attrs.asdict()
        last = attrs["history"].splitlines()[-1]
        quoted = " ".join(f"'{x}'" for x in paths[:5])
        self.assertEqual(last.split(": ", 1)[1],
                         f"baims gen -c {cfg} {quoted} ... (3 more inputs)")


class ConfigDrift(TempDirTest):
    """Issue 7: config changes an update does not apply are said, not silently ignored."""

    def test_changes_that_are_not_applied_are_warned(self):
        d1, d2 = self.p("d1.nc"), self.p("d2.nc")
        small_input(d1, 1)
        small_input(d2, 2)
        cfg = self.p("gen.yml")
        out = self.p("c.zarr")

        def config(extra):
            write_config(cfg, (0.25, 0.0, 15.25, 10.0), (45, 30), out, extra=extra)

        config("output_metadata: {title: A}\n")
        run(["gen", "-c", cfg, d1, d2], check=0)
        # another resampling for day 1 only: day 2 keeps nearest, and gen says so
        config("output_metadata: {title: A}\noutput_resampling: bilinear\n")
        p = run(["--deterministic", "gen", "-c", cfg, d1], check=0)
        self.assertIn("warning: 1 of the cube's 2 time steps were made with other settings "
                      "(variables, resampling, compression, packing or mosaicking) and are not "
                      "among this run's inputs: the cube mixes both until those inputs are given "
                      "again\n", p.stderr)
        run(["gen", "-c", cfg, d1, d2], check=0)
        # up to date: a new title is not written, and gen says so
        config("output_metadata: {title: B}\noutput_resampling: bilinear\n")
        p = run(["--deterministic", "gen", "-c", cfg, d1, d2], check=0)
        self.assertIn("warning: output_metadata differs from the cube's global attributes "
                      "(title) but the cube is up to date, so they are not rewritten; they are "
                      "applied when a time step is next written\n", p.stderr)
        self.assertEqual(zarr.open_group(out, mode="r").attrs["title"], "A")
        # variable attributes of an existing cube are its own
        config("output_metadata: {title: A}\noutput_resampling: bilinear\n"
               "output_variables: [{v: {units: K}}]\n")
        p = run(["--deterministic", "gen", "-c", cfg, d1, d2], check=0)
        self.assertIn("warning: the cube keeps its own attributes of 'v' (units differ from "
                      "output_variables): variable attributes of the config apply to new cubes "
                      "only\n", p.stderr)
        self.assertEqual(zarr.open_group(out, mode="r")["v"].attrs["units"], "1")


class Interrupts(TempDirTest):
    """Issue 12 #8: SIGTERM/SIGINT during a run exit 130 and leave the old or the new cube;
    an internal error (a test fault standing in for a bug) exits 70 with one line."""

    def inputs(self, n, size=(400, 600)):
        lat = np.linspace(9.99, 0.01, size[0])
        lon = np.linspace(0.01, 14.99, size[1])
        rng = np.random.default_rng(7)
        paths = []
        for day in range(1, n + 1):
            path = self.p(f"big{day:02d}.nc")
            write_cf(path, lat, lon, rng.random((1,) + size), [dt.datetime(2022, 1, day, 12)])
            paths.append(path)
        return paths

    def interrupt_update(self, sig):
        cfg = self.p("gen.yml")
        out = self.p("c.zarr")
        write_config(cfg, (0.0, 0.0, 15.0, 10.0), (3000, 2000), out, chunks=(250, 250),
                     resampling="bilinear")
        paths = self.inputs(12)
        run(["gen", "-c", cfg, paths[0]], check=0)
        proc = subprocess.Popen([BAIMS, "--progress", "never", "--threads", "1", "gen", "-c", cfg]
                                + paths, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        staging = os.path.join(out, ".baims-staging")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if glob.glob(os.path.join(staging, "*", "v", "*")):   # chunks are being staged
                break
            time.sleep(0.01)
        self.assertIsNone(proc.poll(), "gen ended before it was interrupted: make the input larger")
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
        self.assertEqual(proc.returncode, 130, err)
        self.assertEqual(err.strip().splitlines()[-1],
                         f"baims gen: error: interrupted by signal {int(sig)}. What was committed "
                         "is kept; rerun the same command to finish")
        nt = zarr.open_group(out, mode="r")["time"].shape[0]
        self.assertIn(nt, (1, 12))   # the old cube or the new one, never a mix
        run(["gen", "-c", cfg] + paths, check=0)
        self.assertEqual(zarr.open_group(out, mode="r")["time"].shape[0], 12)

    def test_sigterm_exits_130(self):
        self.interrupt_update(signal.SIGTERM)

    def test_sigint_exits_130(self):
        self.interrupt_update(signal.SIGINT)

    def test_internal_error_exits_70(self):
        src = self.p("in.nc")
        small_input(src, 1)
        cfg = self.p("gen.yml")
        out = self.p("c.zarr")
        write_config(cfg, (0.25, 0.0, 15.25, 10.0), (30, 20), out)
        p = run(["gen", "-c", cfg, src], env={"BAIMS_TEST_FAIL_AT": "create-rename:1"}, check=70)
        self.assertEqual(p.stderr.strip().splitlines()[-1],
                         "baims gen: error: internal error: test fault at create-rename. Please "
                         "report this with the log")
        self.assertFalse(os.path.exists(out))
        run(["gen", "-c", cfg, src], check=0)


if __name__ == "__main__":
    unittest.main()
