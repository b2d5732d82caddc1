#include "support/temp_dir.hpp"
#include "test_helpers.hpp"

#include "baims/core/error.hpp"
#include "baims/zarr/kv_store.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace baims::zarr;

namespace {

using Names = std::vector<std::string>;

// The same behaviour is asserted on every store.
void check_basic_semantics(KvStore& store) {
    CHECK_FALSE(store.get("a/.zarray"));
    CHECK_FALSE(store.exists("a/.zarray"));
    CHECK(store.list("").empty());
    CHECK(store.list("missing/dir").empty());

    store.put(".zgroup", "{}");
    store.put("a/.zarray", "meta");
    store.put("a/0.0", std::string("\0\1\2", 3));
    store.put("a/0.1", "");
    store.put("b/c/d", "deep");
    CHECK(store.get(".zgroup") == "{}");
    CHECK(store.get("a/0.0") == std::string("\0\1\2", 3));
    CHECK(store.get("a/0.1") == "");
    CHECK(store.exists("a/0.1"));
    CHECK_FALSE(store.exists("a")); // a directory is not a key
    CHECK_FALSE(store.get("a"));
    CHECK(store.list("") == Names{".zgroup", "a", "b"});
    CHECK(store.list("a") == Names{".zarray", "0.0", "0.1"});
    CHECK(store.list("b") == Names{"c"});

    store.put("a/0.0", "replaced");
    CHECK(store.get("a/0.0") == "replaced");

    store.erase("a/0.1");
    store.erase("a/0.1"); // missing is fine
    store.erase("never/was");
    CHECK_FALSE(store.exists("a/0.1"));
    CHECK(store.list("a") == Names{".zarray", "0.0"});

    store.rename("a/0.0", "a/1.0");
    CHECK_FALSE(store.exists("a/0.0"));
    CHECK(store.get("a/1.0") == "replaced");
    store.put("a/2.0", "old");
    store.rename("a/1.0", "a/2.0"); // replaces
    CHECK(store.get("a/2.0") == "replaced");
    store.rename("a/2.0", "new/dir/2.0"); // creates parents
    CHECK(store.get("new/dir/2.0") == "replaced");
    CHECK_THROWS_AS(store.rename("a/nothing", "a/x"), baims::OutputError);

    // A whole sub-tree.
    store.rename("b", "b2");
    CHECK(store.get("b2/c/d") == "deep");
    CHECK_FALSE(store.exists("b/c/d"));
    store.erase_dir("b2");
    store.erase_dir("b2");
    CHECK_FALSE(store.exists("b2/c/d"));
    CHECK(store.list("") == Names{".zgroup", "a", "new"});

    CHECK_THROWS_AS(store.put("../escape", "x"), baims::InternalError);
    CHECK_THROWS_AS(store.put("/abs", "x"), baims::InternalError);
    CHECK_THROWS_AS(store.put("a//b", "x"), baims::InternalError);
    CHECK_THROWS_AS(store.put("", "x"), baims::InternalError);
    CHECK_THROWS_AS(store.get("a/./b"), baims::InternalError);
    store.sync();
}

void check_concurrent_puts(KvStore& store, int per_thread = 200) {
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&store, t, per_thread] {
            for (int i = 0; i < per_thread; ++i) {
                // Half the keys share one directory across threads, half are per thread.
                const std::string key = (i % 2 == 0 ? "shared/" : "t" + std::to_string(t) + "/") +
                                        std::to_string(t) + "." + std::to_string(i);
                store.put(key, key + std::string(static_cast<size_t>(i), 'x'));
            }
        });
    }
    for (auto& th : threads) {
        th.join();
    }
    const auto half = static_cast<size_t>(per_thread / 2);
    CHECK(store.list("shared").size() == 8 * half);
    for (int t = 0; t < 8; ++t) {
        CHECK(store.list("t" + std::to_string(t)).size() == half);
    }
    CHECK(store.get("shared/3.10") == "shared/3.10" + std::string(10, 'x'));
    const std::string last = "t7/7." + std::to_string(per_thread - 1);
    CHECK(store.get(last) == last + std::string(static_cast<size_t>(per_thread - 1), 'x'));
    store.sync();
}

} // namespace

TEST_CASE("zarr: MemoryStore semantics", "[zarr][store]") {
    MemoryStore store;
    check_basic_semantics(store);
    CHECK(store.describe() == "memory");
}

TEST_CASE("zarr: MemoryStore concurrent puts", "[zarr][store]") {
    MemoryStore store;
    check_concurrent_puts(store);
    CHECK(store.size() == 1600);
}

