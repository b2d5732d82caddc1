// Where the files of a catalogue image are. See product_files.hpp.

#include "product_files.hpp"

#include "baims/core/error.hpp"
#include "baims/core/text.hpp"

#include <cpl_string.h>
#include <cpl_vsi.h>

#include <algorithm>
#include <vector>

namespace baims::parcels::files {
namespace {

bool exists(const std::string& path) {
    VSIStatBufL st;
    return VSIStatL(path.c_str(), &st) == 0;
}

bool is_file(const std::string& path) {
    VSIStatBufL st;
    return VSIStatL(path.c_str(), &st) == 0 && !VSI_ISDIR(st.st_mode);
}

std::vector<std::string> list_dir(const std::string& path) {
    std::vector<std::string> out;
    char** names = VSIReadDir(path.c_str());
    for (char** n = names; n && *n; ++n) {
        if (**n != '.') {
            out.emplace_back(*n);
        }
    }
    CSLDestroy(names);
    std::sort(out.begin(), out.end());
    return out;
}

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() &&
           s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string basename(std::string path) {
    while (path.size() > 1 && path.back() == '/') {
        path.pop_back();
    }
    const auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

} // namespace

std::string map_eodata(const std::string& path, const std::string& root) {
    const std::string prefix = "/eodata";
    if (path.rfind(prefix, 0) == 0 &&
        (path.size() == prefix.size() || path[prefix.size()] == '/')) {
        return root + path.substr(prefix.size());
    }
    return path;
}

std::string product_dir(const Image& image, const std::string& card, const std::string& root) {
    if (!image.product_identifier.empty()) {
        std::string p = map_eodata(image.product_identifier, root);
        if (exists(p)) {
            return p;
        }
        throw Missing{"!S3 subdir", "product folder " + p + " not found"};
    }
    if (image.obstime.size() < 10) {
        throw Missing{"!S3 subdir", "no observation date for " + image.reference};
    }
    const std::string date = image.obstime.substr(0, 4) + "/" + image.obstime.substr(5, 2) + "/" +
                             image.obstime.substr(8, 2);
    std::vector<std::string> candidates;
    if (card == "s2") {
        std::string name = image.reference;
        if (!ends_with(name, ".SAFE")) {
            name += ".SAFE";
        }
        for (const char* collection : {"L2A", "L2A_N0500"}) {
            candidates.push_back(root + "/Sentinel-2/MSI/" + collection + "/" + date + "/" + name);
        }
    } else {
        const std::string type = card == "bs" ? "CARD-BS" : "CARD-COH6";
        candidates.push_back(root + "/Sentinel-1/SAR/" + type + "/" + date + "/" + image.reference);
    }
    std::string tried;
    for (const auto& p : candidates) {
        if (exists(p)) {
            return p;
        }
        tried += (tried.empty() ? "" : " nor ") + p;
    }
    throw Missing{"!S3 subdir", (candidates.size() > 1 ? "neither " : "") + tried +
                                    (candidates.size() > 1 ? " exists" : " does not exist")};
}

std::string s2_band_file(const std::string& safe, int res, const std::string& band) {
    const std::string granule_root = safe + "/GRANULE";
    auto granules = list_dir(granule_root);
    if (granules.empty()) {
        throw Missing{"!S3 subdir", "no granule in " + granule_root};
    }
    const std::string dir =
        granule_root + "/" + granules.front() + "/IMG_DATA/R" + std::to_string(res) + "m";
    const std::string suffix = "_" + band + "_" + std::to_string(res) + "m.jp2";
    for (const auto& f : list_dir(dir)) {
        if (f.size() > suffix.size() && ends_with(f, suffix)) {
            return dir + "/" + f;
        }
    }
    throw Missing{"!S3 .jp2", "no *" + suffix + " in " + dir};
}

void check_s2_bands(const std::vector<std::string>& bands, int res, const std::string& option) {
    // The single-band images of IMG_DATA/R10m and R20m (SENTINEL2-SAFE.md; TCI is a colour
    // picture, not a measurement).
    static const std::vector<std::string> r10 = {"AOT", "B02", "B03", "B04", "B08", "WVP"};
    static const std::vector<std::string> r20 = {"AOT", "B01", "B02", "B03", "B04", "B05", "B06",
                                                 "B07", "B8A", "B11", "B12", "SCL", "WVP"};
    const auto& known = res == 10 ? r10 : r20;
    for (const auto& b : bands) {
        if (std::find(known.begin(), known.end(), b) != known.end()) {
            continue;
        }
        const auto& other = res == 10 ? r20 : r10;
        if (std::find(other.begin(), other.end(), b) != other.end()) {
            throw UsageError(option + ": '" + b +
                                 "' is not a band of a Sentinel-2 L2A product at " +
                                 std::to_string(res) + " m",
                             "It is a " + std::to_string(res == 10 ? 20 : 10) + " m band. The " +
                                 std::to_string(res) + " m bands: " + text::join(known, ", "));
        }
        const std::string guess = text::did_you_mean(b, known);
        throw UsageError(option + ": '" + b + "' is not a band of a Sentinel-2 L2A product at " +
                             std::to_string(res) + " m",
                         (guess.empty() ? std::string() : "Did you mean '" + guess + "'? ") +
                             "The " + std::to_string(res) + " m bands: " + text::join(known, ", "));
    }
}

std::string bs_band_file(const std::string& dir, const std::string& pol) {
    const std::string file = "Gamma0_" + pol + ".img";
    // <ref>/<ref>.data/ as SNAP writes it; else any *.data folder of the product.
    std::vector<std::string> data_dirs{dir + "/" + basename(dir) + ".data"};
    for (const auto& f : list_dir(dir)) {
        if (ends_with(f, ".data") && dir + "/" + f != data_dirs.front()) {
            data_dirs.push_back(dir + "/" + f);
        }
    }
    for (const auto& d : data_dirs) {
        if (is_file(d + "/" + file)) {
            return d + "/" + file;
        }
    }
    throw Missing{"!S3 " + pol + ".img", "no " + file + " in " + data_dirs.front()};
}

std::string c6_file(const std::string& dir) {
    if (is_file(dir)) {
        return dir; // productIdentifier named the GeoTIFF itself
    }
    const std::string own = dir + "/" + basename(dir) + ".tif";
    if (is_file(own)) {
        return own;
    }
    for (const auto& f : list_dir(dir)) {
        if (ends_with(f, ".tif") || ends_with(f, ".tiff")) {
            return dir + "/" + f;
        }
    }
    throw Missing{"!S3 .tif", "no " + basename(dir) + ".tif (nor any .tif) in " + dir};
}

} // namespace baims::parcels::files
