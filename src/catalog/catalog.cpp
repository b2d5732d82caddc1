#include "baims/catalog/catalog.hpp"

#include "baims/catalog/baseline.hpp"
#include "baims/core/error.hpp"
#include "baims/core/interrupt.hpp"
#include "baims/core/log.hpp"
#include "baims/core/text.hpp"
#include "baims/db/connection.hpp"
#include "baims/db/schema.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>
#include <unordered_set>

namespace baims::catalog {

namespace {

const std::vector<std::pair<std::string, std::vector<std::string>>> CARD_TYPES{
    {"s2", {"S2MSI2A", "S2MSI1C"}},
    {"bs", {"CARD-BS"}},
    {"c6", {"CARD-COH6"}},
    {"c12", {"CARD-COH12"}}};

[[noreturn]] void bad_choice(const std::string& what, const std::string& value,
                             const std::vector<std::string>& allowed) {
    std::string msg = what + " '" + value + "' is not one of " + text::join(allowed, ", ");
    std::string guess = text::did_you_mean(value, allowed);
    if (!guess.empty()) {
        msg += " (did you mean '" + guess + "'?)";
    }
    throw UsageError(msg, "Run 'baims catalog --help' for the values");
}

void sleep_interruptible(std::chrono::milliseconds d) {
    const auto until = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < until) {
        check_interrupted();
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            until - std::chrono::steady_clock::now());
        std::this_thread::sleep_for(std::min(left, std::chrono::milliseconds(50)));
    }
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw InputError("cannot open catalogue response '" + path + "'",
                         "Check the --from-file path");
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

TimeRange range_of(const CatalogRequest& r) {
    return TimeRange{*parse_date(r.start), *parse_date(r.end)};
}

// Collects records from pages: skips bad features (logged), keeps each reference once.
class Collector {
public:
    explicit Collector(CatalogResult& result)
        : m_result(result) {}

    void add(Page&& page, const std::string& source) {
        ++m_result.pages;
        m_result.features += page.feature_count;
        for (const auto& w : page.warnings) {
            log::warn(w);
        }
        for (const auto& b : page.bad) {
            ++m_result.bad;
            log::warn("skipping feature " + std::to_string(b.index) +
                      (b.title.empty() ? "" : " (" + b.title + ")") + " of " + source + ": " +
                      b.reason);
        }
        for (auto& r : page.records) {
            if (m_seen.insert(r.reference).second) {
                m_records.push_back(std::move(r));
            } else {
                ++m_result.duplicates;
            }
        }
    }

    std::vector<SceneRecord> take() { return std::move(m_records); }

private:
    CatalogResult& m_result;
    std::unordered_set<std::string> m_seen;
    std::vector<SceneRecord> m_records;
};

} // namespace

std::string card_column_value(const std::string& card) {
    return card == "c12" ? "c1" : card;
}

void validate(const CatalogRequest& r) {
    std::vector<std::string> cards;
    std::vector<std::string> types;
    const std::vector<std::string>* allowed_types = nullptr;
    for (const auto& [card, ptypes] : CARD_TYPES) {
        cards.push_back(card);
        types.insert(types.end(), ptypes.begin(), ptypes.end());
        if (card == r.card) {
            allowed_types = &ptypes;
        }
    }
    if (!allowed_types) {
        bad_choice("CARD", r.card, cards);
    }
    if (std::find(types.begin(), types.end(), r.product_type) == types.end()) {
        bad_choice("PTYPE", r.product_type, types);
    }
    if (std::find(allowed_types->begin(), allowed_types->end(), r.product_type) ==
        allowed_types->end()) {
        throw UsageError("PTYPE " + r.product_type + " does not go with CARD " + r.card +
                         "; expected " + text::join(*allowed_types, " or "));
    }
    auto start = parse_date(r.start);
    auto end = parse_date(r.end);
    if (!start) {
        throw UsageError("START '" + r.start + "' is not a date (YYYY-MM-DD)",
                         "Give the first day, e.g. 2021-06-01");
    }
    if (!end) {
        throw UsageError("END '" + r.end + "' is not a date (YYYY-MM-DD)",
                         "Give the day after the last day wanted, e.g. 2021-07-01");
    }
    if (*end <= *start) {
        throw UsageError("END " + r.end + " is not after START " + r.start,
                         "END is exclusive: use the day after the last day wanted");
    }
    if (r.aoi.empty()) {
        throw UsageError("AOI is empty", "Give the name of the area of interest (aois table)");
    }
    if (!text::is_utf8(r.aoi)) {
        throw UsageError("AOI '" + text::valid_utf8(r.aoi) +
                             "' is not UTF-8 text (the database's encoding)",
                         "Give the AOI name in UTF-8");
    }
    if (r.max_records < 1) {
        throw UsageError("--max-records must be at least 1", "Use the default, 1000");
    }
    if (r.offset_limit < r.max_records) {
        throw UsageError("--offset-limit " + std::to_string(r.offset_limit) +
                             " is smaller than --max-records " + std::to_string(r.max_records),
                         "Give an --offset-limit of at least --max-records");
    }
    if (r.retry.retries < 0) {
        throw UsageError("--retries must be at least 0", "Use 0 for one attempt only");
    }
    if (r.from_files.empty() && !text::starts_with(r.base_url, "http://") &&
        !text::starts_with(r.base_url, "https://")) {
        throw UsageError("--base-url '" + r.base_url + "' is not an http:// or https:// URL",
                         "Give e.g. --base-url https://catalogue.dataspace.copernicus.eu");
    }
}

