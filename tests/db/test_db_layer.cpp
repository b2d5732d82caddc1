// The database layer: identifiers, settings, connection errors, transactions, COPY, tables.

#include "db_fixture.hpp"

#include "baims/core/error.hpp"
#include "baims/db/connection.hpp"
#include "baims/db/copy_writer.hpp"
#include "baims/db/identifiers.hpp"
#include "baims/db/schema.hpp"
#include "baims/db/settings.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <sys/stat.h>

using namespace baims;
using namespace baims::test;

TEST_CASE("QualifiedName parses and quotes like PostgreSQL", "[db][identifiers]") {
    auto a = db::QualifiedName::parse("public.Parcels_2021");
    CHECK(a.schema == "public");
    CHECK(a.name == "parcels_2021"); // unquoted parts fold to lower case
    CHECK(a.quoted() == "\"public\".\"parcels_2021\"");
    auto b = db::QualifiedName::parse("\"Parcels \"\"2024\"\"\".t");
    CHECK(b.schema == "Parcels \"2024\"");
    CHECK(b.name == "t");
    CHECK(b.quoted() == "\"Parcels \"\"2024\"\"\".\"t\"");
    auto c = db::QualifiedName::parse("\"a.b\"");
    CHECK(c.schema.empty());
    CHECK(c.name == "a.b");
    CHECK_THROWS_AS(db::QualifiedName::parse("a.b.c"), ConfigError);
    CHECK_THROWS_AS(db::QualifiedName::parse("\"open"), ConfigError);
    CHECK_THROWS_AS(db::QualifiedName::parse("a..b"), ConfigError);
    CHECK_THROWS_AS(db::QualifiedName::parse(""), ConfigError);
    CHECK(db::quote_ident("ndvi-mean") == "\"ndvi-mean\"");
    CHECK_THROWS_AS(db::quote_ident(std::string(64, 'x')), ConfigError);
    // a Latin-1 byte (a shell in a Latin-1 locale): refused with the name shown as its
    // characters, before the server says "invalid byte sequence for encoding UTF8"
    CHECK_THROWS_WITH(db::QualifiedName::parse("public.b\xe4"
                                               "d",
                                               "--collection"),
                      "--collection 'public.b\xc3\xa4"
                      "d': not UTF-8 text (the database's encoding)");
    CHECK_THROWS_WITH(db::quote_ident("b\xe4"
                                      "d"),
                      "identifier 'b\xc3\xa4"
                      "d' is not UTF-8 text");
    CHECK(db::quote_ident("b\xc3\xa4"
                          "d") == "\"b\xc3\xa4"
                                  "d\"");
    CHECK(db::derived_name(std::string(70, 'a'), "_pkey").size() == 63);
    // Never cut inside a UTF-8 character: 31 two-byte characters + "é" at the limit.
    std::string u;
    for (int i = 0; i < 40; ++i) {
        u += "\xC3\xA9";
    }
    auto d = db::derived_name(u, "_idx");
    CHECK(d.size() == 58 + 4); // 29 two-byte characters + "_idx": 59 bytes would split one
    CHECK(d.substr(d.size() - 4) == "_idx");
}

TEST_CASE("a DSN with a password is refused without echoing it", "[db][settings]") {
    try {
        db::ConnectionSettings::from_dsn("host=db1 dbname=cbm password=Sup3rS3cret");
        FAIL("no error");
    } catch (const ConfigError& e) {
        CHECK(std::string(e.what()).find("Sup3rS3cret") == std::string::npos);
        CHECK(e.exit_code() == 3);
        CHECK(e.hint().find(".pgpass") != std::string::npos);
    }
    CHECK_THROWS_AS(db::ConnectionSettings::from_dsn("postgresql://u:Sup3rS3cret@db1/cbm"),
                    ConfigError);
    auto s = db::ConnectionSettings::from_dsn("host=db1 port=5433 dbname=cbm user=me");
    CHECK(s.describe() == "db1:5433/cbm as me");
}

