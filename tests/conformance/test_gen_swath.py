"""gen with input_processor_name: curvilinear (2-D lat/lon swaths, NetCDF and .SEN3 folders),
checked against an independent numpy computation on the swath's own cell centres.

The rule both sides implement: an output pixel gets a value only when its centre lies inside the
swath footprint, the polygon through the outermost cell centres (the union of the swath quads);
there, nearest takes the cell whose centre is nearest in local equirectangular distance
(dlon * cos(lat0), dlat), lat0 = the latitude of the output pixel's centre. The reference finds
the footprint with a ray-casting point-in-polygon test and the nearest cell by brute force over
all cells (baims: rasterised quads and a search among the 4x4 cells around the quad)."""

import datetime as dt
import os
import shutil
import unittest

import numpy as np
from baimstest import lazy_module, xr  # imported on first use (xarray: pandas, dask)
netCDF4 = lazy_module("netCDF4")

from baimstest import DATA, TempDirTest, run, write_config, centres, days, snapshot

OLCI = os.path.join(DATA, "olci", "O_L2_0001_SNS_2017104102450_v1.0.nc")


def boundary(lat, lon):
    """The ring of outermost cell centres (x = lon, y = lat), closed."""
    top = [(lon[0, c], lat[0, c]) for c in range(lon.shape[1])]
    right = [(lon[r, -1], lat[r, -1]) for r in range(1, lon.shape[0])]
    bottom = [(lon[-1, c], lat[-1, c]) for c in range(lon.shape[1] - 2, -1, -1)]
    left = [(lon[r, 0], lat[r, 0]) for r in range(lon.shape[0] - 2, 0, -1)]
    return np.array(top + right + bottom + left)


