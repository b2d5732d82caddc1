"""baims gen resampling, whole slices: nearest, bilinear, average and mode compared pixel by pixel
with an independent numpy computation, on the real OSTIA inputs (global, lon 0..360, lat
ascending, land as NaN) and on generated inputs (regional with edges inside the output, NaN
neighbours, lat ascending and descending, lon -180..180 written to a 0..360 output).

The reference builds, for each output axis, a dense weight matrix W (n_out x n_src) from the
geometry alone, and evaluates a slice as (Wy @ (v with NaN -> 0) @ Wx.T) / (Wy @ valid @ Wx.T):
NaN neighbours drop out and the remaining weights are renormalised. The source footprint is the
cells between midpoints of neighbouring centres, the outer cells extended by half a pixel (SPEC
§2 "Resampling"); a longitude axis whose footprint spans 360 degrees has no edge: its last and
first centres are neighbours across the seam.
  nearest:  the source cell holding the output centre (output lon tried as x, x-360, x+360).
  bilinear: linear between the two centres around the output centre, clamped to the outer centre
            in the outer half pixel of a regional source; across the seam of a global one.
  average:  overlap length of output and source cells along each axis (area weights in degrees);
            an overlap below 1e-9 of the output pixel is two edges meeting, not an overlap.
  mode:     the valid value with the largest total overlap weight; ties to the smaller value.
"""

import os
import unittest

import numpy as np
from baimstest import lazy_module, xr  # imported on first use (xarray: pandas, dask)
netCDF4 = lazy_module("netCDF4")

from baimstest import DATA, TempDirTest, run, write_cf, write_config

import datetime as dt

T0 = dt.datetime(2021, 6, 1, 12, 0)
OSTIA = os.path.join(DATA, "ostia", "20170606120000-UKMO-L4_GHRSST-SSTfnd-OSTIAanom-GLOB-v02.0-fv02.0.nc")


# ---- the reference ------------------------------------------------------------------------------

def out_centres(lo, hi, n):
    return lo + (np.arange(n) + 0.5) * ((hi - lo) / n)


def footprint(c):
    """Sorted centres -> cell edges (n + 1)."""
    e = np.empty(len(c) + 1)
    e[1:-1] = 0.5 * (c[:-1] + c[1:])
    e[0] = c[0] - 0.5 * (c[1] - c[0])
    e[-1] = c[-1] + 0.5 * (c[-1] - c[-2])
    return e


def axis_weights(src, out, step, method, periodic):
    """Dense (len(out), len(src)) weights of one output axis on one source axis (storage order)."""
    src = np.asarray(src, float)
    order = np.argsort(src, kind="stable")
    c = src[order]
    e = footprint(c)
    n = len(c)
    W = np.zeros((len(out), n))
    shifts = (0.0, -360.0, 360.0) if periodic else (0.0,)
    circle = periodic and e[-1] - e[0] >= 360.0 - 0.01 * (e[-1] - e[0]) / n
    for k, x0 in enumerate(out):
        if method == "nearest":
            for s in shifts:
                x = x0 + s
                if e[0] <= x < e[-1]:
                    W[k, np.searchsorted(e, x, side="right") - 1] = 1.0
                    break
        elif method == "bilinear":
            if circle:
                # extend the centres by one on each side, across the seam
                cc = np.concatenate([[c[-1] - 360.0], c, [c[0] + 360.0]])
                ii = np.concatenate([[n - 1], np.arange(n), [0]])
                x = (x0 - c[0]) % 360.0 + c[0]
                j = np.searchsorted(cc, x, side="right") - 1    # cc[j] <= x < cc[j + 1]
                w = (x - cc[j]) / (cc[j + 1] - cc[j])
                W[k, ii[j]] += 1.0 - w
                W[k, ii[j + 1]] += w
                continue
            for s in shifts:
                x = x0 + s
                if not e[0] <= x < e[-1]:
                    continue
                if x <= c[0]:
                    W[k, 0] = 1.0
                elif x >= c[-1]:
                    W[k, n - 1] = 1.0
                else:
                    j = np.searchsorted(c, x, side="right") - 1
                    w = (x - c[j]) / (c[j + 1] - c[j])
                    W[k, j] = 1.0 - w
                    W[k, j + 1] = w
                break
        else:  # average, mode: overlap lengths, on every side of the seam
            for s in shifts:
                a, b = x0 + s - step / 2, x0 + s + step / 2
                ov = np.minimum(b, e[1:]) - np.maximum(a, e[:-1])
                # edges that meet (aligned grids) are not an overlap: below 1e-9 pixel is noise
                W[k] += np.where(ov > 1e-9 * step, ov, 0.0)
    out_w = np.zeros_like(W)
    out_w[:, order] = W
    return out_w


