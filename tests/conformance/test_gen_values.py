"""baims gen: cubes read back with xarray, zarr and GDAL, compared with numpy references and with
xcube 1.0.5's golden cube on the real OSTIA inputs."""

import datetime as dt
import glob
import json
import os
import unittest

import numpy as np
from baimstest import lazy_module, xr  # imported on first use (xarray: pandas, dask)
zarr = lazy_module("zarr")
gdal = lazy_module("osgeo.gdal", then=lambda g: g.UseExceptions())

from baimstest import (DATA, TempDirTest, days, nearest_expected, run, write_cf, write_config)

T0 = dt.datetime(2021, 6, 1, 10, 30)


class OstiaGolden(TempDirTest):
    """The real OSTIA inputs with xcube's own config (square pixels, so xcube's grid and ours agree)."""

    @classmethod
    def setUpClass(cls):
        import tempfile
        cls.dir = tempfile.mkdtemp(prefix="baims-ostia-")
        cfg = os.path.join(DATA, "golden", "golden-xcube-1.0.5", "gen-config-ostia.yml")
        cls.out = os.path.join(cls.dir, "ostia.zarr")
        inputs = sorted(glob.glob(os.path.join(DATA, "ostia", "*.nc")))
        cls.proc = run(["gen", "-c", cfg, "-o", cls.out] + inputs, check=0)
        cls.ours = xr.open_zarr(cls.out)
        cls.golden = xr.open_zarr(os.path.join(DATA, "golden", "golden-xcube-1.0.5", "ostia-golden.zarr"))

    @classmethod
    def tearDownClass(cls):
        import shutil
        cls.ours.close()
        cls.golden.close()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_coordinates_equal_golden(self):
        np.testing.assert_allclose(self.ours.lat.values, self.golden.lat.values, rtol=0, atol=1e-9)
        np.testing.assert_allclose(self.ours.lon.values, self.golden.lon.values, rtol=0, atol=1e-9)
        # 1e-9 degree (0.1 mm, 2.4e-8 pixel); measured 7.1e-15
        np.testing.assert_allclose(self.ours.lat_bnds.values, self.golden.lat_bnds.values, rtol=0, atol=1e-9)
        np.testing.assert_allclose(self.ours.lon_bnds.values, self.golden.lon_bnds.values, rtol=0, atol=1e-9)
        self.assertEqual(self.ours.lat.shape, (352,))
        self.assertEqual(self.ours.lon.shape, (640,))

    def test_times_equal_golden(self):
        np.testing.assert_array_equal(self.ours.time.values, self.golden.time.values)
        np.testing.assert_array_equal(self.ours.time_bnds.values, self.golden.time_bnds.values)
        self.assertEqual(str(self.ours.time.values[0]), "2017-06-05T12:00:00.000000000")

    def test_values_equal_golden(self):
        for var in ("analysed_sst", "sst_anomaly"):
            a = self.ours[var].values
            b = self.golden[var].values
            self.assertEqual(a.shape, (3, 352, 640))
            self.assertEqual(a.dtype, np.float32)
            both = ~np.isnan(a) & ~np.isnan(b)
            self.assertGreater(np.count_nonzero(both), 500000)
            # baims decodes packed values in double and rounds once to float32; xarray (inside
            # xcube) decodes in float32. They differ by at most one float32 ulp of the value
            # (3.05e-5 at 300 K, 4.8e-7 at 4..8 K for the anomaly; measured: exactly one ulp).
            ulp = np.spacing(np.maximum(np.abs(a[both]), np.abs(b[both])))
            over = np.abs(a[both] - b[both]) > ulp
            self.assertFalse(over.any(), f"{var}: {np.count_nonzero(over)} pixels differ by more "
                             f"than one float32 ulp, e.g. {a[both][over][:3]} vs {b[both][over][:3]}")
            # (measured: 386676 of 506034 valid pixels bit-identical)
            self.assertGreater(np.count_nonzero(a[both] == b[both]), 0.7 * np.count_nonzero(both))
            # fix: xcube leaves NaN at the edges of the output region (a ring along the border of
            # the clipped input); baims fills them. Everywhere else the NaN masks are identical.
            diff = np.isnan(a) != np.isnan(b)
            border = np.zeros((352, 640), bool)
            border[:3, :] = border[-3:, :] = True   # measured: rows 0, 349..351; cols 0..2, 639
            border[:, :3] = border[:, -3:] = True
            self.assertFalse(diff[:, ~border].any(), var)
            self.assertTrue(np.isnan(b[diff]).all())
            self.assertFalse(np.isnan(a[diff]).any())
            self.assertGreater(np.count_nonzero(diff), 0)

    def test_values_equal_numpy_on_inputs(self):
        import netCDF4
        path = sorted(glob.glob(os.path.join(DATA, "ostia", "*.nc")))[1]
        with netCDF4.Dataset(path) as ds:
            v = ds["analysed_sst"]
            v.set_auto_maskandscale(False)
            raw = v[0].astype("f8")
            # CF decoding in double: raw * scale_factor + add_offset, _FillValue -> NaN. A float32
            # attribute is taken at its shortest decimal value (0.01, not 0.009999999776).
            src = raw * float(str(v.scale_factor)) + float(str(v.add_offset))
            src[raw == v._FillValue] = np.nan
            lat, lon = ds["lat"][:], ds["lon"][:]
        exp = nearest_expected(src, lat, lon, [-16.0, 48.0, 10.666666666666666, 62.666666666666664], (640, 352))
        np.testing.assert_array_equal(self.ours.analysed_sst.values[1], exp.astype("f4"))

    def test_documented_attribute_differences(self):
        # fix: xcube copies ~45 stale input attributes; baims writes its own.
        g, o = self.golden.attrs, self.ours.attrs
        self.assertEqual(g["Conventions"], "CF-1.4")
        self.assertEqual(o["Conventions"], "CF-1.9, ACDD-1.3")
        for stale in ("platform", "sensor", "start_time", "stop_time", "uuid", "northernmost_latitude"):
            self.assertIn(stale, g)
            self.assertNotIn(stale, o)
        self.assertEqual(o["title"], g["title"])
        # fix: time_coverage_* from the real bounds, ISO 8601 with Z
        self.assertEqual(g["time_coverage_start"], "2017-06-05T00:00:00.000000000")
        self.assertEqual(o["time_coverage_start"], "2017-06-05T00:00:00Z")
        self.assertEqual(o["time_coverage_end"], "2017-06-08T00:00:00Z")
        self.assertAlmostEqual(o["geospatial_lat_max"], g["geospatial_lat_max"], places=9)
        self.assertIn("baims gen", o["history"])
        self.assertIn("20170605120000-UKMO-L4_GHRSST-SSTfnd-OSTIAanom-GLOB-v02.0-fv02.0.nc", o["source"])
        # packing attributes are gone; stale packed valid_min/valid_max are converted (xcube keeps -300/4500)
        self.assertEqual(self.golden.analysed_sst.attrs["valid_min"], -300)
        self.assertNotIn("scale_factor", self.ours.analysed_sst.attrs)
        self.assertNotIn("add_offset", self.ours.analysed_sst.attrs)

    def test_zarr_layout(self):
        z = zarr.open_consolidated(self.out, mode="r")
        a = z["analysed_sst"]
        self.assertEqual(a.chunks, (1, 176, 320))
        self.assertEqual(a.dtype, np.dtype("<f4"))
        self.assertTrue(np.isnan(a.fill_value))
        self.assertEqual(a.compressor.get_config(), {"id": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 1, "blocksize": 0})
        for c in ("lat", "lon", "lat_bnds", "lon_bnds", "time", "time_bnds"):
            self.assertEqual(z[c].chunks, z[c].shape, c)
            self.assertEqual(z[c].dtype, np.dtype("<f8"), c)
        self.assertEqual(z["time"].attrs["units"], "days since 1970-01-01")
        self.assertEqual(z["time"].attrs["calendar"], "gregorian")
        self.assertEqual(a.attrs["grid_mapping"], "crs")
        self.assertIn("_CRS", a.attrs)
        # metadata is ASCII only
        for root, _d, files in os.walk(self.out):
            for f in files:
                if f.startswith(".z"):
                    with open(os.path.join(root, f), "rb") as fh:
                        fh.read().decode("ascii")

    def test_gdal_reads_geotransform_and_crs(self):
        ds = gdal.Open(f'ZARR:"{self.out}":/analysed_sst:1')
        gt = ds.GetGeoTransform()
        expected = (-16.0, 1 / 24, 0.0, 62.666666666666664, 0.0, -1 / 24)
        for a, b in zip(gt, expected):
            self.assertAlmostEqual(a, b, places=9)
        srs = ds.GetSpatialRef()
        self.assertIsNotNone(srs)
        self.assertEqual(srs.GetAuthorityCode(None), "4326")
        arr = ds.GetRasterBand(1).ReadAsArray()
        np.testing.assert_array_equal(arr, self.ours.analysed_sst.values[1])

    def test_xarray_unconsolidated(self):
        ds = xr.open_zarr(self.out, consolidated=False)
        np.testing.assert_array_equal(ds.sst_anomaly.values, self.ours.sst_anomaly.values)
        self.assertIn("crs", ds.coords)


