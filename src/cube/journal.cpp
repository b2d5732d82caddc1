#include "journal.hpp"

#include "parallel.hpp"

#include "baims/core/error.hpp"
#include "baims/core/fault.hpp"
#include "baims/core/fs.hpp"
#include "baims/core/log.hpp"
#include "baims/zarr/array_meta.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <set>
#include <unistd.h>

namespace baims::cube {
namespace {

// Splits "t.y.x" into t and "y.x".
std::pair<long, std::string> split_chunk(const std::string& key) {
    auto dot = key.find('.');
    return {std::stol(key.substr(0, dot)), key.substr(dot + 1)};
}

namespace sfs = std::filesystem;

// The store of the tree built in phase B: files are written without an fsync each, and its
// sync() does nothing: no reader sees the tree before the exchange, so the order in which its
// files reach the disk does not matter, and one syncfs just before the exchange makes the whole
// tree (and the journal of phase B) durable. (write_cube_metadata syncs between its steps for a
// cube that readers see; here each of those syncfs calls would flush the whole file system.)
class SwapStore : public zarr::FileStore {
public:
    explicit SwapStore(const sfs::path& root)
        : zarr::FileStore(root, false) {}
    void sync() override {}
};

} // namespace

void hard_link(const sfs::path& from, const sfs::path& to, const std::string& what) {
    if (::link(from.c_str(), to.c_str()) != 0) {
        const int err = errno;
        throw OutputError(
            "cannot link '" + from.string() + "' to '" + to.string() + "': " + std::strerror(err),
            "The " + what + " must lie on a file system with hard links (ext4, xfs, btrfs)");
    }
}

namespace {

void make_dir(const sfs::path& dir, const std::string& what = "cube") {
    std::error_code ec;
    sfs::create_directory(dir, ec);
    if (ec) {
        throw OutputError("cannot create '" + dir.string() + "': " + ec.message(),
                          "Check that the " + what + "'s parent folder is writable");
    }
}

} // namespace

void link_tree(const sfs::path& from, const sfs::path& to, const std::string& what) {
    make_dir(to, what);
    for (const auto& e : sfs::directory_iterator(from)) {
        const auto name = e.path().filename();
        if (zarr::FileStore::is_temp_name(name.string())) {
            continue;
        }
        if (e.is_directory()) {
            link_tree(e.path(), to / name, what);
        } else {
            hard_link(e.path(), to / name, what);
        }
    }
}

void exchange(const sfs::path& a, const sfs::path& b, const std::string& what) {
    if (::renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE) != 0) {
        const int err = errno;
        throw OutputError("cannot exchange '" + a.string() + "' and '" + b.string() +
                              "' (renameat2 RENAME_EXCHANGE): " + std::strerror(err),
                          "The " + what +
                              " must lie on a local Linux file system that can exchange two "
                              "folders atomically (ext4, xfs, btrfs, tmpfs)");
    }
}

void remove_tree(const sfs::path& dir) {
    std::error_code ec;
    sfs::remove_all(dir, ec);
    if (ec) {
        throw OutputError("cannot remove '" + dir.string() + "': " + ec.message(),
                          "Remove it by hand and rerun");
    }
}

namespace {

// remove_tree(dir), the files of the whole tree first unlinked on the run's thread pool
// (parallel.hpp): on this project's machines (ext4 without a journal, mounted with `discard`) each
// unlink that frees a file's blocks waits for the disk's discard, 0.3 ms when idle and up to 4 ms
// when others write; in parallel the waits overlap. Errors are left to remove_tree().
void remove_tree_parallel(const sfs::path& dir) {
    std::vector<std::string> files;
    std::error_code ec;
    for (sfs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        std::error_code ec2;
        if (!it->is_directory(ec2)) {
            files.push_back(it->path().string());
        }
    }
    constexpr int MAX_THREADS = 8; // (without an installed pool, threads started for the call)
    parallel_for(files.size(), MAX_THREADS, [&](size_t i, size_t) {
        ::unlink(files[i].c_str()); // errors: remove_tree reports them
    });
    remove_tree(dir);
}

} // namespace

void commit_exchange(const sfs::path& dir, const char* before, const char* after,
                     const std::string& what) {
    const auto swap = swap_dir(dir);
    try {
        fs::sync_filesystem(swap); // one syncfs makes the whole new tree durable
    } catch (...) {
        std::error_code ignored;
        sfs::remove_all(swap, ignored);
        throw;
    }
    fault_point(before);
    exchange(swap, dir, what); // the commit point
    fs::sync_dir(dir.has_parent_path() ? dir.parent_path() : sfs::path("."));
    fault_point(after);
    remove_tree_parallel(swap); // the old tree (its files on the run's workers)
}

