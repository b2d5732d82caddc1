#pragma once
// Sentinel-2 product names and `--baseline latest`.
//
// S2A_MSIL2A_20230420T113631_N0509_R123_T33XWG_20230420T161746.SAFE
// mission_level_sensing_Nbaseline_Rrelorbit_Ttile_generation
// The same datatake and tile can be in the catalogue several times: reprocessed (N0500 next to
// N0208) and, rarely, generated twice with the same baseline. `--baseline latest` keeps one per
// datatake and tile: the highest baseline, then the latest generation time.

#include "baims/catalog/scene_record.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace baims::catalog {

struct S2ProductName {
    std::string mission;    // S2A
    std::string level;      // MSIL2A
    std::string sensing;    // 20230420T113631
    int baseline = 0;       // 509 from N0509
    std::string rel_orbit;  // R123
    std::string tile;       // T33XWG
    std::string generation; // 20230420T161746

    // Datatake and tile: what the duplicates have in common.
    std::string group_key() const;
};

// nullopt for names that do not follow the pattern (Sentinel-1, CARD products).
std::optional<S2ProductName> parse_s2_name(std::string_view title);

// Keeps, per datatake and tile, the record with the newest baseline (then generation); records
// whose names do not parse are all kept. The order of the kept records is preserved.
std::vector<SceneRecord> keep_latest_baseline(std::vector<SceneRecord> records);

} // namespace baims::catalog
