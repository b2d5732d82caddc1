// fs::resolved and fs::within: the checks that keep an output from being an input, lying inside
// it or holding it (tiles -o / --png, optimise -o).
#include "baims/core/fs.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace sfs = std::filesystem;
using baims::fs::resolved;
using baims::fs::within;

TEST_CASE("fs::within: the same folder, a folder inside, beside, and through links") {
    char tmpl[] = "/tmp/baims-fs-XXXXXX";
    const sfs::path root = ::mkdtemp(tmpl);
    sfs::create_directories(root / "data" / "c.zarr" / "sst");
    sfs::create_directories(root / "other");
    sfs::create_directory_symlink(root / "data", root / "link");

    CHECK(within(root / "data" / "c.zarr", root / "data" / "c.zarr"));
    CHECK(within(root / "data" / "c.zarr" / "sst", root / "data" / "c.zarr"));
    CHECK(within(root / "data" / "c.zarr", root / "data"));
    CHECK(within(root / "data" / "c.zarr" / "new" / "x", root / "data" / "c.zarr")); // not there
    CHECK(within(root / "data" / "c.zarr" / "", root / "data" / "c.zarr"));          // trailing /
    CHECK(within(root / "other" / ".." / "data" / "c.zarr", root / "data"));
    CHECK(within(root / "link" / "c.zarr", root / "data" / "c.zarr")); // through the link
    CHECK_FALSE(within(root / "data", root / "data" / "c.zarr"));
    CHECK_FALSE(within(root / "other", root / "data"));
    CHECK_FALSE(within(root / "data" / "c.zarr2", root / "data" / "c.zarr")); // a longer name
    CHECK(resolved(root / "link" / "c.zarr") == resolved(root / "data" / "c.zarr"));
    sfs::remove_all(root);
}
