"""Crash safety of the metadata writes of `baims gen` (docs/crash-safety.md "What a reader sees"):
kill -9 just before each syscall that publishes or removes a metadata file of the cube (every
rename onto, and unlink of, the root and per-array .zarray/.zattrs, the coordinate chunks,
.zmetadata, .baims-sources.json and the journal, in the cube or in the new tree an insert or a
replacement builds beside it), and for an update by exchange also before the exchange
(renameat2), the first and the last hard link of the new tree and the first removal from the old
tree, injected with `strace -e inject=…:signal=KILL`; after each kill the cube is opened with
xarray before anything else runs on it and must show exactly the old or exactly the new content
(an insert or a replacement: every value; an append: the appended steps stay invisible); then a
rerun must end in the cube a fresh run makes."""

import datetime as dt
import json
import os
import shutil
import re
import subprocess

import numpy as np
from baimstest import xr  # imported on first use (pandas, dask: ~1 s CPU)

from baimstest import (BAIMS, RUN_ATTRS, TempDirTest, comparable, cube_differences, traced_env,
                       write_cf, write_config)

T0 = dt.datetime(2022, 3, 1, 12, 0)
LAT = np.arange(9.75, 0, -0.5)        # 20 rows, descending
LON = np.arange(0.25, 15, 0.5)        # 30 cols
REGION = [0.0, 0.0, 15.0, 10.0]
SIZE = (45, 30)
CHUNKS = (7, 10)
ARRAYS = ("lat", "lon", "lat_bnds", "lon_bnds", "time", "time_bnds", "crs", "v")
COORD_CHUNKS = ("lat/0", "lon/0", "lat_bnds/0.0", "lon_bnds/0.0", "time/0", "time_bnds/0.0",
                "crs/0")
SYSCALLS = "rename,renameat,renameat2,unlink,unlinkat,link,linkat"


METADATA = ({".zmetadata", ".zattrs", ".zgroup", ".baims-sources.json", ".baims-journal.json"} |
            {f"{a}/{f}" for a in ARRAYS for f in (".zarray", ".zattrs")} | set(COORD_CHUNKS))
CALL = re.compile(r'^\d+\s+(rename|renameat2?|unlink|unlinkat|link|linkat)\((.*)')


def calls(log, cube):
    """The traced syscalls of an strace -o log, in order: (syscall, cube-relative path it
    publishes or removes: the target of a rename or link, the path of an unlink; in the tree
    beside the cube: "SWAP/<path>"), and whether it was killed ("= ?" and the process gone)."""
    out = []
    swap = "../" + os.path.basename(cube) + ".baims-swap"
    with open(log) as f:
        for line in f:
            m = CALL.match(line)
            if not m or "resumed>" in line:
                continue
            paths = re.findall(r'"([^"]*)"', m.group(2))
            target = paths[-1] if m.group(1).startswith(("rename", "link")) else paths[0]
            rel = os.path.relpath(target, cube)
            if rel == swap or rel.startswith(swap + "/"):
                rel = "SWAP" + rel[len(swap):]
            out.append((m.group(1), rel, line.rstrip().endswith("= ?")))
    return out


def kill_points(trace, exchange):
    """1-based indices of the traced calls to kill at: every publication or removal of a metadata
    file in the cube and (exchange) of the new tree's metadata, the exchange, the first and the
    last link, the first removal from the old tree after the exchange."""
    points = []
    links = [i for i, (c, _, _) in enumerate(trace) if c.startswith("link")]
    exchanged = False
    for i, (call, rel, _) in enumerate(trace):
        if call == "renameat2" and rel == "SWAP":
            points.append(i)
            exchanged = True
        elif rel in METADATA:
            points.append(i)
        elif exchange and not exchanged and rel.startswith("SWAP/") and rel[5:] in METADATA \
                and call.startswith("rename"):
            points.append(i)
        elif exchanged and call.startswith("unlink") and rel.startswith("SWAP/") and \
                not any(trace[j][1].startswith("SWAP/") and trace[j][0].startswith("unlink")
                        for j in range(i)):
            points.append(i)
    if exchange:
        points += [links[0], links[-1]]
    return sorted({i + 1 for i in points})


