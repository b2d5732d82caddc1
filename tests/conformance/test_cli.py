"""The command line itself: help, version, usage errors, JSON logs."""

import json
import os
import re
import subprocess
import unittest

from baimstest import TempDirTest, run


class Cli(TempDirTest):
    def test_help_lists_only_working_commands(self):
        p = run(["--help"], check=0)
        for cmd in ("gen", "optimise", "prune", "tiles", "ingest-vector", "catalog", "rasterize",
                    "extract"):
            self.assertRegex(p.stdout, rf"\n\s+{cmd}[\s,]")
        for missing in ("level", "serve"):  # xcube commands baims has no counterpart of
            self.assertNotRegex(p.stdout, rf"\n\s+{missing}\s")
        p = run(["gen", "--help"], check=0)
        self.assertIn("--fail-fast", p.stdout)
        self.assertIn("--config", p.stdout)

    def test_version_names_the_libraries(self):
        p = run(["--version"], check=0)
        # (the alternatives in a group: "…|unknown)" alone would match any output holding it)
        self.assertRegex(p.stdout,
                         r"^baims \d+\.\d+\.\d+ \(git (?:[0-9a-f]+(?:-dirty)?|unknown)\)\n")
        for lib in ("GDAL 3.", "PROJ 9.", "netCDF 4.", "c-blosc 1."):
            self.assertIn(lib, p.stdout)

    def test_usage_errors_are_exit_2_with_one_line(self):
        p = run(["frobnicate"], check=2)
        self.assertEqual(p.stderr.strip(), "baims: error: unknown command 'frobnicate'. Run "
                                           "'baims --help' for the commands")
        p = run([], check=2)
        self.assertEqual(p.stderr.strip(), "baims: error: no command given (one of gen, "
                                           "optimise, prune, tiles, ingest-vector, catalog, "
                                           "rasterize, extract). Run 'baims --help' for usage")
        p = run(["gen"], check=2)
        self.assertEqual(p.stderr.strip(),
                         "baims gen: error: --config is required. Run 'baims gen --help' for usage")
        p = run(["--threads", "0", "gen", "-c", "x.yml"], check=2)
        self.assertIn("--threads", p.stderr)

    def test_german_locale_changes_no_byte(self):
        """Decimal commas must not leak into cubes, configs or messages."""
        if "de_DE.utf8" not in subprocess.run(["locale", "-a"], capture_output=True,
                                              text=True).stdout.split():
            why = "de_DE.UTF-8 is not generated (scripts/install-deps.sh does it)"
            if os.environ.get("CI", "").lower() in ("true", "1"):
                self.fail(why + "; in CI a missing dependency is a failure, not a skip")
            self.skipTest(why)
        import datetime as dt
        import numpy as np
        from baimstest import snapshot, write_cf
        src = self.p("in.nc")
        write_cf(src, np.arange(9.75, 0, -0.5), np.arange(0.25, 15, 0.5),
                 np.linspace(-1.5, 1.5, 600).reshape(1, 20, 30), [dt.datetime(2022, 3, 1, 12)])
        cfg = self.p("c.yml")
        with open(cfg, "w") as f:
            f.write("output_region: [0.25, 0.0, 15.25, 10.0]\noutput_size: [45, 30]\n"
                    "output_resampling: bilinear\n")
        outs = {}
        for loc in ("C", "de_DE.UTF-8"):
            env = {"LC_ALL": loc, "LANG": loc}
            out = self.p(f"cube-{loc}.zarr")
            p = run(["--deterministic", "gen", "-c", cfg, "-o", out, src], env=env, check=0)
            q = run(["gen", "-c", cfg, "-o", out, "--print-config", src], env=env, check=0)
            snap = snapshot(out)
            for meta in (".zattrs", ".zmetadata"):   # history and dates differ by the second
                snap[meta] = re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", b"T", snap[meta])
                snap[meta] = snap[meta].replace(out.encode(), b"OUT")
            outs[loc] = (p.stderr.replace(out, "OUT"), q.stdout.replace(out, "OUT"), snap)
        self.assertEqual(outs["C"][0], outs["de_DE.UTF-8"][0])
        self.assertEqual(outs["C"][1], outs["de_DE.UTF-8"][1])
        self.assertIn("[0.25, 0, 15.25, 10]", outs["C"][1])
        self.assertEqual(outs["C"][2], outs["de_DE.UTF-8"][2])

    def test_every_config_in_configs_loads(self):
        import glob
        from baimstest import SOURCE_DIR
        configs = sorted(glob.glob(os.path.join(SOURCE_DIR, "configs", "*.yml")))
        self.assertGreater(len(configs), 0)
        for cfg in configs:
            with self.subTest(config=os.path.basename(cfg)):
                p = run(["--print-config", "gen", "-c", cfg], check=0)
                self.assertIn("output_region:", p.stdout)
        # the demo config end to end (dry run: inputs read, nothing written)
        out = self.p("demo.zarr")
        ostia = sorted(glob.glob(os.path.join(SOURCE_DIR, "tests", "data", "ostia", "*.nc")))
        p = run(["--dry-run", "gen", "-c", os.path.join(SOURCE_DIR, "configs", "gen-ostia.yml"),
                 "-o", out] + ostia, check=0)
        self.assertIn("with 3 slices", p.stderr)
        self.assertIn("variables: analysed_sst, sst_anomaly", p.stderr)
        self.assertFalse(os.path.exists(out))

    def test_json_logs_are_one_object_per_line(self):
        cfg = self.p("c.yml")
        with open(cfg, "w") as f:
            f.write("output_region: [0, 0, 1, 1]\noutput_size: [2, 2]\noutput_path: " + self.p("c.zarr") + "\n")
        p = run(["--log-format", "json", "gen", "-c", cfg, self.p("missing.nc")], check=4)
        # every line is a JSON object, the error line too (before, it also came as plain text,
        # which a log collector that parses JSON could not take)
        lines = p.stderr.splitlines()
        self.assertTrue(all(l.startswith("{") for l in lines), p.stderr)
        self.assertGreaterEqual(len(lines), 2)
        objs = [json.loads(l) for l in lines]
        self.assertTrue(all({"time", "level", "msg"} <= set(o) for o in objs))
        self.assertTrue(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", objs[0]["time"]))
        self.assertEqual(objs[-1]["level"], "error")
        self.assertTrue(objs[-1]["msg"].startswith("baims gen: error: none of the 1 inputs could be read"))
        # with --log-level off the error line is still there, the only line
        p = run(["--log-format", "json", "--log-level", "off", "gen", "-c", cfg,
                 self.p("missing.nc")], check=4)
        lines = p.stderr.splitlines()
        self.assertEqual(len(lines), 1, p.stderr)
        self.assertEqual(json.loads(lines[0])["level"], "error")
        self.assertTrue(json.loads(lines[0])["msg"].startswith("baims gen: error: none of the 1"))


if __name__ == "__main__":
    unittest.main()
