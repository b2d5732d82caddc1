"""baims gen with output_crs on a projected CRS (EPSG:3035): cubes on dims y/x with a CF grid
mapping and GDAL's _CRS, checked against independent computations:
  - a GeoTIFF series in UTM 33N against gdalwarp onto exactly the same EPSG:3035 grid (the exact
    transformer, -et 0). nearest: equal, except output centres within 1e-6 source pixel of a source
    pixel edge (PROJ in baims and in gdalwarp agree far below a pixel, not to the last bit).
    bilinear: where the four source neighbours are valid, within 1e-4 + 0.01 x the spread of the
    four neighbours: baims keeps the weights and the sum in float32 (relative error ~1e-7 of the
    largest neighbour, < 1e-5 here) and interpolates source positions between exactly projected
    ones to within 0.01 source pixel (resample_projected.cpp), gdalwarp projects every pixel in
    double; a wrong neighbour or weight moves a value by about the spread, O(10) in this random
    field.
  - a CF lat/lon input (OSTIA) against numpy with osgeo.osr transforming the output pixel centres
    to lon/lat and taking the cell that holds them.
GDAL's Zarr driver and xarray read the cube back (EPSG:3035, geotransform, dims, grid mapping).
Appending a time step, CRS/grid mismatches and invalid CRS strings are checked with their exact
one-line errors and exit codes (docs/exit-codes.md).
"""

import datetime as dt
import os
import shutil
import unittest

import numpy as np
from baimstest import lazy_module, xr  # imported on first use (xarray: pandas, dask)
netCDF4 = lazy_module("netCDF4")
gdal = lazy_module("osgeo.gdal", then=lambda g: g.UseExceptions())
osr = lazy_module("osgeo.osr", then=lambda _: gdal.UseExceptions())
pyproj = lazy_module("pyproj")

from baimstest import DATA, TempDirTest, cube_differences, cube_files, run, snapshot, write_cf
from test_gen_geotiff import write_series


RES = 80.0
OSTIA = os.path.join(DATA, "ostia", "20170606120000-UKMO-L4_GHRSST-SSTfnd-OSTIAanom-GLOB-v02.0-fv02.0.nc")


def srs(text):
    s = osr.SpatialReference()
    s.SetFromUserInput(text)
    s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return s


def transform(src, dst, x, y):
    t = osr.CoordinateTransformation(srs(src), srs(dst))
    p = np.array(t.TransformPoints(np.c_[np.ravel(x), np.ravel(y)]))
    return p[:, 0].reshape(np.shape(x)), p[:, 1].reshape(np.shape(y))


def utm_tile_region(crs="EPSG:3035"):
    """An EPSG:3035 (or `crs`) region around the UTM 33N tile of write_series (400000..404000 E,
    5594000..5600000 N), on whole multiples of 400 m with a margin (pixels outside the tile)."""
    ex = np.r_[np.linspace(400000, 404000, 41), np.full(61, 404000), np.linspace(404000, 400000, 41),
               np.full(61, 400000)]
    ny = np.r_[np.full(41, 5600000), np.linspace(5600000, 5594000, 61), np.full(41, 5594000),
               np.linspace(5594000, 5600000, 61)]
    x, y = transform("EPSG:32633", crs, ex, ny)
    return [np.floor(x.min() / 400) * 400 - 400, np.floor(y.min() / 400) * 400 - 400,
            np.ceil(x.max() / 400) * 400 + 400, np.ceil(y.max() / 400) * 400 + 400]


def centres(region, res):
    w = int(round((region[2] - region[0]) / res))
    h = int(round((region[3] - region[1]) / res))
    x = region[0] + (np.arange(w) + 0.5) * res
    y = region[3] - (np.arange(h) + 0.5) * res
    return np.meshgrid(x, y)


def warp(src, out, region, method, crs="EPSG:3035"):
    w = int(round((region[2] - region[0]) / RES))
    h = int(round((region[3] - region[1]) / RES))
    gdal.Warp(out, src, dstSRS=crs, outputBounds=region, width=w, height=h,
              resampleAlg=method, dstNodata=np.nan, outputType=gdal.GDT_Float32, errorThreshold=0)
    ds = gdal.Open(out)
    a = ds.GetRasterBand(1).ReadAsArray()
    ds = None
    return a


def utm_source_position(region, crs="EPSG:3035"):
    """Fractional column/row in the UTM tile (100 m cells from 400000 E, 5600000 N) of every
    output pixel centre."""
    x, y = centres(region, RES)
    ux, uy = transform(crs, "EPSG:32633", x, y)
    return (ux - 400000) / 100, (5600000 - uy) / 100


