#pragma once
// Shared helpers for the db tests: the server check, a per-case schema with a hostile name, and
// running the real baims binary.

#include "baims/db/connection.hpp"

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace baims::test {

// FAILs the test (never skips) when PGHOST is not set, naming the command to use.
void require_server();

// Connection from the libpq environment set by pg_tmp.sh.
db::Connection connect();

// A schema named `Parcels "2024" <tag>` created for one test case and dropped (CASCADE) after.
class TempSchema {
public:
    explicit TempSchema(const std::string& tag);
    ~TempSchema();
    TempSchema(const TempSchema&) = delete;
    TempSchema& operator=(const TempSchema&) = delete;
    const std::string& name() const { return m_name; }
    std::string quoted() const;                    // "Parcels ""2024"" tag"
    std::string table(const std::string& t) const; // quoted schema.table for SQL
    db::Connection& conn() { return m_conn; }

private:
    db::Connection m_conn;
    std::string m_name;
};

struct RunResult {
    int exit_code = -1;
    std::string out;
    std::string err;
};

// Runs argv (no shell) with extra environment variables (value "" unsets), waits, and returns
// the exit code (128 + signal when killed) and the captured output.
RunResult run(const std::vector<std::string>& argv,
              const std::map<std::string, std::string>& env = {});

// The same, in the background.
class Child {
public:
    Child(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {});
    ~Child();
    int pid() const { return m_pid; }
    RunResult wait();
    void kill(int signal);

private:
    int m_pid = -1;
    std::filesystem::path m_dir;
    bool m_waited = false;
};

std::string baims_binary();
std::string nc_gpkg();
// A fresh temporary directory removed at exit of the test process.
std::filesystem::path temp_dir();
// Writes a GeoPackage layer "polys" of n small polygons (EPSG:4326; fields name, value).
void make_polygon_gpkg(const std::filesystem::path& path, int n);
// The last non-empty line of s (the error line comes after any log lines).
std::string last_line(const std::string& s);
// A TCP port on 127.0.0.1 with nothing listening.
int unused_port();

} // namespace baims::test