TEST_CASE("db_config.json in the JRC format", "[db][settings]") {
    auto dir = temp_dir();
    auto file = dir / "db_config.json";
    std::ofstream(file) << R"({"database": {"connection": {"host": "db1", "port": 5432,
        "dbname": "postgres", "dbuser": "postgres", "dbpasswd": "Sup3rS3cret"},
        "tables": {"aoi_table": "public.aois", "parcel_table": "public.parcels_2021",
                   "catalog_table": "public.dias_catalogue", "sigs_table": "public.sigs",
                   "hists_table": "public.hists"},
        "args": {"aoi_field": "name", "name": "parcels_2021", "startdate": "2020-10-01",
                 "enddate": "2022-01-01"}}})";
    ::chmod(file.c_str(), 0600);
    auto s = db::ConnectionSettings::from_db_config(file);
    CHECK(s.describe() == "db1:5432/postgres as postgres");
    CHECK(s.has_password());
    CHECK(s.tables.parcel == db::QualifiedName{"public", "parcels_2021"});
    CHECK(s.args.at("startdate") == "2020-10-01");
    for (const auto& [k, v] : s.parameters()) {
        CHECK(v != "Sup3rS3cret");
    }
    std::ofstream(dir / "bad.json") << R"({"database": {"connection": {"hots": "x"}}})";
    try {
        db::ConnectionSettings::from_db_config(dir / "bad.json");
        FAIL("no error");
    } catch (const ConfigError& e) {
        CHECK(std::string(e.what()) ==
              (dir / "bad.json").string() +
                  ": database.connection.hots: unknown key (did you mean 'host'?)");
    }
}

TEST_CASE("connection errors name host, port, database and user", "[db][connection]") {
    require_server();
    int port = unused_port();
    auto s = db::ConnectionSettings::from_dsn("host=127.0.0.1 port=" + std::to_string(port) +
                                              " dbname=nowhere user=someone");
    try {
        db::Connection c(s);
        FAIL("connected");
    } catch (const DatabaseError& e) {
        CHECK(std::string(e.what()) == "cannot connect to 127.0.0.1:" + std::to_string(port) +
                                           "/nowhere as someone: connection refused");
        CHECK(e.hint() == "Check PGHOST/PGPORT/PGSERVICE or --db");
        CHECK(e.exit_code() == 6);
    }
}

TEST_CASE("exec_params keeps hostile values as values, SQL errors carry the SQLSTATE",
          "[db][connection]") {
    auto conn = connect();
    std::string hostile = "'); DROP TABLE x; -- \t\\ \"é\"";
    auto r = conn.exec_params(
        "SELECT $1::text AS v, $2::int + 1 AS n, $3::float8 AS d, $4::text IS NULL", hostile, 41,
        0.1, std::nullopt);
    REQUIRE(r.size() == 1);
    CHECK(r.text(0, 0) == hostile);
    CHECK(r.int64(0, 1) == 42);
    CHECK(r.real(0, 2) == 0.1);
    CHECK(r.boolean(0, 3));
    try {
        conn.exec("SELECT * FROM no_such_table_here");
        FAIL("no error");
    } catch (const DatabaseError& e) {
        CHECK(e.sqlstate() == "42P01");
        CHECK(std::string(e.what()) ==
              "relation \"no_such_table_here\" does not exist (SQLSTATE 42P01)");
    }
    // A value that is not UTF-8 (a Latin-1 --aoi name) is refused before the server sees it,
    // shown as its characters; the server's own refusal (SQL text here) carries a hint.
    CHECK_THROWS_WITH(conn.exec_params("SELECT $1::text", std::string("T\xe4"
                                                                      "gl")),
                      "the value 'T\xc3\xa4"
                      "gl' is not UTF-8 text (the database's encoding)");
    try {
        conn.exec("SELECT 'T\xe4"
                  "gl'::text");
        FAIL("no error");
    } catch (const DatabaseError& e) {
        CHECK(e.sqlstate() == "22021");
        CHECK(e.hint() == "The data hold text that is not UTF-8 (the database's encoding); give "
                          "it in UTF-8");
    }
}

