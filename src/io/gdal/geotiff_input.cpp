// The `geotiff` input kind: one GeoTIFF/COG (any GDAL raster) per time step, its bands as
// variables, on its north-up grid. Params (input_processor_params):
//   bands:        [name, ...]  one name per band (else the band description, else band_<n>)
//   time_pattern: "%Y%m%d"     where the time is in the file name (see parse_name_time); without
//                 it the TIFF tag TIFFTAG_DATETIME ("YYYY:MM:DD HH:MM:SS") is used.
// Integer bands are read as their stored integers (read_words exact at every width); the CF flag
// attributes of a band come from its metadata items flag_meanings, flag_masks, flag_values (as
// gdal_translate writes them from NetCDF: "{1,2,4}").

#include "../input_kinds.hpp"
#include "raster.hpp"

#include "baims/core/error.hpp"
#include "baims/grid/time.hpp"

#include <cpl_conv.h>
#include <cpl_string.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>
#include <regex>
#include <string>
#include <vector>

namespace baims::io {
namespace {

namespace tm = grid::time;

constexpr double NaN = std::numeric_limits<double>::quiet_NaN();

// The time in `name` by `pattern`: strftime-like, searched anywhere in the name. %Y (4 digits),
// %m %d %H %M %S (2 digits), %j (3 digits, day of the year), %% (a '%'); every other character
// stands for itself. Missing fields: month/day 1, hours/minutes/seconds 0. nullopt when the name
// does not match or a field is out of range. Throws ConfigError for an unknown %-code.
std::optional<double> parse_name_time(const std::string& name, const std::string& pattern) {
    std::string re;
    std::vector<char> fields;
    for (size_t i = 0; i < pattern.size(); ++i) {
        const char ch = pattern[i];
        if (ch == '%' && i + 1 < pattern.size()) {
            const char code = pattern[++i];
            switch (code) {
            case 'Y':
                re += "([0-9]{4})";
                break;
            case 'm':
            case 'd':
            case 'H':
            case 'M':
            case 'S':
                re += "([0-9]{2})";
                break;
            case 'j':
                re += "([0-9]{3})";
                break;
            case '%':
                re += "%";
                continue;
            default:
                throw ConfigError("input_processor_params.time_pattern '" + pattern +
                                      "': unknown field %" + std::string(1, code),
                                  "Use %Y %m %d %H %M %S %j (and %% for '%')");
            }
            fields.push_back(code);
        } else if (std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-') {
            re += ch;
        } else {
            re += '\\';
            re += ch;
        }
    }
    if (fields.empty() || std::find(fields.begin(), fields.end(), 'Y') == fields.end()) {
        throw ConfigError("input_processor_params.time_pattern '" + pattern + "' has no %Y",
                          "Give at least the year, e.g. \"%Y%m%d\"");
    }
    std::smatch m;
    if (!std::regex_search(name, m, std::regex(re))) {
        return std::nullopt;
    }
    long year = 0, month = 1, day = 1, hour = 0, minute = 0, second = 0, yday = 0;
    for (size_t k = 0; k < fields.size(); ++k) {
        const long v = std::stol(m[k + 1].str());
        switch (fields[k]) {
        case 'Y':
            year = v;
            break;
        case 'm':
            month = v;
            break;
        case 'd':
            day = v;
            break;
        case 'H':
            hour = v;
            break;
        case 'M':
            minute = v;
            break;
        case 'S':
            second = v;
            break;
        default:
            yday = v;
            break;
        }
    }
    if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60 ||
        yday > 366) {
        return std::nullopt;
    }
    double days = 0.0;
    if (yday > 0) {
        days = static_cast<double>(tm::days_from_civil(year, 1, 1) + yday - 1);
    } else {
        // Validate the date through the ISO parser (it range-checks the day of the month).
        char buf[32];
        std::snprintf(buf, sizeof buf, "%04ld-%02ld-%02ld", year, month, day);
        auto d = tm::parse_time(buf);
        if (!d) {
            return std::nullopt;
        }
        days = *d;
    }
    return tm::round_to_ms(days +
                           (static_cast<double>(hour) * 3600.0 +
                            static_cast<double>(minute) * 60.0 + static_cast<double>(second)) /
                               86400.0);
}

// A band's metadata item flag_masks / flag_values ("{1,2,4}", "1 2 4" or "1, 2, 4") as a JSON
// list of exact integers; the text itself when it is not such a list (the expression then says
// so).
nlohmann::json flag_numbers(const std::string& text) {
    nlohmann::json out = nlohmann::json::array();
    std::string t = text;
    std::replace_if(
        t.begin(), t.end(), [](char c) { return c == '{' || c == '}' || c == ','; }, ' ');
    size_t i = 0;
    while (i < t.size()) {
        if (std::isspace(static_cast<unsigned char>(t[i]))) {
            ++i;
            continue;
        }
        size_t j = i;
        while (j < t.size() && !std::isspace(static_cast<unsigned char>(t[j]))) {
            ++j;
        }
        const char *first = t.data() + i, *last = t.data() + j;
        if (*first == '-') {
            int64_t v = 0;
            auto r = std::from_chars(first, last, v);
            if (r.ec != std::errc() || r.ptr != last) {
                return text;
            }
            out.push_back(v);
        } else {
            uint64_t v = 0;
            auto r = std::from_chars(first + (*first == '+' ? 1 : 0), last, v);
            if (r.ec != std::errc() || r.ptr != last) {
                return text;
            }
            out.push_back(v);
        }
        i = j;
    }
    return out;
}

struct BandInfo {
    std::optional<double> nodata;
    double scale = 1.0, offset = 0.0;
    bool integer = false, is_signed = false; // integer storage (scaled or not)
    std::optional<uint64_t> nodata_word;     // integer bands: nodata in the stored type
};

class GeoTiffInput final : public Input {
public:
    GeoTiffInput(const std::filesystem::path& path, const nlohmann::json& params)
        : m_path(path)
        , m_ds(gdal::open_raster(path)) {
        auto* ds = static_cast<GDALDatasetH>(m_ds.get());
        const auto grid = gdal::raster_grid(ds, path);
        m_geometry = gdal::geometry_of(grid);
        // The dataset's metadata (TIFF tags, GDAL_METADATA items) as its global attributes.
        for (char** item = GDALGetMetadata(ds, nullptr); item && *item; ++item) {
            char* key = nullptr;
            const char* value = CPLParseNameValue(*item, &key);
            if (key && value) {
                m_attrs[key] = value;
            }
            CPLFree(key);
        }

        const int nbands = GDALGetRasterCount(ds);
        std::vector<std::string> names;
        if (params.contains("bands")) {
            const auto& b = params["bands"];
            if (!b.is_array()) {
                throw ConfigError("input_processor_params.bands must be a list of names",
                                  "e.g. bands: [red, nir]");
            }
            for (const auto& n : b) {
                if (!n.is_string() || n.get<std::string>().empty()) {
                    throw ConfigError("input_processor_params.bands must be a list of names",
                                      "e.g. bands: [red, nir]");
                }
                names.push_back(n.get<std::string>());
            }
            if (names.size() != static_cast<size_t>(nbands)) {
                throw InputError(path.string() + ": has " + std::to_string(nbands) +
                                     " band(s) but input_processor_params.bands names " +
                                     std::to_string(names.size()),
                                 "Give one name per band");
            }
        }
        for (int i = 1; i <= nbands; ++i) {
            GDALRasterBandH band = GDALGetRasterBand(ds, i);
            VarInfo v;
            if (!names.empty()) {
                v.name = names[static_cast<size_t>(i - 1)];
            } else {
                const char* desc = GDALGetDescription(band);
                v.name = desc && *desc ? desc : "band_" + std::to_string(i);
            }
            BandInfo bi;
            int has = 0;
            const double nd = GDALGetRasterNoDataValue(band, &has);
            if (has) {
                bi.nodata = nd;
            }
            int has_scale = 0, has_offset = 0;
            bi.scale = GDALGetRasterScale(band, &has_scale);
            bi.offset = GDALGetRasterOffset(band, &has_offset);
            if (!has_scale) {
                bi.scale = 1.0;
            }
            if (!has_offset) {
                bi.offset = 0.0;
            }
            v.nc_type = gdal::type_name(GDALGetRasterDataType(band), v.integer);
            bi.integer = v.integer;
            bi.is_signed = gdal::is_signed_integer(GDALGetRasterDataType(band));
            if (gdal::signed_byte(band)) {
                v.nc_type = "byte";
                bi.is_signed = true;
            }
            bi.nodata_word = bi.integer ? gdal::nodata_word(band) : std::nullopt;
            if (bi.scale != 1.0 || bi.offset != 0.0) {
                v.integer = false;
            }
            for (const char* key : {"flag_meanings", "flag_masks", "flag_values"}) {
                const char* item = GDALGetMetadataItem(band, key, nullptr);
                if (item && *item) {
                    v.attrs[key] = std::string(key) == "flag_meanings" ? nlohmann::json(item)
                                                                       : flag_numbers(item);
                }
            }
            const char* units = GDALGetRasterUnitType(band);
            if (units && *units) {
                v.attrs["units"] = units;
            }
            for (const auto& other : m_vars) {
                if (other.name == v.name) {
                    throw InputError(path.string() + ": two bands are named '" + v.name + "'",
                                     "Name the bands with input_processor_params.bands");
                }
            }
            m_vars.push_back(std::move(v));
            m_bands.push_back(bi);
        }

        TimeStep step;
        if (params.contains("time_pattern")) {
            if (!params["time_pattern"].is_string()) {
                throw ConfigError("input_processor_params.time_pattern must be a text",
                                  "e.g. time_pattern: \"%Y%m%d\"");
            }
            const auto pattern = params["time_pattern"].get<std::string>();
            const auto t = parse_name_time(path.filename().string(), pattern);
            if (!t) {
                throw InputError(path.string() + ": the file name does not match time_pattern '" +
                                     pattern + "'",
                                 "Fix input_processor_params.time_pattern or the file name");
            }
            step.time = *t;
        } else {
            const char* tag = GDALGetMetadataItem(ds, "TIFFTAG_DATETIME", nullptr);
            std::optional<double> t;
            if (tag) {
                // "YYYY:MM:DD HH:MM:SS" (TIFF 6.0).
                std::string s = tag;
                if (s.size() >= 19 && s[4] == ':' && s[7] == ':') {
                    s[4] = '-';
                    s[7] = '-';
                    s[10] = 'T';
                }
                t = tm::parse_time(s);
            }
            if (!t) {
                throw InputError(path.string() + (tag ? ": TIFFTAG_DATETIME '" + std::string(tag) +
                                                            "' is not a time"
                                                      : ": no time (no TIFFTAG_DATETIME)"),
                                 "Set input_processor_params.time_pattern, e.g. \"%Y%m%d\"");
            }
            step.time = tm::round_to_ms(*t);
        }
        m_steps.push_back(step);
    }

