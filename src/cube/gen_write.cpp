// gen's write side: the sinks of computed chunks, the record-only update.

#include "gen_write.hpp"

#include "gen_attrs.hpp"

#include "baims/core/fault.hpp"

namespace baims::cube::gen {

void DirectSink::put(size_t v, size_t y, size_t x, std::string_view bytes) {
    std::string key = m_vars[v].name + "/" + std::to_string(m_index) + "." + chunk_pos(y, x);
    fault_point("chunk");
    if (!bytes.empty()) { // the folder was emptied before: nothing to erase for a fill chunk
        m_commit.put_unpublished(key, bytes);
    }
}

void StagingSink::put(size_t v, size_t y, size_t x, std::string_view bytes) {
    const auto& name = m_vars[v].name;
    auto pos = chunk_pos(y, x);
    if (m_slice.replace) {
        auto existing =
            m_commit.store().get(name + "/" + std::to_string(m_slice.old_index) + "." + pos);
        bool same = existing ? (*existing == bytes) : bytes.empty();
        if (same) {
            return;
        }
    }
    std::lock_guard lock(m_mutex);
    if (bytes.empty()) {
        m_staged.erase[name].push_back(pos);
    } else {
        fault_point("chunk");
        m_commit.put_unpublished(m_direct ? name + "/" + std::to_string(*m_direct) + "." + pos
                                          : m_commit.staged_key(m_slice.seq, name, pos),
                                 bytes);
        m_staged.write[name].push_back(pos);
    }
}

void write_refreshed_records(zarr::KvStore& store, const CubeState& old,
                             std::vector<std::pair<size_t, nlohmann::json>> refreshed) {
    CubeState next = old;
    if (!refreshed.empty()) {
        next.sources.resize(old.nt());
        for (auto& [t, rec] : refreshed) {
            next.sources[t] = std::move(rec);
        }
    }
    set_input_attrs(next);
    write_records_update(store, old, next);
}

} // namespace baims::cube::gen
