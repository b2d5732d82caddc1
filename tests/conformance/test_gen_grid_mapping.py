"""baims gen on CF inputs whose data sit on projected x/y or rotated rlon/rlat axes with a
grid_mapping variable (SPEC §2 input_processor_name default), compared pixel by pixel with an
independent computation: the grid mapping is read by pyproj (CRS.from_cf), every output pixel
centre is transformed with pyproj into the source x/y, and located on the source axes with numpy:
  nearest:  the source cell holding the point (cells between midpoints of neighbouring centres,
            the outer cells extended by half a pixel, SPEC §2 "Resampling").
  bilinear: linear between the two centres around the point on each axis, clamped to the outer
            centre in the outer half pixel; NaN neighbours drop out and the rest is renormalised.
baims builds its own PROJ string from the CF attributes (src/io/netcdf/cf_grid_mapping.cpp);
pyproj builds its CRS from the same attributes on its own. The two transforms agree to far
below a pixel, but not to the last bit: a point within 1e-6 of a pixel from a cell edge could
fall on either side, so such points (one pixel of the 250x200 real-file case, none in the
others) are left out of the
comparison; every other output pixel must be equal (nearest: exactly; bilinear: to float32
rounding, rtol 1e-5), NaN where the reference is NaN.
"""

import datetime as dt
import os
import shutil
import unittest

import numpy as np
from baimstest import lazy_module, xr  # imported on first use (xarray: pandas, dask)
netCDF4 = lazy_module("netCDF4")
pyproj = lazy_module("pyproj")

from baimstest import DATA, TempDirTest, run, write_config

LCC = os.path.join(DATA, "stars", "lcc_km.nc")


def out_centres(region, size):
    w, h = size
    xs = region[0] + (np.arange(w) + 0.5) * ((region[2] - region[0]) / w)
    ys = (region[1] + (np.arange(h) + 0.5) * ((region[3] - region[1]) / h))[::-1]
    return np.meshgrid(xs, ys)


def gm_attrs(path, var):
    with netCDF4.Dataset(path) as ds:
        gm = ds[ds[var].grid_mapping]
        return {k: gm.getncattr(k) for k in gm.ncattrs()}


def locate(c, v):
    """Uniform source axis c (storage order), points v -> fractional storage index (NaN far away)."""
    step = c[1] - c[0]
    return (v - c[0]) / step


def reference(src, x_axis, y_axis, crs, region, size, method):
    """src (ny, nx) on 1-D axes x_axis, y_axis (CRS units); returns (h, w) and the ambiguous mask."""
    lon, lat = out_centres(region, size)
    t = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = t.transform(lon, lat)
    fx = locate(np.asarray(x_axis, float), x)
    fy = locate(np.asarray(y_axis, float), y)
    nx, ny = len(x_axis), len(y_axis)
    inside = (fx >= -0.5) & (fx < nx - 0.5) & (fy >= -0.5) & (fy < ny - 0.5)
    # within 1e-6 pixel of a cell edge (nearest) or of the footprint edge (both methods)
    ambiguous = (np.abs(fx + 0.5 - np.round(fx + 0.5)) < 1e-6) | \
                (np.abs(fy + 0.5 - np.round(fy + 0.5)) < 1e-6)
    out = np.full(lon.shape, np.nan)
    if method == "nearest":
        cx = np.floor(fx + 0.5).astype(np.int64)
        cy = np.floor(fy + 0.5).astype(np.int64)
        out[inside] = src[cy[inside], cx[inside]]
        return out, ambiguous
    # bilinear, clamped in the outer half pixel
    gx = np.clip(fx, 0, nx - 1)
    gy = np.clip(fy, 0, ny - 1)
    x0 = np.clip(np.floor(gx).astype(np.int64), 0, max(nx - 2, 0))
    y0 = np.clip(np.floor(gy).astype(np.int64), 0, max(ny - 2, 0))
    wx, wy = gx - x0, gy - y0
    num = np.zeros(lon.shape)
    den = np.zeros(lon.shape)
    for dy, wyy in ((0, 1 - wy), (1, wy)):
        for dx, wxx in ((0, 1 - wx), (1, wx)):
            yy = np.clip(y0 + dy, 0, ny - 1)
            xx = np.clip(x0 + dx, 0, nx - 1)
            v = src[np.where(inside, yy, 0), np.where(inside, xx, 0)]
            w = wyy * wxx
            ok = inside & ~np.isnan(v) & (w > 0)
            num += np.where(ok, w * np.nan_to_num(v), 0)
            den += np.where(ok, w, 0)
    out[inside & (den > 0)] = (num / np.where(den > 0, den, 1))[inside & (den > 0)]
    return out, ambiguous