    const std::filesystem::path& path() const override { return m_path; }
    const Geometry& geometry() const override { return m_geometry; }
    const std::vector<TimeStep>& steps() const override { return m_steps; }
    grid::time::Calendar calendar() const override { return grid::time::Calendar::Gregorian; }
    const std::vector<VarInfo>& variables() const override { return m_vars; }
    nlohmann::json global_attrs() const override { return m_attrs; }

    void read(const std::string& var, size_t step, float* out,
              const ForEach& /*for_each*/) const override {
        const size_t i = band_of(var, step);
        if (m_bands[i].integer) {
            // Through the stored integers, so that nodata compares exactly (64-bit bands too).
            read_integers(i);
            decode_integers(i, [&](size_t k, double x) { out[k] = static_cast<float>(x); });
            return;
        }
        read_floats(i);
        for (size_t k = 0; k < m_buffer.size(); ++k) {
            out[k] = static_cast<float>(m_buffer[k]);
        }
    }

    // An integer band's stored integers (nodata compared in the stored type), exact at every
    // width; a scaled or floating-point band's values through double (words_from_values).
    void read_words(const std::string& var, size_t step, FlagWords& out,
                    const ForEach& /*for_each*/) const override {
        const size_t i = band_of(var, step);
        const auto& bi = m_bands[i];
        out.w32.clear();
        if (!bi.integer) {
            read_floats(i);
        } else if (bi.scale == 1.0 && bi.offset == 0.0) {
            read_integers(i);
            out.w64.assign(m_words.begin(), m_words.end());
            out.valid.assign(m_valid.begin(), m_valid.end());
            return;
        } else {
            read_integers(i);
            m_buffer.resize(m_words.size());
            decode_integers(i, [&](size_t k, double x) { m_buffer[k] = x; });
        }
        out.w64.resize(m_buffer.size());
        out.valid.resize(m_buffer.size());
        words_from_values(m_buffer.data(), m_buffer.size(), out.w64.data(), out.valid.data());
    }

private:
    std::filesystem::path m_path;
    gdal::Dataset m_ds;
    Geometry m_geometry;
    std::vector<TimeStep> m_steps;
    std::vector<VarInfo> m_vars;
    nlohmann::json m_attrs = nlohmann::json::object();
    std::vector<BandInfo> m_bands;
    mutable std::vector<double> m_buffer;
    mutable std::vector<uint64_t> m_words;
    mutable std::vector<uint8_t> m_valid;

