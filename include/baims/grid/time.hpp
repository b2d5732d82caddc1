#pragma once
// Time values of the cube: double days since 1970-01-01T00:00:00Z, proleptic Gregorian calendar,
// exact to the second (doubles hold whole seconds exactly for ±285 000 years; milliseconds are kept
// by round_to_ms). Parsing of the time strings found in EO products and of CF time units.

#include <optional>
#include <string>
#include <string_view>

namespace baims::grid::time {

// Parses the time strings of EO products, all read as UTC unless an offset is given:
//   "2017-06-05T00:00:00Z", "2017-06-05T00:00:00.000000000", "2017-06-05 12:00:00", "2017-06-05",
//   "2017-06-05T00:00", "1970-1-1 0:0:0", "20170605T000000Z", "20170605",
//   "14-APR-2017 10:27:29.454657" (month names or 3-letter abbreviations, any case),
// with fractional seconds and offsets "Z", "UTC", "GMT", "+hh:mm", "+hhmm", "+hh", "-hh:mm".
// Fields are range-checked (2017-02-29 is not a time). nullopt if the text is not a time.
std::optional<double> parse_time(std::string_view text);

// A CF time unit turned into a converter: value in the file -> days since 1970-01-01.
struct CfTimeUnits {
    double scale_days = 1.0;
    double offset_days = 0.0;
    double to_days(double v) const { return offset_days + v * scale_days; }
};

// CF units "<unit> since <ref>": unit one of seconds/second/secs/sec/s, minutes/minute/mins/min,
// hours/hour/hrs/hr/h, days/day/d, weeks/week (case-insensitive); ref in any form parse_time
// accepts. calendar: standard, gregorian, proleptic_gregorian (case-insensitive; "" = standard).
// "standard"/"gregorian" are treated as proleptic Gregorian, which is exact for dates after
// 1582-10-15. Throws InputError naming the units or the calendar when they are not supported.
CfTimeUnits parse_cf_units(std::string_view units, std::string_view calendar = "standard");

// "2017-06-05T12:00:00Z"; milliseconds only when non-zero: "2017-04-14T10:27:29.455Z".
std::string format_iso(double days);

// days rounded to the nearest millisecond (the closest double to it).
double round_to_ms(double days);

// Days since 1970-01-01 of a proleptic Gregorian civil date (no range checks).
long long days_from_civil(long long year, unsigned month, unsigned day);

} // namespace baims::grid::time
