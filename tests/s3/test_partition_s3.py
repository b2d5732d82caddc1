"""baims gen --partition K/N and --finalize with the cube on /vsis3/ (docs/scale-out.md, "Object
storage"), against a throwaway S3 server (s3rver, tests/scripts/s3rver.sh): the workers share no
disk, only the bucket. Partition K stages its objects under <cube>.baims-parts/K-of-N/ and writes
its done-marker last; --finalize copies them into place on the server. Each cube is compared
object by object, byte for byte (run times aside), with the cube one process writes to the same
bucket, and read back by GDAL (from /vsis3/) and xarray (from a copy of the objects)."""

import os
import socket
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "conformance"))

from baimstest import BAIMS, cube_differences, cube_files, write_config  # noqa: E402
from test_gen_s3 import (CHUNKS, REGION, SIZE, _S3Test, copy_from_s3,  # noqa: E402
                         s3_keys)
from test_ops_s3 import lease, object_bytes, put_object  # noqa: E402

N = 4


class _PartitionS3(_S3Test):
    def command(self, out, keys, *extra):
        cfg = self.p("p-" + out.replace("/", "_") + ".yml")
        write_config(cfg, REGION, SIZE, out, chunks=CHUNKS)
        return [BAIMS, "--progress", "never", "--threads", "1", "gen", "-c", cfg, *extra] + \
            [self.inputs[k] for k in keys]

    def partitions(self, out, keys, ks=range(1, N + 1), kill=None):
        """Partitions ks of N started together (partition k killed at kill[k]); {k: (code, err)}."""
        kill = kill or {}
        # every command first: self.command() rewrites the config file, which a partition started
        # before would read while it is being rewritten (empty)
        cmds = {k: self.command(out, keys, "--partition", f"{k}/{N}") for k in ks}
        procs = {k: subprocess.Popen(
            cmds[k], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=dict(os.environ, **({"BAIMS_TEST_KILL_AT": kill[k]} if k in kill else {})))
            for k in ks}
        return {k: (p.wait(timeout=120), p.communicate()[1]) for k, p in procs.items()}

    def finalize(self, out, keys, code=0, env=None):
        p = subprocess.run(self.command(out, keys, "--finalize"), capture_output=True, text=True,
                           env=dict(os.environ, **(env or {})))
        self.assertEqual(p.returncode, code, p.stderr)
        return p

    def assert_same_objects(self, prefix, one_prefix):
        """The cube at prefix equals the one at one_prefix object by object (run times aside),
        reads back right by xarray and GDAL, and no partition's object is left."""
        a = self.p("cmp-" + prefix + ".zarr")
        b = self.p("cmp-" + one_prefix + ".zarr")
        copy_from_s3(prefix + "/c.zarr", a)
        copy_from_s3(one_prefix + "/c.zarr", b)
        self.assertEqual(cube_files(a), cube_files(b))
        self.assertEqual(cube_differences(a, b), [])
        self.assertEqual(s3_keys(prefix + "/c.zarr.baims-parts"), [])
        self.assertNotIn(".baims-lock", s3_keys(prefix + "/c.zarr"))

    def staged(self, prefix, k):
        return s3_keys(f"{prefix}/c.zarr.baims-parts/{k}-of-{N}")


