"""baims gen with output_path on /vsis3/ against a throwaway S3 server (s3rver, started by
tests/scripts/s3rver.sh, which exports GDAL's AWS_* settings and BAIMS_TEST_S3_BUCKET/_DATA).

Every cube written to S3 is compared, file by file, with the cube the same inputs make on a
local disk (only the run attributes date_created, date_modified and history may differ); GDAL
reads it straight from /vsis3/, xarray from a copy of the bucket's objects (s3rver keeps object K
of bucket B as B/K._S3rver_object; s3fs is not installed here)."""

import datetime as dt
import json
import os
import re
import shutil
import sys

import numpy as np
import xarray as xr

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "conformance"))

from baimstest import (RUN_ATTRS, TempDirTest, cube_differences, cube_files, nearest_expected,  # noqa: E402
                       run, write_cf, write_config)

BUCKET = os.environ.get("BAIMS_TEST_S3_BUCKET", "")
DATA = os.environ.get("BAIMS_TEST_S3_DATA", "")
SUFFIX = "._S3rver_object"

T0 = dt.datetime(2022, 3, 1, 11, 0)
LAT = np.arange(9.75, 0, -0.5)        # 20 rows, descending
LON = np.arange(0.25, 15, 0.5)        # 30 cols
REGION = [0.0, 0.0, 15.0, 10.0]
SIZE = (60, 40)                       # 2x upsampling, no output centre on a source edge
CHUNKS = (16, 25)                     # ragged: 3 x 3 chunks per slice


def field(k):
    rng = np.random.default_rng(200 + k)
    d = rng.normal(loc=k, size=(20, 30))
    d[: 2 + 3 * (k % 3), :] = np.nan  # the top chunk row is empty (not written) on days 2 and 5
    return d


def s3_keys(prefix):
    """Every object key under prefix/ in the server's bucket, relative to it, sorted."""
    base = os.path.join(DATA, BUCKET, prefix)
    out = []
    for root, _dirs, files in os.walk(base):
        for f in files:
            if f.endswith(SUFFIX):
                out.append(os.path.relpath(os.path.join(root, f), base)[: -len(SUFFIX)])
    return sorted(out)


def copy_from_s3(prefix, dst):
    """Copies the objects under prefix/ to the folder dst (a plain Zarr folder)."""
    shutil.rmtree(dst, ignore_errors=True)
    os.makedirs(dst)
    for key in s3_keys(prefix):
        target = os.path.join(dst, key)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(os.path.join(DATA, BUCKET, prefix, key + SUFFIX), target)


