// zarr::VsiStore against a throwaway S3 server: run by tests/scripts/s3rver.sh, which exports
// GDAL's S3 settings and BAIMS_TEST_S3_BUCKET (ctest label s3).

#include "baims/core/error.hpp"
#include "baims/zarr/vsi_store.hpp"

#include <catch2/catch.hpp>
#include <cpl_conv.h>
#include <cpl_vsi.h>

#include <cstdlib>
#include <thread>
#include <vector>

using namespace baims::zarr;

namespace {

using Names = std::vector<std::string>;

// A prefix of its own per test case in the server's bucket.
std::string root(const std::string& name) {
    const char* bucket = std::getenv("BAIMS_TEST_S3_BUCKET");
    REQUIRE(bucket != nullptr);
    return std::string("/vsis3/") + bucket + "/" + name + "/cube.zarr";
}

// Bytes written past the store, as another process would.
void write_raw(const std::string& path, const std::string& data) {
    VSILFILE* f = VSIFOpenL(path.c_str(), "wb");
    REQUIRE(f != nullptr);
    REQUIRE(VSIFWriteL(data.data(), 1, data.size(), f) == data.size());
    REQUIRE(VSIFCloseL(f) == 0);
}

} // namespace

TEST_CASE("s3: VsiStore get/put/erase/list/rename semantics", "[zarr][s3]") {
    VsiStore store(root("semantics") + "/"); // a trailing '/' is dropped
    CHECK(store.describe() == root("semantics"));
    const auto caps = store.capabilities();
    CHECK_FALSE(caps.atomic_rename);
    CHECK_FALSE(caps.rename_tree);
    CHECK_FALSE(caps.sync);
    CHECK_FALSE(caps.lock);
    CHECK_THROWS_AS(store.lock(".baims-lock", "cube"), baims::InternalError);

    CHECK_FALSE(store.get("a/.zarray"));
    CHECK_FALSE(store.exists("a/.zarray"));
    CHECK(store.list("").empty());
    CHECK(store.list("missing/dir").empty());
    CHECK_FALSE(store.has_objects(""));

    store.put(".zgroup", "{}");
    store.put("a/.zarray", "meta");
    store.put("a/0.0", std::string("\0\1\2", 3));
    store.put("a/0.1", "1"); // not empty: s3rver answers a ranged GET of an empty object
                             // with a wrong length, and curl waits 6 s for the missing byte
    store.put("b/d", "deep");
    CHECK(store.get(".zgroup") == "{}");
    CHECK(store.get("a/0.0") == std::string("\0\1\2", 3));
    CHECK(store.get("a/0.1") == "1");
    CHECK(store.exists("a/0.1"));
    CHECK_FALSE(store.exists("a")); // a "folder" is not a key
    CHECK_FALSE(store.get("a"));
    CHECK(store.list("") == Names{".zgroup", "a", "b"});
    CHECK(store.list("a") == Names{".zarray", "0.0", "0.1"});
    CHECK(store.list("b") == Names{"d"});
    CHECK(store.has_objects(""));

    store.put("a/0.0", "replaced, and longer than before");
    CHECK(store.get("a/0.0") == "replaced, and longer than before");

    store.erase("a/0.1");
    store.erase("a/0.1"); // missing is fine
    store.erase("never/was");
    CHECK_FALSE(store.exists("a/0.1"));
    CHECK(store.list("a") == Names{".zarray", "0.0"});

    store.rename("a/0.0", "a/1.0");
    CHECK_FALSE(store.exists("a/0.0"));
    CHECK(store.get("a/1.0") == "replaced, and longer than before");
    store.put("a/2.0", "old");
    store.rename("a/1.0", "a/2.0"); // replaces
    CHECK(store.get("a/2.0") == "replaced, and longer than before");
    CHECK_THROWS_AS(store.rename("a/nothing", "a/x"), baims::OutputError);

    store.erase_dir("b");
    store.erase_dir("b"); // missing is fine
    CHECK_FALSE(store.exists("b/d"));
    CHECK(store.list("") == Names{".zgroup", "a"});

    // A deeper tree (a staging area): s3rver leaves ".baims-staging" out of the root's listing
    // by folder, so erase_dir and has_objects must not depend on it.
    store.put(".baims-staging/0/v/0.0", "staged");
    store.put(".baims-staging/1/v/0.1", "staged");
    CHECK(store.has_objects(".baims-staging"));
    store.erase_dir(".baims-staging");
    CHECK_FALSE(store.has_objects(".baims-staging"));
    CHECK_FALSE(store.exists(".baims-staging/1/v/0.1"));
    store.erase_all();
    CHECK_FALSE(store.has_objects(""));
    CHECK(store.list("").empty());

    CHECK_THROWS_AS(store.put("../escape", "x"), baims::InternalError);
    CHECK_THROWS_AS(store.put("a//b", "x"), baims::InternalError);
    CHECK_THROWS_AS(store.get("a/./b"), baims::InternalError);
}

// GDAL caches listings and sizes per process: a store must show what is on the server now.
// Before VsiStore cleared that cache, the root still listed "v" after its last object was
// deleted, and a get after another writer replaced an object returned the old length.
TEST_CASE("s3: VsiStore sees changes made past GDAL's cache", "[zarr][s3]") {
    VsiStore store(root("cache"));
    store.put("v/0.0.0", "x");
    store.put("v/1.0.0", "y");
    store.put(".zgroup", "{}");
    CHECK(store.list("") == Names{".zgroup", "v"});
    CHECK(store.list("v") == Names{"0.0.0", "1.0.0"});
    CHECK(store.get("v/0.0.0") == "x");
    store.erase("v/0.0.0");
    store.erase("v/1.0.0");
    CHECK(store.list("") == Names{".zgroup"});
    CHECK(store.list("v").empty());

    CHECK(store.get(".zgroup") == "{}");
    write_raw(root("cache") + "/.zgroup", "{\"zarr_format\": 2}");
    CHECK(store.get(".zgroup") == "{\"zarr_format\": 2}");
    write_raw(root("cache") + "/w/0", "new");
    CHECK(store.exists("w/0"));
    CHECK(store.list("") == Names{".zgroup", "w"});
}