def reference(src, lat, lon, region, size, method):
    """src (nlat, nlon) float32 in file order, NaN = missing -> (h, w) float64, north-up, and
    the largest |v| of the valid cells that take part (the scale of the float32 rounding
    error; None for mode)."""
    w, h = size
    xs = out_centres(region[0], region[2], w)
    ys = out_centres(region[1], region[3], h)[::-1]
    dx, dy = (region[2] - region[0]) / w, (region[3] - region[1]) / h
    Wy = axis_weights(lat, ys, dy, method, False)
    Wx = axis_weights(lon, xs, dx, method, True)
    v = np.asarray(src, float)
    valid = ~np.isnan(v)
    if method == "mode":
        out = np.full((h, w), np.nan)
        for j in range(h):
            rows = np.nonzero(Wy[j])[0]
            for i in range(w):
                cols = np.nonzero(Wx[i])[0]
                block = v[np.ix_(rows, cols)]
                wts = np.outer(Wy[j, rows], Wx[i, cols])
                ok = ~np.isnan(block)
                if not ok.any():
                    continue
                vals, inv = np.unique(block[ok], return_inverse=True)
                tot = np.bincount(inv, weights=wts[ok])
                out[j, i] = vals[np.nonzero(tot == tot.max())[0][0]]   # smallest of the ties
        return out, None
    num = Wy @ np.where(valid, v, 0.0) @ Wx.T
    den = Wy @ valid.astype(float) @ Wx.T
    # the largest |v| among the valid cells with a weight: the scale of the rounding error
    a = np.where(valid, np.abs(v), -np.inf)
    rows = np.stack([a[Wy[j] > 0].max(axis=0, initial=-np.inf) for j in range(h)])
    mag = np.stack([rows[:, Wx[i] > 0].max(axis=1, initial=-np.inf) for i in range(w)], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan), mag


def ostia_decoded(var="analysed_sst"):
    """The OSTIA slice as baims decodes it: raw * scale + offset in double, rounded to float32."""
    with netCDF4.Dataset(OSTIA) as ds:
        v = ds[var]
        v.set_auto_maskandscale(False)
        raw = v[0].astype("f8")
        out = raw * float(str(v.scale_factor)) + float(str(v.add_offset))
        out[raw == v._FillValue] = np.nan
        return out.astype("f4"), ds["lat"][:].astype("f8"), ds["lon"][:].astype("f8")


# ---- the comparison -----------------------------------------------------------------------------

# float32 evaluation: baims stores the weights as float32 (a relative error of 2^-24, which
# moves a bilinear value by up to 2^-24 times the difference of two neighbours), computes
# bilinear in float32 (four products, a sum, a division) and average in double rounded once to
# float32. Both errors scale with the largest neighbour, not with the result (which may cancel
# to near 0). Allowed difference to the double-precision reference, in float32 ulps of the
# largest |v| that takes part (measured on these tests: bilinear 2.7, average 0.71).
ULPS = {"nearest": 0, "mode": 0, "average": 1, "bilinear": 4}


