#include "baims/grid/time.hpp"

#include "baims/core/error.hpp"
#include "baims/core/text.hpp"

#include <array>
#include <cmath>
#include <cstdio>

namespace baims::grid::time {
namespace {

constexpr double SECONDS_PER_DAY = 86400.0;
constexpr double MS_PER_DAY = 86400000.0;

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
char lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool is_leap(Calendar cal, long long y) {
    switch (cal) {
    case Calendar::Gregorian:
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    case Calendar::Julian:
        return y % 4 == 0;
    case Calendar::AllLeap:
        return true;
    case Calendar::NoLeap:
    case Calendar::Day360:
        return false;
    }
    return false;
}

unsigned days_in_month(Calendar cal, long long y, unsigned m) {
    static constexpr std::array<unsigned, 12> DAYS{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (cal == Calendar::Day360) {
        return 30;
    }
    return (m == 2 && is_leap(cal, y)) ? 29 : DAYS[m - 1];
}

// Floor division (rounds towards minus infinity).
long long floor_div(long long a, long long d) {
    return a >= 0 ? a / d : -((-a + d - 1) / d);
}

struct Civil {
    long long year;
    unsigned month, day;
};

// Days before month m (1-based) in a year of 365 (leap = false) or 366 days.
unsigned days_before_month(bool leap, unsigned m) {
    static constexpr std::array<unsigned, 12> CUM{0,   31,  59,  90,  120, 151,
                                                  181, 212, 243, 273, 304, 334};
    return CUM[m - 1] + (leap && m > 2 ? 1 : 0);
}

// Julian calendar: a day count by 4-year cycles of years that start in March (so the leap day
// ends a cycle); julian_serial(1970, 1, 1) is Julian 1970-01-01.
long long julian_serial(long long y, unsigned m, unsigned d) {
    y -= m <= 2 ? 1 : 0;
    const long long cycle = floor_div(y, 4);
    const auto yoc = static_cast<unsigned>(y - cycle * 4);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    return cycle * 1461 + yoc * 365 + doy;
}
const long long JULIAN_1970 = julian_serial(1970, 1, 1);

Civil julian_from_days(long long z) {
    z += JULIAN_1970;
    const long long cycle = floor_div(z, 1461);
    const auto doc = static_cast<unsigned>(z - cycle * 1461);
    const unsigned yoc = std::min(doc / 365, 3u);
    const unsigned doy = doc - 365 * yoc;
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    const long long y = static_cast<long long>(yoc) + cycle * 4;
    return {m <= 2 ? y + 1 : y, m, d};
}

// Calendars of fixed-length years (noleap 365, all_leap 366, 360_day).
Civil fixed_from_days(long long z, Calendar cal) {
    const long long len = cal == Calendar::Day360 ? 360 : cal == Calendar::AllLeap ? 366 : 365;
    const long long y = 1970 + floor_div(z, len);
    const auto doy = static_cast<unsigned>(z - (y - 1970) * len);
    if (cal == Calendar::Day360) {
        return {y, doy / 30 + 1, doy % 30 + 1};
    }
    const bool leap = cal == Calendar::AllLeap;
    unsigned m = 12;
    while (days_before_month(leap, m) > doy) {
        --m;
    }
    return {y, m, doy - days_before_month(leap, m) + 1};
}

Civil civil_from_days(long long z);

Civil date_from_days(Calendar cal, long long z) {
    switch (cal) {
    case Calendar::Gregorian:
        return civil_from_days(z);
    case Calendar::Julian:
        return julian_from_days(z);
    case Calendar::NoLeap:
    case Calendar::AllLeap:
    case Calendar::Day360:
        return fixed_from_days(z, cal);
    }
    return civil_from_days(z);
}

// Howard Hinnant's civil_from_days.
Civil civil_from_days(long long z) {
    z += 719468;
    const long long era = (z >= 0 ? z : z - 146096) / 146097;
    const auto doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const long long y = static_cast<long long>(yoe) + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    return {m <= 2 ? y + 1 : y, m, d};
}

// A cursor over the text being parsed.
class Scanner {
public:
    explicit Scanner(std::string_view s)
        : m_s(s) {}
    bool done() const { return m_i >= m_s.size(); }
    char peek(size_t ahead = 0) const { return m_i + ahead < m_s.size() ? m_s[m_i + ahead] : '\0'; }
    bool accept(char c) {
        if (peek() == c) {
            ++m_i;
            return true;
        }
        return false;
    }
    void skip_spaces() {
        while (peek() == ' ' || peek() == '\t') {
            ++m_i;
        }
    }
    // Between min_len and max_len digits; nullopt (nothing consumed) otherwise.
    std::optional<long long> digits(size_t min_len, size_t max_len) {
        size_t n = 0;
        long long v = 0;
        while (n < max_len && is_digit(peek(n))) {
            v = v * 10 + (peek(n) - '0');
            ++n;
        }
        if (n < min_len) {
            return std::nullopt;
        }
        m_i += n;
        return v;
    }
    size_t digit_run() const {
        size_t n = 0;
        while (is_digit(peek(n))) {
            ++n;
        }
        return n;
    }
    std::string word() {
        std::string w;
        while (is_alpha(peek())) {
            w += lower(m_s[m_i++]);
        }
        return w;
    }
    // ".123456" -> 0.123456 (the dot already consumed); at least one digit.
    std::optional<double> fraction() {
        double scale = 0.1, v = 0.0;
        size_t n = 0;
        while (is_digit(peek())) {
            v += (m_s[m_i++] - '0') * scale;
            scale /= 10.0;
            ++n;
        }
        if (n == 0) {
            return std::nullopt;
        }
        return v;
    }

private:
    std::string_view m_s;
    size_t m_i = 0;
};

struct Parsed {
    long long year = 1970;
    unsigned month = 1, day = 1;
    long long hour = 0, minute = 0, second = 0;
    double frac = 0.0;
    long long offset_minutes = 0; // local = UTC + offset
};

std::optional<unsigned> month_from_name(const std::string& w) {
    static constexpr std::array<std::string_view, 12> NAMES{
        "january", "february", "march",     "april",   "may",      "june",
        "july",    "august",   "september", "october", "november", "december"};
    for (size_t i = 0; i < NAMES.size(); ++i) {
        if (w == NAMES[i] || (w.size() == 3 && NAMES[i].substr(0, 3) == w) ||
            (w == "sept" && i == 8)) {
            return static_cast<unsigned>(i + 1);
        }
    }
    return std::nullopt;
}

// "hh:mm[:ss[.f]]" with 1-2 digit fields.
bool parse_clock(Scanner& sc, Parsed& p) {
    auto h = sc.digits(1, 2);
    if (!h || !sc.accept(':')) {
        return false;
    }
    auto m = sc.digits(1, 2);
    if (!m) {
        return false;
    }
    p.hour = *h;
    p.minute = *m;
    if (sc.accept(':')) {
        auto s = sc.digits(1, 2);
        if (!s) {
            return false;
        }
        p.second = *s;
        if (sc.accept('.') || sc.accept(',')) {
            auto f = sc.fraction();
            if (!f) {
                return false;
            }
            p.frac = *f;
        }
    }
    return true;
}

// "hhmm[ss[.f]]" (compact form).
bool parse_compact_clock(Scanner& sc, Parsed& p) {
    const size_t n = sc.digit_run();
    if (n != 4 && n != 6) {
        return false;
    }
    p.hour = *sc.digits(2, 2);
    p.minute = *sc.digits(2, 2);
    if (n == 6) {
        p.second = *sc.digits(2, 2);
        if (sc.accept('.') || sc.accept(',')) {
            auto f = sc.fraction();
            if (!f) {
                return false;
            }
            p.frac = *f;
        }
    }
    return true;
}

// Optional "Z", "UTC", "GMT", "+hh:mm", "+hhmm", "+hh", "-hh:mm", possibly after spaces; then end.
bool parse_zone_and_end(Scanner& sc, Parsed& p) {
    sc.skip_spaces();
    if (sc.done()) {
        return true;
    }
    if (sc.accept('Z') || sc.accept('z')) {
        return sc.done();
    }
    if (is_alpha(sc.peek())) {
        const std::string w = sc.word();
        if (w != "utc" && w != "gmt") {
            return false;
        }
        sc.skip_spaces();
        if (sc.done()) {
            return true;
        }
    }
    int sign = 0;
    if (sc.accept('+')) {
        sign = 1;
    } else if (sc.accept('-')) {
        sign = -1;
    } else {
        return false;
    }
    const size_t n = sc.digit_run();
    long long hh = 0, mm = 0;
    if (n == 4) {
        hh = *sc.digits(2, 2);
        mm = *sc.digits(2, 2);
    } else if (n == 1 || n == 2) {
        hh = *sc.digits(1, 2);
        if (sc.accept(':')) {
            auto m = sc.digits(2, 2);
            if (!m) {
                return false;
            }
            mm = *m;
        }
    } else {
        return false;
    }
    if (hh > 14 || mm > 59) {
        return false;
    }
    p.offset_minutes = sign * (hh * 60 + mm);
    return sc.done();
}

bool parse_fields(std::string_view text, Parsed& p) {
    Scanner sc(text);
    const size_t lead = sc.digit_run();
    if ((lead == 1 || lead == 2) && sc.peek(lead) == '-' && is_alpha(sc.peek(lead + 1))) {
        // "14-APR-2017[ 10:27:29.454657]"
        p.day = static_cast<unsigned>(*sc.digits(1, 2));
        sc.accept('-');
        auto month = month_from_name(sc.word());
        if (!month || !sc.accept('-')) {
            return false;
        }
        p.month = *month;
        auto y = sc.digits(4, 4);
        if (!y) {
            return false;
        }
        p.year = *y;
        if (sc.accept(' ') || sc.accept('T') || sc.accept(':')) {
            sc.skip_spaces();
            if (!parse_clock(sc, p)) {
                return false;
            }
        }
        return parse_zone_and_end(sc, p);
    }
    if (lead == 8 && sc.peek(8) != '-') {
        // "20170605[T000000[.f]][Z]"
        p.year = *sc.digits(4, 4);
        p.month = static_cast<unsigned>(*sc.digits(2, 2));
        p.day = static_cast<unsigned>(*sc.digits(2, 2));
        if (sc.accept('T') || sc.accept('t')) {
            if (!parse_compact_clock(sc, p)) {
                return false;
            }
        }
        return parse_zone_and_end(sc, p);
    }
    if (lead >= 1 && lead <= 4 && sc.peek(lead) == '-') {
        // "2017-06-05[(T| )hh:mm[:ss[.f]]][zone]", 1-2 digit month/day/hour/minute/second.
        p.year = *sc.digits(1, 4);
        sc.accept('-');
        auto m = sc.digits(1, 2);
        if (!m || !sc.accept('-')) {
            return false;
        }
        auto d = sc.digits(1, 2);
        if (!d) {
            return false;
        }
        p.month = static_cast<unsigned>(*m);
        p.day = static_cast<unsigned>(*d);
        if (sc.accept('T') || sc.accept('t')) {
            if (!parse_clock(sc, p)) {
                return false;
            }
        } else if (sc.peek() == ' ') {
            sc.skip_spaces();
            if (is_digit(sc.peek()) && !parse_clock(sc, p)) {
                return false;
            }
        }
        return parse_zone_and_end(sc, p);
    }
    return false;
}

std::string describe_units_error(std::string_view units) {
    return "unsupported CF time units '" + std::string(units) + "'";
}

// The first day of the Gregorian calendar in the mixed (standard) calendar: 1582-10-15 follows
// Julian 1582-10-04.
constexpr long long GREGORIAN_START_DAYS = -141427; // days_from_civil(1582, 10, 15)

// parse_time in a calendar; mixed: the CF standard calendar (Julian dates before 1582-10-15;
// the dates 1582-10-05 .. 1582-10-14 do not exist).
std::optional<double> parse_time_in(std::string_view text, Calendar cal, bool mixed) {
    const std::string trimmed = text::trim(text);
    if (trimmed.empty()) {
        return std::nullopt;
    }
    Parsed p;
    if (!parse_fields(trimmed, p)) {
        return std::nullopt;
    }
    const bool julian_date =
        mixed &&
        (p.year < 1582 || (p.year == 1582 && (p.month < 10 || (p.month == 10 && p.day < 15))));
    if (julian_date && p.year == 1582 && p.month == 10 && p.day > 4) {
        return std::nullopt; // skipped by the switch to the Gregorian calendar
    }
    const Calendar field_cal = julian_date ? Calendar::Julian : cal;
    if (p.month < 1 || p.month > 12 || p.day < 1 ||
        p.day > days_in_month(field_cal, p.year, p.month) || p.hour > 23 || p.minute > 59 ||
        p.second > 59) {
        return std::nullopt;
    }
    long long day = days_from_date(field_cal, p.year, p.month, p.day);
    if (julian_date) {
        // Julian 1582-10-04 is the day before Gregorian 1582-10-15.
        day += GREGORIAN_START_DAYS - 1 - days_from_date(Calendar::Julian, 1582, 10, 4);
    }
    // Whole seconds are exact in a double; one division keeps the result correctly rounded.
    const long long whole =
        day * 86400 + p.hour * 3600 + p.minute * 60 + p.second - p.offset_minutes * 60;
    const double days = static_cast<double>(whole) / SECONDS_PER_DAY;
    if (p.frac == 0.0) {
        return days;
    }
    return days + p.frac / SECONDS_PER_DAY;
}

} // namespace

std::optional<Calendar> parse_calendar(std::string_view name) {
    const std::string n = text::to_lower(text::trim(name));
    if (n.empty() || n == "standard" || n == "gregorian" || n == "proleptic_gregorian") {
        return Calendar::Gregorian;
    }
    if (n == "julian") {
        return Calendar::Julian;
    }
    if (n == "noleap" || n == "365_day") {
        return Calendar::NoLeap;
    }
    if (n == "all_leap" || n == "366_day") {
        return Calendar::AllLeap;
    }
    if (n == "360_day") {
        return Calendar::Day360;
    }
    return std::nullopt;
}

std::string calendar_names() {
    return "standard, gregorian, proleptic_gregorian, julian, noleap, 365_day, all_leap, "
           "366_day, 360_day";
}

std::string to_string(Calendar c) {
    switch (c) {
    case Calendar::Gregorian:
        return "gregorian";
    case Calendar::Julian:
        return "julian";
    case Calendar::NoLeap:
        return "noleap";
    case Calendar::AllLeap:
        return "all_leap";
    case Calendar::Day360:
        return "360_day";
    }
    return "gregorian";
}

std::string calendar_attribute(Calendar c, double earliest) {
    if (c == Calendar::Gregorian && earliest < static_cast<double>(GREGORIAN_START_DAYS)) {
        return "proleptic_gregorian";
    }
    return to_string(c);
}

long long days_from_date(Calendar cal, long long y, unsigned m, unsigned d) {
    switch (cal) {
    case Calendar::Gregorian:
        return days_from_civil(y, m, d);
    case Calendar::Julian:
        return julian_serial(y, m, d) - JULIAN_1970;
    case Calendar::NoLeap:
        return (y - 1970) * 365 + days_before_month(false, m) + d - 1;
    case Calendar::AllLeap:
        return (y - 1970) * 366 + days_before_month(true, m) + d - 1;
    case Calendar::Day360:
        return (y - 1970) * 360 + (m - 1) * 30 + d - 1;
    }
    return days_from_civil(y, m, d);
}

long long days_from_civil(long long y, unsigned m, unsigned d) {
    y -= m <= 2 ? 1 : 0;
    const long long era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<long long>(doe) - 719468;
}

std::optional<double> parse_time(std::string_view text, Calendar cal) {
    return parse_time_in(text, cal, false);
}

CfTimeUnits parse_cf_units(std::string_view units, std::string_view calendar) {
    const auto cal = parse_calendar(calendar);
    if (!cal) {
        throw InputError("unsupported calendar '" + std::string(calendar) + "'",
                         "Supported calendars: " + calendar_names());
    }
    const std::string cal_name = text::to_lower(text::trim(calendar));
    const bool mixed = cal_name.empty() || cal_name == "standard" || cal_name == "gregorian";
    const std::string u = text::trim(units);
    const std::string hint = "expected '<milliseconds|seconds|minutes|hours|days> since <date>', "
                             "for example 'days since 1970-01-01'";
    // Split "<unit> since <ref>" on the word "since" (any case).
    const std::string lowered = text::to_lower(u);
    const size_t pos = lowered.find(" since ");
    if (pos == std::string::npos) {
        throw InputError(describe_units_error(units), hint);
    }
    const std::string unit = text::trim(std::string_view(lowered).substr(0, pos));
    const std::string ref = text::trim(std::string_view(u).substr(pos + 7));
    double ms = 0.0;
    if (unit == "microseconds" || unit == "microsecond" || unit == "usecs" || unit == "usec" ||
        unit == "us") {
        ms = 1e-3;
    } else if (unit == "milliseconds" || unit == "millisecond" || unit == "msecs" ||
               unit == "msec" || unit == "ms") {
        ms = 1.0;
    } else if (unit == "seconds" || unit == "second" || unit == "secs" || unit == "sec" ||
               unit == "s") {
        ms = 1e3;
    } else if (unit == "minutes" || unit == "minute" || unit == "mins" || unit == "min") {
        ms = 60e3;
    } else if (unit == "hours" || unit == "hour" || unit == "hrs" || unit == "hr" || unit == "h") {
        ms = 3600e3;
    } else if (unit == "days" || unit == "day" || unit == "d") {
        ms = MS_PER_DAY;
    } else if (unit == "weeks" || unit == "week") {
        ms = 7 * MS_PER_DAY;
    } else {
        throw InputError(describe_units_error(units) + ": unknown unit '" + unit + "'", hint);
    }
    auto offset = parse_time_in(ref, *cal, mixed);
    if (!offset) {
        const std::string in_cal =
            *cal == Calendar::Gregorian ? "" : " (in the " + to_string(*cal) + " calendar)";
        throw InputError(describe_units_error(units) + ": cannot parse the reference time '" + ref +
                             "'" + in_cal,
                         hint);
    }
    return CfTimeUnits{ms, *offset, *cal};
}

double round_to_ms(double days) {
    return std::round(days * MS_PER_DAY) / MS_PER_DAY;
}

std::string format_iso(double days, Calendar cal) {
    const auto ms_total = static_cast<long long>(std::llround(days * MS_PER_DAY));
    long long day = ms_total / 86400000;
    long long ms_of_day = ms_total % 86400000;
    if (ms_of_day < 0) {
        ms_of_day += 86400000;
        --day;
    }
    const Civil c = date_from_days(cal, day);
    const long long sec_of_day = ms_of_day / 1000;
    const long long ms = ms_of_day % 1000;
    char buf[64];
    if (ms == 0) {
        std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lldZ", c.year, c.month,
                      c.day, sec_of_day / 3600, sec_of_day / 60 % 60, sec_of_day % 60);
    } else {
        std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ", c.year,
                      c.month, c.day, sec_of_day / 3600, sec_of_day / 60 % 60, sec_of_day % 60, ms);
    }
    return buf;
}

} // namespace baims::grid::time
