// `baims catalog` against a real PostgreSQL/PostGIS (tests/scripts/pg_tmp.sh sets PGHOST etc.)
// and a local stand-in for the CDSE catalogue (tests/scripts/fake_cdse.py) serving the real
// responses in tests/data/cdse. The real binary is run; each case has its own schema with a
// hostile name and a hostile AOI column, dropped at the end.
//
// Expected summaries come from the response files:
//   cd tests/data/cdse && /usr/bin/python3 -c '
//   import json,collections
//   for f in
//   ["opensearch_s2_l1c_pretty_2020-11.json","opensearch_s2_l2a_2023-04-19_svalbard.json"]:
//     d=json.load(open(f)); g=collections.defaultdict(list)
//     for ft in d["features"]:
//       p=ft["properties"]; g[p["title"][1:3]].append(p["startDate"][:19].replace("T"," "))
//     for s in sorted(g): print(f, s, len(g[s]), min(g[s]), max(g[s]))'
//   → l1c 2A 14 2020-12-02 11:14:31 2020-12-22 11:15:01; l1c 2B 18 2020-11-27 11:14:19
//     2020-12-27 11:13:59; svalbard 2A 3 2023-04-19 12:06:41 2023-04-20 11:36:31;
//     svalbard 2B 4 2023-04-19 12:57:09 2023-04-20 12:26:59

#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include "baims/db/connection.hpp"
#include "baims/db/identifiers.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <signal.h>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;
using namespace baims;
using namespace baims::test;

namespace {

const std::string DATA = std::string(BAIMS_SOURCE_DIR "/tests/data/cdse/");
const std::string L1C = DATA + "opensearch_s2_l1c_pretty_2020-11.json";
const std::string SVALBARD = DATA + "opensearch_s2_l2a_2023-04-19_svalbard.json";
const std::string N0500 = DATA + "opensearch_s2_l2a_2018-08-20_with_N0500.json";
const std::string UNV = DATA + "opensearch_s2_l2a_tileId_29UNV_2021-10.json";
const std::string S1 = DATA + "opensearch_s1_grd_2020-06-06.json";

// A box that holds all the footprints of the test data (they are far apart on the globe).
const std::string WORLD = "POLYGON((-180 -90,180 -90,180 90,-180 90,-180 -90))";

void require_database() {
    if (!std::getenv("PGHOST")) {
        FAIL("PGHOST is not set: run the db tests through tests/scripts/pg_tmp.sh, e.g. "
             "tests/scripts/pg_tmp.sh ctest --test-dir build -L db");
    }
}

std::vector<std::string> lines_of(const std::string& s) {
    std::vector<std::string> out;
    std::istringstream in(s);
    for (std::string line; std::getline(in, line);) {
        out.push_back(line);
    }
    return out;
}

// tests/scripts/fake_cdse.py on a free loopback port; stopped in the destructor (it also stops
// by itself after 120 s).
class FakeCdse {
public:
    FakeCdse(const TempDir& dir, std::vector<std::string> args)
        : m_log(dir.path() / ("fake_" + std::to_string(counter()++) + ".log")) {
        std::vector<std::string> argv{"/usr/bin/python3",
                                      std::string(BAIMS_SOURCE_DIR "/tests/scripts/fake_cdse.py"),
                                      "--log",
                                      m_log.string(),
                                      "--timeout",
                                      "120"};
        argv.insert(argv.end(), args.begin(), args.end());
        m_server = std::make_unique<Child>(argv);
        for (int i = 0; i < 200 && m_port.empty(); ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            std::string s = m_server->out_so_far();
            if (s.find('\n') != std::string::npos) {
                m_port = s.substr(0, s.find('\n'));
            }
        }
        REQUIRE_FALSE(m_port.empty());
    }
    ~FakeCdse() {
        m_server->kill(SIGTERM);
        m_server->wait();
    }
    std::string base_url() const { return "http://127.0.0.1:" + m_port; }
    std::string host() const { return "127.0.0.1:" + m_port; }
    // One JSON object per request received.
    std::vector<nlohmann::json> requests() const {
        std::vector<nlohmann::json> out;
        for (const auto& l : lines_of(slurp(m_log))) {
            out.push_back(nlohmann::json::parse(l));
        }
        return out;
    }

private:
    static std::atomic<int>& counter() {
        static std::atomic<int> n{0};
        return n;
    }
    fs::path m_log;
    std::unique_ptr<Child> m_server;
    std::string m_port;
};

// A schema with a hostile name holding all the tables, an AOI table whose name column is
// "aoi-name", and a db_config.json pointing at them.
class Fixture {
public:
    explicit Fixture(const std::string& tag)
        : m_conn(db::ConnectionSettings::from_environment()) {
        m_schema = "Cat \"" + tag + "\" ü";
        m_conn.exec("DROP SCHEMA IF EXISTS " + db::quote_ident(m_schema) + " CASCADE");
        m_conn.exec("CREATE SCHEMA " + db::quote_ident(m_schema));
        m_conn.exec("CREATE TABLE " + table("aois") +
                    " (\"aoi-name\" text, wkb_geometry geometry(Polygon,4326))");
        m_conn.exec_params("INSERT INTO " + table("aois") +
                               " VALUES ($1, ST_GeomFromText($2, 4326))",
                           "world", WORLD);
        nlohmann::json cfg;
        auto t = [&](const char* name) { return db::quote_ident(m_schema) + "." + name; };
        cfg["database"]["tables"] = {{"aoi_table", t("aois")},
                                     {"catalog_table", t("dias_catalogue")},
                                     {"sigs_table", t("sigs")},
                                     {"hists_table", t("hists")},
                                     {"extraction_table", t("baims_extraction")},
                                     {"catalogue_extra_table", t("baims_catalogue_extra")}};
        cfg["database"]["args"] = {{"aoi_field", "aoi-name"}};
        m_config = m_dir.path() / "db_config.json";
        std::ofstream(m_config) << cfg.dump(2);
    }
    ~Fixture() {
        try {
            m_conn.exec("DROP SCHEMA IF EXISTS " + db::quote_ident(m_schema) + " CASCADE");
        } catch (...) {
        }
    }

