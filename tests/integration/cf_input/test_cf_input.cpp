// CfInput on the real files of tests/data and on small files written here with the netCDF-C API.
// Golden values of the real files come from numpy/netCDF4 (Debian's /usr/bin/python3); the
// one-liner that printed each is in the comment above it, run from tests/data. Decoding there is
// raw * scale + offset in float64, then float32, with the float32 attributes read as decimals.
#include "support/temp_dir.hpp"

#include "baims/core/error.hpp"
#include "baims/grid/time.hpp"
#include "baims/io/cf_input.hpp"

#include <catch2/catch.hpp>
#include <netcdf.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using baims::InputError;
using baims::grid::time::format_iso;
using baims::io::CfInput;
using baims::test::TempDir;
using Catch::Matchers::Contains;

namespace {

const fs::path DATA = fs::path(BAIMS_SOURCE_DIR) / "tests" / "data";
const fs::path OSTIA_05 =
    DATA / "ostia" / "20170605120000-UKMO-L4_GHRSST-SSTfnd-OSTIAanom-GLOB-v02.0-fv02.0.nc";

std::vector<float> read_all(const CfInput& in, const std::string& var, size_t step) {
    std::vector<float> out(in.lat().size() * in.lon().size(), -12345.0f);
    in.read(var, step, out.data());
    return out;
}

size_t count_nan(const std::vector<float>& v) {
    size_t n = 0;
    for (float x : v) {
        n += std::isnan(x) ? 1 : 0;
    }
    return n;
}

// The message of the InputError thrown by f (fails the test if none is thrown).
template <typename F> std::string input_error_of(F&& f) {
    try {
        f();
    } catch (const InputError& e) {
        CHECK(e.exit_code() == baims::EXIT_INPUT);
        return e.what();
    }
    FAIL("no InputError thrown");
    return {};
}

// Minimal writer for synthetic inputs (classic format unless told).
class NcWriter {
public:
    explicit NcWriter(const fs::path& path, int mode = NC_CLOBBER) {
        ok(nc_create(path.c_str(), mode, &m_id));
    }
    ~NcWriter() {
        if (m_id >= 0) {
            nc_close(m_id);
        }
    }
    int dim(const char* name, size_t len) {
        int id = -1;
        ok(nc_def_dim(m_id, name, len, &id));
        return id;
    }
    int var(const char* name, nc_type type, std::vector<int> dims) {
        int id = -1;
        ok(nc_def_var(m_id, name, type, static_cast<int>(dims.size()), dims.data(), &id));
        return id;
    }
    void text(int var, const char* name, const std::string& value) {
        ok(nc_put_att_text(m_id, var, name, value.size(), value.data()));
    }
    void number(int var, const char* name, nc_type type, std::vector<double> values) {
        ok(nc_put_att_double(m_id, var, name, type, values.size(), values.data()));
    }
    void end_def() { ok(nc_enddef(m_id)); }
    void put(int var, const std::vector<double>& values) {
        ok(nc_put_var_double(m_id, var, values.data()));
    }
    // Writes values of the variable's type at start/count.
    void put_vara(int var, std::vector<size_t> start, std::vector<size_t> count,
                  const void* values) {
        ok(nc_put_vara(m_id, var, start.data(), count.data(), values));
    }
    void close() {
        ok(nc_close(m_id));
        m_id = -1;
    }

private:
    static void ok(int status) {
        INFO(nc_strerror(status));
        REQUIRE(status == NC_NOERR);
    }
    int m_id = -1;
};

// lat (descending, 3) and lon (4) coordinates with CF attributes.
std::pair<int, int> lat_lon(NcWriter& w, const char* lat_name = "lat",
                            const char* lon_name = "lon") {
    const int lat = w.dim(lat_name, 3);
    const int lon = w.dim(lon_name, 4);
    const int vlat = w.var(lat_name, NC_DOUBLE, {lat});
    w.text(vlat, "units", "degrees_north");
    const int vlon = w.var(lon_name, NC_DOUBLE, {lon});
    w.text(vlon, "units", "degrees_east");
    return {lat, lon};
}

void put_lat_lon(NcWriter& w, int vlat = 0, int vlon = 1) {
    w.put(vlat, {55.5, 54.5, 53.5});
    w.put(vlon, {10.5, 11.5, 12.5, 13.5});
}

} // namespace

