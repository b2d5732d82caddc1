#pragma once
// gen's write side: where computed chunks go (sinks over the cube's commit protocol) and the
// record-only update. How the result becomes the cube (create by rename, update by journal) is
// the commit protocol's (commit.hpp).

#include "commit.hpp"
#include "gen_compute.hpp"

#include "baims/zarr/kv_store.hpp"

#include <mutex>
#include <optional>
#include <utility>

namespace baims::cube::gen {

// New cube: chunks go straight to their final key in the cube being built.
class DirectSink : public ChunkSink {
public:
    DirectSink(CommitProtocol& commit, const std::vector<OutVar>& vars, size_t index)
        : m_commit(commit)
        , m_vars(vars)
        , m_index(index) {}
    void put(size_t v, size_t y, size_t x, std::string_view bytes) override;

private:
    CommitProtocol& m_commit;
    const std::vector<OutVar>& m_vars;
    size_t m_index;
};

// Update: chunks are staged, or written at their final time index when the protocol has a slice
// beyond the cube's end written directly (CommitProtocol::direct_index); for a replaced slice,
// chunks equal to the cube's are left alone.
class StagingSink : public ChunkSink {
public:
    StagingSink(CommitProtocol& commit, const std::vector<OutVar>& vars, const Slice& s)
        : m_commit(commit)
        , m_vars(vars)
        , m_slice(s) {
        m_staged.seq = s.seq;
        if (!s.replace) {
            m_direct = commit.direct_index(s.seq, s.time);
        }
    }
    void put(size_t v, size_t y, size_t x, std::string_view bytes) override;
    bool changed() const { return !m_staged.write.empty() || !m_staged.erase.empty(); }
    StagedSlice take() { return std::move(m_staged); }

private:
    CommitProtocol& m_commit;
    const std::vector<OutVar>& m_vars;
    const Slice& m_slice;
    std::optional<size_t> m_direct; // the final time index, if written there directly
    std::mutex m_mutex;
    StagedSlice m_staged;
};

// When nothing else changes but the record of what made some steps (new mtimes, steps made
// elsewhere recomputed to the same bytes, input attributes taken with keep_input_attrs):
// .baims-sources.json alone is replaced (atomically); the Zarr content is untouched but for the
// global attribute input_attrs, rewritten (with .zmetadata) after the records when it does not
// show them (also when a run was cut off between the two).
void write_refreshed_records(zarr::KvStore& store, const CubeState& old,
                             std::vector<std::pair<size_t, nlohmann::json>> refreshed);

} // namespace baims::cube::gen
