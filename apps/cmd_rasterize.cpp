// baims rasterize: parcel masks per UTM zone and resolution (SPEC 9, docs/cli/rasterize.md).
// Parses the options and calls parcels::rasterize_parcels.

#include "common.hpp"
#include "config_file.hpp"
#include "db_options.hpp"

#include "baims/core/error.hpp"
#include "baims/parcels/rasterize.hpp"

#include <iostream>

namespace baims::app {
namespace {

struct RasterizeOptions {
    std::string config; // -c: YAML of these options
    std::string aoi;
    std::string aoi_field;
    std::vector<int> epsg;
    std::vector<int> res{10, 20};
    bool all_touched = false;
    bool only_new = false;
    bool all_parcels = false;
    std::string parcel_table;
    std::string pid_column = "ogc_fid";
    std::string geometry_column;
    DbOptions db;
};

parcels::RasterizeRequest make_request(const RasterizeOptions& o, const GlobalOptions& g) {
    parcels::RasterizeRequest r;
    r.aoi = o.aoi;
    r.all_parcels = o.all_parcels;
    r.threads = thread_count(g);
    r.aoi_field = o.aoi_field;
    r.epsg = o.epsg;
    r.res = o.res;
    r.all_touched = o.all_touched;
    r.only_new = o.only_new;
    if (!o.parcel_table.empty()) {
        try {
            r.parcels = db::QualifiedName::parse(o.parcel_table, "--parcel-table");
        } catch (const ConfigError& e) {
            throw UsageError(e.what(), e.hint());
        }
    }
    r.pid_column = o.pid_column;
    r.geometry_column = o.geometry_column;
    r.create_extension = o.db.create_tables;
    r.dry_run = g.dry_run;
    return r;
}

void print_config(const parcels::RasterizeRequest& r, const db::ConnectionSettings& s) {
    YAML::Node n;
    n["aoi"] = r.aoi;
    for (int e : r.epsg)
        n["epsg"].push_back(e);
    for (int v : r.res)
        n["res"].push_back(v);
    n["all_touched"] = r.all_touched;
    n["only_new"] = r.only_new;
    n["all_parcels"] = r.all_parcels;
    n["parcel_table"] = r.parcels ? r.parcels->display() : s.tables.parcel.display();
    n["pid_column"] = r.pid_column;
    n["geometry_column"] = r.geometry_column.empty() ? "auto" : r.geometry_column;
    n["database"]["connection"] = s.describe(); // never the password
    n["database"]["from"] = s.origin();
    std::cout << config::to_yaml(n) << std::endl;
}

} // namespace

void register_rasterize(CLI::App& app, Registry& registry, const std::optional<std::string>& word) {
    auto opts = std::make_shared<RasterizeOptions>();
    auto* cmd =
        app.add_subcommand("rasterize", "Parcel masks on the Sentinel-2 grid of each UTM zone and "
                                        "resolution, into <parcel_table>_<EPSG>_<res>_rast tables");
    if (!builds(*cmd, word)) {
        registry.push_back({"rasterize", cmd, {}});
        return;
    }
    cmd->add_option("AOI", opts->aoi,
                    "Area of interest (aois table); its catalogue entries give the UTM zones "
                    "when --epsg is not given (required, here or as aoi: in the -c file)");
    cmd->add_option("--epsg", opts->epsg, "UTM zone EPSG codes, e.g. --epsg 32632 32633")
        ->check(CLI::Range(1024, 999999));
    cmd->add_option("--res", opts->res, "Resolutions in metres")->capture_default_str();
    cmd->add_flag("--all-touched", opts->all_touched,
                  "Select every pixel the parcel overlaps, not only pixels whose centre is inside");
    cmd->add_flag("--only-new", opts->only_new,
                  "Only add masks for parcels that have none; keep the existing masks");
    cmd->add_flag("--all-parcels", opts->all_parcels,
                  "Every parcel of the table (default: only parcels in the AOI's extent)");
    cmd->add_option("--parcel-table", opts->parcel_table,
                    "Parcel table (default: tables.parcel_table of --db-config)");
    cmd->add_option("--pid-column", opts->pid_column,
                    "Integer parcel id column of the parcel table (becomes pid)")
        ->capture_default_str();
    cmd->add_option(
        "--geometry-column", opts->geometry_column,
        "Geometry column (default: from geometry_columns; wkb_geometry, then geometry)");
    cmd->add_option("--aoi-field", opts->aoi_field,
                    "Name column of the aois table (default: db_config args.aoi_field, else name)");
    add_db_options(*cmd, opts->db);
    cmd->add_option("-c,--config", opts->config,
                    "YAML file of these options (keys: aoi and the long names without --); the "
                    "command line wins")
        ->check(CLI::ExistingFile);

    registry.push_back({"rasterize", cmd, [opts, cmd](const GlobalOptions& g) {
                            if (!opts->config.empty()) {
                                apply_config_file(*cmd, opts->config, {{"aoi", "AOI"}});
                            }
                            if (opts->aoi.empty()) {
                                throw UsageError("AOI is required",
                                                 "Give it as the first argument or as aoi: in "
                                                 "the -c file. Run 'baims rasterize --help' for "
                                                 "usage");
                            }
                            parcels::RasterizeRequest request = make_request(*opts, g);
                            db::ConnectionSettings settings = db_settings(opts->db);
                            if (g.print_config) {
                                print_config(request, settings);
                                return 0;
                            }
                            auto s = parcels::rasterize_parcels(request, settings);
                            return s.failed > 0 ? static_cast<int>(EXIT_PARTIAL) : 0;
                        }});
}

} // namespace baims::app
