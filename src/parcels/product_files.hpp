// Where the files of a catalogue image are (SPEC §10 Paths): the product folder from the
// catalogue's productIdentifier when known, else the JRC /eodata layout; `--eodata` maps the
// root. One lookup for `extract` (both selections) and `extract --compare jrc`.
//
// Sentinel-2 L2A: <root>/Sentinel-2/MSI/{L2A,L2A_N0500}/YYYY/MM/DD/<ref>.SAFE, band files
//   GRANULE/<granule>/IMG_DATA/R<res>m/*_<band>_<res>m.jp2.
// Sentinel-1 CARD-BS: <root>/Sentinel-1/SAR/CARD-BS/YYYY/MM/DD/<ref>/<ref>.data/Gamma0_VV.img
//   (and Gamma0_VH.img; ENVI, the .hdr beside it).
// Sentinel-1 CARD-COH6: <root>/Sentinel-1/SAR/CARD-COH6/YYYY/MM/DD/<ref>/<ref>.tif (2 bands:
//   VV, VH coherence).
#pragma once

#include <string>
#include <vector>

namespace baims::parcels::files {

// A file or folder of the image is missing: its dias_catalogue status (SPEC §6.3) and why.
struct Missing {
    std::string status; // "!S3 subdir", "!S3 .jp2", "!S3 VV.img", "!S3 VH.img", "!S3 .tif"
    std::string message;
};

struct Image {
    std::string reference;
    std::string obstime;            // "YYYY-MM-DD …"
    std::string product_identifier; // the exact /eodata path; empty: unknown
};

// `path` with a leading /eodata replaced by `root` (a local folder or /vsis3/bucket).
std::string map_eodata(const std::string& path, const std::string& root);

// The product folder of `image` (card s2, bs or c6). Throws Missing ("!S3 subdir").
std::string product_dir(const Image& image, const std::string& card, const std::string& root);

// The JP2 of `band` at `res` m in an L2A .SAFE folder. Throws Missing ("!S3 subdir", "!S3 .jp2").
std::string s2_band_file(const std::string& safe, int res, const std::string& band);

// Bands given for a Sentinel-2 L2A pass at `res` m (10 or 20: the R10m or R20m folder) that an
// L2A product has there; one it has not (a typo, 'B8a', or B08 at 20 m) is a UsageError naming
// the option and the band meant, before any image is claimed: every image would otherwise fail
// with '!S3 .jp2' and need a --rerun-status.
void check_s2_bands(const std::vector<std::string>& bands, int res, const std::string& option);

// The Gamma0_<pol>.img (pol VV or VH) of a CARD-BS product folder. Throws Missing
// ("!S3 VV.img", "!S3 VH.img").
std::string bs_band_file(const std::string& dir, const std::string& pol);

// The 2-band GeoTIFF of a CARD-COH6 product folder (or the file itself when productIdentifier
// names it). Throws Missing ("!S3 .tif").
std::string c6_file(const std::string& dir);

} // namespace baims::parcels::files
