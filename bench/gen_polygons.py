#!/usr/bin/python3
"""gen_polygons.py N OUT.csv [SEED]: N random small polygons (5-8 vertices) as WKT with attributes,
seeded, for bench/ingest_vector.sh (converted to a GeoPackage with ogr2ogr)."""
import math
import random
import sys

n = int(sys.argv[1])
out = sys.argv[2]
rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 42)
classes = ["wheat", "maize", "grassland", "potato", "sugar beet", "fallow", "orchard"]
with open(out, "w") as f:
    f.write("wkt,parcel_id,crop,area_ha,year\n")
    for i in range(n):
        cx = rng.uniform(20.0, 28.0)
        cy = rng.uniform(54.0, 59.0)
        k = rng.randint(5, 8)
        r = rng.uniform(0.0005, 0.003)
        pts = []
        for j in range(k):
            a = 2 * math.pi * j / k
            rr = r * rng.uniform(0.7, 1.0)
            pts.append("%.7f %.7f" % (cx + rr * math.cos(a), cy + rr * math.sin(a)))
        pts.append(pts[0])
        f.write('"POLYGON((%s))",%d,%s,%.4f,%d\n'
                % (",".join(pts), i + 1, classes[i % len(classes)], rng.uniform(0.1, 30.0), 2021))