CatalogResult run_catalog(const CatalogRequest& request, const db::ConnectionSettings& settings,
                          const Fetcher& fetch) {
    validate(request);
    CatalogResult result;
    result.range = range_of(request);
    result.dry_run = request.dry_run;
    const std::string card_value = card_column_value(request.card);
    if (card_value != request.card) {
        log::info("card " + request.card + " is stored as '" + card_value +
                  "' (dias_catalogue.card is char(2))");
    }
    Collector collector(result);

    // Saved responses are read before anything else: a broken file stops the run early. They are
    // parsed on up to request.threads threads (JSON parsing is most of the work); the results
    // are taken in the order of the files.
    const size_t workers = std::max<size_t>(1, static_cast<size_t>(request.threads));
    for (size_t first = 0; first < request.from_files.size(); first += workers) {
        check_interrupted();
        const size_t last = std::min(request.from_files.size(), first + workers);
        std::vector<std::future<Page>> parsed;
        for (size_t i = first; i < last; ++i) {
            parsed.push_back(std::async(std::launch::async, [&file = request.from_files[i],
                                                             &card_value] {
                try {
                    return parse_page(read_file(file), card_value);
                } catch (const ResponseFormatError& e) {
                    throw InputError("cannot read catalogue response '" + file + "': " + e.what(),
                                     "Give a search.json saved from the catalogue's OpenSearch "
                                     "answer (a GeoJSON FeatureCollection)");
                }
            }));
        }
        for (size_t i = first; i < last; ++i) {
            Page page = parsed[i - first].get();
            const auto& file = request.from_files[i];
            if (page.next_url) {
                log::info(file +
                          " has a next page that is not read (--from-file reads files only)");
            }
            collector.add(std::move(page), file);
        }
    }

    result.aoi_field = !request.aoi_field.empty()         ? request.aoi_field
                       : settings.args.count("aoi_field") ? settings.args.at("aoi_field")
                                                          : "name";
    const db::TableNames& tables = settings.tables;
    db::Connection conn(settings);
    log::debug("connected to " + conn.describe());
    if (request.create_tables && !request.dry_run) {
        for (const auto& t : db::create_tables(conn, tables)) {
            log::info("created table " + t);
        }
    }
    if (!db::table_exists(conn, tables.catalog)) {
        if (request.dry_run && request.create_tables) {
            log::info("dry run: the catalogue table " + tables.catalog.display() +
                      " does not exist and would be created; nothing written");
            result.records = collector.take().size();
            return result;
        }
        throw DatabaseError("catalogue table " + tables.catalog.display() + " does not exist",
                            "Create it with --create-tables, or set catalog_table in db_config");
    }
    if (!request.dry_run) {
        ensure_extra_table(conn, tables);
    }
    const std::string wkt = load_aoi_wkt(conn, tables.aoi, result.aoi_field, request.aoi);

    std::vector<SceneRecord> records = collector.take();
    if (!request.from_files.empty()) {
        // Saved responses hold whatever was asked when they were saved: keep what this query
        // would return (collection, product type, dates, then the AOI in the database).
        const std::size_t read = records.size();
        records = filter_records(std::move(records), request.card, request.product_type,
                                 result.range, result.dropped);
        auto inside = intersects_aoi(conn, tables.aoi, result.aoi_field, request.aoi, records);
        std::vector<SceneRecord> kept;
        kept.reserve(records.size());
        for (std::size_t i = 0; i < records.size(); ++i) {
            if (inside[i]) {
                kept.push_back(std::move(records[i]));
            } else {
                ++result.dropped.aoi;
            }
        }
        records = std::move(kept);
        if (result.dropped.total() > 0) {
            log::warn(describe_drops(result.dropped, read, request.card, request.product_type,
                                     request.aoi));
        }
    }

    if (request.from_files.empty()) {
        SearchParams params;
        params.base_url = request.base_url;
        params.collection = collection_for_card(request.card);
        params.geometry_wkt = wkt;
        params.product_type = request.product_type;
        params.max_records = request.max_records;
        params.offset_limit = request.offset_limit;
        if (request.dry_run) {
            log::info("dry run: would query " + build_search_url(params, result.range));
        } else {
            Fetcher f = fetch ? fetch : http_fetcher(request.http);
            auto stats = search_all(
                f, params, result.range, card_value, request.retry, &sleep_interruptible,
                [&](Page&& p, const std::string& url) { collector.add(std::move(p), url); });
            result.requests = static_cast<std::uint64_t>(stats.requests);
            result.splits = static_cast<std::uint64_t>(stats.splits);
        }
    }

    for (auto& r : collector.take()) { // live query pages
        records.push_back(std::move(r));
    }
    if (request.baseline_latest) {
        const size_t before = records.size();
        records = keep_latest_baseline(std::move(records));
        result.superseded = before - records.size();
    }
    result.records = records.size();
    log::info(std::to_string(result.features) + " features on " + std::to_string(result.pages) +
              (request.from_files.empty() ? " pages" : " files") + ": " +
              std::to_string(result.records) + " records, " + std::to_string(result.bad) +
              " skipped, " + std::to_string(result.duplicates) + " duplicates, " +
              std::to_string(result.superseded) + " older baselines" +
              (request.from_files.empty()
                   ? std::string()
                   : ", " + std::to_string(result.dropped.total()) + " dropped by the filters"));

    check_interrupted();
    if (request.dry_run) {
        log::info("dry run: nothing written");
    } else if (!records.empty()) {
        InsertCounts counts = insert_records(conn, tables, records);
        result.inserted = counts.inserted;
        result.existing = counts.existing;
        log::info("inserted " + std::to_string(counts.inserted) + " new rows into " +
                  tables.catalog.display() + "; " + std::to_string(counts.existing) +
                  " were already there");
    }
    result.summary = summarize(conn, tables, result.aoi_field, request.aoi, result.range);
    return result;
}