    std::string table(const std::string& name) const {
        return db::quote_ident(m_schema) + "." + db::quote_ident(name);
    }
    const TempDir& dir() const { return m_dir; }

    std::int64_t count(const std::string& where = "true") {
        return m_conn.exec("SELECT count(*) FROM " + table("dias_catalogue") + " WHERE " + where)
            .int64(0, 0);
    }
    db::Result query(const std::string& sql) { return m_conn.exec(sql); }

    // Runs the real binary: baims --deterministic [global_flag] catalog <args> --db-config <cfg>.
    RunResult run(const std::vector<std::string>& args, const std::string& global_flag = "") {
        std::vector<std::string> argv{BAIMS_BINARY, "--deterministic"};
        if (!global_flag.empty()) {
            argv.push_back(global_flag);
        }
        argv.push_back("catalog");
        argv.insert(argv.end(), args.begin(), args.end());
        argv.insert(argv.end(), {"--db-config", m_config.string()});
        RunResult r = test::run(argv, {{"no_proxy", "127.0.0.1"}, {"NO_PROXY", "127.0.0.1"}});
        std::string cmd;
        for (const auto& a : argv) {
            cmd += (cmd.empty() ? "" : " ") + a;
        }
        UNSCOPED_INFO("command: " << cmd << "\nstdout:\n" << r.out << "stderr:\n" << r.err);
        return r;
    }

private:
    TempDir m_dir;
    db::Connection m_conn;
    std::string m_schema;
    fs::path m_config;
};

std::vector<std::string> query_args(const FakeCdse& fake, const std::string& start,
                                    const std::string& end, const std::string& card = "s2",
                                    const std::string& ptype = "S2MSI2A") {
    return {"world",
            start,
            end,
            card,
            ptype,
            "--base-url",
            fake.base_url(),
            "--retries",
            "3",
            "--retry-delay",
            "10",
            "--create-tables"};
}

template <class... T>
std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

} // namespace

