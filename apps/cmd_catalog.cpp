// baims catalog AOI START END CARD PTYPE: import the Sentinel catalogue for an AOI (SPEC 8,
// docs/cli/catalog.md). Parses the options and calls catalog::run_catalog.

#include "common.hpp"
#include "db_options.hpp"

#include "baims/catalog/catalog.hpp"
#include "baims/config/document.hpp"
#include "baims/core/error.hpp"
#include "baims/core/log.hpp"

#include <iostream>

namespace baims::app {
namespace {

struct CatalogOptions {
    std::string aoi;
    std::string start;
    std::string end;
    std::string card;
    std::string product_type;
    std::string aoi_field;
    std::string base_url = catalog::DEFAULT_BASE_URL;
    int max_records = 1000;
    long offset_limit = 10000;
    int retries = 5;
    long retry_delay_ms = 1000;
    long timeout_s = 300;
    std::vector<std::string> from_files;
    std::string baseline = "all";
    std::string format = "table";
    DbOptions db;
};

catalog::CatalogRequest make_request(const CatalogOptions& o, const GlobalOptions& g) {
    catalog::CatalogRequest r;
    r.aoi = o.aoi;
    r.start = o.start;
    r.end = o.end;
    r.card = o.card;
    r.product_type = o.product_type;
    r.aoi_field = o.aoi_field;
    r.base_url = o.base_url;
    r.max_records = o.max_records;
    r.offset_limit = o.offset_limit;
    r.retry.retries = o.retries;
    r.retry.base_delay = std::chrono::milliseconds(o.retry_delay_ms);
    r.http.timeout_seconds = o.timeout_s;
    r.from_files = o.from_files;
    r.baseline_latest = o.baseline == "latest";
    r.create_tables = o.db.create_tables;
    r.dry_run = g.dry_run;
    r.threads = thread_count(g);
    catalog::validate(r);
    return r;
}

void print_config(const catalog::CatalogRequest& r, const CatalogOptions& o,
                  const db::ConnectionSettings& s) {
    YAML::Node n;
    n["aoi"] = r.aoi;
    n["start"] = r.start;
    n["end"] = r.end;
    n["card"] = r.card;
    n["product_type"] = r.product_type;
    n["aoi_field"] = r.aoi_field.empty() ? (s.args.count("aoi_field") ? s.args.at("aoi_field")
                                                                      : std::string("name"))
                                         : r.aoi_field;
    n["base_url"] = r.base_url;
    n["max_records"] = r.max_records;
    n["offset_limit"] = r.offset_limit;
    n["retries"] = r.retry.retries;
    n["retry_delay_ms"] = static_cast<long>(r.retry.base_delay.count());
    n["timeout_s"] = r.http.timeout_seconds;
    for (const auto& f : r.from_files) {
        n["from_file"].push_back(f);
    }
    n["baseline"] = o.baseline;
    n["format"] = o.format;
    n["create_tables"] = r.create_tables;
    n["database"]["connection"] = s.describe(); // never the password
    n["database"]["from"] = s.origin();
    n["database"]["aoi_table"] = s.tables.aoi.display();
    n["database"]["catalog_table"] = s.tables.catalog.display();
    n["database"]["catalogue_extra_table"] = s.tables.catalogue_extra.display();
    std::cout << config::to_yaml(n) << std::endl;
}

} // namespace

void register_catalog(CLI::App& app, Registry& registry, const std::optional<std::string>& word) {
    auto opts = std::make_shared<CatalogOptions>();
    auto* cmd = app.add_subcommand("catalog", "Import the Sentinel catalogue (CDSE OpenSearch) for "
                                              "an AOI into dias_catalogue");
    if (!builds(*cmd, word)) {
        registry.push_back({"catalog", cmd, {}});
        return;
    }
    cmd->add_option("AOI", opts->aoi, "Name of the area of interest in the aois table")->required();
    cmd->add_option("START", opts->start, "First day, YYYY-MM-DD (inclusive)")->required();
    cmd->add_option("END", opts->end, "End day, YYYY-MM-DD (exclusive, as JRC's cdse.py)")
        ->required();
    cmd->add_option("CARD", opts->card, "CARD type: s2, bs, c6 or c12")->required();
    cmd->add_option("PTYPE", opts->product_type,
                    "Product type: S2MSI2A or S2MSI1C (s2), CARD-BS (bs), CARD-COH6 (c6), "
                    "CARD-COH12 (c12)")
        ->required();
    cmd->add_option("--aoi-field", opts->aoi_field,
                    "Name column of the aois table (default: db_config args.aoi_field, else name)");
    cmd->add_option("--base-url", opts->base_url, "Catalogue service base URL")
        ->capture_default_str();
    cmd->add_option("--max-records", opts->max_records, "Records per page (maxRecords)")
        ->check(CLI::Range(1, 10000))
        ->capture_default_str();
    cmd->add_option("--offset-limit", opts->offset_limit,
                    "The service's limit for page × maxRecords; beyond it the date range is "
                    "split in two")
        ->check(CLI::Range(1L, 100000000L))
        ->capture_default_str();
    cmd->add_option("--retries", opts->retries,
                    "Retries per request on HTTP 429/5xx or network errors (0: one attempt only)")
        ->check(CLI::Range(0, 100))
        ->capture_default_str();
    cmd->add_option("--retry-delay", opts->retry_delay_ms,
                    "First backoff delay in milliseconds (doubles per retry, at most 60 s; "
                    "Retry-After wins)")
        ->check(CLI::Range(0L, 600000L))
        ->capture_default_str();
    cmd->add_option("--timeout", opts->timeout_s, "Timeout per HTTP request, seconds")
        ->check(CLI::Range(1L, 3600L))
        ->capture_default_str();
    cmd->add_option("--from-file", opts->from_files,
                    "Import saved search.json responses instead of querying (one or more files)")
        ->expected(1, -1);
    cmd->add_option("--baseline", opts->baseline,
                    "all: keep every product; latest: only the newest processing baseline per "
                    "datatake and tile")
        ->check(CLI::IsMember({"all", "latest"}))
        ->capture_default_str();
    cmd->add_option("--format", opts->format,
                    "Summary on stdout: table (JRC: card sensor count min max) or json")
        ->check(CLI::IsMember({"table", "json"}))
        ->capture_default_str();
    add_db_options(*cmd, opts->db);

    registry.push_back({"catalog", cmd, [opts](const GlobalOptions& g) {
                            catalog::CatalogRequest request = make_request(*opts, g);
                            db::ConnectionSettings settings = db_settings(opts->db);
                            if (g.print_config) {
                                print_config(request, *opts, settings);
                                return 0;
                            }
                            auto result = catalog::run_catalog(request, settings);
                            if (opts->format == "json") {
                                std::cout << catalog::format_summary_json(request, result);
                            } else {
                                std::cout << catalog::format_summary_table(result.summary);
                            }
                            std::cout.flush();
                            if (result.bad > 0) {
                                log::warn(std::to_string(result.bad) +
                                          " features were skipped (see above); the others "
                                          "were imported");
                                return static_cast<int>(EXIT_PARTIAL);
                            }
                            return 0;
                        }});
}

} // namespace baims::app