def inside(poly, x, y):
    """Ray casting (even-odd) for points x, y (arrays) in polygon poly (n, 2)."""
    res = np.zeros(x.shape, bool)
    xs, ys = poly[:, 0], poly[:, 1]
    xe, ye = np.roll(xs, -1), np.roll(ys, -1)
    for x0, y0, x1, y1 in zip(xs, ys, xe, ye):
        cross = (y0 > y) != (y1 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            xi = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
        res ^= cross & (x < xi)
    return res


def nearest_reference(values, lat, lon, region, size):
    w, h = size
    ox = centres(region[0], region[2], w)
    oy = centres(region[1], region[3], h)[::-1]
    X, Y = np.meshgrid(ox, oy)
    ins = inside(boundary(lat, lon), X, Y)
    out = np.full((h, w), np.nan)
    fl_lat, fl_lon, fl_v = lat.ravel(), lon.ravel(), values.ravel()
    for (r, c) in np.argwhere(ins):
        k = np.cos(np.deg2rad(Y[r, c]))  # the local scale at the output centre
        d = ((fl_lon - X[r, c]) * k) ** 2 + (fl_lat - Y[r, c]) ** 2
        out[r, c] = fl_v[np.argmin(d)]
    return out, ins


def gen(test, inp, region, size, method, extra="input_processor_name: curvilinear\n"):
    out = test.p(f"{method}.zarr")
    cfg = test.p(f"{method}.yml")
    write_config(cfg, region, size, out, resampling=method, extra=extra)
    run(["gen", "-c", cfg, inp], check=0)
    return out


class SwathOlci(TempDirTest):
    def test_nearest_beside_a_bilinear_variable(self):
        """With every variable nearest, a swath's values are read as the cells its nearest map
        uses (compact maps); with a bilinear one beside it they are read whole: the nearest
        variable is the same, bit for bit, and equals the nearest reference."""
        with netCDF4.Dataset(OLCI) as ds:
            lat, lon = ds["lat"][:].filled(np.nan), ds["lon"][:].filled(np.nan)
            conc = ds["conc_chl"][:].filled(np.nan).astype("f8")
        region, size = (1.10, 52.30, 1.70, 52.67), (120, 74)
        both = gen(self, OLCI, region, size, "nearest",
                   extra="input_processor_name: curvilinear\n"
                         "output_variables: [conc_chl, {rtoa_8: {resampling: bilinear}}]\n")
        alone = self.p("alone.zarr")
        cfg = self.p("alone.yml")
        write_config(cfg, region, size, alone, resampling="nearest",
                     extra="input_processor_name: curvilinear\noutput_variables: [conc_chl]\n")
        run(["gen", "-c", cfg, OLCI], check=0)
        with xr.open_zarr(both, decode_times=False) as a, \
                xr.open_zarr(alone, decode_times=False) as b:
            got_both, got_alone = a["conc_chl"].values[0], b["conc_chl"].values[0]
            self.assertGreater(int(np.count_nonzero(~np.isnan(a["rtoa_8"].values[0]))), 4000)
        self.assertEqual(got_both.tobytes(), got_alone.tobytes())
        exp, _ = nearest_reference(conc, lat, lon, region, size)
        same = (got_alone == exp.astype("f4")) | (np.isnan(got_alone) & np.isnan(exp))
        self.assertTrue(same.all(), f"{np.count_nonzero(~same)} pixels differ")

    def test_nearest_equals_nearest_cell_inside_footprint(self):
        with netCDF4.Dataset(OLCI) as ds:
            lat, lon = ds["lat"][:].filled(np.nan), ds["lon"][:].filled(np.nan)
            conc = ds["conc_chl"][:].filled(np.nan).astype("f8")
            rtoa = ds["rtoa_8"][:].filled(np.nan).astype("f8")
            start, stop = ds.start_date, ds.stop_date
        # A grid finer than the swath (~300 m cells) over and beyond its footprint.
        region, size = (1.10, 52.30, 1.70, 52.67), (120, 74)
        out = gen(self, OLCI, region, size, "nearest")
        with xr.open_zarr(out, decode_times=False) as c:
            got_chl = c["conc_chl"].values[0]
            got_rtoa = c["rtoa_8"].values[0]
            t = c["time"].values
            tb = c["time_bnds"].values
        for got, src in ((got_chl, conc), (got_rtoa, rtoa)):
            exp, ins = nearest_reference(src, lat, lon, region, size)
            self.assertEqual(np.count_nonzero(~np.isnan(got)), np.count_nonzero(~np.isnan(exp)))
            same = (got == exp.astype("f4")) | (np.isnan(got) & np.isnan(exp))
            self.assertTrue(same.all(), f"{np.count_nonzero(~same)} pixels differ, first "
                            f"{np.argwhere(~same)[:5].tolist()}")
            # Nothing outside the footprint; inside it only the source's own NaN.
            self.assertTrue(np.isnan(got[~ins]).all())
        self.assertEqual(np.count_nonzero(~np.isnan(got_rtoa)), 4104)
        # Time: the middle of start_date/stop_date, bounds the range (to the millisecond).
        fmt = "%d-%b-%Y %H:%M:%S.%f"
        a = days(dt.datetime.strptime(start, fmt))
        b = days(dt.datetime.strptime(stop, fmt))
        self.assertAlmostEqual(tb[0][0], a, delta=1e-3 / 86400)
        self.assertAlmostEqual(tb[0][1], b, delta=1e-3 / 86400)
        self.assertAlmostEqual(t[0], (a + b) / 2, delta=1e-3 / 86400)

    def test_bad_swath_without_2d_lat_lon(self):
        path = self.p("no_latlon.nc")
        with netCDF4.Dataset(path, "w") as ds:
            ds.start_date = "14-APR-2017 10:27:29.454657"
            ds.createDimension("y", 3)
            ds.createDimension("x", 4)
            ds.createVariable("v", "f4", ("y", "x"))[:] = np.zeros((3, 4))
        cfg = self.p("c.yml")
        write_config(cfg, (0, 0, 1, 1), (4, 4), self.p("c.zarr"),
                     extra="input_processor_name: curvilinear\n")
        p = run(["gen", "-c", cfg, "--fail-fast", path])
        self.assertEqual(p.returncode, 4, p.stderr)
        self.assertEqual(p.stderr.strip().splitlines()[-1],
                         f"baims gen: error: input {path}: cannot read '{path}': no 2-D "
                         "latitude/longitude variables (lat(y,x) and lon(y,x)). The curvilinear "
                         "processor needs 2-D "
                         "lat/lon; use input_processor_name: default for 1-D lat/lon grids")


def write_sen3(folder, lat, lon, chl, flags, geo=True):
    os.makedirs(folder)
    h, w = lat.shape
    attrs = {"start_time": "2020-06-01T10:00:00.000000Z", "stop_time": "2020-06-01T10:03:00.000000Z"}

    def new(name):
        ds = netCDF4.Dataset(os.path.join(folder, name), "w")
        for k, v in attrs.items():
            setattr(ds, k, v)
        ds.createDimension("rows", h)
        ds.createDimension("columns", w)
        return ds

    if geo:
        with new("geo_coordinates.nc") as ds:
            for name, vals, units in (("latitude", lat, "degrees_north"), ("longitude", lon, "degrees_east")):
                v = ds.createVariable(name, "i4", ("rows", "columns"), fill_value=-2147483648)
                v.scale_factor = 1e-6
                v.units = units
                v.set_auto_maskandscale(False)
                v[:] = np.round(vals * 1e6).astype("i4")
    with new("chl_nn.nc") as ds:
        v = ds.createVariable("CHL_NN", "i2", ("rows", "columns"), fill_value=-32768)
        v.scale_factor = 0.01
        v.add_offset = 1.0
        v.set_auto_maskandscale(False)
        v[:] = chl  # stored as is
    with new("wqsf.nc") as ds:
        v = ds.createVariable("WQSF", "u4", ("rows", "columns"))
        v.flag_masks = np.array([1, 2, 4], "u4")
        v[:] = flags
    with new("tie_geo_coordinates.nc") as ds:  # other dimensions: skipped
        ds.createDimension("tie_rows", 2)
        ds.createVariable("tie_latitude", "f4", ("tie_rows",))[:] = [0, 1]


def synthetic_swath(h=30, w=40):
    """A rotated, sheared, slightly curved swath over ~[10.0, 11.2] x [55.0, 55.8]."""
    r, c = np.mgrid[0:h, 0:w].astype("f8")
    lon = 10.0 + 0.025 * c + 0.008 * r + 0.00002 * c * r
    lat = 55.0 + 0.022 * r - 0.006 * c + 0.00001 * c * c
    return r, c, np.round(lat * 1e6) / 1e6, np.round(lon * 1e6) / 1e6


class SwathSen3(TempDirTest):
    def test_sen3_folder_nearest_and_flags(self):
        r, c, lat, lon = synthetic_swath()
        chl = ((r * 7 + c * 3) % 100).astype("i2")   # packed: value 1 + 0.01 * chl
        chl[5, 5] = -32768
        flags = ((r + c) % 8).astype("u4")
        folder = self.p("S3A_OL_2_WFR____20200601T100000.SEN3")
        write_sen3(folder, lat, lon, chl, flags)
        region, size = (9.9513, 54.7517, 11.3513, 55.8517), (70, 55)  # centres off the swath edges
        out = gen(self, folder, region, size, "nearest")
        with xr.open_zarr(out, decode_times=False) as cube:
            self.assertEqual(sorted(cube.data_vars), ["CHL_NN", "WQSF"])
            got_chl = cube["CHL_NN"].values[0]
            got_flags = cube["WQSF"].values[0]
            t = cube["time"].values[0]
        la = lat.astype("f8")
        chl_phys = np.where(chl == -32768, np.nan, 1.0 + 0.01 * chl.astype("f8"))
        exp, ins = nearest_reference(chl_phys, la, lon, region, size)
        same = (got_chl == exp.astype("f4")) | (np.isnan(got_chl) & np.isnan(exp))
        self.assertTrue(same.all(), f"{np.count_nonzero(~same)} differ")
        exp_f, _ = nearest_reference(flags.astype("f8"), la, lon, region, size)
        self.assertTrue(((got_flags == exp_f) | (np.isnan(got_flags) & np.isnan(exp_f))).all())
        self.assertEqual(np.count_nonzero(~np.isnan(got_flags)), np.count_nonzero(ins))
        self.assertAlmostEqual(t, days(dt.datetime(2020, 6, 1, 10, 1, 30)), delta=1e-3 / 86400)

    def test_bilinear_reproduces_a_linear_field(self):
        r, c, lat, lon = synthetic_swath()
        # Linear in (row, column) exactly; packed i2 is exact for these integers.
        field = (3 * r + 2 * c).astype("i2")
        folder = self.p("S3B_OL_2_WFR____20200601T100000.SEN3")
        write_sen3(folder, lat, lon, field, np.zeros_like(field, "u4"))
        region, size = (9.9513, 54.7517, 11.3513, 55.8517), (70, 55)  # centres off the swath edges
        out = gen(self, folder, region, size, "bilinear")
        with xr.open_zarr(out, decode_times=False) as cube:
            got = cube["CHL_NN"].values[0].astype("f8")
        oy = centres(region[1], region[3], size[1])[::-1]
        ox = centres(region[0], region[2], size[0])
        X, Y = np.meshgrid(ox, oy)
        ins = inside(boundary(lat, lon), X, Y)
        self.assertEqual(np.count_nonzero(~np.isnan(got)), np.count_nonzero(ins))
        # Where inside, the value is 1 + 0.01 (3 s_row + 2 s_col) at the fractional swath
        # position; check consistency instead: invert the (exact bilinear) swath map with numpy.
        # The swath map is bilinear per quad, so the position solves lon/lat = P(row, col).
        rows, cols = np.argwhere(ins).T
        x, y = X[rows, cols], Y[rows, cols]
        # Newton on the global smooth map (lon/lat are polynomials of row/col of degree 2 with
        # bilinear cross terms; exact on each quad up to the c*c term, which is tiny).
        rr = np.full(x.shape, 15.0)
        cc = np.full(x.shape, 20.0)
        for _ in range(30):
            fx = 10.0 + 0.025 * cc + 0.008 * rr + 0.00002 * cc * rr - x
            fy = 55.0 + 0.022 * rr - 0.006 * cc + 0.00001 * cc * cc - y
            a, b = 0.025 + 0.00002 * rr, 0.008 + 0.00002 * cc
            d, e = -0.006 + 0.00002 * cc, 0.022
            det = a * e - b * d
            cc, rr = cc - (e * fx - b * fy) / det, rr - (a * fy - d * fx) / det
        exp = 1.0 + 0.01 * (3 * rr + 2 * cc)
        # The swath positions are rounded to 1e-6 degrees, the c*c term is quadratic within a
        # quad and the output is float32: measured 2.7e-6, against 0.02-0.03 between neighbours.
        self.assertLess(np.max(np.abs(got[rows, cols] - exp)), 1e-5)

    def test_sen3_without_geo_coordinates(self):
        r, c, lat, lon = synthetic_swath(4, 5)
        folder = self.p("S3A_BAD.SEN3")
        write_sen3(folder, lat, lon, np.zeros((4, 5), "i2"), np.zeros((4, 5), "u4"), geo=False)
        cfg = self.p("c.yml")
        write_config(cfg, (10, 55, 11, 56), (4, 4), self.p("c.zarr"),
                     extra="input_processor_name: curvilinear\n")
        p = run(["gen", "-c", cfg, "--fail-fast", folder])
        self.assertEqual(p.returncode, 4, p.stderr)
        self.assertEqual(p.stderr.strip().splitlines()[-1],
                         f"baims gen: error: input {folder}: cannot read '{folder}': a .SEN3 "
                         "folder without geo_coordinates.nc. Give the complete product folder (it "
                         "holds the 2-D "
                         "latitude/longitude)")


def write_swath_nc(path, lat, lon, day, variables, zlib=False):
    """A curvilinear NetCDF file: lat/lon(y, x) as float64 (deflated with zlib=True), the
    variables' (array, attrs), one scene of April `day`, 2017 (OLCI's start_date/stop_date)."""
    h, w = lat.shape
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("y", h)
        ds.createDimension("x", w)
        ds.start_date = f"{day:02d}-APR-2017 10:27:29.454657"
        ds.stop_date = f"{day:02d}-APR-2017 10:30:29.454657"
        for name, a, units in (("lat", lat, "degrees_north"), ("lon", lon, "degrees_east")):
            v = ds.createVariable(name, "f8", ("y", "x"), zlib=zlib)
            v.units = units
            v[:] = a
        for name, (a, attrs) in variables.items():
            v = ds.createVariable(name, a.dtype, ("y", "x"))
            v.set_auto_maskandscale(False)
            for k, x in attrs.items():
                setattr(v, k, x)
            v[:] = a


def swath_where(path):
    """' (a swath at longitude a..b, latitude c..d)': the range of the positions stored in path,
    as gen names a swath outside its region (two decimals)."""
    with netCDF4.Dataset(path) as ds:
        lat, lon = ds["lat"][:].astype("f8"), ds["lon"][:].astype("f8")
    return (f" (a swath at longitude {lon.min():.2f}..{lon.max():.2f}, "
            f"latitude {lat.min():.2f}..{lat.max():.2f})")


def write_packed_swath_nc(path, ilat, ilon, day, v):
    """A curvilinear NetCDF file with int32 lat/lon (scale 1e-6) in deflated chunks of 8 x 16
    (read by baims a chunk row at a time) and a float32 variable v."""
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("y", ilat.shape[0])
        ds.createDimension("x", ilat.shape[1])
        t0 = f"{day:02d}-APR-2017 10:27:29.454657"
        ds.start_date, ds.stop_date = t0, t0.replace("10:27", "10:30")
        for name, a, units in (("lat", ilat, "degrees_north"), ("lon", ilon, "degrees_east")):
            x = ds.createVariable(name, "i4", ("y", "x"), zlib=True, chunksizes=(8, 16))
            x.set_auto_maskandscale(False)
            x.units = units
            x.scale_factor = 1e-6
            x[:] = a
        ds.createVariable("v", "f4", ("y", "x"))[:] = v


def check_nearest_slice(test, got, values, lat, lon, region, size, k):
    """Slice k of a cube (got) equals the numpy nearest reference of values on lat/lon, and the
    swath covers more than 1000 of its pixels."""
    exp, ins = nearest_reference(values.astype("f8"), lat, lon, region, size)
    same = (got == exp.astype("f4")) | (np.isnan(got) & np.isnan(exp))
    test.assertTrue(same.all(), f"slice {k}: {np.count_nonzero(~same)} differ")
    test.assertGreater(int(ins.sum()), 1000)


def nearest_map_lines(test, cfg, paths):
    """Runs gen (debug log) on paths: its "resampling map (nearest)" lines, one per input."""
    p = run(["--log-level", "debug", "gen", "-c", cfg] + paths, check=0)
    test.gen_log = p.stderr
    lines = [ln for ln in p.stderr.splitlines() if "resampling map (nearest) of input" in ln]
    test.assertEqual(len(lines), len(paths), p.stderr)
    return lines


def scene_time(day):
    return days(dt.datetime(2017, 4, day, 10, 28, 59, 454657))


class SwathMaps(TempDirTest):
    def test_equal_lat_lon_share_one_map_others_not(self):
        """Three swath inputs, A and B on the same 2-D lat/lon, C on other ones (shifted by
        0.03 degrees north). gen reads each swath's lat/lon only when it builds its map (not in
        the scan) and frees them after; B shares A's map (equal digest), C gets its own: each
        slice equals the numpy nearest reference on its own lat/lon (C on A's map would not)."""
        r, c, lat, lon = synthetic_swath()
        lat_c = np.round((lat + 0.03) * 1e6) / 1e6
        rng = np.random.default_rng(3)
        vals, paths = [], []
        for name, la, day in (("a", lat, 1), ("b", lat, 2), ("c", lat_c, 3)):
            v = rng.uniform(0.0, 10.0, lat.shape).astype("f4")
            vals.append((v, la))
            paths.append(self.p(f"{name}.nc"))
            write_swath_nc(paths[-1], la, lon, day, {"v": (v, {})})
        region, size = (9.9513, 54.7517, 11.3513, 55.8517), (70, 55)
        cfg = self.p("gen.yml")
        write_config(cfg, region, size, self.p("maps.zarr"), resampling="nearest",
                     extra="input_processor_name: curvilinear\n")
        lines = nearest_map_lines(self, cfg, paths)
        for ln, path, how in zip(lines, paths, ("built", "shared", "built")):
            self.assertIn(f"of input '{path}': {how}, digest ", ln)
            self.assertTrue(ln.endswith(", its 2-D lat/lon 30x40 read again and freed"), ln)
        digests = [ln.split("digest ")[1][:16] for ln in lines]
        self.assertEqual(digests[0], digests[1])
        self.assertNotEqual(digests[0], digests[2])
        with xr.open_zarr(self.p("maps.zarr"), decode_times=False) as cube:
            got = cube["v"].values
            t = cube["time"].values
        self.assertEqual(got.shape[0], 3)
        for k, day in enumerate((1, 2, 3)):
            self.assertAlmostEqual(t[k], scene_time(day), delta=1e-3 / 86400)
            v, la = vals[k]
            check_nearest_slice(self, got[k], v, la, lon, region, size, k)


    def test_lone_shapes_skip_the_digest(self):
        """A and B on equal lat/lon of one shape, C alone on its shape (one column fewer): A and
        B's digests are computed (B shares A's map), C's is not (no other input could share its
        map: the log says so instead of a digest); C's slice still equals the numpy nearest
        reference on its own lat/lon."""
        r, c, lat, lon = synthetic_swath()
        rng = np.random.default_rng(5)
        vals, paths = [], []
        for name, la, lo, day in (("a", lat, lon, 1), ("b", lat, lon, 2),
                                  ("c", lat[:, :-1], lon[:, :-1], 3)):
            v = rng.uniform(0.0, 10.0, la.shape).astype("f4")
            vals.append((v, la, lo))
            paths.append(self.p(f"{name}.nc"))
            write_swath_nc(paths[-1], la, lo, day, {"v": (v, {})})
        region, size = (9.9513, 54.7517, 11.3513, 55.8517), (70, 55)
        cfg = self.p("gen.yml")
        write_config(cfg, region, size, self.p("lone.zarr"), resampling="nearest",
                     extra="input_processor_name: curvilinear\n")
        lines = nearest_map_lines(self, cfg, paths)
        self.assertIn(f"of input '{paths[0]}': built, digest ", lines[0])
        self.assertIn(f"of input '{paths[1]}': shared, digest ", lines[1])
        self.assertIn(f"of input '{paths[2]}': built, no digest (no other input of its kind and "
                      "shape), its 2-D lat/lon 30x39 read again and freed", lines[2])
        with xr.open_zarr(self.p("lone.zarr"), decode_times=False) as cube:
            got = cube["v"].values
        self.assertEqual(got.shape[0], 3)
        for k in range(3):
            v, la, lo = vals[k]
            check_nearest_slice(self, got[k], v, la, lo, region, size, k)


    def test_packed_swaths_digest_as_their_maps_are_built(self):
        """Four swaths of one shape with int32 lat/lon in deflated chunks of 8 rows (read a
        block of rows at a time, never whole): A; B on A's lat/lon; C shifted 0.03 degrees
        north; D equal to A in its first 8 rows, one row further down moved. A's digest is
        computed from the blocks its map is built from; B, whose first rows match A's, is
        read once for its digest and shares A's map; C's first rows match no earlier swath's:
        its map and digest come from one read; D's first rows match A's, its digest does not:
        read for its digest, then for its map. Each slice equals the numpy nearest reference
        on its own lat/lon."""
        r, c, lat, lon = synthetic_swath()
        lat_c = np.round((lat + 0.03) * 1e6) / 1e6
        lat_d = lat.copy()
        lat_d[20] += 0.004
        rng = np.random.default_rng(7)
        vals, paths = [], []
        ilon = np.round(lon * 1e6).astype("i4")
        for name, la, day in (("a", lat, 1), ("b", lat, 2), ("c", lat_c, 3), ("d", lat_d, 4)):
            v = rng.uniform(0.0, 10.0, lat.shape).astype("f4")
            ilat = np.round(la * 1e6).astype("i4")
            vals.append((v, ilat))
            paths.append(self.p(f"{name}.nc"))
            write_packed_swath_nc(paths[-1], ilat, ilon, day, v)
        region, size = (9.9513, 54.7517, 11.3513, 55.8517), (70, 55)
        cfg = self.p("gen.yml")
        write_config(cfg, region, size, self.p("packed.zarr"), resampling="nearest",
                     extra="input_processor_name: curvilinear\n")
        lines = nearest_map_lines(self, cfg, paths)
        whole = "2-D lat/lon 30x40"
        digest_read = f", its {whole} read in blocks of 8 rows for its digest"
        map_read = f", its {whole} read again in blocks of 8 rows"
        for ln, path, how, tail in zip(lines, paths, ("built", "shared", "built", "built"),
                                       (map_read, digest_read, map_read, digest_read + map_read)):
            self.assertIn(f"of input '{path}': {how}, digest ", ln)
            self.assertTrue(ln.endswith(tail), ln)
        digests = [ln.split("digest ")[1][:16] for ln in lines]
        self.assertEqual(digests[0], digests[1])
        self.assertEqual(len(set(digests)), 3, digests)
        # A's map (also B's) stays while B reads, goes before C's is built (no input holds it
        # and C shares it not), not before; C's goes before D's is built (D's digest is C's
        # neither). At most one map beyond those in use.
        events = [ln.split(" debug: ")[-1] for ln in self.gen_log.splitlines()
                  if "resampling map (nearest)" in ln]
        dropped = lambda k, by: (f"resampling map (nearest) with digest {digests[k]} dropped "
                                 f"before the map of input '{paths[by]}' is built: no input holds it")
        self.assertEqual([e if "dropped" in e else e.split(":")[0] for e in events],
                         [f"resampling map (nearest) of input '{paths[0]}'",
                          f"resampling map (nearest) of input '{paths[1]}'",
                          dropped(0, 2),
                          f"resampling map (nearest) of input '{paths[2]}'",
                          dropped(2, 3),
                          f"resampling map (nearest) of input '{paths[3]}'"])
        with xr.open_zarr(self.p("packed.zarr"), decode_times=False) as cube:
            got = cube["v"].values
        self.assertEqual(got.shape[0], 4)
        for k in range(4):
            v, ilat = vals[k]
            # the doubles baims decodes: stored integer * 1e-6
            check_nearest_slice(self, got[k], v, ilat.astype("f8") * 1e-6,
                                ilon.astype("f8") * 1e-6, region, size, k)


    def test_input_outside_the_region_is_named(self):
        """An input with no cell in the output region beside one inside it gives an empty
        slice, exit 0 and one warning that names it, the region and the region's units; an input
        that overlaps the region gives none. The operator's mistake it is for: an output_region
        in degrees for a projected output_crs (metres), where every slice is empty: that run is
        refused (exit 4, the warning, one error line, no cube)."""
        r, c, lat, lon = synthetic_swath()
        v = ((r * 3 + c) % 17).astype("f4")
        inside, far = self.p("inside.nc"), self.p("far.nc")
        write_swath_nc(inside, lat, lon, 1, {"v": (v, {})})
        write_swath_nc(far, lat, lon + 20.0, 2, {"v": (v, {})})
        region, size = (9.9513, 54.7517, 11.3513, 55.8517), (70, 55)
        text = "[9.9513, 54.7517, 11.3513, 55.8517]"
        cfg = self.p("gen.yml")
        write_config(cfg, region, size, self.p("out.zarr"), resampling="nearest",
                     extra="input_processor_name: curvilinear\n")
        p = run(["gen", "-c", cfg, inside, far], check=0)
        warn = [ln for ln in p.stderr.splitlines() if "no cell in the output region" in ln]
        self.assertEqual(len(warn), 1, p.stderr)
        self.assertTrue(warn[0].endswith(
            f"warning: input '{far}' has no cell in the output region {text}, in degrees of "
            "longitude and latitude: its slices are empty. If that is not meant, check that "
            "output_region covers the input"), warn[0])
        with xr.open_zarr(self.p("out.zarr"), decode_times=False) as cube:
            got = cube["v"].values
        self.assertEqual(got.shape[0], 2)
        self.assertGreater(int(np.count_nonzero(~np.isnan(got[0]))), 1000)
        self.assertTrue(np.isnan(got[1]).all())
        # the same numbers as metres of EPSG:3035: the overlapping input has no cell there, so
        # the cube would have no data at all: refused (exit 4), nothing written
        cfg = self.p("laea.yml")
        write_config(cfg, region, size, self.p("laea.zarr"), resampling="nearest",
                     extra="input_processor_name: curvilinear\noutput_crs: EPSG:3035\n")
        p = run(["gen", "-c", cfg, inside], check=4)
        warn = [ln for ln in p.stderr.splitlines() if "no cell in the output region" in ln]
        self.assertEqual(len(warn), 2, p.stderr)
        laea = f"{text}, in metres of EPSG:3035 (ETRS89-extended / LAEA Europe)"
        self.assertTrue(warn[0].endswith(
            f"warning: input '{inside}' has no cell in the output region {laea}: its slices are "
            "empty. If that is not meant, check that output_region is given in the units of "
            "output_crs and covers the input"), warn[0])
        self.assertEqual(p.stderr.strip().splitlines()[-1],
                         f"baims gen: error: input '{inside}'{swath_where(inside)} has no cell "
                         "in the output region "
                         f"{laea}: nothing was written. Check that output_region is given in the "
                         "units of output_crs and covers the input")
        self.assertFalse(os.path.exists(self.p("laea.zarr")))

    def test_only_inputs_outside_the_region_are_refused(self):
        """A run whose every slice to write has no cell in the output region would make a cube,
        or time steps, without any data (the wrong files, or an output_region in the wrong
        units), and end with exit 0: it is refused with exit 4 and one line, and nothing is
        written: no new cube; an existing cube stays byte for byte. An input outside the region
        beside one inside it still gives its empty slice (test above)."""
        r, c, lat, lon = synthetic_swath()
        v = ((r * 3 + c) % 17).astype("f4")
        good, far1, far2 = self.p("good.nc"), self.p("far1.nc"), self.p("far2.nc")
        write_swath_nc(good, lat, lon, 1, {"v": (v, {})})
        write_swath_nc(far1, lat, lon + 20.0, 2, {"v": (v, {})})
        write_swath_nc(far2, lat + 9.0, lon, 3, {"v": (v, {})})
        region, size = (9.9513, 54.7517, 11.3513, 55.8517), (70, 55)
        where = ("[9.9513, 54.7517, 11.3513, 55.8517], in degrees of longitude and latitude")
        cfg, cube = self.p("gen.yml"), self.p("c.zarr")
        write_config(cfg, region, size, cube, resampling="nearest",
                     extra="input_processor_name: curvilinear\n")
        two = (f"baims gen: error: none of the 2 inputs to write has a cell in the output region "
               f"{where} (each is named above): nothing was written. Check that output_region "
               "covers the inputs")
        p = run(["gen", "-c", cfg, far1, far2], check=4)
        self.assertEqual(p.stderr.strip().splitlines()[-1], two)
        warned = [ln.split("warning: input '")[1].split("'")[0] for ln in p.stderr.splitlines()
                  if "has no cell in the output region" in ln]
        self.assertEqual(warned, [far1, far2], p.stderr)
        self.assertFalse(os.path.exists(cube))
        self.assertEqual(os.listdir(self.tmp).count("c.zarr.baims-new"), 0)
        # an existing cube: appending, or inserting, only such inputs changes nothing
        run(["gen", "-c", cfg, good], check=0)
        before = snapshot(cube)
        p = run(["gen", "-c", cfg, far1, far2], check=4)
        self.assertEqual(p.stderr.strip().splitlines()[-1], two)
        self.assertEqual(snapshot(cube), before)
        p = run(["gen", "-c", cfg, far1], check=4)
        self.assertEqual(p.stderr.strip().splitlines()[-1],
                         f"baims gen: error: input '{far1}'{swath_where(far1)} has no cell in "
                         "the output region "
                         f"{where}: nothing was written. Check that output_region covers the "
                         "input")
        self.assertEqual(snapshot(cube), before)
        # a swath with int32 lat/lon (read a chunk row at a time) is named with its range too
        packed = self.p("packed.nc")
        ilat, ilon = np.round(lat * 1e6).astype("i4"), np.round((lon + 20.0) * 1e6).astype("i4")
        write_packed_swath_nc(packed, ilat, ilon, 4, v)
        p = run(["gen", "-c", cfg, packed], check=4)
        self.assertEqual(p.stderr.strip().splitlines()[-1],
                         f"baims gen: error: input '{packed}'{swath_where(packed)} has no cell "
                         f"in the output region {where}: nothing was written. Check that "
                         "output_region covers the input")
        self.assertIn("(a swath at longitude 30.", swath_where(packed))
        self.assertEqual(snapshot(cube), before)
        # with one input inside the region, the outside ones give their empty steps (exit 0);
        # on the cube above, good.nc is up to date: far1 and far2 alone are to write (refused)
        p = run(["gen", "-c", cfg, good, far1, far2], check=4)
        self.assertEqual(p.stderr.strip().splitlines()[-1], two)
        self.assertEqual(snapshot(cube), before)
        write_config(cfg, region, size, self.p("new.zarr"), resampling="nearest",
                     extra="input_processor_name: curvilinear\n")
        run(["gen", "-c", cfg, good, far1, far2], check=0)
        with xr.open_zarr(self.p("new.zarr"), decode_times=False) as c:
            got = c["v"].values
        self.assertEqual(got.shape[0], 3)
        check_nearest_slice(self, got[0], v, lat, lon, region, size, 0)
        self.assertTrue(np.isnan(got[1:]).all())


    def test_input_outside_the_region_does_not_empty_a_time_step(self):
        """A rerun for a time step of the cube with an input that has no cell in the output
        region (the wrong file) would replace that step's data with nothing: the input is
        skipped like an unreadable one (exit 8; --fail-fast: exit 4, one line) and every file of
        the cube but its lock record stays byte for byte."""
        r, c, lat, lon = synthetic_swath()
        v = ((r * 3 + c) % 17).astype("f4")
        good, wrong = self.p("good.nc"), self.p("wrong.nc")
        write_swath_nc(good, lat, lon, 1, {"v": (v, {})})
        write_swath_nc(wrong, lat, lon + 20.0, 1, {"v": (v, {})})
        region, size = (9.9513, 54.7517, 11.3513, 55.8517), (70, 55)
        cfg, cube = self.p("gen.yml"), self.p("keep.zarr")
        write_config(cfg, region, size, cube, resampling="nearest",
                     extra="input_processor_name: curvilinear\n")
        run(["gen", "-c", cfg, good], check=0)

        def files():
            out = {}
            for root, _, names in os.walk(cube):
                for n in names:
                    if n != ".baims-lock":
                        with open(os.path.join(root, n), "rb") as f:
                            out[os.path.relpath(os.path.join(root, n), cube)] = f.read()
            return out

        before = files()
        self.assertGreater(len(before), 5)
        why = (f"input '{wrong}' has no cell in the output region: the cube's time step "
               "2017-04-01T10:28:59.455Z is kept, not replaced by an empty one")
        p = run(["gen", "-c", cfg, wrong], check=8)
        self.assertIn(f"error: skipping input: {why}", p.stderr)
        self.assertEqual(files(), before)
        p = run(["gen", "-c", cfg, "--fail-fast", wrong], check=4)
        self.assertEqual(p.stderr.strip().splitlines()[-1],
                         f"baims gen: error: {why}. Fix or remove that input and rerun")
        self.assertEqual(files(), before)
        with xr.open_zarr(cube, decode_times=False) as c:
            check_nearest_slice(self, c["v"].values[0], v, lat, lon, region, size, 0)


def corrupt_lat_chunk(path):
    """Damages the deflated chunk of `lat` (the first compressed variable the file holds, written
    by write_swath_nc with zlib on lat/lon): the file still opens and `v` still reads, `lat` does
    not. Checked here with netCDF4, so that the test cannot pass on an undamaged file."""
    with open(path, "rb") as f:
        b = bytearray(f.read())
    at = next(i for i in range(len(b) - 1) if b[i] == 0x78 and b[i + 1] in (0x01, 0x5E, 0x9C, 0xDA))
    for k in range(at + 20, at + 60):
        b[k] ^= 0x5A
    with open(path, "wb") as f:
        f.write(b)
    with netCDF4.Dataset(path) as ds:
        ds["v"][:]
        try:
            ds["lat"][:]
        except Exception:
            return
    raise AssertionError(f"{path}: the lat chunk was not damaged")


class SwathUnreadableLatLon(TempDirTest):
    def test_swath_with_damaged_lat_is_skipped(self):
        """A swath whose lat/lon are read only when its map is built (after the scan): a damaged
        lat chunk must skip that input like any unreadable input (exit 8, the other day written
        and equal to the reference), and stop the run with --fail-fast (exit 4, one line)."""
        self.check_damaged_lat(packed=False)

    def test_packed_swath_with_damaged_lat_is_skipped(self):
        """The same with int32 lat/lon read a chunk row at a time: the damaged chunk is in the
        first rows, which the second swath of the shape reads first (for its head key)."""
        self.check_damaged_lat(packed=True)

    def test_swath_read_with_the_default_processor_says_what_to_set(self):
        """A swath given to a config without input_processor_name: skipped (exit 4: the only
        input), and its line says which processor to set, as --fail-fast's error line does."""
        r, c, lat, lon = synthetic_swath()
        path = self.p("swath.nc")
        write_swath_nc(path, lat, lon, 1, {"v": (((r + c) % 5).astype("f4"), {})})
        cfg = self.p("gen.yml")
        write_config(cfg, (9.9513, 54.7517, 11.3513, 55.8517), (70, 55), self.p("c.zarr"))
        why = (f"cannot read '{path}': has 2-D lat(y,x): the default input processor reads 1-D "
               "lat/lon or projected x/y grids. Set input_processor_name: curvilinear to read "
               "2-D lat/lon swaths")
        p = run(["gen", "-c", cfg, path], check=4)
        self.assertIn(f"error: skipping input: {why}\n", p.stderr)
        p = run(["gen", "-c", cfg, "--fail-fast", path], check=4)
        self.assertEqual(p.stderr.strip().splitlines()[-1],
                         f"baims gen: error: input {path}: {why}")
        self.assertFalse(os.path.exists(self.p("c.zarr")))

    def check_damaged_lat(self, packed):
        r, c, lat, lon = synthetic_swath()
        if packed:
            ilat, ilon = np.round(lat * 1e6).astype("i4"), np.round(lon * 1e6).astype("i4")
            lat, lon = ilat.astype("f8") * 1e-6, ilon.astype("f8") * 1e-6
        good, bad = self.p("good.nc"), self.p("bad.nc")
        v = ((r * 3 + c) % 17).astype("f4")
        for path, day in ((good, 1), (bad, 2)):
            if packed:
                write_packed_swath_nc(path, ilat, ilon, day, v)
            else:
                write_swath_nc(path, lat, lon, day, {"v": (v, {})}, zlib=True)
        corrupt_lat_chunk(bad)
        region, size = (9.9513, 54.7517, 11.3513, 55.8517), (70, 55)
        cfg = self.p("gen.yml")
        write_config(cfg, region, size, self.p("c.zarr"), resampling="nearest",
                     extra="input_processor_name: curvilinear\n")
        p = run(["gen", "-c", cfg, "--fail-fast", good, bad], check=4)
        self.assertEqual(p.stderr.strip().splitlines()[-1],
                         f"baims gen: error: cannot read '{bad}': variable 'lat': a compressed "
                         "chunk is corrupt. The file is probably damaged; fetch it again")
        self.assertFalse(os.path.exists(self.p("c.zarr")))
        p = run(["gen", "-c", cfg, good, bad], check=8)
        # the skipped input's line says what to do as well
        self.assertIn(f"error: skipping input: cannot read '{bad}': variable 'lat': a compressed "
                      "chunk is corrupt. The file is probably damaged; fetch it again\n", p.stderr)
        self.assertIn(f"  {bad}: cannot read '{bad}': variable 'lat': a compressed chunk is "
                      "corrupt", p.stderr)
        exp, _ = nearest_reference(v.astype("f8"), lat, lon, region, size)
        with xr.open_zarr(self.p("c.zarr"), decode_times=False) as cube:
            got = cube["v"].values
            t = cube["time"].values
        self.assertEqual(got.shape[0], 1)
        self.assertAlmostEqual(t[0], scene_time(1), delta=1e-3 / 86400)
        same = (got[0] == exp.astype("f4")) | (np.isnan(got[0]) & np.isnan(exp))
        self.assertTrue(same.all(), f"{np.count_nonzero(~same)} differ")


# The C2RCC flags of OLCI L2 (int32 stored, _Unsigned; Valid_PE is bit 31).
C2RCC_MEANINGS = ("Rtosa_OOS Rtosa_OOR Rhow_OOR Cloud_risk Iop_OOR Apig_at_max Adet_at_max "
                  "Agelb_at_max Bpart_at_max Bwit_at_max Apig_at_min Adet_at_min Agelb_at_min "
                  "Bpart_at_min Bwit_at_min Rhow_OOS Kd489_OOR Kdmin_OOR Kd489_at_max "
                  "Kdmin_at_max Valid_PE")
C2RCC_MASKS = np.array([1 << k for k in range(20)] + [-2147483648], dtype=np.int32)


class SwathFlags(TempDirTest):
    def test_valid_pixel_expression_with_flag_tests(self):
        """valid_pixel_expression and a processed variable with CF flag tests on a curvilinear
        input: the flag words have bit 31 (Valid_PE) set together with bit 0 (Rtosa_OOS) or
        bit 15 (Rhow_OOS), which float32 cannot hold (2^31 + 1 rounds to 2^31), so the flag tests
        must read the stored integers (SwathInput::read_words). The reference masks the swath's
        own cells with numpy's bit tests, then takes the nearest cell."""
        r, c, lat, lon = synthetic_swath()
        rng = np.random.default_rng(7)
        pool = np.array([0, 1, 1 << 15, 1 << 31, (1 << 31) | 1, (1 << 31) | (1 << 15),
                         (1 << 31) | (1 << 15) | 1, (1 << 31) | (1 << 3)], dtype=np.uint64)
        words = pool[rng.integers(0, len(pool), lat.shape)].astype(np.uint32)
        chl = rng.lognormal(0.0, 1.0, lat.shape).astype("f4")
        path = self.p("swath.nc")
        write_swath_nc(path, lat, lon, 14, {
            "conc_chl": (chl, {}),
            "c2rcc_flags": (words.view(np.int32), {"flag_meanings": C2RCC_MEANINGS,
                                                   "flag_masks": C2RCC_MASKS,
                                                   "_Unsigned": "true"})})
        region, size = (9.9513, 54.7517, 11.3513, 55.8517), (70, 55)
        cfg = self.p("gen.yml")
        write_config(cfg, region, size, self.p("flags.zarr"), resampling="nearest",
                     extra="input_processor_name: curvilinear\n"
                           "processed_variables:\n"
                           "  - oos: {expression: 'c2rcc_flags.Rtosa_OOS'}\n"
                           "output_variables:\n"
                           "  - oos\n"
                           "  - conc_chl: {valid_pixel_expression: "
                           "'c2rcc_flags.Valid_PE and not c2rcc_flags.Rhow_OOS'}\n")
        p = run(["gen", "-c", cfg, path], check=0)
        self.assertNotIn("float32", p.stderr)
        valid = ((words & (1 << 31)) != 0) & ((words & (1 << 15)) == 0)
        oos = (words & 1) != 0
        # the words that float32 would get wrong are there
        self.assertGreater(int((((words & (1 << 31)) != 0) & oos).sum()), 100)
        self.assertGreater(int((((words & (1 << 31)) != 0) & ~valid).sum()), 100)
        with xr.open_zarr(self.p("flags.zarr"), decode_times=False) as cube:
            got_chl = cube["conc_chl"].values[0]
            got_oos = cube["oos"].values[0]
        exp_chl, ins = nearest_reference(np.where(valid, chl, np.nan).astype("f8"), lat, lon,
                                         region, size)
        same = (got_chl == exp_chl.astype("f4")) | (np.isnan(got_chl) & np.isnan(exp_chl))
        self.assertTrue(same.all(), f"{np.count_nonzero(~same)} differ")
        exp_oos, _ = nearest_reference(oos.astype("f8"), lat, lon, region, size)
        same = (got_oos == exp_oos.astype("f4")) | (np.isnan(got_oos) & np.isnan(exp_oos))
        self.assertTrue(same.all(), f"{np.count_nonzero(~same)} differ")
        self.assertGreater(int(np.nansum(got_oos)), 500)
        self.assertGreater(int(np.isnan(got_chl[ins]).sum()), 500)


class SwathAntimeridian(TempDirTest):
    def test_swath_across_180_on_either_side(self):
        """A sheared swath over 178 E .. 178 W, its longitudes stored in -180..180 as OLCI does.
        The reference is the nearest cell with the longitudes in 0..360 (where the swath is
        continuous); the cube must equal it on an output region in 0..360 and on the same pixels
        in -180..180, with no gap at 180 and nothing elsewhere on the globe."""
        h, w = 24, 40
        r, c = np.mgrid[0:h, 0:w].astype("f8")
        lon360 = np.round((178.05 + 0.1 * c + 0.02 * r) * 1e6) / 1e6   # 178.05 .. 182.4
        lat = np.round((60.2 + 0.2 * r - 0.01 * c) * 1e6) / 1e6
        stored = np.where(lon360 >= 180.0, lon360 - 360.0, lon360)
        values = (r * 100 + c).astype("f4")
        path = self.p("swath.nc")
        with netCDF4.Dataset(path, "w") as ds:
            ds.createDimension("y", h)
            ds.createDimension("x", w)
            ds.start_date = "14-APR-2017 10:27:29.454657"
            ds.stop_date = "14-APR-2017 10:30:29.454657"
            for name, a, units in (("lat", lat, "degrees_north"), ("lon", stored, "degrees_east")):
                v = ds.createVariable(name, "f8", ("y", "x"))
                v.units = units
                v[:] = a
            ds.createVariable("v", "f4", ("y", "x"))[:] = values
        size = (70, 60)
        ref, ins = nearest_reference(values.astype("f8"), lat, lon360,
                                     (177.9013, 59.9017, 182.1013, 65.1017), size)
        self.assertGreater(int(ins.sum()), 2000)
        for region in ((177.9013, 59.9017, 182.1013, 65.1017),
                       (-182.0987, 59.9017, -177.8987, 65.1017)):
            with self.subTest(region=region):
                shutil.rmtree(self.p("nearest.zarr"), ignore_errors=True)
                out = gen(self, path, region, size, "nearest")
                with xr.open_zarr(out, decode_times=False) as cube:
                    got = cube["v"].values[0]
                same = (got == ref.astype("f4")) | (np.isnan(got) & np.isnan(ref))
                self.assertTrue(same.all(), f"{np.count_nonzero(~same)} differ")
        # a whole-globe grid: the swath lands on both edges, nothing in between
        shutil.rmtree(self.p("nearest.zarr"), ignore_errors=True)
        out = gen(self, path, (-180.0, 59.0, 180.0, 66.0), (360, 7), "nearest")
        with xr.open_zarr(out, decode_times=False) as cube:
            got = cube["v"].values[0]
        cols = np.flatnonzero(~np.isnan(got).all(axis=0))
        self.assertTrue(set(cols) <= {0, 1, 2, 358, 359} and {0, 359} <= set(cols), cols)


class SwathPackedMasks(TempDirTest):
    def test_int_lat_lon_masked_by_fill_and_valid_range(self):
        """int32 lat/lon (scale 1e-6, deflated chunks: the direct chunk reader) whose _FillValue,
        valid_min and valid_max (not integers, so their rounding matters) mark a few cells as
        having no position, in rows of 41 cells (not a multiple of 4). The cube equals the one of
        the same swath in float64 with NaN at exactly those cells, in nearest and bilinear, and
        differs from the one without them (the masks change the result)."""
        r, c, lat, lon = synthetic_swath(30, 41)
        ilat, ilon = np.round(lat * 1e6).astype("i4"), np.round(lon * 1e6).astype("i4")
        vmin, vmax = 54_000_000.5, 56_999_999.5
        ilat[3, 4] = 57_000_000          # above valid_max (floor: 56 999 999 is the last valid)
        ilat[10, 40] = 54_000_000        # below valid_min (ceil: 54 000 001 is the first valid)
        ilon[7, 8] = -999                # the fill value
        ilon[20, 0] = -999
        masked = np.zeros(lat.shape, bool)
        for rc in ((3, 4), (10, 40), (7, 8), (20, 0)):
            masked[rc] = True
        values = (r * 100 + c).astype("f4")
        packed = self.p("packed.nc")
        with netCDF4.Dataset(packed, "w") as ds:
            ds.createDimension("y", lat.shape[0])
            ds.createDimension("x", lat.shape[1])
            ds.start_date = "14-APR-2017 10:27:29.454657"
            ds.stop_date = "14-APR-2017 10:30:29.454657"
            for name, a, units, fill in (("lat", ilat, "degrees_north", None),
                                         ("lon", ilon, "degrees_east", -999)):
                v = ds.createVariable(name, "i4", ("y", "x"), zlib=True, chunksizes=(16, 24),
                                      fill_value=fill)
                v.set_auto_maskandscale(False)
                v.units = units
                v.scale_factor = 1e-6
                if name == "lat":
                    v.valid_min = vmin
                    v.valid_max = vmax
                v[:] = a
            ds.createVariable("v", "f4", ("y", "x"))[:] = values
        # the doubles baims decodes: stored integer * 1e-6 (+ 0)
        dlat, dlon = ilat.astype("f8") * 1e-6, ilon.astype("f8") * 1e-6
        plain = self.p("plain.nc")
        write_swath_nc(plain, np.where(masked, np.nan, dlat), np.where(masked, np.nan, dlon), 14,
                       {"v": (values, {})})
        unmasked = self.p("unmasked.nc")
        write_swath_nc(unmasked, dlat, dlon, 14, {"v": (values, {})})
        region, size = (9.9513, 54.7517, 11.3513, 55.8517), (70, 55)
        for method in ("nearest", "bilinear"):
            got = {}
            for name, path in (("packed", packed), ("plain", plain), ("unmasked", unmasked)):
                shutil.rmtree(self.p(f"{method}.zarr"), ignore_errors=True)
                out = gen(self, path, region, size, method)
                with xr.open_zarr(out, decode_times=False) as cube:
                    got[name] = cube["v"].values[0]
            with self.subTest(method=method):
                a, b = got["packed"], got["plain"]
                self.assertGreater(int(np.count_nonzero(~np.isnan(a))), 1000)
                same = (a == b) | (np.isnan(a) & np.isnan(b))
                self.assertTrue(same.all(), f"{np.count_nonzero(~same)} differ")
                u = got["unmasked"]
                self.assertFalse(((a == u) | (np.isnan(a) & np.isnan(u))).all())


if __name__ == "__main__":
    unittest.main()