std::string format_summary_table(const std::vector<SummaryRow>& rows) {
    std::vector<std::array<std::string, 5>> cells{{"card", "sensor", "count", "min", "max"}};
    for (const auto& r : rows) {
        cells.push_back({r.card, r.sensor, std::to_string(r.count), r.min, r.max});
    }
    std::array<size_t, 5> width{};
    for (const auto& row : cells) {
        for (size_t i = 0; i < row.size(); ++i) {
            width[i] = std::max(width[i], row[i].size());
        }
    }
    std::string out;
    for (const auto& row : cells) {
        std::string line;
        for (size_t i = 0; i < row.size(); ++i) {
            if (i) {
                line += "  ";
            }
            const bool right = i == 2; // numbers right-aligned
            const std::string pad(width[i] - row[i].size(), ' ');
            line += right ? pad + row[i] : row[i] + pad;
        }
        while (!line.empty() && line.back() == ' ') {
            line.pop_back();
        }
        out += line + '\n';
    }
    return out;
}

std::string format_summary_json(const CatalogRequest& request, const CatalogResult& result) {
    nlohmann::ordered_json j;
    j["aoi"] = request.aoi;
    j["start"] = request.start;
    j["end"] = request.end;
    j["card"] = request.card;
    j["product_type"] = request.product_type;
    j["source"] = request.from_files.empty() ? request.base_url : "files";
    j["dry_run"] = result.dry_run;
    j["pages"] = result.pages;
    j["requests"] = result.requests;
    j["splits"] = result.splits;
    j["features"] = result.features;
    j["skipped"] = result.bad;
    j["duplicates"] = result.duplicates;
    j["superseded"] = result.superseded;
    j["dropped"] = {{"collection", result.dropped.collection},
                    {"product_type", result.dropped.product_type},
                    {"dates", result.dropped.dates},
                    {"aoi", result.dropped.aoi}};
    j["records"] = result.records;
    j["inserted"] = result.inserted;
    j["existing"] = result.existing;
    j["summary"] = nlohmann::ordered_json::array();
    for (const auto& r : result.summary) {
        nlohmann::ordered_json row;
        row["card"] = r.card;
        row["sensor"] = r.sensor;
        row["count"] = r.count;
        row["min"] = r.min;
        row["max"] = r.max;
        j["summary"].push_back(std::move(row));
    }
    return j.dump(2) + "\n";
}

} // namespace baims::catalog
