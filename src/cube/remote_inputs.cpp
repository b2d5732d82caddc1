// gen's inputs on object storage: listed and downloaded through zarr::VsiStore
// (remote_inputs.hpp).

#include "remote_inputs.hpp"

#include "baims/core/error.hpp"
#include "baims/core/log.hpp"
#include "baims/zarr/vsi_store.hpp"

#include <fnmatch.h>
#include <set>
#include <unistd.h>

namespace baims::cube::gen {
namespace {

namespace sfs = std::filesystem;

// "/vsis3/b/dir/name" -> {"/vsis3/b/dir", "name"}
std::pair<std::string, std::string> split_object(const std::string& path) {
    const auto slash = path.rfind('/');
    return {path.substr(0, slash), path.substr(slash + 1)};
}

} // namespace

RemoteInputs::~RemoteInputs() {
    if (m_dir.empty()) {
        return;
    }
    std::error_code ec;
    sfs::remove_all(m_dir, ec);
}

std::vector<std::string> RemoteInputs::expand(const std::vector<std::string>& specs) {
    std::vector<std::string> out;
    for (const auto& spec : specs) {
        if (!zarr::is_object_storage_path(spec) || spec.find_first_of("*?[") == std::string::npos) {
            out.push_back(spec);
            continue;
        }
        const auto [dir, pattern] = split_object(spec);
        if (dir.find_first_of("*?[") != std::string::npos) {
            throw InputError("input pattern '" + spec + "' has a wildcard in a folder",
                             "On object storage, use wildcards in the object name only");
        }
        std::vector<std::string> matches;
        for (const auto& name : zarr::VsiStore(dir).list("")) {
            if (::fnmatch(pattern.c_str(), name.c_str(), 0) == 0) {
                matches.push_back(dir + "/" + name);
            }
        }
        if (matches.empty()) {
            throw InputError("no input matches '" + spec + "'", "Check the pattern and the bucket");
        }
        out.insert(out.end(), matches.begin(), matches.end()); // sorted by list()
    }
    return out;
}

std::vector<std::string> RemoteInputs::fetch(const std::vector<std::string>& paths) {
    std::vector<std::string> out;
    std::set<std::string> names;
    for (const auto& p : paths) {
        if (!zarr::is_object_storage_path(p)) {
            out.push_back(p);
            continue;
        }
        const auto [dir, name] = split_object(p);
        if (name.empty()) {
            throw InputError("input '" + p + "' names a folder, not an object",
                             "Give objects, or a pattern such as " + p + "*.nc");
        }
        if (!names.insert(name).second) {
            throw InputError("two inputs on object storage are named '" + name + "'",
                             "Give objects of different names in one run");
        }
        if (m_dir.empty()) {
            std::string tmpl = (sfs::temp_directory_path() /
                                ("baims-inputs-" + std::to_string(::getpid()) + ".XXXXXX"))
                                   .string();
            if (::mkdtemp(tmpl.data()) == nullptr) {
                throw OutputError("cannot create a temporary folder for the inputs on object "
                                  "storage in '" +
                                      sfs::temp_directory_path().string() + "'",
                                  "Set TMPDIR to a writable folder with room for them");
            }
            m_dir = tmpl;
        }
        const auto local = m_dir / name;
        log::debug("downloading input '" + p + "' to '" + local.string() + "'");
        zarr::VsiStore(dir).download(name, local);
        out.push_back(local.string());
    }
    return out;
}

} // namespace baims::cube::gen
