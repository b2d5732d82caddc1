#!/usr/bin/python3
"""Synthetic Sentinel-1 CARD products for test_extract_s1 and their golden statistics.

Usage: s1_products.py ROOT  (ROOT/eodata is the /eodata tree; prints JSON on stdout)

Writes with GDAL, in EPSG:32632 with the upper-left corner (600000, 5000040):
- CARD-BS (ENVI .img/.hdr, float32, 64 x 64 at 10 m): <ref>/<ref>.data/Gamma0_VV.img, _VH.img
- CARD-COH6 (2-band float32 GeoTIFF, 32 x 32 at 20 m, 16 x 16 tiles): <ref>/<ref>.tif
Values are random (seeded); no data is 0 and NaN (SNAP writes 0 outside the swath): every 17th
pixel is 0, every 23rd NaN, column 30 (10 m) is 0 in both bands, column 25 (20 m) is NaN in the
VV coherence only. Plus broken products for the failure statuses (a missing VH or VV file, no
product folder, EPSG:4326, a grid 5 m off the zone grid, no .tif, a truncated .tif).

The masks (rectangles on the image grid minus holes) and the expected statistics, computed here
with numpy (float64; std ddof 0; percentiles linear) over the pixels read back with GDAL, are
printed as JSON: {"masks": {"10": [...], "20": [...]}, "expected": {ref: [[pid, band, count,
mean, std, min, max, p25, p50, p75], ...]}, "refs": {...}}.
"""
import json
import os
import sys

import numpy as np
from osgeo import gdal, osr

gdal.UseExceptions()
ULX, ULY = 600000.0, 5000040.0
DATE = "2021/06/16"

REFS = {
    "bs": "S1A_IW_GRDH_1SDV_20210616T053237_20210616T053302_038362_048713_CARD_BS",
    "bs_pid": "S1B_IW_GRDH_1SDV_20210616T053237_20210616T053302_027456_034712_CARD_BS",
    "bs_novh": "S1A_IW_GRDH_1SDV_20210616T053302_20210616T053327_038362_048713_CARD_BS",
    "bs_novv": "S1A_IW_GRDH_1SDV_20210616T053327_20210616T053352_038362_048713_CARD_BS",
    "bs_gone": "S1A_IW_GRDH_1SDV_20210616T053352_20210616T053417_038362_048713_CARD_BS",
    "bs_4326": "S1A_IW_GRDH_1SDV_20210616T053417_20210616T053442_038362_048713_CARD_BS",
    "bs_shift": "S1A_IW_GRDH_1SDV_20210616T053442_20210616T053507_038362_048713_CARD_BS",
    "c6": "S1A_IW_SLC__1SDV_20210616T053236_20210616T053303_038362_048713_CARD_COH6",
    "c6_notif": "S1A_IW_SLC__1SDV_20210616T053303_20210616T053330_038362_048713_CARD_COH6",
    "c6_bad": "S1A_IW_SLC__1SDV_20210616T053330_20210616T053357_038362_048713_CARD_COH6",
}

# pid, c0, r0, w, h, holes (col, row within the window)
MASKS = {
    "10": [
        (1, 2, 1, 3, 2, []),
        (2, 28, 28, 9, 7, [(3, 3), (4, 3), (3, 4)]),  # a hole
        (3, -4, 30, 8, 5, []),  # partly west of the image
        (4, 30, 5, 1, 6, []),  # only the 0 column: no row
        (5, 100, 10, 5, 5, []),  # outside the image: no row
        (6, 20, 40, 20, 10, []),
    ],
    "20": [
        (1, 1, 0, 2, 2, []),
        (2, 14, 14, 5, 4, [(2, 1)]),
        (3, 50, 5, 3, 3, []),  # outside: no row
        (4, 25, 3, 1, 3, []),  # VV coherence NaN only: a VHc row, no VVc row
        (5, 0, 20, 32, 6, []),
    ],
}


def values(seed, n, lo, hi, zero_col=None, nan_col=None):
    rng = np.random.default_rng(seed)
    a = rng.uniform(lo, hi, (n, n)).astype(np.float32)
    flat = a.reshape(-1)
    flat[::17] = 0
    flat[5::23] = np.nan
    if zero_col is not None:
        a[:, zero_col] = 0
    if nan_col is not None:
        a[:, nan_col] = np.nan
    return a


def srs_wkt(epsg):
    s = osr.SpatialReference()
    s.ImportFromEPSG(epsg)
    return s.ExportToWkt()


def write(path, driver, bands, res, epsg=32632, options=None, shift=0.0):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    n = bands[0].shape[0]
    ds = gdal.GetDriverByName(driver).Create(path, n, n, len(bands), gdal.GDT_Float32,
                                             options or [])
    ulx, uly = (ULX + shift, ULY) if epsg == 32632 else (9.0, 45.0)
    step = res if epsg == 32632 else 0.0001
    ds.SetGeoTransform((ulx, step, 0, uly, 0, -step))
    ds.SetProjection(srs_wkt(epsg))
    for i, b in enumerate(bands):
        ds.GetRasterBand(i + 1).WriteArray(b)
    ds = None