class _MetadataKills(TempDirTest):
    """Inputs of days 5 to 13 and the kill loop; no tests (one class per case below, so that ctest
    runs them apart)."""

    def setUp(self):
        super().setUp()
        self.strace = shutil.which("strace")
        self.assertIsNotNone(self.strace, "strace is needed (scripts/install-deps.sh installs it)")
        self.inputs = {}
        for day in range(5, 14):
            path = self.p(f"d{day}.nc")
            rng = np.random.default_rng(day)
            values = rng.normal(loc=day, size=(20, 30))
            values[: day % 4, :] = np.nan
            t = T0 + dt.timedelta(days=day)
            write_cf(path, LAT, LON, values[None], [t],
                     bounds=[(t - dt.timedelta(hours=12), t + dt.timedelta(hours=12))])
            self.inputs[day] = path

    def command(self, out, days):
        cfg = self.p(os.path.basename(out) + ".yml")
        write_config(cfg, REGION, SIZE, out, chunks=CHUNKS)
        return [BAIMS, "--progress", "never", "--threads", "1", "gen", "-c", cfg] + [self.inputs[d] for d in days]

    def gen(self, out, days):
        subprocess.run(self.command(out, days), check=True, capture_output=True)

    def view(self, out):
        """What a reader sees: xarray (consolidated metadata) must open the cube."""
        with open(os.path.join(out, ".zmetadata"), "rb") as f:
            zmeta = comparable(".zmetadata", f.read())
        ds = xr.open_zarr(out)
        return {"zmetadata": zmeta, "time": ds.time.values, "time_bnds": ds.time_bnds.values,
                "v": ds.v.values, "attrs": {k: v for k, v in ds.attrs.items() if k not in RUN_ATTRS}}

    def kill_at_every_metadata_write(self, old_days, new_days, fresh_days, exchange):
        base, done, fresh = self.p("base.zarr"), self.p("done.zarr"), self.p("fresh.zarr")
        self.gen(base, old_days)
        shutil.copytree(base, done)
        self.gen(done, new_days)
        self.gen(fresh, fresh_days)
        self.assertEqual(cube_differences(done, fresh), [])
        old, new = self.view(base), self.view(done)
        self.assertNotEqual(old["zmetadata"], new["zmetadata"])
        # the update's rename/unlink/link syscalls, in order (deterministic with one thread)
        probe = self.p("probe.zarr")
        shutil.copytree(base, probe)
        log = self.p("trace.log")
        subprocess.run([self.strace, "-f", "-qq", "-o", log, "-e", f"trace={SYSCALLS}"] +
                       self.command(probe, new_days), check=True, capture_output=True,
                       env=traced_env())
        trace = calls(log, probe)
        self.assertEqual(any(c == "renameat2" and rel == "SWAP" for c, rel, _ in trace), exchange)
        points = kill_points(trace, exchange)
        seen_missing_time = 0
        for n in points:
            out = self.p(f"k{n}.zarr")
            shutil.copytree(base, out)
            # strace counts `when` per syscall: the n-th call is the k-th of its kind
            name = trace[n - 1][0]
            k = sum(1 for c in trace[:n] if c[0] == name)
            cmd = [self.strace, "-f", "-qq", "-o", log, "-e", f"trace={SYSCALLS}",
                   "-e", f"inject={name}:signal=KILL:when={k}"]
            p = subprocess.run(cmd + self.command(out, new_days), capture_output=True, text=True,
                               env=traced_env())
            with self.subTest(kill=n, at=trace[n - 1][:2]):
                self.assertEqual(p.returncode, -9, p.stderr)
                # killed exactly there: the n-th call, the expected file, and nothing after it
                killed = calls(log, out)
                self.assertEqual(len(killed), n)
                self.assertEqual(killed[-1][:2], trace[n - 1][:2])
                self.assertTrue(killed[-1][2])
                journal = os.path.join(out, ".baims-journal.json")
                phase = None
                if os.path.exists(journal):
                    with open(journal) as f:
                        phase = json.load(f)["phase"]
                seen = self.view(out)       # opens, before anything else touches the cube
                self.assertIn(seen["zmetadata"], (old["zmetadata"], new["zmetadata"]))
                version = old if seen["zmetadata"] == old["zmetadata"] else new
                self.assertEqual(seen["attrs"], version["attrs"])
                if exchange:
                    # the old cube until the exchange, the new one from then on: every value
                    self.assertEqual(version is new, phase == "D", phase)
                    for key in ("time", "time_bnds", "v"):
                        np.testing.assert_array_equal(seen[key], version[key])
                else:
                    # an append: the time coordinate is the version's, or missing (NaT) in the
                    # short window between removing the time chunks of the old length and
                    # writing those of the new
                    for coord, chunk in (("time", "0"), ("time_bnds", "0.0")):
                        if np.isnat(seen[coord]).all():
                            self.assertEqual(phase, "M")
                            self.assertFalse(os.path.exists(os.path.join(out, coord, chunk)))
                            seen_missing_time += 1
                        else:
                            np.testing.assert_array_equal(seen[coord], version[coord])
                    # the appended steps are invisible until .zmetadata names them
                    np.testing.assert_array_equal(seen["v"], version["v"])
                # a rerun completes the update: the cube a fresh run makes
                self.gen(out, new_days)
                self.assertEqual(cube_differences(out, fresh), [])
                self.assertFalse(os.path.exists(journal))
                self.assertFalse(os.path.exists(out + ".baims-swap"))
            shutil.rmtree(out)
        # every metadata file is written (in the cube, or in the new tree exchanged with it)
        written = {rel[5:] if rel.startswith("SWAP/") else rel for _, rel, _ in trace}
        self.assertEqual(written & METADATA, METADATA)
        self.assertGreaterEqual(len(points), len(METADATA) + 1)
        self.assertEqual(cube_differences(probe, fresh), [])
        return seen_missing_time

