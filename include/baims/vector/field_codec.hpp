#pragma once
// The pure part of reading attributes: which PostgreSQL column type an OGR field gets, and how a
// value is written as PostgreSQL input text (what COPY reads). No GDAL types and no I/O, so the
// type mapping of docs/cli/ingest-vector.md is tested value by value (tests/unit/vector).
// LayerReader maps OGR's field definitions and values onto these calls.

#include "baims/vector/layer_reader.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

namespace baims::vector::codec {

// OGR's field types and subtypes, without the GDAL headers (OFTInteger, ..., OFSTBoolean, ...).
enum class SourceType {
    Integer,
    Integer64,
    Real,
    String,
    Date,
    Time,
    DateTime,
    Binary,
    IntegerList,
    Integer64List,
    RealList,
    StringList,
    Other, // anything else is loaded as text
};
enum class SourceSubType { None, Boolean, Int16, Float32, Json };

// Integer → integer (Boolean → boolean, Int16 → smallint), Integer64 → bigint, Real → double
// precision (Float32 → real), String → text or varchar(width) (Json → json), Date/Time/DateTime
// → date/time/timestamptz, Binary → bytea, lists → arrays.
FieldType map_type(SourceType type, SourceSubType subtype, int width);

void append_integer(std::string& out, long long v);
// Shortest round-trip text; NaN, Infinity, -Infinity as PostgreSQL spells them.
void append_double(std::string& out, double v);
// "\x" followed by two upper-case hex digits per byte.
void append_bytea(std::string& out, const unsigned char* bytes, std::size_t n);

// An array literal element: always double-quoted, " and \ escaped.
void append_array_text(std::string& out, const char* s);

// {a,b,c} of integers / doubles.
void append_integer_array(std::string& out, const int* v, std::size_t n);
void append_integer_array(std::string& out, const std::int64_t* v, std::size_t n);
void append_double_array(std::string& out, const double* v, std::size_t n);

// A date, time or timestamptz from OGR's broken-down value. tz is OGR's flag: 100 = UTC,
// 100 + n = UTC + n * 15 minutes (n < 0 too: 86 = UTC-03:30); 0 (unknown) and 1 (local) are
// written without an offset and
// read in the loading session's time zone (UTC).
std::string date_time_text(FieldType type, int year, int month, int day, int hour, int minute,
                           double second, int tz);

} // namespace baims::vector::codec
