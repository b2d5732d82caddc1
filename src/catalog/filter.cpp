#include "baims/catalog/filter.hpp"

#include "baims/core/text.hpp"

namespace baims::catalog {

std::string mission_for_card(const std::string& card) {
    return card == "s2" ? "SENTINEL-2" : "SENTINEL-1";
}

std::string mission_of(const SceneRecord& record) {
    if (!record.collection.empty()) {
        return record.collection;
    }
    if (text::starts_with(record.reference, "S2")) {
        return "SENTINEL-2";
    }
    if (text::starts_with(record.reference, "S1")) {
        return "SENTINEL-1";
    }
    return "unknown";
}

std::vector<SceneRecord> filter_records(std::vector<SceneRecord> records, const std::string& card,
                                        const std::string& product_type, const TimeRange& range,
                                        DropCounts& dropped) {
    const std::string mission = mission_for_card(card);
    std::vector<SceneRecord> keep;
    keep.reserve(records.size());
    for (auto& r : records) {
        if (mission_of(r) != mission) {
            ++dropped.collection;
        } else if (r.product_type != product_type) {
            ++dropped.product_type;
        } else if (r.obstime < range.start || r.obstime >= range.end) {
            ++dropped.dates;
        } else {
            keep.push_back(std::move(r));
        }
    }
    return keep;
}

std::string describe_drops(const DropCounts& d, std::uint64_t of, const std::string& card,
                           const std::string& product_type, const std::string& aoi) {
    std::vector<std::string> why;
    if (d.collection) {
        why.push_back(std::to_string(d.collection) + " not of collection " +
                      mission_for_card(card) + " (CARD " + card + ")");
    }
    if (d.product_type) {
        why.push_back(std::to_string(d.product_type) + " not of product type " + product_type);
    }
    if (d.dates) {
        why.push_back(std::to_string(d.dates) + " outside the dates");
    }
    if (d.aoi) {
        why.push_back(std::to_string(d.aoi) + " not intersecting AOI '" + aoi + "'");
    }
    return "dropped " + std::to_string(d.total()) + " of " + std::to_string(of) +
           " records from the files that the query would not return: " + text::join(why, ", ");
}

} // namespace baims::catalog
