"""baims gen with output_metadata: {keep_input_attrs: true} (SPEC §2 "Global attributes"): each
input's own global attributes are kept per time step, in the cube's global attribute input_attrs
({time of the step: {input file name: {attribute: value}}}) and in .baims-sources.json. The
expected attributes are read from the input files with netCDF4 and GDAL, the cube's with zarr,
xarray and GDAL's Zarr driver. KeepInputAttrsKills kills gen at each write of the update that
only adds them to a cube (docs/crash-safety.md "Records only")."""

import datetime as dt
import json
import os
import shutil
import subprocess

import numpy as np
from baimstest import lazy_module, netCDF4, xr
zarr = lazy_module("zarr")
gdal = lazy_module("osgeo.gdal", then=lambda g: g.UseExceptions())
osr = lazy_module("osgeo.osr", then=lambda _: gdal.UseExceptions())

from baimstest import (BAIMS, TempDirTest, cube_differences, run, snapshot, traced_env, write_cf,
                       write_config)
from test_gen_crash import SYSCALLS, calls

T0 = dt.datetime(2022, 3, 1, 11, 0)
LAT = np.arange(9.75, 0, -0.5)   # 20 rows, descending
LON = np.arange(0.25, 15, 0.5)   # 30 cols
REGION = [0.0, 0.0, 15.0, 10.0]
SIZE = (30, 20)
KEEP = "output_metadata:\n  title: kept attributes\n  keep_input_attrs: true\n"


def day(k):
    return T0 + dt.timedelta(days=k)


def iso(k):
    return day(k).strftime("%Y-%m-%dT%H:%M:%SZ")


def plain(v):
    """A netCDF4 attribute value as JSON gives it back."""
    if isinstance(v, np.ndarray):
        return [plain(x) for x in v.tolist()]
    if isinstance(v, np.generic):
        return v.item()
    return v


def nc_attrs(path):
    with netCDF4.Dataset(path) as ds:
        return {k: plain(ds.getncattr(k)) for k in ds.ncattrs()}


def chunk_files(out):
    """The data chunks of variable v (name -> bytes)."""
    return {k: b for k, b in snapshot(out).items() if k.startswith("v/") and "/." not in k}


class _Attrs(TempDirTest):
    """Three daily inputs with global attributes of each kind, and helpers; no tests."""

    def setUp(self):
        super().setUp()
        self.inputs = {}
        for k in (1, 2, 3):
            self.write_input(k)

    def write_input(self, k, name=None, shift=0.0, when=None):
        path = self.p(name or f"in{k}.nc")
        rng = np.random.default_rng(k)
        t = when or day(k)
        write_cf(path, LAT, LON, rng.normal(size=(1, 20, 30)) + shift, [t],
                 global_attrs={"title": f"input {k}", "product_version": np.int32(k),
                               "history": f"made by the test, day {k}",
                               "summary": "Wassertemperatur in \u00b0C",
                               "valid_box": np.array([0.5, 1.25, 2.0])})
        self.inputs[name or k] = path
        return path

    def gen(self, out, keys, keep=True, check=0, extra=""):
        cfg = self.p("cfg.yml")
        write_config(cfg, REGION, SIZE, out, chunks=(7, 10), extra=(KEEP if keep else "") + extra)
        return run(["gen", "-c", cfg] + [self.inputs[k] for k in keys], check=check)

    def expected(self, steps):
        """{iso time: {file name: attrs read with netCDF4}} for steps {day: input key}."""
        return {iso(d): {os.path.basename(self.inputs[key]): nc_attrs(self.inputs[key])}
                for d, key in steps.items()}

    def input_attrs(self, out):
        with open(os.path.join(out, ".zattrs")) as f:
            attrs = json.load(f)
        with open(os.path.join(out, ".zmetadata")) as f:
            consolidated = json.load(f)["metadata"][".zattrs"]
        self.assertEqual(attrs, consolidated)
        return attrs.get("input_attrs")


