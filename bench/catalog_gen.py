#!/usr/bin/python3
"""Generate saved CDSE search.json responses with N catalogue records for bench/catalog.sh.

The features are copies of the real ones in tests/data/cdse (all five responses, round robin),
each with a new unique title (same naming pattern), productIdentifier and startDate, so every
record is a new reference for dias_catalogue. Deterministic: the same N gives the same files.

usage: catalog_gen.py OUT_DIR N [PER_FILE]
"""

import copy
import glob
import json
import os
import sys
from datetime import datetime, timedelta, timezone


def main():
    out_dir = sys.argv[1]
    n = int(sys.argv[2])
    per_file = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    here = os.path.dirname(os.path.abspath(__file__))
    pool = []
    template = None
    for f in sorted(glob.glob(os.path.join(here, "..", "tests", "data", "cdse", "*.json"))):
        with open(f, encoding="utf-8") as fh:
            doc = json.load(fh)
        pool.extend(doc["features"])
        if template is None:
            template = doc
    os.makedirs(out_dir, exist_ok=True)
    t0 = datetime(2021, 1, 1, tzinfo=timezone.utc)
    files = []
    for start in range(0, n, per_file):
        feats = []
        for i in range(start, min(n, start + per_file)):
            f = copy.deepcopy(pool[i % len(pool)])
            p = f["properties"]
            t = t0 + timedelta(minutes=7 * i, milliseconds=24)
            sensing = t.strftime("%Y%m%dT%H%M%S")
            mission = "S2A" if i % 2 == 0 else "S2B"
            tile = "T%02d%s" % (1 + i % 60, "UVWXYZ"[i % 6] + "AB"[i % 2] + "CD"[(i // 2) % 2])
            title = "%s_MSIL2A_%s_N0509_R%03d_%s_%s.SAFE" % (mission, sensing, 1 + i % 143, tile,
                                                             sensing)
            p["title"] = title
            p["startDate"] = t.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"
            p["productIdentifier"] = "/eodata/Sentinel-2/MSI/L2A/%s/%s" % (t.strftime("%Y/%m/%d"),
                                                                          title)
            feats.append(f)
        doc = {"type": "FeatureCollection", "properties": template["properties"],
               "features": feats}
        path = os.path.join(out_dir, "page_%03d.json" % (start // per_file + 1))
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, separators=(",", ":"))
        files.append(path)
    print("\n".join(files))


if __name__ == "__main__":
    main()
