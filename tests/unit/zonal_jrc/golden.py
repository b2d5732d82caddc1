#!/usr/bin/python3
"""Golden values of tests/unit/zonal_jrc/test_jrc.cpp, computed with numpy the way the JRC numba
extractor does it (np.frombuffer from byte 62, np.where(ind == 1), floor offsets, truncation,
band-1 nodata check; mean/std summed in order). Run: /usr/bin/python3 golden.py"""
import math
import struct

import numpy as np


def wkb(w, h, ipx, ipy, south_up_rows):
    """PostGIS raster WKB as ST_AsRaster(geom, 10, 10, '8BUI') writes it: scale (10, 10), nodata 0."""
    b = struct.pack('<BHHdddddd', 1, 0, 1, 10.0, 10.0, ipx, ipy, 0.0, 0.0)
    b += struct.pack('<iHH', 32632, w, h) + bytes([0x44, 0])
    return b + bytes(v for row in south_up_rows for v in row)


def jrc_read(raw):
    w, h = struct.unpack('<HH', raw[57:61])
    ipx, ipy = struct.unpack('<dd', raw[21:37])
    return ipx, ipy, np.frombuffer(raw, dtype='uint8', count=w * h, offset=62).reshape(h, w)


def jrc_indices(ipx, ipy, ind, ulx, uly, dx, rows, cols):
    r, c = np.where(ind == 1)
    rr = int(np.floor((uly - ipy) / dx)) - r
    cc = int(np.floor((ipx - ulx) / dx)) + c
    keep = (rr >= 0) & (rr <= rows - 1)
    rr, cc = rr[keep], cc[keep]
    keep = (cc >= 0) & (cc <= cols - 1)
    return rr[keep], cc[keep]


def seq_stats(v):
    v = [float(x) for x in v]
    s = 0.0
    for x in v:
        s += x
    m = s / len(v)
    ssd = 0.0
    for x in v:
        ssd += (x - m) * (x - m)
    a = np.array(v)
    return (len(v), m, (ssd / len(v)) ** 0.5, a.min(), a.max(),
            np.percentile(a, 25), np.percentile(a, 50), np.percentile(a, 75))


P3x2 = [[1, 1, 1], [1, 1, 0]]  # south-up rows: row 0 = south
P5x4 = [[0, 1, 1, 1, 0], [1, 1, 1, 1, 1], [1, 1, 0, 1, 1], [0, 1, 1, 1, 1]]
for name, w, h, ipx, ipy, rows_ in (("3x2", 3, 2, 500050.0, 6199980.0, P3x2),
                                     ("5x4", 5, 4, 500020.0, 6199960.0, P5x4)):
    ipx_, ipy_, ind = jrc_read(wkb(w, h, ipx, ipy, rows_))
    print(name, "as read:", ind.tolist())
    rr, cc = jrc_indices(ipx_, ipy_, ind, 500003.7, 6200000.0, 10.0, 6, 8)
    print(name, "indices (row, col):", list(zip(rr.tolist(), cc.tolist())))
    data = 100 * np.arange(6)[:, None] + np.arange(8)[None, :] + 1
    vals = data[rr, cc]
    print(name, "values:", vals.tolist())
    st = seq_stats(vals)
    print(name, "stats:", ["%.17g" % x for x in st])
    print(name, "as float32:", ["%.9g" % np.float32(x) for x in st])
# window: AOI extent (519718.59, 6180000.0, 609000.0, 6180754.37) on the T32UNG tile at 10 m
ulx, uly, W = 499980.0, 6200040.0, 10980
for dx in (10, 20):
    n = W * 10 // dx
    wulx, wuly = max(519718.59, ulx), min(6180754.37, uly)
    wlrx, wlry = min(609000.0, ulx + n * dx), max(6180000.0, uly - n * dx)
    print(dx, "window", math.floor((wulx - ulx) / dx), math.floor((uly - wuly) / dx),
          math.ceil((wlrx - wulx) / dx), math.ceil((wuly - wlry) / dx))