class _S3Test(TempDirTest):
    """Inputs for days 1..6 (day 4 twice), gen helpers; no tests."""

    def setUp(self):
        super().setUp()
        if not BUCKET or not DATA:
            self.fail("run through tests/scripts/s3rver.sh (BAIMS_TEST_S3_BUCKET is not set)")
        self.inputs = {}
        for k in range(1, 7):
            t = T0 + dt.timedelta(days=k)
            path = self.p(f"in{k}.nc")
            write_cf(path, LAT, LON, field(k)[None], [t],
                     bounds=[(t - dt.timedelta(hours=12), t + dt.timedelta(hours=12))])
            self.inputs[k] = path
        t = T0 + dt.timedelta(days=4)
        path = self.p("in4b.nc")
        write_cf(path, LAT, LON, (field(4) * 2 + 1)[None], [t],
                 bounds=[(t - dt.timedelta(hours=12), t + dt.timedelta(hours=12))])
        self.inputs["4b"] = path
        self.values = {k: field(k) for k in range(1, 7)}
        self.values["4b"] = field(4) * 2 + 1

    def gen(self, out, keys, check=0, env=None, name="cfg"):
        cfg = self.p(name + ".yml")
        write_config(cfg, REGION, SIZE, out, chunks=CHUNKS)
        return run(["gen", "-c", cfg] + [self.inputs[k] for k in keys], env=env, check=check)

    def s3(self, prefix):
        return f"/vsis3/{BUCKET}/{prefix}/c.zarr"

    def reference(self, keys):
        """The cube that keys make on a local disk in one run."""
        ref = self.p("ref-" + "-".join(str(k) for k in keys) + ".zarr")
        if not os.path.exists(ref):
            self.gen(ref, keys, name="ref")
        return ref

    def assert_s3_cube(self, prefix, keys, skip=()):
        """The cube on S3 at prefix holds exactly what keys make: no other objects (no journal,
        staging or marker left), every object the bytes of the local cube, and xarray and GDAL
        read the expected values (nearest-neighbour reference computed here with numpy)."""
        ref = self.reference(keys)
        local = self.p("copy-" + prefix.replace("/", "_") + ".zarr")
        copy_from_s3(prefix + "/c.zarr", local)
        self.assertEqual(cube_files(local), cube_files(ref))
        self.assertEqual(cube_differences(local, ref, skip=skip), [])
        expected = np.stack([nearest_expected(self.values[k], LAT, LON, REGION, SIZE)
                             for k in keys]).astype("f4")
        ds = xr.open_zarr(local)
        np.testing.assert_array_equal(ds.v.values, expected)
        days = sorted(int(str(k)[0]) for k in keys)
        want = np.array([np.datetime64(T0 + dt.timedelta(days=d), "ns") for d in days])
        np.testing.assert_array_equal(ds.time.values, want)
        drop = RUN_ATTRS + (("source",) if skip else ())  # skip: other input names
        strip = lambda attrs: {k: v for k, v in attrs.items() if k not in drop}
        self.assertEqual(strip(ds.attrs), strip(xr.open_zarr(ref).attrs))
        # GDAL straight from the server, with the same AWS_* settings
        from osgeo import gdal
        gdal.UseExceptions()
        gdal.VSICurlClearCache()  # this process read the cube before: GDAL caches objects
        g = gdal.OpenEx(self.s3(prefix), gdal.OF_MULTIDIM_RASTER)
        arr = g.GetRootGroup().OpenMDArray("v").ReadAsArray()
        np.testing.assert_array_equal(arr, expected)
        return local


    def assert_reader_sees(self, prefix, keys):
        """Before any rerun: xarray, opening the cube as a reader would, sees exactly the time
        steps of keys with their values (nothing shifted, nothing half-replaced)."""
        local = self.p("view-" + prefix.replace("/", "_") + ".zarr")
        copy_from_s3(prefix + "/c.zarr", local)
        ds = xr.open_zarr(local)
        want = np.array([np.datetime64(T0 + dt.timedelta(days=int(str(k)[0])), "ns") for k in keys],
                        dtype="datetime64[ns]")
        np.testing.assert_array_equal(ds.time.values, want)
        self.assertEqual(ds.v.shape[0], len(keys))
        if keys:
            expected = np.stack([nearest_expected(self.values[k], LAT, LON, REGION, SIZE)
                                 for k in keys]).astype("f4")
            np.testing.assert_array_equal(ds.v.values, expected)