TEST_CASE("a Transaction rolls back unless committed", "[db][connection]") {
    TempSchema schema("tx");
    auto& conn = schema.conn();
    conn.exec("CREATE TABLE " + schema.table("t") + " (v int)");
    {
        db::Transaction tx(conn);
        tx.exec_params("INSERT INTO " + schema.table("t") + " VALUES ($1)", 1);
    } // destroyed without commit
    CHECK(conn.exec("SELECT count(*) FROM " + schema.table("t")).int64(0, 0) == 0);
    {
        db::Transaction tx(conn);
        auto r = tx.exec_params("INSERT INTO " + schema.table("t") + " VALUES ($1), ($2)", 1, 2);
        CHECK(r.affected_rows() == 2);
        tx.commit();
    }
    CHECK(conn.exec("SELECT count(*) FROM " + schema.table("t")).int64(0, 0) == 2);
}

TEST_CASE("CopyWriter loads hostile text and NULLs exactly", "[db][copy]") {
    TempSchema schema("copy");
    auto& conn = schema.conn();
    db::QualifiedName table{schema.name(), "Parcels \"2024\""};
    conn.exec("CREATE TABLE " + table.quoted() + " (k int, \"ndvi-mean\" text, b bytea)");
    std::vector<std::string> values = {"plain", "tab\there", "new\nline",         "back\\slash\\N",
                                       "cr\rx", "quote\"'",  "\xC3\xA9t\xC3\xA9", ""};
    {
        db::Transaction tx(conn);
        db::CopyWriter copy(tx, table, {"k", "ndvi-mean", "b"});
        for (std::size_t i = 0; i < values.size(); ++i) {
            copy.add(std::to_string(i));
            copy.add(values[i]);
            copy.add("\\x00ff");
            copy.end_row();
        }
        copy.add("99");
        copy.add_null();
        copy.add_null();
        copy.end_row();
        copy.complete();
        CHECK(copy.rows() == values.size() + 1);
        tx.commit();
    }
    auto r = conn.exec("SELECT k, \"ndvi-mean\", encode(b, 'hex') FROM " + table.quoted() +
                       " ORDER BY k");
    REQUIRE(r.size() == values.size() + 1);
    for (std::size_t i = 0; i < values.size(); ++i) {
        CHECK(r.text(i, 1) == values[i]);
        CHECK(r.text(i, 2) == "00ff");
    }
    CHECK(r.is_null(values.size(), 1));
    CHECK(r.is_null(values.size(), 2));
}

