#include "baims/vector/ingest_vector.hpp"

#include "baims/core/error.hpp"
#include "baims/core/interrupt.hpp"
#include "baims/core/log.hpp"
#include "baims/core/progress.hpp"
#include "baims/core/text.hpp"
#include "baims/db/connection.hpp"
#include "baims/db/copy_writer.hpp"
#include "baims/db/schema.hpp"

#include <climits>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>

namespace baims::vector {

// The database side of the load is written in db terms throughout.
using namespace baims::db;

const char* to_string(IngestMode mode) {
    switch (mode) {
    case IngestMode::Create:
        return "create";
    case IngestMode::Append:
        return "append";
    case IngestMode::Replace:
        return "replace";
    }
    return "?";
}

namespace {

const std::vector<std::string> BASE_COLUMNS = {"id", "created_at", "modified_at", "geometry"};

std::string geometry_column_type(const Schema& s) {
    return "geometry(" + s.geometry_type + (s.srid > 0 ? "," + std::to_string(s.srid) : "") + ")";
}

// Names of the objects of a collection table. PostgreSQL truncates identifiers to 63 bytes, so
// every name is cut by derived_name; the staging table's objects get their own suffixes
// ("_baims_new_geometry_idx", ...) so that, for any table name length, they never take the name
// of the live table's object (both exist until the swap).
struct ObjectNames {
    std::string pkey;
    std::string geometry_idx;
    std::string fid_key; // empty without --fid-column
};

std::string fid_suffix(const std::string& fid_column) {
    // A long FID column name would push the table name out of the index name entirely.
    return fid_column.size() <= 20 ? "_" + fid_column + "_key" : std::string("_fid_key");
}

ObjectNames object_names(const std::string& table, const std::string& fid_column, bool staging) {
    const std::string tag = staging ? "_baims_new" : "";
    ObjectNames n;
    n.pkey = derived_name(table, tag + "_pkey");
    n.geometry_idx = derived_name(table, tag + "_geometry_idx");
    if (!fid_column.empty()) {
        n.fid_key = derived_name(table, tag + fid_suffix(fid_column));
    }
    return n;
}

void create_collection_table(Transaction& tx, const QualifiedName& table, const Schema& s,
                             const std::string& fid_column, const ObjectNames& names) {
    std::string sql = "CREATE TABLE " + table.quoted() + " (id serial CONSTRAINT " +
                      quote_ident(names.pkey) +
                      " PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT now(),"
                      " modified_at timestamptz NOT NULL DEFAULT now()";
    if (!fid_column.empty()) {
        sql += ", " + quote_ident(fid_column) + " integer NOT NULL";
    }
    sql += ", geometry " + geometry_column_type(s);
    for (const auto& f : s.fields) {
        sql += ", " + quote_ident(f.name) + " " + f.pg_type();
    }
    sql += ")";
    tx.exec(sql);
}

void create_collection_indexes(Transaction& tx, const QualifiedName& table,
                               const std::string& fid_column, const ObjectNames& names) {
    tx.exec("CREATE INDEX " + quote_ident(names.geometry_idx) + " ON " + table.quoted() +
            " USING gist (geometry)");
    if (!fid_column.empty()) {
        tx.exec("CREATE UNIQUE INDEX " + quote_ident(names.fid_key) + " ON " + table.quoted() +
                " (" + quote_ident(fid_column) + ")");
    }
}

// The staging objects must not exist (indexes and tables share one namespace per schema).
void check_names_free(Transaction& tx, const QualifiedName& target,
                      const std::vector<std::string>& names) {
    for (const auto& n : names) {
        if (n.empty()) {
            continue;
        }
        if (table_exists(tx, target.with_name(n))) {
            throw OutputError("relation " + target.with_name(n).display() +
                                  " exists; baims needs that name for loading --mode replace",
                              "Rename or drop it");
        }
    }
}

// For --mode append into an existing table: every column we write must be there, and the
// geometry column must take our type and SRID.
void check_append_target(Transaction& tx, const QualifiedName& table, const Schema& s,
                         const std::string& fid_column) {
    auto r = tx.exec_params(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod),"
        " a.attnotnull AND NOT a.atthasdef FROM pg_attribute a"
        " WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
        table.quoted());
    std::map<std::string, std::string> columns;
    std::vector<std::string> required;
    for (std::size_t i = 0; i < r.size(); ++i) {
        columns[r.text(i, 0)] = r.text(i, 1);
        if (r.boolean(i, 2)) {
            required.push_back(r.text(i, 0));
        }
    }
    std::vector<std::string> missing;
    std::vector<std::string> wanted = {"geometry"};
    if (!fid_column.empty()) {
        wanted.push_back(fid_column);
    }
    for (const auto& f : s.fields) {
        wanted.push_back(f.name);
    }
    for (const auto& w : wanted) {
        if (!columns.count(w)) {
            missing.push_back(w);
        }
    }
    if (!missing.empty()) {
        throw OutputError("table " + table.display() + " has no column(s) " +
                              text::join(missing, ", ") + " for --mode append",
                          "Use --select/--rename to match its columns, or load into a new "
                          "--collection (--mode replace would delete the rows the table has)");
    }
    std::vector<std::string> unfilled;
    for (const auto& c : required) {
        if (std::find(wanted.begin(), wanted.end(), c) == wanted.end()) {
            unfilled.push_back(c);
        }
    }
    if (!unfilled.empty()) {
        throw OutputError("table " + table.display() + " requires column(s) " +
                              text::join(unfilled, ", ") + ", which this load does not fill",
                          "Load with the same --fid-column/--select/--rename as the table was made "
                          "with, or load into a new --collection (--mode replace would delete the "
                          "rows the table has)");
    }
    std::string have = text::to_lower(columns["geometry"]);
    std::string want = text::to_lower(geometry_column_type(s));
    bool generic =
        have == "geometry" ||
        have == "geometry(geometry" + (s.srid > 0 ? "," + std::to_string(s.srid) : "") + ")";
    if (have != want && !generic) {
        throw OutputError("table " + table.display() + " has geometry column type " +
                              columns["geometry"] + "; the source gives " + geometry_column_type(s),
                          "Use --t-srs/--promote-to-multi to match it, or load into a new "
                          "--collection (--mode replace would delete the rows the table has)");
    }
}

std::string plural(std::uint64_t n, const char* word) {
    return std::to_string(n) + " " + word;
}

} // namespace

