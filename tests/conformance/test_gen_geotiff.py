"""baims gen on GeoTIFF and Sentinel-2 L2A inputs (input_processor_name geotiff, sentinel2-l2a),
compared pixel by pixel with GDAL's own warp of the same files onto the same lat/lon grid
(gdalwarp -r near -te ... -ts ...: output pixel centres transformed into the source CRS and the
source cell holding them taken, as baims does). PROJ in baims and in gdalwarp agree far below a
pixel but not to the last bit, so output pixels whose centre falls within 1e-6 of a source pixel
edge are left out; every other pixel must be equal, NaN where GDAL gives no data.
"""

import json
import os
import shutil
import subprocess
import unittest

import numpy as np
from baimstest import lazy_module, xr  # imported on first use (xarray: pandas, dask)
zarr = lazy_module("zarr")
gdal = lazy_module("osgeo.gdal", then=lambda g: g.UseExceptions())
osr = lazy_module("osgeo.osr", then=lambda _: gdal.UseExceptions())

from baimstest import WIDE_FLAG_CONFIG, WIDE_FLAG_WORDS, TempDirTest, check_wide_flags, run


DATES = ["20230601", "20230602", "20230603"]
REGION = [13.595, 50.482, 13.635, 50.530]  # inside the UTM 33N tile below
SIZE = (32, 40)


def utm(epsg=32633):
    s = osr.SpatialReference()
    s.ImportFromEPSG(epsg)
    return s.ExportToWkt()


def write_series(d):
    rng = np.random.default_rng(3)
    paths = []
    for k, date in enumerate(DATES):
        p = os.path.join(d, f"chl_{date}.tif")
        ds = gdal.GetDriverByName("GTiff").Create(p, 40, 60, 1, gdal.GDT_Float32)
        ds.SetGeoTransform((400000, 100, 0, 5600000, 0, -100))
        ds.SetProjection(utm())
        a = rng.uniform(0, 50, (60, 40)).astype(np.float32) + k
        a[(np.arange(60)[:, None] + 3 * np.arange(40)[None, :]) % 17 == 0] = -1
        b = ds.GetRasterBand(1)
        b.WriteArray(a)
        b.SetNoDataValue(-1)
        ds = None
        paths.append(p)
    return paths


def warp(src, d, name, src_nodata=None, region=None, size=None):
    """gdalwarp onto the cube's grid, with the exact transformer (-et 0)."""
    out = os.path.join(d, name)
    size = size or SIZE
    gdal.Warp(out, src, dstSRS="EPSG:4326", outputBounds=region or REGION, width=size[0], height=size[1],
              resampleAlg="near", srcNodata=src_nodata, dstNodata=np.nan,
              outputType=gdal.GDT_Float32, errorThreshold=0)
    ds = gdal.Open(out)
    a = ds.GetRasterBand(1).ReadAsArray()
    ds = None
    return a


def ambiguous():
    """Output pixels whose centre lies within 1e-6 source pixel of a source pixel edge."""
    o = osr
    w, h = SIZE
    lon = REGION[0] + (np.arange(w) + 0.5) * (REGION[2] - REGION[0]) / w
    lat = REGION[3] - (np.arange(h) + 0.5) * (REGION[3] - REGION[1]) / h
    lon, lat = np.meshgrid(lon, lat)
    s4326 = o.SpatialReference()
    s4326.ImportFromEPSG(4326)
    s4326.SetAxisMappingStrategy(o.OAMS_TRADITIONAL_GIS_ORDER)
    t = o.CoordinateTransformation(s4326, o.SpatialReference(utm()))
    pts = np.array(t.TransformPoints(np.c_[lon.ravel(), lat.ravel()]))
    fx = (pts[:, 0] - 400000) / 100
    fy = (5600000 - pts[:, 1]) / 100
    amb = (np.abs(fx - np.round(fx)) < 1e-6) | (np.abs(fy - np.round(fy)) < 1e-6)
    return amb.reshape(h, w)


