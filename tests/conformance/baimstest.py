"""Helpers for the conformance tests: run the real baims binary, write CF NetCDF inputs with
netCDF4 (Debian python3-netcdf4), and read cubes back with zarr, xarray and GDAL."""

import datetime as dt
import importlib
import os
import shutil
import subprocess
import tempfile
import unittest

import numpy as np

os.environ.setdefault("GDAL_PAM_ENABLED", "NO")


class _LazyModule:
    """A module imported on first attribute access (then `then(module)` runs once). ctest runs
    each test class in its own process, so a class should not pay for modules it never uses:
    xarray (pandas, dask) costs ~1.2 s of CPU, GDAL ~0.3 s, zarr ~0.2 s on top of numpy."""

    def __init__(self, name, then=None):
        self._name = name
        self._then = then
        self._module = None

    def __getattr__(self, attr):
        if self._module is None:
            module = importlib.import_module(self._name)
            if self._then is not None:
                self._then(module)
            self._module = module
        return getattr(self._module, attr)


def lazy_module(name, then=None):
    """`gdal = lazy_module("osgeo.gdal", then=lambda g: g.UseExceptions())` instead of
    `from osgeo import gdal` + `gdal.UseExceptions()` at module top."""
    return _LazyModule(name, then)


xr = lazy_module("xarray")
netCDF4 = lazy_module("netCDF4")