TEST_CASE("cf_input: OSTIA, int16 packed, lat ascending, lon 0..360", "[io][cf_input]") {
    const CfInput in = CfInput::open(OSTIA_05);
    CHECK(in.path() == OSTIA_05);

    // python3 -c "import netCDF4 as n;f=n.Dataset('ostia/20170605120000-UKMO-L4_GHRSST-SSTfnd-
    //   OSTIAanom-GLOB-v02.0-fv02.0.nc');print(repr(float(f['lat'][0])),repr(float(f['lat'][719])),
    //   repr(float(f['lon'][0])),repr(float(f['lon'][1439])))"        -> -89.875 89.875 0.125
    //   359.875
    REQUIRE(in.lat().size() == 720);
    REQUIRE(in.lon().size() == 1440);
    CHECK(in.lat().front() == -89.875);
    CHECK(in.lat().back() == 89.875);
    CHECK(in.lon().front() == 0.125);
    CHECK(in.lon().back() == 359.875);

    // time = 1149508800 s since 1981-01-01 (4018 days) = 17322.5 = 2017-06-05T12:00Z; bounds from
    // time_coverage_start/end = 20170605T000000Z / 20170606T000000Z.
    REQUIRE(in.steps().size() == 1);
    CHECK(in.steps()[0].time == 17322.5);
    REQUIRE(in.steps()[0].start.has_value());
    REQUIRE(in.steps()[0].end.has_value());
    CHECK(*in.steps()[0].start == 17322.0);
    CHECK(*in.steps()[0].end == 17323.0);

    REQUIRE(in.variables().size() == 2);
    CHECK(in.variables()[0].name == "sst_anomaly");
    CHECK(in.variables()[1].name == "analysed_sst");
    const auto* sst = in.find("analysed_sst");
    REQUIRE(sst != nullptr);
    CHECK(in.find("lat") == nullptr);
    CHECK(in.find("time") == nullptr);
    CHECK(sst->nc_type == "short");
    CHECK_FALSE(sst->integer);
    for (const char* dropped : {"scale_factor", "add_offset", "_FillValue"}) {
        CHECK_FALSE(sst->attrs.contains(dropped));
    }
    CHECK(sst->attrs.at("units") == "kelvin");
    CHECK(sst->attrs.at("standard_name") == "sea_surface_foundation_temperature");
    // valid_min -300, valid_max 4500 in packed units: -300*0.01+273.15, 4500*0.01+273.15, in
    // double: to 1e-9 K (the packing step is 0.01 K; double rounding is ~1e-13 K).
    auto kelvin = [](double v) { return Approx(v).epsilon(0).margin(1e-9); };
    CHECK(sst->attrs.at("valid_min").get<double>() == kelvin(270.15));
    CHECK(sst->attrs.at("valid_max").get<double>() == kelvin(318.15));
    CHECK(in.find("sst_anomaly")->attrs.at("valid_min").get<double>() == kelvin(-50.0));
    CHECK(in.find("sst_anomaly")->attrs.at("valid_max").get<double>() == kelvin(50.0));

    const auto sst_values = read_all(in, "analysed_sst", 0);
    auto at = [&](const std::vector<float>& v, size_t r, size_t c) { return v[r * 1440 + c]; };
    // python3 -c "import netCDF4 as n,numpy as np;f=n.Dataset('ostia/20170605120000-UKMO-L4_GHRSST-
    //   SSTfnd-OSTIAanom-GLOB-v02.0-fv02.0.nc');f.set_auto_maskandscale(False);a=f['analysed_sst'][0];
    //   print([repr(np.float32(a[r,c]*0.01+273.15)) if a[r,c]!=-32768 else 'nan' for r,c in [(0,0),
    //   (360,0),(400,720),(600,1439),(719,1439)]], int((a==-32768).sum()))"
    //   -> ['nan', '299.68', '301.27', '283.71', '271.41'] 332995
    CHECK(std::isnan(at(sst_values, 0, 0)));
    CHECK(at(sst_values, 360, 0) == 299.68f);
    CHECK(at(sst_values, 400, 720) == 301.27f);
    CHECK(at(sst_values, 600, 1439) == 283.71f);
    CHECK(at(sst_values, 719, 1439) == 271.41f);
    CHECK(count_nan(sst_values) == 332995);

    // python3 -c "import netCDF4 as n,numpy as np;f=n.Dataset('ostia/20170605120000-UKMO-L4_GHRSST-
    //   SSTfnd-OSTIAanom-GLOB-v02.0-fv02.0.nc');f.set_auto_maskandscale(False);a=f['sst_anomaly'][0];
    //   print([repr(np.float32(a[r,c]*0.01)) for r,c in [(360,0),(400,720),(600,1439),(719,1439)]],
    //   int(((a<-5000)|(a>5000)).sum()))"           -> ['-0.26', '-0.49', '1.2', '0.0'] 332995
    const auto anomaly = read_all(in, "sst_anomaly", 0);
    CHECK(at(anomaly, 360, 0) == -0.26f);
    CHECK(at(anomaly, 400, 720) == -0.49f);
    CHECK(at(anomaly, 600, 1439) == 1.2f);
    CHECK(at(anomaly, 719, 1439) == 0.0f);
    CHECK(count_nan(anomaly) == 332995);

    const auto global = in.global_attrs();
    CHECK(global.at("Conventions") == "CF-1.4");
    CHECK(global.at("time_coverage_start") == "20170605T000000Z");
    CHECK(global.at("file_quality_level") == 3);
}