class MetadataKillsInsert(_MetadataKills):  # ctest-label: heavy
    def test_insert_into_days_5_7_9(self):
        """The issue's case: a cube of days 5, 7, 9 given days 5 to 9 (6 and 8 inserted, the
        others unchanged); xarray used to fail with "cannot reshape array of size 5 into shape
        (3,)" after a kill between the time chunk and .zmetadata, and (issue 11) to show slices
        at the wrong time during the shift."""
        self.kill_at_every_metadata_write([5, 7, 9], [5, 6, 7, 8, 9], [5, 6, 7, 8, 9], True)

class MetadataKillsAppend(_MetadataKills):  # ctest-label: heavy
    def test_append_to_days_5_7_9(self):
        missing = self.kill_at_every_metadata_write([5, 7, 9], [11, 13], [5, 7, 9, 11, 13], False)
        self.assertGreater(missing, 0)

class MetadataKillsReplace(_MetadataKills):  # ctest-label: heavy
    def test_replace_keeps_length(self):
        """Replacing a day (other values) in the middle of the cube: by exchange, every value old
        or new."""
        t = T0 + dt.timedelta(days=7)
        self.inputs["7b"] = self.p("d7b.nc")
        write_cf(self.inputs["7b"], LAT, LON, np.full((1, 20, 30), 3.5), [t],
                 bounds=[(t - dt.timedelta(hours=12), t + dt.timedelta(hours=12))])
        self.kill_at_every_metadata_write([5, 7, 9], ["7b"], [5, "7b", 9], True)


if __name__ == "__main__":
    import unittest
    unittest.main()