namespace {

const char* op_code(FileOp::Kind k) {
    return k == FileOp::EraseIfStaged ? "e" : k == FileOp::Move ? "m" : "x";
}

void unlink_if_there(const sfs::path& p) {
    if (::unlink(p.c_str()) != 0 && errno != ENOENT) {
        const int err = errno;
        throw OutputError("cannot remove '" + p.string() + "': " + std::strerror(err),
                          "Check the folder's permissions and rerun: the interrupted update is "
                          "completed first");
    }
}

// The name in the staging folder of the second link to the file at <key> that an operation
// replaces or removes (link_replaced): never a staged_name(), whose '%' is always "%25" or "%2F".
std::string old_name(const std::string& key) {
    return "%old%" + staged_name(key);
}

// Gives every file that the operations will replace or remove a second name in the staging
// folder (a hard link; errors ignored: a key with no file yet, or a link that fails, only costs
// the time below). The renames and unlinks of the commit then drop one of two links, and the
// inode is freed later, when the staging folder is emptied (remove_staging, in parallel): on this
// project's machines (ext4 without a journal, mounted with `discard`) freeing a file's blocks
// waits for a discard request to the disk, 0.3 ms each when idle and up to 4 ms when others
// write, one after the other in the commit before. The links change nothing readers see (no
// file's bytes, no name in the pyramid), and need not be durable.
void link_replaced(const sfs::path& root, const std::vector<FileOp>& ops) {
    const sfs::path staging = root / STAGING_DIR;
    std::set<std::string> done;
    for (const auto& op : ops) {
        if (done.insert(op.key).second) {
            ::link((root / op.key).c_str(), (staging / old_name(op.key)).c_str());
        }
    }
}

// Removes the staging folder: its files on the run's thread pool (remove_tree_parallel; each
// unlink that frees a file's blocks waits for the disk's discard, link_replaced: in parallel those
// waits overlap; measured under load, 24 files: 49-89 ms one by one, 6-46 ms, median 11, on the
// two workers), then the folder itself.
void remove_staging(const sfs::path& staging) {
    remove_tree_parallel(staging);
}

void apply_file_ops(const sfs::path& root, const std::vector<FileOp>& ops, const char* each,
                    const char* done) {
    const sfs::path staging = root / STAGING_DIR;
    std::set<sfs::path> dirs; // folders whose entries changed
    for (const auto& op : ops) {
        fault_point(each);
        const sfs::path to = root / op.key;
        sfs::path from = staging / staged_name(op.key);
        if (op.kind != FileOp::Erase && op.key.find('/') != std::string::npos &&
            ::access(from.c_str(), F_OK) != 0) {
            from = staging / op.key; // (a journal of an older baims: staged in folders)
        }
        if (op.kind == FileOp::Erase) {
            unlink_if_there(to);
        } else if (::access(from.c_str(), F_OK) == 0) {
            if (op.kind == FileOp::EraseIfStaged) {
                unlink_if_there(to);
            } else {
                std::error_code ec;
                sfs::create_directories(to.parent_path(), ec);
                if (::rename(from.c_str(), to.c_str()) != 0) {
                    const int err = errno;
                    throw OutputError("cannot move '" + from.string() + "' to '" + to.string() +
                                          "': " + std::strerror(err),
                                      "Check the folder's permissions and rerun: the "
                                      "interrupted update is completed first");
                }
            }
        } else {
            continue; // applied before a kill
        }
        dirs.insert(to.parent_path());
    }
    if (!dirs.empty()) {
        // the renames and unlinks are durable before the journal goes: one syncfs rather than an
        // fsync per changed folder (each of those blocked on its own journal commit)
        fs::sync_filesystem(root);
    }
    fault_point(done);
    // Not synced: should the journal's removal be lost, the next run applies it again, which
    // changes nothing (every staged file was moved, durably; its erases name files the new
    // content does not have). A later update's commit makes the removal durable first (its
    // journal's fsync of this folder, or the syncfs before an exchange).
    // The journal is moved into the staging folder rather than unlinked here (an unlink would
    // free its blocks, one discard wait), and the folder is removed with it.
    std::error_code ec;
    if (::rename((root / JOURNAL_KEY).c_str(), (staging / JOURNAL_KEY).c_str()) != 0) {
        sfs::remove(root / JOURNAL_KEY, ec);
    }
    try {
        remove_staging(staging);
    } catch (const Error&) { // as before: a staging folder left is removed by the next run
    }
}

} // namespace