class _Gen(TempDirTest):
    def config(self, name, region, crs="EPSG:3035", processor="geotiff", extra="", res=RES):
        cfg = self.p(name)
        params = '{time_pattern: "%Y%m%d", bands: [chl]}' if processor == "geotiff" else "{}"
        with open(cfg, "w") as f:
            f.write(f"input_processor_name: {processor}\n"
                    f"input_processor_params: {params}\n"
                    f"output_region: [{', '.join(repr(float(v)) for v in region)}]\n"
                    f"output_resolution: {res}\n"
                    f"output_crs: '{crs}'\n"
                    f"output_path: {self.p('cube.zarr')}\n" + extra)
        return cfg


class GenOutputCrsGeoTiff(_Gen):
    def test_utm_series_into_3035_equals_gdalwarp_nearest(self):
        paths = write_series(self.tmp)
        region = utm_tile_region()
        run(["gen", "-c", self.config("gen.yml", region)] + paths, check=0)
        out = self.p("cube.zarr")
        fx, fy = utm_source_position(region)
        amb = (np.abs(fx - np.round(fx)) < 1e-6) | (np.abs(fy - np.round(fy)) < 1e-6)
        with xr.open_zarr(out) as cube:
            self.assertEqual(cube.chl.dims, ("time", "y", "x"))
            for k, p in enumerate(paths):
                ref = warp(p, self.p(f"ref{k}.tif"), region, "near")
                got = cube.chl.isel(time=k).values
                self.assertEqual(got.shape, ref.shape)
                ok = ~amb
                np.testing.assert_array_equal(np.isnan(got[ok]), np.isnan(ref[ok]))
                np.testing.assert_array_equal(got[ok], ref[ok])
                self.assertGreater(int(np.isnan(ref).sum()), 500)  # the margin and nodata
                self.assertGreater(int((~np.isnan(ref)).sum()), 3000)

    def test_bilinear_equals_gdalwarp_where_neighbours_are_valid(self):
        paths = write_series(self.tmp)[:1]
        region = utm_tile_region()
        run(["gen", "-c", self.config("gen.yml", region, extra="output_resampling: bilinear\n")]
            + paths, check=0)
        ref = warp(paths[0], self.p("ref.tif"), region, "bilinear")
        with xr.open_zarr(self.p("cube.zarr")) as cube:
            got = cube.chl.isel(time=0).values
        ds = gdal.Open(paths[0])
        src = ds.GetRasterBand(1).ReadAsArray()
        ds = None
        valid = src != -1
        fx, fy = utm_source_position(region)
        c0 = np.floor(fx - 0.5).astype(int)
        r0 = np.floor(fy - 0.5).astype(int)
        inside = (c0 >= 0) & (c0 + 1 < 40) & (r0 >= 0) & (r0 + 1 < 60)
        c, r = np.clip(c0, 0, 38), np.clip(r0, 0, 58)
        four = inside & valid[r, c] & valid[r, c + 1] & valid[r + 1, c] & valid[r + 1, c + 1]
        self.assertGreater(int(four.sum()), 1500)
        self.assertFalse(np.isnan(got[four]).any())
        # baims maps output centres exactly at every 16th pixel and interpolates the source
        # position in between to within 0.01 source pixel (resample_projected.cpp, MAX_ERROR):
        # a value may then move by 0.01 of the spread of its four neighbours
        n4 = np.stack([src[r, c], src[r, c + 1], src[r + 1, c], src[r + 1, c + 1]])
        spread = (n4.max(axis=0) - n4.min(axis=0))[four]
        diff = np.abs(got[four].astype("f8") - ref[four])
        self.assertTrue((diff <= 1e-4 + 0.01 * spread).all(), diff.max())
        self.assertLess(float(np.median(diff)), 1e-4)
        # outside the source footprint (beyond its outer half pixel) nothing
        outside = (fx < -0.01) | (fx > 40.01) | (fy < -0.01) | (fy > 60.01)
        self.assertTrue(np.isnan(got[outside]).all())
        self.assertGreater(int(outside.sum()), 300)

    def test_gdal_and_xarray_read_the_grid_mapping(self):
        paths = write_series(self.tmp)[:1]
        region = utm_tile_region()
        run(["gen", "-c", self.config("gen.yml", region)] + paths, check=0)
        out = self.p("cube.zarr")
        ds = gdal.OpenEx(f'ZARR:"{out}":/chl', gdal.OF_MULTIDIM_RASTER)
        arr = ds.GetRootGroup().OpenMDArray("chl")
        self.assertEqual(arr.GetSpatialRef().GetAuthorityCode(None), "3035")
        ds = None
        r = gdal.Open(f'ZARR:"{out}":/chl:0')
        self.assertEqual(r.GetSpatialRef().GetAuthorityCode(None), "3035")
        w = int(round((region[2] - region[0]) / RES))
        h = int(round((region[3] - region[1]) / RES))
        self.assertEqual((r.RasterXSize, r.RasterYSize), (w, h))
        np.testing.assert_allclose(r.GetGeoTransform(), (region[0], RES, 0, region[3], 0, -RES),
                                   rtol=0, atol=1e-6)
        r = None
        with xr.open_zarr(out) as cube:
            self.assertEqual(dict(cube.chl.sizes), {"time": 1, "y": h, "x": w})
            self.assertEqual(cube.chl.attrs["grid_mapping"], "crs")
            gm = cube[cube.chl.attrs["grid_mapping"]].attrs
            self.assertEqual(gm["grid_mapping_name"], "lambert_azimuthal_equal_area")
            self.assertEqual(gm["longitude_of_projection_origin"], 10.0)
            self.assertEqual(gm["latitude_of_projection_origin"], 52.0)
            self.assertEqual(gm["false_easting"], 4321000.0)
            self.assertEqual(gm["false_northing"], 3210000.0)
            self.assertEqual(srs(gm["crs_wkt"]).GetAuthorityCode(None), "3035")
            self.assertEqual(gm["spatial_ref"], gm["crs_wkt"])
            self.assertEqual(cube.x.attrs["standard_name"], "projection_x_coordinate")
            self.assertEqual(cube.y.attrs["standard_name"], "projection_y_coordinate")
            self.assertEqual(cube.x.attrs["units"], "m")
            np.testing.assert_array_equal(cube.x.values, region[0] + (np.arange(w) + 0.5) * RES)
            np.testing.assert_array_equal(cube.y.values, region[3] - (np.arange(h) + 0.5) * RES)
            np.testing.assert_array_equal(cube.x_bnds.values[:, 0], region[0] + np.arange(w) * RES)
            np.testing.assert_array_equal(cube.y_bnds.values[:, 1], region[3] - np.arange(1, h + 1) * RES)
            self.assertNotIn("lat", cube.variables)
            # ACDD box in degrees around the grid (the tile is near 13.6 E, 50.5 N)
            self.assertLess(abs(cube.attrs["geospatial_lon_min"] - 13.6), 0.2)
            self.assertLess(abs(cube.attrs["geospatial_lat_max"] - 50.55), 0.2)

    def test_append_then_mismatches_are_refused(self):
        paths = write_series(self.tmp)
        region = utm_tile_region()
        cfg = self.config("gen.yml", region)
        run(["gen", "-c", cfg, paths[0]], check=0)
        run(["gen", "-c", cfg, paths[1]], check=0)
        out = self.p("cube.zarr")
        with xr.open_zarr(out) as cube:
            self.assertEqual(cube.chl.shape[0], 2)
            for k in range(2):
                ref = warp(paths[k], self.p(f"ref{k}.tif"), region, "near")
                got = cube.chl.isel(time=k).values
                both = ~np.isnan(ref) & ~np.isnan(got)
                self.assertGreater(float(np.mean(got[both] == ref[both])), 0.999)
        before = snapshot(out)
        # another projected CRS
        r = run(["gen", "-c", self.config("utm.yml", region, crs="EPSG:32633"), paths[2]], check=5)
        self.assertEqual(
            r.stderr.strip().splitlines()[-1],
            f"baims gen: error: cube '{out}' is in EPSG:3035 (ETRS89-extended / LAEA Europe); "
            "the config asks for EPSG:32633 (WGS 84 / UTM zone 33N). Use the cube's output_crs, "
            "or another output_path")
        # lat/lon
        r = run(["gen", "-c", self.config("ll.yml", [13.5, 50.4, 13.7, 50.6], crs="EPSG:4326", res=0.01),
                 paths[2]], check=5)
        self.assertEqual(
            r.stderr.strip().splitlines()[-1],
            f"baims gen: error: cube '{out}' is in EPSG:3035 (ETRS89-extended / LAEA Europe); "
            "the config asks for EPSG:4326 (lat/lon). Use the cube's output_crs, or another "
            "output_path")
        # same CRS, other grid
        shifted = [region[0] + 400, region[1], region[2] + 400, region[3]]
        r = run(["gen", "-c", self.config("shift.yml", shifted), paths[2]], check=5)
        self.assertIn("has grid", r.stderr.strip().splitlines()[-1])
        self.assertEqual(snapshot(out), before)
        # a lat/lon cube refuses a projected config
        ll = self.p("ll.zarr")
        cfg = self.config("ll2.yml", [13.5, 50.4, 13.7, 50.6], crs="EPSG:4326", res=0.01)
        run(["gen", "-c", cfg, "-o", ll, paths[0]], check=0)
        before = snapshot(ll)
        r = run(["gen", "-c", self.config("p2.yml", region), "-o", ll, paths[1]], check=5)
        self.assertEqual(
            r.stderr.strip().splitlines()[-1],
            f"baims gen: error: cube '{ll}' is in EPSG:4326 (lat/lon); the config asks for "
            "EPSG:3035 (ETRS89-extended / LAEA Europe). Use the cube's output_crs, or another "
            "output_path")
        self.assertEqual(snapshot(ll), before)

    def test_invalid_crs_is_a_config_error(self):
        paths = write_series(self.tmp)[:1]
        region = utm_tile_region()
        for crs, what, hint in [
                ("EPSG:999999", "'EPSG:999999' is not a CRS GDAL/PROJ know",
                 "Give an EPSG code such as EPSG:3035, or a WKT or PROJ definition"),
                ("notacrs", "'notacrs' is not a CRS GDAL/PROJ know",
                 "Give an EPSG code such as EPSG:3035, or a WKT or PROJ definition"),
                ("EPSG:4258", "'EPSG:4258' is a geographic CRS other than WGS 84 (ETRS89)",
                 "Use EPSG:4326 for a lat/lon cube, or a projected CRS")]:
            cfg = self.config("bad.yml", region, crs=crs)
            r = run(["gen", "-c", cfg] + paths, check=3)
            self.assertEqual(r.stderr.strip().splitlines(),
                             [f"baims gen: error: {cfg}:5:13: output_crs: {what}. {hint}"])
            self.assertFalse(os.path.exists(self.p("cube.zarr")))

    def test_coordinate_names_of_the_projected_cube_are_refused(self):
        paths = write_series(self.tmp)[:1]
        region = utm_tile_region()
        for name in ("x", "y", "x_bnds", "y_bnds", "crs"):
            cfg = self.config("bad.yml", region, extra=f"output_variables: [{{chl: {name}}}]\n")
            r = run(["gen", "-c", cfg] + paths, check=3)
            self.assertEqual(r.stderr.strip().splitlines(), [
                f"baims gen: error: {cfg}:7:26: output_variables[0].chl: '{name}' is a coordinate "
                "of the projected cube (time, time_bnds, y, y_bnds, x, x_bnds, crs) and cannot "
                "name a data variable. Choose another output name"])
            self.assertFalse(os.path.exists(self.p("cube.zarr")))

    def test_crs_without_an_epsg_code(self):
        """A custom LAEA PROJ string as output_crs: GDAL reads the same CRS back (no authority
        code), the geotransform is exact, and nearest equals gdalwarp onto the same grid."""
        crs = "+proj=laea +lat_0=50.5 +lon_0=13.5 +x_0=1000 +y_0=2000 +datum=WGS84 +units=m +no_defs"
        paths = write_series(self.tmp)[:2]
        region = utm_tile_region(crs)
        run(["gen", "-c", self.config("gen.yml", region, crs=crs)] + paths, check=0)
        out = self.p("cube.zarr")
        r = gdal.Open(f'ZARR:"{out}":/chl:0')
        self.assertIsNone(r.GetSpatialRef().GetAuthorityCode(None))
        self.assertTrue(r.GetSpatialRef().IsSame(
            srs(crs), ["IGNORE_DATA_AXIS_TO_SRS_AXIS_MAPPING=YES", "CRITERION=EQUIVALENT"]))
        self.assertEqual(r.GetSpatialRef().ExportToProj4(), crs)
        w = int(round((region[2] - region[0]) / RES))
        h = int(round((region[3] - region[1]) / RES))
        self.assertEqual((r.RasterXSize, r.RasterYSize), (w, h))
        np.testing.assert_allclose(r.GetGeoTransform(), (region[0], RES, 0, region[3], 0, -RES),
                                   rtol=0, atol=1e-6)
        r = None
        fx, fy = utm_source_position(region, crs)
        amb = (np.abs(fx - np.round(fx)) < 1e-6) | (np.abs(fy - np.round(fy)) < 1e-6)
        with xr.open_zarr(out) as cube:
            gm = cube[cube.chl.attrs["grid_mapping"]].attrs
            self.assertEqual(gm["grid_mapping_name"], "lambert_azimuthal_equal_area")
            self.assertEqual(gm["latitude_of_projection_origin"], 50.5)
            self.assertEqual(gm["longitude_of_projection_origin"], 13.5)
            for k, p in enumerate(paths):
                ref = warp(p, self.p(f"ref{k}.tif"), region, "near", crs)
                got = cube.chl.isel(time=k).values
                ok = ~amb
                np.testing.assert_array_equal(got[ok], ref[ok])
                self.assertGreater(int((~np.isnan(ref)).sum()), 3000)

    def test_partitions_equal_one_process(self):
        """--partition K/N + --finalize on a projected cube equals one process, file for file."""
        paths = write_series(self.tmp)[:2]
        region = utm_tile_region()
        extra = "output_writer_params: {chunksizes: {y: 16, x: 16}}\n"
        one = self.p("cube.zarr")
        run(["gen", "-c", self.config("gen.yml", region, extra=extra)] + paths, check=0)
        cfg = self.config("parts.yml", region, extra=extra)
        with open(cfg) as f:
            text = f.read().replace(one, self.p("parts.zarr"))
        with open(cfg, "w") as f:
            f.write(text)
        for k in (1, 2, 3):
            run(["--threads", "1", "gen", "-c", cfg, "--partition", f"{k}/3"] + paths, check=0)
        self.assertFalse(os.path.exists(self.p("parts.zarr")))
        run(["gen", "-c", cfg, "--finalize"] + paths, check=0)
        self.assertEqual(cube_files(self.p("parts.zarr")), cube_files(one))
        self.assertEqual(cube_differences(self.p("parts.zarr"), one), [])
        with xr.open_zarr(one) as a, xr.open_zarr(self.p("parts.zarr")) as b:
            self.assertEqual(a.chl.dims, ("time", "y", "x"))
            self.assertGreater(a.chl.shape[1] * a.chl.shape[2], 16 * 16 * 3)
            np.testing.assert_array_equal(a.chl.values, b.chl.values)

    def test_optimise_and_prune_keep_the_projected_cube(self):
        paths = write_series(self.tmp)[:2]
        region = utm_tile_region()
        run(["gen", "-c", self.config("gen.yml", region, extra="output_writer_params: {chunksizes: {y: 32, x: 32}}\n")]
            + paths, check=0)
        out = self.p("cube.zarr")
        with xr.open_zarr(out) as cube:
            ref = cube.chl.values
            self.assertEqual(cube.chl.encoding["chunks"], (1, 32, 32))
        opt = self.p("opt.zarr")
        run(["optimise", out, "-o", opt, "--chunks", "time=2,y=64,x=64"], check=0)
        run(["prune", opt], check=0)
        with xr.open_zarr(opt) as cube:
            self.assertEqual(cube.chl.dims, ("time", "y", "x"))
            self.assertEqual(cube.chl.encoding["chunks"], (2, 64, 64))
            np.testing.assert_array_equal(cube.chl.values, ref)
            self.assertEqual(cube.crs.attrs["grid_mapping_name"], "lambert_azimuthal_equal_area")
        r = gdal.Open(f'ZARR:"{opt}":/chl:0')
        self.assertEqual(r.GetSpatialRef().GetAuthorityCode(None), "3035")
        r = None
        # tiles: a pyramid on y/x whose coarser levels have the centres of 2x2 pixels; PNG
        # tiles are refused with one line
        levels = self.p("t.levels")
        run(["tiles", out, "-o", levels], check=0)
        with xr.open_zarr(os.path.join(levels, "1.zarr")) as l1, xr.open_zarr(out) as l0:
            self.assertEqual(l1.chl.dims, ("time", "y", "x"))
            n = l0.x.size // 2
            np.testing.assert_allclose(l1.x.values[:n], (l0.x.values[0:2 * n:2] + l0.x.values[1:2 * n:2]) / 2)
            self.assertEqual(l1.chl.attrs["grid_mapping"], "crs")
            self.assertIn("crs_wkt", l1.crs.attrs)
        r = run(["tiles", out, "-o", self.p("png"), "--png", "viridis"], check=2)
        self.assertEqual(r.stderr.strip().splitlines(), [
            f"baims tiles: error: --png needs a cube on (lat, lon); '{out}' is on (y, x). Build "
            "the PNG tiles from a geographic (lat/lon) cube"])


