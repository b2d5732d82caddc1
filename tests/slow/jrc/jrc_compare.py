#!/usr/bin/python3
"""jrc_compare.py GOLDEN_DIR SIGS_CSV HISTS_CSV: baims's rows (all parcels) against the JRC
golden subset (pid % 50 == 0). Exit 0 only when the (pid, obsid, band) sets are equal, every
value is equal as stored (float32) and every hist text is byte-identical."""
import csv
import sys

import numpy as np

golden, sigs_path, hists_path = sys.argv[1:4]
COLS = ["count", "mean", "std", "min", "max", "p25", "p50", "p75"]


def f32(s):
    return np.float32(s)  # the text of a stored real, or a float64 rounded as PostgreSQL does


def load_sigs(path, subset):
    out = {}
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            key = (int(r["pid"]), int(r["obsid"]), r.get("band", r.get("btrim", "")).strip())
            if subset and key[0] % 50:
                continue
            out[key] = [f32(r[c]) for c in COLS]
    return out


def load_hists(path, subset):
    out = {}
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            key = (int(r["pid"]), int(r["obsid"]))
            if subset and key[0] % 50:
                continue
            out[key] = r["hist"]
    return out


with open(sigs_path, newline="") as f:
    header = next(csv.reader(f))
all_sigs = {}
with open(sigs_path, newline="") as f:
    rd = csv.reader(f)
    next(rd)
    for r in rd:
        all_sigs[(int(r[0]), int(r[1]), r[2].strip())] = [f32(x) for x in r[3:11]]
gold = load_sigs(golden + "/sigs_subset.csv", True)
mine = {k: v for k, v in all_sigs.items() if k[0] % 50 == 0}
ok = True
missing = sorted(set(gold) - set(mine))
extra = sorted(set(mine) - set(gold))
same = 0
diff = []
for k in sorted(set(gold) & set(mine)):
    if all(a == b for a, b in zip(gold[k], mine[k])):
        same += 1
    else:
        diff.append(k)
print(f"sigs: golden {len(gold)} rows, baims {len(mine)} rows in the subset; "
      f"{same} equal, {len(diff)} differ, {len(missing)} missing, {len(extra)} extra")
for k in diff[:10]:
    print("  differs", k, "golden", [str(x) for x in gold[k]], "baims", [str(x) for x in mine[k]])
for k in missing[:10]:
    print("  missing", k)
for k in extra[:10]:
    print("  extra", k)
ok &= not diff and not missing and not extra

gh = load_hists(golden + "/hists_subset.csv", True)
all_h = load_hists(hists_path, False)
mh = {k: v for k, v in all_h.items() if k[0] % 50 == 0}
hsame = sum(1 for k in gh if k in mh and mh[k] == gh[k])
hdiff = [k for k in gh if k in mh and mh[k] != gh[k]]
hmiss = [k for k in gh if k not in mh]
hextra = [k for k in mh if k not in gh]
print(f"hists: golden {len(gh)} rows, baims {len(mh)}; {hsame} identical, {len(hdiff)} differ, "
      f"{len(hmiss)} missing, {len(hextra)} extra")
for k in hdiff[:10]:
    print("  differs", k, "golden", gh[k], "baims", mh[k])
ok &= not hdiff and not hmiss and not hextra

pids10 = {k[0] for k in all_sigs if k[2] == "B02"}
pids20 = {k[0] for k in all_sigs if k[2] == "B05"}
print(f"whole tile: sigs {len(all_sigs)} rows (JRC: 598106), hists {len(all_h)} rows (JRC: 100000);"
      f" parcels with 10 m rows {len(pids10)}, with 20 m rows {len(pids20)}")
print("RESULT:", "all golden rows match" if ok else "MISMATCH")
sys.exit(0 if ok else 1)