TEST_CASE("catalog: paging across several pages with rel=next, rerun adds nothing",
          "[catalog][db]") {
    require_database();
    Fixture fx("paging");
    FakeCdse fake(fx.dir(), {L1C});
    auto args = query_args(fake, "2020-11-01", "2021-01-01", "s2", "S2MSI1C") +
                std::vector<std::string>{"--max-records", "5"};
    RunResult r = fx.run(args);
    REQUIRE(r.exit_code == 0);
    CHECK(fx.count() == 32);
    CHECK(r.out == "card  sensor  count  min                  max\n"
                   "s2    2A         14  2020-12-02 11:14:31  2020-12-22 11:15:01\n"
                   "s2    2B         18  2020-11-27 11:14:19  2020-12-27 11:13:59\n");
    auto reqs = fake.requests();
    REQUIRE(reqs.size() == 7); // ceil(32 / 5)
    for (size_t i = 0; i < reqs.size(); ++i) {
        CHECK(reqs[i]["query"]["page"] == std::to_string(i + 1));
        CHECK(reqs[i]["path"] == "/resto/api/collections/Sentinel2/search.json");
        CHECK(reqs[i]["user_agent"] == "baims/0.1.0");
    }
    CHECK(reqs[0]["query"]["productType"] == "S2MSI1C");
    CHECK(reqs[0]["query"]["sortParam"] == "startDate");
    CHECK(reqs[0]["query"]["startDate"] == "2020-11-01T00:00:00Z");
    CHECK(reqs[0]["query"]["completionDate"] == "2021-01-01T00:00:00Z");
    CHECK(reqs[0]["query"]["geometry"] == "POLYGON((-180 -90,180 -90,180 90,-180 90,-180 -90))");
    CHECK(fx.count("status = 'ingested' AND card = 's2'") == 32);
    CHECK(fx.query("SELECT count(*) FROM " + fx.table("baims_catalogue_extra") +
                   " WHERE product_identifier LIKE '/eodata/Sentinel-2/MSI/L1C%'")
              .int64(0, 0) == 32);

    RunResult again = fx.run(args);
    REQUIRE(again.exit_code == 0);
    CHECK(fx.count() == 32);
    CHECK(again.out == r.out);
    CHECK(again.err.find("inserted 0 new rows") != std::string::npos);
}

TEST_CASE("catalog: the date range is split at the offset limit, nothing lost or doubled",
          "[catalog][db]") {
    require_database();
    Fixture fx("split");
    FakeCdse fake(fx.dir(), {L1C});
    RunResult r = fx.run(
        query_args(fake, "2020-11-01", "2021-01-01", "s2", "S2MSI1C") +
        std::vector<std::string>{"--max-records", "4", "--offset-limit", "8", "--format", "json"});
    REQUIRE(r.exit_code == 0);
    CHECK(fx.count() == 32);
    auto j = nlohmann::json::parse(r.out);
    CHECK(j["splits"].get<int>() > 0);
    CHECK(j["records"] == 32);
    CHECK(j["inserted"] == 32);
    CHECK(j["summary"].size() == 2);
    for (const auto& q : fake.requests()) {
        CHECK(std::stoi(q["query"]["page"].get<std::string>()) <= 2);
    }
}

