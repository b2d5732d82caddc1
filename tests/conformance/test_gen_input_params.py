"""gen: input kinds mixed in one cube (docs/config.md "Mixed input kinds"), input_processor_params
in the recipe (a changed xy_names recomputes) and in --print-config, and a config error found by a
reader (an unknown time_pattern field) exiting with the config code 3 (docs/exit-codes.md)."""

import datetime as dt
import os
import unittest

import numpy as np
from baimstest import lazy_module, xr  # imported on first use (xarray: pandas, dask)
netCDF4 = lazy_module("netCDF4")
gdal = lazy_module("osgeo.gdal", then=lambda g: g.UseExceptions())
osr = lazy_module("osgeo.osr", then=lambda _: gdal.UseExceptions())

from baimstest import TempDirTest, run, write_cf


# A 0.1-degree grid of 20 x 10 pixels; the inputs below sit exactly on it.
REGION = [10.0, 54.0, 12.0, 55.0]
LAT = 55.0 - 0.05 - 0.1 * np.arange(10)
LON = 10.0 + 0.05 + 0.1 * np.arange(20)
BASE = ("output_region: [10.0, 54.0, 12.0, 55.0]\n"
        "output_size: [20, 10]\n")


def write_tif(path, values):
    ds = gdal.GetDriverByName("GTiff").Create(path, 20, 10, 1, gdal.GDT_Float32)
    ds.SetGeoTransform((10.0, 0.1, 0, 55.0, 0, -0.1))
    s = osr.SpatialReference()
    s.ImportFromEPSG(4326)
    ds.SetProjection(s.ExportToWkt())
    b = ds.GetRasterBand(1)
    b.WriteArray(values)
    b.SetNoDataValue(-1)
    ds = None


class MixedKinds(TempDirTest):
    def test_geotiff_appended_to_a_cf_cube(self):
        """One input kind per run; a cube may hold time steps of several kinds, made by runs with
        different input_processor_name, when the variable names and grid agree."""
        rng = np.random.default_rng(11)
        a = rng.uniform(0, 10, (1, 10, 20))
        write_cf(self.p("a.nc"), LAT, LON, a, [dt.datetime(2023, 6, 1, 12)], name="chl")
        b = rng.uniform(0, 10, (10, 20)).astype(np.float32)
        b[2, 3] = -1  # nodata
        write_tif(self.p("chl_20230602.tif"), b)
        out = self.p("c.zarr")
        with open(self.p("cf.yml"), "w") as f:
            f.write(BASE + f"output_path: {out}\n")
        with open(self.p("tif.yml"), "w") as f:
            f.write(BASE + f"output_path: {out}\ninput_processor_name: geotiff\n"
                    "input_processor_params: {time_pattern: '%Y%m%d', bands: [chl]}\n")
        run(["gen", "-c", self.p("cf.yml"), self.p("a.nc")], check=0)
        run(["gen", "-c", self.p("tif.yml"), self.p("chl_20230602.tif")], check=0)
        with xr.open_zarr(out) as c:
            self.assertEqual([str(t)[:10] for t in c.time.values.astype("datetime64[D]")],
                             ["2023-06-01", "2023-06-02"])
            np.testing.assert_array_equal(c.chl.values[0], a[0].astype(np.float32))
            want = b.copy()
            want[2, 3] = np.nan
            np.testing.assert_array_equal(c.chl.values[1], want)
        # each run finds its own time step up to date
        p = run(["gen", "-c", self.p("cf.yml"), self.p("a.nc")], check=0)
        self.assertIn("up to date", p.stdout + p.stderr)
        p = run(["gen", "-c", self.p("tif.yml"), self.p("chl_20230602.tif")], check=0)
        self.assertIn("up to date", p.stdout + p.stderr)

    def test_a_geotiff_given_to_the_cf_processor_is_a_bad_input(self):
        """Mixing kinds in one run: the one input_processor_name reads every input; a file of
        another kind is a bad input (skipped, exit 8)."""
        write_cf(self.p("a.nc"), LAT, LON, np.ones((1, 10, 20)), [dt.datetime(2023, 6, 1, 12)],
                 name="chl")
        tif = self.p("chl_20230602.tif")
        write_tif(tif, np.ones((10, 20), np.float32))
        with open(self.p("cf.yml"), "w") as f:
            f.write(BASE + f"output_path: {self.p('c.zarr')}\n")
        p = run(["gen", "-c", self.p("cf.yml"), self.p("a.nc"), tif], check=8)
        self.assertIn(f"skipping input: cannot read '{tif}'", p.stderr)
        with xr.open_zarr(self.p("c.zarr")) as c:
            self.assertEqual(c.sizes["time"], 1)