std::string staged_name(const std::string& key) {
    std::string name;
    name.reserve(key.size() + 8);
    for (char c : key) {
        if (c == '%') {
            name += "%25";
        } else if (c == '/') {
            name += "%2F";
        } else {
            name += c;
        }
    }
    return name;
}

void stage_file_ops(const sfs::path& root, const std::vector<FileOp>& ops) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& op : ops) {
        list.push_back({op_code(op.kind), op.key});
    }
    // The journal is written into the staging folder (no reader, and a run killed before the
    // commit point has it removed with the folder), made durable by the same syncfs as the staged
    // files and the caller's new chunks (commit_staged_file_ops), then renamed into place: no
    // fsync of its own. Its writeback starts at once, as the staged files' (stage_level).
    const sfs::path staging = root / STAGING_DIR;
    std::error_code ec;
    sfs::create_directories(staging, ec);
    link_replaced(root, ops);
    fs::write_file(staging / JOURNAL_KEY,
                   nlohmann::json{{"phase", "file-ops"}, {"ops", list}}.dump(), true);
}

void commit_staged_file_ops(const sfs::path& root, const std::vector<FileOp>& ops,
                            const char* before, const char* each, const char* done) {
    const sfs::path staged_journal = root / STAGING_DIR / JOURNAL_KEY;
    fs::sync_filesystem(root);
    fault_point(before);
    if (::rename(staged_journal.c_str(), (root / JOURNAL_KEY).c_str()) != 0) {
        const int err = errno;
        throw OutputError("cannot move '" + staged_journal.string() + "' to '" +
                              (root / JOURNAL_KEY).string() + "': " + std::strerror(err),
                          "Check the folder's permissions and rerun");
    }
    fs::sync_dir(root); // the commit point
    apply_file_ops(root, ops, each, done);
}

void commit_file_ops(const sfs::path& root, const std::vector<FileOp>& ops, const char* before,
                     const char* each, const char* done) {
    stage_file_ops(root, ops);
    commit_staged_file_ops(root, ops, before, each, done);
}

bool complete_file_ops(const sfs::path& root, const char* each, const char* done) {
    const sfs::path path = root / JOURNAL_KEY;
    std::error_code ec;
    if (!sfs::exists(path, ec)) {
        remove_staging(root / STAGING_DIR); // an update that never committed
        return false;
    }
    std::vector<FileOp> ops;
    try {
        const auto j = nlohmann::json::parse(fs::read_file(path));
        if (j.at("phase").get<std::string>() != "file-ops") {
            throw std::runtime_error("unknown phase '" + j.at("phase").get<std::string>() + "'");
        }
        for (const auto& o : j.at("ops")) {
            const auto code = o.at(0).get<std::string>();
            const auto kind = code == "e"   ? FileOp::EraseIfStaged
                              : code == "m" ? FileOp::Move
                              : code == "x"
                                  ? FileOp::Erase
                                  : throw std::runtime_error("unknown operation '" + code + "'");
            ops.push_back({kind, o.at(1).get<std::string>()});
        }
    } catch (const std::exception& e) {
        throw OutputError("the update journal '" + path.string() + "' is unreadable: " + e.what(),
                          "Remove the folder and build it again; the journal is written "
                          "atomically, so this means outside damage");
    }
    log::warn("completing an interrupted update of '" + root.string() + "'");
    apply_file_ops(root, ops, each, done);
    return true;
}

nlohmann::json read_json_file(const zarr::KvStore& store, const std::string& key) {
    auto b = store.get(key);
    if (!b) {
        return nullptr;
    }
    try {
        return nlohmann::json::parse(*b);
    } catch (const nlohmann::json::exception&) {
        return nullptr;
    }
}

