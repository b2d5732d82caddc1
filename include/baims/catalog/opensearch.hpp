#pragma once
// CDSE OpenSearch (resto) search.json responses → SceneRecord.
//
// A response is a GeoJSON FeatureCollection; properties.links holds rel=next while more pages
// exist. The fields used per feature are title, startDate and geometry (what JRC's cdse.py uses)
// plus productIdentifier, cloudCover and processingBaseline (kept in baims_catalogue_extra).

#include "baims/catalog/scene_record.hpp"

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace baims::catalog {

// A response that is not a FeatureCollection in JSON. The caller turns it into RemoteError (for a
// URL) or InputError (for a file), naming the source.
class ResponseFormatError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A feature that could not be turned into a record; it is skipped, the others are kept.
struct BadFeature {
    size_t index = 0;  // position in the page's features array
    std::string title; // empty when the title itself is missing
    std::string reason;
};

struct Page {
    size_t feature_count = 0; // features in the response, good and bad
    std::vector<SceneRecord> records;
    std::vector<BadFeature> bad;
    std::vector<std::string> warnings; // e.g. a multi-part footprint replaced by its convex hull
    std::optional<std::string> next_url;
};

// Parses one response body. card is stored into each record. Throws ResponseFormatError.
Page parse_page(std::string_view body, const std::string& card);

// dias_catalogue.reference is varchar(120).
constexpr size_t MAX_REFERENCE_LENGTH = 120;

} // namespace baims::catalog
