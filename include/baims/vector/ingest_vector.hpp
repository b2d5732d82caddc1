#pragma once
// `baims ingest-vector`: one OGR layer into a PostGIS collection table (SPEC 7). Lives in the
// vector module, on top of db (docs/architecture.md).
//
// Table: id serial primary key, created_at/modified_at timestamptz (default now()),
// [<fid column> integer not null, unique], geometry geometry(<Type>,<srid>) with a gist index,
// then the attributes. All of it is one transaction, so a failure or kill -9 at any moment leaves
// the table as it was:
//   create  - the table must not exist (OutputError naming it);
//   append  - adds rows (creates the table when missing; checks the columns when present);
//   replace - loads a staging table and swaps it in (drop + rename) before the commit; refuses
//             to turn a table with rows into an empty one unless allow_empty.
// Any error of the reader (a bad --where, a failed read) fails the load: nothing is committed.

#include "baims/db/identifiers.hpp"
#include "baims/db/settings.hpp"
#include "baims/vector/layer_reader.hpp"

#include <cstdint>
#include <string>

namespace baims::vector {

enum class IngestMode { Create, Append, Replace };

struct IngestVectorRequest {
    ReaderOptions reader;
    db::QualifiedName collection;
    IngestMode mode = IngestMode::Create;
    std::string fid_column; // empty: no source FID column
    std::string aoi;        // non-empty: upsert this row of the aoi table with the extent
    bool create_tables = false;
    bool allow_empty = false; // replace may turn a table with rows into an empty one
    bool dry_run =
        false; // open and check everything (source, database, table state); write nothing
};

struct IngestSummary {
    std::string table; // quoted name
    std::uint64_t read = 0;
    std::uint64_t written = 0;
    std::uint64_t repaired = 0;
    std::uint64_t skipped = 0;
    double seconds = 0;
};

// Validates the request (names, source, options) before connecting, then loads. Logs one summary
// line at the end. Throws UsageError, InputError, OutputError, DatabaseError, Interrupted.
IngestSummary ingest_vector(const IngestVectorRequest& request,
                            const db::ConnectionSettings& settings);

const char* to_string(IngestMode mode);

} // namespace baims::vector