class _Gen(TempDirTest):
    def gen(self, inputs, params, extra="", check=0, processor="geotiff", fail_fast=False,
            region=None):
        cfg = self.p("gen.yml")
        out = self.p("cube.zarr")
        with open(cfg, "w") as f:
            f.write(f"input_processor_name: {processor}\n"
                    f"input_processor_params: {params}\n"
                    f"output_region: [{', '.join(repr(x) for x in region or REGION)}]\n"
                    f"output_size: [{SIZE[0]}, {SIZE[1]}]\n"
                    f"output_path: {out}\n" + extra)
        flags = ["--fail-fast"] if fail_fast else []
        return run(["gen", "-c", cfg] + flags + list(inputs), check=check), out


class GenGeoTiff(_Gen):
    def test_utm_series_into_latlon_equals_gdalwarp(self):
        paths = write_series(self.tmp)
        _, out = self.gen(paths, '{time_pattern: "%Y%m%d", bands: [chl]}')
        cube = xr.open_zarr(out)
        self.assertEqual([str(t)[:10] for t in cube.time.values.astype("datetime64[D]")],
                         ["2023-06-01", "2023-06-02", "2023-06-03"])
        amb = ambiguous()
        for k, p in enumerate(paths):
            ref = warp(p, self.tmp, f"ref{k}.tif")
            got = cube.chl.isel(time=k).values
            self.assertEqual(got.shape, ref.shape)
            ok = ~amb
            np.testing.assert_array_equal(np.isnan(got[ok]), np.isnan(ref[ok]))
            np.testing.assert_array_equal(got[ok], ref[ok])
            self.assertGreater(int(np.isnan(ref).sum()), 0)
            self.assertGreater(int((~np.isnan(ref)).sum()), 1000)
        cube.close()

    def test_time_pattern_not_matching_is_one_line(self):
        paths = write_series(self.tmp)
        r, _ = self.gen(paths[:1], '{time_pattern: "%Y-%m-%d"}', check=4, fail_fast=True)
        self.assertEqual(
            r.stderr.strip().splitlines()[-1],
            f"baims gen: error: input {paths[0]}: {paths[0]}: the file name does not match "
            "time_pattern '%Y-%m-%d'. Fix input_processor_params.time_pattern or the file name")


def write_flag_tiff(path, gtype, bands, nodata=None, options=()):
    """A geographic WGS 84 GeoTIFF on the cube's grid (SIZE pixels of 0.25 deg from 0 E, 10 N:
    FLAG_REGION, each output pixel centre is a source pixel centre), bands = [(name, words,
    flag metadata items)], every band of GDAL type gtype with nodata (exact, 64-bit too);
    options: GDAL creation options."""
    w, h = SIZE
    ds = gdal.GetDriverByName("GTiff").Create(path, w, h, len(bands), gtype, options=list(options))
    ds.SetGeoTransform((0.0, 0.25, 0, 10.0, 0, -0.25))
    s = osr.SpatialReference()
    s.ImportFromEPSG(4326)
    ds.SetProjection(s.ExportToWkt())
    ds.SetMetadataItem("TIFFTAG_DATETIME", "2023:06:01 10:00:00")
    for k, (name, words, meta) in enumerate(bands):
        b = ds.GetRasterBand(k + 1)
        b.SetDescription(name)
        b.WriteArray(words)
        for key, value in meta.items():
            b.SetMetadataItem(key, value)
        if nodata is not None:
            if gtype == gdal.GDT_UInt64:
                b.SetNoDataValueAsUInt64(nodata)
            elif gtype == gdal.GDT_Int64:
                b.SetNoDataValueAsInt64(nodata)
            else:
                b.SetNoDataValue(nodata)
    ds = None


FLAG_REGION = [0.0, 0.0, 8.0, 10.0]


