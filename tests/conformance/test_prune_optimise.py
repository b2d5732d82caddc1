"""baims prune and baims optimise on three kinds of Zarr v2 cubes: one written by baims gen (OSTIA),
xcube 1.0.5's golden cube, and cubes written by xarray/zarr-python ('.' and '/' separators, packed
int16 with _FillValue, fill_value null). Results are read back with xarray, zarr and GDAL and
compared value by value with the input; the chunks prune removes are counted independently with
numpy."""

import json
import os
import shutil
import stat
import subprocess
import tempfile
import unittest

import numpy as np
from baimstest import lazy_module, xr  # imported on first use (xarray: pandas, dask)
zarr = lazy_module("zarr")
gdal = lazy_module("osgeo.gdal", then=lambda g: g.UseExceptions())

from baimstest import BAIMS, DATA, SOURCE_DIR, run

GOLDEN = os.path.join(DATA, "golden", "golden-xcube-1.0.5", "ostia-golden.zarr")


def make_baims_cube(root):
    """baims gen on the three OSTIA files, 88x80 chunks; then two blocks made all-NaN with zarr
    (written as chunk files, as any writer without empty-chunk skipping does)."""
    cfg = os.path.join(root, "gen.yml")
    with open(os.path.join(SOURCE_DIR, "configs", "gen-ostia.yml")) as f:
        text = f.read().replace("{lat: 176, lon: 320}", "{lat: 88, lon: 80}")
    with open(cfg, "w") as f:
        f.write(text)
    out = os.path.join(root, "baims.zarr")
    inputs = sorted(os.path.join(DATA, "ostia", n) for n in os.listdir(os.path.join(DATA, "ostia")))
    run(["gen", "-c", cfg, "-o", out] + inputs, check=0)
    g = zarr.open_group(out, mode="r+")
    g["analysed_sst"][1, 0:88, 0:160] = np.nan  # two chunks of slice 1
    g["sst_anomaly"][2, 88:176, 80:160] = np.nan  # one chunk of slice 2
    return out


def make_golden_cube(root):
    out = os.path.join(root, "golden.zarr")
    shutil.copytree(GOLDEN, out)
    g = zarr.open_group(out, mode="r+")
    g["analysed_sst"][0, 0:176, 0:320] = np.nan  # one chunk
    return out


def make_xarray_cube(root, sep):
    """float32 NaN-filled 'sst', packed int16 'packed' (_FillValue -32768, scale 0.01, offset 20),
    'nofill' (fill_value null) and 2-D coordinate 'lat2d' in 3 chunks; chunks (1, 4, 5)."""
    rng = np.random.default_rng(7)
    nt, ny, nx = 3, 12, 10
    sst = rng.normal(280, 3, (nt, ny, nx)).astype("f4")
    sst[0, 0:4, 0:5] = np.nan
    sst[1, 4:8, :] = np.nan  # two chunks
    sst[2, 8:12, 5:10] = np.nan
    sst[2, 9, 7] = 281.0  # this chunk is not all-missing
    packed = rng.normal(20, 1, (nt, ny, nx))
    packed[:, 0:4, 5:10] = np.nan  # three chunks
    nofill = sst.copy()
    ds = xr.Dataset(
        {"sst": (("time", "lat", "lon"), sst),
         "packed": (("time", "lat", "lon"), packed)},
        coords={"time": np.array(["2020-01-01", "2020-01-02", "2020-01-03"], dtype="datetime64[ns]"),
                "lat": np.linspace(50, 55.5, ny), "lon": np.linspace(10, 14.5, nx),
                "lat2d": (("lat", "lon"), np.repeat(np.linspace(50, 55.5, ny)[:, None], nx, 1))})
    enc = {"sst": {"chunks": (1, 4, 5)},
           "packed": {"chunks": (1, 4, 5), "dtype": "int16", "scale_factor": 0.01, "add_offset": 20.0,
                      "_FillValue": -32768},
           "lat": {"chunks": (5,)}, "lon": {"chunks": (4,)}, "lat2d": {"chunks": (4, 10)}}
    out = os.path.join(root, f"xr{'slash' if sep == '/' else 'dot'}.zarr")
    store = zarr.storage.DirectoryStore(out, dimension_separator=sep)
    ds.to_zarr(store, encoding=enc, consolidated=False)
    # written by zarr-python itself: fill_value null (its chunks are never pruned)
    g = zarr.open_group(store, mode="r+")
    a = g.create_dataset("nofill", data=nofill, chunks=(1, 4, 5), fill_value=None)
    a.attrs["_ARRAY_DIMENSIONS"] = ["time", "lat", "lon"]
    zarr.consolidate_metadata(store)
    return out


