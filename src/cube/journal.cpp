#include "journal.hpp"

#include "baims/core/error.hpp"
#include "baims/core/fault.hpp"
#include "baims/core/fs.hpp"
#include "baims/core/log.hpp"
#include "baims/zarr/array_meta.hpp"

#include <algorithm>

namespace baims::cube {
namespace {

// Splits "t.y.x" into t and "y.x".
std::pair<long, std::string> split_chunk(const std::string& key) {
    auto dot = key.find('.');
    return {std::stol(key.substr(0, dot)), key.substr(dot + 1)};
}

} // namespace

std::vector<std::string> list_chunks(const zarr::KvStore& store, const std::string& var) {
    std::vector<std::string> out;
    for (const auto& name : store.list(var)) {
        if (name.empty() || name[0] == '.' || name.find(".tmp.") != std::string::npos) {
            continue;
        }
        if (std::count(name.begin(), name.end(), '.') == 2) {
            out.push_back(name);
        }
    }
    return out;
}

void remove_temp_files(const std::filesystem::path& root, bool arrays) {
    namespace sfs = std::filesystem;
    std::error_code ec;
    auto sweep = [&](const sfs::path& dir, bool descend) {
        for (sfs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
            const auto name = it->path().filename().string();
            std::error_code ec2;
            if (zarr::FileStore::is_temp_name(name)) {
                sfs::remove(it->path(), ec2);
            } else if (descend && !name.empty() && name[0] != '.' && it->is_directory(ec2)) {
                sfs::directory_iterator sub(it->path(), ec2);
                for (sfs::directory_iterator e; !ec2 && sub != e; sub.increment(ec2)) {
                    if (zarr::FileStore::is_temp_name(sub->path().filename().string())) {
                        std::error_code ec3;
                        sfs::remove(sub->path(), ec3);
                    }
                }
            }
        }
    };
    sweep(root, arrays);
}

void write_journal(zarr::KvStore& store, const Journal& j) {
    nlohmann::json o;
    o["phase"] = j.phase;
    o["mapping"] = j.mapping;
    o["moving"] = j.moving;
    nlohmann::json staged = nlohmann::json::array();
    for (const auto& s : j.staged) {
        staged.push_back({{"seq", s.seq},
                          {"final_index", s.final_index},
                          {"write", s.write},
                          {"erase", s.erase}});
    }
    o["staged"] = staged;
    o["state"] = j.state.to_json();
    store.put(JOURNAL_KEY, o.dump());
    store.sync();
}

std::optional<Journal> read_journal(const zarr::KvStore& store) {
    auto text = store.get(JOURNAL_KEY);
    if (!text) {
        return std::nullopt;
    }
    try {
        auto o = nlohmann::json::parse(*text);
        Journal j;
        j.phase = o.at("phase").get<std::string>();
        j.mapping = o.at("mapping").get<std::vector<long>>();
        j.moving = o.at("moving").get<std::map<std::string, std::vector<std::string>>>();
        for (const auto& s : o.at("staged")) {
            StagedSlice st;
            st.seq = s.at("seq").get<size_t>();
            st.final_index = s.at("final_index").get<size_t>();
            st.write = s.at("write").get<std::map<std::string, std::vector<std::string>>>();
            st.erase = s.at("erase").get<std::map<std::string, std::vector<std::string>>>();
            j.staged.push_back(std::move(st));
        }
        j.state = CubeState::from_json(o.at("state"));
        return j;
    } catch (const std::exception& e) {
        throw OutputError("the update journal of cube '" + store.describe() +
                              "' is unreadable: " + e.what(),
                          "Restore the cube from a backup; the journal is written atomically, so "
                          "this means outside damage");
    }
}

void apply_journal(zarr::KvStore& store, const std::filesystem::path& root, Journal j) {
    auto advance = [&](const char* next) {
        store.sync();
        j.phase = next;
        write_journal(store, j);
    };
    bool shifts = false;
    for (size_t t = 0; t < j.mapping.size(); ++t) {
        shifts = shifts || j.mapping[t] != static_cast<long>(t);
    }
    if (j.phase == "S" && !shifts) {
        j.phase = "C"; // nothing shifts (appends, replacements): phase S has no work
    }
    if (j.phase == "S") {
        // Each chunk moves once, straight to its new time index, latest time first. The mapping
        // only shifts up and keeps the order, so the target of a move is always free: the chunk
        // that was there (same position, later time) has moved on already, and nothing lies
        // beyond the old end (cleared before the commit). Hence "target exists" means "moved":
        // the phase can be repeated after a crash at any rename.
        for (const auto& [var, chunks] : j.moving) {
            std::vector<std::pair<long, std::string>> order;
            for (const auto& c : chunks) {
                order.push_back(split_chunk(c));
            }
            std::sort(order.begin(), order.end(),
                      [](const auto& a, const auto& b) { return a.first > b.first; });
            for (const auto& [t, pos] : order) {
                const std::string dst =
                    var + "/" + std::to_string(j.mapping[static_cast<size_t>(t)]) + "." + pos;
                const std::string src = var + "/" + std::to_string(t) + "." + pos;
                if (store.exists(dst)) {
                    continue;
                }
                if (!store.exists(src)) {
                    log::warn("cube '" + store.describe() + "': chunk " + src +
                              " of the update is missing; its place stays empty");
                    continue;
                }
                fault_point("journal-S");
                store.rename(src, dst);
            }
        }
        advance("C");
    }
    if (j.phase == "C") {
        for (const auto& s : j.staged) {
            for (const auto& [var, list] : s.write) {
                for (const auto& pos : list) {
                    auto src = STAGING_DIR + "/" + std::to_string(s.seq) + "/" + var + "/" + pos;
                    if (store.exists(src)) {
                        fault_point("journal-C");
                        store.rename(src, var + "/" + std::to_string(s.final_index) + "." + pos);
                    }
                }
            }
            for (const auto& [var, list] : s.erase) {
                for (const auto& pos : list) {
                    store.erase(var + "/" + std::to_string(s.final_index) + "." + pos);
                }
            }
        }
        advance("M");
    }
    if (j.phase == "M") {
        fault_point("journal-M");
        write_cube_metadata(store, j.state); // .zmetadata last, synced by consolidate()
        fault_point("journal-M-done");
        store.erase(JOURNAL_KEY);
        std::error_code ec;
        std::filesystem::remove_all(root / STAGING_DIR, ec);
        fs::sync_dir(root);
        return;
    }
    throw OutputError("the update journal of cube '" + store.describe() + "' has unknown phase '" +
                      j.phase + "'");
}

} // namespace baims::cube
