#include "baims/zarr/group.hpp"

#include "baims/core/error.hpp"

namespace baims::zarr {
namespace {

std::string meta_key(const std::string& name, const char* file) {
    return name.empty() ? std::string(file) : name + "/" + file;
}

const nlohmann::json& checked_attrs(const nlohmann::json& attrs, const std::string& where) {
    static const nlohmann::json empty = nlohmann::json::object();
    if (attrs.is_null()) {
        return empty;
    }
    if (!attrs.is_object()) {
        throw InternalError("attributes of " + where + " must be a JSON object, got " +
                            attrs.dump());
    }
    return attrs;
}

std::string where(const KvStore& store, const std::string& key) {
    return "'" + store.describe() + "/" + key + "'";
}

// Adds <prefix>/.zgroup, .zattrs and .zarray if present; recurses into sub-groups.
void collect(const KvStore& store, const std::string& prefix, nlohmann::json& out, int depth) {
    bool is_group = false;
    for (const char* file : {".zgroup", ".zattrs", ".zarray"}) {
        const std::string key = meta_key(prefix, file);
        if (auto text = store.get(key)) {
            out[key] = parse_json(*text, where(store, key));
            is_group = is_group || std::string_view(file) == ".zgroup";
        }
    }
    if (!is_group && !prefix.empty()) {
        return;
    }
    if (depth > 32) {
        throw InputError("zarr groups nested deeper than 32 levels in '" + store.describe() + "'");
    }
    for (const auto& entry : store.list(prefix)) {
        if (entry.empty() || entry.front() == '.') {
            continue; // .zgroup, .zattrs, .zmetadata, hidden files
        }
        const std::string child = prefix.empty() ? entry : prefix + "/" + entry;
        if (!is_valid_key(child)) {
            continue;
        }
        if (store.exists(child + "/.zarray")) {
            for (const char* file : {".zarray", ".zattrs"}) {
                const std::string key = child + "/" + file;
                if (auto text = store.get(key)) {
                    out[key] = parse_json(*text, where(store, key));
                }
            }
        } else if (store.exists(child + "/.zgroup")) {
            collect(store, child, out, depth + 1);
        }
    }
}

} // namespace

void write_group(KvStore& store, const nlohmann::json& attrs, nlohmann::json* written) {
    const auto& a = checked_attrs(attrs, "the root group");
    const nlohmann::json group{{"zarr_format", 2}};
    store.put(".zgroup", dump_json(group));
    store.put(".zattrs", dump_json(a));
    if (written) {
        (*written)[".zgroup"] = group;
        (*written)[".zattrs"] = a;
    }
}

void write_attrs(KvStore& store, const std::string& name_or_empty, const nlohmann::json& attrs) {
    const auto& a = checked_attrs(attrs, name_or_empty.empty() ? "the root group" : name_or_empty);
    store.put(meta_key(name_or_empty, ".zattrs"), dump_json(a));
}

void write_array_meta(KvStore& store, const std::string& name, const ArrayMeta& meta,
                      const nlohmann::json& attrs, nlohmann::json* written) {
    if (name.empty()) {
        throw InternalError("write_array_meta needs an array name");
    }
    nlohmann::json zarray = meta.to_json();
    const std::string text = dump_json(zarray);
    write_attrs(store, name, attrs);
    store.put(name + "/.zarray", text);
    if (written) {
        (*written)[name + "/.zattrs"] = checked_attrs(attrs, name);
        (*written)[name + "/.zarray"] = std::move(zarray);
    }
}

std::optional<ArrayMeta> read_array_meta(const KvStore& store, const std::string& name) {
    const std::string key = meta_key(name, ".zarray");
    auto text = store.get(key);
    if (!text) {
        return std::nullopt;
    }
    const auto j = parse_json(*text, where(store, key));
    try {
        return ArrayMeta::from_json(j);
    } catch (const InputError& e) {
        e.rethrow_with_context(where(store, key));
        throw; // not reached (GCC does not see [[noreturn]] through a virtual call)
    }
}

nlohmann::json read_attrs(const KvStore& store, const std::string& name_or_empty) {
    const std::string key = meta_key(name_or_empty, ".zattrs");
    auto text = store.get(key);
    if (!text) {
        return nlohmann::json::object();
    }
    auto j = parse_json(*text, where(store, key));
    if (!j.is_object()) {
        throw InputError(where(store, key) + " must hold a JSON object");
    }
    return j;
}

nlohmann::json consolidated_metadata(const KvStore& store) {
    nlohmann::json metadata = nlohmann::json::object();
    collect(store, "", metadata, 0);
    return nlohmann::json{{"metadata", std::move(metadata)}, {"zarr_consolidated_format", 1}};
}

namespace {

void write_consolidated(KvStore& store, const nlohmann::json& document) {
    const std::string text = dump_json(document);
    store.sync();
    store.put(".zmetadata", text);
    store.sync();
}

} // namespace

void consolidate(KvStore& store) {
    write_consolidated(store, consolidated_metadata(store));
}

void consolidate(KvStore& store, nlohmann::json metadata) {
    write_consolidated(
        store, nlohmann::json{{"metadata", std::move(metadata)}, {"zarr_consolidated_format", 1}});
}

std::optional<nlohmann::json> read_consolidated(const KvStore& store) {
    auto text = store.get(".zmetadata");
    if (!text) {
        return std::nullopt;
    }
    auto j = parse_json(*text, where(store, ".zmetadata"));
    if (!j.is_object()) {
        throw InputError(where(store, ".zmetadata") + " must hold a JSON object");
    }
    auto format = j.find("zarr_consolidated_format");
    if (format == j.end() || *format != 1) {
        throw InputError(where(store, ".zmetadata") + ": zarr_consolidated_format " +
                         (format == j.end() ? std::string("is missing") : format->dump()) +
                         " is not supported (expected 1)");
    }
    auto metadata = j.find("metadata");
    if (metadata == j.end() || !metadata->is_object()) {
        throw InputError(where(store, ".zmetadata") + ": \"metadata\" must be an object");
    }
    return j;
}

std::optional<ArrayMeta> array_meta_from_consolidated(const nlohmann::json& consolidated,
                                                      const std::string& name) {
    const auto metadata = consolidated.find("metadata");
    if (metadata == consolidated.end() || !metadata->is_object()) {
        return std::nullopt;
    }
    const std::string key = meta_key(name, ".zarray");
    auto it = metadata->find(key);
    if (it == metadata->end()) {
        return std::nullopt;
    }
    try {
        return ArrayMeta::from_json(*it);
    } catch (const InputError& e) {
        e.rethrow_with_context(".zmetadata[\"" + key + "\"]");
        throw; // not reached (GCC does not see [[noreturn]] through a virtual call)
    }
}

} // namespace baims::zarr
