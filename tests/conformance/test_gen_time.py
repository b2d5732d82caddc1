"""baims gen: time units and calendars (SPEC §2 "Time per input"), read back with xarray and
cftime as a user of the cube would: milliseconds since, the model calendars noleap/365_day,
all_leap/366_day, 360_day and julian kept as the inputs have them, dates before 1582 in the
standard calendar, one calendar per cube."""

import os
import unittest

import cftime
import numpy as np
from baimstest import lazy_module, xr  # imported on first use (xarray: pandas, dask)
netCDF4 = lazy_module("netCDF4")
zarr = lazy_module("zarr")

from baimstest import TempDirTest, cube_files, run, snapshot, write_config

LAT = np.arange(4.5, -5, -1.0)
LON = np.arange(-4.5, 5, 1.0)
REGION, SIZE = [-5.0, -5.0, 5.0, 5.0], (10, 10)
HALF_MS = 0.5 / 86400000.0


def write_input(path, day, calendar, units="days since 1970-01-01", value=1.0, hours=12):
    """One step at day (y, m, d) + hours in the calendar, with bounds [00:00, next 00:00)."""
    t = cftime.datetime(*day, hours, calendar=calendar)
    t0 = cftime.datetime(*day, calendar=calendar)
    t1 = t0 + (cftime.datetime(2001, 1, 2, calendar=calendar) - cftime.datetime(2001, 1, 1, calendar=calendar))
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("time", None)
        ds.createDimension("nv", 2)
        ds.createDimension("lat", len(LAT))
        ds.createDimension("lon", len(LON))
        tv = ds.createVariable("time", "f8", ("time",))
        tv.units, tv.calendar, tv.standard_name, tv.bounds = units, calendar, "time", "time_bnds"
        tv[:] = cftime.date2num([t], units, calendar=calendar)
        tb = ds.createVariable("time_bnds", "f8", ("time", "nv"))
        tb[:] = [cftime.date2num([t0, t1], units, calendar=calendar)]
        la = ds.createVariable("lat", "f8", ("lat",))
        la.units = "degrees_north"
        la[:] = LAT
        lo = ds.createVariable("lon", "f8", ("lon",))
        lo.units = "degrees_east"
        lo[:] = LON
        v = ds.createVariable("v", "f4", ("time", "lat", "lon"))
        v[:] = np.full((1, len(LAT), len(LON)), value, "f4")
    return path