def write_bs(eodata, ref, seed, folder=None, skip=(), epsg=32632, shift=0.0):
    d = folder or os.path.join(eodata, "Sentinel-1/SAR/CARD-BS", DATE, ref)
    vv = values(seed, 64, 0.001, 0.5, zero_col=30)
    vh = values(seed + 1, 64, 0.0005, 0.1, zero_col=30)
    for pol, a in (("VV", vv), ("VH", vh)):
        if pol not in skip:
            write(os.path.join(d, ref + ".data", "Gamma0_" + pol + ".img"), "ENVI", [a], 10,
                  epsg, shift=shift)
    return {"VVb": vv, "VHb": vh}


def write_c6(eodata, ref, seed):
    d = os.path.join(eodata, "Sentinel-1/SAR/CARD-COH6", DATE, ref)
    vv = values(seed, 32, 0.0, 1.0, nan_col=25)
    vh = values(seed + 1, 32, 0.0, 1.0)
    path = os.path.join(d, ref + ".tif")
    write(path, "GTiff", [vv, vh], 20,
          options=["TILED=YES", "BLOCKXSIZE=16", "BLOCKYSIZE=16", "COMPRESS=DEFLATE"])
    return path, {"VVc": vv, "VHc": vh}


def read_back(path, band):
    ds = gdal.Open(path)  # kept alive while its band is read
    return ds.GetRasterBand(band).ReadAsArray().astype(np.float64)


def stats(arrays, res):
    rows = []
    for pid, c0, r0, w, h, holes in MASKS[res]:
        for band, a in arrays.items():
            n = a.shape[0]
            vals = []
            for r in range(r0, r0 + h):
                for c in range(c0, c0 + w):
                    if (c - c0, r - r0) in holes or not (0 <= c < n and 0 <= r < n):
                        continue
                    vals.append(a[r, c])
            v = np.array(vals, dtype=np.float64)
            v = v[~np.isnan(v) & (v != 0)]
            if v.size == 0:
                continue
            p25, p50, p75 = np.percentile(v, [25, 50, 75])
            rows.append([pid, band, int(v.size), float(v.mean()), float(v.std()), float(v.min()),
                         float(v.max()), float(p25), float(p50), float(p75)])
    return rows


def main():
    root = sys.argv[1]
    eodata = os.path.join(root, "eodata")
    expected = {}
    d = os.path.join(eodata, "Sentinel-1/SAR/CARD-BS", DATE, REFS["bs"], REFS["bs"] + ".data")
    write_bs(eodata, REFS["bs"], 1)
    expected[REFS["bs"]] = stats(
        {"VVb": read_back(d + "/Gamma0_VV.img", 1), "VHb": read_back(d + "/Gamma0_VH.img", 1)},
        "10")
    # found through productIdentifier only (not the JRC layout)
    pid_dir = os.path.join(eodata, "custom/s1", REFS["bs_pid"])
    write_bs(eodata, REFS["bs_pid"], 3, folder=pid_dir)
    d = os.path.join(pid_dir, REFS["bs_pid"] + ".data")
    expected[REFS["bs_pid"]] = stats(
        {"VVb": read_back(d + "/Gamma0_VV.img", 1), "VHb": read_back(d + "/Gamma0_VH.img", 1)},
        "10")
    write_bs(eodata, REFS["bs_novh"], 5, skip=("VH",))
    write_bs(eodata, REFS["bs_novv"], 7, skip=("VV",))
    write_bs(eodata, REFS["bs_4326"], 9, epsg=4326)
    write_bs(eodata, REFS["bs_shift"], 15, shift=5.0)  # pixel edges off the 10 m zone grid
    path, _ = write_c6(eodata, REFS["c6"], 11)
    expected[REFS["c6"]] = stats({"VVc": read_back(path, 1), "VHc": read_back(path, 2)}, "20")
    os.makedirs(os.path.join(eodata, "Sentinel-1/SAR/CARD-COH6", DATE, REFS["c6_notif"]))
    path, _ = write_c6(eodata, REFS["c6_bad"], 13)
    with open(path, "r+b") as f:  # cut inside the tiles the parcels need
        f.truncate(os.path.getsize(path) // 4)
    masks = {res: [{"pid": m[0], "c0": m[1], "r0": m[2], "w": m[3], "h": m[4],
                    "holes": [list(x) for x in m[5]]} for m in ms] for res, ms in MASKS.items()}
    json.dump({"masks": masks, "expected": expected, "refs": REFS,
               "product_identifier": {REFS["bs_pid"]: "/eodata/custom/s1/" + REFS["bs_pid"]}},
              sys.stdout)


if __name__ == "__main__":
    main()
