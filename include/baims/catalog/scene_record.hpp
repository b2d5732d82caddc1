#pragma once
// One catalogue entry as it goes into `dias_catalogue` (+ `baims_catalogue_extra`), and the
// small amount of geometry the catalogue needs (footprints are lon/lat polygons, EPSG:4326).

#include "baims/catalog/time.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace baims::catalog {

struct Point {
    double x = 0; // longitude
    double y = 0; // latitude
    bool operator==(const Point&) const = default;
};

using Ring = std::vector<Point>; // closed: front() == back()

struct Polygon {
    std::vector<Ring> rings; // exterior first, then holes
};

// The card values of `dias_catalogue.card` and the product types they go with.
inline const std::vector<std::string> CARDS{"s2", "bs", "c6", "c12"};
inline const std::vector<std::string> PRODUCT_TYPES{"S2MSI2A", "S2MSI1C", "CARD-BS", "CARD-COH6",
                                                    "CARD-COH12"};

struct SceneRecord {
    std::string reference; // the catalogue title, as is (with ".SAFE"), as JRC stores it
    Micros obstime = 0;    // startDate (UTC)
    std::string sensor;    // title[1:3]: "2A", "2B", "1A", "1B"
    std::string card;      // s2, bs, c6, c12
    Polygon footprint;
    std::string product_identifier; // the /eodata path (also for reprocessed L2A_N0500)
    std::optional<double> cloud_cover;
    std::string processing_baseline; // as the catalogue gives it ("5.09", "2.08", …)
    std::string collection;          // "SENTINEL-2", "SENTINEL-1" (empty when not given)
    std::string product_type;        // productType: "S2MSI2A", "CARD-BS", … (empty: not given)
};

// Convex hull (Andrew's monotone chain) of the points, as a closed counter-clockwise ring.
// Fewer than three distinct, non-collinear points give an empty ring.
Ring convex_hull(std::vector<Point> points);

// Hex-encoded little-endian EWKB of a 2-D polygon with the SRID (what PostGIS reads from text
// for a geometry column).
std::string to_ewkb_hex(const Polygon& polygon, int srid = 4326);

// WKT (for logs and tests): "POLYGON((x y,…),(…))" with shortest round-trip numbers.
std::string to_wkt(const Polygon& polygon);

} // namespace baims::catalog
