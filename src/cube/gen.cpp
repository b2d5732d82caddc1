// baims gen: plan (inputs -> time slices -> positions in the cube; gen_plan), compute each slice
// (read, resample, chunk, compress; gen_compute) with reading of the next slice overlapped, then
// commit through the cube's commit protocol (commit.hpp; sinks in gen_write):
//  - a new cube is built in <path>.baims-new/ and renamed into place at the end;
//  - an existing cube is updated through a journal (see journal.hpp);
//  - on object storage (/vsis3/) the metadata-last protocol does both (commit_object.cpp).
// Global attributes: gen_attrs.

#include "baims/cube/gen.hpp"

#include "gen_attrs.hpp"
#include "gen_compute.hpp"
#include "gen_plan.hpp"
#include "gen_write.hpp"
#include "parallel.hpp"
#include "partition.hpp"
#include "remote_inputs.hpp"

#include "baims/core/error.hpp"
#include "baims/core/features.hpp"
#include "baims/core/huge_pages.hpp"
#include "baims/core/interrupt.hpp"
#include "baims/core/log.hpp"
#include "baims/core/progress.hpp"
#include "baims/core/text.hpp"
#include "baims/grid/time.hpp"

#include <algorithm>
#include <future>
#include <set>

namespace baims::cube {

using namespace gen;
namespace sfs = std::filesystem;

namespace {

// "EPSG:3035 (ETRS89-extended / LAEA Europe)", "EPSG:4326 (lat/lon)".
std::string crs_label(const std::optional<io::CubeCrs>& crs) {
    if (!crs) {
        return "EPSG:4326 (lat/lon)";
    }
    return crs->epsg.empty() ? "the CRS '" + crs->name + "'"
                             : "EPSG:" + crs->epsg + " (" + crs->name + ")";
}

// Whether slice s reads a swath (an input scanned without its 2-D lat/lon).
bool reads_swath(const gen::Slice& s, const std::vector<gen::InputInfo>& inputs) {
    return std::any_of(s.sources.begin(), s.sources.end(), [&](const gen::Source& src) {
        return io::shape_only(inputs[src.input].geometry);
    });
}

// "metres of EPSG:3035 (ETRS89-extended / LAEA Europe)": what a projected cube's x/y are in.
std::string crs_units_text(const io::CubeCrs& crs) {
    const std::string u = crs.units == "m"    ? "metres"
                          : crs.units == "km" ? "kilometres"
                          : crs.units == "ft" ? "feet"
                                              : crs.units;
    return u + " of " + crs_label(crs);
}

// The run's resampling maps onto grid g in the output CRS of c (messages name its units).
gen::MapCache map_cache(const grid::Grid& g, const GenConfig& c) {
    return gen::MapCache(g, c.crs ? c.crs->proj : std::string(),
                         c.crs ? crs_units_text(*c.crs) : std::string());
}

// The inputs of slices (each once, in order of first use).
std::vector<const gen::InputInfo*> slice_inputs(const std::vector<gen::Slice>& slices,
                                                const std::vector<gen::InputInfo>& inputs) {
    std::vector<const gen::InputInfo*> out;
    std::set<size_t> seen;
    for (const auto& s : slices) {
        for (const auto& src : s.sources) {
            if (seen.insert(src.input).second) {
                out.push_back(&inputs[src.input]);
            }
        }
    }
    return out;
}

// The error of a run whose slices to write all have no cell in the output region: writing them
// would give a cube, or time steps, with no data (an output_region in degrees for a projected
// output_crs, the wrong files): exit 4, nothing written. One input is named with where its cells
// lie (MapCache::where_text), several are named in the warnings above.
[[noreturn]] void all_outside(const std::vector<gen::Slice>& slices,
                              const std::vector<gen::InputInfo>& inputs,
                              const gen::MapCache& maps) {
    const auto in = slice_inputs(slices, inputs);
    const std::string where = " in the output region " + maps.region_text();
    std::string check = maps.check_region_text();
    check[0] = 'C';
    throw InputError(
        (in.size() == 1
             ? "input '" + in[0]->path + "'" + maps.where_text(*in[0]) + " has no cell" + where
             : "none of the " + std::to_string(in.size()) + " inputs to write has a cell" + where +
                   " (each is named above)") +
            ": nothing was written",
        check + (in.size() == 1 ? "" : "s"));
}

// --dry-run: the warning a run gives for an input with no cell in the output region
// (MapCache::no_cell_in_region), from its maps alone, and the run's error when every input of
// the slices to write has none (all_outside). Swaths are left out: their maps need their lat/lon
// read and walked, which is the run's work.
void warn_inputs_outside(const std::vector<gen::InputInfo>& inputs,
                         const std::vector<gen::Slice>& slices,
                         const std::vector<gen::OutVar>& vars, const grid::Grid& g,
                         const GenConfig& c, int threads) {
    gen::MapCache probe = map_cache(g, c);
    std::set<size_t> outside;
    for (size_t i = 0; i < inputs.size(); ++i) {
        const auto& in = inputs[i];
        if (in.failed || io::shape_only(in.geometry)) {
            continue;
        }
        bool mapped = false, used = false;
        for (const auto& v : vars) {
            try {
                used = used || !probe.window(in, i, v.resampling, std::max(threads, 1)).empty();
                mapped = true;
            } catch (const ConfigError&) {
                // a map that cannot be made: the run says so
            }
        }
        if (mapped && !used) {
            probe.no_cell_in_region(in, i);
            outside.insert(i);
        }
    }
    const bool all = !slices.empty() && std::all_of(slices.begin(), slices.end(), [&](auto& s) {
        return std::all_of(s.sources.begin(), s.sources.end(),
                           [&](auto& src) { return outside.count(src.input) > 0; });
    });
    if (all) {
        all_outside(slices, inputs, probe);
    }
}

} // namespace

int GenResult::exit_code() const {
    return failed.empty() ? EXIT_OK : EXIT_PARTIAL;
}

std::string GenResult::summary() const {
    std::string s;
    if (partitions > 0) {
        s = "wrote partition " + std::to_string(partition) + "/" + std::to_string(partitions) +
            (partition_of_update ? " of an update of the cube (" : " of a new cube (") +
            std::to_string(appended + inserted + replaced) +
            " slices); run baims gen --finalize once all " + std::to_string(partitions) +
            " partitions are done";
    } else if (up_to_date) {
        s = "cube is up to date (nothing changed)";
    } else {
        s = std::string(created ? "created cube: " : "updated cube: ") + std::to_string(appended) +
            " appended, " + std::to_string(inserted) + " inserted, " + std::to_string(replaced) +
            " replaced, " + std::to_string(unchanged) + " unchanged";
    }
    s += "; " + std::to_string(time_steps) + " time steps";
    if (!failed.empty()) {
        s += "; " + std::to_string(failed.size()) + " of " + std::to_string(inputs_total) +
             " inputs failed (see above)";
    }
    return s;
}

GenResult generate(const GenRequest& req) {
    // freed blocks stay in the heap: a swath gen took ~3800 page faults, ~1900 with this
    keep_freed_blocks_in_heap();
    const auto& c = req.config;
    GenResult result;
    if (c.output_path.empty()) {
        throw ConfigError("output_path is not set", "Set output_path in the config or give -o");
    }
    const bool object_storage = on_object_storage(c.output_path); // commit_object.cpp
    if (c.output_path.starts_with("/vsi") && !object_storage) {
        throw ConfigError("output_path '" + c.output_path +
                              "': " + not_available(Feature::VirtualOutput),
                          instead(Feature::VirtualOutput));
    }
    const sfs::path out_path = output_dir(c.output_path);
    if (!object_storage) {
        check_output_folder(out_path, req.dry_run);
    }
    std::error_code ec;
    if (req.finalize) {
        if (req.dry_run) {
            log::info("dry run: would finalize the partitions of cube '" + out_path.string() + "'");
            return result;
        }
        const auto f = finalize_partitions(out_path);
        result.created = f.created;
        result.up_to_date = f.up_to_date;
        result.appended = f.appended;
        result.inserted = f.inserted;
        result.replaced = f.replaced;
        result.time_steps = f.time_steps;
        return result;
    }
    auto specs = req.inputs.empty() ? c.input_paths : req.inputs;
    if (specs.empty()) {
        throw UsageError("no inputs given",
                         "Give input files on the command line or input_paths in the config");
    }
    // Inputs on object storage are downloaded to a temporary folder for the run.
    RemoteInputs remote;
    auto paths = remote.fetch(resolve_inputs(RemoteInputs::expand(specs)));
    result.inputs_total = paths.size();
    const grid::Grid g = c.output_grid();

    // One pool of workers for the run: the scan (a swath's 2-D lat/lon are inflated chunk by
    // chunk on it), then reading the next slice and computing the current one share it (never
    // more than --threads threads at work).
    ThreadPool pool(std::max(req.threads, 1));
    ThreadPool::Scope pool_scope(pool);
    auto inputs = scan_inputs(paths, c.input_processor, c.input_params, req.fail_fast,
                              c.keep_input_attrs, result);
    auto slices = make_slices(inputs, c.mosaic);
    if (slices.empty()) {
        throw InputError("none of the " + std::to_string(paths.size()) + " inputs could be read",
                         "See the messages above; nothing was written");
    }

    // Existing cube?
    bool exists =
        object_storage ? object_cube_exists(out_path) : sfs::exists(out_path / ".zgroup", ec);
    if (!object_storage && !exists && sfs::exists(out_path, ec)) {
        bool empty_dir = sfs::is_directory(out_path, ec) && sfs::is_empty(out_path, ec);
        if (!empty_dir) {
            throw OutputError("output path '" + out_path.string() +
                                  "' exists and is not a Zarr cube",
                              "Choose another output_path or remove it");
        }
    }

    std::optional<CubeState> old;
    std::unique_ptr<CommitProtocol> commit;
    // --partition K/N of an update: the cube is only read; the partition's staged chunks and its
    // update go beside it, committed by --finalize (partition.hpp).
    const bool partitioned_update = exists && req.partitions > 0 && !req.dry_run;
    if (exists) {
        commit = partitioned_update
                     ? open_for_partition(out_path, req.partition, req.partitions, true)
                     : open_for_update(out_path, req.dry_run);
        old = read_cube(commit->store());
        if (!old) {
            throw OutputError("cube '" + out_path.string() + "' has no .zgroup");
        }
        const bool same = old->crs && c.crs ? io::same_crs(*old->crs, *c.crs)
                                            : old->crs.has_value() == c.crs.has_value();
        if (!same) {
            throw OutputError("cube '" + out_path.string() + "' is in " + crs_label(old->crs) +
                                  "; the config asks for " + crs_label(c.crs),
                              "Use the cube's output_crs, or another output_path");
        }
        if (!old->grid.compatible(g)) {
            throw OutputError(
                "cube '" + out_path.string() + "' has grid " + old->grid.describe() +
                    "; the config asks for " + g.describe(),
                "Use the cube's output_region and output_size, or another output_path");
        }
        if ((c.chunk_lat && c.chunk_lat != old->chunk_y) ||
            (c.chunk_lon && c.chunk_lon != old->chunk_x)) {
            throw OutputError("cube '" + out_path.string() + "' has chunks [1, " +
                                  std::to_string(old->chunk_y) + ", " +
                                  std::to_string(old->chunk_x) + "]; the config asks for [1, " +
                                  std::to_string(c.chunk_lat) + ", " + std::to_string(c.chunk_lon) +
                                  "]; " + not_available(Feature::Rechunk),
                              instead(Feature::Rechunk));
        }
    }

    const auto calendar = common_calendar(inputs, old, out_path.string());

    // Variables.
    std::vector<OutVar> vars;
    size_t cy, cx;
    if (old) {
        cy = old->chunk_y;
        cx = old->chunk_x;
        vars = cube_vars(c, inputs, *old, out_path.string());
    } else {
        cy = c.chunk_lat ? std::min(c.chunk_lat, g.height()) : std::min<size_t>(512, g.height());
        cx = c.chunk_lon ? std::min(c.chunk_lon, g.width()) : std::min<size_t>(512, g.width());
        vars = select_new_vars(c, inputs);
        for (auto& o : vars) {
            o.var = new_data_var(o, c, g.height(), g.width(), cy, cx);
            o.enc = encoding_of(o.name, o.var.meta, o.var.attrs);
        }
    }
    check_packing_names(c, vars);
    // processed_variables and valid_pixel_expressions, resolved before anything is written.
    const auto exprs = Expressions::make(c, inputs, vars);

    // Placement.
    const size_t old_nt = old ? old->nt() : 0;
    place_slices(slices, old ? &*old : nullptr);
    // Slices that replace a time step made from the same inputs by the same recipe are not
    // recomputed (the inputs' size, mtime and CRC-32 are recorded in .baims-sources.json).
    const std::string recipe = recipe_of(vars, c);
    // Only new records of what made some steps (nothing to compute): written at once, or by
    // --finalize for a partition (an update with no staged slice).
    auto record_only = [&](std::vector<std::pair<size_t, nlohmann::json>> records) {
        if (!partitioned_update) {
            write_refreshed_records(commit->store(), *old, std::move(records));
            return;
        }
        CubeState st = *old;
        st.sources.resize(old_nt);
        for (auto& [t, rec] : records) {
            st.sources[t] = std::move(rec);
        }
        set_input_attrs(st);
        std::vector<long> identity(old_nt);
        for (size_t t = 0; t < old_nt; ++t) {
            identity[t] = static_cast<long>(t);
        }
        commit->commit_update(std::move(identity), {}, std::move(st));
        result.partition = req.partition;
        result.partitions = req.partitions;
        result.partition_of_update = true;
    };
    std::vector<std::pair<size_t, nlohmann::json>> refreshed; // old index, new record
    if (old && old->sources.size() == old_nt) {
        const auto passed = replaced_steps(slices); // the cube's time steps this run's inputs make
        auto u = split_unchanged(std::move(slices), *old, inputs, recipe);
        result.unchanged += u.count;
        refreshed = std::move(u.refreshed);
        for (const auto& w : config_drift(c, *old, recipe, passed, u.todo.empty())) {
            log::warn(w);
        }
        if (u.todo.empty()) {
            log::info("all " + std::to_string(u.count) +
                      " slices were made from these inputs before (same name, size and mtime or "
                      "CRC-32)");
            if (!req.dry_run) {
                record_only(std::move(refreshed));
            }
            result.up_to_date = true;
            result.time_steps = old_nt;
            return result;
        }
        if (result.unchanged > 0) {
            log::info(std::to_string(result.unchanged) +
                      " slices were made from these inputs before: not recomputed");
        }
        slices = std::move(u.todo);
    }
    if (req.dry_run) {
        warn_inputs_outside(inputs, slices, vars, g, c, req.threads);
        size_t rep = 0;
        for (const auto& s : slices) {
            rep += s.replace ? 1 : 0;
        }
        log::info("dry run: would " + std::string(old ? "update" : "create") + " cube '" +
                  out_path.string() + "' (" + g.describe() + ", chunks " + std::to_string(cy) +
                  "x" + std::to_string(cx) + ") with " + std::to_string(slices.size()) +
                  " slices (" + std::to_string(rep) +
                  " replacing existing ones), variables: " + [&] {
                      std::vector<std::string> n;
                      for (const auto& v : vars) {
                          n.push_back(v.name);
                      }
                      return text::join(n, ", ");
                  }());
        result.up_to_date = false;
        result.time_steps = old_nt;
        return result;
    }

    // Where to write.
    if (!old) {
        commit = req.partitions > 0
                     ? open_for_partition(out_path, req.partition, req.partitions, false)
                     : open_for_create(out_path);
    }

    MapCache maps = map_cache(g, c);
    maps.set_inputs(inputs);
    // A swath's values are then read as the cells its nearest map uses (one map for all of them).
    maps.compact_swath_maps(std::all_of(vars.begin(), vars.end(), [](const OutVar& v) {
        return v.resampling == Resampling::Nearest;
    }));
    ComputeContext ctx{
        g, cy, cx, vars, inputs, maps, std::max(req.threads, 1), req.partition, req.partitions};

    // The last slice that reads each input: after it, its maps may go (MapCache::release).
    std::vector<size_t> last_use(inputs.size(), 0);
    for (size_t i = 0; i < slices.size(); ++i) {
        for (const auto& src : slices[i].sources) {
            last_use[src.input] = i;
        }
    }
    const auto done_with = [&](size_t i) {
        for (const auto& src : slices[i].sources) {
            if (last_use[src.input] == i) {
                maps.release(src.input);
            }
        }
    };

    Progress progress("gen", slices.size(), "slices");
    std::vector<Slice> written;
    size_t written_outside = 0; // of them, slices with no cell in the output region
    std::vector<StagedSlice> staged;
    size_t create_index = 0;
    // All netCDF/HDF5 calls stay on this thread (HDF5 is not thread-safe here); the slice that
    // was read last is computed on another thread while the next one is read (unless that one
    // reads a swath: below).
    Loaded current = load_slice(slices[0], inputs, vars, exprs.get(), ctx.threads, {}, &maps);
    Loaded spare; // buffers of the slice before, reused for the next read
    for (size_t i = 0; i < slices.size(); ++i) {
        check_interrupted();
        auto& s = slices[i];
        if (!current.error.empty()) {
            if (req.fail_fast) {
                throw InputError(current.error, current.hint.empty()
                                                    ? "Fix or remove that input and rerun"
                                                    : current.hint);
            }
            log::error("skipping input: " + current.error +
                       (current.hint.empty() ? "" : ". " + current.hint));
            for (const auto& src : s.sources) {
                result.failed.push_back(inputs[src.input].path + ": " + current.error);
            }
            progress.advance();
            if (i + 1 < slices.size()) {
                current =
                    load_slice(slices[i + 1], inputs, vars, exprs.get(), ctx.threads, {}, &maps);
            }
            continue;
        }
        std::unique_ptr<StagingSink> staging;
        std::unique_ptr<DirectSink> direct;
        ChunkSink* sink;
        if (!old) {
            direct = std::make_unique<DirectSink>(*commit, vars, create_index++);
            sink = direct.get();
        } else {
            staging = std::make_unique<StagingSink>(*commit, vars, s);
            sink = staging.get();
        }
        if (old && s.replace) {
            for (size_t v = 0; v < vars.size(); ++v) {
                const auto& d = current.data[v];
                if (std::all_of(d.begin(), d.end(), [](const auto& x) { return x.empty(); })) {
                    log::info("time step " + grid::time::format_iso(s.time) + ": no input has '" +
                              vars[v].input + "'; the cube's '" + vars[v].name +
                              "' data of that step is kept");
                }
            }
        }
        const bool outside = current.outside;
        auto work = std::async(std::launch::async, [&] { compute_slice(ctx, s, current, *sink); });
        Loaded next;
        if (i + 1 < slices.size()) {
            if (reads_swath(slices[i + 1], inputs)) {
                // Not read ahead: a swath's map is built as it is read (a walk on every thread),
                // so that reading it beside this slice's compute only makes the two share the
                // cores, and its slab (~80 MB) and map would be held beside this slice's. Read
                // once this slice is done, it takes this slice's buffers (their pages present).
                // bench/swath_inputs.sh, 6 inputs (REPS=3): 3.34 -> 3.30 s, 326 -> 249 MB; with
                // SAME=1 2.13 -> 1.97 s, 279 -> 197 MB. The regular gen10 case keeps its overlap
                // (without it: 0.29 -> 0.33 s). This slice's inputs are released first: a map of
                // theirs that the next input does not share goes before that input's is built
                // (MapCache::release), one it shares stays.
                work.wait();
                done_with(i);
                spare = {};
                next = load_slice(slices[i + 1], inputs, vars, exprs.get(), ctx.threads,
                                  std::move(current), &maps);
            } else {
                next = load_slice(slices[i + 1], inputs, vars, exprs.get(), ctx.threads,
                                  std::move(spare), &maps);
            }
        }
        // The record of this slice needs its inputs' CRC-32: read here, while the slice is
        // computed, instead of after the last one.
        prefetch_crcs(s, inputs);
        work.get();
        done_with(i);
        spare = std::move(current);
        current = std::move(next);
        progress.advance();
        // (Not for a partition: it sees only its part of the slice; the others must agree on
        // which slices are written. Its unchanged chunks are still not staged.)
        if (staging && s.replace && !staging->changed() && !partitioned_update) {
            if (same_bounds(*old, s)) {
                ++result.unchanged;
                // Same bytes from other inputs (or a touched file): record what made them now.
                if (auto rec = slice_record(s, inputs, recipe);
                    s.old_index >= old->sources.size() || old->sources[s.old_index] != rec) {
                    refreshed.emplace_back(s.old_index, std::move(rec));
                }
                continue;
            }
        }
        if (staging) {
            staged.push_back(staging->take());
        }
        written.push_back(s);
        written_outside += outside ? 1 : 0;
    }
    progress.finish();
    if (!written.empty() && written_outside == written.size()) {
        // Only empty slices to write: a new cube, or new time steps, with no data (the update's
        // staged chunks are dropped with the commit protocol, the cube stays as it was).
        all_outside(written, inputs, maps);
    }

    if (!old) {
        if (written.empty()) {
            throw InputError("none of the " + std::to_string(paths.size()) +
                                 " inputs could be read",
                             "See the messages above; nothing was written");
        }
        CubeState st = new_cube_state(g, calendar, cy, cx, written, vars, inputs, recipe);
        st.crs = c.crs;
        set_global_attrs(st, c, req.command_line);
        commit->publish_new(st);
        result.created = req.partitions == 0;
        result.partition = req.partition;
        result.partitions = req.partitions;
        result.appended = written.size();
        result.time_steps = st.nt();
        return result;
    }

    // Update: merge the time axis.
    if (written.empty()) {
        record_only(std::move(refreshed));
        result.up_to_date = true;
        result.time_steps = old_nt;
        return result;
    }
    auto axis = merge_time_axis(*old, written, std::move(refreshed), inputs, recipe);
    result.replaced += axis.replaced;
    result.appended += axis.appended;
    result.inserted += axis.inserted;
    set_global_attrs(axis.state, c, req.command_line);
    for (size_t k = 0; k < staged.size(); ++k) {
        staged[k].final_index = axis.final_index[k];
    }
    result.time_steps = axis.state.nt();
    if (partitioned_update) {
        result.partition = req.partition;
        result.partitions = req.partitions;
        result.partition_of_update = true;
    }
    commit->commit_update(std::move(axis.mapping), std::move(staged), std::move(axis.state));
    return result;
}

} // namespace baims::cube
