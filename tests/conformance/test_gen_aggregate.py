"""gen with output_resampling average and mode on inputs that are resampled per pixel (projected
grids, 2-D lat/lon swaths, Sentinel-2 SAFE products), checked against an independent numpy
computation over the source cells.

The rule (docs/config.md, "Resampling"): an output pixel takes the source cells whose centres fall
inside it, x in [left, right) and y in (bottom, top] of the pixel (each source centre mapped to
lon/lat: pyproj/osr here, PROJ in baims); average is their mean, mode their most frequent value
(the smallest of the most frequent on a tie), NaN cells left out. A pixel that holds no source
centre takes the nearest-neighbour value (the nearest references of test_gen_grid_mapping and
test_gen_swath). PROJ in baims and pyproj agree far below a pixel but not to the last bit, so an
output pixel with a source centre within 1e-7 pixel of one of its edges is left out."""

import os
import shutil
import subprocess
import unittest

import numpy as np
from baimstest import lazy_module, xr  # imported on first use (xarray: pandas, dask)
netCDF4 = lazy_module("netCDF4")
pyproj = lazy_module("pyproj")
gdal = lazy_module("osgeo.gdal", then=lambda g: g.UseExceptions())
osr = lazy_module("osgeo.osr", then=lambda _: gdal.UseExceptions())

from baimstest import DATA, TempDirTest, run, write_config
from test_gen_geotiff import FIXTURES, GRAN, SAFE, warp
from test_gen_grid_mapping import reference as projected_reference
from test_gen_swath import nearest_reference as swath_nearest

OLCI = os.path.join(DATA, "olci", "O_L2_0001_SNS_2017104102450_v1.0.nc")


def aggregate(values, lon, lat, region, size, method, fallback):
    """values, lon, lat: the source cells (any shape); fallback (h, w): the nearest reference for
    pixels without a source centre. Returns the (h, w) reference and the ambiguous mask."""
    w, h = size
    values, lon, lat = (np.asarray(a, float).ravel() for a in (values, lon, lat))
    fc = (lon - region[0]) / ((region[2] - region[0]) / w)
    fr = (region[3] - lat) / ((region[3] - region[1]) / h)
    col, row = np.floor(fc), np.floor(fr)
    ok = (col >= 0) & (col < w) & (row >= 0) & (row < h)
    cell = (row[ok] * w + col[ok]).astype(np.int64)
    v = values[ok]
    edge = (np.abs(fc - np.round(fc)) < 1e-7) | (np.abs(fr - np.round(fr)) < 1e-7)
    ambiguous = np.zeros(w * h, bool)
    # both pixels on either side of the edge
    for dc in (0, -1):
        for dr in (0, -w):
            e = edge[ok] & (cell + dc + dr >= 0)
            ambiguous[(cell + dc + dr)[e]] = True
    count = np.bincount(cell, minlength=w * h)
    out = np.asarray(fallback, float).ravel().copy()
    has = count > 0
    out[has] = np.nan
    good = ~np.isnan(v)
    if method == "average":
        s = np.bincount(cell[good], weights=v[good], minlength=w * h)
        n = np.bincount(cell[good], minlength=w * h)
        out[has & (n > 0)] = (s / np.maximum(n, 1))[has & (n > 0)]
    else:
        order = np.argsort(cell[good], kind="stable")
        cs, vs = cell[good][order], v[good][order]
        for c in np.unique(cs):
            vals, counts = np.unique(vs[cs == c], return_counts=True)
            out[c] = vals[np.argmax(counts)]  # the first maximum: the smallest value on a tie
    return out.reshape(h, w), ambiguous.reshape(h, w), count.reshape(h, w)


class _Compare(TempDirTest):
    def compare(self, got, want, ambiguous, exact):
        keep = ~ambiguous
        bad = np.argwhere((np.isnan(got) != np.isnan(want)) & keep)
        self.assertEqual(len(bad), 0, f"NaN masks differ at {bad[:5]}")
        ok = keep & ~np.isnan(want)
        if exact:
            np.testing.assert_array_equal(got[ok], want[ok].astype(np.float32))
        else:
            np.testing.assert_allclose(got[ok], want[ok], rtol=1e-6)
        return int(ok.sum())

    def gen(self, inputs, region, size, resampling, extra=""):
        cfg = self.p("gen.yml")
        out = self.p("cube.zarr")
        shutil.rmtree(out, ignore_errors=True)
        write_config(cfg, region, size, out, resampling=resampling, extra=extra)
        run(["gen", "-c", cfg, "--fail-fast"] + list(inputs), check=0)
        return out


