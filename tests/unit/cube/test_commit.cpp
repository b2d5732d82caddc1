// The commit protocol of a cube (src/cube/commit.hpp): what it asks of a store, and the POSIX
// journal's create-by-rename (published at once; removed when the run fails) and lock.

#include "cube/commit.hpp"

#include "baims/core/error.hpp"
#include "baims/zarr/kv_store.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <stdexcept>
#include <stdlib.h>
#include <string>
#include <unistd.h>

using namespace baims::cube;
namespace sfs = std::filesystem;

namespace {

class TempDir {
public:
    TempDir() {
        std::string pattern = (sfs::temp_directory_path() / "baims-commit-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) {
            throw std::runtime_error("mkdtemp failed");
        }
        m_path = pattern;
    }
    ~TempDir() {
        std::error_code ec;
        sfs::remove_all(m_path, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const sfs::path& path() const { return m_path; }

private:
    sfs::path m_path;
};

CubeState one_step_state() {
    CubeState st;
    st.grid = baims::grid::Grid({0.0, 0.0, 2.0, 1.0}, 2, 1);
    st.chunk_y = 1;
    st.chunk_x = 2;
    st.time = {19000.0};
    return st;
}

} // namespace

TEST_CASE("cube commit: the journal refuses a store without sync and lock") {
    baims::zarr::MemoryStore store("mem://cube");
    const baims::zarr::StoreCapabilities journal{true, true, true, true};
    CHECK_THROWS_WITH(require_capabilities(store, journal, "the update journal"),
                      "the store of 'mem://cube' has no sync, a lock between processes, which the "
                      "update journal needs");
    CHECK_NOTHROW(require_capabilities(store, {true, true, false, false}, "renames"));
}

TEST_CASE("cube commit: a new cube is published at once, or removed when the run fails") {
    TempDir dir;
    const auto cube = dir.path() / "c.zarr";
    const auto building = dir.path() / "c.zarr.baims-new";
    {
        auto commit = open_for_create(cube);
        const auto caps = commit->store().capabilities();
        CHECK((caps.atomic_rename && caps.rename_tree && caps.sync && caps.lock));
        commit->put_unpublished("v/0.0.0", "chunk");
        CHECK(sfs::is_regular_file(building / "v/0.0.0"));
        CHECK_FALSE(sfs::exists(cube));
        // a second writer of the same new cube is refused
        CHECK_THROWS_AS(open_for_create(cube), baims::OutputError);
    } // destroyed without publishing: the run failed
    CHECK_FALSE(sfs::exists(building));
    CHECK_FALSE(sfs::exists(cube));
    {
        auto commit = open_for_create(cube);
        commit->put_unpublished("v/0.0.0", "chunk");
        commit->publish_new(one_step_state());
    }
    CHECK_FALSE(sfs::exists(building));
    CHECK(sfs::is_regular_file(cube / "v/0.0.0"));
    CHECK(sfs::is_regular_file(cube / ".zmetadata"));
    auto update = open_for_update(cube, false);
    CHECK(update->staged_key(3, "sst", "1.2") == ".baims-staging/3/sst/1.2");
    CHECK_THROWS_WITH(open_for_update(cube, false),
                      "cube '" + cube.string() + "' is locked by another baims process (pid " +
                          std::to_string(::getpid()) + ")");
    CHECK_NOTHROW(open_for_update(cube, true)); // a dry run takes no lock
}
