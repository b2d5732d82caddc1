"""baims prune and baims optimise on cubes on /vsis3/, and the lease that keeps two writers of
one S3 cube apart, against a throwaway S3 server (s3rver, started by tests/scripts/s3rver.sh).

Every result is compared with what the same command makes of the same cube on a local disk
(object by object) and read back with xarray (from a copy of the bucket) and GDAL (from
/vsis3/); the chunks prune deletes are the ones this test filled with NaN itself."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import xarray as xr
import zarr
from osgeo import gdal

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "conformance"))

from baimstest import cube_differences, cube_files, run  # noqa: E402
from test_gen_s3 import BUCKET, DATA, SUFFIX, _S3Test, copy_from_s3, s3_keys  # noqa: E402

gdal.UseExceptions()


def upload(local, prefix):
    """Copies the folder local to the objects under prefix/ of the bucket (not the lock file)."""
    for root, _dirs, files in os.walk(local):
        for f in files:
            if f == ".baims-lock":
                continue
            path = os.path.join(root, f)
            with open(path, "rb") as src:
                data = src.read()
            key = os.path.relpath(path, local)
            h = gdal.VSIFOpenL(f"/vsis3/{BUCKET}/{prefix}/{key}", "wb")
            if data:
                gdal.VSIFWriteL(data, 1, len(data), h)
            assert gdal.VSIFCloseL(h) == 0


def put_object(path, text):
    h = gdal.VSIFOpenL(path, "wb")
    gdal.VSIFWriteL(text.encode(), 1, len(text), h)
    assert gdal.VSIFCloseL(h) == 0


def lease(host, pid, expires_unix, expires, command="gen"):
    return json.dumps({"format": "baims-lease/1", "holder": f"{host}:{pid}:1", "host": host,
                       "pid": pid, "command": command, "expires": expires,
                       "expires_unix": expires_unix}) + "\n"


def object_bytes(prefix):
    out = {}
    for k in s3_keys(prefix):
        with open(os.path.join(DATA, BUCKET, prefix, k + SUFFIX), "rb") as f:
            out[k] = f.read()
    return out


class _OpsTest(_S3Test):
    def s3_cube(self, prefix, keys=(1, 2, 3)):
        """The cube of keys made locally, with 4 chunks filled with NaN by zarr (written as
        chunk objects), uploaded to prefix/c.zarr; returns the local cube."""
        local = self.p(prefix.replace("/", "_") + "-local.zarr")
        self.gen(local, list(keys), name=prefix.replace("/", "_"))
        g = zarr.open_group(local, mode="r+")
        g["v"][0, 0:16, 0:25] = np.nan    # chunk v/0.0.0
        g["v"][2, 16:32, :] = np.nan      # chunks v/2.1.0, v/2.1.1, v/2.1.2
        for key in ("v/0.0.0", "v/2.1.0", "v/2.1.1", "v/2.1.2"):
            self.assertTrue(os.path.exists(os.path.join(local, key)), key)
        upload(local, prefix + "/c.zarr")
        return local

    def assert_same_values(self, prefix, local):
        """The S3 cube at prefix/c.zarr reads as the local cube (every value, NaN included), by
        xarray from a copy and by GDAL from /vsis3/."""
        copy = self.p("copy-" + prefix.replace("/", "_") + ".zarr")
        copy_from_s3(prefix + "/c.zarr", copy)
        want = xr.open_zarr(local).v.values
        np.testing.assert_array_equal(xr.open_zarr(copy).v.values, want)
        gdal.VSICurlClearCache()
        g = gdal.OpenEx(f"/vsis3/{BUCKET}/{prefix}/c.zarr", gdal.OF_MULTIDIM_RASTER)
        np.testing.assert_array_equal(g.GetRootGroup().OpenMDArray("v").ReadAsArray(), want)
        return copy


class S3Prune(_OpsTest):
    def test_dry_run_then_prune(self):
        local = self.s3_cube("prune")
        out = self.s3("prune")
        before = object_bytes("prune/c.zarr")
        filled = ["v/0.0.0", "v/2.1.0", "v/2.1.1", "v/2.1.2"]
        p = run(["--dry-run", "prune", out], check=0)
        self.assertEqual(p.stdout, "".join(f"{k} {len(before[k])}\n" for k in filled))
        self.assertIn("would prune 4 of", p.stderr)
        self.assertEqual(object_bytes("prune/c.zarr"), before)
        p = run(["prune", out], check=0)
        chunks = sum(1 for k in before if k.startswith("v/") and not k.startswith("v/."))
        self.assertIn(f"pruned 4 of {chunks} chunks", p.stderr)
        after = object_bytes("prune/c.zarr")
        self.assertEqual(sorted(after), sorted(set(before) - set(filled)))  # exact, no lease left
        self.assertEqual(after, {k: v for k, v in before.items() if k not in filled})
        self.assert_same_values("prune", local)
        # the same prune of the local cube deletes the same chunks
        p = run(["prune", local], check=0)
        self.assertEqual(cube_files(self.p("copy-prune.zarr")), cube_files(local))
        # a second prune finds nothing
        p = run(["prune", out], check=0)
        self.assertIn(f"pruned 0 of {chunks - 4} chunks", p.stderr)


class S3OptimiseCopy(_OpsTest):
    def reference(self, local, spec):
        ref = self.p("ref-opt.zarr")
        run(["optimise", local, "-o", ref, "--chunks", spec], check=0)
        return ref

    def check_copy(self, prefix, ref):
        keys = s3_keys(prefix + "/c.zarr")
        self.assertNotIn(".baims-creating", keys)
        self.assertNotIn(".baims-lock", keys)
        copy = self.p("copy-" + prefix.replace("/", "_") + ".zarr")
        copy_from_s3(prefix + "/c.zarr", copy)
        self.assertEqual(cube_files(copy), cube_files(ref))
        self.assertEqual(cube_differences(copy, ref), [])
        # .zmetadata holds exactly the metadata objects next to it
        with open(os.path.join(copy, ".zmetadata")) as f:
            meta = json.load(f)
        want = {}
        for k in cube_files(copy):
            if os.path.basename(k) in (".zarray", ".zattrs", ".zgroup"):
                with open(os.path.join(copy, k)) as f:
                    want[k] = json.load(f)
        self.assertEqual(meta, {"metadata": want, "zarr_consolidated_format": 1})
        self.assertEqual(zarr.open_consolidated(copy)["v"].chunks, (1, 40, 60))

    def test_s3_to_s3_copy_and_dry_run(self):
        local = self.s3_cube("src")
        ref = self.reference(local, "time=1,lat=40,lon=60")
        before = object_bytes("src/c.zarr")
        p = run(["--dry-run", "optimise", self.s3("src"), "-o", self.s3("dst"),
                 "--chunks", "time=1,lat=40,lon=60"], check=0)
        self.assertEqual(s3_keys("dst"), [])
        run(["optimise", self.s3("src"), "-o", self.s3("dst"), "--chunks", "time=1,lat=40,lon=60"],
            check=0)
        self.check_copy("dst", ref)
        self.assertEqual(object_bytes("src/c.zarr"), before)  # the source is untouched
        self.assert_same_values("dst", local)
        p = run(["optimise", self.s3("src"), "-o", self.s3("dst")], check=5)
        self.assertEqual(p.stderr.splitlines()[-1],
                         f"baims optimise: error: output '{self.s3('dst')}' exists. Remove it or "
                         "choose another -o path")
        # S3 to a local folder and a local cube to S3: the same cube
        run(["optimise", self.s3("src"), "-o", self.p("from-s3.zarr"), "--chunks",
             "time=1,lat=40,lon=60"], check=0)
        self.assertEqual(cube_differences(self.p("from-s3.zarr"), ref), [])
        run(["optimise", local, "-o", self.s3("up"), "--chunks", "time=1,lat=40,lon=60"], check=0)
        self.check_copy("up", ref)

    def test_kill9_during_copy_then_rerun(self):
        local = self.s3_cube("src")
        ref = self.reference(local, "time=1,lat=40,lon=60")
        for point in ("optimise.chunk:2", "optimise.before_publish:1"):
            with self.subTest(point=point):
                prefix = "k-" + point.replace(":", "-")
                args = ["optimise", self.s3("src"), "-o", self.s3(prefix), "--chunks",
                        "time=1,lat=40,lon=60"]
                run(args, env={"BAIMS_TEST_KILL_AT": point}, check=-9)
                keys = s3_keys(prefix + "/c.zarr")
                self.assertIn(".baims-creating", keys)
                self.assertNotIn(".zgroup", keys)  # no reader sees a cube yet
                self.assertNotIn(".zmetadata", keys)
                p = run(args, check=0)
                self.assertIn(f"removing the unfinished optimised cube '{self.s3(prefix)}'",
                              p.stderr)
                self.check_copy(prefix, ref)


class S3OptimiseInPlace(_OpsTest):
    SPEC = "time=1,lat=20,lon=30"

    def reference(self, local):
        ref = self.p("ref-inplace.zarr")
        if not os.path.exists(ref):
            run(["optimise", local, "-o", ref, "--chunks", self.SPEC], check=0)
        return ref

    def check(self, prefix, ref):
        keys = s3_keys(prefix + "/c.zarr")
        self.assertFalse([k for k in keys if k.startswith(".baims-") and k != ".baims-sources.json"],
                         keys)
        copy = self.p("copy-" + prefix + ".zarr")
        copy_from_s3(prefix + "/c.zarr", copy)
        self.assertEqual(cube_files(copy), cube_files(ref))
        self.assertEqual(cube_differences(copy, ref), [])
        self.assertEqual(zarr.open_consolidated(copy)["v"].chunks, (1, 20, 30))

    def test_in_place_dry_run_and_consolidate_only(self):
        local = self.s3_cube("ip")
        ref = self.reference(local)
        before = object_bytes("ip/c.zarr")
        p = run(["--dry-run", "optimise", self.s3("ip"), "--in-place", "--chunks", self.SPEC],
                check=0)
        self.assertIn("dry run: rewrote 1 arrays (v); wrote .zmetadata", p.stderr)
        self.assertEqual(object_bytes("ip/c.zarr"), before)
        run(["optimise", self.s3("ip"), "--in-place", "--chunks", self.SPEC], check=0)
        self.check("ip", ref)
        self.assert_same_values("ip", local)
        p = run(["optimise", self.s3("ip"), "--in-place"], check=0)
        self.assertIn("cube is already optimised (nothing changed)", p.stderr)
        # without .zmetadata: only it is written
        gdal.Unlink(f"{self.s3('ip')}/.zmetadata")
        run(["optimise", self.s3("ip"), "--in-place"], check=0)
        self.check("ip", ref)

    def test_kill9_then_rerun(self):
        local = self.s3_cube("base")
        ref = self.reference(local)
        # staging (the 3rd output chunk), the switch (.zarray deleted), the 3rd chunk moved, the
        # new .zarray written, before .zmetadata
        for point in ("optimise.chunk:3", "optimise.switch:1", "optimise.move:3",
                      "optimise.switched:1", "optimise.before_consolidate:1"):
            with self.subTest(point=point):
                prefix = "k-" + point.replace(":", "-").replace(".", "-")
                upload(local, prefix + "/c.zarr")
                args = ["optimise", self.s3(prefix), "--in-place", "--chunks", self.SPEC]
                run(args, env={"BAIMS_TEST_KILL_AT": point}, check=-9)
                keys = s3_keys(prefix + "/c.zarr")
                self.assertNotIn(".zmetadata", keys)  # removed before the first change
                self.assertEqual("v/.zarray" in keys, point not in ("optimise.switch:1",
                                                                    "optimise.move:3"))
                p = run(args, check=0)
                if point != "optimise.before_consolidate:1":
                    self.assertIn(f"completing an interrupted optimise of cube "
                                  f"'{self.s3(prefix)}'", p.stderr)
                self.check(prefix, ref)


class S3OutsideChunks(_OpsTest):
    """A chunk object beyond the end of 'v' (what a killed append leaves until the next gen):
    prune does not read it, optimise -o (to S3 and to a local folder) leaves it out,
    optimise --in-place deletes it (docs/cli/optimise.md)."""

    def test_left_out_then_deleted(self):
        local = self.s3_cube("out")
        nt = zarr.open(local, "r")["v"].shape[0]
        stray = f"v/{nt}.0.0"
        with open(os.path.join(local, "v", "0.0.0"), "rb") as f:
            data = f.read()  # all NaN: prune would take it if it looked there
        h = gdal.VSIFOpenL(f"{self.s3('out')}/{stray}", "wb")
        gdal.VSIFWriteL(data, 1, len(data), h)
        assert gdal.VSIFCloseL(h) == 0
        p = run(["--dry-run", "prune", self.s3("out")], check=0)
        self.assertEqual([line.split()[0] for line in p.stdout.splitlines()],
                         ["v/0.0.0", "v/2.1.0", "v/2.1.1", "v/2.1.2"])  # not the stray one
        run(["optimise", self.s3("out"), "-o", self.s3("dst")], check=0)
        self.assertNotIn(stray, s3_keys("dst/c.zarr"))
        self.assertIn("v/0.0.0", s3_keys("dst/c.zarr"))
        p = run(["optimise", self.s3("out"), "-o", self.p("local-copy.zarr")], check=0)
        self.assertIn("left out 1 chunk beyond the end of their array", p.stderr)
        self.assertFalse(os.path.exists(self.p("local-copy.zarr", *stray.split("/"))))
        self.assertIn(stray, s3_keys("out/c.zarr"))  # -o leaves the source as it is
        p = run(["optimise", self.s3("out"), "--in-place"], check=0)
        self.assertIn("deleted 1 chunk beyond the end of their array", p.stderr)
        self.assertNotIn(stray, s3_keys("out/c.zarr"))
        self.assert_same_values("out", local)


class S3Lease(_S3Test):
    def test_second_writer_refused_until_the_holder_ends(self):
        out = self.s3("lease")
        self.gen(out, [1])
        self.assertEqual(s3_keys("lease/c.zarr").count(".baims-lock"), 0)
        holder = subprocess.Popen(["sleep", "300"])  # a live process of this host holds it
        try:
            host = socket.gethostname()
            put_object(f"{out}/.baims-lock", lease(host, holder.pid, 1893456000,
                                                   "2030-01-01T00:00:00Z"))
            before = object_bytes("lease/c.zarr")
            line = (f"cube '{out}' is locked by another baims process (gen on host {host}, pid "
                    f"{holder.pid}, lease until 2030-01-01T00:00:00Z). Wait for it to finish; if "
                    f"it no longer runs, wait until the lease expires or delete '{out}/.baims-lock'")
            p = self.gen(out, [2], check=5)
            self.assertEqual(p.stderr.splitlines()[-1], "baims gen: error: " + line)
            p = run(["prune", out], check=5)
            self.assertEqual(p.stderr.splitlines()[-1], "baims prune: error: " + line)
            p = run(["optimise", out, "--in-place"], check=5)
            self.assertEqual(p.stderr.splitlines()[-1], "baims optimise: error: " + line)
            self.assertEqual(object_bytes("lease/c.zarr"), before)
        finally:
            holder.kill()
            holder.wait()
        # its process is gone: the lease is stale at once
        p = self.gen(out, [2], check=0)
        self.assertIn(f"warning: taking over the lease of cube '{out}' from gen on host {host}, "
                      f"pid {holder.pid}: its process no longer runs", p.stderr)
        self.assertIn("1 appended", p.stderr)
        self.assertNotIn(".baims-lock", s3_keys("lease/c.zarr"))

    def test_expired_lease_is_taken_over(self):
        out = self.s3("expired")
        self.gen(out, [1, 2])
        put_object(f"{out}/.baims-lock", lease("elsewhere", 4242, 1577836800,
                                               "2020-01-01T00:00:00Z", command="prune"))
        p = self.gen(out, [3], check=0)
        self.assertIn(f"warning: taking over the lease of cube '{out}' from prune on host "
                      "elsewhere, pid 4242: expired at 2020-01-01T00:00:00Z", p.stderr)
        self.assert_s3_cube("expired", [1, 2, 3])  # exactly the cube's objects: lease removed
        # a lease of another host that is still valid is respected whatever its pid
        put_object(f"{out}/.baims-lock", lease("elsewhere", 4242, 1893456000,
                                               "2030-01-01T00:00:00Z"))
        p = self.gen(out, [4], check=5)
        self.assertIn("is locked by another baims process (gen on host elsewhere, pid 4242",
                      p.stderr)

    def test_unreadable_lease(self):
        out = self.s3("bad")
        self.gen(out, [1])
        put_object(f"{out}/.baims-lock", "not json")
        p = self.gen(out, [2], check=5)
        self.assertEqual(p.stderr.splitlines()[-1],
                         f"baims gen: error: cube '{out}' has an unreadable lease '{out}/.baims-lock'"
                         ". Make sure no baims process writes the cube, then delete it")
        # the lock file of a local cube (a pid), copied to S3 along with the cube, is no lease
        put_object(f"{out}/.baims-lock", "12345\n")
        p = self.gen(out, [2], check=0)
        self.assertIn("1 appended", p.stderr)
        self.assertNotIn(".baims-lock", s3_keys("bad/c.zarr"))