TEST_CASE("cf_input: the three OSTIA days keep their full timestamps", "[io][cf_input]") {
    // python3 -c "import netCDF4 as n;[print(n.Dataset(f'ostia/201706{d}120000-UKMO-L4_GHRSST-
    //   SSTfnd-OSTIAanom-GLOB-v02.0-fv02.0.nc')['time'][0]) for d in ('05','06','07')]"
    //   -> 1149508800 1149595200 1149681600 (s since 1981-01-01 = 4018 days)
    const std::vector<std::pair<std::string, std::string>> cases{{"05", "2017-06-05T12:00:00Z"},
                                                                 {"06", "2017-06-06T12:00:00Z"},
                                                                 {"07", "2017-06-07T12:00:00Z"}};
    double expected = 17322.5;
    for (const auto& [day, iso] : cases) {
        const auto in = CfInput::open(
            DATA / "ostia" /
            ("201706" + day + "120000-UKMO-L4_GHRSST-SSTfnd-OSTIAanom-GLOB-v02.0-fv02.0.nc"));
        REQUIRE(in.steps().size() == 1);
        CHECK(in.steps()[0].time == expected);
        CHECK(format_iso(in.steps()[0].time) == iso);
        CHECK(*in.steps()[0].start == expected - 0.5);
        CHECK(*in.steps()[0].end == expected + 0.5);
        expected += 1.0;
    }
}

TEST_CASE("cf_input: bcsd_obs_1999, 12 monthly steps, float with _FillValue 1e20",
          "[io][cf_input]") {
    const CfInput in = CfInput::open(DATA / "stars" / "bcsd_obs_1999.nc");
    REQUIRE(in.lat().size() == 33);
    REQUIRE(in.lon().size() == 81);
    CHECK(in.lat().front() == 33.0625);
    CHECK(in.lat().back() == 37.0625);
    CHECK(in.lon().front() == -84.9375);

    // python3 -c "import netCDF4 as n;print([float(x)-7305 for x in n.Dataset(
    //   'stars/bcsd_obs_1999.nc')['time'][:]])"  (days since 1950-01-01; 1950-01-01 = -7305)
    const std::vector<double> times{10622.0, 10650.0, 10681.0, 10711.0, 10742.0, 10772.0,
                                    10803.0, 10834.0, 10864.0, 10895.0, 10925.0, 10956.0};
    REQUIRE(in.steps().size() == times.size());
    for (size_t i = 0; i < times.size(); ++i) {
        CHECK(in.steps()[i].time == times[i]);
        CHECK_FALSE(in.steps()[i].start.has_value()); // no time_bnds, several steps
    }
    CHECK(format_iso(in.steps()[0].time) == "1999-01-31T00:00:00Z");
    CHECK(format_iso(in.steps()[11].time) == "1999-12-31T00:00:00Z");

    REQUIRE(in.variables().size() == 2);
    const auto* pr = in.find("pr");
    REQUIRE(pr != nullptr);
    CHECK(pr->nc_type == "float");
    CHECK_FALSE(pr->integer);
    CHECK_FALSE(pr->attrs.contains("_FillValue"));
    CHECK_FALSE(pr->attrs.contains("coordinates"));
    CHECK_FALSE(in.find("tas")->attrs.contains("missing_value"));
    CHECK(pr->attrs.at("units") == "mm/m");

    // python3 -c "import netCDF4 as n,numpy as np;f=n.Dataset('stars/bcsd_obs_1999.nc');
    //   f.set_auto_maskandscale(False);p=f['pr'][:];t=f['tas'][:];print([repr(p[s,r,c]) for s,r,c
    //   in
    //   [(0,0,0),(0,10,20),(11,16,40)]],[repr(t[s,r,c]) for s,r,c in
    //   [(0,0,0),(6,10,20),(11,16,40)]], int(np.isnan(p[5]).sum()), int(np.isnan(t[5]).sum()))"
    //   -> ['159.08', '152.47', '45.51'] ['8.643871', '26.384356', '7.612097'] 593 593
    auto at = [](const std::vector<float>& v, size_t r, size_t c) { return v[r * 81 + c]; };
    const auto pr0 = read_all(in, "pr", 0);
    CHECK(at(pr0, 0, 0) == 159.08f);
    CHECK(at(pr0, 10, 20) == 152.47f);
    CHECK(at(read_all(in, "pr", 11), 16, 40) == 45.51f);
    CHECK(at(read_all(in, "tas", 0), 0, 0) == 8.643871f);
    CHECK(at(read_all(in, "tas", 6), 10, 20) == 26.384356f);
    CHECK(at(read_all(in, "tas", 11), 16, 40) == 7.612097f);
    CHECK(count_nan(read_all(in, "pr", 5)) == 593);
    CHECK(count_nan(read_all(in, "tas", 5)) == 593);
}