def data_vars(path):
    """The data variables as baims defines them (docs/cli/prune.md)."""
    g = zarr.open_group(path, mode="r")
    named = set()
    for _, a in g.arrays():
        for key in ("coordinates", "bounds", "grid_mapping"):
            named.update(str(a.attrs.get(key, "")).split())
    out = []
    for name, a in g.arrays():
        dims = a.attrs.get("_ARRAY_DIMENSIONS", [])
        if len(dims) >= 2 and name not in named and not name.endswith("_bnds"):
            out.append(name)
    return sorted(out)


def expected_pruned(path):
    """Chunk keys whose raw values are all NaN or fill_value, read block by block with zarr."""
    g = zarr.open_group(path, mode="r")
    keys = []
    for name in data_vars(path):
        a = g[name]
        if a.fill_value is None:
            continue
        grid = [-(-s // c) for s, c in zip(a.shape, a.chunks)]
        sep = a._dimension_separator or "."
        for idx in np.ndindex(*grid):
            key = sep.join(map(str, idx))
            f = os.path.join(path, name, *key.split("/"))
            if not os.path.exists(f):
                continue
            block = a[tuple(slice(i * c, (i + 1) * c) for i, c in zip(idx, a.chunks))]
            miss = np.isnan(block) if block.dtype.kind == "f" else np.zeros(block.shape, bool)
            if not (isinstance(a.fill_value, float) and np.isnan(a.fill_value)):
                miss |= block == a.fill_value
            if miss.all():
                keys.append(f"{name}/{key}")
    return sorted(keys)


def chunk_files(path):
    out = []
    for d, _, files in os.walk(path):
        for f in files:
            if not f.startswith("."):
                out.append(os.path.relpath(os.path.join(d, f), path))
    return sorted(out)


class _Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="baims-po-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def assert_same(self, a_path, b_path, consolidated=None):
        a = xr.open_zarr(a_path, consolidated=False).load()
        b = xr.open_zarr(b_path, consolidated=consolidated).load()
        self.assertEqual(sorted(a.variables), sorted(b.variables))
        for v in a.variables:
            x, y = a[v].values, b[v].values
            self.assertTrue(np.array_equal(x, y, equal_nan=x.dtype.kind in "fc"), v)
            self.assertEqual(a[v].attrs, b[v].attrs, v)

    def assert_gdal_opens(self, path, var):
        """GDAL's Zarr driver (multidimensional API) reads the raw values zarr-python reads."""
        ds = gdal.OpenEx(path, gdal.OF_MULTIDIM_RASTER)
        got = ds.GetRootGroup().OpenMDArray(var).ReadAsArray()
        want = zarr.open_group(path, mode="r")[var][...]
        self.assertTrue(np.array_equal(got, want, equal_nan=want.dtype.kind == "f"), var)


class PruneTests(_Base):
    def check_prune(self, path, min_expected):
        ref = os.path.join(self.tmp, "ref.zarr")
        shutil.copytree(path, ref)
        expected = expected_pruned(path)
        self.assertGreaterEqual(len(expected), min_expected)
        zmeta_before = open(os.path.join(path, ".zmetadata"), "rb").read() \
            if os.path.exists(os.path.join(path, ".zmetadata")) else None
        sizes = {k: os.path.getsize(os.path.join(path, k)) for k in expected}
        # dry run: lists exactly those keys, deletes nothing
        p = run(["--deterministic", "prune", "--dry-run", path], check=0)
        listed = [line.split()[0] for line in p.stdout.splitlines()]
        self.assertEqual(listed, expected)
        self.assertEqual(chunk_files(path), chunk_files(ref))
        # real run
        p = run(["--deterministic", "--threads", "2", "prune", path], check=0)
        n_read = len([k for k in chunk_files(ref) if k.split(os.sep)[0] in data_vars(ref)
                      and zarr.open_group(ref)[k.split(os.sep)[0]].fill_value is not None])
        self.assertIn(f"pruned {len(expected)} of {n_read} chunks ({sum(sizes.values())} of ", p.stderr)
        self.assertEqual(sorted(set(chunk_files(ref)) - set(chunk_files(path))),
                         sorted(k.replace("/", os.sep) for k in expected))
        if zmeta_before is not None:
            self.assertEqual(open(os.path.join(path, ".zmetadata"), "rb").read(), zmeta_before)
        self.assert_same(ref, path)
        # a second run finds nothing
        p = run(["--deterministic", "prune", path], check=0)
        self.assertIn("pruned 0 of", p.stderr)
        return expected

    def test_baims_cube(self):
        path = make_baims_cube(self.tmp)
        got = self.check_prune(path, 3)
        self.assertIn("analysed_sst/1.0.0", got)
        self.assertIn("analysed_sst/1.0.1", got)
        self.assertIn("sst_anomaly/2.1.1", got)
        self.assert_gdal_opens(path, "analysed_sst")

    def test_golden_cube(self):
        path = make_golden_cube(self.tmp)
        got = self.check_prune(path, 1)
        self.assertEqual(got, ["analysed_sst/0.0.0"])
        self.assert_gdal_opens(path, "analysed_sst")

    def test_xarray_cube_dot(self):
        path = make_xarray_cube(self.tmp, ".")
        got = self.check_prune(path, 6)
        # 4 all-NaN sst chunks (not 2.2.1, which holds one value), 3x packed, nofill kept
        self.assertEqual(got, ["packed/0.0.1", "packed/1.0.1", "packed/2.0.1",
                               "sst/0.0.0", "sst/1.1.0", "sst/1.1.1"])
        self.assert_gdal_opens(path, "sst")

    def test_xarray_cube_slash(self):
        path = make_xarray_cube(self.tmp, "/")
        got = self.check_prune(path, 6)
        self.assertEqual(got, ["packed/0/0/1", "packed/1/0/1", "packed/2/0/1",
                               "sst/0/0/0", "sst/1/1/0", "sst/1/1/1"])
        self.assertTrue(os.path.exists(os.path.join(path, "nofill", "1", "1", "0")))
        self.assert_gdal_opens(path, "packed")


class OptimiseTests(_Base):
    def check_optimise(self, path, chunks, spec):
        ref = os.path.join(self.tmp, "ref.zarr")
        shutil.copytree(path, ref)
        out = os.path.join(self.tmp, "out.zarr")
        run(["optimise", path, "-o", out, "--chunks", spec], check=0)
        self.assertEqual(chunk_files(path), chunk_files(ref))  # source untouched
        self.assert_same(ref, out, consolidated=True)
        g = zarr.open_consolidated(out)
        for name, a in g.arrays():
            if name in data_vars(out):
                self.assertEqual(a.chunks, chunks, name)
            else:
                self.assertEqual(a.chunks, tuple(max(s, 1) for s in a.shape), name)
        # .zmetadata exactly as zarr-python writes it
        copy = os.path.join(self.tmp, "copy.zarr")
        shutil.copytree(out, copy)
        zarr.consolidate_metadata(copy)
        self.assertEqual(open(os.path.join(out, ".zmetadata"), "rb").read(),
                         open(os.path.join(copy, ".zmetadata"), "rb").read())
        run(["optimise", out, "-o", copy], check=5)  # OUT exists
        run(["optimise", out, "-o", out], check=2)  # OUT is the cube itself
        # in place, then idempotent
        p = run(["--deterministic", "optimise", path, "--in-place", "--chunks", spec], check=0)
        self.assertIn("rewrote", p.stderr)
        self.assert_same(ref, path, consolidated=True)
        before = {f: os.stat(os.path.join(path, f)).st_mtime_ns for f in chunk_files(path)}
        p = run(["--deterministic", "optimise", path, "--in-place", "--chunks", spec], check=0)
        self.assertIn("cube is already optimised (nothing changed)", p.stderr)
        self.assertEqual(before, {f: os.stat(os.path.join(path, f)).st_mtime_ns for f in chunk_files(path)})
        self.assertFalse(os.path.exists(os.path.join(path, ".baims-optimise")))
        return out

    def test_baims_cube(self):
        path = make_baims_cube(self.tmp)
        out = self.check_optimise(path, (2, 100, 300), "time=2,lat=100,lon=300")
        self.assert_gdal_opens(out, "analysed_sst")

    def test_golden_cube(self):
        path = make_golden_cube(self.tmp)
        out = self.check_optimise(path, (3, 352, 640), "time=5,lat=1000,lon=1000")
        self.assert_gdal_opens(out, "sst_anomaly")

    def test_xarray_cube_dot(self):
        path = make_xarray_cube(self.tmp, ".")
        out = self.check_optimise(path, (3, 5, 3), "time=3,lat=5,lon=3")
        self.assert_gdal_opens(out, "packed")

    def test_xarray_cube_slash(self):
        path = make_xarray_cube(self.tmp, "/")
        out = self.check_optimise(path, (1, 12, 10), "lat=12,lon=10")
        self.assertTrue(os.path.exists(os.path.join(out, "sst", "2", "0", "0")))
        self.assertEqual(zarr.open(os.path.join(out, "lat2d")).chunks, (12, 10))

    def test_consolidate_only(self):
        path = make_golden_cube(self.tmp)
        os.remove(os.path.join(path, ".zmetadata"))
        p = run(["--deterministic", "optimise", path, "--in-place"], check=0)
        self.assertIn("rewrote 0 arrays; wrote .zmetadata", p.stderr)
        self.assertTrue(os.path.exists(os.path.join(path, ".zmetadata")))


class OutsideChunkTests(_Base):
    """Chunk files beyond an array's end, as a killed append leaves them on object storage until
    the next gen (docs/cli/optimise.md): no reader sees them; prune neither reads nor deletes
    them, optimise -o leaves them out of the copy, optimise --in-place deletes them."""

    def check(self, sep):
        path = make_xarray_cube(self.tmp, sep)  # sst: shape (3, 12, 10), chunks (1, 4, 5)
        key = (lambda *i: sep.join(map(str, i)))
        src = os.path.join(path, "sst", *key(0, 0, 0).split("/"))  # all NaN: prune would take it
        outside = [f"sst/{key(3, 0, 0)}", f"sst/{key(0, 3, 1)}", f"packed/{key(2, 0, 2)}"]
        for k in outside:
            dst = os.path.join(path, *k.split("/"))
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copyfile(src if k.startswith("sst") else
                            os.path.join(path, "packed", *key(0, 0, 1).split("/")), dst)
        outside_files = sorted(k.replace("/", os.sep) for k in outside)
        ref = os.path.join(self.tmp, "ref.zarr")
        shutil.copytree(path, ref)
        inside = sorted(set(chunk_files(ref)) - set(outside_files))
        data = (lambda files: [f for f in files if f.split(os.sep)[0] in ("sst", "packed", "nofill")])
        self.assertEqual(len(inside), len(chunk_files(ref)) - 3)
        # prune: the keys inside the grid only (expected_pruned walks the grid with zarr)
        expected = expected_pruned(path)
        p = run(["--deterministic", "prune", "--dry-run", path], check=0)
        self.assertEqual([line.split()[0] for line in p.stdout.splitlines()], expected)
        p = run(["--deterministic", "prune", path], check=0)
        n_read = len([f for f in inside if f.split(os.sep)[0] in ("sst", "packed")])
        self.assertEqual(n_read, 36)  # 3 x 3 x 2 each; nofill (fill_value null) is not read
        self.assertIn(f"pruned {len(expected)} of 36 chunks", p.stderr)
        for f in outside_files:
            self.assertTrue(os.path.exists(os.path.join(path, f)), f)
        shutil.rmtree(path)
        shutil.copytree(ref, path)
        # optimise -o: the copy has every file of the cube but the three outside the grid
        out = os.path.join(self.tmp, "out.zarr")
        p = run(["--deterministic", "optimise", path, "-o", out], check=0)
        self.assertIn("rewrote 3 arrays (lat, lat2d, lon); wrote .zmetadata; left out 3 chunks "
                      "beyond the end of their array", p.stderr)
        self.assertEqual(data(chunk_files(out)), data(inside))  # coordinates become one chunk
        self.assertEqual(chunk_files(path), chunk_files(ref))  # source untouched
        self.assert_same(ref, out, consolidated=True)
        if sep == "/":
            self.assertFalse(os.path.exists(os.path.join(out, "sst", "3")))
        # optimise --in-place --dry-run lists them and changes nothing; --in-place deletes them
        p = run(["--deterministic", "optimise", path, "--in-place", "--dry-run"], check=0)
        self.assertIn("dry run: rewrote 3 arrays (lat, lat2d, lon); wrote .zmetadata; deleted 3 "
                      "chunks beyond the end of their array", p.stderr)
        self.assertEqual(chunk_files(path), chunk_files(ref))
        p = run(["--deterministic", "optimise", path, "--in-place"], check=0)
        self.assertIn("rewrote 3 arrays (lat, lat2d, lon); wrote .zmetadata; deleted 3 chunks "
                      "beyond the end of their array", p.stderr)
        self.assertEqual(data(chunk_files(path)), data(inside))
        self.assert_same(ref, path, consolidated=True)
        p = run(["--deterministic", "optimise", path, "--in-place"], check=0)
        self.assertIn("cube is already optimised (nothing changed)", p.stderr)
        # with a rechunk too: the rewritten arrays never had them, the others lose them
        shutil.rmtree(path)
        shutil.copytree(ref, path)
        out2 = os.path.join(self.tmp, "out2.zarr")
        p = run(["--deterministic", "optimise", path, "-o", out2, "--chunks", "lat=12"], check=0)
        self.assertIn("rewrote 6 arrays (lat, lat2d, lon, nofill, packed, sst); wrote .zmetadata",
                      p.stderr)
        for name in ("sst", "packed"):  # new grid (3, 1, 2): every chunk file inside it
            files = [f.split(os.sep)[1:] for f in chunk_files(out2) if f.split(os.sep)[0] == name]
            idx = sorted(tuple(int(i) for i in (f[0].split(".") if sep == "." else f))
                         for f in files)
            self.assertEqual(idx, sorted(np.ndindex(3, 1, 2)), name)
        self.assert_same(ref, out2, consolidated=True)

    def test_dot(self):
        self.check(".")

    def test_slash(self):
        self.check("/")


class OptimiseKillTests(_Base):
    """kill -9 (BAIMS_TEST_KILL_AT) at each step of --in-place: the cube opens with the old or the
    new content (values equal, each array's chunks old or new, any .zmetadata agrees with the
    arrays), and a rerun completes the job."""

    POINTS = ["optimise.zmetadata_removed:1", "optimise.chunk:2", "optimise.chunk:7",
              "optimise.staged:1", "optimise.exchanged:1", "optimise.staged:2",
              "optimise.before_consolidate:1"]

    def check_consistent(self, path, ref, old_chunks, new_chunks):
        self.assert_same(ref, path, consolidated=None if os.path.exists(
            os.path.join(path, ".zmetadata")) else False)
        g = zarr.open_group(path, mode="r")
        for name, a in g.arrays():
            self.assertIn(a.chunks, (old_chunks[name], new_chunks[name]), name)
        if os.path.exists(os.path.join(path, ".zmetadata")):
            meta = json.load(open(os.path.join(path, ".zmetadata")))["metadata"]
            for name, a in g.arrays():
                self.assertEqual(tuple(meta[f"{name}/.zarray"]["chunks"]), a.chunks, name)

    def test_kill_points(self):
        src = make_xarray_cube(self.tmp, ".")
        ref = os.path.join(self.tmp, "ref.zarr")
        shutil.copytree(src, ref)
        old = {n: a.chunks for n, a in zarr.open_group(ref, mode="r").arrays()}
        done = os.path.join(self.tmp, "done.zarr")
        shutil.copytree(src, done)
        run(["optimise", done, "--in-place", "--chunks", "time=3,lat=6,lon=10"], check=0)
        new = {n: a.chunks for n, a in zarr.open_group(done, mode="r").arrays()}
        for point in self.POINTS:
            with self.subTest(point=point):
                path = os.path.join(self.tmp, "k.zarr")
                shutil.rmtree(path, True)
                shutil.copytree(src, path)
                p = run(["--threads", "1", "optimise", path, "--in-place", "--chunks", "time=3,lat=6,lon=10"],
                        env={"BAIMS_TEST_KILL_AT": point})
                self.assertEqual(p.returncode, -9, p.stderr)
                self.check_consistent(path, ref, old, new)
                run(["optimise", path, "--in-place", "--chunks", "time=3,lat=6,lon=10"], check=0)
                self.check_consistent(path, ref, new, new)
                self.assertFalse(os.path.exists(os.path.join(path, ".baims-optimise")))
                self.assertEqual(open(os.path.join(path, ".zmetadata"), "rb").read(),
                                 open(os.path.join(done, ".zmetadata"), "rb").read())
                p = run(["--deterministic", "optimise", path, "--in-place", "--chunks", "time=3,lat=6,lon=10"],
                        check=0)
                self.assertIn("cube is already optimised (nothing changed)", p.stderr)


    def test_kill_copy(self):
        """-o OUT: killed before the final rename, OUT does not exist; a rerun writes it."""
        src = make_xarray_cube(self.tmp, "/")
        out = os.path.join(self.tmp, "out.zarr")
        for point in ("optimise.chunk:3", "optimise.before_publish:1"):
            p = run(["--threads", "1", "optimise", src, "-o", out, "--chunks", "lat=12"],
                    env={"BAIMS_TEST_KILL_AT": point})
            self.assertEqual(p.returncode, -9, p.stderr)
            self.assertFalse(os.path.exists(out))
        run(["optimise", src, "-o", out, "--chunks", "lat=12"], check=0)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, ".out.zarr.baims-tmp")))
        self.assert_same(src, out, consolidated=True)