    size_t band_of(const std::string& var, size_t step) const {
        if (step >= m_steps.size()) {
            throw InternalError("GeoTIFF step " + std::to_string(step) + " out of range");
        }
        size_t i = 0;
        while (i < m_vars.size() && m_vars[i].name != var) {
            ++i;
        }
        if (i == m_vars.size()) {
            throw InputError(m_path.string() + ": no band named '" + var + "'",
                             "Check output_variables and input_processor_params.bands");
        }
        return i;
    }

    // Band i (not an integer band) into m_buffer: its values * scale + offset, NaN for nodata.
    void read_floats(size_t i) const {
        const auto& bi = m_bands[i];
        gdal::read_band(static_cast<GDALDatasetH>(m_ds.get()), static_cast<int>(i + 1), m_path,
                        m_buffer);
        for (double& v : m_buffer) {
            v = (std::isnan(v) || (bi.nodata && v == *bi.nodata)) ? NaN : v * bi.scale + bi.offset;
        }
    }

    // Integer band i into m_words, m_valid (0 where the word is the nodata value).
    void read_integers(size_t i) const {
        gdal::read_band_words(static_cast<GDALDatasetH>(m_ds.get()), static_cast<int>(i + 1),
                              m_path, m_words);
        const auto nodata = m_bands[i].nodata_word;
        m_valid.resize(m_words.size());
        for (size_t k = 0; k < m_words.size(); ++k) {
            m_valid[k] = nodata && m_words[k] == *nodata ? 0 : 1;
        }
    }

    // set(k, value) for every word of read_integers(i): the value * scale + offset in double
    // (NaN for nodata).
    template <typename Set> void decode_integers(size_t i, Set set) const {
        const auto& bi = m_bands[i];
        for (size_t k = 0; k < m_words.size(); ++k) {
            const uint64_t w = m_words[k];
            const double x = bi.is_signed ? static_cast<double>(static_cast<int64_t>(w))
                                          : static_cast<double>(w);
            set(k, m_valid[k] ? x * bi.scale + bi.offset : NaN);
        }
    }
};

} // namespace

std::unique_ptr<Input> open_geotiff(const std::filesystem::path& path,
                                    const nlohmann::json& params) {
    return std::make_unique<GeoTiffInput>(path, params);
}

} // namespace baims::io