class GridMappings(TempDirTest):

    def gen(self, inputs, region, size, resampling="nearest", variables=None, extra="", check=0):
        cfg = self.p("gen.yml")
        out = self.p("cube.zarr")
        shutil.rmtree(out, ignore_errors=True)
        write_config(cfg, region, size, out, resampling=resampling, variables=variables,
                     extra=extra)
        return run(["gen", "-c", cfg, "--fail-fast"] + list(inputs), check=check), out

    def compare(self, got, want, ambiguous, exact):
        keep = ~ambiguous
        self.assertTrue(np.array_equal(np.isnan(got[keep]), np.isnan(want[keep])),
                        f"NaN masks differ at {np.argwhere(np.isnan(got) != np.isnan(want))[:5]}")
        ok = keep & ~np.isnan(want)
        if exact:
            np.testing.assert_array_equal(got[ok], want[ok].astype(np.float32))
        else:
            np.testing.assert_allclose(got[ok], want[ok], rtol=1e-5, atol=1e-6)
        return int(ok.sum())

    def lcc_copy(self):
        """lcc_km.nc with prcp replaced by distinct values row * 1000 + col and a NaN block
        (the file's own prcp is all 0: see its History)."""
        path = self.p("lcc_values.nc")
        shutil.copy(LCC, path)
        with netCDF4.Dataset(path, "a") as ds:
            ny, nx = ds["prcp"].shape[1:]
            v = (np.arange(ny)[:, None] * 1000 + np.arange(nx)[None, :]).astype(np.float32)
            v[100:150, 200:260] = np.nan
            ds["prcp"][0] = np.ma.masked_invalid(v)
        return path, v

    def test_lcc_km_real_file_coverage(self):
        """The real file (values 0): the cube is 0 exactly where the reference is covered."""
        region, size = [-111.0, 34.5, -101.0, 42.5], [250, 200]
        _, out = self.gen([LCC], region, size)
        got = xr.open_zarr(out)["prcp"].values[0]
        with netCDF4.Dataset(LCC) as ds:
            src = ds["prcp"][0].filled(np.nan).astype(float)
            x = ds["x"][:].astype(float) * 1000.0  # km
            y = ds["y"][:].astype(float) * 1000.0
        crs = pyproj.CRS.from_cf(gm_attrs(LCC, "prcp"))
        want, amb = reference(src, x, y, crs, region, size, "nearest")
        n = self.compare(got, want, amb, exact=True)
        self.assertGreater(n, 20000)
        self.assertGreater(int(np.isnan(want).sum()), 1000)  # the swath edge is inside the output

    def test_lcc_km_values_nearest_and_bilinear(self):
        path, v = self.lcc_copy()
        region, size = [-111.0, 34.5, -101.0, 42.5], [300, 240]
        with netCDF4.Dataset(path) as ds:
            x = ds["x"][:].astype(float) * 1000.0
            y = ds["y"][:].astype(float) * 1000.0
        crs = pyproj.CRS.from_cf(gm_attrs(path, "prcp"))
        for method in ("nearest", "bilinear"):
            with self.subTest(method=method):
                _, out = self.gen([path], region, size, resampling=method)
                got = xr.open_zarr(out)["prcp"].values[0]
                want, amb = reference(v.astype(float), x, y, crs, region, size, method)
                n = self.compare(got, want, amb, exact=method == "nearest")
                self.assertGreater(n, 30000)

    def rotated_file(self, path, gm_name="rotated_latitude_longitude", with_gm=True):
        """A EURO-CORDEX-like rotated-pole grid with an extra length-1 height dimension."""
        rlon = np.arange(-12.0, 12.0001, 0.5)
        rlat = np.arange(10.0, -10.0001, -0.4)  # descending
        yy, xx = np.meshgrid(rlat, rlon, indexing="ij")
        v = (20 + 5 * np.sin(xx / 3.0) + 3 * np.cos(yy / 4.0)).astype(np.float32)
        v[5:9, 30:36] = np.nan
        with netCDF4.Dataset(path, "w") as ds:
            ds.createDimension("time", None)
            ds.createDimension("height", 1)
            ds.createDimension("rlat", len(rlat))
            ds.createDimension("rlon", len(rlon))
            t = ds.createVariable("time", "f8", ("time",))
            t.units = "days since 2000-01-01"
            t.standard_name = "time"
            t[:] = [100.5]
            h = ds.createVariable("height", "f8", ("height",))
            h.units = "m"
            h[:] = [2.0]
            a = ds.createVariable("rlat", "f8", ("rlat",))
            a.standard_name = "grid_latitude"
            a.units = "degrees"
            a[:] = rlat
            b = ds.createVariable("rlon", "f8", ("rlon",))
            b.standard_name = "grid_longitude"
            b.units = "degrees"
            b[:] = rlon
            if with_gm:
                gm = ds.createVariable("rotated_pole", "c", ())
                gm.grid_mapping_name = gm_name
                gm.grid_north_pole_latitude = 39.25
                gm.grid_north_pole_longitude = -162.0
            tas = ds.createVariable("tas", "f4", ("time", "height", "rlat", "rlon"),
                                    fill_value=np.float32(1e20))
            tas.grid_mapping = "rotated_pole"
            tas.units = "K"
            tas[0, 0] = np.ma.masked_invalid(v)
        return rlon, rlat, v

    def test_rotated_pole_nearest_and_bilinear(self):
        path = self.p("rotated.nc")
        rlon, rlat, v = self.rotated_file(path)
        crs = pyproj.CRS.from_cf({"grid_mapping_name": "rotated_latitude_longitude",
                                  "grid_north_pole_latitude": 39.25,
                                  "grid_north_pole_longitude": -162.0})
        region, size = [-2.0, 40.0, 30.0, 62.0], [160, 110]
        for method in ("nearest", "bilinear"):
            with self.subTest(method=method):
                _, out = self.gen([path], region, size, resampling=method)
                got = xr.open_zarr(out)["tas"].values[0]
                want, amb = reference(v.astype(float), rlon, rlat, crs, region, size, method)
                n = self.compare(got, want, amb, exact=method == "nearest")
                self.assertGreater(n, 5000)
                self.assertGreater(int(np.isnan(want).sum()), 100)

    def projected_file(self, path, attrs, x, y, units="m", scale=1.0):
        """A small grid of 1-D x/y (ascending x, descending y) with the grid mapping `attrs`."""
        yy, xx = np.meshgrid(np.arange(len(y)), np.arange(len(x)), indexing="ij")
        v = (yy * 1000 + xx).astype(np.float32)
        with netCDF4.Dataset(path, "w") as ds:
            ds.createDimension("time", 1)
            ds.createDimension("y", len(y))
            ds.createDimension("x", len(x))
            t = ds.createVariable("time", "f8", ("time",))
            t.units = "days since 2000-01-01"
            t[:] = [1.0]
            for name, values, sn in (("x", x, "projection_x_coordinate"),
                                     ("y", y, "projection_y_coordinate")):
                c = ds.createVariable(name, "f8", (name,))
                c.standard_name = sn
                c.units = units
                c[:] = np.asarray(values) / scale
            gm = ds.createVariable("crs", "i4", ())
            for k, a in attrs.items():
                gm.setncattr(k, a)
            d = ds.createVariable("v", "f4", ("time", "y", "x"))
            d.grid_mapping = "crs"
            d[0] = v
        return v

    def test_other_grid_mappings(self):
        """Each CF grid mapping (and a WKT-only one) against pyproj's reading of the same
        attributes: nearest, every output pixel."""
        cases = [
            ("polar_stereographic", {"grid_mapping_name": "polar_stereographic",
                                     "straight_vertical_longitude_from_pole": 10.0,
                                     "latitude_of_projection_origin": 90.0,
                                     "standard_parallel": 70.0,
                                     "false_easting": 0.0, "false_northing": 0.0},
             (5.0, 55.0, 25.0, 66.0), (0.0, -3.3e6)),
            ("transverse_mercator", {"grid_mapping_name": "transverse_mercator",
                                     "longitude_of_central_meridian": 21.0,
                                     "latitude_of_projection_origin": 0.0,
                                     "scale_factor_at_central_meridian": 0.9996,
                                     "false_easting": 500000.0, "false_northing": 0.0},
             (14.0, 54.0, 28.0, 61.0), (500000.0, 6.4e6)),
            ("albers_conical_equal_area", {"grid_mapping_name": "albers_conical_equal_area",
                                           "standard_parallel": [50.0, 70.0],
                                           "longitude_of_central_meridian": 15.0,
                                           "latitude_of_projection_origin": 55.0,
                                           "semi_major_axis": 6378137.0,
                                           "inverse_flattening": 298.257222101},
             (8.0, 52.0, 22.0, 60.0), (0.0, 0.0)),
            ("lambert_azimuthal_equal_area", {"grid_mapping_name": "lambert_azimuthal_equal_area",
                                              "longitude_of_projection_origin": 10.0,
                                              "latitude_of_projection_origin": 52.0,
                                              "false_easting": 4321000.0,
                                              "false_northing": 3210000.0,
                                              "semi_major_axis": 6378137.0,
                                              "inverse_flattening": 298.257222101},
             (3.0, 47.0, 17.0, 57.0), (4321000.0, 3210000.0)),
            ("crs_wkt (UTM 34N)", {"crs_wkt": pyproj.CRS("EPSG:32634").to_wkt()},
             (14.0, 52.0, 28.0, 58.0), (500000.0, 6.1e6)),
        ]
        for name, attrs, region, centre in cases:
            with self.subTest(grid_mapping=name):
                path = self.p("proj.nc")
                # 60 x 50 cells of 10 km around the centre; km units for one case
                x = centre[0] + (np.arange(60) - 30) * 10000.0
                y = centre[1] + (25 - np.arange(50)) * 10000.0
                km = name == "albers_conical_equal_area"
                v = self.projected_file(path, attrs, x, y, units="km" if km else "m",
                                        scale=1000.0 if km else 1.0)
                crs = pyproj.CRS.from_cf(attrs) if "crs_wkt" not in attrs else \
                    pyproj.CRS(attrs["crs_wkt"])
                size = (90, 70)
                _, out = self.gen([path], list(region), size)
                got = xr.open_zarr(out)["v"].values[0]
                want, amb = reference(v.astype(float), x, y, crs, region, size, "nearest")
                n = self.compare(got, want, amb, exact=True)
                self.assertGreater(n, 500)
                self.assertGreater(int(np.isnan(want).sum()), 100)

    def test_bad_grid_mappings(self):
        missing = self.p("missing.nc")
        self.rotated_file(missing, with_gm=False)
        p, _ = self.gen([missing], [0, 40, 20, 60], [20, 20], check=4)
        self.assertEqual(p.stderr.strip().splitlines()[-1],
                         f"baims gen: error: input {missing}: cannot read '{missing}': variable "
                         "'tas' names the grid mapping 'rotated_pole', which is not in the file. "
                         "Add the grid mapping variable or fix the grid_mapping attribute")
        unknown = self.p("unknown.nc")
        self.rotated_file(unknown, gm_name="rotated_latitude_longitud")
        p, _ = self.gen([unknown], [0, 40, 20, 60], [20, 20], check=4)
        self.assertEqual(p.stderr.strip().splitlines()[-1],
                         f"baims gen: error: input {unknown}: cannot read '{unknown}': grid "
                         "mapping 'rotated_pole' has grid_mapping_name 'rotated_latitude_longitud' "
                         "(did you mean 'rotated_latitude_longitude'?) and no crs_wkt or spatial_ref. "
                         "Known "
                         "grid mappings: rotated_latitude_longitude, lambert_conformal_conic, "
                         "polar_stereographic, transverse_mercator, albers_conical_equal_area, "
                         "lambert_azimuthal_equal_area")
        # without --fail-fast: skipped, reported, exit 8 when another input is good (LCC, on a
        # region it covers: one it misses would make a cube without data, exit 4)
        self.skipped_beside_lcc(unknown)

    def skipped_beside_lcc(self, bad):
        cfg = self.p("lcc.yml")
        write_config(cfg, [-111.0, 34.5, -101.0, 42.5], [25, 20], self.p("lcc.zarr"))
        p = run(["gen", "-c", cfg, bad, LCC], check=8)
        with xr.open_zarr(self.p("lcc.zarr"), decode_times=False) as c:
            self.assertEqual(c.sizes["time"], 1)
            self.assertGreater(int(np.count_nonzero(~np.isnan(c["prcp"].values))), 200)
        return p

    def test_crs_proj_cannot_map(self):
        # An engineering (local) CRS in crs_wkt: PROJ parses it but has no transformation from
        # longitude/latitude to it (proj_create_crs_to_crs fails without an error number; this
        # crashed with a null string before).
        wkt = ('ENGCRS["plant floor",EDATUM["plant"],CS[Cartesian,2],'
               'AXIS["x",east,ORDER[1],LENGTHUNIT["metre",1]],'
               'AXIS["y",north,ORDER[2],LENGTHUNIT["metre",1]]]')
        path = self.p("engineering.nc")
        self.projected_file(path, {"crs_wkt": wkt}, np.arange(30) * 1000.0, np.arange(20) * 1000.0)
        p, _ = self.gen([path], [0, 40, 20, 60], [20, 20], check=4)
        self.assertEqual(p.stderr.strip().splitlines()[-1],
                         f"baims gen: error: input {path}: cannot read '{path}': grid mapping "
                         f"crs: PROJ cannot map longitude/latitude to the CRS '{wkt}'. "
                         "Check the grid mapping of the input")
        # without --fail-fast: skipped, reported, exit 8 when another input is good
        p = self.skipped_beside_lcc(path)
        self.assertIn(f"PROJ cannot map longitude/latitude to the CRS '{wkt}'", p.stderr)


if __name__ == "__main__":
    unittest.main()
