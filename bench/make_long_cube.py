#!/usr/bin/python3
"""Make a long cube for bench/insert.sh from a short one made by `baims gen`, without computing
365 slices: time step t of the new cube is step t mod n of the source (its chunk files hard-linked,
so the cube costs the disk of the source), the time axis runs on daily from the source's first
step, and the record of sources is dropped (gen then recomputes any step it is given again, as it
would for a cube made elsewhere). Every chunk is its own directory entry, so a link, a rename or an
unlink per chunk costs what it costs in a real cube of that length.

usage: make_long_cube.py SRC DST N
"""

import json
import os
import shutil
import sys

import numpy as np
import zarr


def main():
    src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("[0-9]*", ".baims-*"))
    root = zarr.open_group(dst, mode="r+")
    nt0 = root["time"].shape[0]
    t0 = float(zarr.open_group(src, mode="r")["time"][0])
    root["time"].resize(n)
    root["time"][:] = t0 + np.arange(n, dtype="f8")
    if "time_bnds" in root:
        root["time_bnds"].resize(n, 2)
        root["time_bnds"][:] = np.stack([root["time"][:] - 0.5, root["time"][:] + 0.5], axis=1)
    for name in ("lat", "lon", "lat_bnds", "lon_bnds", "crs"):
        if name in root:
            root[name][...] = zarr.open_group(src, mode="r")[name][...]
    for name, arr in root.arrays():
        dims = arr.attrs.get("_ARRAY_DIMENSIONS", [])
        if name in ("time", "time_bnds") or not dims or dims[0] != "time":
            continue
        arr.resize(n, *arr.shape[1:])
        files = os.listdir(os.path.join(src, name))
        for f in files:
            if f[0].isdigit() and f.count(".") == 2:
                t, pos = f.split(".", 1)
                for k in range(int(t), n, nt0):
                    os.link(os.path.join(src, name, f), os.path.join(dst, name, f"{k}.{pos}"))
    zarr.consolidate_metadata(dst)
    meta = json.load(open(os.path.join(dst, "time", ".zarray")))
    print(f"{dst}: {meta['shape'][0]} time steps")


if __name__ == "__main__":
    main()
