#!/usr/bin/python3
"""Generate daily CF NetCDF-4 inputs for bench/run.sh (the gen benchmark of SPEC 11).

Each file holds one day of a 2000x2000 float32 SST-like field `sst` (270..295 K) over
lon 9..31, lat 53..66 with **ascending** lat, zlib level 4 + shuffle, chunks 500x500, and about
68 % NaN: a fixed land mask (~40 % of the area, seeded random blobs) plus per-day cloud patches
that cover the rest of the NaN share. `time` is the middle of the day in `days since 1970-01-01`
with daily `time_bnds` [day, day + 1].

Deterministic: the same arguments give the same data (seeded); day k of a run uses the seed of
day k, so --start shifts the times but --count 30 repeats the 10 data fields of --count 10 every
10 days (generating each field costs ~1 s; the benchmark only needs realistic content).

usage: make_inputs.py OUT_DIR [--count N] [--start YYYY-MM-DD] [--size N] [--prefix P]
Prints the paths written, one a line.
"""

import argparse
import os
from datetime import date

import netCDF4
import numpy as np

LON0, LON1, LAT0, LAT1 = 9.0, 31.0, 53.0, 66.0
NAN_SHARE = 0.68
LAND_SHARE = 0.40


def smooth_field(rng, n, octaves=(6, 12, 24, 48, 96)):
    """A smooth random field of n x n (sum of bilinearly upsampled noise octaves), 0 mean-ish."""
    out = np.zeros((n, n), dtype=np.float64)
    x = np.linspace(0.0, 1.0, n)
    for k, res in enumerate(octaves):
        coarse = rng.standard_normal((res + 1, res + 1))
        grid = np.linspace(0.0, 1.0, res + 1)
        # interpolation matrix n x (res+1) for separable bilinear upsampling
        idx = np.clip(np.searchsorted(grid, x, side="right") - 1, 0, res - 1)
        w = (x - grid[idx]) * res
        m = np.zeros((n, res + 1))
        m[np.arange(n), idx] = 1.0 - w
        m[np.arange(n), idx + 1] = w
        out += (m @ coarse @ m.T) * (0.6**k)
    return out


def day_field(day_seed, n, land):
    rng = np.random.default_rng(1000 + day_seed)
    lat = np.linspace(LAT0, LAT1, n)[:, None]
    # SST-like: warmer in the south, smooth anomalies, 270..295 K
    base = 292.0 - (lat - LAT0) / (LAT1 - LAT0) * 15.0
    sst = base + 2.5 * smooth_field(rng, n, octaves=(4, 8, 16, 32))
    sst = np.clip(sst, 270.0, 295.0).astype(np.float32)
    # clouds: on the sea pixels, a blobby mask with the share that brings NaN to NAN_SHARE
    cloud_field = smooth_field(rng, n)
    sea = ~land
    cloud_share_of_sea = (NAN_SHARE - LAND_SHARE) / (1.0 - LAND_SHARE)
    thr = np.quantile(cloud_field[sea], 1.0 - cloud_share_of_sea)
    cloud = sea & (cloud_field >= thr)
    sst[land | cloud] = np.nan
    return sst


def land_mask(n):
    rng = np.random.default_rng(42)
    f = smooth_field(rng, n, octaves=(3, 6, 12, 24, 48))
    return f >= np.quantile(f, 1.0 - LAND_SHARE)


def write(path, sst, day, n):
    lat = LAT0 + (np.arange(n) + 0.5) * (LAT1 - LAT0) / n  # ascending
    lon = LON0 + (np.arange(n) + 0.5) * (LON1 - LON0) / n
    days = (day - date(1970, 1, 1)).days
    chunk = min(500, n)
    with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
        ds.Conventions = "CF-1.7"
        ds.title = "baims bench synthetic SST"
        ds.createDimension("time", 1)
        ds.createDimension("bnds", 2)
        ds.createDimension("lat", n)
        ds.createDimension("lon", n)
        t = ds.createVariable("time", "f8", ("time",))
        t.units = "days since 1970-01-01"
        t.calendar = "gregorian"
        t.standard_name = "time"
        t.bounds = "time_bnds"
        t[:] = [days + 0.5]
        tb = ds.createVariable("time_bnds", "f8", ("time", "bnds"))
        tb[:] = [[days, days + 1]]
        la = ds.createVariable("lat", "f8", ("lat",))
        la.units = "degrees_north"
        la.standard_name = "latitude"
        la[:] = lat
        lo = ds.createVariable("lon", "f8", ("lon",))
        lo.units = "degrees_east"
        lo.standard_name = "longitude"
        lo[:] = lon
        v = ds.createVariable("sst", "f4", ("time", "lat", "lon"), zlib=True, complevel=4,
                              shuffle=True, chunksizes=(1, chunk, chunk),
                              fill_value=np.float32(np.nan))
        v.units = "kelvin"
        v.standard_name = "sea_surface_temperature"
        v.long_name = "synthetic sea surface temperature"
        v.set_auto_maskandscale(False)
        v[0, :, :] = sst


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--count", type=int, default=10)
    ap.add_argument("--start", default="2023-06-02")
    ap.add_argument("--size", type=int, default=2000)
    ap.add_argument("--prefix", default="sst")
    ap.add_argument("--seed-offset", type=int, default=0,
                    help="data seed of the first file (day k uses (offset + k) %% 10)")
    a = ap.parse_args()
    os.makedirs(a.out_dir, exist_ok=True)
    start = date.fromisoformat(a.start)
    land = land_mask(a.size)
    cache = {}
    for k in range(a.count):
        day = date.fromordinal(start.toordinal() + k)
        seed = (a.seed_offset + k) % 10
        if seed not in cache:
            cache[seed] = day_field(seed, a.size, land)
        path = os.path.join(a.out_dir, f"{a.prefix}_{day:%Y%m%d}.nc")
        write(path, cache[seed], day, a.size)
        print(path)


if __name__ == "__main__":
    main()