class OptimiseFailTests(_Base):
    """An --in-place optimise that fails (a full disk, a damaged chunk) leaves the cube as readers
    need it: before the first array is switched, the cube is untouched, its .zmetadata included
    (it was removed before anything was staged, and xcube Server or xr.open_zarr(consolidated=True)
    then could not open the cube); after a switch, .zmetadata describes the cube as it is. The
    staged copy is removed (its space given back) and a rerun completes the job."""

    CHUNKS = "time=3,lat=6,lon=10"

    def files(self, path):
        out = {}
        for d, _, names in os.walk(path):
            for n in names:
                if n != ".baims-lock":
                    f = os.path.join(d, n)
                    with open(f, "rb") as g:
                        out[os.path.relpath(f, path)] = g.read()
        return out

    def finish(self, path, ref):
        run(["optimise", path, "--in-place", "--chunks", self.CHUNKS], check=0)
        self.assert_same(ref, path, consolidated=True)
        self.assertEqual(zarr.open_group(path, mode="r")["sst"].chunks, (3, 6, 10))

    def test_failure_before_the_first_switch_keeps_the_cube(self):
        ref = make_xarray_cube(self.tmp, ".")
        before = self.files(ref)
        src = os.path.join(self.tmp, "k.zarr")
        for point in ("optimise.chunk:1", "optimise.staged:1"):
            with self.subTest(point=point):
                shutil.rmtree(src, True)
                shutil.copytree(ref, src)
                p = run(["--threads", "1", "optimise", src, "--in-place", "--chunks", self.CHUNKS],
                        env={"BAIMS_TEST_FAIL_AT": point}, check=70)
                self.assertIn(f"test fault at {point.split(':')[0]}", p.stderr)
                self.assertEqual(self.files(src), before)  # .zmetadata too, byte for byte
                self.assertFalse(os.path.exists(os.path.join(src, ".baims-optimise")))
                self.assert_same(ref, src, consolidated=True)
        self.finish(src, ref)

    def test_failure_after_a_switch_describes_the_cube(self):
        src = make_xarray_cube(self.tmp, ".")
        ref = os.path.join(self.tmp, "ref.zarr")
        shutil.copytree(src, ref)
        old = {n: a.chunks for n, a in zarr.open_group(ref, mode="r").arrays()}
        p = run(["--threads", "1", "optimise", src, "--in-place", "--chunks", self.CHUNKS],
                env={"BAIMS_TEST_FAIL_AT": "optimise.staged:2"}, check=70)
        self.assertIn("test fault at optimise.staged", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(src, ".baims-optimise")))
        g = zarr.open_group(src, mode="r")
        switched = sorted(n for n, a in g.arrays() if a.chunks != old[n])
        self.assertEqual(len(switched), 1, switched)  # the first array only
        meta = json.load(open(os.path.join(src, ".zmetadata")))["metadata"]
        for name, a in g.arrays():
            self.assertEqual(tuple(meta[f"{name}/.zarray"]["chunks"]), a.chunks, name)
        self.assert_same(ref, src, consolidated=True)
        self.finish(src, ref)

    def test_copy_into_the_cube_refused_and_failed_copy_removed(self):
        """optimise -o inside the cube (or the cube itself) is refused (exit 2; it copied its own
        growing folder until 'File name too long' and left the copy in the cube); a -o copy that
        fails removes its unfinished .OUT.baims-tmp folder."""
        src = make_xarray_cube(self.tmp, ".")
        before = self.files(src)
        name = os.path.basename(src)[:-len(".zarr")] + ".optimised.zarr"
        hint = (f"Write the optimised copy beside the cube, e.g. -o '{os.path.join(self.tmp, name)}'"
                ", or use --in-place to rewrite the cube itself")
        for out, what in ((os.path.join(src, "sub"), f"lies inside the cube '{src}'"),
                          (src, f"is the cube '{src}' itself")):
            p = run(["optimise", src, "-o", out], check=2)
            self.assertEqual(p.stderr.strip().splitlines()[-1],
                             f"baims optimise: error: -o '{out}' {what}. {hint}")
            self.assertEqual(self.files(src), before)
        out = os.path.join(self.tmp, "copy.zarr")
        p = run(["--threads", "1", "optimise", src, "-o", out, "--chunks", self.CHUNKS],
                env={"BAIMS_TEST_FAIL_AT": "optimise.chunk:2"}, check=70)
        self.assertFalse(os.path.exists(out))
        self.assertFalse(os.path.exists(os.path.join(self.tmp, ".copy.zarr.baims-tmp")))
        run(["optimise", src, "-o", out, "--chunks", self.CHUNKS], check=0)
        self.assert_same(src, out, consolidated=True)

    def test_disk_full(self):
        """A tmpfs too small for the staged copy (in a private mount namespace of the test's shell,
        made with unshare: nothing outside sees it): exit 5 with the system's reason, the cube
        byte for byte as it was, no staged copy. Skipped where unshare cannot make a mount
        namespace."""
        unshare = shutil.which("unshare")
        if unshare is None or subprocess.run([unshare, "-rm", "true"],
                                             capture_output=True).returncode != 0:
            self.skipTest("unshare -rm (a user and mount namespace) is not allowed here")
        src = make_xarray_cube(self.tmp, ".")
        mnt, after = os.path.join(self.tmp, "mnt"), os.path.join(self.tmp, "after.zarr")
        os.makedirs(mnt)
        # The cube is copied onto the tmpfs, the rest of it is filled but for 2 KiB, optimise
        # runs, and the cube is copied back out for the checks (the tmpfs goes with the
        # namespace).
        script = ('mount -t tmpfs -o size=512k baims-test "$1" && cp -a "$2" "$1/c.zarr" && '
                  'avail=$(df --output=avail -B1 "$1" | tail -1) && '
                  'head -c $((avail - 2048)) /dev/zero > "$1/filler"; '
                  '"$4" --progress never optimise "$1/c.zarr" --in-place --chunks "$5"; rc=$?; '
                  'cp -a "$1/c.zarr" "$3" && exit $rc')
        r = subprocess.run([unshare, "-rm", "sh", "-c", script, "sh", mnt, src, after, BAIMS,
                            self.CHUNKS], capture_output=True, text=True)
        self.assertEqual(r.returncode, 5, r.stderr)
        last = r.stderr.strip().splitlines()[-1]
        self.assertTrue(last.startswith("baims optimise: error: "), last)
        self.assertTrue(last.endswith(": No space left on device. Check free space and permissions"),
                        last)
        self.assertEqual(self.files(after), self.files(src))
        self.assertFalse(os.path.exists(os.path.join(after, ".baims-optimise")))