TEST_CASE("catalog: HTTP 500 then success", "[catalog][db]") {
    require_database();
    Fixture fx("500");
    FakeCdse fake(fx.dir(), {SVALBARD, "--fail", "500:1"});
    RunResult r = fx.run(query_args(fake, "2023-04-19", "2023-04-21"));
    REQUIRE(r.exit_code == 0);
    CHECK(fx.count() == 7);
    CHECK(r.err.find("HTTP 500 from " + fake.host() + "; retry 1 of 3 in 10 ms") !=
          std::string::npos);
    CHECK(fake.requests().size() == 2);
    // microseconds kept: 2023-04-20T12:26:59.025000Z
    CHECK(fx.query("SELECT obstime::text FROM " + fx.table("dias_catalogue") +
                   " WHERE reference = "
                   "'S2B_MSIL2A_20230420T122659_N0509_R052_T33XWG_20230420T133717.SAFE'")
              .text(0, 0) == "2023-04-20 12:26:59.025");
}

TEST_CASE("catalog: HTTP 429 with Retry-After is honoured", "[catalog][db]") {
    require_database();
    Fixture fx("429");
    FakeCdse fake(fx.dir(), {SVALBARD, "--fail", "429:1", "--retry-after", "1"});
    auto t0 = std::chrono::steady_clock::now();
    RunResult r = fx.run(query_args(fake, "2023-04-19", "2023-04-21"));
    auto took = std::chrono::steady_clock::now() - t0;
    REQUIRE(r.exit_code == 0);
    CHECK(fx.count() == 7);
    CHECK(r.err.find("HTTP 429 from " + fake.host() + "; retry 1 of 3 in 1 s") !=
          std::string::npos);
    CHECK(took >= std::chrono::seconds(1));
}

TEST_CASE("catalog: persistent HTTP 503 gives exit 7, one error line, nothing written",
          "[catalog][db]") {
    require_database();
    Fixture fx("503");
    FakeCdse fake(fx.dir(), {SVALBARD, "--fail", "503"});
    RunResult r = fx.run(query_args(fake, "2023-04-19", "2023-04-21"));
    CHECK(r.exit_code == 7);
    CHECK(last_line(r.err) == "baims catalog: error: catalogue query failed: HTTP 503 from " +
                                  fake.host() + "; nothing was written, retry later.");
    CHECK(r.out.empty());
    CHECK(fake.requests().size() == 4); // --retries 3: the first attempt and 3 retries
    CHECK(fx.count() == 0);
}

TEST_CASE("catalog: malformed JSON gives exit 7 naming the URL, nothing written", "[catalog][db]") {
    require_database();
    Fixture fx("malformed");
    FakeCdse fake(fx.dir(), {SVALBARD, "--malformed"});
    RunResult r = fx.run(query_args(fake, "2023-04-19", "2023-04-21"));
    CHECK(r.exit_code == 7);
    CHECK_THAT(last_line(r.err),
               Catch::StartsWith("baims catalog: error: catalogue response from " +
                                 fake.base_url() +
                                 "/resto/api/collections/Sentinel2/search.json?geometry=") &&
                   // the fake's truncated body is 57 bytes; the parser stops after the end
                   Catch::EndsWith(" is not valid JSON (byte 58); nothing was written. Retry "
                                   "later; if it persists, report the response"));
    CHECK(fx.count() == 0);
}

// Issue 12 #9: --dry-run queries nothing and writes nothing, with or without the tables.
TEST_CASE("catalog: --dry-run neither queries the service nor writes", "[catalog][db]") {
    require_database();
    Fixture fx("dry");
    FakeCdse fake(fx.dir(), {L1C});
    auto tables_in_schema = [&] {
        return fx.query("SELECT count(*) FROM pg_tables WHERE schemaname = 'Cat \"dry\" \u00fc'")
            .int64(0, 0);
    };
    const auto before = tables_in_schema();
    auto args = query_args(fake, "2020-11-01", "2021-01-01", "s2", "S2MSI1C");
    RunResult r = fx.run(args, "--dry-run");
    REQUIRE(r.exit_code == 0);
    CHECK(r.err.find("does not exist and would be created; nothing written") != std::string::npos);
    CHECK(tables_in_schema() == before); // --create-tables did not create them
    CHECK(fake.requests().empty());

    // With the tables there: the query is shown, not sent, and nothing is inserted.
    REQUIRE(fx.run(args).exit_code == 0); // creates the tables and imports
    const auto requests = fake.requests().size();
    const auto rows = fx.count();
    REQUIRE(rows == 32);
    r = fx.run(args, "--dry-run");
    REQUIRE(r.exit_code == 0);
    CHECK(r.err.find("dry run: would query " + fake.base_url() +
                     "/resto/api/collections/Sentinel2/search.json?") != std::string::npos);
    CHECK(r.err.find("dry run: nothing written") != std::string::npos);
    CHECK(fake.requests().size() == requests);
    CHECK(fx.count() == rows);
}