class GenGeoTiffFlags(_Gen):
    """CF flag tests over integer GeoTIFF bands (flag_meanings / flag_masks / flag_values band
    metadata, as gdal_translate writes them from NetCDF) read the stored integers exactly: a
    float32 keeps 24 significant bits and a double 53, so (1 << 31) | 1 or (1 << 63) | 1 would
    lose bit 0, and a 64-bit word next to the nodata value would count as nodata. numpy's bitwise
    operations on the words written are the reference."""

    def run_flags(self, path, extra):
        r, out = self.gen([path], "{}", region=FLAG_REGION, fail_fast=True, extra=extra)
        self.assertNotIn("float32 values", r.stderr)
        return zarr.open(out, "r")

    def test_uint32_flag_band(self):
        rng = np.random.default_rng(5)
        h, w = SIZE[1], SIZE[0]
        q = WIDE_FLAG_WORDS[rng.integers(0, len(WIDE_FLAG_WORDS), (h, w))]
        chl = rng.integers(1, 1000, (h, w)).astype(np.uint32)
        write_flag_tiff(self.p("f.tif"), gdal.GDT_UInt32,
                        [("qf", q, {"flag_meanings": "Low Two High Top",
                                    "flag_masks": "{1,2,33554432,2147483648}"}),
                         ("chl", chl, {})])
        check_wide_flags(self, self.run_flags(self.p("f.tif"), WIDE_FLAG_CONFIG), q, chl, 100)

    def test_uint64_flag_band_with_nodata(self):
        rng = np.random.default_rng(11)
        fill = (1 << 63) | (1 << 54) | 1
        pool = np.array([0, 1, 1 << 5, 1 << 10, fill, (1 << 63) | (1 << 54), (1 << 63) | 1,
                         (1 << 63) | (1 << 5) | 1, (1 << 54) | 1, (1 << 60) | (1 << 10),
                         (1 << 63) | (1 << 62) | (1 << 10) | (1 << 5), (1 << 62) | 1],
                        dtype=np.uint64)
        h, w = SIZE[1], SIZE[0]
        q = pool[rng.integers(0, len(pool), (h, w))]
        chl = rng.integers(1, 1000, (h, w)).astype(np.uint64)
        masks = [1, 1 << 5, 1 << 10] + [1 << k for k in range(54, 64)]
        write_flag_tiff(self.p("f.tif"), gdal.GDT_UInt64,
                        [("qf", q, {"flag_meanings": " ".join(
                            ["B0", "B5", "B10"] + [f"B{k}" for k in range(54, 64)]),
                                    "flag_masks": "{" + ",".join(map(str, masks)) + "}"}),
                         ("chl", chl, {})], nodata=fill)
        z = self.run_flags(self.p("f.tif"),
                           "processed_variables:\n"
                           "  - b0: {expression: 'qf.B0'}\n"
                           "  - b10_not63: {expression: 'qf.B10 and not qf.B63'}\n"
                           "  - nodata: {expression: 'isnan(qf)'}\n"
                           "output_variables:\n"
                           "  - b0\n"
                           "  - b10_not63\n"
                           "  - nodata\n"
                           "  - chl: {valid_pixel_expression: 'qf.B63 && qf.B0'}\n")
        valid = q != np.uint64(fill)

        def bit(k):
            return valid & ((q & (np.uint64(1) << np.uint64(k))) != 0)

        np.testing.assert_array_equal(z["b0"][0], bit(0).astype(np.float32))
        np.testing.assert_array_equal(z["b10_not63"][0], (bit(10) & ~bit(63)).astype(np.float32))
        # the values (read()) are NaN at the nodata words only, not at their float neighbours
        np.testing.assert_array_equal(z["nodata"][0], (~valid).astype(np.float32))
        keep = bit(63) & bit(0)
        np.testing.assert_array_equal(z["chl"][0], np.where(keep, chl, np.nan).astype(np.float32))
        # the cases a double gets wrong: bit 0 under bit 63, words next to the nodata value
        self.assertGreater(int(keep.sum()), 50)
        self.assertGreater(int((q == np.uint64((1 << 63) | (1 << 54))).sum()), 50)
        self.assertGreater(int((~valid).sum()), 50)

    def test_int64_flag_band_negative_masks(self):
        rng = np.random.default_rng(12)
        pool = np.array([0, 1, -(1 << 63), -(1 << 63) | 1, (1 << 62) | 1,
                         -(1 << 63) | (1 << 62) | 1, -1, -2], dtype=np.int64)
        h, w = SIZE[1], SIZE[0]
        q = pool[rng.integers(0, len(pool), (h, w))]
        write_flag_tiff(self.p("f.tif"), gdal.GDT_Int64,
                        [("qs", q, {"flag_meanings": "Top Pair",
                                    "flag_masks": f"{{{-(1 << 63)},{(1 << 62) | 1}}}",
                                    "flag_values": f"{{{-(1 << 63)},1}}"})], nodata=-1)
        z = self.run_flags(self.p("f.tif"),
                           "processed_variables:\n"
                           "  - top: {expression: 'qs.Top'}\n"
                           "  - pair: {expression: 'qs.Pair'}\n"
                           "output_variables: [top, pair]\n")
        valid = q != -1
        u = q.view(np.uint64)
        top = valid & ((u & np.uint64(1 << 63)) == np.uint64(1 << 63))
        pair = valid & ((u & np.uint64((1 << 62) | 1)) == np.uint64(1))
        np.testing.assert_array_equal(z["top"][0], top.astype(np.float32))
        np.testing.assert_array_equal(z["pair"][0], pair.astype(np.float32))
        self.assertGreater(int(pair.sum()), 50)
        self.assertGreater(int((q == (-(1 << 63) | 1)).sum()), 50)  # Pair lost through a double


FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration",
                        "gdal_input", "make_fixtures.py")
SAFE = "S2B_MSIL2A_20230601T100559_N0509_R022_T33UUQ_20230601T131500.SAFE"
GRAN = "GRANULE/L2A_T33UUQ_A032512_20230601T100559/IMG_DATA"
# The SAFE fixture covers 399960..401160 E, 5598840..5600040 N of UTM 33N
# (13.5881..13.6053 E, 50.5331..50.5437 N).
S2_REGION = [13.586, 50.532, 13.607, 50.545]  # the tile and a margin around it


class GenGeoTiffSignedByte(_Gen):
    """A Byte band with PIXELTYPE=SIGNEDBYTE (GDAL 3.6 has no Int8 type: the signed bytes are in
    the image structure metadata) reads as -128..127, its nodata (-1 or -128) as a signed byte
    too; numpy's int8 view of the bytes written is the reference (FLAG_REGION: every output pixel
    is one source pixel)."""

    def test_values_and_nodata_are_signed(self):
        rng = np.random.default_rng(8)
        h, w = SIZE[1], SIZE[0]
        sb = rng.integers(-128, 128, (h, w)).astype(np.int8)
        sb[:2, :2] = [[-128, -1], [127, 0]]
        for nodata in (-1, -128):
            with self.subTest(nodata=nodata):
                path = self.p(f"sb{-nodata}.tif")
                write_flag_tiff(path, gdal.GDT_Byte, [("sb", sb.view(np.uint8), {})],
                                nodata=nodata, options=["PIXELTYPE=SIGNEDBYTE"])
                ds = gdal.Open(path)  # what GDAL itself reports of the file
                b = ds.GetRasterBand(1)
                self.assertEqual(b.GetMetadataItem("PIXELTYPE", "IMAGE_STRUCTURE"), "SIGNEDBYTE")
                self.assertEqual(b.GetNoDataValue(), nodata)
                ds = None
                _, out = self.gen([path], "{}", region=FLAG_REGION, fail_fast=True,
                                  extra="processed_variables:\n"
                                        "  - neg: {expression: 'sb < 0'}\n"
                                        "output_variables: [sb, neg]\n")
                z = zarr.open(out, "r")
                exp = np.where(sb == nodata, np.nan, sb.astype(np.float32))
                np.testing.assert_array_equal(z["sb"][0], exp)
                # a comparison with a nodata (NaN) pixel is false, as in numpy
                neg = ((sb < 0) & (sb != nodata)).astype(np.float32)
                np.testing.assert_array_equal(z["neg"][0], neg)
                self.assertEqual(int(np.isnan(exp).sum()), int((sb == nodata).sum()))
                self.assertGreater(int((sb < 0).sum()), 300)
                shutil.rmtree(out)


