#!/usr/bin/python3
"""Turn inputs of bench/make_inputs.py into the same fields on a Lambert conformal conic grid
(for bench/projected.sh): 2000x2000 cells of 1.1 km in x/y around (20 E, 59.5 N), which covers
the 4400x2600 output grid of the gen benchmark over [9, 53, 31, 66]; the values, NaN share,
compression and chunks are the input's, only the geometry differs (x/y + grid_mapping).

usage: make_projected.py OUT_DIR INPUT.nc...   (prints the paths written)
"""

import os
import sys

import netCDF4
import numpy as np

STEP = 1100.0


def convert(src, dst):
    with netCDF4.Dataset(src) as a, netCDF4.Dataset(dst, "w", format="NETCDF4") as b:
        n = len(a.dimensions["lat"])
        b.createDimension("time", None)
        b.createDimension("y", n)
        b.createDimension("x", n)
        for name in ("time",):
            v = b.createVariable(name, "f8", ("time",))
            v.setncatts({k: a[name].getncattr(k) for k in a[name].ncattrs()})
            v[:] = a[name][:]
        if "time_bnds" in a.variables:
            b.createDimension("nv", 2)
            v = b.createVariable("time_bnds", "f8", ("time", "nv"))
            v[:] = a["time_bnds"][:]
        c = (np.arange(n) - (n - 1) / 2) * STEP
        for name, values, sn in (("x", c, "projection_x_coordinate"),
                                 ("y", c[::-1], "projection_y_coordinate")):
            v = b.createVariable(name, "f8", (name,))
            v.standard_name = sn
            v.units = "m"
            v[:] = values
        gm = b.createVariable("lcc", "i4", ())
        gm.grid_mapping_name = "lambert_conformal_conic"
        gm.standard_parallel = [55.0, 64.0]
        gm.longitude_of_central_meridian = 20.0
        gm.latitude_of_projection_origin = 59.5
        s = a["sst"]
        v = b.createVariable("sst", "f4", ("time", "y", "x"), zlib=True, complevel=4, shuffle=True,
                             chunksizes=(1, 500, 500), fill_value=np.float32(np.nan))
        v.setncatts({k: s.getncattr(k) for k in s.ncattrs() if k != "_FillValue"})
        v.grid_mapping = "lcc"
        v[:] = s[:]


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for src in sys.argv[2:]:
        dst = os.path.join(out, os.path.basename(src))
        convert(src, dst)
        print(dst)


if __name__ == "__main__":
    main()
