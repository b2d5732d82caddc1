#!/usr/bin/python3
"""An OLCI-like full-resolution swath for bench/swath.sh: 4091 rows x 4865 columns of ~300 m cells
with 2-D lat/lon (int32, scale 1e-6, as OLCI L2 stores them in geo_coordinates.nc), centred over
the Baltic (20 E, 59 N) on a descending track (heading 192 degrees), 1227 km along and 1460 km
across; cells grow slightly towards the swath edges and the rows curve a little, as in OLCI. One
variable conc_chl (float32, deflate, chunks of 1 x 512 x 512 like the sample; ~8 % NaN) and the
start/stop dates of an OLCI product.

With --regular REG.nc it also writes the reference of bench/swath.sh: the same values on a regular
grid of the same size (ROWS x COLS cells, 1-D lat/lon spanning the swath's bounding box, a time
axis of one step), stored like the swath's variable, so that gen reads as much data from it.

usage: make_swath.py OUT.nc [ROWS COLS] [--regular REG.nc]
"""

import argparse

import netCDF4
import numpy as np

R_EARTH = 6371.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("rows", nargs="?", type=int, default=4091)
    ap.add_argument("cols", nargs="?", type=int, default=4865)
    ap.add_argument("--regular")
    args = ap.parse_args()
    out, rows, cols = args.out, args.rows, args.cols
    lat0, lon0 = np.deg2rad(59.0), np.deg2rad(20.0)
    heading = np.deg2rad(192.0)
    with netCDF4.Dataset(out, "w", format="NETCDF4") as ds:
        ds.createDimension("rows", rows)
        ds.createDimension("columns", cols)
        ds.start_date = "14-APR-2017 10:27:29.454657"
        ds.stop_date = "14-APR-2017 10:30:29.454657"
        lat_v = ds.createVariable("lat", "i4", ("rows", "columns"), zlib=True, complevel=1,
                                  chunksizes=(min(rows, 512), min(cols, 512)))
        lon_v = ds.createVariable("lon", "i4", ("rows", "columns"), zlib=True, complevel=1,
                                  chunksizes=(min(rows, 512), min(cols, 512)))
        for v, sn, units in ((lat_v, "latitude", "degrees_north"),
                             (lon_v, "longitude", "degrees_east")):
            v.standard_name = sn
            v.units = units
            v.scale_factor = 1e-6
        chl = ds.createVariable("conc_chl", "f4", ("rows", "columns"), zlib=True, complevel=4,
                                shuffle=True, chunksizes=(min(rows, 512), min(cols, 512)), fill_value=np.float32(np.nan))
        chl.units = "mg m-3"
        # across-track distance grows towards the edges (OLCI: ~300 m at nadir, ~390 m at edges)
        u = (np.arange(cols) - (cols - 1) / 2) / ((cols - 1) / 2)  # -1 .. 1
        across = (u + 0.15 * u ** 3) / 1.15 * 730.0  # km
        rng = np.random.default_rng(1)
        for r0 in range(0, rows, 512):
            r = np.arange(r0, min(rows, r0 + 512))[:, None].astype("f8")
            along = (r - (rows - 1) / 2) * 0.3  # km
            # small curvature of the rows (km), like the scan geometry
            x_km = along * np.sin(heading) + across * np.cos(heading) + 0.00004 * across ** 2
            y_km = along * np.cos(heading) - across * np.sin(heading)
            # local tangent plane to lat/lon (spherical, good enough for a benchmark geometry)
            lat = lat0 + y_km / R_EARTH
            lon = lon0 + x_km / (R_EARTH * np.cos(lat))
            lat_v[r0:r0 + len(r)] = np.rad2deg(lat)  # packed by netCDF4 (scale 1e-6)
            lon_v[r0:r0 + len(r)] = np.rad2deg(lon)
            c = np.arange(cols)[None, :]
            v = (2.0 + np.sin(r / 170.0) * np.cos(c / 230.0) + 0.3 * rng.random((len(r), cols)))
            v = v.astype("f4")
            v[rng.random(v.shape) < 0.08] = np.nan
            chl[r0:r0 + len(r)] = v
    if args.regular:
        write_regular(out, args.regular, rows, cols)
    print(out)


def write_regular(swath, out, rows, cols):
    """The swath's values on a regular lat/lon grid of the same size over its bounding box."""
    with netCDF4.Dataset(swath) as src, netCDF4.Dataset(out, "w", format="NETCDF4") as ds:
        lat_min = lon_min = np.inf
        lat_max = lon_max = -np.inf
        for r0 in range(0, rows, 512):
            la = src["lat"][r0:r0 + 512]
            lo = src["lon"][r0:r0 + 512]
            lat_min, lat_max = min(lat_min, la.min()), max(lat_max, la.max())
            lon_min, lon_max = min(lon_min, lo.min()), max(lon_max, lo.max())
        ds.createDimension("time", 1)
        ds.createDimension("lat", rows)
        ds.createDimension("lon", cols)
        t = ds.createVariable("time", "f8", ("time",))
        t.units = "days since 1970-01-01"
        t.standard_name = "time"
        t[:] = [17270.4357]  # 2017-04-14 10:28:36, the swath's mid-time
        la = ds.createVariable("lat", "f8", ("lat",))
        la.units, la.standard_name = "degrees_north", "latitude"
        lo = ds.createVariable("lon", "f8", ("lon",))
        lo.units, lo.standard_name = "degrees_east", "longitude"
        la[:] = lat_min + (np.arange(rows) + 0.5) * (lat_max - lat_min) / rows
        lo[:] = lon_min + (np.arange(cols) + 0.5) * (lon_max - lon_min) / cols
        chl = ds.createVariable("conc_chl", "f4", ("time", "lat", "lon"), zlib=True, complevel=4,
                                shuffle=True, chunksizes=(1, min(rows, 512), min(cols, 512)),
                                fill_value=np.float32(np.nan))
        chl.units = "mg m-3"
        for r0 in range(0, rows, 512):
            chl[0, r0:r0 + 512] = src["conc_chl"][r0:r0 + 512]


if __name__ == "__main__":
    main()
