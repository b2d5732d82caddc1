#pragma once
// UTC timestamps as microseconds since 1970-01-01 (the resolution of PostgreSQL `timestamp`).
// The catalogue reports startDate as ISO-8601 with milliseconds or microseconds and a `Z`.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace baims::catalog {

using Micros = std::int64_t;

constexpr Micros MICROS_PER_SECOND = 1'000'000;
constexpr Micros MICROS_PER_DAY = 86'400 * MICROS_PER_SECOND;

// "YYYY-MM-DD" (a real calendar date) → midnight UTC; nullopt otherwise.
std::optional<Micros> parse_date(std::string_view ymd);

// "YYYY-MM-DDTHH:MM:SS[.f…][Z|±HH:MM]" (a space instead of T is accepted; no zone means UTC).
// Fractions beyond microseconds are truncated. nullopt when malformed or out of range.
std::optional<Micros> parse_timestamp(std::string_view iso);

// "2023-04-20 12:26:59.025000" (fraction only when non-zero): the text PostgreSQL reads as a
// `timestamp` (without time zone), holding the UTC wall time as JRC's cdse.py stored it.
std::string format_sql_timestamp(Micros t);

// "2023-04-20T12:26:59Z" / "…59.025000Z": the form used in catalogue query parameters.
std::string format_iso_timestamp(Micros t);

// Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's algorithm).
std::int64_t days_from_civil(int year, unsigned month, unsigned day);

} // namespace baims::catalog