TEST_CASE("catalog: an empty result", "[catalog][db]") {
    require_database();
    Fixture fx("empty");
    FakeCdse fake(fx.dir(), {});
    RunResult r = fx.run(query_args(fake, "2023-04-19", "2023-04-21"));
    REQUIRE(r.exit_code == 0);
    CHECK(fx.count() == 0);
    CHECK(r.out == "card  sensor  count  min  max\n");
}

TEST_CASE("catalog: N0500 duplicates, all kept by default, newest only with --baseline latest",
          "[catalog][db]") {
    require_database();
    Fixture fx("n0500");
    FakeCdse fake(fx.dir(), {N0500, UNV});
    RunResult all = fx.run(query_args(fake, "2018-01-01", "2022-01-01"));
    REQUIRE(all.exit_code == 0);
    CHECK(fx.count() == 8);

    Fixture fx2("n0500 latest");
    FakeCdse fake2(fx2.dir(), {N0500, UNV});
    RunResult latest = fx2.run(query_args(fake2, "2018-01-01", "2022-01-01") +
                               std::vector<std::string>{"--baseline", "latest"});
    REQUIRE(latest.exit_code == 0);
    CHECK(fx2.count() == 3);
    CHECK(fx2.count("reference LIKE '%\\_N0500\\_%'") == 3);
    CHECK(fx2.query("SELECT count(*) FROM " + fx2.table("baims_catalogue_extra") +
                    " WHERE product_identifier LIKE '/eodata/Sentinel-2/MSI/L2A\\_N0500/%'")
              .int64(0, 0) == 3);
}

TEST_CASE("catalog: S1 MultiPolygon footprints are stored as their Polygon", "[catalog][db]") {
    require_database();
    Fixture fx("s1");
    FakeCdse fake(fx.dir(), {S1});
    RunResult r = fx.run(query_args(fake, "2020-06-06", "2020-06-07", "bs", "CARD-BS"));
    REQUIRE(r.exit_code == 0);
    CHECK(fx.count() == 2);
    CHECK(fx.count("sensor = '1B' AND card = 'bs'") == 2);
    CHECK(fx.count("ST_GeometryType(footprint) = 'ST_Polygon' AND ST_NPoints(footprint) = 7 AND "
                   "ST_SRID(footprint) = 4326") == 2);
    CHECK(fake.requests().at(0)["path"] == "/resto/api/collections/Sentinel1/search.json");
    // The stored polygon equals the one part of the MultiPolygon, as PostGIS reads it.
    auto first = nlohmann::json::parse(slurp(S1))["features"][0];
    auto eq =
        fx.query("SELECT ST_Equals(footprint, ST_GeometryN(ST_SetSRID(ST_GeomFromGeoJSON('" +
                 first["geometry"].dump() + "'), 4326), 1)) FROM " + fx.table("dias_catalogue") +
                 " WHERE reference = '" + first["properties"]["title"].get<std::string>() + "'");
    CHECK(eq.boolean(0, 0));
    CHECK(r.out == "card  sensor  count  min                  max\n"
                   "bs    1B          2  2020-06-06 06:06:12  2020-06-06 06:06:15\n");
}

