#pragma once
// Time values of the cube: double days since 1970-01-01T00:00:00 in the cube's calendar, exact to
// the second (doubles hold whole seconds exactly for ±285 000 years; milliseconds are kept by
// round_to_ms). Parsing of the time strings found in EO products and of CF time units.
//
// Calendars (CF-1.9 §4.4.1, as cftime reads them): in the Gregorian family (standard, gregorian,
// proleptic_gregorian) a value is a real day count, labelled in the proleptic Gregorian calendar
// (ISO 8601); a "standard"/"gregorian" unit reference before 1582-10-15 is a Julian date, as CF
// and cftime read it. In julian, noleap (365_day), all_leap (366_day) and 360_day a value counts
// the days of that calendar since its own 1970-01-01. Every day has 86400 s in all of them.

#include <optional>
#include <string>
#include <string_view>

namespace baims::grid::time {

enum class Calendar { Gregorian, Julian, NoLeap, AllLeap, Day360 };

// CF calendar attribute -> calendar (case-insensitive; "" = standard); nullopt if unknown.
// standard, gregorian, proleptic_gregorian -> Gregorian; julian; noleap, 365_day -> NoLeap;
// all_leap, 366_day -> AllLeap; 360_day -> Day360.
std::optional<Calendar> parse_calendar(std::string_view name);
// The names parse_calendar accepts, for messages.
std::string calendar_names();
// "gregorian", "julian", "noleap", "all_leap", "360_day".
std::string to_string(Calendar c);
// The calendar attribute to write for a time axis whose earliest value is `earliest` days:
// Gregorian is "gregorian", or "proleptic_gregorian" when a value lies before 1582-10-15 (where
// "gregorian" would make readers label it in the Julian calendar); others as to_string().
std::string calendar_attribute(Calendar c, double earliest);

// Parses the time strings of EO products, all read as UTC unless an offset is given:
//   "2017-06-05T00:00:00Z", "2017-06-05T00:00:00.000000000", "2017-06-05 12:00:00", "2017-06-05",
//   "2017-06-05T00:00", "1970-1-1 0:0:0", "20170605T000000Z", "20170605",
//   "14-APR-2017 10:27:29.454657" (month names or 3-letter abbreviations, any case),
// with fractional seconds and offsets "Z", "UTC", "GMT", "+hh:mm", "+hhmm", "+hh", "-hh:mm".
// Fields are range-checked in the calendar (2017-02-29 is not a time in Gregorian or noleap;
// 2017-02-30 is one in 360_day). nullopt if the text is not a time.
std::optional<double> parse_time(std::string_view text, Calendar cal = Calendar::Gregorian);

// A CF time unit turned into a converter: value in the file -> days since 1970-01-01 of the
// calendar.
struct CfTimeUnits {
    double ms_per_unit = 86400000.0; // exact for ms .. weeks
    double offset_days = 0.0;        // the reference time
    Calendar calendar = Calendar::Gregorian;
    // Integral values of any unit up to days are converted with one rounding.
    double to_days(double v) const { return offset_days + v * ms_per_unit / 86400000.0; }
};

// CF units "<unit> since <ref>": unit one of microseconds/microsecond/usecs/usec/us,
// milliseconds/millisecond/msecs/msec/ms, seconds/second/secs/sec/s, minutes/minute/mins/min,
// hours/hour/hrs/hr/h, days/day/d, weeks/week (case-insensitive); ref in any form parse_time
// accepts, in the calendar (standard/gregorian: a Julian date before 1582-10-15). calendar: any
// name parse_calendar accepts. Throws InputError naming the units or the calendar when they are
// not supported.
CfTimeUnits parse_cf_units(std::string_view units, std::string_view calendar = "standard");

// "2017-06-05T12:00:00Z"; milliseconds only when non-zero: "2017-04-14T10:27:29.455Z". The date
// is labelled in the calendar (Gregorian: proleptic, as ISO 8601).
std::string format_iso(double days, Calendar cal = Calendar::Gregorian);

// days rounded to the nearest millisecond (the closest double to it).
double round_to_ms(double days);

// Days since 1970-01-01 of a proleptic Gregorian civil date (no range checks).
long long days_from_civil(long long year, unsigned month, unsigned day);

// Days since the calendar's 1970-01-01 of a date in it (no range checks).
long long days_from_date(Calendar cal, long long year, unsigned month, unsigned day);

} // namespace baims::grid::time