TEST_CASE("cf_input: reduced.nc, zlev extra dim, lon 0..360, scale 0.01, _FillValue -999",
          "[io][cf_input]") {
    const CfInput in = CfInput::open(DATA / "stars" / "reduced.nc");
    REQUIRE(in.lat().size() == 90);
    REQUIRE(in.lon().size() == 180);
    CHECK(in.lat()[0] == -89.0);
    CHECK(in.lat()[1] == -87.0);
    CHECK(in.lon()[0] == 0.0);
    CHECK(in.lon()[179] == 358.0);
    // time = 1460 days since 1978-01-01 (2922) = 4382 = 1981-12-31
    REQUIRE(in.steps().size() == 1);
    CHECK(in.steps()[0].time == 4382.0);
    CHECK_FALSE(in.steps()[0].start.has_value());

    std::vector<std::string> names;
    for (const auto& v : in.variables()) {
        names.push_back(v.name);
    }
    CHECK(names == std::vector<std::string>{"sst", "anom", "err", "ice"});
    const auto* sst = in.find("sst");
    REQUIRE(sst != nullptr);
    CHECK(sst->attrs ==
          nlohmann::json{{"long_name", "Daily sea surface temperature"}, {"units", "degree_C"}});

    // python3 -c "import netCDF4 as n,numpy as np;f=n.Dataset('stars/reduced.nc');
    //   f.set_auto_maskandscale(False);s=f['sst'][0,0];i=f['ice'][0,0];print([repr(np.float32(
    //   s[r,c]*0.01)) for r,c in [(45,90),(10,100),(89,179)]],[repr(np.float32(i[r,c]*0.01)) for
    //   r,c in [(5,89),(80,170)]],int((s==-999).sum()),int((i==-999).sum()))"
    //   -> ['28.03', '-1.27', '-1.69'] ['0.01', '0.87'] 4448 13266
    auto at = [](const std::vector<float>& v, size_t r, size_t c) { return v[r * 180 + c]; };
    const auto sst_values = read_all(in, "sst", 0);
    CHECK(std::isnan(at(sst_values, 0, 0)));
    CHECK(at(sst_values, 45, 90) == 28.03f);
    CHECK(at(sst_values, 10, 100) == -1.27f);
    CHECK(at(sst_values, 89, 179) == -1.69f);
    CHECK(count_nan(sst_values) == 4448);
    const auto ice = read_all(in, "ice", 0);
    CHECK(at(ice, 5, 89) == 0.01f);
    CHECK(at(ice, 80, 170) == 0.87f);
    CHECK(count_nan(ice) == 13266);
}

// The default processor refuses swaths and sends users to the curvilinear one (issue 10).
TEST_CASE("cf_input: 2-D lat/lon swaths are refused with a hint that works", "[io][cf_input]") {
    for (const fs::path& path : {DATA / "stars" / "test_stageiv_xyt.nc",
                                 DATA / "olci" / "O_L2_0001_SNS_2017104102450_v1.0.nc"}) {
        const std::string msg = input_error_of([&] { CfInput::open(path); });
        CHECK_THAT(msg, Contains("cannot read '" + path.string() + "'"));
        CHECK_THAT(msg, Contains("has 2-D lat(y,x): the default input processor reads 1-D lat/lon "
                                 "or projected x/y grids"));
        try {
            CfInput::open(path);
        } catch (const InputError& e) {
            CHECK(e.hint() == "Set input_processor_name: curvilinear to read 2-D lat/lon swaths");
        }
    }
}

// Projected x/y with a grid mapping (issue 10; refused before): the geometry is the x/y axes in
// metres (the file's are km) and a PROJ CRS built from the CF attributes.
TEST_CASE("cf_input: projected x/y with a grid mapping is a ProjectedAxes geometry",
          "[io][cf_input]") {
    const fs::path path = DATA / "stars" / "lcc_km.nc";
    const auto in = CfInput::open(path);
    const auto* g = std::get_if<baims::io::ProjectedAxes>(&in.geometry());
    REQUIRE(g != nullptr);
    CHECK(g->name == "lambert_conformal_conic");
    CHECK(g->crs == "+proj=lcc +lat_0=42.5 +lon_0=-100 +lat_1=25 +lat_2=60 +x_0=0 +y_0=0 "
                    "+a=6378137 +rf=298.25722356300003 +no_defs +type=crs");
    // ncdump: x = -778.25, -777.25, ... (569 x 619), y = -120, -121, ... (descending)
    REQUIRE(g->x.size() == 619);
    REQUIRE(g->y.size() == 569);
    CHECK(g->x[0] == -778250.0);
    CHECK(g->x[1] == -777250.0);
    CHECK(g->y[0] == -120000.0);
    CHECK(g->y[1] == -121000.0);
    CHECK(baims::io::rows(in.geometry()) == 569);
    CHECK(baims::io::cols(in.geometry()) == 619);
    REQUIRE(in.variables().size() == 1);
    CHECK(in.variables()[0].name == "prcp");
    std::vector<float> out(569 * 619);
    in.read("prcp", 0, out.data());
    CHECK(count_nan(out) == 0);
    CHECK(out[1234] == 0.0f); // the file's prcp is prcp * 0 (its History)
}

