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
// With `written`, the documents are also added to that object under their keys, as
// consolidated_metadata()'s "metadata" would hold them (for consolidate(store, metadata)).
void write_group(KvStore& store, const nlohmann::json& attrs, nlohmann::json* written = nullptr);

// Writes <name>/.zattrs, then <name>/.zarray (the array's commit point). `written`: as
// write_group's.
void write_array_meta(KvStore& store, const std::string& name, const ArrayMeta& meta,
                      const nlohmann::json& attrs, nlohmann::json* written = nullptr);

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

// consolidate(store) for a caller that wrote every metadata file of the store itself and kept the
// documents (`metadata`: key -> document, what consolidated_metadata(store)["metadata"] would
// read back, e.g. collected with write_group's and write_array_meta's `written`): the same
// .zmetadata bytes, synced the same way, without reading back and parsing the files.
void consolidate(KvStore& store, nlohmann::json metadata);

// The .zmetadata document, or nullopt if there is none. Throws InputError if it is malformed.
std::optional<nlohmann::json> read_consolidated(const KvStore& store);

// The array metadata of `name` inside a consolidated document (as from read_consolidated), or
// nullopt if it has none.
std::optional<ArrayMeta> array_meta_from_consolidated(const nlohmann::json& consolidated,
                                                      const std::string& name);

} // namespace baims::zarr