TEST_CASE("COPY text escaping reads back exactly through a real COPY", "[db][copy]") {
    // The values of tests/unit/db/test_copy_text.cpp, loaded with CopyWriter (append_copy_text)
    // and, as the reference, with statement parameters (no escaping at all).
    TempSchema schema("copy text");
    auto& conn = schema.conn();
    const std::vector<std::optional<std::string>> values = {
        "a\tb",
        "a\nb",
        "a\rb",
        "a\\b",
        "\r\n\t\\",
        "\\N",
        "\\.",
        "\\x41",
        "",
        std::nullopt,
        "\x01\b\f\v\x1b\x7f",
        "\xC3\xA9t\xC3\xA9 \xE6\x9D\xB1\xE4\xBA\xAC \xF0\x9F\x8C\x8D",
        "\t",
        "\n\n"};
    db::QualifiedName copied{schema.name(), "copied"};
    db::QualifiedName reference{schema.name(), "reference"};
    conn.exec("CREATE TABLE " + copied.quoted() + " (k int, v text)");
    conn.exec("CREATE TABLE " + reference.quoted() + " (k int, v text)");
    {
        db::Transaction tx(conn);
        db::CopyWriter copy(tx, copied, {"k", "v"});
        for (std::size_t i = 0; i < values.size(); ++i) {
            copy.add(std::to_string(i));
            copy.add_optional(values[i]);
            copy.end_row();
        }
        copy.complete();
        tx.commit();
    }
    for (std::size_t i = 0; i < values.size(); ++i) {
        conn.exec_params("INSERT INTO " + reference.quoted() + " VALUES ($1, $2)", i, values[i]);
    }
    auto r = conn.exec("SELECT k, v FROM " + copied.quoted() + " ORDER BY k");
    REQUIRE(r.size() == values.size());
    for (std::size_t i = 0; i < values.size(); ++i) {
        INFO("value " << i);
        CHECK(r.int64(i, 0) == static_cast<std::int64_t>(i));
        CHECK(r.value(i, 1) == values[i]);
    }
    CHECK(conn.exec("SELECT count(*) FROM " + copied.quoted() + " c JOIN " + reference.quoted() +
                    " r USING (k) WHERE c.v IS NOT DISTINCT FROM r.v")
              .int64(0, 0) == static_cast<std::int64_t>(values.size()));
    CHECK(conn.exec("SELECT count(*) FROM " + copied.quoted() + " WHERE v IS NULL").int64(0, 0) ==
          1);
}

TEST_CASE("create_tables makes exactly the SPEC 6.2 tables and leaves existing ones alone",
          "[db][schema]") {
    TempSchema schema("tables");
    auto& conn = schema.conn();
    db::TableNames n;
    auto in = [&](const char* t) { return db::QualifiedName{schema.name(), t}; };
    n.aoi = in("aois");
    n.catalog = in("dias_catalogue");
    n.sigs = in("sigs");
    n.hists = in("hists");
    n.extraction = in("baims_extraction");
    n.catalogue_extra = in("baims_catalogue_extra");
    // An existing sigs with another layout must stay as it is.
    conn.exec("CREATE TABLE " + n.sigs.quoted() + " (pid int, extra text)");
    auto created = db::create_tables(conn, n);
    CHECK(created.size() == 5);
    CHECK(db::create_tables(conn, n).empty());
    auto cols = [&](const char* t) {
        auto r = conn.exec_params(
            "SELECT string_agg(column_name || ' ' || "
            "CASE WHEN data_type = 'USER-DEFINED' THEN udt_name ELSE data_type END, ', ' "
            "ORDER BY ordinal_position) FROM information_schema.columns "
            "WHERE table_schema = $1 AND table_name = $2",
            schema.name(), std::string(t));
        return r.text(0, 0);
    };
    CHECK(cols("aois") == "name text, wkb_geometry geometry");
    CHECK(cols("dias_catalogue") ==
          "id integer, obstime timestamp without time zone, reference character varying, "
          "sensor character, card character, status character varying, footprint geometry");
    CHECK(cols("sigs") == "pid integer, extra text");
    CHECK(cols("hists") == "pid integer, obsid integer, hist json");
    CHECK(cols("baims_catalogue_extra") ==
          "reference character varying, product_identifier text, cloud_cover real, "
          "processing_baseline text");
    auto r = conn.exec_params(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = "
        "to_regclass($1) AND attname = 'footprint'",
        n.catalog.quoted());
    CHECK(r.text(0, 0) == "geometry(Polygon,4326)");
    auto idx = conn.exec_params("SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND "
                                "tablename = 'dias_catalogue' AND indexdef LIKE '%gist%'",
                                schema.name());
    CHECK(idx.size() == 1);
    auto status_default = conn.exec_params(
        "SELECT column_default FROM information_schema.columns WHERE table_schema = $1 AND "
        "table_name = 'dias_catalogue' AND column_name = 'status'",
        schema.name());
    CHECK(status_default.text(0, 0) == "'ingested'::character varying");
}
