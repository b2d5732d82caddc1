// The type mapping and value text of docs/cli/ingest-vector.md, through the pure field codec
// that LayerReader uses (issue 12: the mapping had no test). Expected texts are what PostgreSQL
// reads back unchanged (checked against the server in tests/db/test_ingest_types.cpp).

#include "baims/vector/field_codec.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

using namespace baims::vector;
using namespace baims::vector::codec;

TEST_CASE("field codec: OGR type and subtype to the PostgreSQL column type", "[vector]") {
    auto pg = [](SourceType t, SourceSubType st = SourceSubType::None, int width = 0) {
        Field f;
        f.type = map_type(t, st, width);
        f.width = width;
        return f.pg_type();
    };
    CHECK(pg(SourceType::Integer) == "integer");
    CHECK(pg(SourceType::Integer, SourceSubType::Boolean) == "boolean");
    CHECK(pg(SourceType::Integer, SourceSubType::Int16) == "smallint");
    CHECK(pg(SourceType::Integer64) == "bigint");
    CHECK(pg(SourceType::Real) == "double precision");
    CHECK(pg(SourceType::Real, SourceSubType::Float32) == "real");
    CHECK(pg(SourceType::Real, SourceSubType::None, 12) == "double precision"); // not numeric(w,p)
    CHECK(pg(SourceType::String) == "text");
    CHECK(pg(SourceType::String, SourceSubType::None, 80) == "varchar(80)");
    CHECK(pg(SourceType::String, SourceSubType::Json) == "json");
    CHECK(pg(SourceType::Date) == "date");
    CHECK(pg(SourceType::Time) == "time");
    CHECK(pg(SourceType::DateTime) == "timestamptz");
    CHECK(pg(SourceType::Binary) == "bytea");
    CHECK(pg(SourceType::IntegerList) == "integer[]");
    CHECK(pg(SourceType::Integer64List) == "bigint[]");
    CHECK(pg(SourceType::RealList) == "double precision[]");
    CHECK(pg(SourceType::StringList) == "text[]");
    CHECK(pg(SourceType::Other) == "text");
}

TEST_CASE("field codec: numbers, bytes and arrays as PostgreSQL input text", "[vector]") {
    std::string s;
    append_integer(s, std::numeric_limits<long long>::min());
    CHECK(s == "-9223372036854775808");
    s.clear();
    append_double(s, 0.1);
    CHECK(s == "0.1");
    s.clear();
    append_double(s, std::nan(""));
    s += ' ';
    append_double(s, -HUGE_VAL);
    CHECK(s == "NaN -Infinity");
    s.clear();
    const unsigned char bytes[] = {0x00, 0xFF, 0x5C, 0x09};
    append_bytea(s, bytes, 4);
    CHECK(s == "\\x00FF5C09");
    s.clear();
    const int il[] = {1, -2, 2147483647};
    append_integer_array(s, il, 3);
    CHECK(s == "{1,-2,2147483647}");
    s.clear();
    const std::int64_t bl[] = {9007199254740993LL};
    append_integer_array(s, bl, 1);
    CHECK(s == "{9007199254740993}");
    s.clear();
    append_integer_array(s, il, 0);
    CHECK(s == "{}");
    s.clear();
    const double rl[] = {0.5, 1e-3};
    append_double_array(s, rl, 2);
    CHECK(s == "{0.5,0.001}");
    s.clear();
    append_array_text(s, "a\"b\\c,{d}");
    CHECK(s == "\"a\\\"b\\\\c,{d}\"");
}

TEST_CASE("field codec: dates, times and time stamps with OGR's time zone flag", "[vector]") {
    CHECK(date_time_text(FieldType::Date, 2024, 2, 29, 0, 0, 0, 0) == "2024-02-29");
    CHECK(date_time_text(FieldType::Time, 0, 0, 0, 23, 59, 58.25, 0) == "23:59:58.250");
    CHECK(date_time_text(FieldType::Timestamptz, 2024, 2, 29, 10, 11, 12, 100) ==
          "2024-02-29 10:11:12.000+00:00");
    CHECK(date_time_text(FieldType::Timestamptz, 2024, 2, 29, 10, 11, 12, 108) ==
          "2024-02-29 10:11:12.000+02:00");
    CHECK(date_time_text(FieldType::Timestamptz, 2024, 2, 29, 10, 11, 12, 100 - 14) ==
          "2024-02-29 10:11:12.000-03:30");
    // Unknown (0) and local (1) time zones: no offset, read as the session's UTC.
    CHECK(date_time_text(FieldType::Timestamptz, 1900, 1, 1, 0, 0, 0, 1) ==
          "1900-01-01 00:00:00.000");
}