class S3Gen(_S3Test):
    def test_create_append_insert_replace_rerun(self):
        out = self.s3("u")
        p = self.gen(out, [2, 4])
        self.assertIn("created cube: 2 appended", p.stderr)
        self.assert_s3_cube("u", [2, 4])
        p = self.gen(out, [6])            # append
        self.assertIn("1 appended, 0 inserted, 0 replaced", p.stderr)
        self.assert_s3_cube("u", [2, 4, 6])
        p = self.gen(out, [1, 3])         # insert before and in the middle
        self.assertIn("0 appended, 2 inserted, 0 replaced", p.stderr)
        self.assert_s3_cube("u", [1, 2, 3, 4, 6])
        p = self.gen(out, ["4b", 5])      # replace and insert
        self.assertIn("0 appended, 1 inserted, 1 replaced", p.stderr)
        local = self.assert_s3_cube("u", [1, 2, 3, "4b", 5, 6])
        # a rerun of the same inputs is a no-op: not one object changes
        before = {k: open(os.path.join(DATA, BUCKET, "u/c.zarr", k + SUFFIX), "rb").read()
                  for k in s3_keys("u/c.zarr")}
        p = self.gen(out, [1, 2, 3, "4b", 5, 6])
        self.assertIn("cube is up to date (nothing changed); 6 time steps", p.stderr)
        after = {k: open(os.path.join(DATA, BUCKET, "u/c.zarr", k + SUFFIX), "rb").read()
                 for k in s3_keys("u/c.zarr")}
        self.assertEqual(before, after)
        self.assertEqual(len(xr.open_zarr(local).attrs["history"].splitlines()), 4)

    def test_inputs_on_s3(self):
        from osgeo import gdal
        for k in (1, 2, 3):
            with open(self.inputs[k], "rb") as f:
                data = f.read()
            h = gdal.VSIFOpenL(f"/vsis3/{BUCKET}/inputs/day{k}.nc", "wb")
            gdal.VSIFWriteL(data, 1, len(data), h)
            self.assertEqual(gdal.VSIFCloseL(h), 0)
        out = self.s3("from-s3")
        cfg = self.p("in.yml")
        write_config(cfg, REGION, SIZE, out, chunks=CHUNKS)
        tmp = self.p("tmp")
        os.makedirs(tmp)
        env = {"TMPDIR": tmp}  # where the downloads go, removed after the run
        p = run(["gen", "-c", cfg, f"/vsis3/{BUCKET}/inputs/day[12].nc",
                 f"/vsis3/{BUCKET}/inputs/day3.nc"], env=env, check=0)
        self.assertIn("created cube: 3 appended", p.stderr)
        self.assertEqual(os.listdir(tmp), [])
        # the inputs' names differ from the reference's (dayK.nc, inK.nc): the global attribute
        # source and the records of .baims-sources.json name them
        local = self.assert_s3_cube("from-s3", [1, 2, 3],
                                    skip=(".baims-sources.json", ".zattrs", ".zmetadata"))
        self.assertEqual(xr.open_zarr(local).attrs["source"], "day1.nc, day2.nc, day3.nc")
        # the downloads keep the objects' names and times: a rerun changes nothing
        p = run(["gen", "-c", cfg, f"/vsis3/{BUCKET}/inputs/day*.nc"], env=env, check=0)
        self.assertIn("cube is up to date (nothing changed); 3 time steps", p.stderr)
        p = run(["gen", "-c", cfg, f"/vsis3/{BUCKET}/inputs/nothing*.nc"], env=env, check=4)
        self.assertIn(f"error: no input matches '/vsis3/{BUCKET}/inputs/nothing*.nc'. Check the "
                      "pattern and the bucket", p.stderr)
        self.assertEqual(os.listdir(tmp), [])

    def test_dry_run_writes_nothing(self):
        out = self.s3("dry")
        cfg = self.p("dry.yml")
        write_config(cfg, REGION, SIZE, out, chunks=CHUNKS)
        p = run(["gen", "-c", cfg, "--dry-run", self.inputs[1]], check=0)
        self.assertIn("dry run: would create cube '" + out + "'", p.stderr)
        self.assertEqual(s3_keys("dry"), [])


class S3KillCreate(_S3Test):
    """kill -9 in the middle of a create, then the same command again: the cube is exactly the
    one an uninterrupted run makes."""

    def test_kill9_during_create_then_rerun(self):
        for name, n in [("chunk", 5), ("create-rename", 1)]:
            with self.subTest(point=name):
                prefix = "create-" + name
                out = self.s3(prefix)
                self.gen(out, [1, 2, 3], env={"BAIMS_TEST_KILL_AT": f"{name}:{n}"}, check=-9)
                keys = s3_keys(prefix + "/c.zarr")
                self.assertIn(".baims-creating", keys)  # the marker says: not finished
                p = self.gen(out, [1, 2, 3])
                self.assertIn("removing the unfinished new cube", p.stderr)
                self.assertIn("created cube: 3 appended", p.stderr)
                self.assert_s3_cube(prefix, [1, 2, 3])


    def test_failed_create_removes_what_it_wrote(self):
        out = self.s3("failed")
        p = self.gen(out, [1, 2, 3], env={"BAIMS_TEST_FAIL_AT": "chunk:4"}, check=70)
        self.assertIn(f"warning: removed the unfinished new cube '{out}'", p.stderr)
        self.assertEqual(s3_keys("failed"), [])