class GenOutputCrsLatLon(_Gen):
    def test_ostia_into_3035_equals_numpy_and_osr(self):
        # the Baltic in EPSG:3035, 5 km pixels: output centres mapped to lon/lat by osr, the
        # OSTIA cell holding them (0.05 degree cells) taken
        region = [4500000.0, 3400000.0, 5200000.0, 4300000.0]
        res = 5000.0
        cfg = self.p("gen.yml")
        with open(cfg, "w") as f:
            f.write(f"output_region: [{', '.join(repr(v) for v in region)}]\n"
                    f"output_resolution: {res}\n"
                    "output_crs: EPSG:3035\n"
                    "output_variables: [analysed_sst]\n"
                    f"output_path: {self.p('cube.zarr')}\n")
        run(["gen", "-c", cfg, OSTIA], check=0)
        with netCDF4.Dataset(OSTIA) as ds:
            v = ds["analysed_sst"]
            v.set_auto_maskandscale(False)
            raw = v[0].astype("f8")
            src = raw * float(str(v.scale_factor)) + float(str(v.add_offset))
            src[raw == v._FillValue] = np.nan
            src = src.astype("f4")
            lat = ds["lat"][:].astype("f8")
            lon = ds["lon"][:].astype("f8")
        x, y = centres(region, res)
        lo, la = transform("EPSG:3035", "EPSG:4326", x, y)
        # regular axes: cell edges halfway between centres
        dlon = (lon[-1] - lon[0]) / (len(lon) - 1)
        dlat = (lat[-1] - lat[0]) / (len(lat) - 1)
        fi = (lo - (lon[0] - dlon / 2)) / dlon
        fj = (la - (lat[0] - dlat / 2)) / dlat
        i = np.floor(fi).astype(int)
        j = np.floor(fj).astype(int)
        ref = src[np.clip(j, 0, len(lat) - 1), np.clip(i, 0, len(lon) - 1)]
        amb = (np.abs(fi - np.round(fi)) < 1e-6) | (np.abs(fj - np.round(fj)) < 1e-6)
        with xr.open_zarr(self.p("cube.zarr")) as cube:
            self.assertEqual(cube.analysed_sst.dims, ("time", "y", "x"))
            got = cube.analysed_sst.isel(time=0).values
        self.assertEqual(got.shape, (180, 140))
        ok = ~amb
        np.testing.assert_array_equal(np.isnan(got[ok]), np.isnan(ref[ok]))
        np.testing.assert_array_equal(got[ok], ref[ok])
        self.assertGreater(int(np.isnan(ref).sum()), 1000)  # land
        self.assertGreater(int((~np.isnan(ref)).sum()), 5000)  # sea


