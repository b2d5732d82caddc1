// zonal_statistics over a small tiled GeoTIFF in /vsimem/: 4 x 4 blocks of 16 x 16 pixels, value
// 100 * row + col; masks spanning block rows and columns. Expected values computed by hand (and
// with numpy: see each case); the same rows for 1, 2 and 5 threads; the calling thread's
// GDAL_NUM_THREADS left as it was.
#include "baims/zonal/raster_source.hpp"

#include <catch2/catch.hpp>
#include <cpl_conv.h>
#include <cpl_string.h>
#include <gdal.h>

#include <cstdint>
#include <string>
#include <vector>

using namespace baims::zonal;

namespace {

const std::string PATH = "/vsimem/test_zonal_source.tif";

void make_raster() {
    GDALAllRegister();
    char** opts = CSLSetNameValue(nullptr, "TILED", "YES");
    opts = CSLSetNameValue(opts, "BLOCKXSIZE", "16");
    opts = CSLSetNameValue(opts, "BLOCKYSIZE", "16");
    GDALDatasetH ds =
        GDALCreate(GDALGetDriverByName("GTiff"), PATH.c_str(), 64, 64, 1, GDT_UInt16, opts);
    CSLDestroy(opts);
    REQUIRE(ds);
    double gt[6] = {500000, 10, 0, 5000000, 0, -10};
    GDALSetGeoTransform(ds, gt);
    std::vector<std::uint16_t> v(64 * 64);
    for (int r = 0; r < 64; ++r) {
        for (int c = 0; c < 64; ++c) {
            v[static_cast<std::size_t>(r * 64 + c)] = static_cast<std::uint16_t>(100 * r + c);
        }
    }
    REQUIRE(GDALRasterIO(GDALGetRasterBand(ds, 1), GF_Write, 0, 0, 64, 64, v.data(), 64, 64,
                         GDT_UInt16, 0, 0) == CE_None);
    GDALClose(ds);
}

// A rectangle of selected pixels: columns [c0, c0 + w), rows [r0, r0 + h).
Mask rect(int c0, int r0, int w, int h) {
    Mask m;
    m.col0 = c0;
    m.row0 = r0;
    m.width = w;
    m.height = h;
    m.pixels.assign(static_cast<std::size_t>(w * h), 1);
    return m;
}

} // namespace

TEST_CASE("zonal_statistics: masks across block rows, any thread count, GDAL_NUM_THREADS kept",
          "[zonal][gdal]") {
    make_raster();
    const RasterInfo info = describe_raster(PATH);
    REQUIRE(info.block_y == 16);
    // Mask 0: columns 14..17, rows 15..16 (two block rows, two block columns): values
    // 1514..1517 and 1614..1617. numpy: mean 1565.5, std 50.0124984378905, p25 1515.75,
    // p50 1565.5, p75 1615.25. Mask 1: the single pixel (63, 63) = 6363. Mask 2: outside.
    const std::vector<Mask> masks = {rect(14, 15, 4, 2), rect(63, 63, 1, 1), rect(70, 0, 2, 2)};
    std::vector<double> v;
    for (int r : {15, 16}) {
        for (int c = 14; c < 18; ++c) {
            v.push_back(100.0 * r + c);
        }
    }
    const auto expected = compute_stats(v);
    REQUIRE(expected);
    CHECK(expected->mean == 1565.5);
    CHECK(expected->p25 == 1515.75);
    CHECK(expected->p75 == 1615.25);
    for (int threads : {1, 2, 5}) {
        INFO("threads " << threads);
        REQUIRE(CPLGetThreadLocalConfigOption("GDAL_NUM_THREADS", nullptr) == nullptr);
        ZonalOptions o;
        o.threads = threads;
        const ZonalResult res = zonal_statistics(info, masks, o);
        // Not left behind on this thread (threads = 1 runs the worker here).
        CHECK(CPLGetThreadLocalConfigOption("GDAL_NUM_THREADS", nullptr) == nullptr);
        REQUIRE(res.stats.size() == 2);
        CHECK(res.stats[0].zone == 0);
        CHECK(res.stats[0].stats.count == 8);
        CHECK(res.stats[0].stats.mean == expected->mean);
        CHECK(res.stats[0].stats.std == expected->std);
        CHECK(res.stats[0].stats.min == 1514);
        CHECK(res.stats[0].stats.max == 1617);
        CHECK(res.stats[0].stats.std == 50.0124984378905);
        CHECK(res.stats[0].stats.p25 == 1515.75);
        CHECK(res.stats[0].stats.p50 == 1565.5);
        CHECK(res.stats[0].stats.p75 == 1615.25);
        CHECK(res.stats[1].zone == 1);
        CHECK(res.stats[1].stats.count == 1);
        CHECK(res.stats[1].stats.mean == 6363);
        CHECK(res.blocks_read == 5); // (0,0) (0,1) (1,0) (1,1) of mask 0, (3,3) of mask 1
    }
    // A value the user set on this thread stays (and is what the decoders use).
    CPLSetThreadLocalConfigOption("GDAL_NUM_THREADS", "3");
    ZonalOptions o;
    o.threads = 1;
    CHECK(zonal_statistics(info, masks, o).stats.size() == 2);
    CHECK(std::string(CPLGetThreadLocalConfigOption("GDAL_NUM_THREADS", "")) == "3");
    CPLSetThreadLocalConfigOption("GDAL_NUM_THREADS", nullptr);
    VSIUnlink(PATH.c_str());
}