class _KillInsert(_S3Test):
    """kill -9 at fault points of an insert (days 1 and 3 into [2, 4, 5]: every step shifts),
    then the same command again; one class per half, so that ctest runs them side by side."""

    def kill_insert_then_rerun(self, points, copied=None):
        """copied: (from, to) chunk keys to copy after the kill, as a kill right after the copy
        of a move leaves them."""
        for name, n in points:
            with self.subTest(point=f"{name}:{n}", copied=copied):
                prefix = f"insert-{name}-{n}" + ("-copied" if copied else "")
                out = self.s3(prefix)
                self.gen(out, [2, 4, 5])
                self.gen(out, [1, 3], env={"BAIMS_TEST_KILL_AT": f"{name}:{n}"}, check=-9)
                if copied:
                    from osgeo import gdal
                    gdal.VSICurlClearCache()
                    src = gdal.VSIFOpenL(f"{out}/{copied[0]}", "rb")
                    data = gdal.VSIFReadL(1, 1 << 20, src)
                    gdal.VSIFCloseL(src)
                    self.assertGreater(len(data), 0)
                    dst = gdal.VSIFOpenL(f"{out}/{copied[1]}", "wb")
                    gdal.VSIFWriteL(data, 1, len(data), dst)
                    self.assertEqual(gdal.VSIFCloseL(dst), 0)
                keys = s3_keys(prefix + "/c.zarr")
                committed = ".baims-journal.json" in keys
                self.assertEqual(committed, name != "before-commit")
                if committed:
                    base = os.path.join(DATA, BUCKET, prefix, "c.zarr")
                    with open(os.path.join(base, ".baims-journal.json" + SUFFIX)) as f:
                        phase = json.load(f)["phase"]
                    self.assertEqual(phase, {"journal-S": "S", "journal-C": "C",
                                             "journal-M": "M"}[name])
                    if name == "journal-S":  # one of three shifted time steps has moved
                        with open(os.path.join(base, ".baims-journal-progress" + SUFFIX)) as f:
                            self.assertEqual(f.read(), "1")
                # the staged chunks stay until the metadata is written (copied, never moved)
                self.assertTrue(any(k.startswith(".baims-staging/") for k in keys))
                # a reader meanwhile: the old cube before the commit; after it the cube cut
                # before the first time step the insert changes (day 1 goes to t=0: none left)
                self.assert_reader_sees(prefix, [] if committed else [2, 4, 5])
                p = self.gen(out, [1, 3])
                if committed:
                    self.assertIn("completing an interrupted update", p.stderr)
                self.assert_s3_cube(prefix, [1, 2, 3, 4, 5])


# Under ASan one kill per journal phase of an update on S3 runs: S here (S3KillInsertShift), C in
# S3KillAppend, M and before-commit in S3KillAppendDirect, the create in S3KillCreate. The other
# insert kills (`# ctest-label: heavy`, dev only: scripts/test.sh) reach the same recovery code
# at other points; under ASan each kill costs ~40 s of CI.
class S3KillInsertShift(_KillInsert):
    def test_kill9_mid_shift_then_rerun(self):
        # shift order: day 5 (6 chunks), day 4 (9), day 2 (6): the 8th move is inside the
        # second time step, after the journal recorded the first as done
        self.kill_insert_then_rerun([("journal-S", 8)])


class S3KillInsertShiftMore(_KillInsert):  # ctest-label: heavy
    def test_kill9_before_commit_and_after_a_copy_then_rerun(self):
        self.kill_insert_then_rerun([("before-commit", 1)])
        # the 8th move killed after its copy was made (its source stays): v/1.0.1 -> v/2.0.1
        self.kill_insert_then_rerun([("journal-S", 8)], copied=("v/1.0.1", "v/2.0.1"))


class S3KillInsertApply(_KillInsert):  # ctest-label: heavy
    def test_kill9_while_placing_and_writing_metadata_then_rerun(self):
        self.kill_insert_then_rerun([("journal-C", 2), ("journal-M", 1)])


class S3KillAppend(_S3Test):
    def test_kill9_during_append_and_replace_then_rerun(self):
        prefix = "append"
        out = self.s3(prefix)
        self.gen(out, [1, 2, 4])
        self.gen(out, [5, 6, "4b"], env={"BAIMS_TEST_KILL_AT": "journal-C:2"}, check=-9)
        # a reader before the rerun: days 1 and 2 only (day 4 is being replaced), not a mix
        self.assert_reader_sees(prefix, [1, 2])
        p = self.gen(out, [5, 6, "4b"])
        self.assertIn("completing an interrupted update", p.stderr)
        self.assert_s3_cube(prefix, [1, 2, "4b", 5, 6])


