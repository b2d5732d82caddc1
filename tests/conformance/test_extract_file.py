"""`baims extract` file mode against numpy over the pixels GDAL's own rasterisation selects
(gdal.RasterizeLayer on the raster's grid, one parcel at a time): count, min and max exactly,
mean, std and the numpy-linear quantiles as stored reals (float32)."""

import csv
import json
import os
import shutil
import subprocess
import unittest

import numpy as np
from baimstest import lazy_module  # imported on first use
gdal = lazy_module("osgeo.gdal", then=lambda g: g.UseExceptions())
ogr = lazy_module("osgeo.ogr", then=lambda _: gdal.UseExceptions())
osr = lazy_module("osgeo.osr", then=lambda _: gdal.UseExceptions())

from baimstest import BAIMS, DATA, TempDirTest, run


EPSG = 32632
X0, Y0, RES = 500000.0, 6200000.0, 10.0
W, H = 300, 200
STRIP = (140, 147)  # columns [140, 147) hold 0 = no data in every band


def utm():
    s = osr.SpatialReference()
    s.ImportFromEPSG(EPSG)
    s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return s


def make_values(nbands, seed=11):
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 10000, size=(nbands, H, W)).astype(np.uint16)
    a[:, :, STRIP[0]:STRIP[1]] = 0
    a[:, 150:153, 20:60] = 0  # a short horizontal strip too
    return a


def write_gtiff(path, values, names):
    ds = gdal.GetDriverByName("GTiff").Create(path, W, H, len(values), gdal.GDT_UInt16,
                                              ["TILED=YES", "BLOCKXSIZE=64", "BLOCKYSIZE=64"])
    ds.SetGeoTransform((X0, RES, 0, Y0, 0, -RES))
    ds.SetProjection(utm().ExportToWkt())
    for i, v in enumerate(values):
        b = ds.GetRasterBand(i + 1)
        b.WriteArray(v)
        b.SetNoDataValue(0)
        b.SetDescription(names[i])
    ds = None


def write_jp2(path, band, block=128):
    mem = gdal.GetDriverByName("MEM").Create("", W, H, 1, gdal.GDT_UInt16)
    mem.SetGeoTransform((X0, RES, 0, Y0, 0, -RES))
    mem.SetProjection(utm().ExportToWkt())
    mem.GetRasterBand(1).WriteArray(band)
    gdal.GetDriverByName("JP2OpenJPEG").CreateCopy(
        path, mem, options=["REVERSIBLE=YES", "QUALITY=100", "YCBCR420=NO",
                            f"BLOCKXSIZE={block}", f"BLOCKYSIZE={block}"])
    check = gdal.Open(path).ReadAsArray()
    assert (check == band).all(), "JP2 fixture is not lossless"


def box(x0, y0, x1, y1):
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]


def px(c, r):
    """Map coordinates of a fractional pixel position."""
    return X0 + c * RES, Y0 - r * RES


def ring(points):
    return [px(c, r) for c, r in points]


def polygon_wkt(rings):
    return "POLYGON(" + ",".join("(" + ",".join(f"{x!r} {y!r}" for x, y in r) + ")" for r in rings) + ")"


