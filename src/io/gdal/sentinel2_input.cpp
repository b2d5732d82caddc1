// The `sentinel2-l2a` input kind: one Sentinel-2 L2A SAFE product (PSD 14, SAFE_COMPACT; see
// docs/config.md and ../shared/docs/SENTINEL2-SAFE.md) per time step. The path is the `.SAFE`
// folder or its MTD_MSIL2A.xml. Params (input_processor_params):
//   bands:      [B02, B03, B04, B8A, SCL, ...]  default: the 12 L2A spectral bands and SCL
//   resolution: 10 | 20 | 60                     default 20; the grid of the R<res>m folder
// A band that the R<res>m folder lacks is taken from the next coarser folder (each of its pixels
// repeated k×k), else from the next finer one (the mean of each k×k block of valid pixels).
// Spectral bands: reflectance = (DN + BOA_ADD_OFFSET[band]) / BOA_QUANTIFICATION_VALUE from
// MTD_MSIL2A.xml (offset 0 when the list is absent, before baseline 04.00), DN = NODATA (0) ->
// NaN. AOT and WVP: DN / their quantification value. SCL: the class number, 0 (no data) -> NaN.
// Time: PRODUCT_START_TIME (else the sensing time in the product name).

#include "../input_kinds.hpp"
#include "raster.hpp"

#include "baims/core/error.hpp"
#include "baims/grid/time.hpp"
#include "baims/io/fingerprint.hpp"