class BadInputTests(_Base):
    def err(self, args, code):
        p = run(args, check=code)
        lines = p.stderr.strip().splitlines()
        return lines[-1]

    def test_not_a_cube(self):
        d = os.path.join(self.tmp, "plain")
        os.mkdir(d)
        for cmd in (["prune", d], ["optimise", d, "--in-place"]):
            self.assertEqual(self.err(cmd, 4),
                             f"baims {cmd[0]}: error: '{d}' is not a Zarr cube (no .zgroup). "
                             "Give the path of a Zarr v2 group")
        missing = os.path.join(self.tmp, "nope.zarr")
        self.assertEqual(self.err(["prune", missing], 4),
                         f"baims prune: error: cube '{missing}' does not exist. Check the path")

    def test_missing_zarray(self):
        path = make_golden_cube(self.tmp)
        os.remove(os.path.join(path, "sst_anomaly", ".zarray"))
        for cmd in (["prune", path], ["optimise", path, "-o", path + "2"]):
            self.assertEqual(self.err(cmd, 4),
                             f"baims {cmd[0]}: error: array 'sst_anomaly' of cube '{path}' has chunk "
                             "files but no .zarray. Restore sst_anomaly/.zarray or remove the folder")

    def test_corrupt_chunk(self):
        path = make_golden_cube(self.tmp)
        with open(os.path.join(path, "sst_anomaly", "1.1.0"), "wb") as f:
            f.write(b"not blosc at all")
        line = self.err(["--threads", "1", "prune", path], 4)
        self.assertTrue(line.startswith(
            f"baims prune: error: reading chunk 1.1.0 of 'sst_anomaly' in {path}: "), line)
        # nothing was pruned after... and the corrupt chunk is still there
        self.assertTrue(os.path.exists(os.path.join(path, "sst_anomaly", "1.1.0")))
        line = self.err(["optimise", path, "-o", path + "2", "--chunks", "lat=352"], 4)
        self.assertTrue(line.startswith("baims optimise: error: reading chunk 1.1.0 of 'sst_anomaly'"), line)
        self.assertFalse(os.path.exists(path + "2"))

    def test_read_only_cube(self):
        path = make_golden_cube(self.tmp)
        # root ignores permissions: then baims runs as nobody (the cube is root's)
        prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] \
            if os.geteuid() == 0 else []
        os.chmod(self.tmp, 0o755)
        os.chmod(path, 0o555)
        self.addCleanup(os.chmod, path, 0o755)
        before = chunk_files(path)

        def baims(args):
            return subprocess.run(prefix + [BAIMS, "--progress", "never"] + args,
                                  capture_output=True, text=True)
        p = baims(["prune", path])
        self.assertEqual(p.returncode, 5, p.stderr)
        self.assertEqual(p.stderr.strip().splitlines()[-1],
                         f"baims prune: error: cannot create lock file '{path}/.baims-lock': "
                         "Permission denied. Check that the output directory is writable")
        # the dry run only reads, and counts what a real run would remove
        p = baims(["prune", "--dry-run", path])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(chunk_files(path), before)

    def test_locked_cube(self):
        import fcntl
        path = make_golden_cube(self.tmp)
        with open(os.path.join(path, ".baims-lock"), "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            msg = (f"error: cube '{path}' is locked by another baims process. "
                   "Wait for it to finish; the lock is released when that process ends")
            self.assertEqual(self.err(["prune", path], 5), "baims prune: " + msg)
            self.assertEqual(self.err(["optimise", path, "--in-place"], 5), "baims optimise: " + msg)

    def test_usage(self):
        path = make_golden_cube(self.tmp)
        self.assertEqual(self.err(["optimise", path], 2),
                         "baims optimise: error: give exactly one of -o OUT and --in-place. "
                         "Run 'baims optimise --help' for usage")
        self.assertEqual(self.err(["optimise", path, "--in-place", "--chunks", "lat=0"], 2),
                         "baims optimise: error: --chunks: 'lat=0' is not DIM=SIZE with SIZE >= 1. "
                         "Write e.g. --chunks time=1,lat=512,lon=512")
        self.assertEqual(self.err(["optimise", path, "--in-place", "--chunks", "depth=3"], 2),
                         f"baims optimise: error: --chunks: no data variable of cube '{path}' has "
                         "dimension 'depth'. Use the names in _ARRAY_DIMENSIONS")
        out = os.path.join(self.tmp, "exists")
        os.mkdir(out)
        self.assertEqual(self.err(["optimise", path, "-o", out], 5),
                         f"baims optimise: error: output '{out}' exists. Remove it or choose another -o path")


if __name__ == "__main__":
    unittest.main()
