"""-c/--config FILE for `baims extract` and `baims rasterize`: a YAML mapping of the commands'
long option names (without --, _ for - allowed) to values; the command line wins over the file;
an unknown key or a bad value is a configuration error (exit 3, docs/exit-codes.md) naming the
file, line, column and key; the rasterize AOI may come from the file (key aoi)."""

import csv
import os

import numpy as np
from baimstest import lazy_module  # imported on first use
gdal = lazy_module("osgeo.gdal", then=lambda g: g.UseExceptions())
ogr = lazy_module("osgeo.ogr", then=lambda _: gdal.UseExceptions())
osr = lazy_module("osgeo.osr", then=lambda _: gdal.UseExceptions())

from baimstest import TempDirTest, run


X0, Y0, RES, W, H = 500000.0, 6200000.0, 10.0, 40, 30


def write_inputs(tif, gpkg):
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32632)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    ds = gdal.GetDriverByName("GTiff").Create(tif, W, H, 2, gdal.GDT_UInt16)
    ds.SetGeoTransform((X0, RES, 0, Y0, 0, -RES))
    ds.SetProjection(srs.ExportToWkt())
    values = np.random.default_rng(5).integers(1, 5000, size=(2, H, W)).astype(np.uint16)
    for i in range(2):
        ds.GetRasterBand(i + 1).WriteArray(values[i])
        ds.GetRasterBand(i + 1).SetDescription(["red", "nir"][i])
    ds = None
    src = ogr.GetDriverByName("GPKG").CreateDataSource(gpkg)
    layer = src.CreateLayer("fields", srs, ogr.wkbPolygon)
    layer.CreateField(ogr.FieldDefn("code", ogr.OFTString))
    for code, (c0, r0, c1, r1) in {"a": (2.3, 3.4, 12.6, 9.2), "b": (20.1, 10.7, 33.8, 25.5)}.items():
        f = ogr.Feature(layer.GetLayerDefn())
        f.SetField("code", code)
        x0, x1 = X0 + c0 * RES, X0 + c1 * RES
        y0, y1 = Y0 - r1 * RES, Y0 - r0 * RES
        f.SetGeometry(ogr.CreateGeometryFromWkt(
            f"POLYGON(({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0}))"))
        layer.CreateFeature(f)
    src = None


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