#include <cpl_minixml.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace baims::io {
namespace {

namespace fs = std::filesystem;
namespace tm = grid::time;

constexpr float NaN = std::numeric_limits<float>::quiet_NaN();

// band_id of BOA_ADD_OFFSET (the order of the MSI bands).
const std::vector<std::string> SPECTRAL = {"B01", "B02", "B03", "B04", "B05", "B06", "B07",
                                           "B08", "B8A", "B09", "B10", "B11", "B12"};
const std::vector<std::string> DEFAULT_BANDS = {"B01", "B02", "B03", "B04", "B05", "B06", "B07",
                                                "B08", "B8A", "B09", "B11", "B12", "SCL"};
const int RESOLUTIONS[] = {10, 20, 60};

struct XmlFree {
    void operator()(CPLXMLNode* n) const noexcept { CPLDestroyXMLNode(n); }
};

// The local name of an element ("n1:General_Info" -> "General_Info").
std::string local_name(const CPLXMLNode* n) {
    std::string s = n->pszValue ? n->pszValue : "";
    const auto colon = s.find(':');
    return colon == std::string::npos ? s : s.substr(colon + 1);
}

// Every element named `name` under `n`, depth first.
void find_all(const CPLXMLNode* n, const std::string& name, std::vector<const CPLXMLNode*>& out) {
    for (; n; n = n->psNext) {
        if (n->eType == CXT_Element) {
            if (local_name(n) == name) {
                out.push_back(n);
            }
            find_all(n->psChild, name, out);
        }
    }
}

std::optional<std::string> text_of(const CPLXMLNode* root, const std::string& name) {
    std::vector<const CPLXMLNode*> found;
    find_all(root, name, found);
    if (found.empty()) {
        return std::nullopt;
    }
    const char* v = CPLGetXMLValue(found.front(), "", nullptr);
    return v ? std::optional<std::string>(v) : std::nullopt;
}

std::optional<double> number_of(const std::string& s) {
    try {
        size_t end = 0;
        const double v = std::stod(s, &end);
        return end == s.size() ? std::optional<double>(v) : std::nullopt;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

struct Band {
    std::string name;
    fs::path file;
    int res = 0;          // of the file
    double divisor = 1.0; // physical = (DN + offset) / divisor
    double offset = 0.0;  // added to DN
    bool classes = false;
};

class Sentinel2Input final : public Input {
public:
    Sentinel2Input(const fs::path& path, const nlohmann::json& params) {
        std::error_code ec;
        m_safe = fs::is_directory(path, ec) ? path : path.parent_path();
        const fs::path mtd = m_safe / "MTD_MSIL2A.xml";
        if (!fs::is_regular_file(mtd, ec)) {
            throw InputError(m_safe.string() + ": no MTD_MSIL2A.xml (not a Sentinel-2 L2A SAFE "
                                               "product)",
                             "Give the .SAFE folder of an L2A product (or its MTD_MSIL2A.xml)");
        }
        m_mtd = mtd;

        int resolution = 20;
        if (params.contains("resolution")) {
            const auto& r = params["resolution"];
            if (!r.is_number_integer() || std::find(std::begin(RESOLUTIONS), std::end(RESOLUTIONS),
                                                    r.get<int>()) == std::end(RESOLUTIONS)) {
                throw ConfigError("input_processor_params.resolution must be 10, 20 or 60",
                                  "e.g. resolution: 20");
            }
            resolution = r.get<int>();
        }
        m_res = resolution;
        std::vector<std::string> wanted = DEFAULT_BANDS;
        if (params.contains("bands")) {
            const auto& b = params["bands"];
            wanted.clear();
            if (b.is_array()) {
                for (const auto& n : b) {
                    if (n.is_string()) {
                        wanted.push_back(n.get<std::string>());
                    }
                }
            }
            if (!b.is_array() || wanted.size() != b.size() || wanted.empty()) {
                throw ConfigError("input_processor_params.bands must be a list of band names",
                                  "e.g. bands: [B02, B03, B04, B8A, SCL]");
            }
        }

        std::unique_ptr<CPLXMLNode, XmlFree> xml(CPLParseXMLFile(mtd.c_str()));
        if (!xml) {
            throw InputError(mtd.string() + ": is not readable XML",
                             "Check that the product is complete");
        }
        const CPLXMLNode* root = xml.get();

        // Time.
        std::optional<double> t;
        if (auto s = text_of(root, "PRODUCT_START_TIME")) {
            t = tm::parse_time(*s);
        }
        if (!t) {
            // S2A_MSIL2A_20201021T103101_...: field 3.
            const auto name = m_safe.filename().string();
            if (name.size() >= 26) {
                const auto f = name.substr(11, 15); // YYYYMMDDTHHMMSS
                if (f.size() == 15 && f[8] == 'T') {
                    t = tm::parse_time(f.substr(0, 4) + "-" + f.substr(4, 2) + "-" +
                                       f.substr(6, 2) + "T" + f.substr(9, 2) + ":" +
                                       f.substr(11, 2) + ":" + f.substr(13, 2) + "Z");
                }
            }
        }
        if (!t) {
            throw InputError(mtd.string() + ": no PRODUCT_START_TIME and no sensing time in "
                                            "the product name",
                             "Check that the product is complete");
        }
        m_steps.push_back(TimeStep{tm::round_to_ms(*t), std::nullopt, std::nullopt});

        // Scaling.
        double boa_q = 10000.0, aot_q = 1000.0, wvp_q = 1000.0;
        if (auto s = text_of(root, "BOA_QUANTIFICATION_VALUE"); s && number_of(*s)) {
            boa_q = *number_of(*s);
        }
        if (auto s = text_of(root, "AOT_QUANTIFICATION_VALUE"); s && number_of(*s)) {
            aot_q = *number_of(*s);
        }
        if (auto s = text_of(root, "WVP_QUANTIFICATION_VALUE"); s && number_of(*s)) {
            wvp_q = *number_of(*s);
        }
        std::map<int, double> offsets;
        {
            std::vector<const CPLXMLNode*> found;
            find_all(root, "BOA_ADD_OFFSET", found);
            for (const auto* n : found) {
                const char* id = CPLGetXMLValue(n, "band_id", nullptr);
                const char* v = CPLGetXMLValue(n, "", nullptr);
                auto num = v ? number_of(v) : std::nullopt;
                auto idn = id ? number_of(id) : std::nullopt;
                if (num && idn) {
                    offsets[static_cast<int>(*idn)] = *num;
                }
            }
        }
        {
            std::vector<const CPLXMLNode*> found;
            find_all(root, "Special_Values", found);
            for (const auto* n : found) {
                const char* what = CPLGetXMLValue(n, "SPECIAL_VALUE_TEXT", "");
                const char* v = CPLGetXMLValue(n, "SPECIAL_VALUE_INDEX", "");
                if (std::string(what) == "NODATA" && number_of(v)) {
                    m_nodata = *number_of(v);
                }
            }
        }
        if (auto s = text_of(root, "PRODUCT_URI")) {
            m_attrs["product_uri"] = *s;
        }
        if (auto s = text_of(root, "PROCESSING_BASELINE")) {
            m_attrs["processing_baseline"] = *s;
        }

        // Band files: IMAGE_FILE entries ".../IMG_DATA/R20m/T32UNG_20201021T103101_B05_20m".
        std::vector<std::string> images;
        {
            std::vector<const CPLXMLNode*> found;
            find_all(root, "IMAGE_FILE", found);
            for (const auto* n : found) {
                if (const char* v = CPLGetXMLValue(n, "", nullptr)) {
                    images.emplace_back(v);
                }
            }
        }
        auto image_of = [&](const std::string& band, int res) -> std::optional<std::string> {
            const auto tail = "_" + band + "_" + std::to_string(res) + "m";
            for (const auto& f : images) {
                if (f.size() > tail.size() && f.ends_with(tail) &&
                    f.find("/R" + std::to_string(res) + "m/") != std::string::npos) {
                    return f;
                }
            }
            return std::nullopt;
        };
        // Search order: the resolution, then coarser, then finer.
        std::vector<int> order = {m_res};
        for (int r : RESOLUTIONS) {
            if (r > m_res) {
                order.push_back(r);
            }
        }
        for (auto it = std::rbegin(RESOLUTIONS); it != std::rend(RESOLUTIONS); ++it) {
            if (*it < m_res) {
                order.push_back(*it);
            }
        }

        for (const auto& name : wanted) {
            Band b;
            b.name = name;
            std::optional<std::string> rel;
            for (int r : order) {
                if ((rel = image_of(name, r))) {
                    b.res = r;
                    break;
                }
            }
            if (!rel) {
                throw InputError(m_safe.string() + ": no band " + name +
                                     " (MTD_MSIL2A.xml lists no image for it)",
                                 "Choose bands among B01..B12, B8A, SCL, AOT, WVP in "
                                 "input_processor_params.bands");
            }
            b.file = m_safe / (*rel + ".jp2");
            if (!fs::is_regular_file(b.file, ec)) {
                throw InputError(b.file.string() + ": the band file of " + name + " is missing",
                                 "Download the complete product");
            }
            VarInfo v;
            v.name = name;
            const auto sp = std::find(SPECTRAL.begin(), SPECTRAL.end(), name);
            if (name == "SCL") {
                b.classes = true;
                v.nc_type = "ubyte";
                v.integer = true;
                v.resampling = "mode"; // classes: never averaged or interpolated by default
                v.attrs["long_name"] = "Scene classification";
                v.attrs["flag_values"] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
                v.attrs["flag_meanings"] =
                    "saturated_or_defective dark_area_pixels cloud_shadows vegetation "
                    "not_vegetated water unclassified cloud_medium_probability "
                    "cloud_high_probability thin_cirrus snow";
            } else if (sp != SPECTRAL.end()) {
                const int id = static_cast<int>(sp - SPECTRAL.begin());
                b.offset = offsets.count(id) ? offsets[id] : 0.0;
                b.divisor = boa_q;
                v.nc_type = "ushort";
                v.attrs["long_name"] = "Bottom-of-atmosphere reflectance " + name;
                v.attrs["units"] = "1";
            } else if (name == "AOT" || name == "WVP") {
                b.divisor = name == "AOT" ? aot_q : wvp_q;
                v.nc_type = "ushort";
                v.attrs["long_name"] = name == "AOT" ? "Aerosol optical thickness" : "Water vapour";
                if (name == "WVP") {
                    v.attrs["units"] = "cm";
                }
            } else {
                throw InputError(m_safe.string() + ": band " + name + " is not a band baims reads",
                                 "Choose bands among B01..B12, B8A, SCL, AOT, WVP in "
                                 "input_processor_params.bands");
            }
            m_vars.push_back(std::move(v));
            m_bands.push_back(std::move(b));
        }

        // The grid: any image of the R<res>m folder.
        std::optional<std::string> ref;
        for (const auto& f : images) {
            if (f.find("/R" + std::to_string(m_res) + "m/") != std::string::npos &&
                fs::is_regular_file(m_safe / (f + ".jp2"), ec)) {
                ref = f;
                break;
            }
        }
        if (!ref) {
            throw InputError(m_safe.string() + ": no image at " + std::to_string(m_res) + " m",
                             "Choose another input_processor_params.resolution");
        }
        const fs::path ref_file = m_safe / (*ref + ".jp2");
        auto ds = gdal::open_raster(ref_file);
        m_grid = gdal::raster_grid(static_cast<GDALDatasetH>(ds.get()), ref_file);
        m_geometry = gdal::geometry_of(m_grid);
    }

    const fs::path& path() const override { return m_safe; }
    const Geometry& geometry() const override { return m_geometry; }
    const std::vector<TimeStep>& steps() const override { return m_steps; }
    grid::time::Calendar calendar() const override { return grid::time::Calendar::Gregorian; }
    const std::vector<VarInfo>& variables() const override { return m_vars; }
    nlohmann::json global_attrs() const override { return m_attrs; }
    nlohmann::json identity() const override {
        auto id = file_identity(m_mtd);
        id["name"] = m_safe.filename().string();
        return id;
    }

    void read(const std::string& var, size_t step, float* out,
              const ForEach& /*for_each*/) const override {
        if (step >= m_steps.size()) {
            throw InternalError("Sentinel-2 step " + std::to_string(step) + " out of range");
        }
        const auto it = std::find_if(m_bands.begin(), m_bands.end(),
                                     [&](const Band& b) { return b.name == var; });
        if (it == m_bands.end()) {
            throw InputError(m_safe.string() + ": no band '" + var + "' was chosen",
                             "Add it to input_processor_params.bands");
        }
        const Band& b = *it;
        auto ds = gdal::open_raster(b.file);
        const auto g = gdal::raster_grid(static_cast<GDALDatasetH>(ds.get()), b.file);
        const size_t W = m_grid.width, H = m_grid.height;
        // The band's grid must cover the tile exactly (same corner, same extent).
        const double ext_x = static_cast<double>(W) * m_grid.gt[1];
        const double ext_y = static_cast<double>(H) * m_grid.gt[5];
        if (g.gt[0] != m_grid.gt[0] || g.gt[3] != m_grid.gt[3] ||
            static_cast<double>(g.width) * g.gt[1] != ext_x ||
            static_cast<double>(g.height) * g.gt[5] != ext_y) {
            throw InputError(b.file.string() + ": does not cover the same tile extent as the " +
                                 std::to_string(m_res) + " m grid",
                             "Check that the product is complete and unmodified");
        }
        std::vector<double> dn;
        gdal::read_band(static_cast<GDALDatasetH>(ds.get()), 1, b.file, dn);
        auto decode = [&](double v) -> float {
            if (b.classes) {
                return v == 0.0 ? NaN : static_cast<float>(v);
            }
            return v == m_nodata ? NaN : static_cast<float>((v + b.offset) / b.divisor);
        };
        if (g.width == W) {
            for (size_t k = 0; k < W * H; ++k) {
                out[k] = decode(dn[k]);
            }
        } else if (g.width < W) {
            // Coarser: repeat each pixel k×k.
            const size_t k = W / g.width;
            for (size_t r = 0; r < H; ++r) {
                for (size_t c = 0; c < W; ++c) {
                    out[r * W + c] = decode(dn[(r / k) * g.width + c / k]);
                }
            }
        } else {
            // Finer: the mean of each k×k block's valid values (classes: not supported).
            const size_t k = g.width / W;
            if (b.classes) {
                throw InputError(b.file.string() + ": SCL only exists at a finer resolution",
                                 "Choose input_processor_params.resolution 20 or 60");
            }
            for (size_t r = 0; r < H; ++r) {
                for (size_t c = 0; c < W; ++c) {
                    double sum = 0.0;
                    size_t n = 0;
                    for (size_t i = 0; i < k; ++i) {
                        for (size_t j = 0; j < k; ++j) {
                            const float v = decode(dn[(r * k + i) * g.width + c * k + j]);
                            if (!std::isnan(v)) {
                                sum += v;
                                ++n;
                            }
                        }
                    }
                    out[r * W + c] = n ? static_cast<float>(sum / static_cast<double>(n)) : NaN;
                }
            }
        }
    }

private:
    fs::path m_safe, m_mtd;
    int m_res = 20;
    double m_nodata = 0.0;
    gdal::RasterGrid m_grid;
    Geometry m_geometry;
    std::vector<TimeStep> m_steps;
    std::vector<VarInfo> m_vars;
    std::vector<Band> m_bands;
    nlohmann::json m_attrs = nlohmann::json::object();
};

} // namespace

std::unique_ptr<Input> open_sentinel2_l2a(const std::filesystem::path& path,
                                          const nlohmann::json& params) {
    return std::make_unique<Sentinel2Input>(path, params);
}

} // namespace baims::io