def parcels():
    """(id, WKT) in EPSG:32632: off-grid edges, holes, multipolygons, overlaps, partly outside,
    sub-pixel, only no data, outside."""
    rng = np.random.default_rng(5)
    out = []
    pid = 100
    # a field of irregular quadrilaterals with off-grid corners, crossing 64-px block borders
    for i in range(8):
        for j in range(5):
            c, r = 8 + i * 34 + rng.uniform(0, 3), 6 + j * 36 + rng.uniform(0, 3)
            w, h = rng.uniform(10, 30), rng.uniform(10, 30)
            pts = [(c, r), (c + w, r + rng.uniform(-2, 2)), (c + w + rng.uniform(-3, 3), r + h),
                   (c + rng.uniform(-2, 2), r + h + rng.uniform(-2, 2)), (c, r)]
            out.append((pid, polygon_wkt([ring(pts)])))
            pid += 1
    out.append((1, polygon_wkt([ring(box(10.3, 10.2, 40.7, 35.9)), ring(box(18.1, 15.5, 30.4, 25.6))])))  # hole
    mp = "MULTIPOLYGON(" + ",".join("(" + polygon_wkt([ring(b)])[len("POLYGON("):-1] + ")" for b in
                                    (box(200.2, 20.4, 215.6, 33.3), box(250.5, 150.5, 262.2, 170.9))) + ")"
    out.append((2, mp))  # two parts
    out.append((3, polygon_wkt([ring(box(12.0, 12.0, 38.0, 30.0))])))  # overlaps parcel 1
    out.append((4, polygon_wkt([ring(box(-20.5, 100.3, 15.2, 130.8))])))  # partly west of the image
    out.append((5, polygon_wkt([ring(box(280.4, 185.2, 330.0, 230.0))])))  # partly SE outside
    out.append((6, polygon_wkt([ring(box(50.1, 50.1, 50.4, 50.4))])))  # sub-pixel, no centre
    out.append((7, polygon_wkt([ring(box(140.2, 60.0, 146.8, 90.0))])))  # only the no-data strip
    out.append((8, polygon_wkt([ring(box(400.0, 10.0, 420.0, 30.0))])))  # outside
    out.append((9, polygon_wkt([ring(box(130.5, 140.5, 160.5, 160.5))])))  # across the strip
    out.append((10, polygon_wkt([ring(box(77.0, 77.0, 78.0, 78.0))])))  # exactly one pixel
    return out


def write_parcels(path, items, srs=None):
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(path)
    lyr = ds.CreateLayer("parcels", srs or utm(), ogr.wkbUnknown)
    lyr.CreateField(ogr.FieldDefn("code", ogr.OFTInteger))
    for pid, wkt in items:
        f = ogr.Feature(lyr.GetLayerDefn())
        f.SetField("code", pid)
        f.SetGeometry(ogr.CreateGeometryFromWkt(wkt))
        lyr.CreateFeature(f)
    ds = None


def gdal_mask(wkt, gt, shape, wkt_srs, all_touched=False, geom_srs=None):
    """The pixels GDAL selects for one polygon on the raster grid."""
    mem = gdal.GetDriverByName("MEM").Create("", shape[1], shape[0], 1, gdal.GDT_Byte)
    mem.SetGeoTransform(gt)
    mem.SetProjection(wkt_srs)
    vds = ogr.GetDriverByName("Memory").CreateDataSource("")
    lyr = vds.CreateLayer("p", geom_srs, ogr.wkbUnknown)
    f = ogr.Feature(lyr.GetLayerDefn())
    f.SetGeometry(ogr.CreateGeometryFromWkt(wkt) if isinstance(wkt, str) else wkt)
    lyr.CreateFeature(f)
    opts = ["ALL_TOUCHED=TRUE"] if all_touched else []
    gdal.RasterizeLayer(mem, [1], lyr, burn_values=[1], options=opts)
    return mem.ReadAsArray().astype(bool)


def numpy_stats(v):
    v = np.asarray(v, dtype="f8")
    p = np.percentile(v, [25, 50, 75])
    return [len(v), v.mean(), v.std(), v.min(), v.max(), p[0], p[1], p[2]]


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


COLS = ["count", "mean", "std", "min", "max", "p25", "p50", "p75"]


class _Compare(TempDirTest):
    def assert_rows(self, rows, expected, id_col):
        """expected: {(id, band): [count, mean, ...]} (float64)."""
        got = {(r[id_col], r["band"]): r for r in rows}
        self.assertEqual(sorted(got), sorted(expected), "rows (parcel, band) differ")
        for key, want in expected.items():
            r = got[key]
            self.assertEqual(int(r["count"]), want[0], key)
            for name, w in zip(COLS[1:], want[1:]):
                stored = np.float32(float(r[name]))
                self.assertEqual(stored, np.float32(w), f"{key} {name}: {r[name]} vs {w!r}")


