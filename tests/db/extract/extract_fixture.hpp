#pragma once
// What the `baims extract` database tests share: a schema with the SPEC §6.2 tables and a
// db_config.json naming them, generated lossless JP2 bands on the EPSG:32632 test grid, PostGIS
// raster WKB built by hand, numpy-equivalent expected statistics, and running the real binary.

#include "db_fixture.hpp"

#include "baims/db/identifiers.hpp"
#include "baims/db/settings.hpp"

#include <gdal.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace baims::test::extract {

// The upper-left corner of every generated image (EPSG:32632).
constexpr double ULX = 600000, ULY = 5000040;

// Writes a lossless JP2 of size x size pixels at `res` m, UL (ULX, ULY), EPSG:32632. `block`:
// the JP2 tile size (0: the driver's default).
void write_jp2(const std::filesystem::path& path, int size, int res,
               const std::vector<std::uint16_t>& px, GDALDataType type, int block = 32);

// PostGIS raster WKB, little endian, one band, as hex text for `$1::raster`: pixtype e.g. 4
// (8BUI) or 6 (16BUI), with the nodata value's bytes, the pixels' bytes row by row, north-up.
std::string raster_wkb_hex(int width, int height, double res, double ulx, double uly, int srid,
                           std::uint8_t pixtype, const std::vector<std::uint8_t>& nodata,
                           const std::vector<std::uint8_t>& pixels);

// One ulp of float (sigs columns are real) at x: the stored value is x rounded to float, half an
// ulp away at most, and a double computed in another summation order differs far less.
double real_ulp(double x);

struct Expected {
    std::int64_t count;
    double mean, std, min, max, p25, p50, p75;
};

// numpy's statistics of `v` (mean, population std, linear percentiles) in long double, from a
// sort and a two-pass sum; none for no value.
std::optional<Expected> expected_stats(std::vector<double> v);

// A schema (unique per process and tag) with the tables of SPEC §6.2 and a db_config.json.
struct ExtractEnv {
    explicit ExtractEnv(const std::string& tag);
    TempSchema schema;
    std::filesystem::path dir = temp_dir();
    std::filesystem::path eodata = dir / "eodata";
    std::filesystem::path config = dir / "db_config.json";
    db::TableNames names;

    // <parcel table>_32632_<res>_rast (or another EPSG).
    db::QualifiedName mask_table(int res, int epsg = 32632) const;
    // Rewrites db_config.json with these database.args.
    void set_args(const nlohmann::json& args);
    std::int64_t count(const db::QualifiedName& table);
    std::int64_t id_of(const std::string& ref);
    std::string status_of(const std::string& ref);
    // Runs `baims --progress never extract --db-config … --eodata … <args>`.
    RunResult extract(const std::vector<std::string>& args);
};

} // namespace baims::test::extract
