#pragma once
// --from-file: a saved response holds whatever was asked for when it was saved. Its records are
// filtered as a live query for this run would filter them (SPEC 8): collection (from CARD),
// product type, dates; the AOI intersection is checked in the database (store.hpp).

#include "baims/catalog/scene_record.hpp"
#include "baims/catalog/search.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace baims::catalog {

struct DropCounts {
    std::uint64_t collection = 0;   // another mission than CARD's (S1 under s2, ...)
    std::uint64_t product_type = 0; // another (or no) productType than PTYPE
    std::uint64_t dates = 0;        // startDate outside [START, END)
    std::uint64_t aoi = 0;          // footprint does not intersect the AOI
    std::uint64_t total() const { return collection + product_type + dates + aoi; }
};

// "SENTINEL-2" for s2, "SENTINEL-1" for bs, c6, c12 (the `collection` property of a response).
std::string mission_for_card(const std::string& card);

// The record's collection: its `collection` property, else from the title ("S2…" → SENTINEL-2).
std::string mission_of(const SceneRecord& record);

// Keeps the records of CARD's collection, of product_type and with obstime in [range.start,
// range.end); counts the others in dropped (the first reason that applies, in that order).
std::vector<SceneRecord> filter_records(std::vector<SceneRecord> records, const std::string& card,
                                        const std::string& product_type, const TimeRange& range,
                                        DropCounts& dropped);

// "dropped 3 of 10 records that the query would not return: 2 of collection SENTINEL-1 ..."
std::string describe_drops(const DropCounts& dropped, std::uint64_t of, const std::string& card,
                           const std::string& product_type, const std::string& aoi);

} // namespace baims::catalog
