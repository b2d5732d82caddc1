#pragma once
// The tables of SPEC 6.2 and baims' bookkeeping tables.

#include "baims/db/connection.hpp"
#include "baims/db/settings.hpp"

#include <string>
#include <vector>

namespace baims::db {

// Creates the missing tables among aoi, catalog (dias_catalogue, gist index on footprint),
// sigs and hists (btree indexes on pid, obsid, band / pid, obsid), baims_extraction and
// baims_catalogue_extra, with exactly the SPEC 6.2 DDL. Existing tables are used as they are
// (not altered, no indexes added). One transaction, serialised by an advisory lock. Returns the
// names of the tables it created.
std::vector<std::string> create_tables(Connection& conn, const TableNames& tables);

// Only the aoi table (for ingest-vector --aoi), inside the caller's transaction.
bool create_aoi_table_if_missing(Transaction& tx, const QualifiedName& aoi_table);

// The DDL statements create_tables would run for a missing table (for docs and --dry-run).
std::vector<std::string> table_ddl(const TableNames& tables);

} // namespace baims::db