class ExtractGeoTiffAndJp2(_Compare):
    def setUp(self):
        super().setUp()
        self.values = make_values(3)
        self.tif = self.p("img.tif")
        write_gtiff(self.tif, self.values, ["B02", "B03", "B04"])
        self.gpkg = self.p("parcels.gpkg")
        self.items = parcels()
        write_parcels(self.gpkg, self.items)
        self.gt = (X0, RES, 0, Y0, 0, -RES)

    def expected(self, band_values, names, all_touched=False):
        exp = {}
        for pid, wkt in self.items:
            m = gdal_mask(wkt, self.gt, (H, W), utm().ExportToWkt(), all_touched, utm())
            for v, name in zip(band_values, names):
                sel = v[m]
                sel = sel[sel != 0]
                if sel.size:
                    exp[(str(pid), name)] = numpy_stats(sel)
        return exp

    def test_geotiff_every_statistic_equals_numpy(self):
        out = self.p("sigs.csv")
        run(["extract", "--raster", self.tif, "--parcels", self.gpkg, "--id-field", "code",
             "-o", out, "--threads", "2"], check=0)
        exp = self.expected(self.values, ["B02", "B03", "B04"])
        # the cases are really there: no rows for sub-pixel, no-data-only and outside parcels
        for pid in ("6", "7", "8"):
            self.assertNotIn((pid, "B02"), exp)
        self.assertEqual(exp[("10", "B02")][0], 1)
        self.assertGreater(exp[("9", "B02")][0], 0)
        self.assert_rows(read_csv(out), exp, "code")
        self.assertEqual(sorted(os.listdir(self.tmp)), ["img.tif", "parcels.gpkg", "sigs.csv"])

    def test_bands_by_name_and_all_touched(self):
        out = self.p("sigs.csv")
        run(["--threads", "1", "extract", "--raster", self.tif, "--parcels", self.gpkg,
             "--id-field", "code", "--bands", "B04,1", "--all-touched", "-o", out], check=0)
        exp = self.expected([self.values[2], self.values[0]], ["B04", "B02"], all_touched=True)
        rows = read_csv(out)
        self.assert_rows(rows, exp, "code")
        # rows per parcel in the order of --bands
        self.assertEqual([r["band"] for r in rows[:2]], ["B04", "B02"])

    def test_jp2_lossless_with_zero_as_nodata(self):
        jp2 = self.p("T32UNG_B04_10m.jp2")
        write_jp2(jp2, self.values[2])
        out = self.p("sigs.gpkg")
        run(["extract", "--raster", jp2, "--parcels", self.gpkg, "--id-field", "code",
             "--zero-is-nodata", "-o", out], check=0)
        ds = ogr.Open(out)
        lyr = ds.GetLayer(0)
        rows = [{k: str(f.GetField(k)) for k in ["code", "band"] + COLS} for f in lyr]
        self.assert_rows(rows, self.expected([self.values[2]], ["1"]), "code")

    def test_feature_ids_by_default(self):
        out = self.p("sigs.csv")
        run(["extract", "--raster", self.tif, "--parcels", self.gpkg, "--bands", "2", "-o", out],
            check=0)
        rows = read_csv(out)
        self.assertEqual(list(rows[0].keys()), ["pid", "band"] + COLS)
        fids = {str(i + 1): pid for i, (pid, _) in enumerate(self.items)}
        exp = {(fid, "B03"): s for (pid, b), s in self.expected([self.values[1]], ["B03"]).items()
               for fid in fids if str(fids[fid]) == pid}
        self.assert_rows(rows, exp, "pid")

    def test_errors_leave_no_output(self):
        out = self.p("sigs.csv")
        p = run(["extract", "--raster", self.tif, "--parcels", self.gpkg, "--bands", "B09", "-o",
                 out], check=2)
        self.assertEqual(p.stderr.strip(),
                         f"baims extract: error: raster '{self.tif}' has no band 'B09'. "
                         "Bands are numbers from 1 or names: B02, B03, B04")
        p = run(["extract", "--raster", self.p("missing.tif"), "--parcels", self.gpkg, "-o", out],
                check=4)
        self.assertTrue(p.stderr.startswith(
            f"baims extract: error: cannot open raster '{self.p('missing.tif')}'"), p.stderr)
        rot = self.p("rotated.tif")
        ds = gdal.GetDriverByName("GTiff").Create(rot, 10, 10, 1, gdal.GDT_Byte)
        ds.SetGeoTransform((X0, RES, 1.0, Y0, 1.0, -RES))
        ds = None
        p = run(["extract", "--raster", rot, "--parcels", self.gpkg, "-o", out], check=4)
        self.assertEqual(p.stderr.strip(),
                         f"baims extract: error: raster '{rot}' has a rotated geotransform. "
                         "Warp it to a north-up grid first (gdalwarp)")
        self.assertFalse(any(n.endswith(".csv") for n in os.listdir(self.tmp)), os.listdir(self.tmp))


    def test_output_formats_and_name_typos(self):
        """-o with an extension baims does not write is refused before the work (exit 2; .xlsx made a
        folder of CSV files, .fgb an output without rows, both exit 0); a --format driver that
        drops the rows is caught when the output is read back (exit 5, nothing published); a name
        without extension is a CSV file (it was a folder); typos in --id-field and --layer get
        the name meant and the names there, a band number out of range exit 2 (as a band name)."""
        def last(args, code):
            return run(["extract", "--raster", self.tif, "--parcels", self.gpkg] + args,
                       check=code).stderr.strip().splitlines()[-1]
        for ext in ("xlsx", "fgb"):
            out = self.p(f"sigs.{ext}")
            self.assertEqual(last(["-o", out], 2),
                             f"baims extract: error: -o '{out}': baims does not write '.{ext}' "
                             "files. Use .csv, .gpkg or .geojson, or give another OGR driver with "
                             "--format")
        out = self.p("sigs.fgb")
        rows = len(self.expected(self.values, ["B02", "B03", "B04"]))  # numpy's count of rows
        self.assertEqual(last(["-o", out, "--format", "FlatGeobuf"], 5),
                         f"baims extract: error: --format FlatGeobuf did not keep the rows: "
                         f"reading '{out}' back gives 0 of {rows} rows. Use CSV, GPKG or GeoJSON")
        self.assertEqual(sorted(os.listdir(self.tmp)), ["img.tif", "parcels.gpkg"])
        run(["extract", "--raster", self.tif, "--parcels", self.gpkg, "--id-field", "code", "-o",
             self.p("plain")], check=0)
        run(["extract", "--raster", self.tif, "--parcels", self.gpkg, "--id-field", "code", "-o",
             self.p("plain.csv")], check=0)
        self.assertTrue(os.path.isfile(self.p("plain")))
        self.assertEqual(read_csv(self.p("plain")), read_csv(self.p("plain.csv")))
        self.assertEqual(last(["--id-field", "cdoe", "-o", self.p("x.csv")], 2),
                         f"baims extract: error: parcels '{self.gpkg}' have no field 'cdoe' (did "
                         "you mean 'code'?). Fields: code")
        self.assertEqual(last(["--layer", "parcel", "-o", self.p("x.csv")], 2),
                         f"baims extract: error: parcels '{self.gpkg}' have no layer 'parcel' (did "
                         "you mean 'parcels'?). Layers: parcels")
        self.assertEqual(last(["--bands", "4", "-o", self.p("x.csv")], 2),
                         f"baims extract: error: raster '{self.tif}' has no band 4 (it has 3). "
                         "Choose bands 1 to 3")

    def test_parcels_without_crs_are_said(self):
        """Parcels without a CRS (a shapefile whose .prj is missing) are taken in the raster's
        CRS: said in a warning; parcels in degrees over this raster in metres then meet no pixel,
        and a second warning says the output has no rows (before: '0 rows', exit 0, nothing
        else)."""
        shp = self.p("parcels.shp")
        gdal.VectorTranslate(shp, self.gpkg, format="ESRI Shapefile", dstSRS="EPSG:4326")
        os.remove(self.p("parcels.prj"))
        out = self.p("none.csv")
        p = run(["extract", "--raster", self.tif, "--parcels", shp, "-o", out], check=0)
        warn = [l.split("warning: ", 1)[1] for l in p.stderr.splitlines() if "warning:" in l]
        self.assertEqual(warn, [
            f"extract: parcels '{shp}' have no CRS (a shapefile without its .prj?): their "
            "coordinates are taken in the CRS of each raster",
            f"extract: none of the {len(self.items)} parcels has a valid pixel in the rasters: the "
            "output has no rows. Check that they overlap (the CRS of the parcels and the rasters, "
            "--bands, nodata)"])
        self.assertEqual(read_csv(out), [])
        p = run(["extract", "--raster", self.tif, "--parcels", self.gpkg, "-o", out], check=0)
        self.assertNotIn("warning:", p.stderr)

    def test_output_naming_an_input_is_refused(self):
        """-o naming the parcels file or a raster would replace it with the statistics when the
        finished output is renamed into place (before: -o parcels.gpkg did, exit 0): exit 2, one
        line, both files byte for byte."""
        before = {f: open(f, "rb").read() for f in (self.gpkg, self.tif)}
        for option, path, out in (("--parcels", self.gpkg, self.gpkg),
                                  ("--parcels", self.gpkg, os.path.join(self.tmp, ".", "parcels.gpkg")),
                                  ("--raster", self.tif, self.tif)):
            with self.subTest(out=out):
                p = run(["extract", "--raster", self.tif, "--parcels", self.gpkg, "--id-field",
                         "code", "-o", out], check=2)
                self.assertEqual(p.stderr.strip().splitlines()[-1],
                                 f"baims extract: error: -o '{out}' is the {option} input "
                                 f"'{path}': the output would replace it. Give the output "
                                 "another name")
                for f, data in before.items():
                    with open(f, "rb") as g:
                        self.assertEqual(g.read(), data, f)
        self.assertEqual(sorted(os.listdir(self.tmp)), ["img.tif", "parcels.gpkg"])

    def test_full_disk_keeps_the_old_output_and_leaves_nothing(self):
        """The output folder on a full file system (a tmpfs in a private mount namespace made with
        unshare, filled to the last byte): exit 5, one line with the cause (OGR's CSV writer gives
        none: the system's is shown; GDAL's GPKG message quotes a whole SQL script: cut to one
        short line), the previous output byte for byte, no temporary file left (before: a
        '.sigs.csv.tmpPID.csv' that held the space a rerun needs, and the line 'cannot write to
        ...: .'). Skipped where unshare cannot make a mount namespace."""
        unshare = shutil.which("unshare")
        if unshare is None or subprocess.run([unshare, "-rm", "true"],
                                             capture_output=True).returncode != 0:
            self.skipTest("unshare -rm (a user and mount namespace) is not allowed here")
        old = self.p("old.csv")
        run(["extract", "--raster", self.tif, "--parcels", self.gpkg, "--id-field", "code",
             "-o", old], check=0)
        mnt = self.p("mnt")
        os.makedirs(mnt)
        script = ('mount -t tmpfs -o size=256k baims-test "$1" && cp "$2" "$1/sigs.csv" && '
                  'cp "$2" "$1/sigs.gpkg" && { head -c 1000000 /dev/zero > "$1/filler"; true; } && '
                  'shift 2 && for o in sigs.csv sigs.gpkg; do '
                  '"$@" -o "$M/$o" 2>> "$M.err"; echo $? >> "$M.rc"; done; '
                  'ls -a "$M" > "$M.ls"; cp "$M/sigs.csv" "$M.csv"')
        r = subprocess.run([unshare, "-rm", "sh", "-c", script, "sh", mnt, old, BAIMS, "--progress",
                            "never", "extract", "--raster", self.tif, "--parcels", self.gpkg,
                            "--id-field", "code"], capture_output=True, text=True,
                           env=dict(os.environ, M=mnt))
        self.assertEqual(r.returncode, 0, r.stderr)

        def read(path, mode="r"):
            with open(path, mode) as f:
                return f.read()

        self.assertEqual(read(mnt + ".rc").split(), ["5", "5"])
        lines = [l for l in read(mnt + ".err").splitlines() if "error:" in l]
        self.assertEqual(lines[0], f"baims extract: error: cannot write to '{mnt}/sigs.csv': No "
                         "space left on device. Check the free space and the output format")
        self.assertTrue(lines[1].startswith(f"baims extract: error: cannot "), lines[1])
        self.assertIn("database or disk is full", lines[1])
        self.assertLess(len(lines[1]), 400, lines[1])
        self.assertEqual(len(lines), 2, lines)
        self.assertEqual(read(mnt + ".ls").split(),
                         [".", "..", "filler", "sigs.csv", "sigs.gpkg"])
        self.assertEqual(read(mnt + ".csv", "rb"), read(old, "rb"))