TEST_CASE("catalog: c12 is stored as 'c1' (char(2), JRC convention)", "[catalog][db]") {
    require_database();
    Fixture fx("c12");
    FakeCdse fake(fx.dir(), {S1});
    RunResult r = fx.run(query_args(fake, "2020-06-06", "2020-06-07", "c12", "CARD-COH12"));
    REQUIRE(r.exit_code == 0);
    CHECK(fx.count("card = 'c1'") == 2);
}

TEST_CASE("catalog: --from-file imports saved responses, a bad feature gives exit 8",
          "[catalog][db]") {
    require_database();
    Fixture fx("from file");
    RunResult r = fx.run({"world", "2018-01-01", "2024-01-01", "s2", "S2MSI2A", "--create-tables",
                          "--from-file", SVALBARD, N0500, "--format", "json"});
    REQUIRE(r.exit_code == 0);
    CHECK(fx.count() == 11);
    auto j = nlohmann::json::parse(r.out);
    CHECK(j["source"] == "files");
    CHECK(j["pages"] == 2);
    CHECK(j["inserted"] == 11);
    CHECK(j["summary"][0] == nlohmann::json{{"card", "s2"},
                                            {"sensor", "2A"},
                                            {"count", 3},
                                            {"min", "2023-04-19 12:06:41"},
                                            {"max", "2023-04-20 11:36:31"}});

    // One good feature, one without geometry: the good one is imported, exit 8.
    auto doc = nlohmann::json::parse(slurp(UNV));
    doc["features"] = {doc["features"][0], doc["features"][1]};
    doc["features"][1].erase("geometry");
    const fs::path bad = fx.dir().path() / "bad.json";
    std::ofstream(bad) << doc.dump();
    RunResult partial =
        fx.run({"world", "2018-01-01", "2024-01-01", "s2", "S2MSI2A", "--from-file", bad.string()});
    CHECK(partial.exit_code == 8);
    CHECK(fx.count() == 12);
    CHECK(partial.err.find("skipping feature 1 (S2B_MSIL2A_20211002T114349_N0500_R123_T29UNV_"
                           "20230102T203816.SAFE) of " +
                           bad.string() + ": no geometry") != std::string::npos);
}

TEST_CASE("catalog: input errors, missing AOI (4), bad CARD (2), broken file (4)",
          "[catalog][db]") {
    require_database();
    Fixture fx("errors");
    RunResult r = fx.run({"nowhere", "2020-01-01", "2020-02-01", "s2", "S2MSI2A", "--create-tables",
                          "--from-file", SVALBARD});
    CHECK(r.exit_code == 4);
    CHECK(last_line(r.err) ==
          "baims catalog: error: AOI 'nowhere' not found in \"Cat \"\"errors\"\" ü\".\"aois\" "
          "(column \"aoi-name\"). Load it with 'baims ingest-vector … --aoi nowhere' or check "
          "the aoi_field setting");
    CHECK(fx.count() == 0);

    RunResult card = fx.run({"world", "2020-01-01", "2020-02-01", "s3", "S2MSI2A"});
    CHECK(card.exit_code == 2);
    CHECK(last_line(card.err) ==
          "baims catalog: error: CARD 's3' is not one of s2, bs, c6, c12 (did you mean 's2'?). "
          "Run 'baims catalog --help' for the values");
    RunResult ptype = fx.run({"world", "2020-01-01", "2020-02-01", "s2", "S2MSI2B"});
    CHECK(ptype.exit_code == 2);
    CHECK(last_line(ptype.err) ==
          "baims catalog: error: PTYPE 'S2MSI2B' is not one of S2MSI2A, S2MSI1C, CARD-BS, "
          "CARD-COH6, CARD-COH12 (did you mean 'S2MSI2A'?). Run 'baims catalog --help' for the "
          "values");
    RunResult date = fx.run({"world", "2020-02-30", "2020-03-01", "s2", "S2MSI2A"});
    CHECK(date.exit_code == 2);
    CHECK(last_line(date.err) ==
          "baims catalog: error: START '2020-02-30' is not a date (YYYY-MM-DD). Give the first "
          "day, e.g. 2021-06-01");

    const fs::path broken = fx.dir().path() / "broken.json";
    std::ofstream(broken) << "{\"features\": [";
    RunResult file = fx.run(
        {"world", "2020-01-01", "2020-02-01", "s2", "S2MSI2A", "--from-file", broken.string()});
    CHECK(file.exit_code == 4);
    CHECK(last_line(file.err) == "baims catalog: error: cannot read catalogue response '" +
                                     broken.string() +
                                     "': not valid JSON (byte 15). Give a search.json saved from "
                                     "the catalogue's OpenSearch answer (a GeoJSON "
                                     "FeatureCollection)");
}

