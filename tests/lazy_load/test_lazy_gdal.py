"""BAIMS_LAZY_GDAL: the baims binary has libgdal and libproj not in its NEEDED list and loads them
(dlopen, src/core/lazy_load.cpp) on the first call of one of their functions.
  - a NetCDF insert on a lat/lon grid calls neither: it never loads them (LD_DEBUG=libs), and it
    even succeeds when libgdal's name is made unloadable;
  - gen with output_crs (GDAL's OSR and PROJ) loads both, each once, and succeeds;
  - a library that cannot be loaded: one error line naming the package, exit code 69
    (docs/exit-codes.md). The test hook BAIMS_TEST_GDAL_SONAME replaces libgdal's SONAME with a
    name no system has (the real library cannot be hidden from the loader on a machine that has it).
libnetcdf, libhdf5 and libcurl are delay-loaded too, each on its own first use: not in NEEDED, loaded
by a NetCDF insert, and a tiles run or an optimise of a Zarr cube loads none of the five.
libpq likewise, under a libpqxx linked into the binary (libpqxx.a): neither is in NEEDED, gen, tiles,
optimise and prune load neither, a database command loads libpq (and never libpqxx's shared
library), and a libpq that cannot be loaded is exit code 69 (hook BAIMS_TEST_LAZY_SONAME).
libsnappy likewise, under a libblosc linked into the binary (libblosc.a): not in NEEDED, loaded by
a command that reads a snappy-compressed array, and exit code 69 when it cannot be loaded.
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

BAIMS = os.environ["BAIMS_BINARY"]
DATA = os.path.join(os.environ["BAIMS_SOURCE_DIR"], "tests", "data", "ostia")
GDAL_SONAME = os.environ["BAIMS_LAZY_GDAL_SONAME"]
PROJ_SONAME = os.environ["BAIMS_LAZY_PROJ_SONAME"]
GDAL_PACKAGE = os.environ["BAIMS_LAZY_GDAL_PACKAGE"] or "GDAL"
OTHER_SONAMES = [s for s in os.environ.get("BAIMS_LAZY_OTHER_SONAMES", "").split(",") if s]
OSTIA = [os.path.join(DATA, f"2017060{d}120000-UKMO-L4_GHRSST-SSTfnd-OSTIAanom-GLOB-v02.0-fv02.0.nc")
         for d in (5, 6)]
MISSING = "libgdal.so.999"
PQ_SONAME = os.environ.get("BAIMS_LAZY_PQ_SONAME", "")
PQ_PACKAGE = os.environ.get("BAIMS_LAZY_PQ_PACKAGE", "") or "PQ"
PQXX_SONAME = os.environ.get("BAIMS_PQXX_SONAME", "")
SNAPPY_SONAME = os.environ.get("BAIMS_LAZY_SNAPPY_SONAME", "")
SNAPPY_PACKAGE = os.environ.get("BAIMS_LAZY_SNAPPY_PACKAGE", "") or "SNAPPY"
# a server that cannot exist: the command loads libpq, fails to connect and ends with exit code 6
NO_SERVER = "host=/nonexistent-baims-socket-dir port=5"


def run(args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([BAIMS, "--progress", "never"] + args, capture_output=True, text=True, env=e)


def loaded(stderr, soname):
    """How many times the dynamic loader ran the constructors of `soname` (LD_DEBUG=libs)."""
    return len(re.findall(r"calling init: \S*/" + re.escape(soname) + r"\b", stderr))


class LazyGdal(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="baims-lazy-")
        self.addCleanup(shutil.rmtree, self.dir)

    def config(self, extra=""):
        path = os.path.join(self.dir, "gen.yml")
        with open(path, "w") as f:
            f.write(extra + "output_variables: [analysed_sst]\n"
                    f"output_path: {os.path.join(self.dir, 'cube.zarr')}\n")
        return path

    def test_no_gdal_or_proj_in_needed(self):
        dyn = subprocess.run(["readelf", "-d", BAIMS], capture_output=True, text=True, check=True).stdout
        needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^]]+)\]", dyn)
        self.assertIn("libc.so.6", needed)  # the parse works
        self.assertEqual(len(OTHER_SONAMES), 3 + bool(PQ_SONAME) + bool(SNAPPY_SONAME))
        self.assertFalse([n for n in needed if n.startswith(("libblosc", "libyaml-cpp", "libdeflate",
                                                             "libz.", "libzstd", "liblz4",
                                                             "libspdlog", "libfmt"))], needed)
        for soname in [GDAL_SONAME, PROJ_SONAME] + OTHER_SONAMES:
            self.assertNotIn(soname, needed)
        if PQ_SONAME:
            self.assertIn(PQ_SONAME, OTHER_SONAMES)
            self.assertTrue(PQXX_SONAME.startswith("libpqxx"), PQXX_SONAME)
            self.assertNotIn(PQXX_SONAME, needed)
            self.assertFalse([n for n in needed if n.startswith(("libpq.", "libpqxx"))], needed)

    def test_zarr_commands_load_no_delay_loaded_library(self):
        cfg = self.config("output_region: [10.0, 54.0, 12.0, 56.0]\noutput_size: [40, 40]\n")
        p = run(["--quiet", "gen", "-c", cfg, OSTIA[0]], env={"LD_DEBUG": "libs"})
        self.assertEqual(p.returncode, 0, p.stderr[-3000:])
        if PQ_SONAME:  # else libpq and libpqxx are in NEEDED
            self.assertEqual(self.pq_loaded(p.stderr), (0, 0))
        cube = os.path.join(self.dir, "cube.zarr")
        for args in (["tiles", cube, "-o", os.path.join(self.dir, "t.levels")],
                     ["optimise", cube, "-o", os.path.join(self.dir, "o.zarr")],
                     ["prune", cube]):
            p = run(args, env={"LD_DEBUG": "libs"})
            self.assertEqual(p.returncode, 0, p.stderr[-3000:])
            for soname in [GDAL_SONAME, PROJ_SONAME] + OTHER_SONAMES:
                self.assertEqual(loaded(p.stderr, soname), 0, (args[0], soname))
            if PQ_SONAME:
                self.assertEqual(self.pq_loaded(p.stderr), (0, 0), args[0])

    def snappy_cube(self):
        """A small cube whose array is compressed with Blosc's snappy (zarr-python)."""
        cube = os.path.join(self.dir, "snappy.zarr")
        code = ("import sys, numpy as np, zarr, numcodecs\n"
                "g = zarr.open_group(sys.argv[1], mode='w')\n"
                "a = g.create_dataset('v', shape=(2, 64, 64), chunks=(1, 32, 32), dtype='f4',\n"
                "    compressor=numcodecs.Blosc(cname='snappy', clevel=5, shuffle=1))\n"
                "a[:] = np.arange(2 * 64 * 64, dtype='f4').reshape(2, 64, 64)\n"
                "a.attrs['_ARRAY_DIMENSIONS'] = ['time', 'lat', 'lon']\n")
        subprocess.run(["/usr/bin/python3", "-c", code, cube], check=True)
        return cube

    def test_snappy_array_loads_libsnappy_once(self):
        if not SNAPPY_SONAME:
            self.skipTest("libblosc is linked as a shared library (no libblosc.a)")
        cube = self.snappy_cube()
        p = run(["prune", cube], env={"LD_DEBUG": "libs"})
        self.assertEqual(p.returncode, 0, p.stderr[-3000:])
        self.assertEqual(loaded(p.stderr, SNAPPY_SONAME), 1)
        missing = "libsnappy.so.999"
        p = run(["prune", cube], env={"BAIMS_TEST_LAZY_SONAME": f"{SNAPPY_SONAME}={missing}"})
        line = (f"cannot load {missing} ({missing}: cannot open shared object file: No such file or "
                f"directory). Install the {SNAPPY_PACKAGE} package (apt-get install {SNAPPY_PACKAGE})")
        self.assertEqual((p.returncode, p.stderr.splitlines()), (69, ["baims prune: error: " + line]))

    def pq_loaded(self, stderr):
        """How many times libpq and libpqxx (any version) were loaded."""
        return (len(re.findall(r"calling init: \S*/libpq\.so", stderr)),
                len(re.findall(r"calling init: \S*/libpqxx", stderr)))

    def test_database_command_loads_libpq_only(self):
        if not PQ_SONAME:
            self.skipTest("libpqxx is linked as a shared library (no libpqxx.a)")
        p = run(["catalog", "--db", NO_SERVER, "aoi", "2020-01-01", "2020-01-02", "s2", "S2MSI2A"],
                env={"LD_DEBUG": "libs"})
        self.assertEqual(p.returncode, 6, p.stderr[-3000:])
        self.assertEqual(loaded(p.stderr, PQ_SONAME), 1)
        self.assertEqual(self.pq_loaded(p.stderr), (1, 0))
        self.assertIn("baims catalog: error: cannot connect to /nonexistent-baims-socket-dir:5/", p.stderr)
        p = run(["--version"])
        self.assertEqual(p.returncode, 0)
        self.assertRegex(p.stdout, r", libpq \d+\.\d+, libpqxx \d+\.\d+\.\d+")

    def test_missing_libpq_is_one_error_line_and_exit_69(self):
        if not PQ_SONAME:
            self.skipTest("libpqxx is linked as a shared library (no libpqxx.a)")
        missing = "libpq.so.999"
        env = {"BAIMS_TEST_LAZY_SONAME": f"{PQ_SONAME}={missing}"}
        line = (f"cannot load {missing} ({missing}: cannot open shared object file: No such file or "
                f"directory). Install the {PQ_PACKAGE} package (apt-get install {PQ_PACKAGE})")
        p = run(["catalog", "--db", NO_SERVER, "aoi", "2020-01-01", "2020-01-02", "s2", "S2MSI2A"], env=env)
        self.assertEqual((p.returncode, p.stderr.splitlines()), (69, ["baims catalog: error: " + line]))
        # a command without a database does not need libpq at all
        cfg = self.config("output_region: [10.0, 54.0, 12.0, 56.0]\noutput_size: [40, 40]\n")
        p = run(["--quiet", "gen", "-c", cfg, OSTIA[0]], env=env)
        self.assertEqual((p.returncode, p.stderr), (0, ""))
        p = run(["prune", os.path.join(self.dir, "cube.zarr")], env=env)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_netcdf_insert_never_loads_gdal(self):
        cfg = self.config("output_region: [10.0, 54.0, 12.0, 56.0]\noutput_size: [40, 40]\n")
        first = run(["gen", "-c", cfg, OSTIA[0]], env={"LD_DEBUG": "libs"})
        self.assertEqual(first.returncode, 0, first.stderr[-3000:])
        # the insert of a second time step
        second = run(["gen", "-c", cfg, OSTIA[1]], env={"LD_DEBUG": "libs"})
        self.assertEqual(second.returncode, 0, second.stderr[-3000:])
        for p in (first, second):
            self.assertEqual(loaded(p.stderr, "libnetcdf.so.19"), 1)
            self.assertEqual(loaded(p.stderr, GDAL_SONAME), 0)
            self.assertEqual(loaded(p.stderr, PROJ_SONAME), 0)
            self.assertNotIn(GDAL_SONAME, p.stderr)
        # nor does it need it at all: with libgdal unloadable the insert still succeeds
        shutil.rmtree(os.path.join(self.dir, "cube.zarr"))
        p = run(["--quiet", "gen", "-c", cfg, OSTIA[0]], env={"BAIMS_TEST_GDAL_SONAME": MISSING})
        self.assertEqual((p.returncode, p.stderr), (0, ""))
        p = run(["gen", "-c", cfg, OSTIA[1]], env={"BAIMS_TEST_GDAL_SONAME": MISSING})
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("updated cube: 1 appended, 0 inserted, 0 replaced, 0 unchanged; 2 time steps", p.stderr)

    def test_gdal_command_loads_gdal_and_proj_once(self):
        cfg = self.config("output_region: [4500000.0, 3400000.0, 4700000.0, 3600000.0]\n"
                          "output_resolution: 20000.0\noutput_crs: EPSG:3035\n")
        p = run(["gen", "-c", cfg, OSTIA[0]], env={"LD_DEBUG": "libs"})
        self.assertEqual(p.returncode, 0, p.stderr[-3000:])
        self.assertEqual(loaded(p.stderr, GDAL_SONAME), 1)
        self.assertEqual(loaded(p.stderr, PROJ_SONAME), 1)
        with open(os.path.join(self.dir, "cube.zarr", "crs", ".zattrs")) as f:
            self.assertTrue(json.load(f)["crs_wkt"].endswith('AUTHORITY["EPSG","3035"]]'))
        p = run(["--version"])
        self.assertEqual(p.returncode, 0)
        self.assertRegex(p.stdout, r"\nGDAL \d+\.\d+\.\d+, PROJ \d+\.\d+\.\d+, ")

    def test_missing_library_is_one_error_line_and_exit_69(self):
        line = (f"cannot load {MISSING} ({MISSING}: cannot open shared object file: No such file or "
                f"directory). Install the {GDAL_PACKAGE} package (apt-get install {GDAL_PACKAGE})")
        cfg = self.config("output_region: [4500000.0, 3400000.0, 4700000.0, 3600000.0]\n"
                          "output_resolution: 20000.0\noutput_crs: EPSG:3035\n")
        p = run(["gen", "-c", cfg, OSTIA[0]], env={"BAIMS_TEST_GDAL_SONAME": MISSING})
        self.assertEqual((p.returncode, p.stderr.splitlines()), (69, ["baims gen: error: " + line]))
        self.assertFalse(os.path.exists(os.path.join(self.dir, "cube.zarr", ".zmetadata")))
        p = run(["--version"], env={"BAIMS_TEST_GDAL_SONAME": MISSING})
        self.assertEqual((p.returncode, p.stderr.splitlines()), (69, ["baims: error: " + line]))


if __name__ == "__main__":
    unittest.main()