class _Resampling(TempDirTest):
    def gen(self, inp, region, size, method, var="v", chunks=None):
        out = self.p(f"{method}.zarr")
        cfg = self.p(f"{method}.yml")
        write_config(cfg, region, size, out, chunks=chunks, resampling=method)
        run(["gen", "-c", cfg, inp], check=0)
        with xr.open_zarr(out) as ds:
            got = ds[var].values[0]
        self.assertEqual(got.dtype, np.float32)
        self.assertEqual(got.shape, (size[1], size[0]))
        return got

    def assert_slice(self, got, ref, method):
        """Same NaN mask; nearest and mode equal; bilinear and average within ULPS[method]
        float32 ulps of the largest |v| that takes part. Returns the number of valid pixels."""
        exp, mag = ref
        nan_got, nan_exp = np.isnan(got), np.isnan(exp)
        bad = np.argwhere(nan_got != nan_exp)
        self.assertEqual(len(bad), 0, f"{method}: NaN masks differ at {len(bad)} pixels, first "
                         f"(row, col) {bad[:5].tolist()}: got {got[tuple(bad[0])] if len(bad) else ''}")
        ok = ~nan_exp
        if ULPS[method] == 0:
            diff = got[ok] != exp.astype("f4")[ok]
            where = np.argwhere(ok)[np.argmax(diff)].tolist() if diff.any() else None
            self.assertFalse(diff.any(), f"{method}: {np.count_nonzero(diff)} pixels differ; first "
                             f"at (row, col) {where}")
            return np.count_nonzero(ok)
        tol = ULPS[method] * np.spacing(mag[ok].astype("f4")).astype("f8")   # mag: max |v|
        diff = np.abs(got[ok].astype("f8") - exp[ok])
        worst = int(np.argmax(diff / tol))
        self.assertTrue(np.all(diff <= tol),
                        f"{method}: {np.count_nonzero(diff > tol)} pixels off; worst at (row, col) "
                        f"{np.argwhere(ok)[worst].tolist()}: got {got[ok][worst]!r}, expected "
                        f"{exp[ok][worst]!r} (allowed {tol[worst]:.3g}, "
                        f"max |diff|/ulp {np.max(diff / tol) * ULPS[method]:.2f})")
        return np.count_nonzero(ok)


class ResamplingOstia(_Resampling):
    """The real OSTIA L4 file: global 0.25 deg, lon 0.125..359.875, lat ascending, land NaN."""

    @classmethod
    def setUpClass(cls):
        cls.src, cls.lat, cls.lon = ostia_decoded()

    def check(self, region, size, method, keep=None):
        got = self.gen(OSTIA, region, size, method, var="analysed_sst", chunks=(64, 96))
        if keep is not None:
            keep[method] = got
        ref = reference(self.src, self.lat, self.lon, region, size, method)
        return ref[0], self.assert_slice(got, ref, method)

    def test_greenwich_seam_and_coast(self):
        # Gulf of Guinea: 0.1 deg over lon -4..4 (Greenwich in the middle, the 0/360 seam of the
        # input), lat -2..6 (the Ghana coast: NaN neighbours). Not aligned with the 0.25 grid.
        region, size = [-4.0, -2.0, 4.0, 6.0], (80, 80)
        slices = {}
        for method in ("nearest", "bilinear", "average"):
            with self.subTest(method=method):
                exp, n = self.check(region, size, method, keep=slices)
                self.assertGreater(n, 5000)
                self.assertTrue(np.isnan(exp).any())      # the coast is in the slice
        # the seam columns: lon -0.05 and 0.05 lie between the input's last and first columns
        # (359.875 and 0.125); bilinear mixes both (before the fix they took one edge column).
        got = slices["bilinear"]
        row = 40
        a, b = self.src[:, -1], self.src[:, 0]
        self.assertFalse(np.isnan(got[row, 39:41]).any())
        y = out_centres(-2.0, 6.0, 80)[::-1][row]
        r = np.searchsorted(self.lat, y) - 1
        wy = (y - self.lat[r]) / (self.lat[r + 1] - self.lat[r])
        for col, x in ((39, 359.95), (40, 360.05)):
            wx = (x - 359.875) / 0.25
            v = ((1 - wy) * ((1 - wx) * a[r] + wx * b[r]) + wy * ((1 - wx) * a[r + 1] + wx * b[r + 1]))
            self.assertLessEqual(abs(float(got[row, col]) - v), 4 * np.spacing(np.float32(v)), col)

    def test_global_downsampled_average_and_bilinear(self):
        # the whole globe at 3.6 x 3.6 deg (14.4 input pixels per output pixel: no alignment),
        # output in -180..180 from the 0..360 input; the poles are the lat edges.
        region, size = [-180.0, -90.0, 180.0, 90.0], (100, 50)
        for method in ("average", "bilinear", "nearest"):
            with self.subTest(method=method):
                self.check(region, size, method)

    def test_antimeridian_in_a_0_360_output(self):
        # output lon 170..190 (crosses 180, inside the input, no seam) at 0.3 deg
        region, size = [170.0, -30.0, 190.0, -10.0], (66, 66)
        for method in ("nearest", "bilinear", "average"):
            with self.subTest(method=method):
                self.check(region, size, method)