class KeepInputAttrs(_Attrs):
    def test_kept_per_time_step_and_read_by_three_readers(self):
        out = self.p("c.zarr")
        self.gen(out, [1, 2, 3])
        want = self.expected({1: 1, 2: 2, 3: 3})
        self.assertEqual(want[iso(2)]["in2.nc"]["product_version"], 2)
        self.assertEqual(want[iso(2)]["in2.nc"]["valid_box"], [0.5, 1.25, 2.0])
        self.assertEqual(self.input_attrs(out), want)
        ds = xr.open_zarr(out)
        self.assertEqual(ds.attrs["input_attrs"], want)
        self.assertEqual(zarr.open(out, "r").attrs["input_attrs"], want)
        # the cube's own attributes are not replaced by the inputs'
        self.assertEqual(ds.attrs["title"], "kept attributes")
        self.assertEqual(ds.attrs["Conventions"], "CF-1.9, ACDD-1.3")
        self.assertNotIn("product_version", ds.attrs)
        # GDAL's multidimensional Zarr reader gives the same object
        info = json.loads(subprocess.run(["gdalmdiminfo", out], capture_output=True, text=True,
                                         check=True).stdout)
        self.assertEqual(info["attributes"]["input_attrs"], want)
        # the record of each step holds them too
        with open(os.path.join(out, ".baims-sources.json")) as f:
            steps = json.load(f)["steps"]
        self.assertEqual([s["inputs"][0]["attrs"] for s in steps],
                         [nc_attrs(self.inputs[k]) for k in (1, 2, 3)])

    def test_latin1_text_and_nan_attributes(self):
        # Text that is not UTF-8 (older tools write Latin-1: b"\xb0C") is taken as Latin-1, a
        # NaN attribute is kept as null; a rerun then finds the records as it would write them
        # and writes nothing.
        path = self.inputs[1]
        with netCDF4.Dataset(path, "a") as ds:
            ds.setncattr("comment", b"Temperatur in \xb0C")
            ds.setncattr("fill_hint", np.float32(np.nan))
        out = self.p("c.zarr")
        self.gen(out, [1])
        kept = self.input_attrs(out)[iso(1)]["in1.nc"]
        self.assertEqual(kept["comment"], "Temperatur in \u00b0C")
        self.assertIsNone(kept["fill_hint"])
        self.assertEqual(xr.open_zarr(out).attrs["input_attrs"][iso(1)]["in1.nc"]["comment"],
                         "Temperatur in \u00b0C")
        records = os.path.join(out, ".baims-sources.json")
        before, mtime = snapshot(out), os.stat(records).st_mtime_ns
        p = self.gen(out, [1])
        self.assertIn("up to date", p.stderr)
        self.assertEqual(snapshot(out), before)
        self.assertEqual(os.stat(records).st_mtime_ns, mtime)

    def test_without_the_option_none_are_kept(self):
        out = self.p("c.zarr")
        self.gen(out, [1, 2], keep=False)
        self.assertIsNone(self.input_attrs(out))
        with open(os.path.join(out, ".baims-sources.json")) as f:
            steps = json.load(f)["steps"]
        self.assertEqual([sorted(s["inputs"][0]) for s in steps],
                         [["crc32", "mtime", "name", "size", "step"]] * 2)
        self.assertNotIn("product_version", xr.open_zarr(out).attrs)

    def test_asked_for_later_they_are_added_without_recomputing(self):
        out = self.p("c.zarr")
        self.gen(out, [1, 2], keep=False)
        chunks = chunk_files(out)
        self.assertGreater(len(chunks), 0)
        p = self.gen(out, [1, 2])
        self.assertIn("up to date", p.stderr)
        self.assertEqual(chunk_files(out), chunks)
        self.assertEqual(self.input_attrs(out), self.expected({1: 1, 2: 2}))
        # a rerun with the option is then a no-op, and one without it keeps them
        before = snapshot(out)
        self.gen(out, [1, 2])
        self.assertEqual(snapshot(out), before)
        self.gen(out, [1, 2], keep=False)
        self.assertEqual(snapshot(out), before)
        # a touched input (new mtime, same bytes): its record takes the mtime, keeps the attributes
        os.utime(self.inputs[1], (1.7e9, 1.7e9))
        p = self.gen(out, [1, 2], keep=False)
        self.assertIn("up to date", p.stderr)
        self.assertEqual(chunk_files(out), chunks)
        self.assertEqual(self.input_attrs(out), self.expected({1: 1, 2: 2}))
        with open(os.path.join(out, ".baims-sources.json")) as f:
            self.assertEqual(json.load(f)["steps"][0]["inputs"][0]["mtime"],
                             "2023-11-14T22:13:20.000000000Z")

    def test_each_step_keeps_its_own_through_insert_replace_and_append(self):
        out = self.p("c.zarr")
        self.gen(out, [1, 3])
        self.gen(out, [2], keep=False)                         # inserted without them
        self.assertEqual(self.input_attrs(out), self.expected({1: 1, 3: 3}))
        self.write_input(4, name="in1b.nc", shift=5.0, when=day(1))
        self.gen(out, ["in1b.nc"], keep=False)                 # day 1 recomputed without them
        self.assertEqual(self.input_attrs(out), self.expected({3: 3}))
        self.gen(out, [2])                                     # day 2 takes them, not recomputed
        self.assertEqual(self.input_attrs(out), self.expected({2: 2, 3: 3}))
        self.write_input(5, name="in5.nc", when=day(5))
        self.gen(out, ["in5.nc", "in1b.nc"])                   # appended, and day 1 again
        want = self.expected({1: "in1b.nc", 2: 2, 3: 3, 5: "in5.nc"})
        self.assertEqual(want[iso(1)]["in1b.nc"]["title"], "input 4")
        self.assertEqual(self.input_attrs(out), want)
        self.assertEqual(xr.open_zarr(out).time.size, 4)

    def test_mosaic_keeps_every_input_of_the_step(self):
        out = self.p("c.zarr")
        self.write_input(7, name="east.nc", when=day(1))
        self.gen(out, [1, "east.nc"], extra="input_processor_params: {mosaic: true}\n")
        self.assertEqual(self.input_attrs(out),
                         {iso(1): {"in1.nc": nc_attrs(self.inputs[1]),
                                   "east.nc": nc_attrs(self.inputs["east.nc"])}})

    def test_restored_after_a_run_cut_off_between_the_records_and_the_attribute(self):
        # The records (.baims-sources.json) are written before the global attribute: a run cut
        # off between the two left records with attributes that the cube does not show. The next
        # run, even one with nothing to compute and without the option, shows them.
        out = self.p("c.zarr")
        self.gen(out, [1, 2])
        want = self.input_attrs(out)
        for name in (".zattrs", ".zmetadata"):
            path = os.path.join(out, name)
            with open(path) as f:
                j = json.load(f)
            (j["metadata"][".zattrs"] if name == ".zmetadata" else j).pop("input_attrs")
            with open(path, "w") as f:
                json.dump(j, f)
        self.assertIsNone(self.input_attrs(out))
        chunks = chunk_files(out)
        p = self.gen(out, [1, 2], keep=False)
        self.assertIn("up to date", p.stderr)
        self.assertEqual(self.input_attrs(out), want)
        self.assertEqual(chunk_files(out), chunks)
        # cut off between .zattrs and .zmetadata: the consolidated copy is brought in line too
        path = os.path.join(out, ".zmetadata")
        with open(path) as f:
            j = json.load(f)
        j["metadata"][".zattrs"].pop("input_attrs")
        with open(path, "w") as f:
            json.dump(j, f)
        self.gen(out, [1, 2], keep=False)
        self.assertEqual(self.input_attrs(out), want)  # (also compares .zmetadata)

    def test_partitions_take_them_like_one_process(self):
        # gen --partition K/N then --finalize, for a new cube and for a cube made without them
        # whose steps are all made already (the update that computes nothing)
        for made_before in (False, True):
            out = self.p(f"p{made_before}.zarr")
            if made_before:
                self.gen(out, [1, 2], keep=False)
            chunks = chunk_files(out)
            for k in (1, 2):
                cfg = self.p("cfg.yml")
                write_config(cfg, REGION, SIZE, out, chunks=(7, 10), extra=KEEP)
                run(["gen", "-c", cfg, "--partition", f"{k}/2", self.inputs[1], self.inputs[2]],
                    check=0)
            run(["gen", "-c", cfg, "--finalize"], check=0)
            self.assertEqual(self.input_attrs(out), self.expected({1: 1, 2: 2}))
            if made_before:
                self.assertEqual(chunk_files(out), chunks)

    def test_config_mistakes(self):
        out = self.p("c.zarr")
        cfg = self.p("bad.yml")
        write_config(cfg, REGION, SIZE, out, extra="output_metadata: {keep_input_attrs: maybe}\n")
        p = run(["gen", "-c", cfg, self.inputs[1]], check=3)
        self.assertEqual(p.stderr.strip().splitlines()[-1],
                         f"baims gen: error: {cfg}:4:37: output_metadata.keep_input_attrs: "
                         "expected true or false, got 'maybe'. Write keep_input_attrs: true to "
                         "keep the inputs' global attributes per time step, or remove it")
        write_config(cfg, REGION, SIZE, out, extra="output_metadata: {input_attrs: mine}\n")
        p = run(["gen", "-c", cfg, self.inputs[1]], check=3)
        self.assertIn("output_metadata: input_attrs: this global attribute is written by baims",
                      p.stderr)
        self.assertFalse(os.path.exists(out))
        # spelled as YAML allows: yes/no, True/False
        write_config(cfg, REGION, SIZE, out, extra="output_metadata: {keep_input_attrs: yes}\n")
        run(["gen", "-c", cfg, self.inputs[1]], check=0)
        self.assertEqual(list(self.input_attrs(out)), [iso(1)])
        shutil.rmtree(out)
        write_config(cfg, REGION, SIZE, out, extra="output_metadata: {keep_input_attrs: False}\n")
        run(["gen", "-c", cfg, self.inputs[1]], check=0)
        self.assertIsNone(self.input_attrs(out))

    def test_geotiff_metadata_is_kept(self):
        path = self.p("chl_20230601.tif")
        ds = gdal.GetDriverByName("GTiff").Create(path, 30, 20, 1, gdal.GDT_Float32)
        ds.SetGeoTransform((0.0, 0.5, 0, 10.0, 0, -0.5))
        s = osr.SpatialReference()
        s.ImportFromEPSG(4326)
        ds.SetProjection(s.ExportToWkt())
        ds.SetMetadata({"TIFFTAG_SOFTWARE": "the test", "PROCESSOR": "chl v2"})
        ds.GetRasterBand(1).WriteArray(np.ones((20, 30), np.float32))
        ds = None
        want = gdal.Open(path).GetMetadata()
        self.assertEqual(want["PROCESSOR"], "chl v2")
        out = self.p("t.zarr")
        cfg = self.p("t.yml")
        write_config(cfg, REGION, SIZE, out, extra="input_processor_name: geotiff\n"
                     "input_processor_params: {time_pattern: \"%Y%m%d\"}\n" + KEEP)
        run(["gen", "-c", cfg, path], check=0)
        self.assertEqual(self.input_attrs(out),
                         {"2023-06-01T00:00:00Z": {"chl_20230601.tif": want}})