class GenSentinel2(_Gen):
    def safe(self):
        subprocess.run(["/usr/bin/python3", FIXTURES, "safe", self.tmp], check=True,
                       capture_output=True)
        return os.path.join(self.tmp, SAFE)

    def test_b02_and_scl_equal_gdalwarp(self):
        safe = self.safe()
        # gen's input record takes the CRC-32 of a file: give the product's MTD_MSIL2A.xml.
        # SCL is resampled with mode unless set: nearest here, to compare with gdalwarp's near
        # (mode: test_gen_aggregate.AggregateSentinel2).
        r, out = self.gen([os.path.join(safe, "MTD_MSIL2A.xml")],
                          "{bands: [B02, SCL], resolution: 20}",
                          extra="output_variables: [B02, {SCL: {resampling: nearest}}]\n",
                          processor="sentinel2-l2a", region=S2_REGION, fail_fast=True)
        cube = xr.open_zarr(out)
        self.assertEqual(str(cube.time.values[0])[:23], "2023-06-01T10:05:59.024")
        b02 = warp(os.path.join(safe, GRAN, "R20m", "T33UUQ_20230601T100559_B02_20m.jp2"),
                   self.tmp, "b02.tif", src_nodata=0, region=S2_REGION)
        # BOA_ADD_OFFSET of B02 (band_id 1) is -1001 in the fixture.
        want = ((b02.astype(np.float64) - 1001) / 10000).astype(np.float32)
        np.testing.assert_array_equal(cube.B02.isel(time=0).values, want)
        scl = warp(os.path.join(safe, GRAN, "R20m", "T33UUQ_20230601T100559_SCL_20m.jp2"),
                   self.tmp, "scl.tif", src_nodata=0, region=S2_REGION)
        np.testing.assert_array_equal(cube.SCL.isel(time=0).values, scl)
        self.assertGreater(int(np.isnan(want).sum()), 0)
        self.assertGreater(int((~np.isnan(want)).sum()), 700)  # 794 of 1280 inside the tile
        cube.close()

    def test_product_attributes_kept_with_keep_input_attrs(self):
        safe = self.safe()
        mtd = os.path.join(safe, "MTD_MSIL2A.xml")
        import xml.etree.ElementTree as ET
        info = ET.parse(mtd).getroot().find(".//Product_Info")
        want = {"product_uri": info.findtext("PRODUCT_URI"),
                "processing_baseline": info.findtext("PROCESSING_BASELINE")}
        self.assertTrue(all(want.values()), want)
        r, out = self.gen([mtd], "{bands: [B02], resolution: 60}",
                          extra="output_metadata: {keep_input_attrs: true}\n",
                          processor="sentinel2-l2a", region=S2_REGION, fail_fast=True)
        with open(os.path.join(out, ".zattrs")) as f:
            kept = json.load(f)["input_attrs"]
        # (the input is named by its product folder, as in .baims-sources.json)
        self.assertEqual(kept, {"2023-06-01T10:05:59.024Z": {SAFE: want}})

    def test_safe_without_metadata_is_one_line(self):
        safe = self.safe()
        os.remove(os.path.join(safe, "MTD_MSIL2A.xml"))
        r, _ = self.gen([safe], "{bands: [B02]}", check=4, processor="sentinel2-l2a",
                        fail_fast=True)
        self.assertEqual(
            r.stderr.strip().splitlines()[-1],
            f"baims gen: error: input {safe}: {safe}: no MTD_MSIL2A.xml (not a Sentinel-2 L2A "
            "SAFE product). Give the .SAFE folder of an L2A product (or its MTD_MSIL2A.xml)")


    def test_resolution_not_10_20_60_is_a_config_error(self):
        r, _ = self.gen(["x.SAFE/MTD_MSIL2A.xml"], "{bands: [B02], resolution: 30}", check=3,
                        processor="sentinel2-l2a")
        self.assertEqual(
            r.stderr.strip().splitlines()[-1],
            f"baims gen: error: {self.p('gen.yml')}:2:52: input_processor_params.resolution: "
            "must be 10, 20 or 60 (metres: the R10m/R20m/R60m folder).")


if __name__ == "__main__":
    unittest.main()