class S3KillAppendDirect(_S3Test):
    """An append writes its chunks straight to their final keys beyond the cube's end (no
    staging, no copy): kill -9 while they are written, before the journal and in phase M; before
    each rerun a reader sees exactly the old cube, and the next run (the same or another append)
    deletes what a killed one left beyond the end before it writes there."""

    def direct_keys(self, prefix, t):
        return [k for k in s3_keys(prefix + "/c.zarr") if k.startswith(f"v/{t}.")]

    def test_kill9_during_direct_append_then_rerun(self):
        prefix = "direct"
        out = self.s3(prefix)
        self.gen(out, [1, 2])
        # all of day 3 written at t=2, killed before the journal; the next run appends day 5
        # instead, whose top chunk row is empty: day 3's chunks there must not show through
        self.gen(out, [3], env={"BAIMS_TEST_KILL_AT": "before-commit:1"}, check=-9)
        keys = s3_keys(prefix + "/c.zarr")
        self.assertFalse([k for k in keys if k.startswith(".baims-staging/")])
        self.assertNotIn(".baims-journal.json", keys)
        self.assertEqual(len(self.direct_keys(prefix, 2)), 9)  # 3 x 3 chunks, at their keys
        self.assert_reader_sees(prefix, [1, 2])
        p = self.gen(out, [5])
        self.assertIn("1 appended, 0 inserted, 0 replaced", p.stderr)
        self.assertEqual(len(self.direct_keys(prefix, 2)), 6)  # day 5: the top row is empty
        self.assert_s3_cube(prefix, [1, 2, 5])
        # day 6: killed while its chunks are written, then at the start of phase M (journal
        # written, chunks in place, metadata old), then completed
        for point in ("chunk:3", "journal-M:1"):
            self.gen(out, [6], env={"BAIMS_TEST_KILL_AT": point}, check=-9)
            keys = s3_keys(prefix + "/c.zarr")
            self.assertFalse([k for k in keys if k.startswith(".baims-staging/")])
            self.assertEqual(".baims-journal.json" in keys, point == "journal-M:1")
            self.assertTrue(self.direct_keys(prefix, 3))
            self.assert_reader_sees(prefix, [1, 2, 5])
        self.assertEqual(len(self.direct_keys(prefix, 3)), 9)
        p = self.gen(out, [6])
        self.assertIn("completing an interrupted update", p.stderr)
        self.assert_s3_cube(prefix, [1, 2, 5, 6])


class S3Errors(_S3Test):
    def test_objects_that_are_not_a_cube_are_refused(self):
        from osgeo import gdal
        f = gdal.VSIFOpenL(f"/vsis3/{BUCKET}/other/c.zarr/readme.txt", "wb")
        gdal.VSIFWriteL(b"not a cube", 1, 10, f)
        gdal.VSIFCloseL(f)
        p = self.gen(self.s3("other"), [1], check=5)
        self.assertIn(f"error: output path '{self.s3('other')}' holds objects and is not a Zarr "
                      "cube. Choose another output_path or remove them", p.stderr)
        self.assertEqual(s3_keys("other/c.zarr"), ["readme.txt"])

    def test_unreachable_server_message_has_no_credentials(self):
        env = {"AWS_S3_ENDPOINT": "127.0.0.1:1", "AWS_SECRET_ACCESS_KEY": "SecretNotToBeShown",
               "AWS_ACCESS_KEY_ID": "KeyIdNotToBeShown"}
        p = self.gen(self.s3("down"), [1], check=7, env=env)
        self.assertRegex(p.stderr, "baims gen: error: cannot look up "
                         f"'{re.escape(self.s3('down'))}/.baims-creating': CURL error: Failed to "
                         r"connect to 127\.0\.0\.1 port 1 after \d+ ms: Couldn't connect to "
                         r"server\. Check AWS_S3_ENDPOINT, the credentials GDAL finds \(AWS_\* "
                         r"variables, ~/\.aws\) and the network, then run again\n")
        for secret in ("SecretNotToBeShown", "KeyIdNotToBeShown"):
            self.assertNotIn(secret, p.stderr + p.stdout)

    def test_wrong_credentials_message_has_no_credentials(self):
        env = {"AWS_SECRET_ACCESS_KEY": "SecretNotToBeShown", "AWS_ACCESS_KEY_ID": "KeyIdNotToBeShown"}
        p = self.gen(self.s3("denied"), [1], check=7, env=env)
        self.assertEqual(p.stderr.splitlines()[-1],
                         f"baims gen: error: cannot look up '{self.s3('denied')}/.baims-creating': "
                         "The AWS Access Key Id you provided does not exist in our records. Check "
                         "AWS_S3_ENDPOINT, the credentials GDAL finds (AWS_* variables, ~/.aws) and "
                         "the network, then run again")
        for secret in ("SecretNotToBeShown", "KeyIdNotToBeShown"):
            self.assertNotIn(secret, p.stderr + p.stdout)
        self.assertEqual(s3_keys("denied"), [])

    def test_other_virtual_paths_are_refused(self):
        p = self.gen("/vsimem/c.zarr", [1], check=3)
        self.assertIn("error: output_path '/vsimem/c.zarr': GDAL virtual paths other than /vsis3/ "
                      "as output_path is not available in this version", p.stderr)