class ExtractHist(_Compare):
    def test_scl_classes_byte_exact(self):
        rng = np.random.default_rng(3)
        scl = rng.choice([0, 3, 4, 5, 8, 9, 10, 11], size=(H, W)).astype(np.uint8)
        scl[:, STRIP[0]:STRIP[1]] = 0
        path = self.p("scl.tif")
        ds = gdal.GetDriverByName("GTiff").Create(path, W, H, 1, gdal.GDT_Byte,
                                                  ["TILED=YES", "BLOCKXSIZE=32", "BLOCKYSIZE=32"])
        ds.SetGeoTransform((X0, RES, 0, Y0, 0, -RES))
        ds.SetProjection(utm().ExportToWkt())
        ds.GetRasterBand(1).WriteArray(scl)
        ds = None
        gpkg = self.p("parcels.gpkg")
        items = parcels()
        write_parcels(gpkg, items)
        out = self.p("hists.csv")
        run(["extract", "--raster", path, "--parcels", gpkg, "--id-field", "code", "--hist",
             "-o", out], check=0)
        got = {r["code"]: r["hist"] for r in read_csv(out)}
        exp = {}
        for pid, wkt in items:
            m = gdal_mask(wkt, (X0, RES, 0, Y0, 0, -RES), (H, W), utm().ExportToWkt(), False, utm())
            classes, counts = np.unique(scl[m], return_counts=True)
            d = {str(int(c)): int(n) for c, n in zip(classes, counts)}
            if d and set(d) != {"0"}:
                exp[str(pid)] = json.dumps(d)
        self.assertIn("0", json.loads(exp["9"]))  # class 0 kept when mixed
        self.assertNotIn("7", exp)  # only class 0: no row
        self.assertEqual(got, exp)


