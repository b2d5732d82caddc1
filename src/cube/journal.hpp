#pragma once
// The update journal of a cube (.baims-journal.json). An update first stages every new chunk
// under .baims-staging/, then writes the journal (the commit point), then applies it.
//
// An update that changes time steps readers already see (an insert shifts them, a replacement
// rewrites them) is applied by exchange, so that a reader opening the cube sees the complete old
// or the complete new cube at every instant:
//   B  build the new cube in the sibling folder <cube>.baims-swap/ (from scratch: hard links to
//      every chunk the new cube keeps, at its new time index, and to the staged chunks; the new
//      metadata; the lock file, linked, so the lock stays the same file; the journal in phase D),
//      then exchange <cube> and <cube>.baims-swap with renameat2(RENAME_EXCHANGE)
//   D  (the journal of the new tree) delete the old tree, now <cube>.baims-swap; remove the journal
// An update that only appends time steps (nothing a reader sees moves) is applied in place:
//   S  move the chunks of slices that shift to their new time indices, latest first (unused
//      since inserts go by exchange; kept so that a journal of an older baims completes)
//   C  move staged slices into place (and erase chunks that are empty in the new content)
//   M  write coordinates and metadata, .zmetadata last; remove the journal and the staging area
// Every phase is idempotent, so a rerun after kill -9 completes a committed update.

