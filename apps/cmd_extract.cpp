// baims extract: per-parcel statistics (SPEC 10, docs/cli/extract.md). File mode (--raster):
// parses the options and calls parcels::extract_file.

#include "common.hpp"
#include "config_file.hpp"
#include "db_options.hpp"

#include "baims/core/error.hpp"
#include "baims/core/log.hpp"
#include "baims/io/gdal.hpp"
#include "baims/parcels/compare_jrc.hpp"
#include "baims/parcels/extract.hpp"

#include <iostream>

namespace baims::app {
namespace {

struct ExtractOptions {
    std::string config; // -c: YAML of these options
    std::vector<std::string> rasters;
    std::string parcels;
    std::string layer;
    std::string a_srs;
    std::string id_field;
    std::vector<std::string> bands;
    bool hist = false;
    bool all_touched = false;
    bool zero_is_nodata = false;
    std::string output;
    std::string format;
    // database mode
    DbOptions db;
    std::string card = "s2";
    std::vector<std::string> passes; // empty: every pass of --card
    std::vector<std::string> bands_20;
    int workers = 1;
    std::string eodata = "/eodata";
    std::int64_t limit = 0;
    std::int64_t obsid = 0;
    std::vector<std::string> rerun_status;
    int lease = 600;
    std::string values;
    std::string selection;
    std::string compare; // "jrc": --compare jrc
    std::string compare_table;
    double threshold = 1.0;
};

int run_compare(const ExtractOptions& o, const GlobalOptions& g) {
    parcels::CompareJrcRequest r;
    for (const auto& p : o.passes) {
        if (p != "scl") {
            r.passes.push_back(p);
        }
    }
    r.passes = r.passes.empty() ? std::vector<std::string>{"10", "20"} : r.passes;
    if (!o.bands_20.empty()) {
        r.bands_20 = o.bands_20;
    }
    r.eodata = o.eodata;
    r.card = o.card;
    r.obsid = o.obsid;
    r.limit = o.limit;
    r.threshold_pct = o.threshold;
    r.output = o.output;
    r.table = o.compare_table;
    r.threads = thread_count(g);
    auto s = parcels::compare_jrc(r, db_settings(o.db));
    std::cout << parcels::format_summary(s, o.threshold) << std::endl;
    for (const auto& f : s.failures) {
        log::warn("extract: compare: failed: " + f);
    }
    return s.failures.empty() ? 0 : EXIT_PARTIAL;
}

int run_db_mode(const ExtractOptions& o, const GlobalOptions& g) {
    parcels::DbExtractRequest r;
    r.card = o.card;
    r.passes = o.passes;
    if (!o.bands_20.empty()) {
        r.bands_20 = o.bands_20;
    }
    r.workers = o.workers;
    r.threads = std::max(1, thread_count(g) / std::max(1, o.workers));
    r.eodata = o.eodata;
    while (r.eodata.size() > 1 && r.eodata.back() == '/') {
        r.eodata.pop_back();
    }
    r.limit = o.limit;
    r.obsid = o.obsid;
    r.rerun_status = o.rerun_status;
    r.lease_seconds = o.lease;
    r.values = o.values;
    r.selection = o.selection;
    r.create_tables = o.db.create_tables;
    r.dry_run = g.dry_run;
    auto s = parcels::extract_db(r, db_settings(o.db));
    log::info(parcels::format_summary(s));
    for (const auto& f : s.failures) {
        log::warn("extract: failed: " + f);
    }
    return s.failed ? EXIT_PARTIAL : 0;
}

int run_file_mode(const ExtractOptions& o, const GlobalOptions& g) {
    if (o.parcels.empty()) {
        throw UsageError("--raster needs --parcels", "Give the polygons with --parcels SOURCE");
    }
    if (o.output.empty()) {
        throw UsageError("--raster needs -o", "Give the output with -o FILE");
    }
    parcels::FileExtractRequest r;
    r.rasters = o.rasters;
    r.parcels = o.parcels;
    r.layer = o.layer;
    r.a_srs = o.a_srs;
    r.id_field = o.id_field;
    r.bands = o.bands;
    r.hist = o.hist;
    r.all_touched = o.all_touched;
    r.zero_is_nodata = o.zero_is_nodata;
    r.output = o.output;
    r.format = o.format;
    r.threads = thread_count(g);
    r.dry_run = g.dry_run;
    auto s = parcels::extract_file(r);
    log::info("extract: " + std::to_string(s.parcels) + " parcels, " +
              std::to_string(s.empty_parcels) + " without a valid pixel, " +
              std::to_string(s.rows) + " rows" + (g.dry_run ? " (dry run, nothing written)" : ""));
    if (!g.dry_run && s.parcels > 0 && s.empty_parcels == s.parcels) {
        log::warn("extract: none of the " + std::to_string(s.parcels) +
                  " parcels has a valid pixel in the rasters: the output has no rows. Check "
                  "that they overlap (the CRS of the parcels and the rasters, --bands, nodata)");
    }
    return 0;
}

} // namespace

void register_extract(CLI::App& app, Registry& registry, const std::optional<std::string>& word) {
    auto o = std::make_shared<ExtractOptions>();
    auto* cmd = app.add_subcommand(
        "extract", "Per-parcel, per-band statistics (count, mean, std, min, max, p25, p50, p75) "
                   "and class histograms of rasters");
    if (!builds(*cmd, word)) {
        registry.push_back({"extract", cmd, {}});
        return;
    }
    cmd->add_option("--raster", o->rasters,
                    "File mode: raster(s) to extract from (any GDAL raster, e.g. "
                    "NETCDF:\"f.nc\":var)")
        ->allow_extra_args(true);
    cmd->add_option("--parcels", o->parcels, "File mode: parcel polygons (any OGR source)");
    cmd->add_option("--layer", o->layer, "File mode: layer of --parcels (when it has several)");
    cmd->add_option("--a-srs", o->a_srs,
                    "File mode: CRS of rasters that have none (e.g. EPSG:4326 for a lon/lat "
                    "NetCDF)");
    cmd->add_option("--id-field", o->id_field,
                    "File mode: field identifying a parcel (default: the feature id, as column "
                    "pid)");
    cmd->add_option("--bands", o->bands,
                    "File mode: bands by 1-based number or name, comma-separated (default: all)")
        ->delimiter(',')
        ->allow_extra_args(false);
    cmd->add_flag("--hist", o->hist,
                  "File mode: class counts per parcel (integer bands) as JSON instead of "
                  "statistics");
    cmd->add_flag("--all-touched", o->all_touched,
                  "File mode: select every pixel a parcel touches (default: pixel centre in "
                  "parcel)");
    cmd->add_flag("--zero-is-nodata", o->zero_is_nodata,
                  "File mode: 0 is no data too (Sentinel-2 L2A DN)");
    cmd->add_option("-o,--output", o->output,
                    "File mode: output (CSV by default; .gpkg → GPKG), written under a temporary "
                    "name and renamed when complete");
    cmd->add_option("--format", o->format,
                    "File mode: OGR driver of the output (CSV, GPKG, GeoJSON, PostgreSQL, …)");
    cmd->add_option("--values", o->values,
                    "Database mode: dn (stored DN) or harmonized (minus the L2A BOA offset of "
                    "baselines >= 04.00); default: db_config args.values, else dn")
        ->check(CLI::IsMember({"dn", "harmonized"}));
    cmd->add_option("--selection", o->selection,
                    "Database mode: exact (pixel centre in parcel, on the image grid) or jrc "
                    "(the JRC extractor's pixels and statistics bit for bit, on its ST_AsRaster "
                    "masks; docs/jrc-compat.md); default: db_config args.selection, else exact")
        ->check(CLI::IsMember({"exact", "jrc"}));
    cmd->add_option("--compare", o->compare,
                    "Database mode: jrc = per parcel and band, the JRC extractor's statistics and "
                    "the exact ones side by side (-o FILE.csv or --compare-table), plus a "
                    "summary; writes nothing to sigs/hists and claims nothing")
        ->check(CLI::IsMember({"jrc"}));
    cmd->add_option("--compare-table", o->compare_table,
                    "With --compare jrc: write the comparison into this table (replaced)");
    cmd->add_option("--threshold", o->threshold,
                    "With --compare jrc: the summary counts parcels whose count or mean change "
                    "by more than this many percent")
        ->capture_default_str();
    cmd->add_option("--card", o->card,
                    "Database mode: images of this card: s2 (Sentinel-2 L2A), bs (Sentinel-1 "
                    "CARD-BS) or c6 (Sentinel-1 CARD-COH6)")
        ->capture_default_str();
    cmd->add_option("--passes", o->passes,
                    "Database mode: passes, comma-separated: scl, 10, 20 (s2; default all three), "
                    "bs (bs), c6 (c6)")
        ->delimiter(',')
        ->allow_extra_args(false);
    cmd->add_option("--bands-20", o->bands_20,
                    "Database mode: bands of the 20 m pass (default B05,B06,B07,B8A,B11,B12)")
        ->delimiter(',')
        ->allow_extra_args(false);
    cmd->add_option("--workers", o->workers, "Database mode: images worked on at once")
        ->check(CLI::Range(1, 256))
        ->capture_default_str();
    cmd->add_option("--eodata", o->eodata,
                    "Database mode: where the /eodata tree is (local folder or /vsis3/bucket)")
        ->capture_default_str();
    cmd->add_option("--limit", o->limit, "Database mode: claim at most N images (0: all)");
    cmd->add_option("--obsid", o->obsid, "Database mode: only this dias_catalogue id");
    cmd->add_option("--rerun-status", o->rerun_status,
                    "Database mode: also claim images with these statuses, e.g. "
                    "'inprogress,Rio error'")
        ->delimiter(',')
        ->allow_extra_args(false);
    cmd->add_option("--lease", o->lease,
                    "Database mode: seconds a claim lasts without renewal (renewed every third)")
        ->check(CLI::Range(3, 86400))
        ->capture_default_str();
    add_db_options(*cmd, o->db);
    cmd->add_option("-c,--config", o->config,
                    "YAML file of these options (keys: the long names without --); the command "
                    "line wins")
        ->check(CLI::ExistingFile);
    registry.push_back({"extract", cmd, [o, cmd](const GlobalOptions& g) {
                            if (!o->config.empty()) {
                                apply_config_file(*cmd, o->config);
                            }
                            io::gdal::Session gdal;
                            if (!o->rasters.empty()) {
                                return run_file_mode(*o, g);
                            }
                            if (!o->compare.empty()) {
                                return run_compare(*o, g);
                            }
                            return run_db_mode(*o, g);
                        }});
}

} // namespace baims::app
