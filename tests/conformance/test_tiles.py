"""baims tiles: the xcube .levels pyramid, value by value against numpy on every level and method,
cell-centre coordinates, bounds and resolution attributes, no empty chunk files, layout against
xcube's golden ostia-golden.levels, --update against a full rebuild, kill -9, bad input."""

import fcntl
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

import numpy as np
from baimstest import lazy_module, xr  # imported on first use (xarray: pandas, dask)
gdal = lazy_module("osgeo.gdal")

import datetime as dt

from baimstest import (BAIMS, DATA, SOURCE_DIR, TempDirTest, run, snapshot, traced_env, write_cf,
                       write_config)

GOLDEN = os.path.join(SOURCE_DIR, "tests", "data", "golden", "golden-xcube-1.0.5")

NT, H, W = 3, 37, 53          # odd sizes: ragged blocks at the edges of every level
CH, CW = 8, 10                # tile size = chunks: 4 levels (37x53, 19x27, 10x14, 5x7)


def make_cube(path, nt=NT, seed=1):
    """An xarray-written cube: float32 sst with NaN regions (an all-NaN corner: empty chunks) and
    an int16 class variable with _FillValue -1 (mode); lat descending."""
    rng = np.random.default_rng(seed)
    sst = rng.normal(280, 5, size=(nt, H, W)).astype("f4")
    sst[:, :16, :20] = np.nan              # covers tile (0, 0) of level 1 exactly
    sst[:, 20:23, 30:31] = np.nan          # scattered NaN
    sst[:, -1, -1] = np.nan
    cls = rng.integers(0, 4, size=(nt, H, W)).astype("i2")
    cls[:, :16, :20] = -1
    lat = 60 - (np.arange(H) + 0.5) * 0.25
    lon = 5 + (np.arange(W) + 0.5) * 0.25
    time = np.datetime64("2022-03-01T12:00") + np.arange(nt) * np.timedelta64(1, "D")
    ds = xr.Dataset({"sst": (("time", "lat", "lon"), sst), "cls": (("time", "lat", "lon"), cls)},
                    coords={"time": time, "lat": lat, "lon": lon})
    ds.lat.attrs.update(units="degrees_north", standard_name="latitude")
    ds.lon.attrs.update(units="degrees_east", standard_name="longitude")
    ds.attrs["geospatial_lat_resolution"] = 0.25
    ds.attrs["geospatial_lon_resolution"] = 0.25
    enc = {"sst": {"chunks": (1, CH, CW)}, "cls": {"chunks": (1, CH, CW), "_FillValue": -1}}
    ds.to_zarr(path, encoding=enc, consolidated=True)
    return ds