TEST_CASE("cf_input: truncated, non-NetCDF and missing files", "[io][cf_input]") {
    TempDir tmp;
    SECTION("the first 100 kB of an OSTIA file") {
        const fs::path path = tmp.path() / "truncated ostia.nc";
        {
            std::ifstream src(OSTIA_05, std::ios::binary);
            std::vector<char> head(100000);
            src.read(head.data(), static_cast<std::streamsize>(head.size()));
            REQUIRE(src.gcount() == 100000);
            std::ofstream(path, std::ios::binary).write(head.data(), 100000);
        }
        const std::string msg = input_error_of([&] { CfInput::open(path); });
        // 4160584 bytes in the complete file, 3 bytes of tolerance for an unpadded last variable.
        CHECK(msg == "cannot read '" + path.string() +
                         "': truncated file: 100000 bytes, but its header describes at least "
                         "4160581");
    }
    SECTION("the first 2 kB (inside the header)") {
        const fs::path path = tmp.path() / "head.nc";
        {
            std::ifstream src(OSTIA_05, std::ios::binary);
            std::vector<char> head(2000);
            src.read(head.data(), 2000);
            std::ofstream(path, std::ios::binary).write(head.data(), 2000);
        }
        const std::string msg = input_error_of([&] { CfInput::open(path); });
        CHECK_THAT(msg, Contains("cannot read '" + path.string() + "'"));
    }
    SECTION("a text file renamed .nc") {
        const fs::path path = tmp.path() / "readme.nc";
        fs::copy_file(DATA / "README.md", path);
        const std::string msg = input_error_of([&] { CfInput::open(path); });
        CHECK(msg == "cannot read '" + path.string() +
                         "': not a NetCDF file (NetCDF: Unknown file format)");
    }
    SECTION("an empty file") {
        const fs::path path = tmp.path() / "empty.nc";
        std::ofstream(path).close();
        CHECK_THAT(input_error_of([&] { CfInput::open(path); }),
                   Contains("cannot read '" + path.string() + "'"));
    }
    SECTION("a file that does not exist") {
        const fs::path path = tmp.path() / "nope.nc";
        CHECK(input_error_of([&] { CfInput::open(path); }) ==
              "cannot read '" + path.string() + "': no such file");
    }
    SECTION("a directory") {
        CHECK_THAT(input_error_of([&] { CfInput::open(tmp.path()); }), Contains("is a directory"));
    }
}

TEST_CASE("cf_input: read errors", "[io][cf_input]") {
    const CfInput in = CfInput::open(OSTIA_05);
    std::vector<float> buf(720 * 1440);
    CHECK_THROWS_MATCHES(in.read("analysed_ss", 0, buf.data()), InputError,
                         Catch::Message("cannot read '" + OSTIA_05.string() +
                                        "': no data variable 'analysed_ss' (did you mean "
                                        "'analysed_sst'?)"));
    CHECK_THROWS_AS(in.read("lat", 0, buf.data()), InputError);
    CHECK_THROWS_AS(in.read("analysed_sst", 1, buf.data()), baims::InternalError);
}

TEST_CASE("cf_input: CfInput is movable", "[io][cf_input]") {
    CfInput a = CfInput::open(DATA / "stars" / "reduced.nc");
    CfInput b = std::move(a);
    CHECK(b.lat().size() == 90);
    a = CfInput::open(OSTIA_05);
    std::swap(a, b);
    CHECK(a.lat().size() == 90);
    CHECK(b.lat().size() == 720);
    CHECK(read_all(a, "sst", 0)[45 * 180 + 90] == 28.03f);
}

