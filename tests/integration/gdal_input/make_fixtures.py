#!/usr/bin/python3
"""Fixtures for test_gdal_input: small GeoTIFFs and a synthetic Sentinel-2 L2A SAFE product,
written with GDAL's Python bindings, and the values a reader must return for them, computed here
with numpy from GDAL's own reads (independently of baims) as raw float32 files <name>.f32.

Usage: make_fixtures.py geotiff|safe OUTDIR
"""
import os
import sys

import numpy as np
from osgeo import gdal, osr

gdal.UseExceptions()
kind, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)


def srs_wkt(epsg):
    s = osr.SpatialReference()
    s.ImportFromEPSG(epsg)
    return s.ExportToWkt()


def expect(name, a):
    np.asarray(a, dtype=np.float32).tofile(os.path.join(out, name + ".f32"))


if kind == "geotiff":
    # A series of three dates in UTM 33N: 40 x 30 px of 100 m, Int16, two bands, nodata -9999,
    # scale 0.01, offset 10.
    rng = np.random.default_rng(7)
    for k, date in enumerate(["20230601", "20230602", "20230603"]):
        path = os.path.join(out, f"sst_{date}_utm.tif")
        ds = gdal.GetDriverByName("GTiff").Create(path, 40, 30, 2, gdal.GDT_Int16)
        ds.SetGeoTransform((400000, 100, 0, 5600000, 0, -100))
        ds.SetProjection(srs_wkt(32633))
        for b, desc in ((1, "red"), (2, "nir")):
            band = ds.GetRasterBand(b)
            a = rng.integers(-3000, 3000, (30, 40)).astype(np.int16) + 100 * k
            a[(np.arange(30)[:, None] * 7 + np.arange(40)[None, :] + b) % 11 == 0] = -9999
            band.WriteArray(a)
            band.SetNoDataValue(-9999)
            band.SetScale(0.01)
            band.SetOffset(10)
            band.SetDescription(desc)
        ds = None
        ds = gdal.Open(path)
        for b in (1, 2):
            band = ds.GetRasterBand(b)
            raw = band.ReadAsArray().astype(np.float64)
            v = raw * band.GetScale() + band.GetOffset()
            v[raw == band.GetNoDataValue()] = np.nan
            expect(f"sst_{date}_utm.b{b}", v)
        ds = None
    # Geographic WGS 84, Float32, one band, no description, time from TIFFTAG_DATETIME.
    path = os.path.join(out, "geo.tif")
    ds = gdal.GetDriverByName("GTiff").Create(path, 8, 5, 1, gdal.GDT_Float32)
    ds.SetGeoTransform((10.0, 0.25, 0, 55.0, 0, -0.5))
    ds.SetProjection(srs_wkt(4326))
    ds.SetMetadataItem("TIFFTAG_DATETIME", "2023:06:04 12:30:00")
    a = (np.arange(40, dtype=np.float32).reshape(5, 8) * 1.5 - 7).astype(np.float32)
    a[1, 2] = np.nan
    ds.GetRasterBand(1).WriteArray(a)
    ds = None
    ds = gdal.Open(path)
    expect("geo.b1", ds.GetRasterBand(1).ReadAsArray())
    ds = None
    # A rotated geotransform.
    path = os.path.join(out, "rotated_20230601.tif")
    ds = gdal.GetDriverByName("GTiff").Create(path, 4, 4, 1, gdal.GDT_Byte)
    ds.SetGeoTransform((400000, 100, 10, 5600000, 10, -100))
    ds.SetProjection(srs_wkt(32633))
    ds = None