namespace {

// Phase B: the new cube, built from scratch in the sibling folder (a partial one of a killed run
// is removed first), its journal in phase D; then the exchange.
void build_and_exchange(const sfs::path& root, const Journal& j) {
    const auto swap = swap_dir(root);
    remove_tree(swap);
    make_dir(swap);
    const size_t old_nt = j.mapping.size();
    // "var/t.y.x" of the new cube that the staged slices write or leave empty
    std::set<std::string> replaced;
    for (const auto& s : j.staged) {
        for (const auto* m : {&s.write, &s.erase}) {
            for (const auto& [var, list] : *m) {
                for (const auto& pos : list) {
                    replaced.insert(var + "/" + std::to_string(s.final_index) + "." + pos);
                }
            }
        }
    }
    const std::set<std::string> timed(j.state.var_order.begin(), j.state.var_order.end());
    for (const auto& e : sfs::directory_iterator(root)) {
        const auto name = e.path().filename().string();
        if (name == JOURNAL_KEY || zarr::FileStore::is_temp_name(name)) {
            continue;
        }
        if (!e.is_directory()) {
            hard_link(e.path(), swap / name); // the lock, .zgroup, ... (metadata rewritten below)
            continue;
        }
        if (name.empty() || name[0] == '.') {
            continue; // .baims-staging (linked from below), leftovers of other commands
        }
        if (!timed.contains(name)) {
            link_tree(e.path(), swap / name); // coordinates (rewritten below), other arrays
            continue;
        }
        make_dir(swap / name);
        for (const auto& c : sfs::directory_iterator(e.path())) {
            const auto file = c.path().filename().string();
            if (zarr::FileStore::is_temp_name(file) || c.is_directory()) {
                continue;
            }
            if (file[0] == '.' || std::count(file.begin(), file.end(), '.') != 2) {
                hard_link(c.path(), swap / name / file);
                continue;
            }
            const auto [t, pos] = split_chunk(file);
            if (t < 0 || t >= static_cast<long>(old_nt)) {
                continue; // beyond the cube's end: no reader sees it
            }
            const std::string to = std::to_string(j.mapping[static_cast<size_t>(t)]) + "." + pos;
            if (!replaced.contains(name + "/" + to)) {
                hard_link(c.path(), swap / name / to);
            }
        }
    }
    for (const auto& s : j.staged) {
        for (const auto& [var, list] : s.write) {
            for (const auto& pos : list) {
                fault_point("journal-B");
                hard_link(root / STAGING_DIR / std::to_string(s.seq) / var / pos,
                          swap / var / (std::to_string(s.final_index) + "." + pos));
            }
        }
    }
    SwapStore store(swap);
    write_cube_metadata(store, j.state);
    Journal done = j;
    done.phase = "D";
    write_journal(store, done);
    fs::sync_filesystem(swap); // the whole new tree is durable before it becomes the cube
    fault_point("journal-X");
    exchange(root, swap);
    fs::sync_dir(root.has_parent_path() ? root.parent_path() : sfs::path("."));
}

} // namespace

sfs::path folder_path(const sfs::path& folder) {
    sfs::path p = folder.lexically_normal();
    if (!p.has_filename() && p.has_parent_path()) {
        p = p.parent_path();
    }
    return p;
}

sfs::path swap_dir(const sfs::path& root) {
    return folder_path(root) += SWAP_SUFFIX;
}

bool needs_exchange(const std::vector<long>& mapping, const std::vector<StagedSlice>& staged) {
    for (size_t t = 0; t < mapping.size(); ++t) {
        if (mapping[t] != static_cast<long>(t)) {
            return true;
        }
    }
    return std::any_of(staged.begin(), staged.end(),
                       [&](const StagedSlice& s) { return s.final_index < mapping.size(); });
}

void check_exchange_support(const sfs::path& root, const std::string& what) {
    const auto swap = swap_dir(root);
    std::error_code ec;
    sfs::remove_all(swap, ec);
    make_dir(swap, what);
    struct Cleanup {
        sfs::path dir;
        ~Cleanup() {
            std::error_code e;
            sfs::remove_all(dir, e);
        }
    } cleanup{swap};
    make_dir(swap / "a", what);
    make_dir(swap / "b", what);
    exchange(swap / "a", swap / "b", what);
    fs::write_file(swap / "a" / "f", "");
    hard_link(swap / "a" / "f", swap / "b" / "f", what);
}

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

nlohmann::json journal_to_json(const Journal& j) {
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
    return o;
}

Journal journal_from_json(const nlohmann::json& o) {
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
}

void write_journal_unsynced(zarr::KvStore& store, const Journal& j) {
    store.put(JOURNAL_KEY, journal_to_json(j).dump());
}

void write_journal(zarr::KvStore& store, const Journal& j) {
    write_journal_unsynced(store, j);
    store.sync();
}

std::optional<Journal> read_journal(const zarr::KvStore& store) {
    auto text = store.get(JOURNAL_KEY);
    if (!text) {
        return std::nullopt;
    }
    try {
        return journal_from_json(nlohmann::json::parse(*text));
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
    if (j.phase == "B") {
        build_and_exchange(root, j);
        j.phase = "D"; // the journal of the tree now at root says so too
    }
    if (j.phase == "D") {
        fault_point("journal-D");
        const auto old_tree = swap_dir(root);
        std::error_code ec;
        sfs::remove_all(old_tree, ec);
        if (ec) {
            log::warn("could not remove the old cube '" + old_tree.string() + "' (" + ec.message() +
                      "); remove it by hand");
        }
        store.erase(JOURNAL_KEY);
        fs::sync_dir(root);
        return;
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
