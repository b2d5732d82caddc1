"""Readers during updates (SPEC §2 "Crash safety", issue 11): a Python process opens the cube
with xarray in a loop while `baims gen` inserts 20 time steps one by one, each at the start of the
time axis (every earlier step shifts). Every state a reader opens must be a state of the cube:
its time axis one of the 21 the updates go through, and each slice the values of its day.

A reader that already has the cube open keeps reading chunk files by path, so a read that spans
an exchange mixes the two versions (docs/crash-safety.md "Readers that have the cube open"). The
reader reads `.zmetadata` before opening and again after loading every value: each state is a
new time axis, so equal bytes mean no exchange happened during the read, and such a read must
be exact. Reads across an exchange are counted apart, not judged. The outcome depends only on
what the reader sees, never on timing (how many reads fall where varies; the last read, after the
last update, is always judged).

Dev build only (ctest label heavy, scripts/test.sh): the reader is Python and the writer runs the
same insert-by-exchange path as test_gen_update, which runs on the ASan/UBSan build; what this
class adds is the file-system ordering a reader sees, which a sanitizer does not check. 20 inserts,
as issue 11 asks: each is an exchange of the whole cube under a polling reader."""

import datetime as dt
import os
import subprocess
import sys
import textwrap

import numpy as np
from baimstest import xr  # imported on first use (pandas, dask: ~1 s CPU)

from baimstest import BAIMS, TempDirTest, write_cf, write_config

T0 = dt.datetime(2023, 5, 1, 12, 0)
LAT = np.arange(9.75, 0, -0.5)        # 20 rows
LON = np.arange(0.25, 15, 0.5)        # 30 cols
REGION = [0.0, 0.0, 15.0, 10.0]
SIZE = (30, 20)
CHUNKS = (10, 10)
DAYS = 21

READER = textwrap.dedent("""
    import json, os, sys
    import numpy as np
    import xarray as xr
    cube, expected, stop, report = sys.argv[1:5]
    exp = np.load(expected)
    time_of = {float(t): i for i, t in enumerate(exp["time"])}
    stable = straddled = 0
    axes = set()
    wrong = []
    def zmeta():
        with open(os.path.join(cube, ".zmetadata"), "rb") as f:
            return f.read()
    def check():
        global stable, straddled
        before = zmeta()
        try:
            with xr.open_zarr(cube, decode_times=False) as ds:
                t = ds.time.values.astype("f8")
                v = ds.v.values
            error = None
        except Exception as e:  # a read across an exchange may fail; a stable one must not
            error = repr(e)
        if zmeta() != before:
            straddled += 1
            return
        stable += 1
        if error:
            wrong.append(error)
            return
        axes.add(len(t))
        days = [time_of.get(float(x)) for x in t]
        if None in days or days != sorted(days) or days[-1] != len(exp["time"]) - 1 or \\
                len(days) != len(set(days)):
            wrong.append(f"time axis {t.tolist()}")
            return
        for i, d in enumerate(days):
            if not np.array_equal(v[i], exp["v"][d], equal_nan=True):
                wrong.append(f"slice {i} (time {t[i]}) is not day {d}'s")
    while not os.path.exists(stop):
        check()
    check()
    with open(report, "w") as f:
        json.dump({"stable": stable, "straddled": straddled, "axes": sorted(axes),
                   "wrong": wrong[:20]}, f)
""")


class ConcurrentReaders(TempDirTest):  # ctest-label: heavy
    def test_reader_never_sees_a_wrong_slice_during_20_inserts(self):
        paths = []
        for k in range(DAYS):
            path = self.p(f"d{k}.nc")
            rng = np.random.default_rng(k)
            values = rng.normal(loc=10 * k, size=(20, 30))
            values[: k % 5, :] = np.nan
            t = T0 + dt.timedelta(days=k)
            write_cf(path, LAT, LON, values[None], [t],
                     bounds=[(t - dt.timedelta(hours=12), t + dt.timedelta(hours=12))])
            paths.append(path)

        def gen(out, inputs):
            cfg = self.p(os.path.basename(out) + ".yml")
            write_config(cfg, REGION, SIZE, out, chunks=CHUNKS)
            subprocess.run([BAIMS, "--progress", "never", "--threads", "1", "gen", "-c", cfg] +
                           inputs, check=True, capture_output=True)

        # the expected slice of every day, from one cube made of all of them
        full = self.p("full.zarr")
        gen(full, paths)
        with xr.open_zarr(full, decode_times=False) as ds:
            expected = self.p("expected.npz")
            np.savez(expected, time=ds.time.values.astype("f8"), v=ds.v.values)
            self.assertEqual(ds.v.shape, (DAYS, 20, 30))

        cube, stop, report = self.p("cube.zarr"), self.p("stop"), self.p("report.json")
        gen(cube, [paths[-1]])
        script = self.p("reader.py")
        with open(script, "w") as f:
            f.write(READER)
        reader = subprocess.Popen([sys.executable, script, cube, expected, stop, report])
        try:
            for k in range(DAYS - 2, -1, -1):   # each new day lands at t=0: every step shifts
                gen(cube, [paths[k]])
        finally:
            open(stop, "w").close()
            self.assertEqual(reader.wait(timeout=120), 0)
        import json
        with open(report) as f:
            seen = json.load(f)
        self.assertEqual(seen["wrong"], [])
        self.assertGreaterEqual(seen["stable"], 1)
        self.assertIn(DAYS, seen["axes"])           # the final read: every day
        with xr.open_zarr(cube, decode_times=False) as a, xr.open_zarr(full, decode_times=False) as b:
            np.testing.assert_array_equal(a.v.values, b.v.values)


if __name__ == "__main__":
    import unittest
    unittest.main()
