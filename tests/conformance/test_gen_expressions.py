"""gen: processed_variables and output_variables[*].valid_pixel_expression (issue 10), values
against numpy computed here from the input's own arrays, and expression errors (exit 3, one line,
cube untouched)."""

import datetime as dt
import os

from baimstest import lazy_module  # imported on first use
netCDF4 = lazy_module("netCDF4")
zarr = lazy_module("zarr")
import numpy as np

from baimstest import (WIDE_FLAG_CONFIG, WIDE_FLAG_WORDS, TempDirTest, check_wide_flags, run,
                       snapshot, write_cf)

LAT = np.arange(9.75, 0, -0.5)  # 20, descending: the output grid below has the same pixels
LON = np.arange(0.25, 15, 0.5)  # 30
MEANINGS = ("Rtosa_OOS Rtosa_OOR Rhow_OOR Cloud_risk Iop_OOR Apig_at_max Adet_at_max Agelb_at_max "
            "Bpart_at_max Bwit_at_max Apig_at_min Adet_at_min Agelb_at_min Bpart_at_min Bwit_at_min "
            "Rhow_OOS Kd489_OOR Kdmin_OOR Kd489_at_max Kdmin_at_max Valid_PE")
MASKS = [1 << k for k in range(20)] + [-2147483648]  # as in the OLCI C2RCC sample (int, _Unsigned)
# Flag words whose set bits fit float32's 24 significant bits (see docs/config.md, Expressions).
WORDS = np.array([0, 1, 8, 9, 1 << 31, (1 << 31) | (1 << 8), (1 << 31) | (1 << 15)], dtype=np.uint64)

CONFIG = """output_region: [0.0, 0.0, 15.0, 10.0]
output_size: [30, 20]
processed_variables:
  - chl_log: {expression: 'log10(chl) * 2 + tsm / 4', units: lg, long_name: log chl}
  - good: {expression: 'c2rcc_flags.Valid_PE && tsm > 1'}
  - tsm: {valid_pixel_expression: good}
  - ratio: {expression: 'where(chl_log > 0, chl / tsm, -1)', valid_pixel_expression: 'not isnan(chl)'}
output_variables:
  - chl_log
  - chl: {valid_pixel_expression: 'c2rcc_flags.Valid_PE and not c2rcc_flags.Rhow_OOS'}
  - tsm
  - ratio
"""


def make_input(path, seed=1):
    rng = np.random.default_rng(seed)
    chl = rng.lognormal(0.0, 1.0, (1, 20, 30)).astype(np.float32)
    chl[0, rng.random((20, 30)) < 0.1] = np.nan
    tsm = rng.uniform(0.0, 3.0, (1, 20, 30)).astype(np.float32)
    flags = WORDS[rng.integers(0, len(WORDS), (20, 30))]
    write_cf(path, LAT, LON, chl, [dt.datetime(2017, 4, 14, 10, 30)], name="chl")
    with netCDF4.Dataset(path, "a") as ds:
        t = ds.createVariable("tsm", "f4", ("time", "lat", "lon"), zlib=True)
        t[:] = tsm
        f = ds.createVariable("c2rcc_flags", "i4", ("time", "lat", "lon"), zlib=True)
        f.flag_meanings = MEANINGS
        f.flag_masks = np.array(MASKS, dtype=np.int32)
        f._Unsigned = "true"
        f.set_auto_maskandscale(False)
        f[0] = flags.astype(np.uint32).view(np.int32)
    return chl[0], tsm[0], flags


