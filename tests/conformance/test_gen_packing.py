"""output_writer_params.packing (CF scale/offset into integers, as xcube and xarray write it) and
the encodings of cubes being extended, checked with numpy, zarr, xarray and GDAL."""

import datetime as dt
import json
import os

import numpy as np
from baimstest import lazy_module, xr  # imported on first use (xarray: pandas, dask)
zarr = lazy_module("zarr")
gdal = lazy_module("osgeo.gdal", then=lambda g: g.UseExceptions())

from baimstest import TempDirTest, nearest_expected, run, snapshot, write_cf, write_config


T0 = dt.datetime(2023, 6, 1, 12)
LAT = np.arange(9.75, 0, -0.5)        # 20 rows, descending
LON = np.arange(0.25, 15, 0.5)        # 30 cols
REGION = [0.0, 0.0, 15.0, 10.0]
SIZE = (44, 28)                       # no output centre on a source pixel edge
CHUNKS = (7, 10)
PACKING = "  packing:\n    v: {dtype: int16, scale_factor: 0.01, add_offset: 10, _FillValue: -32768}\n"


def field(k):
    rng = np.random.default_rng(7 + k)
    d = 10 + 3 * rng.normal(size=(20, 30))
    d[:3, :] = np.nan
    d[5, 5] = 500.0                    # beyond int16 at this scale: clamped to 32767
    return d


def packed_reference(values, scale, offset, fill, lo, hi):
    """numpy: round half to even of (x - offset) / scale in float64, clamped, NaN -> fill."""
    x = np.asarray(values, dtype="f4").astype("f8")
    p = np.clip(np.around((x - offset) / scale), lo, hi)
    return np.where(np.isnan(x), fill, p)