def write_swath(path, shift):
    """A 12 x 24 swath with two pairs of 2-D coordinates: lon/lat and lon2/lat2 (shifted by
    `shift` degrees of longitude)."""
    r, c = np.meshgrid(np.arange(12), np.arange(24), indexing="ij")
    lat = 54.99 - 0.08 * r  # 54.99 .. 54.11
    lon = 10.01 + 0.08 * c  # 10.01 .. 11.85
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("y", 12)
        ds.createDimension("x", 24)
        ds.start_date = "01-JUN-2023 10:00:00.000000"
        ds.stop_date = "01-JUN-2023 10:03:00.000000"
        for name, a in (("lat", lat), ("lon", lon), ("lat2", lat), ("lon2", lon + shift)):
            v = ds.createVariable(name, "f8", ("y", "x"))
            v.units = "degrees_north" if name.startswith("lat") else "degrees_east"
            v[:] = a
        ds.createVariable("v", "f4", ("y", "x"))[:] = (r * 100 + c).astype(np.float32)


class InputParams(TempDirTest):
    def test_changed_xy_names_recompute(self):
        write_swath(self.p("s.nc"), 0.5)
        out = self.p("c.zarr")

        def config(xy):
            with open(self.p("g.yml"), "w") as f:
                f.write(BASE + f"output_path: {out}\ninput_processor_name: curvilinear\n"
                        f"input_processor_params: {{xy_names: [{xy[0]}, {xy[1]}]}}\n")
        config(("lon", "lat"))
        p = run(["--print-config", "gen", "-c", self.p("g.yml")], check=0)
        self.assertIn("xy_names: [lon, lat]", p.stdout)
        run(["gen", "-c", self.p("g.yml"), self.p("s.nc")], check=0)
        with xr.open_zarr(out, decode_times=False) as c:
            first = c.v.values[0]
        p = run(["gen", "-c", self.p("g.yml"), self.p("s.nc")], check=0)
        self.assertIn("up to date", p.stdout + p.stderr)
        config(("lon2", "lat2"))
        p = run(["gen", "-c", self.p("g.yml"), self.p("s.nc")], check=0)
        self.assertIn("1 replaced", p.stdout + p.stderr)
        with xr.open_zarr(out, decode_times=False) as c:
            second = c.v.values[0]
        # lon2 = lon + 0.5: the footprint starts at 10.51 E instead of 10.01 E, so the pixel
        # centres 10.05 .. 10.45 E (columns 0-4) are outside it; rows 0-8 (54.95 .. 54.15 N) are
        # inside both
        self.assertFalse(np.isnan(first[:9, 0]).any())
        self.assertTrue(np.isnan(second[:, :5]).all())
        self.assertFalse(np.isnan(second[:9, 5:]).any())

    def test_unknown_time_pattern_field_is_a_config_error(self):
        """Found by the GeoTIFF reader when it opens the first input: exit 3, not 4 (every input
        would fail the same way), with or without --fail-fast."""
        tif = self.p("chl_20230602.tif")
        write_tif(tif, np.ones((10, 20), np.float32))
        with open(self.p("g.yml"), "w") as f:
            f.write(BASE + f"output_path: {self.p('c.zarr')}\ninput_processor_name: geotiff\n"
                    "input_processor_params: {time_pattern: '%Y%q'}\n")
        for flags in ([], ["--fail-fast"]):
            p = run(["gen", "-c", self.p("g.yml")] + flags + [tif], check=3)
            self.assertEqual(
                p.stderr.strip().splitlines()[-1],
                f"baims gen: error: input {tif}: input_processor_params.time_pattern '%Y%q': "
                "unknown field %q. Use %Y %m %d %H %M %S %j (and %% for '%')")
            self.assertFalse(os.path.exists(self.p("c.zarr")))


if __name__ == "__main__":
    unittest.main()