class GenOutputCrsSwath(_Gen):
    def test_olci_swath_into_3035_equals_nearest_projected_cell(self):
        # The swath's cell centres projected into EPSG:3035 by osr; inside the footprint (the
        # polygon through the outermost projected centres) the cell whose projected centre is
        # nearest (brute force), outside nothing (baims: quads rasterised in EPSG:3035, the
        # nearest among the 4x4 cells around the quad).
        from test_gen_swath import OLCI, boundary, inside
        with netCDF4.Dataset(OLCI) as ds:
            lat, lon = ds["lat"][:].filled(np.nan), ds["lon"][:].filled(np.nan)
            conc = ds["conc_chl"][:].filled(np.nan).astype("f8")
        sx, sy = transform("EPSG:4326", "EPSG:3035", lon, lat)
        x0, y0 = transform("EPSG:4326", "EPSG:3035", np.array([1.10, 1.70]), np.array([52.30, 52.67]))
        res = 400.0
        region = [np.floor(x0.min() / res) * res, np.floor(y0.min() / res) * res,
                  np.ceil(x0.max() / res) * res, np.ceil(y0.max() / res) * res]
        cfg = self.config("gen.yml", region, processor="curvilinear", res=res)
        run(["gen", "-c", cfg, OLCI], check=0)
        with xr.open_zarr(self.p("cube.zarr"), decode_times=False) as c:
            got = c["conc_chl"].values[0]
        X, Y = centres(region, res)
        ins = inside(boundary(sy, sx), X, Y)
        exp = np.full(X.shape, np.nan)
        fx, fy, fv = sx.ravel(), sy.ravel(), conc.ravel()
        for (r, c) in np.argwhere(ins):
            exp[r, c] = fv[np.argmin((fx - X[r, c]) ** 2 + (fy - Y[r, c]) ** 2)]
        self.assertEqual(got.shape, X.shape)
        same = (got == exp.astype("f4")) | (np.isnan(got) & np.isnan(exp))
        self.assertTrue(same.all(), f"{np.count_nonzero(~same)} pixels differ, first "
                        f"{np.argwhere(~same)[:5].tolist()}")
        self.assertTrue(np.isnan(got[~ins]).all())
        self.assertGreater(int(np.count_nonzero(~np.isnan(got))), 1000)
        self.assertGreater(int(np.count_nonzero(~ins)), 100)