class AggregateProjected(_Compare):
    """A UTM 34N grid of 60 x 50 cells of 10 km (CF crs_wkt), random values with a NaN block, and
    classes, downsampled (about 11 centres per output pixel) and upsampled (mostly the nearest
    fallback)."""

    def write(self, path):
        x = 500000.0 + (np.arange(60) - 30) * 10000.0
        y = 6.1e6 + (25 - np.arange(50)) * 10000.0
        rng = np.random.default_rng(7)
        val = rng.uniform(0, 100, (50, 60)).astype(np.float32)
        val[10:20, 5:15] = np.nan
        yy, xx = np.meshgrid(np.arange(50), np.arange(60), indexing="ij")
        cls = ((yy // 3 + xx // 4) % 5).astype(np.float32)
        cls[30:40, 40:50] = np.nan
        with netCDF4.Dataset(path, "w") as ds:
            ds.createDimension("time", 1)
            ds.createDimension("y", 50)
            ds.createDimension("x", 60)
            t = ds.createVariable("time", "f8", ("time",))
            t.units = "days since 2000-01-01"
            t[:] = [1.0]
            for name, values, sn in (("x", x, "projection_x_coordinate"),
                                     ("y", y, "projection_y_coordinate")):
                c = ds.createVariable(name, "f8", (name,))
                c.standard_name = sn
                c.units = "m"
                c[:] = values
            gm = ds.createVariable("crs", "i4", ())
            gm.crs_wkt = pyproj.CRS("EPSG:32634").to_wkt()
            for name, a in (("val", val), ("cls", cls)):
                d = ds.createVariable(name, "f4", ("time", "y", "x"), fill_value=np.float32(-999))
                d.grid_mapping = "crs"
                d[0] = np.ma.masked_invalid(a)
        return x, y, val, cls

    def test_average_and_mode_down_and_up(self):
        path = self.p("utm.nc")
        x, y, val, cls = self.write(path)
        crs = pyproj.CRS("EPSG:32634")
        X, Y = np.meshgrid(x, y)
        lon, lat = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(X, Y)
        region = [14.0, 52.0, 28.0, 58.0]
        for size, min_centres in (((28, 20), 5), ((280, 200), 0)):
            for method in ("average", "mode"):
                with self.subTest(size=size, method=method):
                    out = self.gen([path], region, size, method)
                    with xr.open_zarr(out) as c:
                        got = {"val": c["val"].values[0], "cls": c["cls"].values[0]}
                    for name, src in (("val", val), ("cls", cls)):
                        near, amb_near = projected_reference(src.astype(float), x, y, crs, region,
                                                             size, "nearest")
                        want, amb, count = aggregate(src, lon, lat, region, size, method, near)
                        amb |= amb_near & (count == 0)
                        n = self.compare(got[name], want, amb,
                                         exact=method == "mode" or size[0] == 280)
                        self.assertGreater(n, 200 if size[0] == 28 else 20000)
                        if min_centres:
                            # downsampling: whole pixels inside the grid hold several centres
                            self.assertGreaterEqual(int(np.median(count[count > 0])), min_centres)
                        else:
                            self.assertGreater(int((count == 0).sum()), 20000)
                        self.assertGreater(int(np.isnan(want).sum()), 10)


    def test_average_and_mode_onto_a_projected_output_crs(self):
        """The same UTM grid onto EPSG:3035 pixels of 30 km: each source centre mapped into
        EPSG:3035 (pyproj) and binned there. Pixels that hold no centre take the nearest value
        in baims and are left out here (test_gen_output_crs checks nearest)."""
        path = self.p("utm.nc")
        x, y, val, cls = self.write(path)
        X, Y = np.meshgrid(x, y)
        ex, ey = pyproj.Transformer.from_crs("EPSG:32634", "EPSG:3035",
                                             always_xy=True).transform(X, Y)
        lo_x, hi_x = np.percentile(ex, [15, 85]) // 1000 * 1000
        lo_y, hi_y = np.percentile(ey, [15, 85]) // 1000 * 1000
        size = (int((hi_x - lo_x) // 30000), int((hi_y - lo_y) // 30000))
        region = [lo_x, lo_y, lo_x + size[0] * 30000.0, lo_y + size[1] * 30000.0]
        for method in ("average", "mode"):
            with self.subTest(method=method):
                out = self.gen([path], region, size, method, extra="output_crs: EPSG:3035\n")
                with xr.open_zarr(out) as c:
                    self.assertEqual(c["val"].dims, ("time", "y", "x"))
                    got = {"val": c["val"].values[0], "cls": c["cls"].values[0]}
                for name, src in (("val", val), ("cls", cls)):
                    none = np.full((size[1], size[0]), np.nan)
                    want, amb, count = aggregate(src, ex, ey, region, size, method, none)
                    amb |= count == 0
                    n = self.compare(got[name], want, amb, exact=method == "mode")
                    self.assertGreater(n, 100)
                    self.assertGreaterEqual(int(np.median(count[count > 0])), 5)


class AggregateSwath(_Compare):
    def test_olci_average_and_mode(self):
        """The real OLCI L2 swath (~300 m cells) onto 0.03 x 0.02 degree pixels: conc_chl
        averaged, the water-quality flag word WQSF's low byte as classes by mode."""
        with netCDF4.Dataset(OLCI) as ds:
            lat, lon = ds["lat"][:].filled(np.nan), ds["lon"][:].filled(np.nan)
            conc = ds["conc_chl"][:].filled(np.nan).astype("f8")
        region, size = (1.10, 52.30, 1.70, 52.66), (20, 18)
        for method in ("average", "mode"):
            with self.subTest(method=method):
                out = self.gen([OLCI], region, size, method,
                               extra="input_processor_name: curvilinear\n")
                with xr.open_zarr(out, decode_times=False) as c:
                    got = c["conc_chl"].values[0]
                near, _ = swath_nearest(conc, lat, lon, region, size)
                want, amb, count = aggregate(conc, lon, lat, region, size, method, near)
                n = self.compare(got, want, amb, exact=method == "mode")
                self.assertGreater(n, 100)
                self.assertGreater(int(np.median(count[count > 0])), 20)
                self.assertGreater(int(np.isnan(want).sum()), 10)  # beyond the swath

    def test_synthetic_swath_mode_ties_go_to_the_smaller_class(self):
        """A 2 x 2-cell checkerboard of classes 3 and 1 under 0.1-degree pixels that each hold
        exactly two centres of each: every pixel is the tie, resolved to 1."""
        h, w = 8, 8
        r, c = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
        lat = 55.0 - 0.05 * r - 0.025
        lon = 15.0 + 0.05 * c + 0.025
        cls = np.where((r + c) % 2 == 0, 3.0, 1.0)
        path = self.p("swath.nc")
        with netCDF4.Dataset(path, "w") as ds:
            ds.createDimension("y", h)
            ds.createDimension("x", w)
            ds.start_date = "14-APR-2017 10:27:29.454657"
            ds.stop_date = "14-APR-2017 10:30:29.454657"
            for name, a, units in (("lat", lat, "degrees_north"), ("lon", lon, "degrees_east")):
                v = ds.createVariable(name, "f8", ("y", "x"))
                v.units = units
                v[:] = a
            v = ds.createVariable("cls", "f4", ("y", "x"))
            v[:] = cls
        region, size = (15.0, 54.6, 15.4, 55.0), (4, 4)
        out = self.gen([path], region, size, "mode",
                       extra="input_processor_name: curvilinear\n")
        with xr.open_zarr(out, decode_times=False) as c:
            got = c["cls"].values[0]
        np.testing.assert_array_equal(got, np.ones((4, 4), np.float32))


class AggregateSentinel2(_Compare):
    def scl_case(self, variables, extra=""):
        """A synthetic SAFE product's SCL (R20m) onto pixels of about 60 m with the given
        output_variables line: (got, mode golden, ambiguous mask, counts, nearest golden)."""
        subprocess.run(["/usr/bin/python3", FIXTURES, "safe", self.tmp], check=True,
                       capture_output=True)
        safe = os.path.join(self.tmp, SAFE)
        jp2 = os.path.join(safe, GRAN, "R20m", "T33UUQ_20230601T100559_SCL_20m.jp2")
        ds = gdal.Open(jp2)
        scl = ds.GetRasterBand(1).ReadAsArray().astype(float)
        gt = ds.GetGeoTransform()
        wkt = ds.GetProjection()
        ds = None
        scl[scl == 0] = np.nan
        ny, nx = scl.shape
        X, Y = np.meshgrid(gt[0] + (np.arange(nx) + 0.5) * gt[1],
                           gt[3] + (np.arange(ny) + 0.5) * gt[5])
        s4326 = osr.SpatialReference()
        s4326.ImportFromEPSG(4326)
        s4326.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        src = osr.SpatialReference(wkt)
        src.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        pts = np.array(osr.CoordinateTransformation(src, s4326).TransformPoints(
            np.c_[X.ravel(), Y.ravel()]))
        lon, lat = pts[:, 0].reshape(X.shape), pts[:, 1].reshape(X.shape)
        # 0.00084 x 0.00054 degrees: about 60 x 60 m at 50.54 N
        region, size = [13.586, 50.532, 13.607, 50.545], (25, 24)
        cfg = self.p("gen.yml")
        out = self.p("cube.zarr")
        with open(cfg, "w") as f:
            f.write("input_processor_name: sentinel2-l2a\n"
                    "input_processor_params: {bands: [B02, SCL], resolution: 20}\n"
                    f"output_region: [{', '.join(repr(v) for v in region)}]\n"
                    f"output_size: [{size[0]}, {size[1]}]\n"
                    f"output_variables: {variables}\n"
                    f"output_path: {out}\n" + extra)
        run(["gen", "-c", cfg, "--fail-fast", os.path.join(safe, "MTD_MSIL2A.xml")], check=0)
        with xr.open_zarr(out) as c:
            got = c["SCL"].values[0]
        near = warp(jp2, self.tmp, "near.tif", src_nodata=0, region=region, size=size)
        want, amb, count = aggregate(scl, lon, lat, region, size, "mode", near)
        return got, want, amb, count, near

    def test_scl_mode_at_60m_from_20m(self):
        """SCL by mode (set in output_variables) onto pixels of about 60 m."""
        got, want, amb, count, near = self.scl_case("[{SCL: {resampling: mode}}]")
        n = self.compare(got, want, amb, exact=True)
        self.assertGreater(n, 200)
        self.assertGreaterEqual(int(np.median(count[count > 0])), 8)
        # mode is not nearest here: some pixels differ from the nearest cell's class
        self.assertGreater(int(np.sum((got != near) & ~np.isnan(near))), 10)

    def test_scl_defaults_to_mode(self):
        """SCL without a resampling of its own is resampled with mode, whatever
        output_resampling says (the same values as above)."""
        got, want, amb, count, near = self.scl_case("[SCL, B02]",
                                                    "output_resampling: bilinear\n")
        n = self.compare(got, want, amb, exact=True)
        self.assertGreater(n, 200)
        self.assertGreater(int(np.sum((got != near) & ~np.isnan(near))), 10)

    def test_scl_resampling_set_by_the_user_wins(self):
        """A resampling on the SCL entry overrides the default: nearest equals gdalwarp near."""
        got, _, _, _, near = self.scl_case("[{SCL: {resampling: nearest}}]",
                                           "output_resampling: bilinear\n")
        np.testing.assert_array_equal(np.isnan(got), np.isnan(near))
        np.testing.assert_array_equal(got[~np.isnan(near)], near[~np.isnan(near)])
        self.assertGreater(int((~np.isnan(near)).sum()), 200)


if __name__ == "__main__":
    unittest.main()