TEST_CASE("cf_input: time from start_date/stop_date only (14-APR-2017 form)", "[io][cf_input]") {
    TempDir tmp;
    const fs::path path = tmp.path() / "coverage.nc";
    {
        NcWriter w(path);
        auto [lat, lon] = lat_lon(w);
        const int chl = w.var("chl", NC_FLOAT, {lat, lon});
        w.text(chl, "units", "mg m-3");
        w.text(NC_GLOBAL, "start_date", "14-APR-2017 10:27:29.454657");
        w.text(NC_GLOBAL, "stop_date", "14-APR-2017 10:27:50.183264");
        w.end_def();
        put_lat_lon(w);
        // NC_FILL_FLOAT at [0][1]: no _FillValue attribute, so the netCDF default fill is missing.
        w.put(chl, {1, 9.969209968386869e36, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
        w.close();
    }
    const CfInput in = CfInput::open(path);
    CHECK(in.lat() == std::vector<double>{55.5, 54.5, 53.5});
    REQUIRE(in.steps().size() == 1);
    const auto& s = in.steps()[0];
    REQUIRE(s.start.has_value());
    CHECK(format_iso(*s.start) == "2017-04-14T10:27:29.455Z");
    CHECK(format_iso(*s.end) == "2017-04-14T10:27:50.183Z");
    // Middle: (29.455 + 50.183) / 2 = 39.819
    CHECK(format_iso(s.time) == "2017-04-14T10:27:39.819Z");
    const auto v = read_all(in, "chl", 0);
    CHECK(v[0] == 1.0f);
    CHECK(std::isnan(v[1]));
    CHECK(v[11] == 12.0f);
}

TEST_CASE("cf_input: time_bnds, several steps, _Unsigned packed and flag variables",
          "[io][cf_input]") {
    TempDir tmp;
    const fs::path path = tmp.path() / "bounds.nc";
    {
        NcWriter w(path, NC_CLOBBER | NC_NETCDF4); // NetCDF-4: ubyte needs it
        const int time = w.dim("time", NC_UNLIMITED);
        const int nv = w.dim("nv", 2);
        auto [lat, lon] = lat_lon(w, "latitude", "longitude");
        const int vtime = w.var("time", NC_DOUBLE, {time});
        w.text(vtime, "units", "Hour since 2001-12-31T23:00:00Z");
        w.text(vtime, "calendar", "proleptic_gregorian");
        w.text(vtime, "bounds", "tb");
        const int tb = w.var("tb", NC_DOUBLE, {time, nv});
        const int refl = w.var("refl", NC_SHORT, {time, lat, lon});
        w.text(refl, "_Unsigned", "true");
        w.number(refl, "scale_factor", NC_FLOAT, {0.5});
        w.number(refl, "add_offset", NC_FLOAT, {10.0});
        w.number(refl, "_FillValue", NC_SHORT, {-1});        // 65535 unsigned
        w.number(refl, "valid_range", NC_SHORT, {0, -5536}); // 0..60000 unsigned
        w.text(refl, "long_name", "reflectance");
        const int flags = w.var("flags", NC_UBYTE, {time, lat, lon});
        w.number(flags, "flag_masks", NC_UBYTE, {1, 2, 4});
        w.text(flags, "flag_meanings", "land water cloud");
        const int qual = w.var("qual", NC_INT, {lat, lon}); // no time dim: same for every step
        w.text(qual, "_Unsigned", "true");
        w.number(qual, "flag_masks", NC_INT, {1, -2147483648.0});
        w.end_def();
        put_lat_lon(w);
        const double time_values[] = {0, 24, 48};
        w.put_vara(vtime, {0}, {3}, time_values);
        const double bounds_values[] = {0, 24, 24, 48, 48, 72};
        w.put_vara(tb, {0, 0}, {3, 2}, bounds_values);
        for (size_t step = 0; step < 3; ++step) {
            const auto k = static_cast<int16_t>(step);
            const int16_t r[12] = {1000, -1, -2, -5536, 0, 1, 2, 3, 4, 5, 6, k};
            w.put_vara(refl, {step, 0, 0}, {1, 3, 4}, r);
            const uint8_t f[12] = {0, 1, 2, 3, 4, 5, 6, 7, 255, 128, 9, static_cast<uint8_t>(step)};
            w.put_vara(flags, {step, 0, 0}, {1, 3, 4}, f);
        }
        const int32_t q[12] = {-2147483647, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7};
        w.put_vara(qual, {0, 0}, {3, 4}, q);
        w.close();
    }
    const CfInput in = CfInput::open(path);
    CHECK(in.lon() == std::vector<double>{10.5, 11.5, 12.5, 13.5});

    // Hour since 2001-12-31T23:00Z, bounds [0,24], [24,48], [48,72]: the slice time is the middle.
    REQUIRE(in.steps().size() == 3);
    const std::vector<std::string> mid{"2002-01-01T11:00:00Z", "2002-01-02T11:00:00Z",
                                       "2002-01-03T11:00:00Z"};
    const std::vector<std::string> starts{"2001-12-31T23:00:00Z", "2002-01-01T23:00:00Z",
                                          "2002-01-02T23:00:00Z"};
    for (size_t i = 0; i < 3; ++i) {
        CHECK(format_iso(in.steps()[i].time) == mid[i]);
        REQUIRE(in.steps()[i].start.has_value());
        CHECK(format_iso(*in.steps()[i].start) == starts[i]);
        CHECK(*in.steps()[i].end - *in.steps()[i].start == 1.0);
    }
    // 2002-01-01T11:00Z = 11688 + 11/24 days
    CHECK(in.steps()[0].time == baims::grid::time::round_to_ms(11688.0 + 11.0 / 24.0));

    std::vector<std::string> names;
    for (const auto& v : in.variables()) {
        names.push_back(v.name);
    }
    CHECK(names == std::vector<std::string>{"refl", "flags", "qual"}); // not time, tb, lat, lon

    const auto* refl = in.find("refl");
    REQUIRE(refl != nullptr);
    CHECK(refl->nc_type == "ushort");
    CHECK_FALSE(refl->integer);
    // valid_range 0..60000 (unsigned) -> 0*0.5+10, 60000*0.5+10
    CHECK(refl->attrs ==
          nlohmann::json{{"long_name", "reflectance"}, {"valid_range", {10, 30010}}});
    const auto r1 = read_all(in, "refl", 1);
    CHECK(r1[0] == 510.0f);   // 1000*0.5+10
    CHECK(std::isnan(r1[1])); // -1 = 65535 = _FillValue
    CHECK(std::isnan(r1[2])); // -2 = 65534 > 60000
    CHECK(r1[3] == 30010.0f); // -5536 = 60000: the top of valid_range
    CHECK(r1[4] == 10.0f);
    CHECK(r1[5] == 10.5f);
    CHECK(r1[11] == 10.5f); // step 1 writes k = 1
    CHECK(read_all(in, "refl", 2)[11] == 11.0f);

    const auto* flags = in.find("flags");
    REQUIRE(flags != nullptr);
    CHECK(flags->integer);
    CHECK(flags->nc_type == "ubyte");
    CHECK(flags->attrs.at("flag_masks") == nlohmann::json{1, 2, 4});
    const auto f2 = read_all(in, "flags", 2);
    CHECK(f2[8] == 255.0f); // no default fill for flag variables
    CHECK(f2[9] == 128.0f);
    CHECK(f2[11] == 2.0f);

    const auto* qual = in.find("qual");
    REQUIRE(qual != nullptr);
    CHECK(qual->integer);
    CHECK(qual->nc_type == "uint");
    CHECK(qual->attrs.at("flag_masks") == nlohmann::json{1, 2147483648ULL});
    for (size_t step = 0; step < 3; ++step) {
        const auto q = read_all(in, "qual", step);
        CHECK(q[0] == static_cast<float>(2147483649.0)); // -2147483647 as uint32
        CHECK(q[1] == 5.0f);
        CHECK(q[11] == 7.0f);
    }
}

TEST_CASE("cf_input: a scalar time enclosed by time_coverage_* takes them as bounds",
          "[io][cf_input]") {
    TempDir tmp;
    auto write = [&](const fs::path& path, double time_value, const char* calendar) {
        NcWriter w(path);
        auto [lat, lon] = lat_lon(w);
        const int vtime = w.var("time", NC_INT, {});
        w.text(vtime, "units", "minutes since 2017-06-05 00:00:00");
        w.text(vtime, "calendar", calendar);
        const int v = w.var("sst", NC_DOUBLE, {lat, lon});
        w.number(v, "_FillValue", NC_DOUBLE, {-1});
        w.text(NC_GLOBAL, "time_coverage_start", "2017-06-05T00:00:00Z");
        w.text(NC_GLOBAL, "time_coverage_end", "2017-06-06T00:00:00Z");
        w.end_def();
        put_lat_lon(w);
        w.put(vtime, {time_value});
        w.put(v, {-1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0.1});
    };
    SECTION("inside: 2017-06-05T12:00Z with bounds 00:00..next 00:00") {
        write(tmp.path() / "in.nc", 720, "gregorian");
        const CfInput in = CfInput::open(tmp.path() / "in.nc");
        REQUIRE(in.steps().size() == 1);
        CHECK(in.steps()[0].time == 17322.5);
        CHECK(in.steps()[0].start == 17322.0);
        CHECK(in.steps()[0].end == 17323.0);
        const auto v = read_all(in, "sst", 0);
        CHECK(std::isnan(v[0]));
        CHECK(v[11] == 0.1f);
    }
    SECTION("outside: 2017-06-07T00:00Z keeps its time, no bounds") {
        write(tmp.path() / "out.nc", 2880, "standard");
        const CfInput in = CfInput::open(tmp.path() / "out.nc");
        CHECK(in.steps()[0].time == 17324.0);
        CHECK_FALSE(in.steps()[0].start.has_value());
    }
    SECTION("model calendars: values and coverage attributes count that calendar's days") {
        // cftime: date2num(datetime(2017, 6, 5, 12, calendar=c), 'days since 1970-01-01', c)
        struct Row {
            const char* name;
            baims::grid::time::Calendar cal;
            double days;
        };
        for (const Row& r : {Row{"noleap", baims::grid::time::Calendar::NoLeap, 17310.5},
                             Row{"365_day", baims::grid::time::Calendar::NoLeap, 17310.5},
                             Row{"360_day", baims::grid::time::Calendar::Day360, 17074.5},
                             Row{"all_leap", baims::grid::time::Calendar::AllLeap, 17358.5},
                             Row{"julian", baims::grid::time::Calendar::Julian, 17322.5}}) {
            INFO(r.name);
            const fs::path path = tmp.path() / (std::string(r.name) + ".nc");
            write(path, 720, r.name);
            const CfInput in = CfInput::open(path);
            CHECK(in.calendar() == r.cal);
            REQUIRE(in.steps().size() == 1);
            CHECK(in.steps()[0].time == r.days);
            CHECK(in.steps()[0].start == r.days - 0.5);
            CHECK(in.steps()[0].end == r.days + 0.5);
        }
    }
    SECTION("an unsupported calendar is an InputError naming the file and the calendar") {
        const fs::path path = tmp.path() / "none.nc";
        write(path, 720, "none");
        CHECK(input_error_of([&] { CfInput::open(path); }) ==
              "cannot read '" + path.string() +
                  "': time coordinate 'time': unsupported calendar 'none'");
    }
}

TEST_CASE("cf_input: no time at all", "[io][cf_input]") {
    TempDir tmp;
    const fs::path path = tmp.path() / "timeless.nc";
    {
        NcWriter w(path);
        auto [lat, lon] = lat_lon(w);
        w.var("sst", NC_FLOAT, {lat, lon});
        w.end_def();
        put_lat_lon(w);
    }
    CHECK_THAT(input_error_of([&] { CfInput::open(path); }),
               Contains("cannot read '" + path.string() + "': no time: no time coordinate"));
}

TEST_CASE("cf_input: a time attribute that is not a time is named with its value",
          "[io][cf_input]") {
    TempDir tmp;
    auto write = [&](const fs::path& path, const char* start, const char* end) {
        NcWriter w(path);
        auto [lat, lon] = lat_lon(w);
        w.var("sst", NC_FLOAT, {lat, lon});
        w.text(NC_GLOBAL, "time_coverage_start", start);
        if (end != nullptr) {
            w.text(NC_GLOBAL, "time_coverage_end", end);
        }
        w.end_def();
        put_lat_lon(w);
    };
    const fs::path a = tmp.path() / "a.nc";
    write(a, "5 June 2017", nullptr);
    CHECK(input_error_of([&] { CfInput::open(a); }) ==
          "cannot read '" + a.string() +
              "': no time: no time coordinate, and global attribute time_coverage_start = '5 "
              "June 2017' is not a time");
    // an end that is not a time would move the slice time to the start: refused as well
    const fs::path b = tmp.path() / "b.nc";
    write(b, "2017-06-05T00:00:00Z", "2017-06-06 24:00");
    CHECK(input_error_of([&] { CfInput::open(b); }) ==
          "cannot read '" + b.string() +
              "': global attribute time_coverage_end = '2017-06-06 24:00' is not a time");
    // both times: the middle, with bounds
    const fs::path c = tmp.path() / "c.nc";
    write(c, "2017-06-05T00:00:00Z", "2017-06-06T00:00:00Z");
    const CfInput in = CfInput::open(c);
    CHECK(in.steps()[0].time == 17322.5);
    CHECK(in.steps()[0].start == 17322.0);
    CHECK(in.steps()[0].end == 17323.0);
}

TEST_CASE("cf_input: time_bnds found by name, lat/lon found by units, descending lat",
          "[io][cf_input]") {
    TempDir tmp;
    const fs::path path = tmp.path() / "by_name.nc";
    {
        NcWriter w(path);
        const int time = w.dim("t", 1);
        const int nv = w.dim("bnds", 2);
        auto [lat, lon] = lat_lon(w, "y", "x"); // only the units say degrees_north/east
        const int vtime = w.var("t", NC_FLOAT, {time});
        w.text(vtime, "standard_name", "time");
        w.text(vtime, "units", "days since 1970-1-1 0:0:0");
        const int tb = w.var("time_bnds", NC_FLOAT, {time, nv});
        const int v = w.var("chl", NC_FLOAT, {time, lat, lon});
        w.number(v, "valid_max", NC_FLOAT, {100});
        w.end_def();
        put_lat_lon(w);
        w.put(vtime, {17322.75});
        w.put(tb, {17322.5, 17323.5});
        w.put(v, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 101});
    }
    const CfInput in = CfInput::open(path);
    CHECK(in.lat() == std::vector<double>{55.5, 54.5, 53.5});
    REQUIRE(in.steps().size() == 1);
    CHECK(in.steps()[0].time == 17323.0); // middle of [17322.5, 17323.5], not the value 17322.75
    CHECK(in.steps()[0].start == 17322.5);
    CHECK(in.steps()[0].end == 17323.5);
    REQUIRE(in.variables().size() == 1);
    CHECK(in.variables()[0].attrs.at("valid_max") == 100.0); // not packed: kept as stored
    const auto values = read_all(in, "chl", 0);
    CHECK(values[10] == 11.0f);
    CHECK(std::isnan(values[11])); // 101 > valid_max
}