class Expressions(TempDirTest):
    def gen(self, body, check=0, out="c.zarr"):
        cfg = self.p("gen.yml")
        with open(cfg, "w") as f:
            f.write(body)
        return run(["gen", "-c", cfg, "-o", self.p(out), self.p("in.nc")], check=check)

    def test_shared_masks_and_a_mask_of_a_masked_output(self):
        # chl and tsm share one valid_pixel_expression (one mask, as OLCI configs do); chl_big,
        # chl again, is masked by 'chl > 1', which reads chl's values before chl's own mask
        # takes them (masks first, then values).
        chl, tsm, flags = make_input(self.p("in.nc"))
        self.gen("output_region: [0.0, 0.0, 15.0, 10.0]\noutput_size: [30, 20]\n"
                 "output_variables:\n"
                 "  - chl: {valid_pixel_expression: c2rcc_flags.Valid_PE}\n"
                 "  - tsm: {valid_pixel_expression: c2rcc_flags.Valid_PE}\n"
                 "  - chl: {name: chl_big, valid_pixel_expression: 'chl > 1'}\n")
        z = zarr.open(self.p("c.zarr"), "r")
        valid_pe = (flags & 0x80000000) != 0
        np.testing.assert_array_equal(z["chl"][0], np.where(valid_pe, chl, np.nan))
        np.testing.assert_array_equal(z["tsm"][0], np.where(valid_pe, tsm, np.nan))
        with np.errstate(invalid="ignore"):
            big = chl > 1
        np.testing.assert_array_equal(z["chl_big"][0], np.where(big, chl, np.nan))
        self.assertGreater(int((big & ~valid_pe).sum()), 10)  # where the order matters

    def test_values_against_numpy(self):
        chl, tsm, flags = make_input(self.p("in.nc"))
        self.gen(CONFIG)
        z = zarr.open(self.p("c.zarr"), "r")
        self.assertEqual(sorted(k for k in z.array_keys() if z[k].ndim == 3),
                         ["chl", "chl_log", "ratio", "tsm"])  # 'good' is not an output
        valid_pe = (flags & 0x80000000) != 0
        rhow_oos = (flags & 0x8000) != 0
        with np.errstate(all="ignore"):
            chl_log = np.log10(chl) * np.float32(2) + tsm / np.float32(4)
            good = valid_pe & (tsm > 1)
            tsm_masked = np.where(good, tsm, np.float32(np.nan))  # 'tsm' from here on
            ratio = np.where(chl_log > 0, chl / tsm_masked, np.float32(-1)).astype(np.float32)
        ratio[np.isnan(chl)] = np.nan
        np.testing.assert_array_equal(z["chl"][0], np.where(valid_pe & ~rhow_oos, chl, np.nan))
        np.testing.assert_array_equal(z["tsm"][0], tsm_masked)
        np.testing.assert_array_equal(z["ratio"][0], ratio)
        # log10: glibc's and numpy's float32 kernels may differ in the last bit (1 ulp of log10,
        # times 2, plus the rounding of the sum)
        np.testing.assert_allclose(z["chl_log"][0], chl_log, rtol=5e-7, atol=5e-7)
        self.assertTrue(np.array_equal(np.isnan(z["chl_log"][0]), np.isnan(chl_log)))
        self.assertEqual(int(np.isnan(z["chl"][0]).sum()),
                         int((~(valid_pe & ~rhow_oos) | np.isnan(chl)).sum()))
        self.assertEqual(z["chl_log"].attrs["units"], "lg")
        self.assertEqual(z["chl_log"].attrs["long_name"], "log chl")
        self.assertNotIn("valid_pixel_expression", z["chl"].attrs)
        # A rerun with the same config and input is up to date; another expression recomputes.
        p = self.gen(CONFIG)
        self.assertIn("up to date", p.stderr + p.stdout)
        p = self.gen(CONFIG.replace("tsm / 4", "tsm / 8"))
        self.assertIn("1 replaced", p.stderr + p.stdout)
        with np.errstate(all="ignore"):
            want = np.log10(chl) * np.float32(2) + tsm / np.float32(8)
        np.testing.assert_allclose(zarr.open(self.p("c.zarr"), "r")["chl_log"][0], want,
                                   rtol=5e-7, atol=5e-7)

    def test_errors_exit_3_cube_untouched(self):
        make_input(self.p("in.nc"))
        self.gen(CONFIG)
        before = snapshot(self.p("c.zarr"))
        cfg = self.p("gen.yml")
        cases = [
            (CONFIG.replace("log10(chl)", "log10(chl_x)"),
             f"baims gen: error: {cfg}:4:27: processed_variables[0].chl_log.expression: "
             "'log10(chl_x) * 2 + tsm / 4' at position 7: unknown variable 'chl_x' (did you mean "
             "'chl'?). Fix the expression (the syntax is in docs/config.md, section Expressions); "
             "it may use: chl, tsm, c2rcc_flags"),
            (CONFIG.replace("c2rcc_flags.Rhow_OOS", "c2rcc_flags.Rhow_OS"),
             f"baims gen: error: {cfg}:10:35: output_variables[1].chl.valid_pixel_expression: "
             "'c2rcc_flags.Valid_PE and not c2rcc_flags.Rhow_OS' at position 42: 'c2rcc_flags' "
             "has no flag 'Rhow_OS' (did you mean 'Rhow_OOS'?); its flags: "
             + ", ".join(MEANINGS.split()) + ". Fix the expression (the syntax is in "
             "docs/config.md, section Expressions); it may use: chl, tsm, c2rcc_flags, chl_log, "
             "good, ratio"),
            (CONFIG.replace("'c2rcc_flags.Valid_PE && tsm > 1'", "'c2rcc_flags.Valid_PE && tsm >'"),
             f"baims gen: error: {cfg}:5:24: processed_variables[1].good.expression: "
             "'c2rcc_flags.Valid_PE && tsm >' at position 30: expected a number, a name or '(', got "
             "the end of the expression. Fix the expression (the syntax is in docs/config.md, "
             "section Expressions)"),
            (CONFIG.replace("chl_log > 0", "good.Valid"),
             f"baims gen: error: {cfg}:7:25: processed_variables[3].ratio.expression: "
             "'where(good.Valid, chl / tsm, -1)' at position 12: 'good.Valid' is not a flag test: "
             "'good' has no flag_meanings attribute. Fix the expression (the syntax is in "
             "docs/config.md, section Expressions); it may use: chl, tsm, c2rcc_flags, chl_log, "
             "good"),
        ]
        for body, line in cases:
            with self.subTest(line=line):
                p = self.gen(body, check=3)
                self.assertEqual(p.stderr.strip().splitlines(), [line])
                self.assertEqual(snapshot(self.p("c.zarr")), before)
        # a new cube is not created either
        p = self.gen(cases[0][0], check=3, out="new.zarr")
        self.assertFalse(os.path.exists(self.p("new.zarr")))

    def test_input_lacking_a_mask_variable_is_skipped(self):
        make_input(self.p("in.nc"))
        write_cf(self.p("other.nc"), LAT, LON, np.ones((1, 20, 30)),
                 [dt.datetime(2017, 4, 15, 10, 30)], name="chl")
        with netCDF4.Dataset(self.p("other.nc"), "a") as ds:
            ds.createVariable("tsm", "f4", ("time", "lat", "lon"))[:] = np.ones((1, 20, 30))
        cfg = self.p("gen.yml")
        with open(cfg, "w") as f:
            f.write(CONFIG)
        p = run(["gen", "-c", cfg, "-o", self.p("c.zarr"), self.p("in.nc"), self.p("other.nc")],
                check=8)
        self.assertIn(f"input '{self.p('other.nc')}' has no variable 'c2rcc_flags', which the "
                      f"valid_pixel_expression of {cfg}:10:35: output_variables[1].chl."
                      "valid_pixel_expression needs", p.stderr)
        self.assertEqual(zarr.open(self.p("c.zarr"), "r")["chl"].shape[0], 1)

    def test_wide_flag_words_test_exactly(self):
        """A uint32 flag variable whose words have bit 25 or 31 set together with low bits:
        float32 keeps 24 significant bits, so 2^25 + 1 would read as 2^25 and Low would be lost.
        The flag tests read the words exactly (numpy on the uint32 words is the reference)."""
        rng = np.random.default_rng(5)
        w = WIDE_FLAG_WORDS[rng.integers(0, len(WIDE_FLAG_WORDS), (20, 30))]
        chl = rng.uniform(0.0, 3.0, (1, 20, 30)).astype(np.float32)
        write_cf(self.p("in.nc"), LAT, LON, chl, [dt.datetime(2017, 4, 14, 10, 30)], name="chl")
        with netCDF4.Dataset(self.p("in.nc"), "a") as ds:
            f = ds.createVariable("qf", "u4", ("time", "lat", "lon"), zlib=True)
            f.flag_meanings = "Low Two High Top"
            f.flag_masks = np.array([1, 2, 1 << 25, 1 << 31], dtype=np.uint32)
            f[0] = w
        p = self.gen("output_region: [0.0, 0.0, 15.0, 10.0]\n"
                     "output_size: [30, 20]\n" + WIDE_FLAG_CONFIG)
        check_wide_flags(self, zarr.open(self.p("c.zarr"), "r"), w, chl[0], 30)
        self.assertNotIn("float32 values", p.stderr)

    def test_64bit_flag_words_test_exactly(self):
        """uint64 and int64 flag variables whose flags use bits 54-63 next to low bits (issue 10):
        a double keeps 53 significant bits, so (1 << 63) | 1 would read as 1 << 63 and B0 be lost,
        and a word one bit away from the _FillValue would count as fill. The flag tests read the
        stored integers; numpy's bitwise operations on the same words are the reference."""
        rng = np.random.default_rng(11)
        hi = [1 << k for k in range(54, 64)]
        fill = (1 << 63) | (1 << 54) | 1
        pool = np.array([0, 1, 1 << 5, 1 << 10, fill, (1 << 63) | (1 << 54), (1 << 63) | 1,
                         (1 << 63) | (1 << 5) | 1, (1 << 54) | 1, (1 << 60) | (1 << 10),
                         (1 << 63) | (1 << 62) | (1 << 10) | (1 << 5), (1 << 62) | 1,
                         (1 << 63) | (1 << 62) | 1, (1 << 57) | (1 << 56) | (1 << 5)],
                        dtype=np.uint64)
        w = pool[rng.integers(0, len(pool), (20, 30))]
        extra = rng.integers(0, 1 << 10, (20, 30), dtype=np.uint64) << np.uint64(54)
        w = np.where(rng.random((20, 30)) < 0.3, w | extra, w)  # more bits 54-63 (fill stays)
        chl = rng.uniform(0.0, 3.0, (1, 20, 30)).astype(np.float32)
        write_cf(self.p("in.nc"), LAT, LON, chl, [dt.datetime(2017, 4, 14, 10, 30)], name="chl")
        with netCDF4.Dataset(self.p("in.nc"), "a") as ds:
            f = ds.createVariable("qf", "u8", ("time", "lat", "lon"), zlib=True,
                                  fill_value=np.uint64(fill))
            f.set_auto_maskandscale(False)
            f.flag_meanings = " ".join(["B0", "B5", "B10"] + [f"B{k}" for k in range(54, 64)])
            f.flag_masks = np.array([1, 1 << 5, 1 << 10] + hi, dtype=np.uint64)
            f[0] = w
            s = ds.createVariable("qs", "i8", ("time", "lat", "lon"), zlib=True)
            s.set_auto_maskandscale(False)
            s.flag_meanings = "Top Pair"
            s.flag_masks = np.array([-(1 << 63), (1 << 62) | 1], dtype=np.int64)
            s.flag_values = np.array([-(1 << 63), 1], dtype=np.int64)
            s[0] = w.view(np.int64)
        p = self.gen("output_region: [0.0, 0.0, 15.0, 10.0]\n"
                     "output_size: [30, 20]\n"
                     "processed_variables:\n"
                     "  - b0: {expression: 'qf.B0'}\n"
                     "  - b10_not63: {expression: 'qf.B10 and not qf.B63'}\n"
                     "  - b54_or_b60: {expression: 'qf.B54 or qf.B60'}\n"
                     "  - pair: {expression: 'qs.Pair'}\n"
                     "output_variables:\n"
                     "  - b0\n"
                     "  - b10_not63\n"
                     "  - b54_or_b60\n"
                     "  - pair\n"
                     "  - chl: {valid_pixel_expression: 'qf.B63 && qf.B5 && qs.Top'}\n")
        z = zarr.open(self.p("c.zarr"), "r")
        valid = w != np.uint64(fill)

        def bit(k):
            return valid & ((w & (np.uint64(1) << np.uint64(k))) != 0)

        np.testing.assert_array_equal(z["b0"][0], bit(0).astype(np.float32))
        np.testing.assert_array_equal(z["b10_not63"][0], (bit(10) & ~bit(63)).astype(np.float32))
        np.testing.assert_array_equal(z["b54_or_b60"][0], (bit(54) | bit(60)).astype(np.float32))
        pair = (w & np.uint64((1 << 62) | 1)) == np.uint64(1)  # qs has no _FillValue
        np.testing.assert_array_equal(z["pair"][0], pair.astype(np.float32))
        top = (w & np.uint64(1 << 63)) == np.uint64(1 << 63)
        keep = bit(63) & bit(5) & top
        np.testing.assert_array_equal(z["chl"][0], np.where(keep, chl[0], np.nan))
        # the cases a double gets wrong are there: low bits under bit 63 and near-fill words
        self.assertGreater(int((bit(0) & bit(63)).sum()), 20)
        self.assertGreater(int((w == np.uint64((1 << 63) | (1 << 54))).sum()), 20)
        self.assertGreater(int((~valid).sum()), 20)
        self.assertGreater(int(keep.sum()), 10)
        self.assertGreater(int(pair.sum()), 20)
        self.assertNotIn("float32 values", p.stderr)
