// What the two implementations of gen --partition / --finalize share (partition.hpp): names, and
// the comparison and merge of the partitions' done-markers.

#include "partition.hpp"

#include "journal.hpp"

#include "baims/core/error.hpp"

#include <set>

namespace baims::cube {

std::string PartitionWriterBase::staged_key(size_t seq, const std::string& var,
                                            const std::string& pos) const {
    if (!m_update) {
        throw InternalError("staged_key on a partition of a new cube");
    }
    return STAGING_DIR + "/" + std::to_string(seq) + "/" + var + "/" + pos;
}

void PartitionWriterBase::publish_new(const CubeState& state) {
    if (m_update) {
        throw InternalError("publish_new on a partition of an update");
    }
    mark_done(state.to_json());
}

void PartitionWriterBase::commit_update(std::vector<long> mapping, std::vector<StagedSlice> staged,
                                        CubeState state) {
    if (!m_update) {
        throw InternalError("commit_update on a partition of a new cube");
    }
    Journal j;
    j.mapping = std::move(mapping);
    j.staged = std::move(staged);
    j.state = std::move(state);
    mark_done({{"base", m_base}, {"journal", journal_to_json(j)}});
}

void PartitionWriterBase::set_base(const CubeState& base) {
    m_update = true;
    m_base = base.to_json();
}

std::string part_name(size_t k, size_t n) {
    return std::to_string(k) + "-of-" + std::to_string(n);
}

std::string part_lock_what(const std::string& cube, size_t k, size_t n) {
    return "partition " + std::to_string(k) + "/" + std::to_string(n) + " of cube '" + cube + "'";
}

nlohmann::json comparable_state(const nlohmann::json& state) {
    auto j = state;
    if (j.contains("attrs") && j["attrs"].is_object()) {
        for (const char* key : {"date_created", "date_modified", "history"}) {
            j["attrs"].erase(key);
        }
    }
    if (j.contains("vars") && j["vars"].is_object()) {
        for (auto& v : j["vars"]) {
            if (v.contains("meta") && v["meta"].is_object()) {
                v["meta"].erase("shape");
            }
        }
    }
    return j;
}

nlohmann::json normalized(const nlohmann::json& j) {
    return nlohmann::json::parse(j.dump());
}

namespace {

// A done-marker without its run times, for comparing partitions.
nlohmann::json comparable_marker(const nlohmann::json& marker) {
    if (!marker.contains("journal")) {
        return comparable_state(marker);
    }
    auto j = marker;
    j["journal"]["state"] = comparable_state(j["journal"]["state"]);
    j["journal"].erase("staged"); // each partition stages its own chunks
    for (const auto& s : marker["journal"]["staged"]) {
        j["slices"].push_back({s.at("seq"), s.at("final_index")});
    }
    return j;
}

} // namespace

std::vector<nlohmann::json> check_markers(const std::string& cube, size_t n,
                                          std::vector<std::optional<nlohmann::json>> markers) {
    std::string missing;
    size_t count = 0;
    std::vector<nlohmann::json> out;
    for (size_t k = 1; k <= n; ++k) {
        if (!markers[k - 1]) {
            missing += (missing.empty() ? "" : ", ") + std::to_string(k) + "/" + std::to_string(n);
            ++count;
            continue;
        }
        out.push_back(std::move(*markers[k - 1]));
    }
    if (count > 0) {
        throw OutputError(
            "cube '" + cube + "': partition" + (count > 1 ? "s " : " ") + missing + " not done",
            "Run baims gen --partition K/N with the same config and inputs for " +
                std::string(count > 1 ? "those" : "that") + " partition, then --finalize again");
    }
    for (size_t k = 1; k < n; ++k) {
        if (comparable_marker(out[k]) != comparable_marker(out[0])) {
            throw OutputError("partitions 1/" + std::to_string(n) + " and " +
                                  std::to_string(k + 1) + "/" + std::to_string(n) + " of cube '" +
                                  cube +
                                  "' made different cubes (time steps, inputs or "
                                  "config differ)",
                              "Run every partition with the same config and inputs");
        }
    }
    return out;
}

Journal merged_journal(const std::vector<nlohmann::json>& markers) {
    auto j = journal_from_json(markers[0].at("journal"));
    for (size_t k = 1; k < markers.size(); ++k) {
        const auto part = journal_from_json(markers[k].at("journal"));
        for (size_t i = 0; i < part.staged.size(); ++i) {
            auto& merged = j.staged[i];
            const auto& s = part.staged[i];
            for (const auto& [var, list] : s.erase) {
                auto& to = merged.erase[var];
                to.insert(to.end(), list.begin(), list.end());
            }
            for (const auto& [var, list] : s.write) {
                auto& to = merged.write[var];
                to.insert(to.end(), list.begin(), list.end());
            }
        }
    }
    return j;
}

void count_update(const Journal& j, Finalized& out) {
    const std::set<long> kept(j.mapping.begin(), j.mapping.end());
    for (const auto& s : j.staged) {
        if (kept.contains(static_cast<long>(s.final_index))) {
            ++out.replaced;
        } else if (j.mapping.empty() || static_cast<long>(s.final_index) > j.mapping.back()) {
            ++out.appended;
        } else {
            ++out.inserted;
        }
    }
}

} // namespace baims::cube
