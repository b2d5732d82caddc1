"""Decode-only reference for bench/extract_file.sh: reads (and discards) every block of the given
rasters that meets the parcels' bounding box, on N threads with one dataset per thread, the
work split by (file, block row) as baims does. Prints the wall seconds and the process's CPU
seconds of the decoding (all threads; GDAL_NUM_THREADS as in the environment)."""

import sys
import threading
import time

from osgeo import gdal, ogr, osr

gdal.UseExceptions()
parcels, threads, files = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
ds0 = gdal.Open(files[0])
srs = osr.SpatialReference(wkt=ds0.GetProjection())
srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
vds = ogr.Open(parcels)
lyr = vds.GetLayer(0)
src = lyr.GetSpatialRef()
src.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
ct = osr.CoordinateTransformation(src, srs)
x0, x1, y0, y1 = lyr.GetExtent()
xs, ys = [], []
for x in (x0, x1):
    for y in (y0, y1):
        p = ct.TransformPoint(x, y)
        xs.append(p[0])
        ys.append(p[1])
items = []
for f in files:
    ds = gdal.Open(f)
    gt = ds.GetGeoTransform()
    b = ds.GetRasterBand(1)
    bx, by = b.GetBlockSize()
    c0 = max(0, int((min(xs) - gt[0]) / gt[1]) // bx)
    c1 = min((ds.RasterXSize - 1) // bx, int((max(xs) - gt[0]) / gt[1]) // bx)
    r0 = max(0, int((gt[3] - max(ys)) / -gt[5]) // by)
    r1 = min((ds.RasterYSize - 1) // by, int((gt[3] - min(ys)) / -gt[5]) // by)
    for r in range(r0, r1 + 1):
        items.append((f, r, c0, c1, bx, by))
lock = threading.Lock()


def work():
    handles = {}
    while True:
        with lock:
            if not items:
                return
            f, r, c0, c1, bx, by = items.pop(0)
        ds = handles.setdefault(f, gdal.Open(f))
        b = ds.GetRasterBand(1)
        x = c0 * bx
        w = min((c1 + 1) * bx, ds.RasterXSize) - x
        h = min(by, ds.RasterYSize - r * by)
        b.ReadRaster(x, r * by, w, h)


t = time.perf_counter()
c = time.process_time()
ts = [threading.Thread(target=work) for _ in range(threads)]
for th in ts:
    th.start()
for th in ts:
    th.join()
print(f"{time.perf_counter() - t:.3f} {time.process_time() - c:.3f}")
