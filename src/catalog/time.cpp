#include "baims/catalog/time.hpp"

#include <array>
#include <cstdio>

namespace baims::catalog {

namespace {

struct Civil {
    int year;
    unsigned month;
    unsigned day;
};

Civil civil_from_days(std::int64_t z) {
    z += 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const auto doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    return {static_cast<int>(y + (m <= 2 ? 1 : 0)), m, d};
}

bool is_leap(int y) {
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

unsigned days_in_month(int y, unsigned m) {
    static constexpr std::array<unsigned, 12> DAYS{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : DAYS[m - 1];
}

// Reads exactly n digits at s[pos…]; advances pos.
bool read_digits(std::string_view s, size_t& pos, size_t n, int& out) {
    if (pos + n > s.size()) {
        return false;
    }
    int v = 0;
    for (size_t i = 0; i < n; ++i) {
        char c = s[pos + i];
        if (c < '0' || c > '9') {
            return false;
        }
        v = v * 10 + (c - '0');
    }
    out = v;
    pos += n;
    return true;
}

bool expect(std::string_view s, size_t& pos, char c) {
    if (pos < s.size() && s[pos] == c) {
        ++pos;
        return true;
    }
    return false;
}

// Parses "YYYY-MM-DD" at the start of s into days; pos is left after the date.
std::optional<std::int64_t> read_date(std::string_view s, size_t& pos) {
    int y = 0;
    int m = 0;
    int d = 0;
    if (!read_digits(s, pos, 4, y) || !expect(s, pos, '-') || !read_digits(s, pos, 2, m) ||
        !expect(s, pos, '-') || !read_digits(s, pos, 2, d)) {
        return std::nullopt;
    }
    if (m < 1 || m > 12 || d < 1 || static_cast<unsigned>(d) > days_in_month(y, m)) {
        return std::nullopt;
    }
    return days_from_civil(y, static_cast<unsigned>(m), static_cast<unsigned>(d));
}

std::string format(Micros t, char sep, bool zulu) {
    std::int64_t days = t / MICROS_PER_DAY;
    Micros rem = t % MICROS_PER_DAY;
    if (rem < 0) {
        rem += MICROS_PER_DAY;
        --days;
    }
    const Civil c = civil_from_days(days);
    const auto secs = static_cast<int>(rem / MICROS_PER_SECOND);
    const auto frac = static_cast<int>(rem % MICROS_PER_SECOND);
    std::array<char, 64> buf{};
    int n = std::snprintf(buf.data(), buf.size(), "%04d-%02u-%02u%c%02d:%02d:%02d", c.year, c.month,
                          c.day, sep, secs / 3600, (secs / 60) % 60, secs % 60);
    std::string out(buf.data(), static_cast<size_t>(n));
    if (frac != 0) {
        n = std::snprintf(buf.data(), buf.size(), ".%06d", frac);
        out.append(buf.data(), static_cast<size_t>(n));
    }
    if (zulu) {
        out += 'Z';
    }
    return out;
}

} // namespace

std::int64_t days_from_civil(int year, unsigned month, unsigned day) {
    const std::int64_t y = static_cast<std::int64_t>(year) - (month <= 2 ? 1 : 0);
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

std::optional<Micros> parse_date(std::string_view ymd) {
    size_t pos = 0;
    auto days = read_date(ymd, pos);
    if (!days || pos != ymd.size()) {
        return std::nullopt;
    }
    return *days * MICROS_PER_DAY;
}

std::optional<Micros> parse_timestamp(std::string_view s) {
    size_t pos = 0;
    auto days = read_date(s, pos);
    if (!days || pos >= s.size() || (s[pos] != 'T' && s[pos] != ' ')) {
        return std::nullopt;
    }
    ++pos;
    int hh = 0;
    int mm = 0;
    int ss = 0;
    if (!read_digits(s, pos, 2, hh) || !expect(s, pos, ':') || !read_digits(s, pos, 2, mm) ||
        !expect(s, pos, ':') || !read_digits(s, pos, 2, ss)) {
        return std::nullopt;
    }
    if (hh > 23 || mm > 59 || ss > 60) {
        return std::nullopt;
    }
    Micros frac = 0;
    if (expect(s, pos, '.')) {
        size_t digits = 0;
        Micros scale = 100'000;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
            frac += (s[pos] - '0') * scale;
            scale /= 10;
            ++pos;
            ++digits;
        }
        if (digits == 0) {
            return std::nullopt;
        }
    }
    Micros offset = 0;
    if (pos < s.size()) {
        if (s[pos] == 'Z' || s[pos] == 'z') {
            ++pos;
        } else if (s[pos] == '+' || s[pos] == '-') {
            const int sign = s[pos] == '+' ? 1 : -1;
            ++pos;
            int oh = 0;
            int om = 0;
            if (!read_digits(s, pos, 2, oh)) {
                return std::nullopt;
            }
            expect(s, pos, ':');
            if (pos < s.size() && !read_digits(s, pos, 2, om)) {
                return std::nullopt;
            }
            if (oh > 23 || om > 59) {
                return std::nullopt;
            }
            offset = sign * (oh * 3600 + om * 60) * MICROS_PER_SECOND;
        }
    }
    if (pos != s.size()) {
        return std::nullopt;
    }
    return *days * MICROS_PER_DAY + (hh * 3600 + mm * 60 + ss) * MICROS_PER_SECOND + frac - offset;
}

std::string format_sql_timestamp(Micros t) {
    return format(t, ' ', false);
}

std::string format_iso_timestamp(Micros t) {
    return format(t, 'T', true);
}

} // namespace baims::catalog