class S3PartitionCreate(_PartitionS3):
    def test_four_partitions_killed_one_rerun_equal_one_process(self):
        one, out = self.s3("one"), self.s3("four")
        self.gen(one, [1, 2, 3])
        done = self.partitions(out, [1, 2, 3], kill={3: "chunk:2"})
        self.assertEqual({k: c for k, (c, _) in done.items()}, {1: 0, 2: 0, 3: -9, 4: 0})
        self.assertIn(f"wrote partition 1/{N} of a new cube (3 slices); run baims gen --finalize "
                      f"once all {N} partitions are done", done[1][1])
        self.assertEqual(s3_keys("four/c.zarr"), [])  # nothing visible before --finalize
        self.assertIn(".baims-part-done.json", self.staged("four", 1))
        self.assertNotIn(".baims-part-done.json", self.staged("four", 3))
        # disjoint parts of the chunk grid
        parts = [{k for k in self.staged("four", j) if k.startswith("v/")} for j in (1, 2, 4)]
        self.assertTrue(all(parts))
        self.assertEqual(sum(len(x) for x in parts), len(set().union(*parts)))
        # early finalize refused; nothing written
        p = self.finalize(out, [1, 2, 3], 5)
        self.assertEqual(p.stderr.strip().splitlines()[-1],
                         f"baims gen: error: cube '{out}': partition 3/{N} not done. Run baims gen "
                         "--partition K/N with the same config and inputs for that partition, then "
                         "--finalize again")
        self.assertEqual(s3_keys("four/c.zarr"), [])
        # the rerun of partition 3 alone, then --finalize
        code, err = self.partitions(out, [1, 2, 3], ks=[3])[3]
        self.assertEqual(code, 0, err)
        p = self.finalize(out, [1, 2, 3])
        self.assertIn("created cube: 3 appended", p.stderr)
        self.assert_same_objects("four", "one")
        self.assert_s3_cube("four", [1, 2, 3])

    def test_finalize_killed_then_run_again(self):
        one = self.s3("one-kill")  # each test its own prefixes: one server per class
        self.gen(one, [1, 2, 3])
        # copying the third object; writing the metadata (before .baims-creating goes)
        for point in ("finalize-link:3", "create-rename:1"):
            with self.subTest(point=point):
                prefix = "kill-" + point.split(":")[0]
                out = self.s3(prefix)
                done = self.partitions(out, [1, 2, 3])
                self.assertEqual({k: c for k, (c, _) in done.items()}, {1: 0, 2: 0, 3: 0, 4: 0})
                self.finalize(out, [1, 2, 3], -9, {"BAIMS_TEST_KILL_AT": point})
                self.assertIn(".baims-creating", s3_keys(prefix + "/c.zarr"))
                self.assertIn(".baims-part-done.json", self.staged(prefix, 2))  # parts whole
                p = self.finalize(out, [1, 2, 3])
                self.assertIn("created cube: 3 appended", p.stderr)
                self.assert_same_objects(prefix, "one-kill")


class S3PartitionUpdate(_PartitionS3):
    def test_insert_replace_append_equal_one_process(self):
        one, out = self.s3("one-ins"), self.s3("four-ins")
        for cube in (one, out):
            self.gen(cube, [2, 4])
        self.gen(one, [1, "4b", 5])
        before = object_bytes("four-ins/c.zarr")
        done = self.partitions(out, [1, "4b", 5])
        for k, (code, err) in done.items():
            self.assertEqual(code, 0, err)
            self.assertIn(f"wrote partition {k}/{N} of an update of the cube (3 slices); run baims "
                          f"gen --finalize once all {N} partitions are done; 4 time steps", err)
        self.assertEqual(object_bytes("four-ins/c.zarr"), before)  # the cube only read
        p = self.finalize(out, [1, "4b", 5])
        self.assertIn("updated cube: 1 appended, 1 inserted, 1 replaced", p.stderr)
        self.assert_same_objects("four-ins", "one-ins")
        self.assert_s3_cube("four-ins", [1, 2, "4b", 5])

    def test_finalize_killed_before_and_after_the_commit_then_run_again(self):
        one = self.s3("one-kill")  # each test its own prefixes: one server per class
        self.gen(one, [2, 4])
        self.gen(one, [3, 5])
        for point in ("finalize-link:2", "journal-M:1"):
            with self.subTest(point=point):
                prefix = "kill-" + point.split(":")[0]
                out = self.s3(prefix)
                self.gen(out, [2, 4])
                before = object_bytes(prefix + "/c.zarr")
                done = self.partitions(out, [3, 5])
                self.assertEqual({k: c for k, (c, _) in done.items()}, {1: 0, 2: 0, 3: 0, 4: 0})
                self.finalize(out, [3, 5], -9, {"BAIMS_TEST_KILL_AT": point})
                if point.startswith("finalize"):
                    # the cube untouched but for staged copies (and the dead finalize's lease)
                    after = {k: v for k, v in object_bytes(prefix + "/c.zarr").items()
                             if not k.startswith(".baims-staging/") and k != ".baims-lock"}
                    self.assertEqual(after, before)
                p = self.finalize(out, [3, 5])
                if point.startswith("journal"):
                    self.assertIn("completing an interrupted update", p.stderr)
                else:
                    self.assertIn("updated cube: 1 appended, 1 inserted, 0 replaced", p.stderr)
                self.assert_same_objects(prefix, "one-kill")
                self.assert_s3_cube(prefix, [2, 3, 4, 5])