def seam_field(lon, lat):
    """A smooth field, periodic in longitude, steep across 180 degrees (about 0.5 per 0.5 degree
    column there): a value clamped to the last or first column instead of interpolated across the
    seam is off by up to half a column step."""
    r, p = np.radians(lon), np.radians(lat)
    return (10 + 5 * np.sin(r) + 20 * np.cos(3 * r) * np.cos(p) + 8 * np.sin(7 * r) * np.cos(p)
            + 3 * np.sin(2 * p))


class GenOutputCrsGlobalSeam(_Gen):
    """A global regular lat/lon input (0.5 degree cells) onto projected grids that take pixels
    on both sides of its longitude seam: a north polar stereographic grid (EPSG:3413), LAEAs
    centred on 180 and on 0 degrees. Bilinear interpolates between the last and the first longitude column
    like between any other pair when the input covers the whole circle (-180..180 and 0..360
    conventions), and clamps to the edge column as before when it does not. Reference: pyproj
    maps the output centres to lon/lat; numpy interpolates on the input with longitude wrapping
    (regular axes: the column is (lon - lon0) / 0.5 mod 720); latitudes beyond the first/last
    centre are clamped to it (baims's rule in the outer half pixel). Average and mode take the
    source cells inside a pixel (pyproj maps the source centres onto the grid) and the nearest cell,
    across the seam, in a pixel that holds none."""

    LAT = np.arange(-89.75, 90, 0.5)
    GRIDS = {"EPSG:3413": ([-1000000.0, -1000000.0, 1000000.0, 1000000.0], 5000.0),
             "+proj=laea +lat_0=0 +lon_0=180 +datum=WGS84 +units=m +no_defs":
                 ([-1990000.0, -2000000.0, 2010000.0, 2000000.0], 20000.0),
             "+proj=laea +lat_0=0 +lon_0=0 +datum=WGS84 +units=m +no_defs":
                 ([-1990000.0, -2000000.0, 2010000.0, 2000000.0], 20000.0)}

    def gen(self, lon, crs, method):
        lat = self.LAT
        lo, la = np.meshgrid(lon, lat)
        nc = self.p("global.nc")
        write_cf(nc, lat, lon, seam_field(lo, la)[None], [dt.datetime(2020, 1, 1)])
        region, res = self.GRIDS[crs]
        shutil.rmtree(self.p("cube.zarr"), ignore_errors=True)
        cfg = self.config("gen.yml", region, crs=crs, processor="default", res=res,
                          extra=f"output_variables: [v]\noutput_resampling: {method}\n")
        run(["gen", "-c", cfg, nc], check=0)
        with xr.open_zarr(self.p("cube.zarr"), decode_times=False) as c:
            got = c["v"].values[0]
        src = seam_field(lo, la).astype("f4").astype("f8")
        x, y = centres(region, res)
        t = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        plon, plat = t.transform(x, y)
        self.assertEqual(got.shape, x.shape)
        return got, src, plon, plat

    def reference(self, lon, src, plon, plat, method, wrap):
        n = len(lon)
        fj = np.clip((plat - self.LAT[0]) / 0.5, 0, len(self.LAT) - 1)
        fi = (plon - lon[0]) / 0.5
        if wrap:
            fi = np.mod(fi, 360 / 0.5)
        if method == "nearest":
            fi, fj = fi + 0.5, (plat - self.LAT[0]) / 0.5 + 0.5
            amb = (np.abs(fi - np.round(fi)) < 1e-6) | (np.abs(fj - np.round(fj)) < 1e-6)
            i = np.floor(fi).astype(int) % n if wrap else np.floor(fi).astype(int)
            j = np.clip(np.floor(fj).astype(int), 0, len(self.LAT) - 1)
            out = (not wrap) & ((i < 0) | (i >= n))
            ref = src[j, np.clip(i, 0, n - 1)]
            ref[out] = np.nan
            return ref, np.zeros_like(ref), amb
        if not wrap:
            # the footprint ends half a column beyond the edge centres; clamped inside it
            out = (fi < -0.5) | (fi >= n - 0.5)
            fi = np.clip(fi, 0, n - 1)
        i0 = np.floor(fi).astype(int)
        wx = fi - i0
        i0 = np.minimum(i0, n - 1)
        i1 = (i0 + 1) % n if wrap else np.minimum(i0 + 1, n - 1)
        j0 = np.floor(fj).astype(int)
        wy = fj - j0
        j1 = np.minimum(j0 + 1, len(self.LAT) - 1)
        v = [src[j0, i0], src[j0, i1], src[j1, i0], src[j1, i1]]
        ref = ((1 - wy) * ((1 - wx) * v[0] + wx * v[1]) + wy * ((1 - wx) * v[2] + wx * v[3]))
        spread = np.max(v, axis=0) - np.min(v, axis=0)
        if not wrap:
            ref[out] = np.nan
        return ref, spread, np.zeros(ref.shape, bool)

    def check(self, lon, crs, method, wrap=True):
        got, src, plon, plat = self.gen(lon, crs, method)
        ref, spread, amb = self.reference(lon, src, plon, plat, method, wrap)
        # output pixels whose source longitude lies between the last and the first centre
        gap = 360 - (lon[-1] - lon[0])
        seam = np.mod(plon - lon[-1], 360) < gap
        ok = ~amb
        np.testing.assert_array_equal(np.isnan(got[ok]), np.isnan(ref[ok]))
        valid = ok & ~np.isnan(ref)
        # positions interpolated to 0.01 source pixel (resample_projected.cpp), float32 sums
        err = np.abs(got[valid] - ref[valid]) - (1e-4 + 0.02 * spread[valid])
        self.assertTrue((err <= 0).all(), f"{int((err > 0).sum())} pixels off, worst "
                        f"{float(err.max())} at {np.argwhere(valid)[np.argmax(err)].tolist()}")
        return got, ref, seam

    def check_global(self, method):
        for crs in self.GRIDS:
            for lon in (np.arange(-179.75, 180, 0.5), np.arange(0.25, 360, 0.5)):
                with self.subTest(crs=crs, lon0=lon[0]):
                    got, ref, seam = self.check(lon, crs, method)
                    self.assertFalse(np.isnan(got[seam]).any())
                    # the seam of -180..180 is at 180, that of 0..360 at 0: a LAEA centred on
                    # the other meridian has none
                    far = ("lon_0=180" in crs and lon[0] > 0) or ("lon_0=0 " in crs and lon[0] < 0)
                    self.assertEqual(int(seam.sum()) > 100, not far, int(seam.sum()))

    def test_bilinear_interpolates_across_the_seam(self):
        self.check_global("bilinear")

    def test_nearest_takes_the_cell_across_the_seam(self):
        self.check_global("nearest")

    def check_cells(self, method):
        # Average / mode: the mean (mode: the smallest of the most frequent, here the smallest,
        # since the field's values differ) of the source cells whose centres fall inside the
        # output pixel (x in [left, right), y in (bottom, top]); a pixel that holds none takes the
        # nearest cell, across the seam like nearest does. Pixels with a source centre within
        # 1e-6 of a pixel edge, or with an ambiguous nearest cell, are left out.
        for crs in self.GRIDS:
            for lon in (np.arange(-179.75, 180, 0.5), np.arange(0.25, 360, 0.5)):
                with self.subTest(crs=crs, lon0=lon[0]):
                    got, src, plon, plat = self.gen(lon, crs, method)
                    ref, _, amb = self.reference(lon, src, plon, plat, "nearest", True)
                    region, res = self.GRIDS[crs]
                    lo, la = np.meshgrid(lon, self.LAT)
                    t = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
                    x, y = t.transform(lo.ravel(), la.ravel())
                    fc = (x - region[0]) / res
                    fr = (region[3] - y) / res
                    col = np.floor(fc).astype(int)
                    row = np.ceil(fr).astype(int) - 1  # y in (bottom, top]
                    h, w = got.shape
                    inside = (col >= 0) & (col < w) & (row >= 0) & (row < h) & np.isfinite(x)
                    edge = (np.abs(fc - np.round(fc)) < 1e-6) | (np.abs(fr - np.round(fr)) < 1e-6)
                    k = row[inside] * w + col[inside]
                    vals = src.ravel()[inside]
                    n = np.bincount(k, minlength=h * w).reshape(h, w)
                    near = np.zeros(h * w, bool)
                    near[k[edge[inside]]] = True
                    if method == "average":
                        cells = (np.bincount(k, vals, minlength=h * w).reshape(h, w)
                                 / np.maximum(n, 1))
                    else:
                        cells = np.full(h * w, np.inf)
                        np.minimum.at(cells, k, vals)
                        cells = cells.reshape(h, w)
                    want = np.where(n > 0, cells, ref)
                    ok = ~near.reshape(h, w) & ~((n == 0) & amb)
                    np.testing.assert_array_equal(np.isnan(got[ok]), np.isnan(want[ok]))
                    valid = ok & ~np.isnan(want)
                    np.testing.assert_allclose(got[valid], want[valid], rtol=1e-6, atol=1e-6)
                    self.assertGreater(int((n > 0).sum()), 100)
                    gap = 360 - (lon[-1] - lon[0])
                    seam = np.mod(plon - lon[-1], 360) < gap
                    self.assertFalse(np.isnan(got[seam]).any(), int(np.isnan(got[seam]).sum()))

    def test_average_fills_pixels_across_the_seam(self):
        self.check_cells("average")

    def test_mode_fills_pixels_across_the_seam(self):
        self.check_cells("mode")

    def test_bilinear_of_an_input_short_of_the_circle_does_not_wrap(self):
        # -180..179.5: the last column left out; longitudes in [179.5, 180) are outside (NaN),
        # those in [-180, -179.75) take the first column (clamped)
        lon = np.arange(-179.75, 179.5, 0.5)
        got, ref, seam = self.check(lon, "+proj=laea +lat_0=0 +lon_0=180 +datum=WGS84 +units=m "
                                    "+no_defs", "bilinear", wrap=False)
        self.assertGreater(int(seam.sum()), 100)
        self.assertGreater(int(np.isnan(got).sum()), 100)


if __name__ == "__main__":
    unittest.main()