class ResamplingGenerated(_Resampling):
    def write(self, name, lat, lon, data):
        path = self.p(name)
        write_cf(path, lat, lon, data[None], [T0])
        with netCDF4.Dataset(path) as ds:   # what baims reads: float32, fill -> NaN
            back = ds["v"][0].astype("f4").filled(np.nan)
        return path, back

    def test_regional_source_edges_and_nan_neighbours(self):
        # source 1 deg over lon 10..30, lat 40..55 (ascending), 25 % NaN; output region reaches
        # past every edge of it: the footprint edges fall inside output pixels.
        lat = np.arange(40.5, 55, 1.0)
        lon = np.arange(10.5, 30, 1.0)
        rng = np.random.default_rng(12)
        data = rng.normal(280.0, 5.0, size=(len(lat), len(lon)))
        data[rng.random(data.shape) < 0.25] = np.nan
        data[5:8, :] = np.nan                                   # a NaN band
        inp, src = self.write("reg.nc", lat, lon, data)
        # upsampling, 0.3 deg with an offset of 0.07 deg
        region, size = [7.07, 37.07, 33.47, 58.07], (88, 70)
        for method in ("nearest", "bilinear"):
            with self.subTest(method=method):
                got = self.gen(inp, region, size, method, chunks=(32, 40))
                n = self.assert_slice(got, reference(src, lat, lon, region, size, method), method)
                self.assertGreater(n, 1500)
                self.assertTrue(np.isnan(got[0]).all() and np.isnan(got[:, 0]).all())
        # downsampling, 2.5 deg cells over a 1 deg grid, starting a quarter pixel off
        region, size = [7.25, 37.25, 32.25, 57.25], (10, 8)
        got = self.gen(inp, region, size, "average")
        self.assert_slice(got, reference(src, lat, lon, region, size, "average"), "average")

    def test_mode_on_classes_not_aligned(self):
        # classes 0..4 on a 1 deg grid, lat descending; output cells of 1.5 deg start 0.25 deg
        # off, so overlaps are 0.25, 1.0, 0.25 ... (exact in binary: ties are exact).
        lat = np.arange(19.5, 0, -1.0)
        lon = np.arange(0.5, 20, 1.0)
        rng = np.random.default_rng(5)
        data = rng.integers(0, 5, size=(20, 20)).astype(float)
        data[rng.random(data.shape) < 0.15] = np.nan
        inp, src = self.write("cls.nc", lat, lon, data)
        region, size = [-0.25, -0.25, 20.75, 20.75], (14, 14)
        got = self.gen(inp, region, size, "mode")
        self.assert_slice(got, reference(src, lat, lon, region, size, "mode"), "mode")
        got = self.gen(inp, region, size, "average")
        self.assert_slice(got, reference(src, lat, lon, region, size, "average"), "average")

    def test_global_minus180_180_source_into_0_360_output(self):
        # a global 2 deg source stored -180..180 (lat descending), output 90..270 at 0.7 deg: the
        # input's seam (179/-179) lies in the middle of the output; NaN next to it in some rows.
        lat = np.arange(59.0, -60, -2.0)
        lon = np.arange(-179.0, 180, 2.0)
        rng = np.random.default_rng(3)
        data = rng.normal(0.0, 10.0, size=(len(lat), len(lon)))
        data[::4, -1] = np.nan
        data[1::4, 0] = np.nan
        inp, src = self.write("glob.nc", lat, lon, data)
        region, size = [90.0, -30.1, 270.2, 30.1], (258, 86)
        for method in ("nearest", "bilinear", "average"):
            with self.subTest(method=method):
                got = self.gen(inp, region, size, method)
                self.assert_slice(got, reference(src, lat, lon, region, size, method), method)


if __name__ == "__main__":
    unittest.main()