class ExtractRealNetcdf(_Compare):
    def test_bcsd_obs_1999_by_nc_counties(self):
        """The real pair: 12 monthly bands of precipitation (lon/lat, float32) × 100 NAD27
        counties reprojected to WGS84."""
        nc = os.path.join(DATA, "stars", "bcsd_obs_1999.nc")
        src = f'NETCDF:"{nc}":pr'
        counties = os.path.join(DATA, "sf", "nc.gpkg")
        out = self.p("nc.csv")
        run(["extract", "--raster", src, "--a-srs", "EPSG:4326", "--parcels", counties,
             "--id-field", "FIPSNO", "-o", out], check=0)
        ds = gdal.Open(src)
        gt = ds.GetGeoTransform()
        arr = ds.ReadAsArray().astype("f8")
        nodata = ds.GetRasterBand(1).GetNoDataValue()
        wgs = osr.SpatialReference()
        wgs.ImportFromEPSG(4326)
        wgs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        vds = ogr.Open(counties)
        lyr = vds.GetLayer(0)
        ct = osr.CoordinateTransformation(lyr.GetSpatialRef(), wgs)
        exp = {}
        for f in lyr:
            g = f.GetGeometryRef().Clone()
            g.Transform(ct)
            m = gdal_mask(g.ExportToWkt(), gt, arr.shape[1:], wgs.ExportToWkt(), False, wgs)
            for b in range(arr.shape[0]):
                v = arr[b][m]
                v = v[~np.isnan(v)]
                if nodata is not None:
                    v = v[v != nodata]
                if v.size:
                    exp[(f.GetFieldAsString("FIPSNO"), str(b + 1))] = numpy_stats(v)
        self.assertGreater(len(exp), 1000)
        self.assert_rows(read_csv(out), exp, "FIPSNO")


if __name__ == "__main__":
    unittest.main()