class Packing(TempDirTest):
    def setUp(self):
        super().setUp()
        self.inputs = []
        for k in range(2):
            path = self.p(f"in{k}.nc")
            write_cf(path, LAT, LON, field(k)[None], [T0 + dt.timedelta(days=k)])
            self.inputs.append(path)

    def config(self, out, packing=PACKING, name="c.yml"):
        cfg = self.p(name)
        write_config(cfg, REGION, SIZE, out, chunks=CHUNKS)
        with open(cfg) as f:
            text = f.read()
        # write_config puts output_writer_params on one line; add packing to it as a block
        text = text.replace(
            f"output_writer_params: {{chunksizes: {{lat: {CHUNKS[0]}, lon: {CHUNKS[1]}}}}}",
            f"output_writer_params:\n  chunksizes: {{lat: {CHUNKS[0]}, lon: {CHUNKS[1]}}}\n"
            + packing)
        with open(cfg, "w") as f:
            f.write(text)
        return cfg

    def test_packed_values_against_numpy_zarr_xarray_and_gdal(self):
        out = self.p("p.zarr")
        run(["gen", "-c", self.config(out)] + self.inputs, check=0)
        z = zarr.open(out, mode="r")["v"]
        self.assertEqual(z.dtype, np.dtype("<i2"))
        self.assertEqual(z.fill_value, -32768)
        with open(os.path.join(out, "v", ".zattrs")) as f:
            attrs = json.load(f)
        self.assertEqual((attrs["scale_factor"], attrs["add_offset"]), (0.01, 10.0))
        self.assertNotIn("_FillValue", attrs)   # xarray takes it from the .zarray fill_value
        for k in range(2):
            exp = nearest_expected(field(k), LAT, LON, REGION, SIZE)
            ref = packed_reference(exp, 0.01, 10.0, -32768, -32768, 32767)
            np.testing.assert_array_equal(z[k], ref.astype("<i2"))
        self.assertEqual(int(z[0].max()), 32767)            # 500.0 clamped
        # xarray decodes with the CF attributes: NaN where missing, values within half a step
        ds = xr.open_zarr(out)
        exp0 = nearest_expected(field(0), LAT, LON, REGION, SIZE)
        got = ds.v.values[0]
        np.testing.assert_array_equal(np.isnan(got), np.isnan(exp0))
        ok = ~np.isnan(exp0) & (exp0 < 300)
        # half a packing step, plus float32 rounding of the input and of xarray's decoded value
        # (half an ulp each; measured max 0.0049958)
        tol = 0.005 + np.spacing(np.float32(np.max(np.abs(exp0[ok]))))
        self.assertLessEqual(float(np.max(np.abs(got[ok] - exp0[ok]))), tol)
        # GDAL: raw integers, scale, offset and nodata
        gds = gdal.Open(f'ZARR:"{out}":/v:1')   # keep the dataset alive while its band is used
        band = gds.GetRasterBand(1)
        self.assertEqual(band.DataType, gdal.GDT_Int16)
        self.assertEqual((band.GetScale(), band.GetOffset()), (0.01, 10.0))
        self.assertEqual(band.GetNoDataValue(), -32768)
        exp1 = nearest_expected(field(1), LAT, LON, REGION, SIZE)
        np.testing.assert_array_equal(band.ReadAsArray(),
                                      packed_reference(exp1, 0.01, 10.0, -32768, -32768, 32767))

    def test_extending_keeps_the_cube_packing_and_refuses_another(self):
        out = self.p("p.zarr")
        run(["gen", "-c", self.config(out)] + self.inputs[:1], check=0)
        # no packing in the config: the cube's own encoding is used
        plain = self.config(out, packing="", name="plain.yml")
        run(["gen", "-c", plain, self.inputs[1]], check=0)
        z = zarr.open(out, mode="r")["v"]
        self.assertEqual((z.dtype, z.shape), (np.dtype("<i2"), (2, 28, 44)))
        exp1 = nearest_expected(field(1), LAT, LON, REGION, SIZE)
        np.testing.assert_array_equal(z[1], packed_reference(exp1, 0.01, 10.0, -32768, -32768, 32767))
        # another packing: refused, nothing touched
        other = self.config(out, PACKING.replace("0.01", "0.02"), name="other.yml")
        snap = snapshot(out)
        p = run(["gen", "-c", other, self.inputs[1]], check=5)
        self.assertEqual(
            p.stderr.strip().splitlines()[-1],
            f"baims gen: error: cube '{out}' stores 'v' as int16 (scale_factor 0.01, add_offset 10, "
            "_FillValue -32768); the config asks for int16 (scale_factor 0.02, add_offset 10, "
            "_FillValue -32768). Use the cube's packing (or none) or another output_path")
        self.assertEqual(snap, snapshot(out))

    def test_config_errors(self):
        out = self.p("p.zarr")
        cases = [
            ("  packing:\n    v: {dtype: int16, scale_factor: 0.5}\n",
             "c.yml:7:8: output_writer_params.packing.v._FillValue: is required: integers have no "
             "NaN to mark missing data. e.g. _FillValue: -32768"),
            ("  packing:\n    v: {dtype: float64, _FillValue: 0}\n",
             "c.yml:7:16: output_writer_params.packing.v.dtype: expected one of int8, uint8, "
             "int16, uint16, int32, uint32; got 'float64'."),
            ("  packing:\n    v: {dtype: uint8, _FillValue: 256}\n",
             "c.yml:7:35: output_writer_params.packing.v._FillValue: expected a whole number "
             "within uint8 (0..255)."),
            ("  packing:\n    vv: {dtype: uint8, _FillValue: 255}\n",
             "c.yml:7:9: output_writer_params.packing.vv: no output variable 'vv' (did you mean "
             "'v'?). Output variables: v"),
        ]
        for packing, line in cases:
            with self.subTest(line=line):
                p = run(["gen", "-c", self.config(out, packing)] + self.inputs, check=3)
                msg = p.stderr.strip().splitlines()[-1]
                self.assertTrue(msg.startswith("baims gen: error: "), msg)
                self.assertTrue(msg.endswith(line), msg)
                self.assertFalse(os.path.exists(out))

    def test_float64_variable_is_refused_untouched(self):
        out = self.p("f.zarr")
        cfg = self.config(out, packing="", name="plain.yml")
        run(["gen", "-c", cfg] + self.inputs[:1], check=0)
        # as if another tool had written v as float64
        for key in (os.path.join(out, "v", ".zarray"),):
            with open(key) as f:
                meta = json.load(f)
            meta["dtype"] = "<f8"
            with open(key, "w") as f:
                json.dump(meta, f)
        snap = snapshot(out)
        p = run(["gen", "-c", cfg, self.inputs[1]], check=5)
        self.assertEqual(p.stderr.strip().splitlines()[-1],
                         "baims gen: error: cube variable 'v' is stored as <f8; baims gen extends "
                         "float32 and packed integer variables only. Write to a new cube")
        self.assertEqual(snap, snapshot(out))