class S3PartitionAppend(_PartitionS3):
    def test_append_copied_to_final_keys_killed_then_run_again(self):
        """An append's chunks go from the partitions straight to their final keys, beyond the
        cube's end (one copy each, no staging); a finalize killed among them leaves the old cube
        to readers, and the next one clears them and copies again."""
        one = self.s3("one-app")
        self.gen(one, [1, 2])
        self.gen(one, [3, 5])
        out = self.s3("app")
        self.gen(out, [1, 2])
        before = object_bytes("app/c.zarr")
        done = self.partitions(out, [3, 5])
        self.assertEqual({k: c for k, (c, _) in done.items()}, {1: 0, 2: 0, 3: 0, 4: 0})
        # 15 copies (9 + 6 chunks), 8 in flight: at least 4 done when the 12th starts
        self.finalize(out, [3, 5], -9, {"BAIMS_TEST_KILL_AT": "finalize-link:12"})
        # One listing for all three checks: a copy the server still had in flight when the
        # process was killed may land a moment later (a second listing then saw a chunk beyond
        # the end that the first did not: a flaky failure in CI).
        objects = object_bytes("app/c.zarr")
        self.assertFalse([k for k in objects if k.startswith(".baims-staging/")])
        beyond = [k for k in objects if k.startswith(("v/2.", "v/3."))]
        self.assertGreaterEqual(len(beyond), 4)
        after = {k: v for k, v in objects.items() if k not in beyond and k != ".baims-lock"}
        self.assertEqual(after, before)
        self.assert_reader_sees("app", [1, 2])
        p = self.finalize(out, [3, 5])
        self.assertIn("updated cube: 2 appended, 0 inserted, 0 replaced", p.stderr)
        self.assert_same_objects("app", "one-app")
        self.assert_s3_cube("app", [1, 2, 3, 5])


class S3PartitionLease(_PartitionS3):
    def test_finalize_and_partition_exclude_each_other(self):
        out = self.s3("held")
        done = self.partitions(out, [1, 2])
        self.assertEqual({k: c for k, (c, _) in done.items()}, {1: 0, 2: 0, 3: 0, 4: 0})
        lock = f"{out}.baims-parts/2-of-{N}/.baims-lock"
        holder = subprocess.Popen(["sleep", "300"])  # a live process of this host holds it
        host = socket.gethostname()
        try:
            # partition 2 running: --finalize refused, nothing written
            put_object(lock, lease(host, holder.pid, 1893456000, "2030-01-01T00:00:00Z"))
            p = self.finalize(out, [1, 2], 5)
            self.assertEqual(p.stderr.strip().splitlines()[-1],
                             f"baims gen: error: partition 2/{N} of cube '{out}' is locked by "
                             f"another baims process (gen on host {host}, pid {holder.pid}, lease "
                             "until 2030-01-01T00:00:00Z). Wait for it to finish; if it no longer "
                             f"runs, wait until the lease expires or delete '{lock}'")
            self.assertEqual(s3_keys("held/c.zarr"), [])
            # a finalize running: a rerun of partition 2 refused, its objects untouched
            put_object(lock, lease(host, holder.pid, 1893456000, "2030-01-01T00:00:00Z",
                                   command="gen --finalize"))
            staged = object_bytes(f"held/c.zarr.baims-parts/2-of-{N}")
            code, err = self.partitions(out, [1, 2], ks=[2])[2]
            self.assertEqual(code, 5, err)
            self.assertEqual(err.strip().splitlines()[-1],
                             f"baims gen: error: partition 2/{N} of cube '{out}' is locked by "
                             f"another baims process (gen --finalize on host {host}, pid "
                             f"{holder.pid}, lease until 2030-01-01T00:00:00Z). Wait for it to "
                             "finish; if it no longer runs, wait until the lease expires or delete "
                             f"'{lock}'")
            self.assertEqual(object_bytes(f"held/c.zarr.baims-parts/2-of-{N}"), staged)
        finally:
            holder.kill()
            holder.wait()
        p = self.finalize(out, [1, 2])  # the holder is gone: its lease is stale at once
        self.assertIn("created cube: 2 appended", p.stderr)
        self.assert_s3_cube("held", [1, 2])
        self.assertEqual(s3_keys("held/c.zarr.baims-parts"), [])


if __name__ == "__main__":
    import unittest
    unittest.main()
