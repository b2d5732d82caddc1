#include "extract_fixture.hpp"

#include "baims/db/connection.hpp"
#include "baims/db/schema.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <unistd.h>

namespace fs = std::filesystem;

namespace baims::test::extract {

void write_jp2(const fs::path& path, int size, int res, const std::vector<std::uint16_t>& px,
               GDALDataType type, int block) {
    fs::create_directories(path.parent_path());
    if (GDALGetDriverCount() == 0) {
        GDALAllRegister();
    }
    GDALDatasetH ds = GDALCreate(GDALGetDriverByName("MEM"), "", size, size, 1, type, nullptr);
    double gt[6] = {ULX, double(res), 0, ULY, 0, -double(res)};
    GDALSetGeoTransform(ds, gt);
    GDALSetProjection(ds, "EPSG:32632");
    REQUIRE(GDALRasterIO(GDALGetRasterBand(ds, 1), GF_Write, 0, 0, size, size,
                         const_cast<std::uint16_t*>(px.data()), size, size, GDT_UInt16, 0,
                         0) == CE_None);
    const std::string bs = std::to_string(block);
    const std::string bx = "BLOCKXSIZE=" + bs, by = "BLOCKYSIZE=" + bs;
    std::vector<const char*> opts{"REVERSIBLE=YES", "QUALITY=100", "YCBCR420=NO"};
    if (block > 0) {
        opts.push_back(bx.c_str());
        opts.push_back(by.c_str());
    }
    opts.push_back(nullptr);
    GDALDatasetH out = GDALCreateCopy(GDALGetDriverByName("JP2OpenJPEG"), path.c_str(), ds, FALSE,
                                      const_cast<char**>(opts.data()), nullptr, nullptr);
    REQUIRE(out);
    GDALClose(out);
    GDALClose(ds);
}

std::string raster_wkb_hex(int width, int height, double res, double ulx, double uly, int srid,
                           std::uint8_t pixtype, const std::vector<std::uint8_t>& nodata,
                           const std::vector<std::uint8_t>& pixels) {
    std::vector<std::uint8_t> b;
    auto put = [&](const void* p, std::size_t n) {
        auto* c = static_cast<const std::uint8_t*>(p);
        b.insert(b.end(), c, c + n);
    };
    const std::uint8_t endian = 1, flags = static_cast<std::uint8_t>(pixtype | 0x40);
    const std::uint16_t version = 0, nbands = 1;
    const auto w = static_cast<std::uint16_t>(width), h = static_cast<std::uint16_t>(height);
    const auto id = static_cast<std::int32_t>(srid);
    put(&endian, 1);
    put(&version, 2);
    put(&nbands, 2);
    for (double d : {res, -res, ulx, uly, 0.0, 0.0}) {
        put(&d, 8);
    }
    put(&id, 4);
    put(&w, 2);
    put(&h, 2);
    put(&flags, 1);
    put(nodata.data(), nodata.size());
    put(pixels.data(), pixels.size());
    std::string hex;
    char buf[3];
    for (auto v : b) {
        std::snprintf(buf, sizeof buf, "%02x", v);
        hex += buf;
    }
    return hex;
}

double real_ulp(double x) {
    const float f = std::fabs(static_cast<float>(x));
    return std::nextafter(f, INFINITY) - f;
}

std::optional<Expected> expected_stats(std::vector<double> v) {
    if (v.empty()) {
        return std::nullopt;
    }
    std::sort(v.begin(), v.end());
    long double sum = 0;
    for (double x : v) {
        sum += x;
    }
    const long double mean = sum / v.size();
    long double ss = 0;
    for (double x : v) {
        ss += (x - mean) * (x - mean);
    }
    auto q = [&](double p) {
        double idx = p * (v.size() - 1);
        std::size_t lo = static_cast<std::size_t>(std::floor(idx));
        std::size_t hi = std::min(lo + 1, v.size() - 1);
        return v[lo] + (v[hi] - v[lo]) * (idx - lo);
    };
    return Expected{static_cast<std::int64_t>(v.size()),
                    double(mean),
                    double(std::sqrt(ss / v.size())),
                    v.front(),
                    v.back(),
                    q(0.25),
                    q(0.5),
                    q(0.75)};
}

ExtractEnv::ExtractEnv(const std::string& tag)
    : schema(tag + " " + std::to_string(::getpid())) {
    auto q = [&](const std::string& t) { return db::QualifiedName{schema.name(), t}; };
    names.aoi = q("aois");
    names.parcel = q("parcels");
    names.catalog = q("dias_catalogue");
    names.sigs = q("sigs");
    names.hists = q("hists");
    names.extraction = q("baims_extraction");
    names.catalogue_extra = q("baims_catalogue_extra");
    db::create_tables(schema.conn(), names);
    nlohmann::json j;
    j["database"]["connection"] = nlohmann::json::object();
    auto& t = j["database"]["tables"];
    t["aoi_table"] = names.aoi.quoted();
    t["parcel_table"] = names.parcel.quoted();
    t["catalog_table"] = names.catalog.quoted();
    t["sigs_table"] = names.sigs.quoted();
    t["hists_table"] = names.hists.quoted();
    t["extraction_table"] = names.extraction.quoted();
    t["catalogue_extra_table"] = names.catalogue_extra.quoted();
    std::ofstream(config) << j.dump();
}

db::QualifiedName ExtractEnv::mask_table(int res, int epsg) const {
    return names.parcel.with_name("parcels_" + std::to_string(epsg) + "_" + std::to_string(res) +
                                  "_rast");
}

void ExtractEnv::set_args(const nlohmann::json& args) {
    nlohmann::json j = nlohmann::json::parse(std::ifstream(config));
    j["database"]["args"] = args;
    std::ofstream(config) << j.dump();
}

std::int64_t ExtractEnv::count(const db::QualifiedName& table) {
    return schema.conn().exec("SELECT count(*) FROM " + table.quoted()).int64(0, 0);
}

std::int64_t ExtractEnv::id_of(const std::string& ref) {
    return schema.conn()
        .exec_params("SELECT id FROM " + names.catalog.quoted() + " WHERE reference = $1", ref)
        .int64(0, 0);
}

std::string ExtractEnv::status_of(const std::string& ref) {
    return schema.conn()
        .exec_params("SELECT status FROM " + names.catalog.quoted() + " WHERE reference = $1", ref)
        .text(0, 0);
}

RunResult ExtractEnv::extract(const std::vector<std::string>& args) {
    std::vector<std::string> argv{baims_binary(), "--progress",    "never",    "extract",
                                  "--db-config",  config.string(), "--eodata", eodata.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
}

} // namespace baims::test::extract