class ExtractConfigFile(TempDirTest):
    def setUp(self):
        super().setUp()
        self.tif, self.gpkg = self.p("img.tif"), self.p("fields.gpkg")
        write_inputs(self.tif, self.gpkg)

    def write(self, name, text):
        path = self.p(name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_file_gives_the_options_and_the_command_line_wins(self):
        # the reference: everything on the command line
        ref = self.p("ref.csv")
        run(["extract", "--raster", self.tif, "--parcels", self.gpkg, "--id-field", "code",
             "--bands", "nir", "-o", ref], check=0)
        rows = read_csv(ref)
        self.assertEqual([(r["code"], r["band"]) for r in rows], [("a", "nir"), ("b", "nir")])
        # the same from a file (a list, a comma-separated value, _ for -, ${ENV})
        cfg = self.write("extract.yml",
                         f"raster: [{self.tif}]\nparcels: ${{FIELDS}}\nid_field: code\n"
                         f"bands: nir\noutput: {self.p('from_file.csv')}\n")
        run(["extract", "-c", cfg], env={"FIELDS": self.gpkg}, check=0)
        self.assertEqual(read_csv(self.p("from_file.csv")), rows)
        # explicit options override the file: -o and --bands
        run(["extract", "-c", cfg, "-o", self.p("override.csv"), "--bands", "red,nir"],
            env={"FIELDS": self.gpkg}, check=0)
        self.assertFalse(os.path.exists(self.p("from_file.csv.2")))
        over = read_csv(self.p("override.csv"))
        self.assertEqual([(r["code"], r["band"]) for r in over],
                         [("a", "red"), ("a", "nir"), ("b", "red"), ("b", "nir")])
        self.assertEqual([r for r in over if r["band"] == "nir"], rows)

    def test_unknown_key_names_the_file_and_the_key(self):
        cfg = self.write("bad.yml", f"raster: {self.tif}\nparcel: {self.gpkg}\n")
        p = run(["extract", "-c", cfg, "-o", self.p("x.csv")])
        self.assertEqual(p.returncode, 3)
        self.assertEqual(p.stderr.strip().splitlines()[-1],
                         f"baims extract: error: {cfg}:2:1: unknown key 'parcel' (did you mean "
                         f"'parcels'?). Use the long option names of 'baims extract --help', "
                         f"without '--'")
        self.assertFalse(os.path.exists(self.p("x.csv")))

    def test_bad_value_and_not_a_mapping(self):
        cfg = self.write("bad.yml", "workers: 0\n")
        p = run(["extract", "-c", cfg])
        self.assertEqual(p.returncode, 3)
        self.assertEqual(p.stderr.strip().splitlines()[-1],
                         f"baims extract: error: {cfg}:1:10: workers: --workers: Value 0 not in "
                         f"range 1 to 256. Fix the value")
        cfg = self.write("list.yml", "- raster\n")
        p = run(["extract", "-c", cfg])
        self.assertEqual(p.returncode, 3)
        self.assertEqual(p.stderr.strip().splitlines()[-1],
                         f"baims extract: error: {cfg}: the config must be a mapping of keys to "
                         f"values. See docs/config.md")
        p = run(["extract", "-c", self.p("missing.yml")])
        self.assertEqual(p.returncode, 2)


class RasterizeConfigFile(TempDirTest):
    def write(self, text):
        path = self.p("rasterize.yml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_print_config_shows_file_values_and_command_line_wins(self):
        cfg = self.write("aoi: bw\nepsg: [32632, 32633]\nres: 20\nall_touched: true\n"
                         "parcel-table: cbm.parcels\npid-column: fid\n")
        p = run(["--print-config", "rasterize", "-c", cfg, "--pid-column", "gid", "--res", "10",
                 "20"], check=0)
        lines = p.stdout.splitlines()
        self.assertEqual(lines[:13], ["aoi: bw", "epsg:", "  - 32632", "  - 32633", "res:",
                                      "  - 10", "  - 20", "all_touched: true", "only_new: false", "all_parcels: false",
                                      "parcel_table: \"\\\"cbm\\\".\\\"parcels\\\"\"",
                                      "pid_column: gid", "geometry_column: auto"])
        # the positional AOI wins over aoi:
        p = run(["--print-config", "rasterize", "other", "-c", cfg], check=0)
        self.assertEqual(p.stdout.splitlines()[0], "aoi: other")
        # no parcel table anywhere: shown as not set (was exit 3 "empty SQL identifier.")
        p = run(["--print-config", "rasterize", "bw", "--db", "host=localhost"], check=0)
        self.assertIn("parcel_table: (not set)", p.stdout.splitlines())

    def test_errors(self):
        cfg = self.write("aoi: bw\nres: 20\nonly-neww: true\n")
        p = run(["rasterize", "-c", cfg])
        self.assertEqual(p.returncode, 3)
        self.assertEqual(p.stderr.strip().splitlines()[-1],
                         f"baims rasterize: error: {cfg}:3:1: unknown key 'only-neww' (did you "
                         f"mean 'only-new'?). Use the long option names of 'baims rasterize "
                         f"--help', without '--'")
        cfg = self.write("res: 20\n")
        p = run(["rasterize", "-c", cfg])
        self.assertEqual(p.returncode, 2)
        self.assertEqual(p.stderr.strip().splitlines()[-1],
                         "baims rasterize: error: AOI is required. Give it as the first argument "
                         "or as aoi: in the -c file. Run 'baims rasterize --help' for usage")
        cfg = self.write("aoi: bw\nepsg: 7\n")
        p = run(["rasterize", "-c", cfg])
        self.assertEqual(p.returncode, 3)
        self.assertEqual(p.stderr.strip().splitlines()[-1],
                         f"baims rasterize: error: {cfg}:2:7: epsg: --epsg: Value 7 not in range "
                         f"1024 to 999999. Fix the value")