TEST_CASE("s3: VsiStore concurrent puts", "[zarr][s3]") {
    VsiStore store(root("concurrent"));
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&store, t] {
            for (int i = 0; i < 10; ++i) {
                const std::string key = "v/" + std::to_string(t) + "." + std::to_string(i);
                store.put(key, key + std::string(static_cast<size_t>(i), 'x'));
            }
        });
    }
    for (auto& th : threads) {
        th.join();
    }
    CHECK(store.list("v").size() == 40);
    CHECK(store.get("v/3.9") == "v/3.9" + std::string(9, 'x'));
}

TEST_CASE("s3: VsiStore list_tree and erase_keys", "[zarr][s3]") {
    VsiStore store(root("tree"));
    CHECK(store.list_tree("").empty());
    store.put(".baims-lock", "l");
    store.put("v/.zarray", "m");
    store.put("v/0.0", "a");
    store.put(".baims-staging/1/v/0.0", "s"); // only deeper "folders" under .baims-staging/
    store.put("w", "object, not a folder");
    CHECK(store.list_tree("") ==
          Names{".baims-lock", ".baims-staging/1/v/0.0", "v/.zarray", "v/0.0", "w"});
    CHECK(store.list_tree("v") == Names{"v/.zarray", "v/0.0"});
    CHECK(store.list_tree(".baims-staging") == Names{".baims-staging/1/v/0.0"});
    CHECK(store.list_tree("missing").empty());
    CHECK(store.list_tree("", 2).size() == 2);
    store.erase_keys({"v/0.0", ".baims-staging/1/v/0.0", "not/there"});
    CHECK(store.list_tree("") == Names{".baims-lock", "v/.zarray", "w"});
    store.erase_keys({});
    CHECK(store.list_tree("").size() == 3);
}

// Errors name the path and the cause, never the credentials.
TEST_CASE("s3: VsiStore errors when the server cannot be reached", "[zarr][s3]") {
    const std::string endpoint = CPLGetConfigOption("AWS_S3_ENDPOINT", "");
    CPLSetConfigOption("AWS_S3_ENDPOINT", "127.0.0.1:1"); // nothing listens on port 1
    VsiStore store(root("unreachable"));
    std::string what;
    try {
        store.get("k");
    } catch (const baims::RemoteError& e) {
        what = e.what();
        CHECK(e.exit_code() == 7);
        CHECK(std::string(e.hint()).starts_with("Check AWS_S3_ENDPOINT"));
    }
    std::string put_what;
    try {
        store.put("k", "x");
    } catch (const baims::OutputError& e) {
        put_what = e.what();
    }
    CPLSetConfigOption("AWS_S3_ENDPOINT", endpoint.c_str());
    INFO(what);
    CHECK(what ==
          "cannot read '" + root("unreachable") +
              "/k': HTTP response code on http://127.0.0.1:1/bucket/unreachable/cube.zarr/k: 0");
    CHECK(what.find("S3RVER") == std::string::npos);
    INFO(put_what);
    CHECK(put_what.starts_with("cannot write '" + root("unreachable") + "/k'"));
    CHECK(put_what.find("S3RVER") == std::string::npos);
}

// get() is one plain GET (GDAL's streaming handler): objects larger than one read block of it and
// of /vsis3/'s 16 KB look-up come back whole; an empty object and a missing one are told apart.
TEST_CASE("s3: VsiStore get of large, empty and missing objects; copy_in, copy", "[zarr][s3]") {
    VsiStore store(root("sizes"));
    std::string big(2'500'000, '\0');
    for (size_t i = 0; i < big.size(); ++i) {
        big[i] = static_cast<char>((i * 7919) % 251);
    }
    const std::string mid = big.substr(0, 40'000);
    store.put("v/big", big);
    store.put("v/mid", mid);
    write_raw(root("sizes") + "/v/empty", "");
    CHECK(store.get("v/big") == big);
    CHECK(store.get("v/mid") == mid);
    CHECK(store.get("v/empty") == std::string());
    CHECK_FALSE(store.get("v/missing"));
    CHECK_FALSE(store.get("v")); // a "folder", not an object
    // a missing object, then written by another process: no stale "missing" from a cache
    write_raw(root("sizes") + "/v/missing", "now here");
    CHECK(store.get("v/missing") == "now here");

    VsiStore other(root("sizes-copy"));
    other.copy_in(root("sizes") + "/v/mid", "w/mid");
    other.copy_in(root("sizes") + "/v/big", "w/big");
    CHECK(other.get("w/mid") == mid);
    CHECK(other.get("w/big") == big);
    CHECK(store.get("v/mid") == mid);                     // a copy: the source stays
    other.copy_in(root("sizes") + "/v/missing", "w/mid"); // overwrites
    CHECK(other.get("w/mid") == "now here");
    CHECK_THROWS_AS(other.copy_in(root("sizes") + "/v/nothing", "w/x"), baims::OutputError);
    CHECK_FALSE(other.exists("w/x"));
    // copy within the store: one CopyObject request, the source stays
    other.copy("w/big", "w/big-copy");
    CHECK(other.get("w/big-copy") == big);
    CHECK(other.get("w/big") == big);
    CHECK_THROWS_AS(other.copy("w/nothing", "w/y"), baims::OutputError);
    CHECK_FALSE(other.exists("w/y"));
}