def block_reduce(a, f, method, fill=None):
    """numpy reference: a (nt, H, W) float with NaN as missing → (nt, ceil(H/f), ceil(W/f))."""
    nt, h, w = a.shape
    hh, ww = -(-h // f), -(-w // f)
    p = np.full((nt, hh * f, ww * f), np.nan)
    p[:, :h, :w] = a
    b = p.reshape(nt, hh, f, ww, f).transpose(0, 1, 3, 2, 4).reshape(nt, hh, ww, f * f)
    if method == "first":
        return b[..., 0]
    out = np.full((nt, hh, ww), np.nan)
    for idx in np.ndindex(nt, hh, ww):
        v = b[idx][~np.isnan(b[idx])]
        if v.size == 0:
            continue
        if method == "mode":
            vals, counts = np.unique(v, return_counts=True)
            out[idx] = vals[np.argmax(counts)]
        else:
            out[idx] = {"mean": np.mean, "median": np.median, "min": np.min, "max": np.max}[method](v)
    return out


def zarr_data_files(level_dir, var):
    d = os.path.join(level_dir, var)
    return sorted(f for f in os.listdir(d) if not f.startswith("."))


class Values(TempDirTest):
    def setUp(self):
        super().setUp()
        self.cube = self.p("c.zarr")
        make_cube(self.cube)
        self.src = xr.open_zarr(self.cube)

    def check_levels(self, levels, method_sst, method_cls):
        z = json.load(open(os.path.join(levels, ".zlevels")))
        self.assertEqual(z["num_levels"], 4)
        self.assertEqual(z["tile_size"], [CW, CH])
        self.assertEqual(z["agg_methods"], {"sst": method_sst, "cls": method_cls})
        self.assertEqual(open(os.path.join(levels, "0.link")).read(), "../c.zarr")
        sst0 = self.src.sst.values.astype("f8")
        cls0 = self.src.cls.values.astype("f8")   # xarray decodes _FillValue -1 to NaN
        lat0, lon0 = self.src.lat.values, self.src.lon.values
        for k in range(1, 4):
            f = 2 ** k
            lv = os.path.join(levels, f"{k}.zarr")
            ds = xr.open_zarr(lv)
            exp = block_reduce(sst0, f, method_sst)
            np.testing.assert_allclose(ds.sst.values, exp.astype("f4"), rtol=1e-6, equal_nan=True,
                                       err_msg=f"sst {method_sst} level {k}")
            expc = block_reduce(cls0, f, method_cls)
            if method_cls in ("mean", "median"):
                expc = np.round(expc)
            np.testing.assert_array_equal(ds.cls.values, expc, err_msg=f"cls {method_cls} level {k}")
            # true cell centres, bounds, resolution
            np.testing.assert_allclose(ds.lat.values, block_reduce(lat0[None, :, None], f, "mean")[0, :, 0])
            np.testing.assert_allclose(ds.lon.values, block_reduce(lon0[None, None, :], f, "mean")[0, 0])
            hh = len(ds.lat)
            top = 60 - np.arange(hh) * 0.25 * f
            bot = np.maximum(top - 0.25 * f, 60 - H * 0.25)
            np.testing.assert_allclose(ds.lat_bnds.values, np.stack([top, bot], 1))
            self.assertEqual(ds.lat.attrs["bounds"], "lat_bnds")
            self.assertEqual(ds.attrs["geospatial_lat_resolution"], 0.25 * f)
            self.assertEqual(ds.attrs["geospatial_lon_resolution"], 0.25 * f)
            # no empty chunk file: every written chunk has a non-fill value
            for var, fill in (("sst", None), ("cls", -1)):
                files = zarr_data_files(lv, var)
                self.assertTrue(files)
                arr = ds[var].values if fill is None else xr.open_zarr(lv, mask_and_scale=False)[var].values
                for name in files:
                    t, cy, cx = map(int, name.split("."))
                    blk = arr[t, cy * CH:(cy + 1) * CH, cx * CW:(cx + 1) * CW]
                    empty = np.all(np.isnan(blk)) if fill is None else np.all(blk == fill)
                    self.assertFalse(empty, f"{lv}/{var}/{name} is all fill")
            # GDAL opens each level
            g = gdal.Open(f'ZARR:"{lv}":/sst:0')
            self.assertIsNotNone(g)
            self.assertEqual((g.RasterXSize, g.RasterYSize), (len(ds.lon), hh))
        # level 1: the all-NaN corner makes tile (0, 0) of sst and cls empty → no file
        for var in ("sst", "cls"):
            files = zarr_data_files(os.path.join(levels, "1.zarr"), var)
            self.assertNotIn("0.0.0", files)
            self.assertIn("0.0.1", files)

    def test_each_method_on_every_level(self):
        for m in ("first", "mean", "median", "min", "max", "mode"):
            with self.subTest(method=m):
                out = self.p(f"{m}.levels")
                run(["tiles", self.cube, "-o", out, "--agg-methods", f"sst={m},cls={m}"], check=0)
                self.check_levels(out, m, m)

    def test_first_with_tiles_that_do_not_line_up_with_the_chunks(self):
        """`first` of a float cube picks every level's values from each decoded level-0 chunk: with
        tiles of 3 or 7x5 cells, the level rows of one chunk row (8 cube rows) fall in two or
        three output chunk rows, and a chunk's columns in two output chunks. Values equal numpy's
        top-left cells, exactly; an output chunk has a file if and only if it holds a valid cell.
        With a numeric _FillValue (-999 in the chunks where sst is NaN) the missing cells are the
        fill value on every level."""
        cube999 = self.p("c999.zarr")
        ds = self.src.load()
        for v in ds.variables.values():
            v.encoding = {}
        ds.to_zarr(cube999, encoding={"sst": {"chunks": (1, CH, CW), "_FillValue": -999.0},
                                      "cls": {"chunks": (1, CH, CW), "_FillValue": -1}},
                   consolidated=True)
        raw = xr.open_zarr(cube999, mask_and_scale=False).sst.values
        self.assertEqual(int((raw == -999).sum()), int(np.isnan(ds.sst.values).sum()))
        sst0 = self.src.sst.values.astype("f8")
        for cube, fill in ((self.cube, None), (cube999, -999.0)):
            for tw, th in ((3, 3), (7, 5), (CW, CH)):
                with self.subTest(cube=os.path.basename(cube), tile=(tw, th)):
                    out = self.p(f"f{tw}x{th}-{os.path.basename(cube)}.levels")
                    run(["tiles", cube, "-o", out, "--agg-methods", "first", "--tile-size",
                         f"{tw},{th}"], check=0)
                    nlev = json.load(open(os.path.join(out, ".zlevels")))["num_levels"]
                    self.assertEqual(nlev, 5 if tw == 3 else 4)
                    for k in range(1, nlev):
                        lv = os.path.join(out, f"{k}.zarr")
                        exp = block_reduce(sst0, 2 ** k, "first")
                        got = xr.open_zarr(lv, mask_and_scale=False).sst.values
                        self.assertEqual(got.dtype, np.float32)
                        if fill is None:
                            np.testing.assert_array_equal(got, exp.astype("f4"), f"level {k}")
                        else:
                            np.testing.assert_array_equal(got, np.where(np.isnan(exp), fill, exp)
                                                          .astype("f4"), f"level {k}")
                        valid = ~np.isnan(exp)
                        files = set(zarr_data_files(lv, "sst"))
                        ch, cw = min(th, exp.shape[1]), min(tw, exp.shape[2])
                        want = {f"{t}.{cy}.{cx}" for t in range(NT)
                                for cy in range(-(-exp.shape[1] // ch))
                                for cx in range(-(-exp.shape[2] // cw))
                                if valid[t, cy * ch:(cy + 1) * ch, cx * cw:(cx + 1) * cw].any()}
                        self.assertEqual(files, want, f"level {k}")

    def test_tree_methods_with_tiles_that_do_not_line_up_with_the_bands(self):
        """mean, min and max of a float cube with tiles of 3 or 7x5 cells (and the cube's own):
        a band of level-0 rows gives level 1 more rows than a tile holds, or rows of two output
        chunk rows (before the fix, level 1 rows of the next chunk row overwrote those of the
        current one before it was written: wrong values, exit 0). Values equal numpy's
        reduction of level 0; an output chunk has a file if and only if it holds a valid cell."""
        sst0 = self.src.sst.values.astype("f8")
        for method in ("mean", "min", "max"):
            for tw, th in ((3, 3), (7, 5), (CW, CH)):
                with self.subTest(method=method, tile=(tw, th)):
                    out = self.p(f"{method}{tw}x{th}.levels")
                    run(["tiles", self.cube, "-o", out, "--agg-methods", method, "--tile-size",
                         f"{tw},{th}"], check=0)
                    with open(os.path.join(out, ".zlevels")) as f:
                        nlev = json.load(f)["num_levels"]
                    self.assertEqual(nlev, 5 if tw == 3 else 4)
                    for k in range(1, nlev):
                        lv = os.path.join(out, f"{k}.zarr")
                        exp = block_reduce(sst0, 2 ** k, method)
                        got = xr.open_zarr(lv).sst.values
                        np.testing.assert_array_equal(np.isnan(got), np.isnan(exp), f"level {k}")
                        np.testing.assert_allclose(got, exp, rtol=1e-6, equal_nan=True,
                                                   err_msg=f"level {k}")
                        valid = ~np.isnan(exp)
                        files = set(zarr_data_files(lv, "sst"))
                        ch, cw = min(th, exp.shape[1]), min(tw, exp.shape[2])
                        want = {f"{t}.{cy}.{cx}" for t in range(NT)
                                for cy in range(-(-exp.shape[1] // ch))
                                for cx in range(-(-exp.shape[2] // cw))
                                if valid[t, cy * ch:(cy + 1) * ch, cx * cw:(cx + 1) * cw].any()}
                        self.assertEqual(files, want, f"level {k}")

    def test_auto_and_default_output_name(self):
        run(["tiles", self.cube], check=0)
        self.check_levels(self.p("c.levels"), "mean", "mode")

    def test_num_levels_max_tile_size_and_copy(self):
        out = self.p("x.levels")
        run(["tiles", self.cube, "-o", out, "--num-levels-max", "2", "--tile-size", "20,16",
             "--level0", "copy"], check=0)
        z = json.load(open(os.path.join(out, ".zlevels")))
        self.assertEqual((z["num_levels"], z["tile_size"]), (2, [20, 16]))
        self.assertEqual(sorted(os.listdir(out)), [".baims-lock", ".zlevels", "0.zarr", "1.zarr"])
        ds = xr.open_zarr(os.path.join(out, "1.zarr"))
        self.assertEqual(ds.sst.encoding["chunks"], (1, 16, 20))
        xr.testing.assert_identical(xr.open_zarr(os.path.join(out, "0.zarr")).load(), self.src.load())

    def test_pruned_level0_stays_pruned(self):
        run(["tiles", self.cube], check=0)
        self.assertFalse(os.path.exists(os.path.join(self.p("c.levels"), "0.zarr")))
        os.remove(os.path.join(self.cube, "sst", "0.2.2"))   # as prune would
        with open(self.p("c.levels", "0.link")) as f:
            l0 = os.path.normpath(os.path.join(self.p("c.levels"), f.read()))
        self.assertEqual(l0, self.cube)
        self.assertFalse(os.path.exists(os.path.join(l0, "sst", "0.2.2")))
        self.assertTrue(np.isnan(xr.open_zarr(l0).sst.values[0, 16:24, 20:30]).all())


class Golden(TempDirTest):
    def test_layout_and_first_values_against_xcube(self):
        cube = self.p("ostia-golden.zarr")
        shutil.copytree(os.path.join(GOLDEN, "ostia-golden.zarr"), cube)
        run(["tiles", cube, "--agg-methods", "first", "--level0", "copy"], check=0)
        ours, gold = self.p("ostia-golden.levels"), os.path.join(GOLDEN, "ostia-golden.levels")
        zo, zg = (json.load(open(os.path.join(d, ".zlevels"))) for d in (ours, gold))
        self.assertEqual(set(zo) - set(zg), {"tile_size"})          # intended: tile_size recorded
        self.assertEqual(set(zg) - set(zo), set())
        for k in ("version", "num_levels", "use_saved_levels", "agg_methods"):
            self.assertEqual(zo[k], zg[k], k)
        fo = set(snapshot(ours)) - {".baims-sources.json"}
        fg = set(snapshot(gold))
        # intended: lat_bnds, lon_bnds and time_bnds kept on level 1 (xcube drops them)
        extra = {f for f in fo - fg}
        self.assertEqual(extra, {f"1.zarr/{b}_bnds/{f}" for b in ("lat", "lon", "time")
                                 for f in (".zarray", ".zattrs", "0.0")})
        self.assertEqual(fg - fo, set())
        for lvl in ("0.zarr", "1.zarr"):
            mo = json.load(open(os.path.join(ours, lvl, ".zmetadata")))["metadata"]
            mg = json.load(open(os.path.join(gold, lvl, ".zmetadata")))["metadata"]
            for key in mg:
                if key.endswith(".zarray"):
                    for f in ("shape", "chunks", "dtype", "fill_value"):
                        self.assertEqual(mo[key][f], mg[key][f], f"{lvl} {key} {f}")
                if key.endswith("/.zattrs"):
                    self.assertEqual(mo[key]["_ARRAY_DIMENSIONS"], mg[key]["_ARRAY_DIMENSIONS"], key)
        a = xr.open_zarr(os.path.join(ours, "1.zarr"))
        b = xr.open_zarr(os.path.join(gold, "1.zarr"))
        for v in ("analysed_sst", "sst_anomaly"):
            np.testing.assert_array_equal(a[v].values, b[v].values)   # first: same as xcube
        # the fix: cell centres (xcube keeps the first parent's centre)
        src = xr.open_zarr(cube)
        np.testing.assert_allclose(a.lat.values, src.lat.values.reshape(-1, 2).mean(1))
        self.assertFalse(np.allclose(b.lat.values, a.lat.values))
        self.assertIsNotNone(gdal.Open(f'ZARR:"{os.path.join(ours, "1.zarr")}":/analysed_sst:0'))


class GenCube(TempDirTest):
    def test_baims_gen_ostia_cube(self):
        cube = self.p("ostia.zarr")
        run(["gen", "-c", os.path.join(SOURCE_DIR, "configs", "gen-ostia.yml"), "-o", cube,
             os.path.join(DATA, "ostia", "*.nc")], check=0)
        run(["tiles", cube], check=0)
        lv = self.p("ostia.levels")
        z = json.load(open(os.path.join(lv, ".zlevels")))
        self.assertEqual(z["num_levels"], 2)
        src = xr.open_zarr(cube)
        ds = xr.open_zarr(os.path.join(lv, "1.zarr"))
        exp = block_reduce(src.analysed_sst.values.astype("f8"), 2, "mean")
        np.testing.assert_allclose(ds.analysed_sst.values, exp, rtol=1e-6, equal_nan=True)
        self.assertIsNotNone(gdal.Open(f'ZARR:"{os.path.join(lv, "1.zarr")}":/analysed_sst:0'))


class Update(TempDirTest):
    def levels_after(self, name, nt_first, nt_total):
        cube = self.p(name + ".zarr")
        ds = make_cube(self.p("full.zarr") if not os.path.exists(self.p("full.zarr")) else self.p("tmp.zarr"),
                       nt=nt_total)
        ds.isel(time=slice(0, nt_first)).to_zarr(cube, consolidated=True, encoding={
            "sst": {"chunks": (1, CH, CW)}, "cls": {"chunks": (1, CH, CW), "_FillValue": -1}})
        return cube, ds

    def test_update_after_appending_a_day_equals_full_rebuild(self):
        cube, ds = self.levels_after("c", 2, 3)
        lv = self.p("c.levels")
        run(["tiles", cube], check=0)
        before = {}
        for root, _d, files in os.walk(lv):
            for f in files:
                p = os.path.join(root, f)
                before[os.path.relpath(p, lv)] = os.stat(p).st_mtime_ns
        ds.isel(time=slice(2, 3)).drop_vars(["lat", "lon"]).to_zarr(cube, append_dim="time", consolidated=True)
        r = run(["tiles", cube, "--update"], check=0)
        self.assertIn("1 time slices updated", r.stderr + r.stdout)
        # only the new slice's chunks (index 2.*) and metadata/coordinates were written
        for root, _d, files in os.walk(lv):
            for f in files:
                rel = os.path.relpath(os.path.join(root, f), lv)
                parts = rel.split(os.sep)
                if len(parts) == 3 and parts[1] in ("sst", "cls") and not f.startswith("."):
                    changed = rel not in before or os.stat(os.path.join(root, f)).st_mtime_ns != before[rel]
                    self.assertEqual(changed, f.startswith("2."), rel)
        fresh = self.p("fresh.levels")
        run(["tiles", cube, "-o", fresh], check=0)
        a, b = snapshot(lv), snapshot(fresh)
        a.pop("0.link"), b.pop("0.link")
        self.assertEqual(sorted(a), sorted(b))
        for k in a:
            self.assertEqual(a[k], b[k], k)


class TrailingSlash(TempDirTest):
    def test_output_folder_with_a_trailing_slash(self):
        # An operator's "-o out.levels/" builds and updates the same pyramid as "-o out.levels":
        # the swap folder goes beside it (before the fix: inside it, exit 5 with a path of
        # hundreds of nested ".baims-swap" and no pyramid).
        cube = self.p("c.zarr")
        ds = make_cube(cube, nt=3)
        ref, slash = self.p("ref.levels"), self.p("slash.levels")
        run(["tiles", cube, "-o", ref], check=0)
        run(["tiles", cube, "-o", slash + "/"], check=0)
        run(["tiles", cube, "-o", slash + "/", "--update"], check=0)
        self.assertFalse(os.path.exists(slash + ".baims-swap"))
        self.assertEqual(sorted(os.listdir(slash)), sorted(os.listdir(ref)))
        a, b = snapshot(ref), snapshot(slash)
        self.assertIn("0.link", a)
        self.assertEqual(sorted(a), sorted(b))
        for k in a:
            if k != ".baims-lock":
                self.assertEqual(a[k], b[k], k)
        del ds


class UpdateGen(TempDirTest):
    def test_gen_append_and_replace_then_update_equals_rebuild(self):
        lat = np.arange(9.75, 0, -0.5)
        lon = np.arange(0.25, 15, 0.5)
        t0 = dt.datetime(2022, 3, 1, 12)

        def inp(k, scale=1.0):
            rng = np.random.default_rng(k)
            d = rng.normal(k, size=(20, 30)) * scale
            d[:6, :] = np.nan
            path = self.p(f"in{k}_{scale}.nc")
            write_cf(path, lat, lon, d[None], [t0 + dt.timedelta(days=k)])
            return path

        cube, cfg = self.p("g.zarr"), self.p("cfg.yml")
        write_config(cfg, [0.0, 0.0, 15.0, 10.0], (30, 20), cube, chunks=(5, 6))
        run(["gen", "-c", cfg, inp(1), inp(2), inp(3)], check=0)
        lv = self.p("g.levels")
        run(["tiles", cube], check=0)
        self.assertEqual(json.load(open(os.path.join(lv, ".zlevels")))["num_levels"], 3)
        mtimes = {rel: os.stat(os.path.join(lv, rel)).st_mtime_ns for rel in snapshot(lv)}
        run(["gen", "-c", cfg, inp(2, 3.0), inp(4)], check=0)   # replace day 2, append day 4
        r = run(["tiles", cube, "--update"], check=0)
        self.assertIn("2 time slices updated", r.stderr)
        for rel in snapshot(lv):
            parts = rel.split("/")
            if len(parts) == 3 and parts[1] == "v" and not parts[2].startswith("."):
                changed = rel not in mtimes or os.stat(os.path.join(lv, rel)).st_mtime_ns != mtimes[rel]
                self.assertEqual(changed, parts[2].split(".")[0] in ("1", "3"), rel)
        fresh = self.p("fresh.levels")
        run(["tiles", cube, "-o", fresh], check=0)
        a, b = snapshot(lv), snapshot(fresh)
        self.assertEqual(sorted(a), sorted(b))
        for k in a:
            if k != "0.link":
                self.assertEqual(a[k], b[k], k)
        src = xr.open_zarr(cube)
        ds = xr.open_zarr(os.path.join(lv, "2.zarr"))
        np.testing.assert_allclose(ds.v.values, block_reduce(src.v.values.astype("f8"), 4, "mean"),
                                   rtol=1e-6, equal_nan=True)


    def test_gen_insert_then_update_links_the_moved_days(self):
        # A day inserted between two (a late input; gen's insert) and one replaced after it: the
        # update computes those two and links the chunks of the days that moved under their new
        # index (same inodes), instead of rebuilding; the result equals a fresh build.
        lat = np.arange(9.75, 0, -0.5)
        lon = np.arange(0.25, 15, 0.5)
        t0 = dt.datetime(2022, 3, 1, 12)

        def inp(k, scale=1.0):
            d = np.random.default_rng(k).normal(k, size=(20, 30)) * scale
            d[:6, :] = np.nan
            path = self.p(f"in{k}_{scale}.nc")
            write_cf(path, lat, lon, d[None], [t0 + dt.timedelta(days=k)])
            return path

        cube, cfg = self.p("g.zarr"), self.p("cfg.yml")
        write_config(cfg, [0.0, 0.0, 15.0, 10.0], (30, 20), cube, chunks=(5, 6))
        run(["gen", "-c", cfg, inp(1), inp(3), inp(4), inp(5)], check=0)
        lv = self.p("g.levels")
        run(["tiles", cube], check=0)
        ino = {rel: os.stat(os.path.join(lv, rel)).st_ino for rel in snapshot(lv)}
        run(["gen", "-c", cfg, inp(2), inp(5, 3.0)], check=0)   # insert day 2, replace day 5
        r = run(["tiles", cube, "--update"], check=0)
        self.assertIn("2 time slices updated", r.stderr)
        self.assertNotIn("rebuilding", r.stderr)
        # old steps 0, 1, 2 (days 1, 3, 4) are now 0, 2, 3; day 2 (1) and day 5 (4) are new
        moved = {"0": "0", "1": "2", "2": "3"}
        linked = 0
        for rel in snapshot(lv):
            parts = rel.split("/")
            if len(parts) == 3 and parts[1] == "v" and not parts[2].startswith("."):
                t, rest = parts[2].split(".", 1)
                old = [o for o, n in moved.items() if n == t]
                if old:
                    self.assertEqual(os.stat(os.path.join(lv, rel)).st_ino,
                                     ino[f"{parts[0]}/v/{old[0]}.{rest}"], rel)
                    linked += 1
                else:
                    self.assertIn(t, ("1", "4"), rel)
                    self.assertNotIn(os.stat(os.path.join(lv, rel)).st_ino, ino.values(), rel)
        self.assertGreater(linked, 10)
        fresh = self.p("fresh.levels")
        run(["tiles", cube, "-o", fresh], check=0)
        a, b = snapshot(lv), snapshot(fresh)
        self.assertEqual(sorted(a), sorted(b))
        for k in a:
            if k != "0.link":
                self.assertEqual(a[k], b[k], k)
        src = xr.open_zarr(cube)
        self.assertEqual(src.time.size, 5)
        for k, f in ((1, 2), (2, 4)):
            ds = xr.open_zarr(os.path.join(lv, f"{k}.zarr"))
            np.testing.assert_array_equal(ds.time.values, src.time.values)
            np.testing.assert_allclose(ds.v.values,
                                       block_reduce(src.v.values.astype("f8"), f, "mean"),
                                       rtol=1e-6, equal_nan=True)


class Crash(TempDirTest):
    def test_kill9_during_build_then_rerun(self):
        cube = self.p("c.zarr")
        make_cube(cube)
        lv = self.p("c.levels")
        for point in ("tiles-chunk:5", "tiles-level:1", "tiles-level:3"):
            with self.subTest(point=point):
                shutil.rmtree(lv, ignore_errors=True)
                r = run(["tiles", cube], env={"BAIMS_TEST_KILL_AT": point})
                self.assertEqual(r.returncode, -9)
                self.assertFalse(os.path.exists(os.path.join(lv, ".zlevels")))
                for e in os.listdir(lv):   # complete levels only (temp names aside)
                    if e.endswith(".zarr"):
                        self.assertTrue(os.path.exists(os.path.join(lv, e, ".zmetadata")), e)
                        xr.open_zarr(os.path.join(lv, e)).load()
                run(["tiles", cube], check=0)
                fresh = self.p("fresh.levels")
                shutil.rmtree(fresh, ignore_errors=True)
                run(["tiles", cube, "-o", fresh], check=0)
                self.assertEqual(sorted(snapshot(lv)), sorted(snapshot(fresh)))
                self.assertFalse([e for e in os.listdir(lv) if e.endswith(".tmp")])
                self.assertFalse(os.path.exists(lv + ".baims-swap"))


class UpdateCrash(TempDirTest):
    """tiles --update killed (kill -9) at each of its fault points: before any rerun an
    independent reader sees exactly the old pyramid or exactly the new one (every file's bytes,
    and xarray on every level); the rerun ends in the pyramid an uninterrupted update makes, with
    no folder left beside it. The update appends a day and replaces one (a gen cube)."""

    POINTS = ("tiles-chunk:3", "tiles-linked:1", "tiles-level:1", "tiles-level:2",
              "tiles-exchange:1", "tiles-exchanged:1")

    def levels_read(self, lv):
        """What a reader gets: .zlevels and every level's values, via xarray."""
        with open(os.path.join(lv, ".zlevels")) as f:
            z = json.load(f)
        out = {}
        for k in range(1, z["num_levels"]):
            with xr.open_zarr(os.path.join(lv, f"{k}.zarr")) as ds:
                out[k] = (ds.time.values.copy(), ds.v.values.copy())
        return out

    def assert_same_read(self, a, b):
        self.assertEqual(sorted(a), sorted(b))
        for k in a:
            np.testing.assert_array_equal(a[k][0], b[k][0])
            np.testing.assert_array_equal(a[k][1], b[k][1])

    def test_kill9_at_each_point_old_or_new_then_rerun(self):
        self.kill_each_point((1, 2, 3), ((2, 3.0), (4, 1.0)))   # replace day 2, append day 4

    def test_kill9_during_an_update_after_an_insert(self):
        # day 2 inserted: the chunks of days 3 and 4 are linked under their new index
        self.kill_each_point((1, 3, 4), ((2, 1.0),))

    def kill_each_point(self, days, changes):
        lat = np.arange(9.75, 0, -0.5)
        lon = np.arange(0.25, 15, 0.5)
        t0 = dt.datetime(2022, 3, 1, 12)

        def inp(k, scale=1.0):
            d = np.random.default_rng(k).normal(k, size=(20, 30)) * scale
            d[:6, :] = np.nan
            path = self.p(f"in{k}_{scale}.nc")
            write_cf(path, lat, lon, d[None], [t0 + dt.timedelta(days=k)])
            return path

        cube, cfg = self.p("g.zarr"), self.p("cfg.yml")
        write_config(cfg, [0.0, 0.0, 15.0, 10.0], (30, 20), cube, chunks=(5, 6))
        run(["gen", "-c", cfg] + [inp(k) for k in days], check=0)
        lv, pristine, ref = self.p("g.levels"), self.p("pristine.levels"), self.p("ref.levels")
        swap = lv + ".baims-swap"
        run(["tiles", cube], check=0)
        shutil.copytree(lv, pristine)
        old, old_read = snapshot(lv), self.levels_read(lv)
        run(["gen", "-c", cfg] + [inp(k, f) for k, f in changes], check=0)
        shutil.copytree(pristine, ref)
        r = run(["tiles", cube, "-o", ref, "--update"], check=0)
        self.assertIn(f"{len(changes)} time slices updated", r.stderr)
        new, new_read = snapshot(ref), self.levels_read(ref)
        self.assertNotEqual(old, new)
        self.assertEqual(len(new_read[1][0]), 4)
        for point in self.POINTS:
            with self.subTest(point=point):
                shutil.rmtree(lv)
                shutil.copytree(pristine, lv)
                r = run(["tiles", cube, "--update"], env={"BAIMS_TEST_KILL_AT": point})
                self.assertEqual(r.returncode, -9, r.stderr)
                now = snapshot(lv)
                after = point.startswith("tiles-exchanged")
                self.assertEqual(now, new if after else old)
                self.assert_same_read(self.levels_read(lv), new_read if after else old_read)
                r = run(["tiles", cube, "--update"], check=0)
                self.assertEqual(snapshot(lv), new)
                self.assertFalse(os.path.exists(swap))


class AppendCrash(TempDirTest):
    """tiles --update after gen appended a day goes in place (no new tree: the pyramid's folders
    keep their inodes; the appended chunks at their final keys, the metadata through a journal of
    file moves). Killed (kill -9) at each fault point of that path: before the commit point the
    pyramid reads as the old one (every old file's bytes; only invisible chunks of the new step
    and the staging folder more); after it each level reads as the old or the new one (the time
    axis possibly NaT inside a level's switch, as gen's append); the rerun ends file by file in
    the pyramid a fresh build makes. Also: chunks a killed run left at keys that the step's new
    content leaves empty are removed."""

    def setUp(self):
        super().setUp()
        self.lat = np.arange(9.75, 0, -0.5)
        self.lon = np.arange(0.25, 15, 0.5)

    def inp(self, k, nan_rows=6):
        d = np.random.default_rng(k).normal(k, size=(20, 30))
        d[:nan_rows, :] = np.nan
        path = self.p(f"in{k}_{nan_rows}.nc")
        write_cf(path, self.lat, self.lon, d[None],
                 [dt.datetime(2022, 3, 1, 12) + dt.timedelta(days=k)])
        return path

    def levels_read(self, lv):
        with open(os.path.join(lv, ".zlevels")) as f:
            z = json.load(f)
        out = {}
        for k in range(1, z["num_levels"]):
            with xr.open_zarr(os.path.join(lv, f"{k}.zarr")) as ds:
                out[k] = (ds.time.values.copy(), ds.v.values.copy())
        return out

    def fresh(self, cube):
        fresh = self.p("fresh.levels")
        shutil.rmtree(fresh, ignore_errors=True)
        run(["tiles", cube, "-o", fresh], check=0)
        return snapshot(fresh)

    def test_kill9_at_each_point_then_rerun_equals_fresh_build(self):
        cube, cfg = self.p("g.zarr"), self.p("cfg.yml")
        write_config(cfg, [0.0, 0.0, 15.0, 10.0], (30, 20), cube, chunks=(5, 6))
        run(["gen", "-c", cfg, self.inp(1), self.inp(2), self.inp(3)], check=0)
        lv, pristine, ref = self.p("g.levels"), self.p("pristine.levels"), self.p("ref.levels")
        run(["tiles", cube], check=0)
        shutil.copytree(lv, pristine)
        old, old_read = snapshot(lv), self.levels_read(lv)
        run(["gen", "-c", cfg, self.inp(4)], check=0)   # append day 4
        shutil.copytree(pristine, ref)
        inodes = {d: os.stat(os.path.join(ref, d)).st_ino for d in (".", "1.zarr", "2.zarr")}
        r = run(["tiles", cube, "-o", ref, "--update"], check=0)
        self.assertIn("1 time slices updated", r.stderr)
        # in place: no new tree was exchanged in
        self.assertEqual({d: os.stat(os.path.join(ref, d)).st_ino for d in inodes}, inodes)
        new, new_read = snapshot(ref), self.levels_read(ref)
        self.assertEqual(new, self.fresh(cube))
        self.assertEqual(len(new_read[1][0]), 4)
        # the number of file operations of the journal
        shutil.rmtree(lv)
        shutil.copytree(pristine, lv)
        r = run(["tiles", cube, "--update"], env={"BAIMS_TEST_KILL_AT": "tiles-move:1"})
        self.assertEqual(r.returncode, -9, r.stderr)
        with open(os.path.join(lv, ".baims-journal.json")) as f:
            nops = len(json.load(f)["ops"])
        self.assertGreater(nops, 8)
        points = ["tiles-chunk:1", "tiles-chunk:3", "tiles-level:1", "tiles-level:2",
                  "tiles-journal:1"] + [f"tiles-move:{i}" for i in sorted({1, 2, 3, nops // 2, nops})] + \
                 ["tiles-moved:1"]
        for point in points:
            with self.subTest(point=point):
                shutil.rmtree(lv)
                shutil.copytree(pristine, lv)
                r = run(["tiles", cube, "--update"], env={"BAIMS_TEST_KILL_AT": point})
                self.assertEqual(r.returncode, -9, r.stderr)
                now, read = snapshot(lv), self.levels_read(lv)
                committed = point.startswith("tiles-move") or point.startswith("tiles-moved")
                if not committed:
                    # the old pyramid; more only: chunks of step 3 (beyond the end) and staging
                    for k, b in old.items():
                        self.assertEqual(now.get(k), b, k)
                    for k in set(now) - set(old):
                        parts = k.split("/")
                        self.assertTrue(parts[0] == ".baims-staging" or
                                        (len(parts) == 3 and parts[1] == "v" and
                                         parts[2].startswith("3.")), k)
                    for k in old_read:
                        np.testing.assert_array_equal(read[k][0], old_read[k][0])
                        np.testing.assert_array_equal(read[k][1], old_read[k][1])
                else:
                    for k in old_read:   # each level the old or the new one
                        ref_read = new_read if len(read[k][1]) == 4 else old_read
                        np.testing.assert_array_equal(read[k][1], ref_read[k][1])
                        if not np.isnat(read[k][0]).all():
                            np.testing.assert_array_equal(read[k][0], ref_read[k][0])
                    if point == "tiles-moved:1":
                        self.assertEqual(self.levels_read(lv).keys(), new_read.keys())
                        for k in new_read:
                            np.testing.assert_array_equal(read[k][0], new_read[k][0])
                            np.testing.assert_array_equal(read[k][1], new_read[k][1])
                r = run(["tiles", cube, "--update"], check=0)
                self.assertEqual(snapshot(lv), new)
                self.assertFalse(os.path.exists(lv + ".baims-swap"))

    def killed_update_of_day_3(self, point):
        """A pyramid of days 1-2, day 3 appended to the cube, `tiles --update` killed at point."""
        cube, cfg = self.p("g.zarr"), self.p("cfg.yml")
        write_config(cfg, [0.0, 0.0, 15.0, 10.0], (30, 20), cube, chunks=(5, 6))
        run(["gen", "-c", cfg, self.inp(1), self.inp(2)], check=0)
        lv = self.p("g.levels")
        run(["tiles", cube], check=0)
        run(["gen", "-c", cfg, self.inp(3)], check=0)
        r = run(["tiles", cube, "--update"], env={"BAIMS_TEST_KILL_AT": point})
        self.assertEqual(r.returncode, -9, r.stderr)
        return cube, cfg, lv

    def test_journal_of_an_older_baims_with_files_staged_in_folders(self):
        """The staged files lie flat in .baims-staging ('/' as %2F, '%' as %25); a committed
        journal whose files an older baims staged in folders (.baims-staging/<key>) is completed
        all the same."""
        cube, cfg, lv = self.killed_update_of_day_3("tiles-move:1")
        staging = os.path.join(lv, ".baims-staging")
        names = os.listdir(staging)
        self.assertTrue(any("%2F" in n for n in names), names)
        self.assertFalse([n for n in names if os.path.isdir(os.path.join(staging, n))])
        for n in names:   # as an older baims staged them
            key = n.replace("%2F", "/").replace("%25", "%")
            os.makedirs(os.path.dirname(os.path.join(staging, key)), exist_ok=True)
            os.rename(os.path.join(staging, n), os.path.join(staging, key))
        run(["tiles", cube, "--update"], check=0)
        self.assertFalse(os.path.exists(staging))
        self.assertFalse(os.path.exists(os.path.join(lv, ".baims-journal.json")))
        self.assertEqual(snapshot(lv), self.fresh(cube))

    def test_chunks_left_by_a_killed_run_where_the_step_is_now_empty(self):
        cube, cfg, lv = self.killed_update_of_day_3("tiles-journal:1")
        left = [f for f in os.listdir(os.path.join(lv, "1.zarr", "v")) if f.startswith("2.0.")]
        self.assertTrue(left)   # level 1's top chunk row of step 2, beyond the end
        # day 3 replaced by one whose top 16 rows are empty: the top chunk row of level 1 (rows
        # 0-9 of level 0) has no valid cell now
        run(["gen", "-c", cfg, self.inp(3, nan_rows=16)], check=0)
        run(["tiles", cube, "--update"], check=0)
        self.assertFalse([f for f in os.listdir(os.path.join(lv, "1.zarr", "v"))
                          if f.startswith("2.0.")])
        self.assertEqual(snapshot(lv), self.fresh(cube))


class BadInput(TempDirTest):
    def test_errors(self):
        cube = self.p("c.zarr")
        make_cube(cube)
        os.mkdir(self.p("empty"))
        r = run(["tiles", self.p("empty")], check=4)
        self.assertEqual(r.stderr.strip().splitlines()[-1],
                         f"baims tiles: error: '{self.p('empty')}' is not a Zarr cube (no .zgroup). "
                         "Give the path of a Zarr v2 cube, e.g. made by baims gen")
        r = run(["tiles", cube, "--agg-methods", "nope=mean"], check=2)
        self.assertEqual(r.stderr.strip().splitlines()[-1],
                         f"baims tiles: error: --agg-methods names unknown variable 'nope' of '{cube}'. "
                         "Data variables are: cls, sst")
        r = run(["tiles", cube, "--agg-methods", "sst=avg"], check=2)
        self.assertEqual(r.stderr.strip().splitlines()[-1],
                         "baims tiles: error: unknown aggregation method 'avg'. "
                         "Use one of first, mean, median, min, max, mode, auto")
        r = run(["tiles", cube, "--tile-size", "512x512"], check=2)
        self.assertEqual(r.stderr.strip().splitlines()[-1],
                         "baims tiles: error: --tile-size '512x512' is not a positive integer. "
                         "Give W or W,H in pixels, e.g. --tile-size 512 or --tile-size 512,256")
        r = run(["tiles", cube, "--level0", "cpy"], check=2)
        self.assertEqual(r.stderr.strip().splitlines()[-1],
                         "baims tiles: error: --level0 'cpy' is not link or copy. Use --level0 "
                         "link (a 0.link to the cube) or --level0 copy (a 0.zarr copy)")
        self.assertFalse(os.path.exists(self.p("c.levels")))


def state(path):
    """Every file of a pyramid or cube (the lock file aside) with its bytes and mtime: equal
    states mean nothing was written, removed or added."""
    res = {}
    for rel, data in snapshot(path).items():
        res[rel] = (data, os.stat(os.path.join(path, rel)).st_mtime_ns)
    return res


class BadInputPyramidUntouched(TempDirTest):
    """Bad input after a good build: one error line, the documented exit code (docs/exit-codes.md),
    and the existing pyramid exactly as it was (no temporary level left either)."""

    def setUp(self):
        super().setUp()
        self.cube = self.p("c.zarr")
        make_cube(self.cube)
        self.lv = self.p("c.levels")
        run(["tiles", self.cube], check=0)
        self.before = state(self.lv)
        self.assertIn(".zlevels", self.before)

    def err(self, args, code, prefix=()):
        p = subprocess.run(list(prefix) + [BAIMS, "--progress", "never"] + args,
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, code, p.stderr)
        lines = [ln for ln in p.stderr.splitlines() if "error" in ln]
        self.assertEqual(len(lines), 1, p.stderr)
        return lines[0]

    def assert_untouched(self):
        self.assertEqual(state(self.lv), self.before)

    def test_missing_zarray(self):
        os.remove(os.path.join(self.cube, "sst", ".zarray"))   # .zmetadata still names it
        self.assertEqual(self.err(["tiles", self.cube], 4),
                         f"baims tiles: error: array 'sst' of cube '{self.cube}' has chunk files but "
                         "no .zarray. Restore sst/.zarray or remove the folder")
        self.assert_untouched()

    def test_corrupt_chunk(self):
        with open(os.path.join(self.cube, "sst", "1.3.4"), "wb") as f:
            f.write(b"not blosc at all")
        for threads in ("1", "2"):
            self.assertEqual(self.err(["--threads", threads, "tiles", self.cube], 4),
                             f"baims tiles: error: reading chunk 1.3.4 of 'sst' in {self.cube}: "
                             "corrupt Blosc chunk (16 bytes, invalid header). Restore that chunk (or "
                             "rerun baims gen for its time step); the pyramid was left as it was")
            self.assert_untouched()

    def test_not_a_cube(self):
        os.mkdir(self.p("plain"))
        with open(self.p("plain", "notes.txt"), "w") as f:
            f.write("x")
        self.assertEqual(self.err(["tiles", self.p("plain"), "-o", self.lv], 4),
                         f"baims tiles: error: '{self.p('plain')}' is not a Zarr cube (no .zgroup). "
                         "Give the path of a Zarr v2 cube, e.g. made by baims gen")
        self.assert_untouched()

    def test_read_only_output(self):
        # root ignores permissions: then baims runs as nobody (the pyramid and the cube are root's)
        prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] \
            if os.geteuid() == 0 else []
        os.chmod(self.tmp, 0o755)
        os.chmod(self.lv, 0o555)
        if not prefix:
            os.chmod(self.tmp, 0o555)
        try:
            self.assertEqual(self.err(["tiles", self.cube], 5, prefix),
                             f"baims tiles: error: the pyramid folder '{self.lv}' is not writable: "
                             "Permission denied. Check its permissions, or choose another with -o")
            self.assert_untouched()
            new = self.p("new.levels")
            self.assertEqual(self.err(["tiles", self.cube, "-o", new], 5, prefix),
                             f"baims tiles: error: cannot create the pyramid folder '{new}': "
                             "Permission denied. Check that its parent folder is writable, or "
                             "choose another with -o")
        finally:
            os.chmod(self.tmp, 0o755)
            os.chmod(self.lv, 0o755)
        self.assertFalse(os.path.exists(new))


class OutputFolderMistakes(TempDirTest):
    """-o or --png naming the cube, a folder inside it, a folder that holds it, each other, or a
    folder with other things in it: refused before anything is written (exit 2, one line), every
    file of the test folder as it was. Before, `tiles data/c.zarr -o data` removed every *.zarr
    folder of data/ (the cube and the user's other cubes) and ended with exit 0; `-o CUBE` said
    the pyramid was locked by another baims process (its own pid)."""

    def test_refused_and_nothing_changed(self):
        cube = self.p("c.zarr")
        make_cube(cube)
        shutil.copytree(cube, self.p("other.zarr"))  # the user's other cube beside it
        os.makedirs(self.p("notes"))
        with open(self.p("notes", "todo.txt"), "w") as f:
            f.write("mine\n")
        before = state(self.tmp)
        own = "Give a folder of its own, e.g. '" + self.p("c.levels") + "'"
        cases = [
            (["-o", cube], f"the pyramid folder '{cube}' is the cube itself. {own}"),
            (["-o", self.p("c.zarr", "sst")],
             f"the pyramid folder '{self.p('c.zarr', 'sst')}' lies inside the cube '{cube}'. {own}"),
            (["-o", self.tmp],
             f"the pyramid folder '{self.tmp}' holds the cube '{cube}': a build replaces the "
             f"folders in it. {own}"),
            (["-o", self.p("notes")],
             f"the pyramid folder '{self.p('notes')}' exists and holds 'todo.txt', which is not "
             "part of a pyramid (it has no .zlevels). Give an empty or new folder with -o, or the "
             "folder of a pyramid made before"),
            (["--png", cube], f"--png '{cube}' is the cube '{cube}'. Give the PNG tiles a folder "
             "of their own"),
            (["-o", self.p("a.levels"), "--png", self.p("a.levels", "png")],
             f"--png '{self.p('a.levels', 'png')}' lies inside the pyramid folder "
             f"'{self.p('a.levels')}'. Give the PNG tiles a folder of their own"),
            (["--png", self.tmp], f"--png '{self.tmp}' holds the cube '{cube}'. Give the PNG "
             "tiles a folder of their own"),
        ]
        for args, line in cases:
            with self.subTest(args=args):
                for dry in ([], ["--dry-run"]):
                    p = run(dry + ["tiles", cube] + args, check=2)
                    self.assertEqual(p.stderr.strip().splitlines()[-1],
                                     "baims tiles: error: " + line)
                    self.assertEqual(state(self.tmp), before)
        # a pyramid folder made before (with .zlevels), and an empty one, are taken
        os.makedirs(self.p("empty.levels"))
        run(["tiles", cube, "-o", self.p("empty.levels")], check=0)
        run(["tiles", cube, "-o", self.p("empty.levels")], check=0)
        # a folder of a pyramid keeps a foreign *.zarr folder in it (a full build replaced every
        # *.zarr folder, not only its levels N.zarr)
        shutil.copytree(cube, self.p("empty.levels", "mine.zarr"))
        mine = state(self.p("empty.levels", "mine.zarr"))
        run(["tiles", cube, "-o", self.p("empty.levels"), "--agg-methods", "sst=max"], check=0)
        self.assertEqual(state(self.p("empty.levels", "mine.zarr")), mine)


class CubeLock(TempDirTest):
    """tiles holds the cube's writer lock (.baims-lock, as gen, prune and optimise): it is refused
    while another baims process writes the cube, and a gen of the cube is refused while tiles
    reads it."""

    def test_locked_cube_refused(self):
        cube = self.p("c.zarr")
        make_cube(cube)
        with open(os.path.join(cube, ".baims-lock"), "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            r = run(["tiles", cube], check=5)
            self.assertEqual(r.stderr.strip().splitlines()[-1],
                             f"baims tiles: error: cube '{cube}' is locked by another baims process. "
                             "Wait for it to finish; the lock is released when that process ends")
        self.assertFalse(os.path.exists(self.p("c.levels", ".zlevels")))
        run(["tiles", cube], check=0)   # the lock released: it runs

    def test_gen_refused_while_tiles_reads(self):
        lat = np.arange(9.75, 0, -0.5)
        lon = np.arange(0.25, 15, 0.5)

        def inp(k):
            d = np.random.default_rng(k).normal(k, size=(20, 30))
            path = self.p(f"in{k}.nc")
            write_cf(path, lat, lon, d[None], [dt.datetime(2022, 3, k, 12)])
            return path

        cube, cfg = self.p("g.zarr"), self.p("cfg.yml")
        write_config(cfg, [0.0, 0.0, 15.0, 10.0], (30, 20), cube, chunks=(5, 6))
        run(["gen", "-c", cfg, inp(1)], check=0)
        # a FIFO in place of a chunk: tiles blocks opening it (holding the lock) until we open it
        # for writing; deterministic, no timing. The store reads a FIFO as an absent chunk.
        fifo = os.path.join(cube, "v", "0.3.4")
        os.remove(fifo)
        os.mkfifo(fifo)
        p = subprocess.Popen([BAIMS, "--progress", "never", "--threads", "1", "tiles", cube],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            lock = os.path.join(cube, ".baims-lock")
            deadline = time.monotonic() + 120
            while not (os.path.exists(lock) and open(lock).read().strip() == str(p.pid)):
                self.assertIsNone(p.poll(), "tiles ended before taking the lock")
                self.assertLess(time.monotonic(), deadline, "tiles never took the cube lock")
                time.sleep(0.05)
            r = run(["gen", "-c", cfg, inp(2)], check=5)
            self.assertEqual(r.stderr.strip().splitlines()[-1],
                             f"baims gen: error: cube '{cube}' is locked by another baims process "
                             f"(pid {p.pid}). Wait for it to finish; the lock is released when that "
                             "process ends")
            while p.poll() is None:   # release tiles (each time it opens the FIFO)
                try:
                    os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
                except OSError:   # ENXIO: no reader at the moment
                    time.sleep(0.02)
            _out, err = p.communicate()
            self.assertEqual(p.returncode, 0, err)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        os.remove(fifo)
        run(["gen", "-c", cfg, inp(2)], check=0)   # tiles done: gen runs
        self.assertEqual(len(xr.open_zarr(cube).time), 2)


class OnePass(TempDirTest):
    """All levels come from one pass over level 0: under strace, every chunk file of the cube is
    opened once per build (a pass per level opened it once per level); only a chunk that straddles
    two footprints of the deepest level's tiles (tile * 2^(levels-1) cells, not a multiple of the
    cube's chunks) is opened once per footprint. The levels still equal numpy's aggregation
    (2 threads, several footprints, bands that cut through the cube's chunks)."""

    def test_each_level0_chunk_read_once(self):
        strace = shutil.which("strace")
        self.assertIsNotNone(strace, "strace is needed (scripts/install-deps.sh installs it)")
        cube = self.p("c.zarr")
        make_cube(cube)
        chunks = {os.path.join(cube, v, f) for v in ("sst", "cls")
                  for f in os.listdir(os.path.join(cube, v)) if not f.startswith(".")}
        self.assertEqual(len(chunks), 2 * NT * 5 * 6)
        src = xr.open_zarr(cube)
        def footprints(i, c, foot):   # how many footprints chunk index i (size c) overlaps
            return len({y // foot for y in (i * c, i * c + c - 1)})

        for args, nlev in (([], 4), (["--tile-size", "3,3", "--agg-methods", "median"], 5)):
            with self.subTest(args=args):
                out, log = self.p("o.levels"), self.p("strace.log")
                shutil.rmtree(out, ignore_errors=True)
                p = subprocess.run([strace, "-f", "-e", "trace=openat", "-o", log, BAIMS,
                                    "--progress", "never", "--threads", "2", "tiles", cube, "-o",
                                    out] + args, capture_output=True, text=True, env=traced_env())
                self.assertEqual(p.returncode, 0, p.stderr)
                opened = {}
                with open(log) as f:
                    for line in f:
                        m = re.search(r'openat\(AT_FDCWD, "([^"]+)", O_RDONLY', line)
                        if m and m.group(1) in chunks:
                            opened[m.group(1)] = opened.get(m.group(1), 0) + 1
                self.assertEqual(set(opened), chunks)
                tile = 3 if args else None
                for path, n in opened.items():
                    _t, by, bx = map(int, os.path.basename(path).split("."))
                    fy = (tile or CH) * 2 ** (nlev - 1)
                    fx = (tile or CW) * 2 ** (nlev - 1)
                    self.assertEqual(n, footprints(by, CH, fy) * footprints(bx, CW, fx), path)
                if args:   # footprints 48 wide: chunk column 4 (columns 40-49) straddles two
                    self.assertEqual(sorted(set(opened.values())), [1, 2])
                else:
                    self.assertEqual(set(opened.values()), {1})
                self.assertEqual(json.load(open(os.path.join(out, ".zlevels")))["num_levels"], nlev)
                method = "median" if args else "mean"
                for k in range(1, nlev):
                    ds = xr.open_zarr(os.path.join(out, f"{k}.zarr"))
                    np.testing.assert_allclose(
                        ds.sst.values, block_reduce(src.sst.values.astype("f8"), 2 ** k, method),
                        rtol=1e-6, equal_nan=True, err_msg=f"level {k}")


# The colour maps of docs/cli/tiles.md: stops, linear in between; index i of 256 is the stops at
# i/255, rounded; a value v takes index round(255 * clamp((v - vmin) / (vmax - vmin), 0, 1)).
CMAPS = {
    "viridis": [(0.0, 68, 1, 84), (0.1, 72, 36, 117), (0.2, 65, 68, 135), (0.3, 53, 95, 141),
                (0.4, 42, 120, 142), (0.5, 33, 145, 140), (0.6, 34, 168, 132), (0.7, 68, 191, 112),
                (0.8, 122, 209, 81), (0.9, 189, 223, 38), (1.0, 253, 231, 37)],
    "rdbu": [(0.0, 5, 48, 97), (0.25, 67, 147, 195), (0.5, 247, 247, 247), (0.75, 214, 96, 77),
             (1.0, 103, 0, 31)],
    "gray": [(0.0, 0, 0, 0), (1.0, 255, 255, 255)],
}


def half_up(x):
    return np.floor(np.asarray(x) + 0.5)


def lut(name):
    st = np.array(CMAPS[name], float)
    x = np.arange(256) / 255
    return np.stack([half_up(np.interp(x, st[:, 0], st[:, c])) for c in (1, 2, 3)], 1).astype(np.uint8)


def mercator_range(west, south, east, north, z):
    n = 2 ** z
    ty = lambda lat: (1 - np.log(np.tan(np.radians(lat)) + 1 / np.cos(np.radians(lat))) / np.pi) / 2 * n
    return (int(np.floor((west + 180) / 360 * n)), int(np.ceil((east + 180) / 360 * n)) - 1,
            int(np.floor(ty(north))), int(np.ceil(ty(south))) - 1)


def read_png(path):
    g = gdal.Open(path)
    return np.stack([g.GetRasterBand(b).ReadAsArray() for b in (1, 2, 3, 4)], -1)


class PngTiles(TempDirTest):
    """--png: XYZ web-mercator tiles decoded with GDAL (Python) and compared pixel by pixel with a
    numpy rendering: cell under each pixel centre on the level of the zoom, the colour map, NaN
    and fill transparent; tile counts per zoom; the value range from --vmin/--vmax, valid_min/
    valid_max, or the 2-98 percentiles."""

    def expected_tile(self, level_vals, k, z, x, y, vmin, vmax, cmap):
        n = 2 ** z
        p = (np.arange(256) + 0.5) / 256
        lat = np.degrees(np.arctan(np.sinh(np.pi * (1 - 2 * (y + p) / n))))
        lon = (x + p) / n * 360 - 180
        fr = (60 - lat) / 0.25            # the test cube: lat descending from 60, 0.25 degree cells
        fc = (lon - 5) / 0.25
        rows = np.where((fr >= 0) & (fr < H), np.floor(fr), -1).astype(int)
        cols = np.where((fc >= 0) & (fc < W), np.floor(fc), -1).astype(int)
        out = np.zeros((256, 256, 4), np.uint8)
        hk, wk = level_vals.shape
        for py in range(256):
            if rows[py] < 0 or (rows[py] >> k) >= hk:
                continue
            ok = cols >= 0
            c = np.where(ok, cols >> k, 0)
            v = level_vals[rows[py] >> k, c].astype("f8")
            ok &= ~np.isnan(v)
            f = np.clip((v - vmin) / (vmax - vmin), 0, 1)
            idx = half_up(255 * np.where(ok, f, 0)).astype(int)
            out[py, ok, :3] = lut(cmap)[idx[ok]]
            out[py, ok, 3] = 255
        return out

    def test_tiles_pixels_counts_and_ranges(self):
        cube = self.p("c.zarr")
        src = make_cube(cube)
        png = self.p("png")
        r = run(["tiles", cube, "--png", png, "--cmap", "viridis"], check=0)
        self.assertIn("PNG tiles, zoom 0-3", r.stderr)
        meta = json.load(open(os.path.join(png, "tiles.json")))
        self.assertEqual((meta["zmin"], meta["zmax"]), (0, 3))   # 0.25 deg: zoom 3 pixels 0.18 deg
        np.testing.assert_allclose(meta["bounds"], [5, 50.75, 18.25, 60])
        self.assertEqual(meta["times"], ["2022-03-01T12:00:00Z", "2022-03-02T12:00:00Z",
                                         "2022-03-03T12:00:00Z"])
        # no valid_min/valid_max: numpy's 2 and 98 percentiles of the deepest level (3)
        l3 = xr.open_zarr(os.path.join(self.p("c.levels"), "3.zarr"))
        ranges = {v["name"]: (v["vmin"], v["vmax"]) for v in meta["variables"]}
        for var in ("sst", "cls"):
            vals = l3[var].values.astype("f8")
            vals = vals[~np.isnan(vals)]
            np.testing.assert_allclose(ranges[var], np.percentile(vals, [2, 98]), rtol=1e-6)
        # tile counts per zoom: every tile over the cube's bounds, per variable and time step
        total = 0
        for z in range(4):
            x0, x1, y0, y1 = mercator_range(5, 50.75, 18.25, 60, z)
            self.assertEqual(meta["zooms"][str(z)], [x0, x1, y0, y1])
            for var in ("sst", "cls"):
                for t in range(NT):
                    d = os.path.join(png, var, str(t), str(z))
                    got = sorted((int(x), int(f[:-4])) for x in os.listdir(d)
                                 for f in os.listdir(os.path.join(d, x)))
                    self.assertEqual(got, [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)])
                    total += len(got)
        self.assertIn(f"{total} PNG tiles", r.stderr)
        # pixels: sst with --vmin/--vmax and rdbu, cls (integer, _FillValue -1) with percentiles
        png2 = self.p("png2")
        run(["tiles", cube, "--png", png2, "--cmap", "sst=rdbu,cls=gray", "--vmin", "270",
             "--vmax", "290"], check=0)
        meta2 = json.load(open(os.path.join(png2, "tiles.json")))
        self.assertEqual([(v["name"], v["cmap"], v["vmin"], v["vmax"], v["range"]) for v in meta2["variables"]],
                         [("cls", "gray", 270, 290, "--vmin/--vmax"), ("sst", "rdbu", 270, 290, "--vmin/--vmax")])
        levels = [xr.open_zarr(cube)] + [xr.open_zarr(os.path.join(self.p("c.levels"), f"{k}.zarr"))
                                         for k in (1, 2, 3)]   # _FillValue decoded to NaN
        for var, d, cmap, (vmin, vmax) in (("sst", png2, "rdbu", (270, 290)),
                                            ("cls", png2, "gray", (270, 290)),   # all below: black
                                            ("cls", png, "viridis", ranges["cls"])):
            for t in (0, 2):
                for z in range(4):
                    k = 3 - z
                    vals = levels[k][var].values[t]
                    x0, x1, y0, y1 = mercator_range(5, 50.75, 18.25, 60, z)
                    for x in range(x0, x1 + 1):
                        for y in range(y0, y1 + 1):
                            got = read_png(os.path.join(d, var, str(t), str(z), str(x), f"{y}.png"))
                            exp = self.expected_tile(vals, k, z, x, y, vmin, vmax, cmap)
                            np.testing.assert_array_equal(got, exp, f"{var} t={t} {z}/{x}/{y}")
        # known cells at zoom 3 (level 0): the all-NaN corner is transparent, a valid cell has its
        # colour; outside the cube transparent
        x0, _x1, y0, _y1 = mercator_range(5, 50.75, 18.25, 60, 3)
        tile = read_png(os.path.join(png2, "sst", "0", "3", str(x0), f"{y0}.png"))
        n = 8
        def pixel(lat, lon):
            ty = (1 - np.log(np.tan(np.radians(lat)) + 1 / np.cos(np.radians(lat))) / np.pi) / 2 * n
            return int((ty - y0) * 256), int(((lon + 180) / 360 * n - x0) * 256)
        py, px = pixel(59.0, 6.0)            # inside sst[:, :16, :20] = NaN
        self.assertEqual(tile[py, px].tolist(), [0, 0, 0, 0])
        py, px = pixel(55.1, 12.1)           # row 19, column 28
        v = float(src.sst.values[0, 19, 28])
        i = int(half_up(255 * np.clip((v - 270) / 20, 0, 1)))
        self.assertEqual(tile[py, px].tolist(), lut("rdbu")[i].tolist() + [255])
        py, px = pixel(61.0, 12.1)           # north of the cube
        self.assertEqual(tile[py, px].tolist(), [0, 0, 0, 0])
        # the page: offline, the variables, times and ranges embedded
        html = open(os.path.join(png, "index.html")).read()
        self.assertNotIn("http://", html)
        self.assertNotIn("https://", html)
        self.assertIn('"name":"cls"', html)
        self.assertIn("2022-03-03T12:00:00Z", html)

    def test_update_renders_only_changed_steps(self):
        """--png after tiles --update with one appended day writes the new day's tiles only (every
        other tile file keeps its inode and mtime); a changed --cmap or range re-renders all; each
        time the tiles equal those of a fresh full run byte for byte."""
        full = make_cube(self.p("full.zarr"), nt=3)
        cube, png = self.p("c.zarr"), self.p("png")
        enc = {"sst": {"chunks": (1, CH, CW)}, "cls": {"chunks": (1, CH, CW), "_FillValue": -1}}
        full.isel(time=slice(0, 2)).to_zarr(cube, consolidated=True, encoding=enc)
        rng = ["--vmin", "270", "--vmax", "290"]   # a fixed range: percentiles move with new days

        def tiles_state():
            res = {}
            for root, _d, files in os.walk(png):
                for f in files:
                    if f.endswith(".png"):
                        st = os.stat(os.path.join(root, f))
                        res[os.path.relpath(os.path.join(root, f), png)] = (st.st_ino, st.st_mtime_ns)
            return res

        def assert_as_fresh(cmap):
            fresh = self.p("fresh-png")
            shutil.rmtree(fresh, ignore_errors=True)
            run(["tiles", cube, "-o", self.p("fresh.levels"), "--png", fresh, "--cmap", cmap] + rng,
                check=0)
            a, b = snapshot(png), snapshot(fresh)
            self.assertEqual(sorted(a), sorted(b))
            for k in a:
                self.assertEqual(a[k], b[k], k)

        run(["tiles", cube, "--png", png] + rng, check=0)
        before = tiles_state()
        self.assertTrue(before)
        r = run(["tiles", cube, "--update", "--png", png] + rng, check=0)   # nothing new
        self.assertIn("0 PNG tiles", r.stderr)
        self.assertIn("4 of 4 variable time steps unchanged", r.stderr)
        self.assertEqual(tiles_state(), before)
        full.isel(time=slice(2, 3)).drop_vars(["lat", "lon"]).to_zarr(cube, append_dim="time",
                                                                      consolidated=True)
        r = run(["tiles", cube, "--update", "--png", png] + rng, check=0)
        self.assertIn("4 of 6 variable time steps unchanged", r.stderr)
        after = tiles_state()
        new = {k for k in after if k.split(os.sep)[1] == "2"}
        self.assertEqual(sorted(set(after) - new), sorted(before))
        self.assertEqual(len(new), len(before) // 2)
        for k in before:
            self.assertEqual(after[k], before[k], k)
        with open(os.path.join(png, "tiles.json")) as f:
            self.assertEqual(json.load(f)["times"][-1], "2022-03-03T12:00:00Z")
        with open(os.path.join(png, "index.html")) as f:
            self.assertIn("2022-03-03T12:00:00Z", f.read())
        assert_as_fresh("viridis")
        # another colour map: every tile rendered again
        r = run(["tiles", cube, "--update", "--png", png, "--cmap", "gray"] + rng, check=0)
        self.assertIn(f"{len(after)} PNG tiles", r.stderr)
        regrey = tiles_state()
        self.assertEqual(sorted(regrey), sorted(after))
        for k in after:
            self.assertNotEqual(regrey[k], after[k], k)
        assert_as_fresh("gray")

    def test_valid_range_attributes_and_bad_options(self):
        cube = self.p("c.zarr")
        make_cube(cube)
        za = os.path.join(cube, "sst", ".zattrs")
        a = json.load(open(za))
        a.update(valid_min=275.0, valid_max=285.0)
        json.dump(a, open(za, "w"))
        os.remove(os.path.join(cube, ".zmetadata"))
        png = self.p("png")
        run(["tiles", cube, "--png", png], check=0)
        meta = json.load(open(os.path.join(png, "tiles.json")))
        sst = [v for v in meta["variables"] if v["name"] == "sst"][0]
        self.assertEqual((sst["vmin"], sst["vmax"], sst["range"]), (275.0, 285.0, "valid_min/valid_max"))
        r = run(["tiles", cube, "--png", png, "--cmap", "cls=gray,nope=gray"], check=2)
        self.assertEqual(r.stderr.strip().splitlines()[-1],
                         f"baims tiles: error: --cmap names unknown variable 'nope' of '{cube}'. "
                         "Data variables are: cls, sst")
        r = run(["tiles", cube, "--png", png, "--cmap", "jet"], check=2)
        self.assertEqual(r.stderr.strip().splitlines()[-1],
                         "baims tiles: error: unknown colour map 'jet'. Use one of gray, rdbu, viridis")
        # xcube's OSTIA cube: float kelvin with the integer (packed) valid range of its source,
        # -300..4500: not a range of its values, so the percentiles
        g = self.p("g.zarr")
        shutil.copytree(os.path.join(GOLDEN, "ostia-golden.zarr"), g)
        run(["tiles", g, "--png", self.p("gpng")], check=0)
        gm = json.load(open(self.p("gpng", "tiles.json")))
        a = [v for v in gm["variables"] if v["name"] == "analysed_sst"][0]
        l1 = xr.open_zarr(self.p("g.levels", "1.zarr")).analysed_sst.values.astype("f8")
        self.assertEqual(a["range"], "percentiles 2-98 of level 1")
        np.testing.assert_allclose([a["vmin"], a["vmax"]], np.percentile(l1[~np.isnan(l1)], [2, 98]),
                                   rtol=1e-6)
        yx = self.p("yx.zarr")
        xr.Dataset({"v": (("time", "y", "x"), np.ones((1, 20, 30), "f4"))},
                   coords={"y": np.arange(20.0), "x": np.arange(30.0),
                           "time": [np.datetime64("2022-03-01")]}).to_zarr(yx, consolidated=True)
        r = run(["tiles", yx, "--tile-size", "8", "--png", self.p("yxpng")], check=2)
        self.assertEqual(r.stderr.strip().splitlines()[-1],
                         f"baims tiles: error: --png needs a cube on (lat, lon); '{yx}' is on (y, x). "
                         "Build the PNG tiles from a geographic (lat/lon) cube")
        self.assertFalse(os.path.exists(self.p("yx.levels")))
        r = run(["tiles", cube, "--cmap", "gray"], check=2)
        self.assertEqual(r.stderr.strip().splitlines()[-1],
                         "baims tiles: error: --cmap, --vmin and --vmax need --png DIR. "
                         "Add --png DIR, or drop them")
        r = run(["tiles", cube, "--png", png, "--vmin", "5", "--vmax", "1"], check=2)
        self.assertEqual(r.stderr.strip().splitlines()[-1],
                         "baims tiles: error: --vmin 5 is not less than --vmax 1. Swap them")


class PngLock(TempDirTest):
    """--png DIR takes DIR's writer lock (DIR/.baims-lock, linked across the exchange): a second
    tiles --png into the same folder is refused with exit 5 and one line before anything is
    written; and a PNG folder that cannot be linked into its new tree is named as such."""

    def test_second_png_run_refused(self):
        cube, png = self.p("c.zarr"), self.p("png")
        make_cube(cube)
        run(["tiles", cube, "-o", self.p("a.levels"), "--png", png], check=0)
        self.assertTrue(os.path.exists(os.path.join(png, ".baims-lock")))
        before = snapshot(png)
        # a run that holds the folder's lock (as a first tiles --png still running would)
        with open(os.path.join(png, ".baims-lock"), "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            r = run(["tiles", cube, "-o", self.p("b.levels"), "--png", png + "/"], check=5)
            self.assertEqual(r.stderr.strip().splitlines()[-1],
                             f"baims tiles: error: PNG folder '{png}' is locked by another baims "
                             "process. Wait for it to finish; the lock is released when that "
                             "process ends")
        self.assertEqual(snapshot(png), before)
        self.assertFalse(os.path.exists(self.p("b.levels", ".zlevels")))  # refused before the build
        self.assertFalse(os.path.exists(png + ".baims-swap"))
        run(["tiles", cube, "-o", self.p("b.levels"), "--png", png], check=0)  # released: it runs

    def test_png_folder_cross_device_hint(self):
        """A file system mounted inside DIR (a tmpfs at DIR/mnt, in a private mount namespace of
        the baims process made with unshare, so nothing outside the test sees it): its files
        cannot be hard-linked into DIR.baims-swap, so the run stops with exit 5 and the hint, the
        swap folder is removed and DIR keeps its files. (The old test of this hint pointed DIR,
        a symbolic link, to another file system; since the swap folder is made beside the link's
        target, that run succeeds.) Skipped where unshare cannot make a mount namespace (an
        unprivileged container without user namespaces)."""
        unshare = shutil.which("unshare")
        if unshare is None or subprocess.run([unshare, "-rm", "true"],
                                             capture_output=True).returncode != 0:
            self.skipTest("unshare -rm (a user and mount namespace) is not allowed here")
        cube, png = self.p("c.zarr"), self.p("png")
        make_cube(cube)
        os.makedirs(os.path.join(png, "mnt"))
        with open(os.path.join(png, "notes.txt"), "w") as f:
            f.write("not ours\n")
        script = ('mount -t tmpfs baims-test "$1/mnt" && echo mounted > "$1/mnt/notes.txt" && '
                  'shift && exec "$@"')
        r = subprocess.run([unshare, "-rm", "sh", "-c", script, "sh", png, BAIMS, "--progress",
                            "never", "tiles", cube, "-o", self.p("a.levels"), "--png", png],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 5, r.stderr)
        self.assertEqual(r.stderr.strip().splitlines()[-1],
                         f"baims tiles: error: cannot link '{png}/mnt/notes.txt' to "
                         f"'{png}.baims-swap/mnt/notes.txt': Invalid cross-device link. The PNG "
                         "folder must lie on a file system with hard links (ext4, xfs, btrfs)")
        self.assertFalse(os.path.lexists(png + ".baims-swap"))
        # DIR as it was (the tmpfs went with the namespace); the pyramid was made before the PNGs
        self.assertEqual(sorted(os.listdir(png)), [".baims-lock", "mnt", "notes.txt"])
        self.assertEqual(open(os.path.join(png, "notes.txt")).read(), "not ours\n")
        self.assertEqual(os.listdir(os.path.join(png, "mnt")), [])
        self.assertTrue(os.path.isfile(self.p("a.levels", ".zlevels")))

    def test_png_folder_symlink_kept(self):
        """DIR a symbolic link (e.g. into a web server's root), on another file system when one is
        at hand (/dev/shm, or /var/tmp when the tests' temp folder is itself on /dev/shm): the
        link stays a link and its target folder is updated (the swap folder is made beside the
        target, so its files can be hard-linked); a second run and a run through a relative link
        to a target that does not exist yet work too. Links inside DIR that are not ours stay
        links. Before: the exchange replaced the link with a real folder (and across file systems
        failed: cannot link ... Invalid cross-device link)."""
        other = [d for d in ("/dev/shm", "/var/tmp")
                 if os.path.isdir(d) and os.access(d, os.W_OK)
                 and os.stat(d).st_dev != os.stat(self.tmp).st_dev]
        cube = self.p("c.zarr")
        make_cube(cube)
        target = tempfile.mkdtemp(prefix="baims-test-png-", dir=other[0] if other else self.tmp)
        self.addCleanup(shutil.rmtree, target, True)
        png = self.p("png")
        os.symlink(target, png)
        with open(os.path.join(target, "notes.txt"), "w") as f:
            f.write("not ours\n")
        os.symlink("notes.txt", os.path.join(target, "notes.link"))
        os.mkdir(self.p("elsewhere"))
        os.symlink(self.p("elsewhere"), os.path.join(target, "site"))
        for k in range(2):  # the second run links the unchanged steps
            run(["tiles", cube, "-o", self.p(f"{k}.levels"), "--png", png + "/"], check=0)
            self.assertTrue(os.path.islink(png))
            self.assertEqual(os.readlink(png), target)
            self.assertTrue(os.path.isfile(os.path.join(target, "index.html")))
            meta = json.load(open(os.path.join(target, "tiles.json")))
            self.assertEqual(sorted(v["name"] for v in meta["variables"]), ["cls", "sst"])
            self.assertTrue(os.path.isfile(os.path.join(target, "sst", "0", "0", "0", "0.png")))
            self.assertEqual(open(os.path.join(target, "notes.txt")).read(), "not ours\n")
            self.assertEqual(os.readlink(os.path.join(target, "notes.link")), "notes.txt")
            self.assertEqual(os.readlink(os.path.join(target, "site")), self.p("elsewhere"))
            self.assertEqual(sorted(os.listdir(os.path.dirname(target))).count(
                os.path.basename(target) + ".baims-swap"), 0)
            self.assertFalse(os.path.lexists(png + ".baims-swap"))
        # a relative link whose target does not exist yet: the target is made
        os.symlink("www/png2", self.p("png2"))
        run(["tiles", cube, "-o", self.p("2.levels"), "--png", self.p("png2")], check=0)
        self.assertTrue(os.path.islink(self.p("png2")))
        self.assertTrue(os.path.isfile(self.p("www", "png2", "index.html")))
        self.assertEqual(sorted(os.listdir(self.p("www"))), ["png2"])


class PngCrash(TempDirTest):
    """tiles --update --png killed (kill -9) at each fault point of the PNG folder, after an
    appended day: before any rerun the folder is exactly the old one (every file's bytes, no file
    more or less) or, once exchanged, exactly the new one; index.html and tiles.json name only
    time steps whose tiles are all there; the rerun ends in the folder an uninterrupted run
    makes, unchanged tiles keeping their inodes, with no folder left beside it."""

    POINTS = ("png-step:1", "png-tile:3", "png-step:3", "png-exchange:1", "png-exchanged:1")

    def test_kill9_at_each_point_old_or_new_then_rerun(self):
        full = make_cube(self.p("full.zarr"), nt=3)
        cube, png, lv = self.p("c.zarr"), self.p("png"), self.p("c.levels")
        enc = {"sst": {"chunks": (1, CH, CW)}, "cls": {"chunks": (1, CH, CW), "_FillValue": -1}}
        full.isel(time=slice(0, 2)).to_zarr(cube, consolidated=True, encoding=enc)
        rng = ["--vmin", "270", "--vmax", "290"]
        run(["tiles", cube, "--png", png] + rng, check=0)
        old = snapshot(png)
        shutil.copytree(png, self.p("pristine-png"))
        shutil.copytree(lv, self.p("pristine.levels"))
        full.isel(time=slice(2, 3)).drop_vars(["lat", "lon"]).to_zarr(cube, append_dim="time",
                                                                      consolidated=True)
        ref_png = self.p("ref-png")
        shutil.copytree(self.p("pristine-png"), ref_png)
        run(["tiles", cube, "-o", self.p("ref.levels"), "--png", ref_png] + rng, check=0)
        new = snapshot(ref_png)
        self.assertNotEqual(old, new)
        x0, x1, y0, y1 = mercator_range(5, 50.75, 18.25, 60, 3)

        def consistent(d):
            """index.html and tiles.json agree, and every tile they promise is there."""
            with open(os.path.join(d, "tiles.json")) as f:
                meta = json.load(f)
            with open(os.path.join(d, "index.html")) as f:
                self.assertIn(json.dumps(meta["times"], separators=(",", ":")), f.read())
            for v in meta["variables"]:
                for t in range(len(meta["times"])):
                    for z, (a, b, c, e) in meta["zooms"].items():
                        for x in range(a, b + 1):
                            for y in range(c, e + 1):
                                self.assertTrue(os.path.exists(
                                    os.path.join(d, v["name"], str(t), z, str(x), f"{y}.png")))
            return len(meta["times"])

        for point in self.POINTS:
            with self.subTest(point=point):
                for d, src in ((png, "pristine-png"), (lv, "pristine.levels")):
                    shutil.rmtree(d)
                    shutil.copytree(self.p(src), d, copy_function=os.link)   # keep the inodes
                inodes = {k: os.stat(os.path.join(png, k)).st_ino for k in old}
                r = run(["tiles", cube, "--update", "--png", png] + rng,
                        env={"BAIMS_TEST_KILL_AT": point})
                self.assertEqual(r.returncode, -9, r.stderr)
                after = point.startswith("png-exchanged")
                self.assertEqual(snapshot(png), new if after else old)
                self.assertEqual(consistent(png), 3 if after else 2)
                run(["tiles", cube, "--update", "--png", png] + rng, check=0)
                self.assertEqual(snapshot(png), new)
                consistent(png)
                self.assertFalse(os.path.exists(png + ".baims-swap"))
                for k, ino in inodes.items():   # the days before kept their tiles
                    if k.endswith(".png") and k.split(os.sep)[1] != "2":
                        self.assertEqual(os.stat(os.path.join(png, k)).st_ino, ino, k)


class Chromium:
    """Headless chromium driven through the DevTools protocol over --remote-debugging-pipe (JSON
    messages ending in NUL on file descriptors 3 and 4: no websocket module, no port). Each call
    waits for its reply; a page is ready when its window.tilesReady promise resolves, i.e. when
    every tile image it requested is decoded: no sleep and no retry decides an outcome (the
    timeout only turns a hung browser into a failure)."""

    TIMEOUT = 120

    def __init__(self, exe, profile, width=1200, height=900):
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()
        # chromium reads commands from fd 3 and writes replies to fd 4 (the shell's redirections)
        self.proc = subprocess.Popen(
            ["sh", "-c", f'exec "$0" "$@" 3<&{to_chrome_r} 4>&{from_chrome_w}', exe, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
             "--user-data-dir=" + profile, "--force-device-scale-factor=1", "--hide-scrollbars",
             "--no-first-run", "--window-size=%d,%d" % (width, height), "about:blank"],
            pass_fds=(to_chrome_r, from_chrome_w), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.buf, self.next_id, self.events = b"", 0, []
        targets = self.call("Target.getTargets")["targetInfos"]
        page = [t for t in targets if t["type"] == "page"][0]
        self.session = self.call("Target.attachToTarget", targetId=page["targetId"],
                                 flatten=True)["sessionId"]
        self.call("Page.enable", session=True)
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=width, height=height,
                  deviceScaleFactor=1, mobile=False)

    def call(self, method, session=False, **params):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        os.write(self.to_chrome, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self.read()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise AssertionError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def read(self):
        import select
        while b"\0" not in self.buf:
            ready, _, _ = select.select([self.from_chrome], [], [], self.TIMEOUT)
            if not ready:
                raise AssertionError("chromium did not answer within %d s" % self.TIMEOUT)
            chunk = os.read(self.from_chrome, 1 << 20)
            if not chunk:
                raise AssertionError("chromium closed the DevTools pipe")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def wait_event(self, method):
        while True:
            for i, e in enumerate(self.events):
                if e.get("method") == method:
                    return self.events.pop(i)
            self.events.append(self.read())

    def evaluate(self, expression):
        r = self.call("Runtime.evaluate", session=True, expression=expression, awaitPromise=True,
                      returnByValue=True)
        if "exceptionDetails" in r:
            raise AssertionError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def open(self, url):
        """Navigates and waits until the page's tiles are decoded; returns the status line."""
        self.events = []
        self.call("Page.navigate", session=True, url=url)
        self.wait_event("Page.loadEventFired")
        # the last draw's promise (a resize would start another draw: wait for that one too)
        return self.evaluate("(async () => { for (;;) { const g = S.gen; const s = await "
                             "window.tilesReady; if (g === S.gen) return s; } })()")

    def screenshot(self):
        import base64
        data = self.call("Page.captureScreenshot", session=True, format="png")["data"]
        name = "/vsimem/chromium-shot-%d.png" % self.next_id
        gdal.FileFromMemBuffer(name, base64.b64decode(data))
        g = gdal.Open(name)
        img = np.stack([g.GetRasterBand(b).ReadAsArray() for b in (1, 2, 3)], -1)
        g = None
        gdal.Unlink(name)
        return img

    def close(self):
        try:
            self.call("Browser.close")
        except AssertionError:
            pass
        os.close(self.to_chrome)
        os.close(self.from_chrome)
        try:
            self.proc.wait(timeout=self.TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class ViewerChromium(TempDirTest):
    """index.html in Debian's headless chromium from file://, no network: for two variables and
    two time steps the page requests the tiles of that variable and time step and decodes them
    all, none fails; a screenshot taken after the page said so shows the tile's opaque pixels
    drawn, in its colours, different for the two time steps. One browser for all views (DevTools
    protocol over a pipe, class Chromium): about 15 s under load. Runs in CI: scripts/install-deps.sh
    installs chromium (its `test` part)."""

    def test_page_draws_tiles(self):
        exe = shutil.which("chromium")
        self.assertIsNotNone(exe, "chromium is needed (apt-get install chromium)")
        cube = self.p("c.zarr")
        make_cube(cube)
        png = self.p("png")
        run(["tiles", cube, "--png", png], check=0)
        browser = Chromium(exe, self.p("chromium-profile"))
        try:
            shots = {}
            for var in ("sst", "cls"):
                for t in (0, 2):
                    with self.subTest(var=var, t=t):
                        status = browser.open(f"file://{png}/index.html?var={var}&t={t}&z=2")
                        srcs = browser.evaluate("[...document.querySelectorAll('#map img')]"
                                                ".map(i => i.getAttribute('src'))")
                        x0, x1, y0, y1 = mercator_range(5, 50.75, 18.25, 60, 2)
                        self.assertEqual(sorted(srcs), sorted(f"{var}/{t}/2/{x}/{y}.png"
                                                              for x in range(x0, x1 + 1)
                                                              for y in range(y0, y1 + 1)))
                        n = len(srcs)
                        self.assertEqual(status, f"tiles requested {n}, drawn {n}, failed 0")
                        self.assertEqual(browser.evaluate("document.body.dataset.tiles"), "done")
                        shots[(var, t)] = self.check_screenshot(browser, png, var, t)
            for var in ("sst", "cls"):   # the time steps differ
                self.assertFalse(np.array_equal(shots[(var, 0)], shots[(var, 2)]))
            # a missing tile is reported as failed, and the page still says it is done
            os.remove(os.path.join(png, "sst", "0", "3", "4", "2.png"))
            self.assertEqual(browser.open(f"file://{png}/index.html?var=sst&t=0&z=3"),
                             "tiles requested 1, drawn 0, failed 1")
        finally:
            browser.close()

    def check_screenshot(self, browser, png, var, t):
        """The drawn pixels: a screenshot at zoom 3 (the cube lies in one tile there, drawn 1:1)
        shows as many pixels that are not the map's background #e8e8e8 as the tile has opaque
        ones (2 % for the edges of a tile placed at a fractional position), and their colours."""
        x0, x1, y0, y1 = mercator_range(5, 50.75, 18.25, 60, 3)
        self.assertEqual((x0, x1, y0, y1), (4, 4, 2, 2))
        tile = read_png(os.path.join(png, var, str(t), "3", "4", "2.png"))
        opaque = int((tile[..., 3] == 255).sum())
        self.assertGreater(opaque, 1000)
        bg = np.array([232, 232, 232])
        status = browser.open(f"file://{png}/index.html?var={var}&t={t}&z=3")
        self.assertEqual(status, "tiles requested 1, drawn 1, failed 0")
        img = browser.screenshot()
        rows = np.all(img[:, 0] == bg, axis=-1)   # the map's rows (its left edge: background)
        self.assertGreater(rows.sum(), 500)
        area = img[rows]
        drawn = ~np.all(area == bg, axis=-1)
        self.assertAlmostEqual(int(drawn.sum()), opaque, delta=0.02 * opaque)
        # the colours drawn are the tile's (exactly, apart from blended edge pixels)
        tile_rgb = {tuple(c) for c in tile[tile[..., 3] == 255][:, :3]}
        got = [tuple(c) for c in area[drawn]]
        self.assertGreater(sum(c in tile_rgb for c in got), 0.95 * len(got))
        return area[drawn]
