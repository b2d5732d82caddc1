// zarr::VsiStore: keys as objects under a GDAL /vsis3/ prefix (vsi_store.hpp).

#include "baims/zarr/vsi_store.hpp"

#include "baims/core/error.hpp"

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <cpl_vsi.h>
#include <cpl_vsi_error.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <optional>
#include <sys/stat.h>
#include <vector>

namespace baims::zarr {
namespace {

// What to do when the server cannot be asked or refuses (no credentials in it).
const char* const SERVER_HINT = "Check AWS_S3_ENDPOINT, the credentials GDAL finds (AWS_* "
                                "variables, ~/.aws) and the network, then run again";

void check_key(const std::string& key, const char* op) {
    if (!is_valid_key(key)) {
        throw InternalError(std::string("invalid zarr store key '") + key + "' in " + op);
    }
}

// A GDAL message with every credential GDAL could have used replaced by "***": a server's
// error document may quote the access key, and nothing of them belongs in a message or a log.
std::string redacted(std::string msg) {
    for (const char* name : {"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID"}) {
        const char* value = CPLGetConfigOption(name, nullptr);
        if (value == nullptr || std::string_view(value).size() < 4) {
            continue;
        }
        const std::string v(value);
        for (size_t at = msg.find(v); at != std::string::npos; at = msg.find(v, at)) {
            msg.replace(at, v.size(), "***");
        }
    }
    return msg;
}

// The cause of the last failure of a VSI/CPL call on this thread, for a message ("" if none).
std::string last_cause() {
    std::string msg = VSIGetLastErrorNo() != VSIE_None ? VSIGetLastErrorMsg() : "";
    if (msg.empty() && CPLGetLastErrorType() >= CE_Warning) {
        msg = CPLGetLastErrorMsg(); // a server that cannot be reached is only a warning
    }
    return msg.empty() ? std::string() : ": " + redacted(msg);
}

// After a failed VSIStatExL: true if the object is simply not there (the server said so, or
// GDAL knew it), false if the server could not be asked (GDAL then only warns).
bool not_found() {
    if (VSIGetLastErrorNo() == VSIE_AWSObjectNotFound) {
        return true;
    }
    return VSIGetLastErrorNo() == VSIE_None && CPLGetLastErrorType() < CE_Warning;
}

void reset_errors() {
    VSIErrorReset();
    CPLErrorReset();
}

// Owns a VSILFILE*; close() reports the result of the upload (S3 writes on close).
class VsiFile {
public:
    explicit VsiFile(VSILFILE* fp)
        : m_fp(fp) {}
    VsiFile(const VsiFile&) = delete;
    VsiFile& operator=(const VsiFile&) = delete;
    ~VsiFile() {
        if (m_fp != nullptr) {
            VSIFCloseL(m_fp);
        }
    }
    VSILFILE* get() const { return m_fp; }
    bool close() {
        VSILFILE* fp = m_fp;
        m_fp = nullptr;
        return VSIFCloseL(fp) == 0;
    }

private:
    VSILFILE* m_fp;
};

// Owns a CSL string list (VSIReadDir).
class NameList {
public:
    explicit NameList(char** list)
        : m_list(list) {}
    NameList(const NameList&) = delete;
    NameList& operator=(const NameList&) = delete;
    ~NameList() { CSLDestroy(m_list); }
    char** get() const { return m_list; }

private:
    char** m_list;
};

// Forgets what GDAL cached about the objects of `root`'s bucket: sizes, "not found" answers and
// listings (of the object's folder and of its parents, which GDAL also consults). Another
// process, or a server-side copy, may have changed any of them.
void forget_cached(const std::string& root) {
    const auto bucket_end = root.find('/', std::string_view("/vsis3/").size());
    const auto bucket = root.substr(0, bucket_end);
    VSICurlPartialClearCache(bucket.c_str());
    VSICurlPartialClearCache(("/vsis3_streaming/" + bucket.substr(std::strlen("/vsis3/"))).c_str());
}

// Sets a GDAL config option for this thread while it lives.
class ThreadOption {
public:
    ThreadOption(const char* key, const char* value)
        : m_key(key) {
        if (const char* old = CPLGetThreadLocalConfigOption(key, nullptr)) {
            m_old = old;
            m_had = true;
        }
        CPLSetThreadLocalConfigOption(key, value);
    }
    ThreadOption(const ThreadOption&) = delete;
    ThreadOption& operator=(const ThreadOption&) = delete;
    ~ThreadOption() { CPLSetThreadLocalConfigOption(m_key, m_had ? m_old.c_str() : nullptr); }

private:
    const char* m_key;
    std::string m_old;
    bool m_had = false;
};

// The size and time of the object at `path` (under `root`), fresh from the server; nullopt if
// there is no such object (or only a "folder" of that name). Throws RemoteError if the server
// cannot be asked or refuses.
std::optional<VSIStatBufL> stat_object(const std::string& root, const std::string& path) {
    forget_cached(root);
    reset_errors();
    VSIStatBufL st{};
    if (VSIStatExL(path.c_str(), &st,
                   VSI_STAT_EXISTS_FLAG | VSI_STAT_NATURE_FLAG | VSI_STAT_SIZE_FLAG |
                       VSI_STAT_SET_ERROR_FLAG) != 0) {
        if (not_found()) {
            return std::nullopt;
        }
        throw RemoteError("cannot read '" + path + "'" + last_cause(), SERVER_HINT);
    }
    if (!S_ISREG(st.st_mode)) {
        return std::nullopt; // a "folder" (common prefix), not a key
    }
    return st;
}

} // namespace

bool is_object_storage_path(std::string_view path) {
    return path.starts_with("/vsis3/");
}

VsiStore::VsiStore(std::string root)
    : m_root(std::move(root)) {
    while (m_root.size() > 1 && m_root.back() == '/') {
        m_root.pop_back();
    }
    if (!is_object_storage_path(m_root + "/")) {
        throw InternalError("VsiStore needs a /vsis3/ path, not '" + m_root + "'");
    }
}

std::string VsiStore::path_of(const std::string& key) const {
    return key.empty() ? m_root : m_root + "/" + key;
}

StoreCapabilities VsiStore::capabilities() const {
    return {}; // no atomic rename, no rename of a folder, nothing to sync, no lock
}

std::optional<std::string> VsiStore::get(const std::string& key) const {
    check_key(key, "get");
    const auto path = path_of(key);
    // One GET, through GDAL's streaming handler: /vsis3/ would first look the object up (a
    // ranged GET of its first 16 KB, then a second GET for the rest of a larger object). A
    // missing object is that GET's 404.
    const std::string stream = "/vsis3_streaming/" + path.substr(std::strlen("/vsis3/"));
    forget_cached(m_root);
    reset_errors();
    {
        VsiFile file(VSIFOpenExL(stream.c_str(), "rb", TRUE));
        if (file.get() != nullptr) {
            std::string out;
            constexpr size_t BLOCK = 1 << 20;
            for (;;) {
                const size_t at = out.size();
                out.resize(at + BLOCK);
                const size_t got = VSIFReadL(out.data() + at, 1, BLOCK, file.get());
                out.resize(at + got);
                if (got < BLOCK) {
                    break;
                }
            }
            if (CPLGetLastErrorType() >= CE_Failure) {
                throw RemoteError("cannot read '" + path + "'" + last_cause(), SERVER_HINT);
            }
            return out;
        }
        if (VSIGetLastErrorNo() == VSIE_AWSObjectNotFound) {
            return std::nullopt;
        }
    }
    // Not a plain 404 (a server that cannot be reached or refuses says nothing through the
    // streaming handler): the look-up and read of /vsis3/, which tell why.
    const auto found = stat_object(m_root, path);
    if (!found) {
        return std::nullopt;
    }
    const VSIStatBufL& st = *found;
    reset_errors();
    // GDAL would list the object's whole folder first (all chunks of an array) to save HEADs.
    ThreadOption no_listing("GDAL_DISABLE_READDIR_ON_OPEN", "YES");
    VsiFile file(VSIFOpenExL(path.c_str(), "rb", TRUE));
    if (file.get() == nullptr) {
        throw RemoteError("cannot open '" + path + "'" + last_cause(), SERVER_HINT);
    }
    std::string out;
    out.resize(static_cast<size_t>(st.st_size));
    size_t got = out.empty() ? 0 : VSIFReadL(out.data(), 1, out.size(), file.get());
    if (got != out.size()) {
        throw RemoteError("cannot read '" + path + "': got " + std::to_string(got) + " of " +
                              std::to_string(out.size()) + " bytes" + last_cause(),
                          SERVER_HINT);
    }
    return out;
}

void VsiStore::put(const std::string& key, std::string_view data) {
    check_key(key, "put");
    const auto path = path_of(key);
    reset_errors();
    VsiFile file(VSIFOpenExL(path.c_str(), "wb", TRUE));
    if (file.get() == nullptr) {
        throw OutputError("cannot write '" + path + "'" + last_cause(), SERVER_HINT);
    }
    if (!data.empty() && VSIFWriteL(data.data(), 1, data.size(), file.get()) != data.size()) {
        throw OutputError("cannot write '" + path + "'" + last_cause(), SERVER_HINT);
    }
    if (!file.close()) { // the upload happens here
        throw OutputError("cannot write '" + path + "'" + last_cause(), SERVER_HINT);
    }
}

void VsiStore::erase(const std::string& key) {
    check_key(key, "erase");
    const auto path = path_of(key);
    reset_errors();
    if (VSIUnlink(path.c_str()) != 0 && exists(key)) {
        throw OutputError("cannot delete '" + path + "'" + last_cause(), SERVER_HINT);
    }
}

bool VsiStore::exists(const std::string& key) const {
    check_key(key, "exists");
    const auto path = path_of(key);
    forget_cached(m_root);
    reset_errors();
    VSIStatBufL st{};
    if (VSIStatExL(path.c_str(), &st,
                   VSI_STAT_EXISTS_FLAG | VSI_STAT_NATURE_FLAG | VSI_STAT_SET_ERROR_FLAG) != 0) {
        if (not_found()) {
            return false;
        }
        throw RemoteError("cannot look up '" + path + "'" + last_cause(), SERVER_HINT);
    }
    return S_ISREG(st.st_mode);
}

std::vector<std::string> VsiStore::list(const std::string& dir) const {
    if (!dir.empty()) {
        check_key(dir, "list");
    }
    const auto path = path_of(dir);
    forget_cached(m_root);
    reset_errors();
    NameList names(VSIReadDirEx(path.c_str(), 0));
    if (names.get() == nullptr && CPLGetLastErrorType() >= CE_Failure) {
        throw RemoteError("cannot list '" + path + "'" + last_cause(), SERVER_HINT);
    }
    std::vector<std::string> out;
    for (char** p = names.get(); p != nullptr && *p != nullptr; ++p) {
        std::string_view name(*p);
        if (!name.empty() && name != "." && name != "..") {
            out.emplace_back(name);
        }
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

bool VsiStore::has_objects(const std::string& dir) const {
    if (!dir.empty()) {
        check_key(dir, "has_objects");
    }
    const auto path = path_of(dir);
    forget_cached(m_root);
    reset_errors();
    // A listing of the whole sub-tree, of which the first entry is enough (some servers, s3rver
    // among them, leave deeper "folders" out of a listing by folder).
    VSIDIR* d = VSIOpenDir(path.c_str(), -1, nullptr);
    if (d == nullptr) {
        if (CPLGetLastErrorType() >= CE_Failure) {
            throw RemoteError("cannot list '" + path + "'" + last_cause(), SERVER_HINT);
        }
        return false;
    }
    const bool any = VSIGetNextDirEntry(d) != nullptr;
    VSICloseDir(d);
    return any;
}

std::vector<std::string> VsiStore::list_tree(const std::string& dir, size_t limit) const {
    if (!dir.empty()) {
        check_key(dir, "list_tree");
    }
    const auto path = path_of(dir);
    forget_cached(m_root);
    reset_errors();
    std::vector<std::string> out;
    VSIDIR* d = VSIOpenDir(path.c_str(), -1, nullptr);
    if (d == nullptr) {
        if (CPLGetLastErrorType() >= CE_Failure) {
            throw RemoteError("cannot list '" + path + "'" + last_cause(), SERVER_HINT);
        }
        return out;
    }
    const std::string base = dir.empty() ? std::string() : dir + "/";
    while (const VSIDIREntry* e = VSIGetNextDirEntry(d)) {
        if (e->bModeKnown && !S_ISREG(e->nMode)) {
            continue; // a "folder"
        }
        out.push_back(base + e->pszName);
        if (limit != 0 && out.size() >= limit) {
            break;
        }
    }
    VSICloseDir(d);
    std::sort(out.begin(), out.end());
    return out;
}

void VsiStore::rename(const std::string& from, const std::string& to) {
    check_key(from, "rename");
    copy_in(path_of(from), to);
    erase(from);
}

void VsiStore::copy(const std::string& from, const std::string& to) {
    check_key(from, "copy");
    copy_in(path_of(from), to);
}

void VsiStore::copy_in(const std::string& from_path, const std::string& to) {
    check_key(to, "copy_in");
    if (!is_object_storage_path(from_path)) {
        throw InternalError("VsiStore::copy_in needs a /vsis3/ source, not '" + from_path + "'");
    }
    const auto dst = path_of(to);
    // One CopyObject request: a PUT of no bytes with the header x-amz-copy-source, which GDAL's
    // write handle sends (and signs) like any x-amz-* option. GDAL's own VSIRename and VSISync
    // first look up the source and the target (a ranged GET and a listing each) and VSIRename
    // deletes the source: three to five requests where one is enough. A missing source is the
    // server's 404 (NoSuchKey), a failed PUT here.
    std::string source; // "/bucket/key", percent-encoded but for '/'
    for (const unsigned char ch : from_path.substr(std::strlen("/vsis3"))) {
        if (std::isalnum(ch) != 0 || std::strchr("/-._~", ch) != nullptr) {
            source += static_cast<char>(ch);
        } else {
            char hex[4];
            std::snprintf(hex, sizeof hex, "%%%02X", ch);
            source += hex;
        }
    }
    const std::string header = "x-amz-copy-source=" + source;
    const char* const options[] = {header.c_str(), nullptr};
    reset_errors();
    {
        VsiFile file(VSIFOpenEx2L(dst.c_str(), "wb", TRUE, options));
        if (file.get() == nullptr || !file.close()) {
            throw OutputError("cannot copy '" + from_path + "' to '" + dst + "'" + last_cause(),
                              SERVER_HINT);
        }
    }
    forget_cached(m_root); // GDAL now believes `to` holds the empty object it wrote
}

void VsiStore::erase_dir(const std::string& dir) {
    check_key(dir, "erase_dir");
    remove_tree(dir);
}

void VsiStore::erase_all() {
    remove_tree("");
}

void VsiStore::erase_keys(const std::vector<std::string>& keys) {
    if (keys.empty()) {
        return;
    }
    std::vector<std::string> paths;
    std::vector<const char*> list;
    paths.reserve(keys.size());
    for (const auto& key : keys) {
        check_key(key, "erase_keys");
        paths.push_back(path_of(key));
    }
    for (const auto& p : paths) {
        list.push_back(p.c_str());
    }
    list.push_back(nullptr);
    reset_errors();
    int* ok = VSIUnlinkBatch(list.data());
    const bool all = ok != nullptr && std::all_of(ok, ok + keys.size(), [](int v) { return v; });
    CPLFree(ok);
    forget_cached(m_root);
    if (!all) {
        for (const auto& key : keys) {
            erase(key); // one by one: names the object that cannot be deleted
        }
    }
}

void VsiStore::remove_tree(const std::string& dir) {
    if (!has_objects(dir)) {
        return; // GDAL reports a missing "folder" as a failure
    }
    const auto path = path_of(dir);
    reset_errors();
    if (VSIRmdirRecursive(path.c_str()) != 0 && has_objects(dir)) {
        throw OutputError("cannot delete '" + path + "/'" + last_cause(), SERVER_HINT);
    }
    forget_cached(m_root);
}

void VsiStore::download(const std::string& key, const std::filesystem::path& to) const {
    check_key(key, "download");
    const auto path = path_of(key);
    const auto found = stat_object(m_root, path);
    if (!found) {
        throw InputError("cannot read '" + path + "': no such object");
    }
    const VSIStatBufL& st = *found;
    ThreadOption no_listing("GDAL_DISABLE_READDIR_ON_OPEN", "YES");
    VsiFile in(VSIFOpenExL(path.c_str(), "rb", TRUE));
    if (in.get() == nullptr) {
        throw RemoteError("cannot open '" + path + "'" + last_cause(), SERVER_HINT);
    }
    std::FILE* out = std::fopen(to.c_str(), "wb");
    if (out == nullptr) {
        throw OutputError("cannot create '" + to.string() + "': " + std::strerror(errno));
    }
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> out_guard(out, &std::fclose);
    std::vector<char> buf(8 << 20);
    size_t total = 0;
    while (true) {
        const size_t n = VSIFReadL(buf.data(), 1, buf.size(), in.get());
        if (n > 0 && std::fwrite(buf.data(), 1, n, out) != n) {
            throw OutputError("cannot write '" + to.string() + "': " + std::strerror(errno));
        }
        total += n;
        if (n < buf.size()) {
            break;
        }
    }
    if (total != static_cast<size_t>(st.st_size)) {
        throw RemoteError("cannot read '" + path + "': got " + std::to_string(total) + " of " +
                              std::to_string(st.st_size) + " bytes" + last_cause(),
                          SERVER_HINT);
    }
    if (std::fclose(out_guard.release()) != 0) {
        throw OutputError("cannot write '" + to.string() + "': " + std::strerror(errno));
    }
    // The object's time, so that a rerun recognises the same input (.baims-sources.json).
    const timespec times[2] = {{st.st_mtime, 0}, {st.st_mtime, 0}};
    ::utimensat(AT_FDCWD, to.c_str(), times, 0);
}

std::string VsiStore::describe() const {
    return m_root;
}

} // namespace baims::zarr