class TimeUnitsAndCalendars(TempDirTest):
    def gen(self, inputs, out="c.zarr", check=0):
        cfg = self.p("c.yml")
        write_config(cfg, REGION, SIZE, self.p(out))
        return run(["gen", "-c", cfg] + inputs, check=check)

    def test_milliseconds_since(self):
        # 2017-06-05T12:00:00.123 in ms since 1981 (an OSTIA-style reference)
        path = self.p("ms.nc")
        with netCDF4.Dataset(path, "w") as ds:
            ds.createDimension("time", 1)
            ds.createDimension("lat", len(LAT))
            ds.createDimension("lon", len(LON))
            tv = ds.createVariable("time", "i8", ("time",))
            tv.units, tv.calendar = "milliseconds since 1981-01-01 00:00:00", "gregorian"
            tv[:] = [1149508800123]
            ds.createVariable("lat", "f8", ("lat",))[:] = LAT
            ds["lat"].units = "degrees_north"
            ds.createVariable("lon", "f8", ("lon",))[:] = LON
            ds["lon"].units = "degrees_east"
            ds.createVariable("v", "f4", ("time", "lat", "lon"))[:] = np.ones((1, 10, 10), "f4")
        self.gen([path])
        z = zarr.open(self.p("c.zarr"), mode="r")
        # days since 1970: 17322.5 + 0.123 s
        self.assertLessEqual(abs(z["time"][0] - (17322.5 + 0.123 / 86400)), HALF_MS)
        ds = xr.open_zarr(self.p("c.zarr"))
        # xarray decodes the float days to ns: within the double's 0.3 us of the millisecond
        off = abs(ds.time.values[0] - np.datetime64("2017-06-05T12:00:00.123"))
        self.assertLessEqual(off, np.timedelta64(1, "us"))

    def test_model_calendars_are_kept(self):
        # (calendar name in the input, the attribute written, a date only that calendar has)
        cases = [("noleap", "noleap", (2001, 2, 28), (2001, 3, 1)),
                 ("365_day", "noleap", (2001, 2, 28), (2001, 3, 1)),
                 ("all_leap", "all_leap", (2001, 2, 29), (2001, 3, 1)),
                 ("366_day", "all_leap", (2001, 2, 29), (2001, 3, 1)),
                 ("360_day", "360_day", (2001, 2, 30), (2001, 3, 1)),
                 ("julian", "julian", (1900, 2, 29), (1900, 3, 1))]
        for cal, attr, d0, d1 in cases:
            with self.subTest(calendar=cal):
                # hours since another reference than the cube's, and a day apart
                a = write_input(self.p(f"{cal}-a.nc"), d0, cal, units="hours since 1850-01-01", value=1.0)
                b = write_input(self.p(f"{cal}-b.nc"), d1, cal, units="hours since 1850-01-01", value=2.0)
                out = f"{cal}.zarr"
                self.gen([b, a], out=out)
                z = zarr.open(self.p(out), mode="r")
                self.assertEqual(z["time"].attrs["calendar"], attr)
                self.assertEqual(z["time_bnds"].attrs["calendar"], attr)
                self.assertEqual(z["time"].attrs["units"], "days since 1970-01-01")
                # the values, as cftime counts days in that calendar
                exp = cftime.date2num([cftime.datetime(*d0, 12, calendar=cal),
                                       cftime.datetime(*d1, 12, calendar=cal)],
                                      "days since 1970-01-01", calendar=cal)
                np.testing.assert_allclose(z["time"][:], exp, rtol=0, atol=HALF_MS)
                # xarray decodes them to the same dates, values sorted by time
                with xr.open_zarr(self.p(out), use_cftime=True) as ds:
                    self.assertEqual(list(ds.time.values), [cftime.datetime(*d0, 12, calendar=cal),
                                                            cftime.datetime(*d1, 12, calendar=cal)])
                    self.assertEqual(ds.time_bnds.values[0][0], cftime.datetime(*d0, calendar=cal))
                    np.testing.assert_array_equal(ds.v.values[:, 0, 0], [1.0, 2.0])
                    self.assertEqual(ds.attrs["time_coverage_start"],
                                     "%04d-%02d-%02dT00:00:00Z" % d0)

    def test_standard_calendar_before_1582(self):
        # An input in proleptic_gregorian keeps its dates; one in the standard calendar keeps
        # its instants (cftime reads 'days since 1500-01-01' there as a Julian date). The cube
        # is written proleptic_gregorian: with 'gregorian', readers would label these days in
        # the Julian calendar (the proleptic input's 1500-03-01 read back as 1500-02-20).
        pg = write_input(self.p("pg.nc"), (1500, 3, 1), "proleptic_gregorian",
                         units="days since 1500-01-01")
        self.gen([pg], out="pg.zarr")
        z = zarr.open(self.p("pg.zarr"), mode="r")
        self.assertEqual(z["time"].attrs["calendar"], "proleptic_gregorian")
        with xr.open_zarr(self.p("pg.zarr"), use_cftime=True) as ds, \
                xr.open_dataset(pg, use_cftime=True) as src:
            self.assertEqual(ds.time.values[0], src.time.values[0])
            self.assertEqual(str(ds.time.values[0]), "1500-03-01 12:00:00")
            self.assertEqual(ds.attrs["time_coverage_start"], "1500-03-01T00:00:00Z")

        st = write_input(self.p("st.nc"), (1500, 3, 1), "standard", units="days since 1500-01-01")
        self.gen([st], out="st.zarr")
        z = zarr.open(self.p("st.zarr"), mode="r")
        self.assertEqual(z["time"].attrs["calendar"], "proleptic_gregorian")
        # the same instant: Julian 1500-03-01 12:00 is proleptic Gregorian 1500-03-11 12:00 (1500
        # is a leap year in the Julian calendar only)
        exp = cftime.date2num(cftime.datetime(1500, 3, 1, 12, calendar="standard"),
                              "days since 1970-01-01", calendar="standard")
        self.assertLessEqual(abs(z["time"][0] - exp), HALF_MS)
        with xr.open_zarr(self.p("st.zarr"), use_cftime=True) as ds:
            self.assertEqual(str(ds.time.values[0]), "1500-03-11 12:00:00")

        # after 1582 the attribute stays gregorian
        mod = write_input(self.p("mod.nc"), (2001, 3, 1), "standard")
        self.gen([mod], out="mod.zarr")
        self.assertEqual(zarr.open(self.p("mod.zarr"), mode="r")["time"].attrs["calendar"], "gregorian")

    def test_one_calendar_per_cube(self):
        a = write_input(self.p("a.nc"), (2001, 2, 28), "noleap")
        b = write_input(self.p("b.nc"), (2001, 3, 1), "standard")
        p = self.gen([a, b], check=4)
        self.assertEqual(p.stderr.strip().splitlines()[-1],
                         f"baims gen: error: inputs '{a}' and '{b}' have different calendars "
                         "(noleap, gregorian). All slices of a cube share one calendar: give "
                         "inputs of one")
        self.assertFalse(os.path.exists(self.p("c.zarr")))
        # an existing cube keeps its calendar; a noleap input is refused, the cube untouched
        self.gen([b])
        before = snapshot(self.p("c.zarr"))
        p = self.gen([a], check=4)
        self.assertEqual(p.stderr.strip().splitlines()[-1],
                         f"baims gen: error: input '{a}' has calendar noleap, cube "
                         f"'{self.p('c.zarr')}' has gregorian. All slices of a cube share one "
                         "calendar: write it to another cube")
        self.assertEqual(snapshot(self.p("c.zarr")), before)
        # standard, gregorian and proleptic_gregorian are one calendar
        c = write_input(self.p("c.nc"), (2001, 3, 2), "proleptic_gregorian")
        self.gen([c])
        self.assertEqual(xr.open_zarr(self.p("c.zarr")).time.size, 2)
        self.assertIn(".zmetadata", cube_files(self.p("c.zarr")))


if __name__ == "__main__":
    unittest.main()
