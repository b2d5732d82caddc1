#pragma once
// gen's inputs on object storage (/vsis3/…): the readers (netCDF-C, HDF5) read local files only,
// so each such input is downloaded to a temporary folder before the run and removed after it
// (docs/object-storage.md). Its local copy keeps the object's name and modification time, so the
// record of what made each time step (.baims-sources.json) is the same from run to run.

#include <filesystem>
#include <string>
#include <vector>

namespace baims::cube::gen {

class RemoteInputs {
public:
    RemoteInputs() = default;
    RemoteInputs(const RemoteInputs&) = delete;
    RemoteInputs& operator=(const RemoteInputs&) = delete;
    // Removes the downloaded copies.
    ~RemoteInputs();

    // specs with every /vsis3/ pattern ('*' or '?' in the object name, not in folders) replaced
    // by the objects that match it, sorted. Throws InputError if none matches.
    static std::vector<std::string> expand(const std::vector<std::string>& specs);

    // paths with every /vsis3/ object replaced by a local copy of it. Throws InputError when an
    // object cannot be read; two objects of the same name are an error too (the record of a time
    // step names inputs by file name).
    std::vector<std::string> fetch(const std::vector<std::string>& paths);

private:
    std::filesystem::path m_dir; // the temporary folder, once made
};

} // namespace baims::cube::gen