BAIMS = os.environ.get("BAIMS_BINARY", "baims")
SOURCE_DIR = os.environ.get("BAIMS_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.path.join(SOURCE_DIR, "tests", "data")
EPOCH = dt.datetime(1970, 1, 1)


def traced_env():
    """The environment for a baims run under strace. LeakSanitizer cannot work under ptrace: an
    ASan build would abort at exit, so leak checking is off for traced runs (the untraced runs of
    the same paths keep it)."""
    e = dict(os.environ)
    e["ASAN_OPTIONS"] = (e["ASAN_OPTIONS"] + ":" if e.get("ASAN_OPTIONS") else "") + "detect_leaks=0"
    return e


def run(args, env=None, check=None):
    """Runs baims; returns CompletedProcess (text). check = expected exit code."""
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([BAIMS, "--progress", "never"] + list(args), capture_output=True, text=True, env=e)
    if check is not None and p.returncode != check:
        raise AssertionError(f"baims {' '.join(args)} exited {p.returncode}, expected {check}\n"
                             f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}")
    return p


def days(t):
    return (t - EPOCH).total_seconds() / 86400.0


def write_cf(path, lat, lon, values, times, bounds=None, name="v", packed=False, fmt="NETCDF4",
             units="seconds since 1970-01-01 00:00:00", attrs=None, global_attrs=None):
    """values: array (nt, nlat, nlon) float; NaN = missing. times: list of datetimes."""
    values = np.asarray(values, dtype="f8")
    with netCDF4.Dataset(path, "w", format=fmt) as ds:
        ds.Conventions = "CF-1.7"
        for k, v in (global_attrs or {}).items():
            setattr(ds, k, v)
        ds.createDimension("time", None)
        ds.createDimension("lat", len(lat))
        ds.createDimension("lon", len(lon))
        t = ds.createVariable("time", "f8", ("time",))
        t.units = units
        t.calendar = "gregorian"
        t.standard_name = "time"
        secs = {"seconds": 1.0, "hours": 3600.0, "days": 86400.0}[units.split()[0]]
        ref = dt.datetime.fromisoformat(units.split(" since ")[1].replace("Z", ""))
        t[:] = [(x - ref).total_seconds() / secs for x in times]
        if bounds is not None:
            t.bounds = "time_bnds"
            ds.createDimension("nv", 2)
            tb = ds.createVariable("time_bnds", "f8", ("time", "nv"))
            tb[:] = [[(a - ref).total_seconds() / secs, (b - ref).total_seconds() / secs] for a, b in bounds]
        la = ds.createVariable("lat", "f8", ("lat",))
        la.units = "degrees_north"
        la.standard_name = "latitude"
        la[:] = lat
        lo = ds.createVariable("lon", "f8", ("lon",))
        lo.units = "degrees_east"
        lo.standard_name = "longitude"
        lo[:] = lon
        if packed:
            v = ds.createVariable(name, "i2", ("time", "lat", "lon"), fill_value=-32768, zlib=(fmt == "NETCDF4"))
            v.scale_factor = 0.01
            v.add_offset = 20.0
            v.set_auto_maskandscale(True)
        else:
            v = ds.createVariable(name, "f4", ("time", "lat", "lon"), fill_value=np.float32(-999.0),
                                  zlib=(fmt == "NETCDF4"))
        v.units = "1"
        v.long_name = "test variable " + name
        for k, a in (attrs or {}).items():
            setattr(v, k, a)
        v[:] = np.ma.masked_invalid(values)


# The uint32 flag words of the wide-flag tests (test_gen_expressions, test_gen_geotiff): bit 25
# or 31 set together with low bits, which float32 (24 significant bits) would lose.
WIDE_FLAG_WORDS = np.array([0, 1, 2, 3, (1 << 25) | 1, (1 << 25) | 2, (1 << 31) | 1,
                            (1 << 31) | (1 << 25) | 3, 1 << 25, (1 << 31) | 2], dtype=np.uint32)
# Their expressions over a flag variable qf (flag_meanings "Low Two High Top", masks 1, 2, 2^25,
# 2^31) and a variable chl, as gen config lines.
WIDE_FLAG_CONFIG = ("processed_variables:\n"
                    "  - low: {expression: 'qf.Low'}\n"
                    "  - high_low: {expression: 'qf.High and qf.Low and not qf.Two'}\n"
                    "output_variables:\n"
                    "  - low\n"
                    "  - high_low\n"
                    "  - chl: {valid_pixel_expression: 'qf.Top && qf.Low'}\n")


def check_wide_flags(test, z, q, chl, least):
    """The cube z (zarr) of WIDE_FLAG_CONFIG against numpy's bitwise operations on the words q
    (2-D); chl: the input's chl (2-D). The words float32 rounds, with Low set, are at least
    `least` pixels, and so are those that pass chl's valid_pixel_expression."""
    low = (q & 1) != 0
    np.testing.assert_array_equal(z["low"][0], low.astype(np.float32))
    np.testing.assert_array_equal(
        z["high_low"][0], (((q & (1 << 25)) != 0) & low & ((q & 2) == 0)).astype(np.float32))
    top_low = ((q & (1 << 31)) != 0) & low
    np.testing.assert_array_equal(z["chl"][0], np.where(top_low, chl, np.nan).astype(np.float32))
    test.assertGreater(int((((q & (1 << 25)) != 0) & low).sum()), least)
    test.assertGreater(int(top_low.sum()), least)


def write_config(path, region, size, out, chunks=None, variables=None, resampling=None, extra=""):
    lines = [f"output_region: [{', '.join(repr(float(x)) for x in region)}]",
             f"output_size: [{size[0]}, {size[1]}]",
             f"output_path: {out}"]
    if chunks:
        lines.append(f"output_writer_params: {{chunksizes: {{lat: {chunks[0]}, lon: {chunks[1]}}}}}")
    if variables:
        lines.append("output_variables: [" + ", ".join(variables) + "]")
    if resampling:
        lines.append(f"output_resampling: {resampling}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n" + extra)


def centres(lo, hi, n):
    step = (hi - lo) / n
    return lo + (np.arange(n) + 0.5) * step


def nearest_expected(src, src_lat, src_lon, region, size):
    """Independent nearest-neighbour reference on uniform source grids: output centre ->
    source cell by floor((x - edge0) / step) in the source's own order; lon wraps at 360."""
    w, h = size
    xs = centres(region[0], region[2], w)
    ys = centres(region[1], region[3], h)[::-1]
    src_lat = np.asarray(src_lat, float)
    src_lon = np.asarray(src_lon, float)
    dlat = src_lat[1] - src_lat[0]
    dlon = src_lon[1] - src_lon[0]
    out = np.full((h, w), np.nan)
    for j, y in enumerate(ys):
        r = int(np.floor((y - (src_lat[0] - dlat / 2)) / dlat))
        if not 0 <= r < len(src_lat):
            continue
        for i, x in enumerate(xs):
            for shift in (0.0, -360.0, 360.0):
                c = int(np.floor((x + shift - (src_lon[0] - dlon / 2)) / dlon))
                if 0 <= c < len(src_lon):
                    out[j, i] = src[r, c]
                    break
    return out


def cube_files(path):
    """Relative paths of all files in a cube but the lock file (journal and staging left behind
    would be a bug, so they are listed; .baims-sources.json is part of the cube's state)."""
    out = []
    for root, _dirs, files in os.walk(path):
        for f in files:
            rel = os.path.relpath(os.path.join(root, f), path)
            if rel != ".baims-lock":
                out.append(rel)
    return sorted(out)


def snapshot(path):
    res = {}
    for rel in cube_files(path):
        with open(os.path.join(path, rel), "rb") as f:
            res[rel] = f.read()
    return res


class TempDirTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="baims-test-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def p(self, *parts):
        return os.path.join(self.tmp, *parts)


# Global attributes that legitimately differ between two cubes of the same content: when each was
# made and by which command lines (the paths and the number of runs differ). Nothing else may.
RUN_ATTRS = ("date_created", "date_modified", "history")


def comparable(rel, data):
    """A cube file's content for comparing two cubes: the bytes, except that the root .zattrs and
    the root group's attributes inside .zmetadata are parsed and lose RUN_ATTRS."""
    import json
    if rel not in (".zattrs", ".zmetadata"):
        return data
    doc = json.loads(data)
    attrs = doc if rel == ".zattrs" else doc["metadata"].get(".zattrs", {})
    for k in RUN_ATTRS:
        attrs.pop(k, None)
    return json.dumps(doc, sort_keys=True)


def cube_differences(a, b, skip=()):
    """Files that differ between cubes a and b (present in one only, or other content by
    comparable()); paths starting with one of `skip` are left out."""
    sa, sb = snapshot(a), snapshot(b)
    keep = lambda rel: not rel.startswith(tuple(skip))
    names = sorted({k for k in sa if keep(k)} | {k for k in sb if keep(k)})
    return [k for k in names
            if k not in sa or k not in sb or comparable(k, sa[k]) != comparable(k, sb[k])]


def add_var(path, name, values, fill=-999.0):
    """Adds a float32 variable (time, lat, lon) to a file made by write_cf."""
    values = np.asarray(values, dtype="f8")
    with netCDF4.Dataset(path, "a") as ds:
        v = ds.createVariable(name, "f4", ("time", "lat", "lon"), fill_value=np.float32(fill),
                              zlib=ds.data_model == "NETCDF4")
        v.units = "1"
        v[:] = np.ma.masked_invalid(values)
