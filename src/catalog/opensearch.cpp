#include "baims/catalog/opensearch.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <functional>

namespace baims::catalog {

namespace {

using nlohmann::json;

// A feature-level problem: the feature is skipped with this reason.
struct FeatureError {
    std::string reason;
};

Ring parse_ring(const json& j) {
    if (!j.is_array()) {
        throw FeatureError{"a ring is not an array of positions"};
    }
    Ring ring;
    ring.reserve(j.size() + 1);
    for (const auto& pos : j) {
        if (!pos.is_array() || pos.size() < 2 || !pos[0].is_number() || !pos[1].is_number()) {
            throw FeatureError{"a position is not [lon, lat]"};
        }
        Point p{pos[0].get<double>(), pos[1].get<double>()};
        if (!std::isfinite(p.x) || !std::isfinite(p.y)) {
            throw FeatureError{"a coordinate is not a finite number"};
        }
        ring.push_back(p); // a third (height) ordinate is dropped: footprints are 2-D
    }
    if (!ring.empty() && !(ring.front() == ring.back())) {
        ring.push_back(ring.front()); // close it, as PostGIS requires
    }
    if (ring.size() < 4) {
        throw FeatureError{"a ring has fewer than 4 positions"};
    }
    return ring;
}

Polygon parse_polygon(const json& coords) {
    if (!coords.is_array() || coords.empty()) {
        throw FeatureError{"polygon coordinates are empty"};
    }
    Polygon poly;
    for (const auto& r : coords) {
        poly.rings.push_back(parse_ring(r));
    }
    return poly;
}

Polygon parse_footprint(const json& feature, std::vector<std::string>& warnings,
                        const std::string& title) {
    auto it = feature.find("geometry");
    if (it == feature.end() || !it->is_object()) {
        throw FeatureError{"no geometry"};
    }
    const json& g = *it;
    auto type = g.find("type");
    auto coords = g.find("coordinates");
    if (type == g.end() || !type->is_string() || coords == g.end()) {
        throw FeatureError{"geometry without type or coordinates"};
    }
    const std::string t = type->get<std::string>();
    if (t == "Polygon") {
        return parse_polygon(*coords);
    }
    if (t != "MultiPolygon") {
        throw FeatureError{"geometry type " + t + " is not a polygon"};
    }
    if (!coords->is_array() || coords->empty()) {
        throw FeatureError{"empty MultiPolygon"};
    }
    if (coords->size() == 1) {
        return parse_polygon((*coords)[0]);
    }
    std::vector<Point> all;
    for (const auto& part : *coords) {
        Polygon p = parse_polygon(part);
        all.insert(all.end(), p.rings.front().begin(), p.rings.front().end());
    }
    Ring hull = convex_hull(std::move(all));
    if (hull.empty()) {
        throw FeatureError{"MultiPolygon footprint is degenerate"};
    }
    warnings.push_back(title + ": footprint has " + std::to_string(coords->size()) +
                       " parts; storing their convex hull");
    return Polygon{{std::move(hull)}};
}

std::string baseline_text(const json& v) {
    if (v.is_string()) {
        return v.get<std::string>();
    }
    if (v.is_number()) {
        return v.dump();
    }
    return {};
}

SceneRecord parse_feature(const json& f, const std::string& card, std::string& title,
                          std::vector<std::string>& warnings) {
    if (!f.is_object()) {
        throw FeatureError{"feature is not an object"};
    }
    auto pit = f.find("properties");
    if (pit == f.end() || !pit->is_object()) {
        throw FeatureError{"no properties"};
    }
    const json& p = *pit;
    auto t = p.find("title");
    if (t == p.end() || !t->is_string() || t->get_ref<const std::string&>().empty()) {
        throw FeatureError{"no title"};
    }
    title = t->get<std::string>();
    if (title.size() < 3) {
        throw FeatureError{"title is too short to hold a sensor"};
    }
    if (title.size() > MAX_REFERENCE_LENGTH) {
        throw FeatureError{"title is longer than " + std::to_string(MAX_REFERENCE_LENGTH) +
                           " characters"};
    }
    SceneRecord rec;
    rec.reference = title;
    rec.sensor = title.substr(1, 2);
    rec.card = card;
    auto sd = p.find("startDate");
    if (sd == p.end() || !sd->is_string()) {
        throw FeatureError{"no startDate"};
    }
    auto when = parse_timestamp(sd->get_ref<const std::string&>());
    if (!when) {
        throw FeatureError{"startDate '" + sd->get<std::string>() + "' is not an ISO-8601 time"};
    }
    rec.obstime = *when;
    rec.footprint = parse_footprint(f, warnings, title);
    if (auto pi = p.find("productIdentifier"); pi != p.end() && pi->is_string()) {
        rec.product_identifier = pi->get<std::string>();
    }
    if (auto cc = p.find("cloudCover"); cc != p.end() && cc->is_number()) {
        rec.cloud_cover = cc->get<double>();
    }
    if (auto pb = p.find("processingBaseline"); pb != p.end()) {
        rec.processing_baseline = baseline_text(*pb);
    }
    if (auto c = p.find("collection"); c != p.end() && c->is_string()) {
        rec.collection = c->get<std::string>();
    }
    if (auto pt = p.find("productType"); pt != p.end() && pt->is_string()) {
        rec.product_type = pt->get<std::string>();
    }
    return rec;
}

std::optional<std::string> next_link(const json& doc) {
    auto props = doc.find("properties");
    if (props == doc.end() || !props->is_object()) {
        return std::nullopt;
    }
    auto links = props->find("links");
    if (links == props->end() || !links->is_array()) {
        return std::nullopt;
    }
    for (const auto& l : *links) {
        if (l.is_object() && l.value("rel", "") == "next") {
            auto href = l.find("href");
            if (href != l.end() && href->is_string() &&
                !href->get_ref<const std::string&>().empty()) {
                return href->get<std::string>();
            }
        }
    }
    return std::nullopt;
}

// Keeps only what the catalogue needs while parsing (a response is ~3 kB a feature, mostly
// gmlgeometry, links and services): the value of any other key is dropped unbuilt. Keys by depth:
// 1 the collection, 2 its properties, 3 a feature, 4 a feature's geometry/properties and a link.
// `detail` (resto's error report) is kept whole.
class KeyFilter {
public:
    bool operator()(int depth, json::parse_event_t event, json& parsed) {
        if (event != json::parse_event_t::key) {
            return true;
        }
        const auto& k = parsed.get_ref<const std::string&>();
        if (depth == 1) {
            m_top = k;
            return k == "features" || k == "properties" || k == "detail";
        }
        if (m_top == "detail") {
            return true;
        }
        switch (depth) {
        case 2:
            return k == "links";
        case 3:
            return k == "geometry" || k == "properties";
        case 4:
            return k == "type" || k == "coordinates" || k == "title" || k == "startDate" ||
                   k == "productIdentifier" || k == "cloudCover" || k == "processingBaseline" ||
                   k == "collection" || k == "productType" || k == "rel" || k == "href";
        default:
            return true;
        }
    }

private:
    std::string m_top;
};

} // namespace

Page parse_page(std::string_view body, const std::string& card) {
    json doc;
    try {
        KeyFilter filter;
        doc = json::parse(body.begin(), body.end(), std::ref(filter));
    } catch (const json::parse_error& e) {
        throw ResponseFormatError("not valid JSON (byte " + std::to_string(e.byte) + ")");
    }
    if (!doc.is_object()) {
        throw ResponseFormatError("not a JSON object");
    }
    auto features = doc.find("features");
    if (features == doc.end() || !features->is_array()) {
        std::string detail;
        if (auto d = doc.find("detail"); d != doc.end()) {
            detail = ": " + d->dump().substr(0, 200); // resto reports errors in "detail"
        }
        throw ResponseFormatError("no 'features' array" + detail);
    }
    Page page;
    page.feature_count = features->size();
    page.records.reserve(features->size());
    for (size_t i = 0; i < features->size(); ++i) {
        std::string title;
        try {
            page.records.push_back(parse_feature((*features)[i], card, title, page.warnings));
        } catch (const FeatureError& e) {
            page.bad.push_back({i, title, e.reason});
        } catch (const json::exception& e) {
            page.bad.push_back({i, title, e.what()});
        }
    }
    page.next_url = next_link(doc);
    return page;
}

} // namespace baims::catalog