class Synthetic(TempDirTest):
    def make_input(self, name, lat, lon, data, t=T0, **kw):
        path = self.p(name)
        write_cf(path, lat, lon, data[None] if np.ndim(data) == 2 else data, [t], **kw)
        return path

    def test_lon_0_360_and_ascending_lat(self):
        lat = np.arange(-9.5, 10, 1.0)           # ascending, 20 rows
        lon = np.arange(0.5, 360, 1.0)           # 0..360
        rng = np.random.default_rng(1)
        data = rng.normal(size=(20, 360))
        data[3:6, 100:150] = np.nan
        inp = self.make_input("in.nc", lat, lon, data)
        region, size = [-12.0, -8.0, 12.0, 8.0], (48, 32)
        cfg = self.p("c.yml")
        write_config(cfg, region, size, self.p("c.zarr"), chunks=(10, 7))
        run(["gen", "-c", cfg, inp], check=0)
        got = xr.open_zarr(self.p("c.zarr")).v.values[0]
        exp = nearest_expected(data, lat, lon, region, size).astype("f4")
        np.testing.assert_array_equal(got, exp)
        self.assertFalse(np.isnan(got).any())

    def test_input_partly_outside_region_and_no_nan_ring(self):
        # input covers lon 0..10, lat 40..50 at 0.5 deg; output is 0.1 deg over lon -5..5, lat 35..45
        lat = np.arange(49.75, 40, -0.5)
        lon = np.arange(0.25, 10, 0.5)
        data = np.arange(20 * 20, dtype=float).reshape(20, 20)
        inp = self.make_input("in.nc", lat, lon, data)
        region, size = [-5.0, 35.0, 5.0, 45.0], (100, 100)
        cfg = self.p("c.yml")
        write_config(cfg, region, size, self.p("c.zarr"), chunks=(30, 30))
        run(["gen", "-c", cfg, inp], check=0)
        got = xr.open_zarr(self.p("c.zarr")).v.values[0]
        exp = nearest_expected(data, lat, lon, region, size).astype("f4")
        np.testing.assert_array_equal(got, exp)
        # fix: the outer half pixel of the input is filled (xcube leaves a NaN ring there)
        self.assertFalse(np.isnan(got[0:50, 50]).any())   # column at lon 0.05, inside the footprint
        self.assertTrue(np.isnan(got[:, 49]).all())        # lon -0.05 is outside
        # chunks entirely outside the input are not written
        z = zarr.open(self.p("c.zarr"), mode="r")
        files = set(os.listdir(self.p("c.zarr", "v")))
        self.assertNotIn("0.0.0", files)          # rows 0..29 = lat 45..42, cols 0..29 = lon -5..-2
        self.assertIn("0.0.2", files)
        self.assertEqual(z["v"].chunks, (1, 30, 30))

    def test_ragged_and_one_pixel_chunks(self):
        lat = np.arange(4.5, -5, -1.0)
        lon = np.arange(-4.5, 5, 1.0)
        data = np.arange(100, dtype=float).reshape(10, 10)
        data[0, 0] = np.nan
        inp = self.make_input("in.nc", lat, lon, data, packed=True)
        region, size = [-5.0, -5.0, 5.0, 5.0], (10, 10)
        for chunks in ((3, 4), (1, 1), (10, 10)):
            out = self.p(f"c{chunks[0]}x{chunks[1]}.zarr")
            cfg = self.p("c.yml")
            write_config(cfg, region, size, out, chunks=chunks)
            run(["gen", "-c", cfg, inp], check=0)
            got = xr.open_zarr(out).v.values[0]
            # packed int16: scale 0.01, offset 20 -> decoded exactly as float32(20 + 0.01 * round((x-20)/0.01))
            packed = np.round((data - 20.0) / 0.01)
            exp = (packed * 0.01 + 20.0).astype("f4")
            np.testing.assert_array_equal(got, exp)
        self.assertNotIn("0.0.0", os.listdir(self.p("c1x1.zarr", "v")))  # the single NaN pixel
        self.assertEqual(len([f for f in os.listdir(self.p("c1x1.zarr", "v")) if not f.startswith(".")]), 99)

    def test_average_mode_bilinear(self):
        lat = np.arange(7.5, 0, -1.0)     # 8 rows, descending
        lon = np.arange(0.5, 8, 1.0)      # 8 cols
        rng = np.random.default_rng(7)
        data = rng.integers(0, 3, size=(8, 8)).astype(float)
        data[0, 0] = np.nan
        inp = self.make_input("in.nc", lat, lon, data)
        region = [0.0, 0.0, 8.0, 8.0]
        # average over 2x2 blocks (NaN ignored)
        cfg = self.p("a.yml")
        write_config(cfg, region, (4, 4), self.p("a.zarr"), resampling="average")
        run(["gen", "-c", cfg, inp], check=0)
        got = xr.open_zarr(self.p("a.zarr")).v.values[0]
        exp = np.nanmean(data.reshape(4, 2, 4, 2).transpose(0, 2, 1, 3).reshape(4, 4, 4), axis=2)
        # weights 0.25 (exact), summed in double and rounded once: the float32 of numpy's mean
        np.testing.assert_array_equal(got, exp.astype("f4"))
        # mode over 2x2 blocks, ties to the smaller value
        cfg = self.p("m.yml")
        write_config(cfg, region, (4, 4), self.p("m.zarr"), resampling="mode")
        run(["gen", "-c", cfg, inp], check=0)
        got = xr.open_zarr(self.p("m.zarr")).v.values[0]
        blocks = data.reshape(4, 2, 4, 2).transpose(0, 2, 1, 3).reshape(4, 4, 4)
        for j in range(4):
            for i in range(4):
                vals = blocks[j, i][~np.isnan(blocks[j, i])]
                u, c = np.unique(vals, return_counts=True)
                self.assertEqual(got[j, i], u[np.argmax(c)], (j, i))
        # bilinear at output centres on a 16x16 grid: compare with an explicit formula
        cfg = self.p("b.yml")
        write_config(cfg, region, (16, 16), self.p("b.zarr"), resampling="bilinear")
        run(["gen", "-c", cfg, inp], check=0)
        got = xr.open_zarr(self.p("b.zarr")).v.values[0]
        # interior pixel (row 5, col 6): centre lon 3.25, lat 8 - 5.25*0.5 = 5.25
        x, y = 3.25, 5.25
        c0 = int(np.floor(x - 0.5)); wx = (x - 0.5) - c0
        r0 = int(np.floor(7.5 - y)); wy = (7.5 - y) - r0
        v = (data[r0, c0] * (1 - wx) * (1 - wy) + data[r0, c0 + 1] * wx * (1 - wy)
             + data[r0 + 1, c0] * (1 - wx) * wy + data[r0 + 1, c0 + 1] * wx * wy)
        # float32 arithmetic: within 4 ulps of the largest neighbour (2.0); whole slices of every
        # method are compared in test_gen_resampling.py
        self.assertLessEqual(abs(float(got[5, 6]) - v), 4 * np.spacing(np.float32(2.0)))

    def test_time_from_global_attributes_keeps_seconds(self):
        # two swaths of one day: xcube truncates to the date and overwrites; baims keeps both
        lat = np.arange(4.5, -5, -1.0)
        lon = np.arange(-4.5, 5, 1.0)
        paths = []
        for k, (a, b) in enumerate([("14-APR-2017 10:27:29.454657", "14-APR-2017 10:30:29.454657"),
                                    ("2017-04-14T12:07:00Z", "2017-04-14T12:10:00Z")]):
            path = self.p(f"s{k}.nc")
            import netCDF4
            with netCDF4.Dataset(path, "w") as ds:
                ds.start_date, ds.stop_date = a, b
                ds.createDimension("lat", 10)
                ds.createDimension("lon", 10)
                la = ds.createVariable("lat", "f8", ("lat",)); la.units = "degrees_north"; la[:] = lat
                lo = ds.createVariable("lon", "f8", ("lon",)); lo.units = "degrees_east"; lo[:] = lon
                v = ds.createVariable("v", "f4", ("lat", "lon")); v[:] = np.full((10, 10), k + 1.0)
            paths.append(path)
        cfg = self.p("c.yml")
        write_config(cfg, [-5, -5, 5, 5], (10, 10), self.p("c.zarr"))
        run(["gen", "-c", cfg] + paths, check=0)
        ds = xr.open_zarr(self.p("c.zarr"))
        self.assertEqual(ds.time.size, 2)
        self.assertEqual(str(ds.time.values[0])[:23], "2017-04-14T10:28:59.454")
        self.assertEqual(str(ds.time.values[1])[:19], "2017-04-14T12:08:30")
        self.assertEqual(float(ds.v.values[1, 0, 0]), 2.0)

    def test_inputs_from_glob_list_and_config(self):
        lat = np.arange(4.5, -5, -1.0)
        lon = np.arange(-4.5, 5, 1.0)
        os.makedirs(self.p("a", "b", "c"))
        paths = []
        for k, sub in enumerate(["a", "a/b", "a/b/c"]):
            path = self.p(sub, f"day{k}.nc")
            write_cf(path, lat, lon, np.full((1, 10, 10), float(k)), [T0 + dt.timedelta(days=k)])
            paths.append(path)
        cfg = self.p("c.yml")
        # ** matches any depth, including none
        write_config(cfg, [-5, -5, 5, 5], (10, 10), self.p("glob.zarr"))
        run(["gen", "-c", cfg, self.p("a", "**", "day*.nc")], check=0)
        self.assertEqual(xr.open_zarr(self.p("glob.zarr")).time.size, 3)
        # a .txt list (comments and blank lines ignored)
        lst = self.p("inputs.txt")
        with open(lst, "w") as f:
            f.write(f"# two of them\n{paths[2]}\n\n{paths[0]}\n")
        write_config(cfg, [-5, -5, 5, 5], (10, 10), self.p("list.zarr"))
        run(["gen", "-c", cfg, lst], check=0)
        ds = xr.open_zarr(self.p("list.zarr"))
        self.assertEqual(ds.time.size, 2)
        np.testing.assert_array_equal(ds.v.values[:, 0, 0], [0.0, 2.0])   # sorted by time
        # input_paths from the config when the command line has none
        write_config(cfg, [-5, -5, 5, 5], (10, 10), self.p("cfg.zarr"), extra=f"input_paths: [{paths[1]}]\n")
        run(["gen", "-c", cfg], check=0)
        self.assertEqual(float(xr.open_zarr(self.p("cfg.zarr")).v.values[0, 0, 0]), 1.0)
        p = run(["gen", "-c", cfg, self.p("nothing", "*.nc")], check=4)  # input error (issue 7)
        self.assertEqual(p.stderr.strip().splitlines()[-1],
                         f"baims gen: error: no input matches '{self.p('nothing', '*.nc')}'. "
                         "Check the pattern and the current directory")

    def test_multi_step_input_gives_one_slice_per_step(self):
        lat = np.arange(4.5, -5, -1.0)
        lon = np.arange(-4.5, 5, 1.0)
        data = np.stack([np.full((10, 10), float(k)) for k in range(3)])
        times = [T0 + dt.timedelta(days=k) for k in range(3)]
        bounds = [(t - dt.timedelta(hours=1), t + dt.timedelta(hours=1)) for t in times]
        path = self.p("m.nc")
        write_cf(path, lat, lon, data, times, bounds=bounds)
        cfg = self.p("c.yml")
        write_config(cfg, [-5, -5, 5, 5], (10, 10), self.p("c.zarr"))
        run(["gen", "-c", cfg, path], check=0)
        ds = xr.open_zarr(self.p("c.zarr"))
        self.assertEqual(ds.time.size, 3)
        z = zarr.open(self.p("c.zarr"), mode="r")
        half_ms = 0.5 / 86400000.0   # times are exact to the millisecond
        np.testing.assert_allclose(z["time"][:], [days(t) for t in times], rtol=0, atol=half_ms)
        np.testing.assert_allclose(z["time_bnds"][:], [[days(a), days(b)] for a, b in bounds],
                                   rtol=0, atol=half_ms)
        for k in range(3):
            self.assertEqual(float(ds.v.values[k, 5, 5]), float(k))


if __name__ == "__main__":
    unittest.main()