IngestSummary ingest_vector(const IngestVectorRequest& request,
                            const ConnectionSettings& settings) {
    auto t0 = std::chrono::steady_clock::now();
    const QualifiedName& target = request.collection;
    if (target.empty()) {
        throw UsageError("--collection is required");
    }
    target.quoted(); // validates the name parts
    const std::string& fid_column = request.fid_column;
    ReaderOptions reader_options = request.reader;
    reader_options.reserved_names = BASE_COLUMNS;
    if (!fid_column.empty()) {
        if (std::find(BASE_COLUMNS.begin(), BASE_COLUMNS.end(), fid_column) != BASE_COLUMNS.end()) {
            throw UsageError("--fid-column '" + fid_column + "' is a column baims adds itself",
                             "Choose another name, e.g. --fid-column ogc_fid");
        }
        quote_ident(fid_column);
        reader_options.reserved_names.push_back(fid_column);
    }

    // Everything about the input is checked before the database is touched.
    LayerReader reader(reader_options);
    const Schema& schema = reader.schema();
    if (!text::is_utf8(request.aoi)) {
        throw UsageError("--aoi '" + text::valid_utf8(request.aoi) +
                             "': not UTF-8 text (the database's encoding)",
                         "Give the AOI name in UTF-8");
    }
    if (!request.aoi.empty() && schema.srid <= 0) {
        throw UsageError("--aoi needs a CRS to compute the EPSG:4326 extent, and layer '" +
                             schema.layer + "' has none",
                         "Drop --aoi");
    }

    Connection conn(settings);
    log::info("ingest-vector: layer '" + schema.layer + "' (" + schema.driver + ", " +
              schema.geometry_type + ", EPSG:" + std::to_string(schema.srid) + ", " +
              plural(schema.fields.size(), "fields") + ") -> " + target.display() + " on " +
              conn.describe() + ", mode " + to_string(request.mode));
    if (request.create_tables && !request.dry_run) {
        create_tables(conn, settings.tables);
    }

    Transaction tx(conn, "ingest_vector");
    tx.exec("SET LOCAL TimeZone = 'UTC'");
    // Two loads of the same collection wait for each other instead of interleaving.
    tx.exec_params("SELECT pg_advisory_xact_lock(hashtext($1))",
                   "baims.collection:" + target.quoted());
    if (!target.schema.empty()) {
        auto r =
            tx.exec_params("SELECT to_regnamespace($1) IS NOT NULL", quote_ident(target.schema));
        if (!r.boolean(0, 0)) {
            throw OutputError("schema " + quote_ident(target.schema) + " does not exist",
                              "Create it (CREATE SCHEMA) or choose another --collection");
        }
    }
    bool exists = table_exists(tx, target);
    if (request.mode == IngestMode::Create && exists) {
        throw OutputError("table " + target.display() + " already exists",
                          "Use --mode append to add the features or --mode replace to reload it");
    }
    QualifiedName load_table = target;
    bool new_table = true;
    bool swap = false;
    if (!exists && request.mode == IngestMode::Append) {
        // Append creates a missing table (as documented), but a typo in --collection then makes
        // a second table beside the one meant: say so, with the table of that schema meant.
        auto r = tx.exec_params(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind IN ('r', 'p') AND n.nspname = COALESCE(NULLIF($1, ''),"
            " current_schema()) ORDER BY 1",
            target.schema);
        std::vector<std::string> tables;
        for (std::size_t i = 0; i < r.size(); ++i) {
            tables.push_back(r.text(i, 0));
        }
        const std::string guess = text::did_you_mean(target.name, tables);
        log::warn("ingest-vector: --mode append: table " + target.display() +
                  " does not exist; it is created" +
                  (guess.empty() ? std::string()
                                 : " (did you mean " + target.with_name(guess).display() + "?)"));
    }
    if (exists && request.mode == IngestMode::Append) {
        check_append_target(tx, target, schema, fid_column);
        new_table = false;
    } else if (exists && request.mode == IngestMode::Replace) {
        load_table = target.with_name(derived_name(target.name, "_baims_new"));
        ObjectNames staging = object_names(target.name, fid_column, true);
        check_names_free(tx, target,
                         {load_table.name, staging.pkey, staging.geometry_idx, staging.fid_key});
        swap = true;
    }
    const ObjectNames names = object_names(target.name, fid_column, swap);
    if (request.dry_run) {
        log::info("dry run: would " +
                  std::string(swap        ? "replace"
                              : new_table ? "create"
                                          : "append to") +
                  " " + target.display() + "; nothing written");
        tx.abort();
        IngestSummary s;
        s.table = target.display();
        return s;
    }
    if (new_table) {
        create_collection_table(tx, load_table, schema, fid_column, names);
    }

    std::vector<std::string> columns;
    if (!fid_column.empty()) {
        columns.push_back(fid_column);
    }
    columns.emplace_back("geometry");
    for (const auto& f : schema.fields) {
        columns.push_back(f.name);
    }
    std::uint64_t written = 0;
    {
        Progress progress(
            "loading " + target.display(),
            schema.feature_count > 0 ? static_cast<std::uint64_t>(schema.feature_count) : 0,
            "features");
        CopyWriter copy(tx, load_table, columns);
        Feature feature;
        std::uint64_t pending = 0;
        while (reader.next(feature)) {
            if (!fid_column.empty()) {
                if (feature.fid < 0 || feature.fid > INT_MAX) {
                    throw InputError("feature FID " + std::to_string(feature.fid) +
                                         " does not fit the integer column --fid-column " +
                                         fid_column,
                                     "Load without --fid-column");
                }
                char buf[16];
                int n = std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(feature.fid));
                copy.add_raw(std::string_view(buf, static_cast<std::size_t>(n)));
            }
            if (feature.ewkb_hex.empty()) {
                copy.add_null();
            } else {
                copy.add_raw(feature.ewkb_hex);
            }
            for (const auto& v : feature.values) {
                copy.add_optional(v);
            }
            copy.end_row();
            if (++pending == 1024) {
                progress.advance(pending);
                pending = 0;
                check_interrupted();
            }
        }
        progress.advance(pending);
        copy.complete();
        written = copy.rows();
        progress.finish();
    }
    auto seconds_since = [&] {
        char b[32];
        std::snprintf(b, sizeof b, "%.2f s",
                      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        return std::string(b);
    };
    if (written == 0 && !swap) {
        log::warn(
            "ingest-vector: layer '" + schema.layer + "' gave 0 features" +
            (request.reader.where.empty() ? "" : " with --where '" + request.reader.where + "'") +
            "; " +
            (new_table ? "the new table " + target.display() + " is empty" : "nothing appended"));
    }
    log::debug("ingest-vector: COPY of " + std::to_string(written) + " rows done at " +
               seconds_since());
    check_interrupted();
    if (new_table) {
        create_collection_indexes(tx, load_table, fid_column, names);
        log::debug("ingest-vector: indexes done at " + seconds_since());
    }
    if (swap) {
        // A replace that empties a table with rows is refused unless asked for: a --where that
        // matches nothing looks like success otherwise (issue: reruns that destroy data).
        if (written == 0 && !request.allow_empty &&
            tx.exec("SELECT EXISTS (SELECT 1 FROM " + target.quoted() + ")").boolean(0, 0)) {
            throw OutputError("--mode replace would leave table " + target.display() +
                                  " empty: the source gave 0 features" +
                                  (request.reader.where.empty() ? "" : " with this --where") +
                                  "; the table was not changed",
                              "Check the source and --where; pass --allow-empty to empty the "
                              "table on purpose");
        }
        // Atomic replacement: the old table disappears and the new one takes its name in this
        // transaction; readers see either the old or the new table, never an empty one.
        const ObjectNames live = object_names(target.name, fid_column, false);
        tx.exec("DROP TABLE " + target.quoted());
        tx.exec("ALTER TABLE " + load_table.quoted() + " RENAME TO " + quote_ident(target.name));
        tx.exec("ALTER TABLE " + target.quoted() + " RENAME CONSTRAINT " + quote_ident(names.pkey) +
                " TO " + quote_ident(live.pkey));
        tx.exec("ALTER INDEX " + target.with_name(names.geometry_idx).quoted() + " RENAME TO " +
                quote_ident(live.geometry_idx));
        if (!fid_column.empty()) {
            tx.exec("ALTER INDEX " + target.with_name(names.fid_key).quoted() + " RENAME TO " +
                    quote_ident(live.fid_key));
        }
        auto seq = tx.exec_params("SELECT pg_get_serial_sequence($1, 'id')", target.quoted());
        if (!seq.is_null(0, 0)) {
            // pg_get_serial_sequence returns a name already quoted by the server.
            tx.exec("ALTER SEQUENCE " + seq.text(0, 0) + " RENAME TO " +
                    quote_ident(derived_name(target.name, "_id_seq")));
        }
    }
    if (!request.aoi.empty()) {
        const QualifiedName& aoi = settings.tables.aoi;
        auto it = settings.args.find("aoi_field");
        std::string name_col =
            it != settings.args.end() && !it->second.empty() ? it->second : "name";
        create_aoi_table_if_missing(tx, aoi);
        tx.exec_params("SELECT pg_advisory_xact_lock(hashtext($1))", "baims.aoi:" + request.aoi);
        tx.exec_params("DELETE FROM " + aoi.quoted() + " WHERE " + quote_ident(name_col) + " = $1",
                       request.aoi);
        auto r = tx.exec_params(
            "INSERT INTO " + aoi.quoted() + " (" + quote_ident(name_col) +
                ", wkb_geometry) SELECT $1, ST_MakeEnvelope(ST_XMin(e), ST_YMin(e), ST_XMax(e),"
                " ST_YMax(e), 4326) FROM (SELECT ST_Extent(ST_Transform(geometry, 4326)) AS e "
                "FROM " +
                target.quoted() + ") s WHERE e IS NOT NULL",
            request.aoi);
        if (r.affected_rows() == 0) {
            log::warn("--aoi " + request.aoi +
                      ": the collection has no geometries; no aoi row written");
        }
    }
    tx.commit();

    IngestSummary summary;
    summary.table = target.display();
    summary.read = reader.stats().read;
    summary.written = written;
    summary.repaired = reader.stats().repaired;
    summary.skipped = reader.stats().skipped;
    summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    char secs[32];
    std::snprintf(secs, sizeof secs, "%.2f", summary.seconds);
    log::info("ingest-vector: " + summary.table + ": " + plural(summary.read, "features read") +
              ", " + std::to_string(summary.written) + " written, " +
              std::to_string(summary.repaired) + " repaired, " + std::to_string(summary.skipped) +
              " skipped in " + secs + " s (mode " + to_string(request.mode) + ")");
    return summary;
}

} // namespace baims::vector
