#!/usr/bin/env python3
"""bench/rasterize_parcels.py N OUT.csv: N parcels as in /work/shared/tools/make_s2_synthetic.py
(jittered quadrilaterals filling 25-95 % of 200 m cells of a grid starting at UTM 32N
(520000, 6180000), about 216 pixels at 10 m), written as CSV (parcel number, WKT in EPSG:4326; row k becomes ogc_fid k)."""
import sys

import numpy as np
from osgeo import ogr, osr

n = int(sys.argv[1])
out = sys.argv[2]
cell = 200.0
rng = np.random.default_rng(42)
side = int(np.ceil(np.sqrt(n)))
x0, y0 = 520000.0, 6180000.0
src = osr.SpatialReference()
src.ImportFromEPSG(32632)
dst = osr.SpatialReference()
dst.ImportFromEPSG(4326)
for s in (src, dst):
    s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
ct = osr.CoordinateTransformation(src, dst)
with open(out, "w") as f:
    f.write("parcel,wkt\n")
    k = 0
    for i in range(side):
        for j in range(side):
            if k >= n:
                break
            cx0, cy0 = x0 + j * cell, y0 - i * cell
            fx, fy = rng.uniform(0.5, 0.97), rng.uniform(0.5, 0.97)
            w, h = fx * cell, fy * cell
            ox, oy = rng.uniform(0, cell - w), rng.uniform(0, cell - h)
            jit = lambda: rng.uniform(-0.08, 0.08) * cell * 0.5
            ring = [(cx0 + ox + jit(), cy0 - oy + jit()), (cx0 + ox + w + jit(), cy0 - oy + jit()),
                    (cx0 + ox + w + jit(), cy0 - oy - h + jit()), (cx0 + ox + jit(), cy0 - oy - h + jit())]
            ring.append(ring[0])
            pts = ct.TransformPoints(ring)
            wkt = "POLYGON((" + ",".join(f"{p[0]:.9f} {p[1]:.9f}" for p in pts) + "))"
            k += 1
            f.write(f'{k},"{wkt}"\n')