elif kind == "safe":
    # A 1.2 km tile of T33UUQ: 120 px at 10 m, 60 at 20 m, 20 at 60 m. Each band's BOA_ADD_OFFSET
    # differs (-1000 - band_id) so that a wrong band lookup shows. Every 13th pixel is DN 0.
    name = "S2B_MSIL2A_20230601T100559_N0509_R022_T33UUQ_20230601T131500"
    safe = os.path.join(out, name + ".SAFE")
    gran = "L2A_T33UUQ_A032512_20230601T100559"
    ulx, uly = 399960, 5600040
    folders = {10: ["B02", "B03", "B04", "B08"],
               20: ["B02", "B03", "B04", "B05", "B8A", "B11", "SCL"],
               60: ["B01", "B02", "B09", "SCL"]}
    ids = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]
    rng = np.random.default_rng(11)
    files = []
    for res, bl in folders.items():
        n = 1200 // res
        d = os.path.join(safe, "GRANULE", gran, "IMG_DATA", f"R{res}m")
        os.makedirs(d, exist_ok=True)
        for b in bl:
            stem = f"T33UUQ_20230601T100559_{b}_{res}m"
            files.append(f"GRANULE/{gran}/IMG_DATA/R{res}m/{stem}")
            if b == "SCL":
                a = rng.integers(0, 12, (n, n))
                typ = gdal.GDT_Byte
            else:
                a = rng.integers(1001, 12000, (n, n))
                a[(np.arange(n)[:, None] * n + np.arange(n)[None, :]) % 13 == 0] = 0
                typ = gdal.GDT_UInt16
            mem = gdal.GetDriverByName("MEM").Create("", n, n, 1, typ)
            mem.SetGeoTransform((ulx, res, 0, uly, 0, -res))
            mem.SetProjection(srs_wkt(32633))
            mem.GetRasterBand(1).WriteArray(a)
            gdal.GetDriverByName("JP2OpenJPEG").CreateCopy(
                os.path.join(d, stem + ".jp2"), mem,
                options=["REVERSIBLE=YES", "QUALITY=100", "YCBCR420=NO"])
    img = "\n".join(f"<IMAGE_FILE>{f}</IMAGE_FILE>" for f in files)
    offsets = "\n".join(f'<BOA_ADD_OFFSET band_id="{i}">{-1000 - i}</BOA_ADD_OFFSET>'
                        for i in range(13))
    with open(os.path.join(safe, "MTD_MSIL2A.xml"), "w") as f:
        f.write(f"""<?xml version="1.0" encoding="UTF-8"?>
<n1:Level-2A_User_Product xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-2A.xsd">
<n1:General_Info><Product_Info>
<PRODUCT_START_TIME>2023-06-01T10:05:59.024Z</PRODUCT_START_TIME>
<PRODUCT_STOP_TIME>2023-06-01T10:05:59.024Z</PRODUCT_STOP_TIME>
<PRODUCT_URI>{name}.SAFE</PRODUCT_URI>
<PROCESSING_BASELINE>05.09</PROCESSING_BASELINE>
<Product_Organisation><Granule_List><Granule granuleIdentifier="x" imageFormat="JPEG2000">
{img}
</Granule></Granule_List></Product_Organisation>
</Product_Info>
<Product_Image_Characteristics>
<Special_Values><SPECIAL_VALUE_TEXT>NODATA</SPECIAL_VALUE_TEXT><SPECIAL_VALUE_INDEX>0</SPECIAL_VALUE_INDEX></Special_Values>
<Special_Values><SPECIAL_VALUE_TEXT>SATURATED</SPECIAL_VALUE_TEXT><SPECIAL_VALUE_INDEX>65535</SPECIAL_VALUE_INDEX></Special_Values>
<QUANTIFICATION_VALUES_LIST><BOA_QUANTIFICATION_VALUE unit="none">10000</BOA_QUANTIFICATION_VALUE></QUANTIFICATION_VALUES_LIST>
<BOA_ADD_OFFSET_VALUES_LIST>
{offsets}
</BOA_ADD_OFFSET_VALUES_LIST>
</Product_Image_Characteristics>
</n1:General_Info>
</n1:Level-2A_User_Product>
""")

    def dn(b, res):
        p = os.path.join(safe, "GRANULE", gran, "IMG_DATA", f"R{res}m",
                         f"T33UUQ_20230601T100559_{b}_{res}m.jp2")
        ds = gdal.Open(p)
        return ds.GetRasterBand(1).ReadAsArray().astype(np.float64)

    def refl(b, a):
        v = (a + (-1000 - ids.index(b))) / 10000.0
        v[a == 0] = np.nan
        return v.astype(np.float32)

    # The 20 m grid: B02 and B8A as they are, B01 from 60 m (each pixel 3x3), B08 from 10 m
    # (the mean of each 2x2 block's valid pixels), SCL with class 0 as NaN.
    expect("B02_20", refl("B02", dn("B02", 20)))
    expect("B8A_20", refl("B8A", dn("B8A", 20)))
    expect("B01_20", np.repeat(np.repeat(refl("B01", dn("B01", 60)), 3, 0), 3, 1))
    b08 = refl("B08", dn("B08", 10)).astype(np.float64).reshape(60, 2, 60, 2)
    with np.errstate(invalid="ignore"):
        expect("B08_20", np.nanmean(b08, axis=(1, 3)))
    scl = dn("SCL", 20)
    scl[scl == 0] = np.nan
    expect("SCL_20", scl)
    # The 10 m grid: SCL from 20 m (each pixel 2x2).
    scl = dn("SCL", 20)
    scl[scl == 0] = np.nan
    expect("SCL_10", np.repeat(np.repeat(scl, 2, 0), 2, 1))
    print(safe)
