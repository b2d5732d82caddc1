#pragma once
// Zarr v2 groups, attributes and consolidated metadata (.zmetadata), as zarr-python 2.13 writes
// them.

#include "baims/zarr/array_meta.hpp"
#include "baims/zarr/kv_store.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

namespace baims::zarr {

// Writes .zgroup {"zarr_format": 2} and .zattrs (attrs must be an object; null means {}).
void write_group(KvStore& store, const nlohmann::json& attrs);

// Writes <name>/.zattrs, then <name>/.zarray (the array's commit point).
void write_array_meta(KvStore& store, const std::string& name, const ArrayMeta& meta,
                      const nlohmann::json& attrs);

// Writes <name>/.zattrs, or the root .zattrs for an empty name.
void write_attrs(KvStore& store, const std::string& name_or_empty, const nlohmann::json& attrs);

// <name>/.zarray, or nullopt if there is none. Throws InputError (naming the store and key) for
// bad JSON or unsupported metadata.
std::optional<ArrayMeta> read_array_meta(const KvStore& store, const std::string& name);

// <name>/.zattrs (or the root .zattrs for an empty name); {} if there is none. InputError if it
// is not a JSON object.
nlohmann::json read_attrs(const KvStore& store, const std::string& name_or_empty);

// The consolidated metadata document of what is on the store now:
// {"metadata": {".zgroup": …, ".zattrs": …, "var/.zarray": …, "var/.zattrs": …},
//  "zarr_consolidated_format": 1}
// It holds the root's .zgroup/.zattrs/.zarray and those of every entry that is an array or a
// group; sub-groups are visited recursively, array directories are never listed.
nlohmann::json consolidated_metadata(const KvStore& store);

// Writes consolidated_metadata() to .zmetadata: store.sync() first (so everything it describes is
// durable), then one atomic put, then store.sync(). Call it last: it is the commit point.
void consolidate(KvStore& store);

// The .zmetadata document, or nullopt if there is none. Throws InputError if it is malformed.
std::optional<nlohmann::json> read_consolidated(const KvStore& store);

// The array metadata of `name` inside a consolidated document (as from read_consolidated), or
// nullopt if it has none.
std::optional<ArrayMeta> array_meta_from_consolidated(const nlohmann::json& consolidated,
                                                      const std::string& name);

} // namespace baims::zarr
