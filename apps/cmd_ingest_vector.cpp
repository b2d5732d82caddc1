// baims ingest-vector: one OGR layer into a PostGIS collection table (SPEC 7,
// docs/cli/ingest-vector.md). Parses the options and calls vector::ingest_vector.

#include "common.hpp"
#include "db_options.hpp"

#include "baims/config/document.hpp"
#include "baims/core/error.hpp"
#include "baims/vector/ingest_vector.hpp"

#include <iostream>

namespace baims::app {
namespace {

struct IngestVectorOptions {
    std::string source;
    std::string collection;
    std::string layer;
    std::string s_srs;
    std::string t_srs;
    std::vector<std::string> renames;
    std::vector<std::string> select;
    std::string where;
    std::string mode = "create";
    bool promote_to_multi = false;
    std::string invalid = "repair";
    std::string fid_column;
    std::string aoi;
    bool allow_empty = false;
    DbOptions db;
};

vector::IngestVectorRequest make_request(const IngestVectorOptions& o, const GlobalOptions& g) {
    vector::IngestVectorRequest r;
    r.reader.source = o.source;
    r.reader.layer = o.layer;
    r.reader.s_srs = o.s_srs;
    r.reader.t_srs = o.t_srs;
    for (const auto& rn : o.renames) {
        auto eq = rn.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == rn.size()) {
            throw UsageError("--rename '" + rn + "': expected old=new");
        }
        r.reader.renames.emplace_back(rn.substr(0, eq), rn.substr(eq + 1));
    }
    r.reader.select = o.select;
    r.reader.where = o.where;
    r.reader.promote_to_multi = o.promote_to_multi;
    r.reader.invalid = o.invalid == "skip"   ? vector::InvalidPolicy::Skip
                       : o.invalid == "fail" ? vector::InvalidPolicy::Fail
                                             : vector::InvalidPolicy::Repair;
    try {
        r.collection = db::QualifiedName::parse(o.collection, "--collection");
    } catch (const ConfigError& e) {
        throw UsageError(e.what(), e.hint());
    }
    r.mode = o.mode == "append"    ? vector::IngestMode::Append
             : o.mode == "replace" ? vector::IngestMode::Replace
                                   : vector::IngestMode::Create;
    r.fid_column = o.fid_column;
    r.aoi = o.aoi;
    r.create_tables = o.db.create_tables;
    r.allow_empty = o.allow_empty;
    r.dry_run = g.dry_run;
    return r;
}

void print_config(const vector::IngestVectorRequest& r, const db::ConnectionSettings& s) {
    YAML::Node n;
    n["source"] = r.reader.source;
    n["layer"] = r.reader.layer;
    n["collection"] = r.collection.display();
    n["mode"] = vector::to_string(r.mode);
    n["s_srs"] = r.reader.s_srs;
    n["t_srs"] = r.reader.t_srs;
    for (const auto& [from, to] : r.reader.renames) {
        n["rename"][from] = to;
    }
    for (const auto& f : r.reader.select) {
        n["select"].push_back(f);
    }
    n["where"] = r.reader.where;
    n["promote_to_multi"] = r.reader.promote_to_multi;
    n["invalid"] = r.reader.invalid == vector::InvalidPolicy::Skip   ? "skip"
                   : r.reader.invalid == vector::InvalidPolicy::Fail ? "fail"
                                                                     : "repair";
    n["fid_column"] = r.fid_column;
    n["aoi"] = r.aoi;
    n["create_tables"] = r.create_tables;
    n["allow_empty"] = r.allow_empty;
    n["database"]["connection"] = s.describe(); // never the password
    n["database"]["from"] = s.origin();
    n["database"]["aoi_table"] = s.tables.aoi.display();
    std::cout << config::to_yaml(n) << std::endl;
}

} // namespace

void register_ingest_vector(CLI::App& app, Registry& registry,
                            const std::optional<std::string>& word) {
    auto opts = std::make_shared<IngestVectorOptions>();
    auto* cmd = app.add_subcommand("ingest-vector",
                                   "Load a vector data set (any OGR source) into a PostGIS "
                                   "collection table");
    if (!builds(*cmd, word)) {
        registry.push_back({"ingest-vector", cmd, {}});
        return;
    }
    cmd->add_option("SRC", opts->source,
                    "Input data set: Shapefile, GeoPackage, GeoJSON, FlatGeobuf, /vsizip/…")
        ->required();
    cmd->add_option("--collection", opts->collection,
                    "Target table, optionally schema-qualified (public.parcels_2021)")
        ->required();
    cmd->add_option("--layer", opts->layer, "Layer to load (required when SRC has several)");
    cmd->add_option("--s-srs", opts->s_srs,
                    "CRS of the source coordinates, e.g. EPSG:25832: overrides the layer's, and "
                    "is required when it has none (a shapefile without .prj)");
    cmd->add_option("--t-srs", opts->t_srs,
                    "Reproject to this CRS, e.g. EPSG:4326 (default: keep the source CRS)");
    cmd->add_option("--rename", opts->renames, "Rename a field: old=new (repeatable)")
        ->allow_extra_args(false);
    cmd->add_option("--select", opts->select, "Fields to load, comma-separated (default: all)")
        ->delimiter(',')
        ->allow_extra_args(false);
    cmd->add_option(
        "--where", opts->where,
        "OGR attribute filter on the source, e.g. \"AREA > 0.1\" (not sent to the database)");
    cmd->add_option("--mode", opts->mode,
                    "create: fail if the table exists; append: add rows; replace: load a new "
                    "table and swap it in atomically")
        ->check(CLI::IsMember({"create", "append", "replace"}))
        ->capture_default_str();
    cmd->add_flag("--promote-to-multi", opts->promote_to_multi,
                  "Store Point/LineString/Polygon as their Multi types");
    cmd->add_option("--invalid", opts->invalid,
                    "Invalid geometries: repair (MakeValid), skip, or fail")
        ->check(CLI::IsMember({"repair", "skip", "fail"}))
        ->capture_default_str();
    cmd->add_option("--fid-column", opts->fid_column,
                    "Keep the source FID in this integer column (unique), e.g. ogc_fid; it becomes "
                    "sigs.pid for parcel sets");
    cmd->add_flag("--allow-empty", opts->allow_empty,
                  "Let --mode replace turn a table with rows into an empty one (refused "
                  "otherwise)");
    cmd->add_option("--aoi", opts->aoi,
                    "Also write this row of the aoi table (name, extent in EPSG:4326)");
    add_db_options(*cmd, opts->db);

    registry.push_back({"ingest-vector", cmd, [opts](const GlobalOptions& g) {
                            vector::IngestVectorRequest request = make_request(*opts, g);
                            db::ConnectionSettings settings = db_settings(opts->db);
                            if (g.print_config) {
                                print_config(request, settings);
                                return 0;
                            }
                            vector::ingest_vector(request, settings);
                            return 0;
                        }});
}

} // namespace baims::app