#include "baims/cube/cube_state.hpp"
#include "baims/zarr/kv_store.hpp"

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace baims::cube {

inline const std::string JOURNAL_KEY = ".baims-journal.json";
inline const std::string STAGING_DIR = ".baims-staging";
inline const std::string LOCK_FILE = ".baims-lock";

struct StagedSlice {
    size_t seq = 0;         // staging folder: .baims-staging/<seq>/<var>/<y>.<x>
    size_t final_index = 0; // time index in the new cube
    std::map<std::string, std::vector<std::string>> write; // var -> "y.x" staged chunks
    std::map<std::string, std::vector<std::string>> erase; // var -> "y.x" chunks to remove
};

struct Journal {
    std::string phase = "S";
    std::vector<long> mapping; // old time index -> new time index (size = old nt)
    std::map<std::string, std::vector<std::string>> moving; // var -> "t.y.x" chunks at moving t
    std::vector<StagedSlice> staged;
    CubeState state; // the new state (metadata written in phase M)
};

void write_journal(zarr::KvStore& store, const Journal& journal);          // then store.sync()
void write_journal_unsynced(zarr::KvStore& store, const Journal& journal); // atomic put only
// The journal as JSON and back (also the done-marker of a partition of an update: partition.hpp).
nlohmann::json journal_to_json(const Journal& journal);
Journal journal_from_json(const nlohmann::json& json); // throws on a malformed journal
std::optional<Journal> read_journal(const zarr::KvStore& store);

inline const std::string SWAP_SUFFIX = ".baims-swap";

// A folder named by the user, without a trailing separator ("out.levels/" -> "out.levels"), so
// that its swap folder and parent are beside it, not inside it.
std::filesystem::path folder_path(const std::filesystem::path& folder);

// The sibling folder in which an update by exchange builds the new cube.
std::filesystem::path swap_dir(const std::filesystem::path& root);

// True when the update must go by exchange (phase B): a time step readers see shifts or is
// rewritten. old_nt is the cube's length before the update.
bool needs_exchange(const std::vector<long>& mapping, const std::vector<StagedSlice>& staged);

// link(from, to), and renameat2(a, b, RENAME_EXCHANGE): the primitives of the exchange (also
// used by tiles for its pyramid and PNG folder). Throw OutputError naming the file system's
// answer; `what` names the tree in the hint ("The <what> must lie on a file system ...").
void hard_link(const std::filesystem::path& from, const std::filesystem::path& to,
               const std::string& what = "cube");
void exchange(const std::filesystem::path& a, const std::filesystem::path& b,
              const std::string& what = "cube");
// Links every file under `from` to the same name under `to` (created; a tree of folders), except
// the temporary files of killed atomic writes (also used by tiles --png for unchanged steps).
void link_tree(const std::filesystem::path& from, const std::filesystem::path& to,
               const std::string& what = "cube");

// Throws OutputError (naming the file system's answer) when the file system of root cannot
// exchange two folders atomically or make hard links; leaves nothing behind. Called before the
// commit, so a refusal leaves the cube (the <what>) untouched.
void check_exchange_support(const std::filesystem::path& root, const std::string& what = "cube");

// remove_all(dir); OutputError "cannot remove '<dir>': <why>. Remove it by hand and rerun".
void remove_tree(const std::filesystem::path& dir);

// The commit of a tree built complete in swap_dir(dir) (tiles' pyramid and PNG folder): one
// syncfs makes the new tree durable (on failure it is removed), fault point `before`, then
// renameat2(RENAME_EXCHANGE) swaps it with dir in one step (the commit point), the parent folder
// is synced, fault point `after`, and the old tree, now in swap_dir(dir), is removed.
void commit_exchange(const std::filesystem::path& dir, const char* before, const char* after,
                     const std::string& what);

// A journal of file moves under a folder `root` (tiles --update's append; docs/crash-safety.md,
// "baims tiles"): the new versions of files are written under root/STAGING_DIR/<key>, then the
// list of operations below is made durable and moved to root/JOURNAL_KEY (the commit point), then
// applied in order, then the journal and the staging folder are removed. Each operation is
// idempotent, so a rerun after kill -9 applies the whole list again and ends in the same files:
//   EraseIfStaged  unlink root/<key> while its staged replacement is still there (a chunk whose
//                  size changes must not be read under the old metadata)
//   Move           rename root/STAGING_DIR/<staged_name(key)> onto root/<key> if the staged file
//                  is there
//   Erase          unlink root/<key> (a file the new content does not have)
struct FileOp {
    enum Kind { EraseIfStaged, Move, Erase } kind;
    std::string key;
};
// The name in root/STAGING_DIR of the staged version of <key>: the key with '%' as "%25" and '/'
// as "%2F", so that every staged file lies in the one staging folder (a folder per level and
// array to create and remove was a third of the commit's file operations, each of which waits
// for the file system's journal on a busy disk). A journal of an older baims, which staged
// root/STAGING_DIR/<key>, is still applied.
std::string staged_name(const std::string& key);
// Writes the journal into root/STAGING_DIR, one syncfs (the journal, the staged files and
// whatever else the caller wrote become durable together), fault point `before`, renames the
// journal into root and fsyncs root (the commit point); fault point `each` before every
// operation, applies them, one syncfs, fault point `done`, removes the journal and the staging
// folder (not synced: a journal that comes back is applied again without effect).
void commit_file_ops(const std::filesystem::path& root, const std::vector<FileOp>& ops,
                     const char* before, const char* each, const char* done);
// commit_file_ops in two steps: stage_file_ops writes the journal into root/STAGING_DIR (nothing
// durable, nothing a reader sees: a run killed after it has the folder removed by the next one),
// so that a caller can do it while other threads still write the files the journal names;
// commit_staged_file_ops is the rest (from the syncfs on), once every staged file is written.
void stage_file_ops(const std::filesystem::path& root, const std::vector<FileOp>& ops);
void commit_staged_file_ops(const std::filesystem::path& root, const std::vector<FileOp>& ops,
                            const char* before, const char* each, const char* done);
// Completes a journal of file moves that a killed commit_file_ops left in root (true), or does
// nothing (false); then removes a staging folder no journal names. Call with root's lock held.
bool complete_file_ops(const std::filesystem::path& root, const char* each, const char* done);

// The JSON document of a small file of a store, or null when it is absent or not JSON.
nlohmann::json read_json_file(const zarr::KvStore& store, const std::string& key);

// Applies a committed journal from its phase to the end. root is the cube directory.
void apply_journal(zarr::KvStore& store, const std::filesystem::path& root, Journal journal);

// Removes the temporary files ("<name>.tmp.<pid>.<n>") that a writer killed inside an atomic put
// leaves in the cube's root folder and, with `arrays`, in its array folders (readers never list
// them). Array folders are only written in phase M of a journal: pass arrays = true when a journal
// was found (listing a data variable's folder costs one entry per chunk). Call with the lock held.
void remove_temp_files(const std::filesystem::path& root, bool arrays);

// "t.y.x" keys of the chunks present in a variable's directory.
std::vector<std::string> list_chunks(const zarr::KvStore& store, const std::string& var);

} // namespace baims::cube