TEST_CASE("catalog: --from-file drops what the query would not return and says why (issue 7 #5)",
          "[catalog][db]") {
    require_database();
    Fixture fx("from file filters");
    // An S1 GRD response under s2 S2MSI2A: nothing stored (it was stored as card s2 before).
    RunResult s1 = fx.run({"world", "2020-01-01", "2021-01-01", "s2", "S2MSI2A", "--create-tables",
                           "--from-file", S1, "--format", "json"});
    REQUIRE(s1.exit_code == 0);
    CHECK(fx.count() == 0);
    auto j = nlohmann::json::parse(s1.out);
    CHECK(j["dropped"] ==
          nlohmann::json{{"collection", 2}, {"product_type", 0}, {"dates", 0}, {"aoi", 0}});
    CHECK(j["records"] == 0);
    CHECK(s1.err.find("warning: dropped 2 of 2 records from the files that the query would not "
                      "return: 2 not of collection SENTINEL-2 (CARD s2)") != std::string::npos);

    // An L1C response under S2MSI2A: nothing stored.
    RunResult l1c =
        fx.run({"world", "2020-11-01", "2021-01-01", "s2", "S2MSI2A", "--from-file", L1C});
    REQUIRE(l1c.exit_code == 0);
    CHECK(fx.count() == 0);
    CHECK(l1c.err.find("32 not of product type S2MSI2A") != std::string::npos);

    // Svalbard, the 20th only, an AOI box that holds part of the footprints. The expected
    // references are computed by PostGIS from the file itself.
    fx.query("INSERT INTO " + fx.table("aois") +
             " VALUES ('west', ST_MakeEnvelope(15, 77.3, 16, 78.2, 4326))");
    const std::string doc = slurp(SVALBARD);
    auto expected = fx.query(
        "SELECT string_agg(f->'properties'->>'title', ',' ORDER BY f->'properties'->>'title') "
        "FROM json_array_elements('" +
        doc +
        "'::json->'features') f WHERE f->'properties'->>'startDate' >= '2023-04-20' AND "
        "ST_Intersects(ST_SetSRID(ST_GeomFromGeoJSON(f->>'geometry'), 4326), "
        "ST_MakeEnvelope(15, 77.3, 16, 78.2, 4326))");
    REQUIRE(expected.text(0, 0) ==
            "S2B_MSIL2A_20230420T122659_N0509_R052_T33XWG_20230420T133717.SAFE");
    RunResult sv = fx.run({"west", "2023-04-20", "2023-04-21", "s2", "S2MSI2A", "--from-file",
                           SVALBARD, "--format", "json"});
    REQUIRE(sv.exit_code == 0);
    auto k = nlohmann::json::parse(sv.out);
    CHECK(k["dropped"] ==
          nlohmann::json{{"collection", 0}, {"product_type", 0}, {"dates", 4}, {"aoi", 2}});
    CHECK(k["inserted"] == 1);
    CHECK(fx.query("SELECT string_agg(reference, ',') FROM " + fx.table("dias_catalogue"))
              .text(0, 0) == expected.text(0, 0));
    CHECK(sv.err.find("dropped 6 of 7 records from the files that the query would not return: 4 "
                      "outside the dates, 2 not intersecting AOI 'west'") != std::string::npos);
}