TEST_CASE("zarr: FileStore semantics", "[zarr][store]") {
    baims::test::TempDir dir;
    FileStore store(dir.path() / "cube.zarr");
    CHECK(store.describe() == (dir.path() / "cube.zarr").string());
    CHECK(store.root() == dir.path() / "cube.zarr");
    check_basic_semantics(store);
    CHECK(std::filesystem::is_regular_file(dir.path() / "cube.zarr/a/.zarray"));
}

TEST_CASE("zarr: FileStore hides temporary files", "[zarr][store]") {
    baims::test::TempDir dir;
    FileStore store(dir.path(), false);
    store.put("v/0.0", "x");
    std::ofstream(dir.path() / "v/0.1.tmp.12345.7") << "partial";
    std::ofstream(dir.path() / "v/.zarray.tmp.1.0") << "partial";
    CHECK(store.list("v") == Names{"0.0"});
    CHECK(FileStore::is_temp_name("0.1.tmp.12345.7"));
    CHECK(FileStore::is_temp_name(".zmetadata.tmp.99.0"));
    CHECK_FALSE(FileStore::is_temp_name("0.1"));
    CHECK_FALSE(FileStore::is_temp_name("tmp.1.2"));
    CHECK_FALSE(FileStore::is_temp_name("x.tmp.1"));
    CHECK_FALSE(FileStore::is_temp_name("x.tmp.a.1"));
}

TEST_CASE("zarr: FileStore: 8 threads x 200 puts", "[zarr][store]") {
    baims::test::TempDir dir;
    for (bool durable : {false, true}) {
        // With fsync 8 x 20 puts (fsync is slow on some disks), without 8 x 200.
        const int per_thread = durable ? 20 : 200;
        FileStore store(dir.path() / (durable ? "durable" : "fast"), durable);
        check_concurrent_puts(store, per_thread);
        // No temporary file is left behind.
        size_t files = 0;
        for (const auto& e : std::filesystem::recursive_directory_iterator(store.root())) {
            if (e.is_regular_file()) {
                ++files;
                REQUIRE_FALSE(FileStore::is_temp_name(e.path().filename().string()));
            }
        }
        CHECK(files == static_cast<size_t>(8 * per_thread));
    }
}

TEST_CASE("zarr: FaultyStore fails exactly the n-th put", "[zarr][store]") {
    MemoryStore inner;
    FaultyStore store(inner, 2);
    store.put("k1", "1");
    try {
        store.put("k2", "2");
        FAIL("no exception");
    } catch (const baims::OutputError& e) {
        CHECK(std::string(e.what()) == "injected failure on put #2 ('k2' in memory)");
    }
    CHECK_FALSE(inner.exists("k2"));
    CHECK_FALSE(store.exists("k2"));
    store.put("k3", "3");
    store.put("k2", "2"); // a retry goes through
    CHECK(store.puts() == 4);
    CHECK(inner.keys() == Names{"k1", "k2", "k3"});
    CHECK(store.get("k3") == "3");
    CHECK(store.list("") == Names{"k1", "k2", "k3"});

    FaultyStore never(inner, 0);
    never.put("k4", "4");
    CHECK(never.puts() == 1);
    CHECK(inner.exists("k4"));
}

TEST_CASE("zarr: store capabilities: FileStore renames atomically, syncs when durable, locks",
          "[zarr][store]") {
    baims::test::TempDir dir;
    FileStore durable(dir.path() / "d", true), fast(dir.path() / "f", false);
    const auto d = durable.capabilities(), f = fast.capabilities();
    CHECK(d.atomic_rename);
    CHECK(d.rename_tree);
    CHECK(d.sync);
    CHECK(d.lock);
    CHECK_FALSE(f.sync);
    CHECK(f.lock);
    auto held = durable.lock(".lock", "cube 'd'");
    CHECK(std::filesystem::is_regular_file(dir.path() / "d/.lock"));
    // flock: a second lock of the same file is refused, also from this process.
    CHECK_THROWS_WITH(durable.lock(".lock", "cube 'd'"),
                      "cube 'd' is locked by another baims process (pid " +
                          std::to_string(::getpid()) + ")");
    held.reset();
    CHECK_NOTHROW(durable.lock(".lock", "cube 'd'"));
}

TEST_CASE("zarr: store capabilities: MemoryStore has atomic renames, no sync and no lock",
          "[zarr][store]") {
    MemoryStore store;
    const auto c = store.capabilities();
    CHECK(c.atomic_rename);
    CHECK(c.rename_tree);
    CHECK_FALSE(c.sync);
    CHECK_FALSE(c.lock);
    CHECK_THROWS_AS(store.lock(".lock", "cube 'memory'"), baims::InternalError);
    FaultyStore faulty(store, 0);
    CHECK_FALSE(faulty.capabilities().lock);
    CHECK(faulty.capabilities().atomic_rename);
}