class KeepInputAttrsKills(_Attrs):
    """kill -9 (strace -e inject) just before each file the records-only update publishes
    (.baims-sources.json, .zattrs, .zmetadata): keep_input_attrs asked for on a cube whose steps
    were all made before without it."""

    def test_kill_at_every_write_of_the_records_only_update(self):
        strace = shutil.which("strace")
        self.assertIsNotNone(strace, "strace is needed (scripts/install-deps.sh installs it)")
        base, done = self.p("base.zarr"), self.p("done.zarr")
        self.gen(base, [1, 2], keep=False)
        shutil.copytree(base, done)
        self.gen(done, [1, 2])
        self.assertEqual(self.input_attrs(done), self.expected({1: 1, 2: 2}))
        values = xr.open_zarr(base).v.values

        def command(out):
            cfg = self.p("kill.yml")
            write_config(cfg, REGION, SIZE, out, chunks=(7, 10), extra=KEEP)
            return ["--progress", "never", "--threads", "1", "gen", "-c", cfg,
                    self.inputs[1], self.inputs[2]]

        probe, log = self.p("probe.zarr"), self.p("trace.log")
        shutil.copytree(base, probe)
        subprocess.run([strace, "-f", "-qq", "-o", log, "-e", f"trace={SYSCALLS}", BAIMS] +
                       command(probe), check=True, capture_output=True, env=traced_env())
        trace = calls(log, probe)
        files = (".baims-sources.json", ".zattrs", ".zmetadata")
        points = [i + 1 for i, (call, rel, _) in enumerate(trace)
                  if call.startswith("rename") and rel in files]
        self.assertEqual([trace[n - 1][1] for n in points], list(files))
        for n in points:
            out = self.p(f"k{n}.zarr")
            shutil.copytree(base, out)
            name = trace[n - 1][0]
            k = sum(1 for c in trace[:n] if c[0] == name)
            p = subprocess.run([strace, "-f", "-qq", "-o", log, "-e", f"trace={SYSCALLS}",
                                "-e", f"inject={name}:signal=KILL:when={k}", BAIMS] + command(out),
                               capture_output=True, text=True, env=traced_env())
            with self.subTest(kill=trace[n - 1][1]):
                self.assertEqual(p.returncode, -9, p.stderr)
                # a reader sees the data as it was, and no attribute or the complete one
                ds = xr.open_zarr(out)
                np.testing.assert_array_equal(ds.v.values, values)
                self.assertIn(ds.attrs.get("input_attrs"), (None, self.expected({1: 1, 2: 2})))
                # once the records are written, a rerun even without the option completes it
                records_written = n > points[0]
                self.gen(out, [1, 2], keep=not records_written)
                self.assertEqual(cube_differences(out, done), [])
            shutil.rmtree(out)
