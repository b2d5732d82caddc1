// Time parsing, CF units and ISO formatting. Expected values are days since 1970-01-01T00:00:00Z
// from Python's datetime, e.g. for 2017-04-14 10:27:29.454657:
//   /usr/bin/python3 -c "import datetime as d; u=d.timezone.utc; print((d.datetime(2017,4,14,10,27,
//   29,454657,tzinfo=u)-d.datetime(1970,1,1,tzinfo=u))/d.timedelta(days=1))"   -> 17270.43575757705
#include "baims/core/error.hpp"
#include "baims/grid/time.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace baims::grid::time;

namespace {
// Whole-second values: compare exactly after rounding to the millisecond; fractions to 1 µs.
void check_time(const std::string& text, double expected_days) {
    INFO("text: '" << text << "'");
    auto t = parse_time(text);
    REQUIRE(t.has_value());
    CHECK(*t == Approx(expected_days).margin(1e-6 / 86400.0).epsilon(0));
    CHECK(round_to_ms(*t) == round_to_ms(expected_days));
}
} // namespace

TEST_CASE("time: parse_time accepts every form found in EO products", "[time]") {
    struct Row {
        std::string text;
        double days;
    };
    // 17322.0 = 2017-06-05; 17322.5 = 2017-06-05T12:00 (1496664000 s / 86400)
    const std::vector<Row> rows{
        {"2017-06-05T00:00:00Z", 17322.0},
        {"2017-06-05T00:00:00.000000000", 17322.0},
        {"2017-06-05 12:00:00", 17322.5},
        {"2017-06-05", 17322.0},
        {"20170605T000000Z", 17322.0},
        {"20170605T120000Z", 17322.5},
        {"20170605", 17322.0},
        {"2017-06-05T12:00", 17322.5},
        {"2017-06-05t12:00:00z", 17322.5},
        {"  2017-06-05T12:00:00Z  ", 17322.5},
        {"2017-06-05 12:00:00 UTC", 17322.5},
        // 2017-06-05T12:00+02:00 = 10:00Z: (1496656800 - 0) / 86400
        {"2017-06-05T12:00:00+02:00", 17322.416666666668},
        {"2017-06-05T12:00:00+0200", 17322.416666666668},
        {"2017-06-05T12:00:00+02", 17322.416666666668},
        // 2017-06-05T12:00-05:30 = 17:30Z
        {"2017-06-05T12:00:00-05:30", 17322.0 + 17.5 / 24.0},
        {"14-APR-2017 10:27:29.454657", 17270.43575757705},
        {"14-apr-2017 10:27:29.454657", 17270.43575757705},
        {"14-April-2017 10:27:29.454657", 17270.43575757705},
        {"14-APR-2017", 17270.0},
        {"2017-04-14T10:27:29.454657Z", 17270.43575757705},
        {"1970-1-1 0:0:0", 0.0},
        {"1981-01-01", 4018.0},
        {"1981-01-01 00:00:00", 4018.0},
        // 2001-12-31T23:00Z: 1009839600 s
        {"2001-12-31T23:00:00Z", 11687.958333333334},
        {"1950-01-01 00:00:00", -7305.0},
        {"1950-01-15T00:00", -7291.0},
        {"1969-12-31T23:59:59Z", -1.0 / 86400.0},
        {"2000-02-29", 11016.0},
        {"1600-03-01", -135080.0},
        {"20170605T1200Z", 17322.5},
    };
    for (const auto& row : rows) {
        check_time(row.text, row.days);
    }
}

TEST_CASE("time: parse_time rejects what is not a time", "[time]") {
    for (const char* text : {"",
                             "   ",
                             "hello",
                             "2017",
                             "2017-13-01",
                             "2017-02-29",
                             "2017-06-31",
                             "2017-06-05T25:00",
                             "2017-06-05T12:60",
                             "2017-06-05T12:00:61",
                             "2017-06-05T",
                             "2017-06-05X",
                             "14-XYZ-2017",
                             "20170605T12",
                             "201706051",
                             "2017-06-05T12:00:00+99:00",
                             "2017-06-05T12:00:00.",
                             "2017/06/05",
                             "12.5",
                             "days since 1970-01-01"}) {
        INFO("text: '" << text << "'");
        CHECK_FALSE(parse_time(text).has_value());
    }
}

TEST_CASE("time: parse_cf_units converts values to days since 1970", "[time]") {
    SECTION("OSTIA: seconds since 1981-01-01 00:00:00, calendar Gregorian") {
        // time = 1149508800 in 20170605120000-UKMO-...nc -> 2017-06-05T12:00Z
        auto u = parse_cf_units("seconds since 1981-01-01 00:00:00", "Gregorian");
        CHECK(u.offset_days == 4018.0);
        CHECK(round_to_ms(u.to_days(1149508800.0)) == 17322.5);
    }
    SECTION("stageiv: Hour since 2001-12-31T23:00:00Z, proleptic_gregorian") {
        auto u = parse_cf_units("Hour since 2001-12-31T23:00:00Z", "proleptic_gregorian");
        CHECK(u.ms_per_unit == 3600000.0);
        CHECK(round_to_ms(u.to_days(0.0)) == round_to_ms(11687.958333333334));
        // 2002-01-01T00:00Z = 11688 days
        CHECK(round_to_ms(u.to_days(1.0)) == 11688.0);
    }
    SECTION("unit spellings") {
        CHECK(parse_cf_units("days since 1970-01-01").to_days(2.5) == 2.5);
        CHECK(parse_cf_units("day since 1970-01-01").to_days(1) == 1.0);
        CHECK(parse_cf_units("D since 1970-01-01").to_days(1) == 1.0);
        CHECK(parse_cf_units("DAYS SINCE 1970-1-1 0:0:0").to_days(3) == 3.0);
        CHECK(parse_cf_units("hours since 1970-01-01").to_days(36) == 1.5);
        CHECK(parse_cf_units("h since 1970-01-01").to_days(12) == 0.5);
        CHECK(parse_cf_units("minutes since 1970-01-01").to_days(720) == 0.5);
        // integral values convert with one rounding: exact where the result is a double
        CHECK(parse_cf_units("s since 1970-01-01").to_days(43200) == 0.5);
        CHECK(parse_cf_units("sec since 1970-01-01").to_days(43200) == 0.5);
        CHECK(parse_cf_units("second since 1970-01-01").to_days(86400) == 1.0);
        CHECK(parse_cf_units("weeks since 1970-01-01").to_days(2) == 14.0);
        CHECK(parse_cf_units("days since 1950-01-01 00:00:00", "standard").offset_days == -7305.0);
        CHECK(parse_cf_units("days since 1978-01-01 00:00:00", "").offset_days == 2922.0);
        CHECK(parse_cf_units("days since 1981-01-01").offset_days == 4018.0);
        CHECK(parse_cf_units("seconds since 1970-01-01T00:00:00Z").offset_days == 0.0);
        CHECK(parse_cf_units("seconds since 1970-01-01 00:00:00 UTC").offset_days == 0.0);
    }
    SECTION("reference with a fraction") {
        // to 1 µs (a tolerance that binds: Catch2's default epsilon alone allows ±5 h here)
        auto u = parse_cf_units("seconds since 2017-04-14 10:27:29.454657");
        CHECK(u.offset_days == Approx(17270.43575757705).epsilon(0).margin(1e-6 / 86400.0));
    }
}

TEST_CASE("time: parse_cf_units errors name the problem", "[time]") {
    CHECK_THROWS_MATCHES(parse_cf_units("days since 1970-01-01", "none"), baims::InputError,
                         Catch::Message("unsupported calendar 'none'"));
    CHECK_THROWS_MATCHES(parse_cf_units("days since 1970-01-01", "lunar"), baims::InputError,
                         Catch::Message("unsupported calendar 'lunar'"));
    CHECK_THROWS_MATCHES(
        parse_cf_units("days since 2001-02-29", "noleap"), baims::InputError,
        Catch::Message("unsupported CF time units 'days since 2001-02-29': cannot parse the "
                       "reference time '2001-02-29' (in the noleap calendar)"));
    // 1582-10-05 .. 14 do not exist in the standard calendar (they do in proleptic_gregorian)
    CHECK_THROWS_AS(parse_cf_units("days since 1582-10-10", "standard"), baims::InputError);
    CHECK(parse_cf_units("days since 1582-10-10", "proleptic_gregorian").offset_days == -141432.0);
    CHECK_THROWS_MATCHES(parse_cf_units("kelvin"), baims::InputError,
                         Catch::Message("unsupported CF time units 'kelvin'"));
    CHECK_THROWS_MATCHES(
        parse_cf_units("months since 1970-01-01"), baims::InputError,
        Catch::Message(
            "unsupported CF time units 'months since 1970-01-01': unknown unit 'months'"));
    CHECK_THROWS_MATCHES(parse_cf_units("days since yesterday"), baims::InputError,
                         Catch::Message("unsupported CF time units 'days since yesterday': cannot "
                                        "parse the reference time 'yesterday'"));
    CHECK_THROWS_AS(parse_cf_units(""), baims::InputError);
}

TEST_CASE("time: format_iso writes Z times, milliseconds only when non-zero", "[time]") {
    CHECK(format_iso(17322.5) == "2017-06-05T12:00:00Z");
    CHECK(format_iso(17322.0) == "2017-06-05T00:00:00Z");
    CHECK(format_iso(0.0) == "1970-01-01T00:00:00Z");
    CHECK(format_iso(-1.0 / 86400.0) == "1969-12-31T23:59:59Z");
    CHECK(format_iso(-7305.0) == "1950-01-01T00:00:00Z");
    CHECK(format_iso(11016.0) == "2000-02-29T00:00:00Z");
    CHECK(format_iso(17270.43575757705) == "2017-04-14T10:27:29.455Z");
    CHECK(format_iso(*parse_time("14-APR-2017 10:27:50.183264")) == "2017-04-14T10:27:50.183Z");
    // 999.6 ms rounds up into the next second, and over midnight.
    CHECK(format_iso(17322.0 - 0.0004 / 86400.0) == "2017-06-05T00:00:00Z");
    // Round trip of every form through format_iso.
    for (const char* text : {"2017-06-05T12:34:56Z", "1900-01-01T00:00:00Z", "2100-12-31T23:59:59Z",
                             "0001-01-01T00:00:00Z", "2017-04-14T10:27:29.455Z"}) {
        CHECK(format_iso(*parse_time(text)) == text);
    }
}

TEST_CASE("time: round_to_ms", "[time]") {
    CHECK(round_to_ms(17322.5 + 1e-10) == 17322.5);
    CHECK(round_to_ms(4018.0 + 13304.5 * (1 + 1e-15)) == 17322.5);
    // the whole milliseconds, to 1 µs (the double's spacing there is 0.24 µs)
    CHECK(round_to_ms(17270.43575757705) * 86400000.0 ==
          Approx(1492165649455.0).epsilon(0).margin(1e-3));
}

TEST_CASE("time: milliseconds and microseconds since", "[time]") {
    // 2017-06-05T12:00:00.123Z = 1496664000123 ms since 1970
    auto u = parse_cf_units("milliseconds since 1970-01-01T00:00:00Z");
    CHECK(u.ms_per_unit == 1.0);
    CHECK(round_to_ms(u.to_days(1496664000123.0)) == round_to_ms(17322.5 + 0.123 / 86400.0));
    CHECK(format_iso(u.to_days(1496664000123.0)) == "2017-06-05T12:00:00.123Z");
    for (const char* spelling : {"millisecond", "msecs", "msec", "ms", "MILLISECONDS"}) {
        INFO(spelling);
        CHECK(parse_cf_units(std::string(spelling) + " since 1970-01-01").to_days(43200000.0) ==
              0.5);
    }
    for (const char* spelling : {"microseconds", "microsecond", "usecs", "usec", "us"}) {
        INFO(spelling);
        CHECK(parse_cf_units(std::string(spelling) + " since 1970-01-01").to_days(43200e6) == 0.5);
    }
}

// Golden values: cftime 1.6.2 (Debian python3-cftime), e.g.
//   /usr/bin/python3 -c "import cftime; print(cftime.date2num(cftime.datetime(2001, 2, 30,
//   calendar='360_day'), 'days since 1970-01-01', calendar='360_day'))"   -> 11219
TEST_CASE("time: calendars count days as cftime does", "[time]") {
    struct Row {
        Calendar cal;
        const char* text;
        double days;
    };
    const std::vector<Row> rows{
        {Calendar::NoLeap, "2000-02-28", 11008},      {Calendar::NoLeap, "2001-03-01", 11374},
        {Calendar::NoLeap, "1900-01-01", -25550},     {Calendar::NoLeap, "0001-01-01", -718685},
        {Calendar::NoLeap, "2100-12-31", 47814},      {Calendar::AllLeap, "2001-02-29", 11405},
        {Calendar::AllLeap, "1970-12-31", 365},       {Calendar::AllLeap, "1969-01-01", -366},
        {Calendar::AllLeap, "2023-03-01", 19458},     {Calendar::Day360, "2001-02-30", 11219},
        {Calendar::Day360, "1970-12-30", 359},        {Calendar::Day360, "1969-01-01", -360},
        {Calendar::Day360, "2300-07-15", 118994},     {Calendar::Day360, "1000-05-30", -349051},
        {Calendar::Julian, "1970-01-01", 0},          {Calendar::Julian, "1582-10-04", -141441},
        {Calendar::Julian, "1900-02-29", -25509},     {Calendar::Julian, "2000-01-01", 10957},
        {Calendar::Julian, "0001-01-01", -719177},    {Calendar::Julian, "1969-12-19", -13},
        {Calendar::Gregorian, "1582-10-15", -141427}, {Calendar::Gregorian, "1500-01-01", -171664},
    };
    for (const auto& r : rows) {
        INFO(r.text << " in " << to_string(r.cal));
        auto t = parse_time(r.text, r.cal);
        REQUIRE(t.has_value());
        CHECK(*t == r.days);
        CHECK(days_from_date(r.cal, std::stoll(std::string(r.text).substr(0, 4)),
                             static_cast<unsigned>(std::stoul(std::string(r.text).substr(5, 2))),
                             static_cast<unsigned>(std::stoul(std::string(r.text).substr(8, 2)))) ==
              static_cast<long long>(r.days));
        // the label round-trips, with the time of day
        const std::string iso = std::string(r.text) + "T06:30:00Z";
        CHECK(format_iso(*parse_time(iso, r.cal), r.cal) == iso);
        CHECK(*parse_time(iso, r.cal) == r.days + 0.25 + 0.5 / 24);
    }
    // dates that exist in one calendar only
    CHECK_FALSE(parse_time("2001-02-29", Calendar::NoLeap));
    CHECK_FALSE(parse_time("2000-02-29", Calendar::NoLeap));
    CHECK_FALSE(parse_time("2001-01-31", Calendar::Day360));
    CHECK_FALSE(parse_time("2001-02-30", Calendar::AllLeap));
    CHECK_FALSE(parse_time("1900-02-29", Calendar::Gregorian));
    CHECK(parse_time("1900-02-29", Calendar::Julian).has_value());
    // every day of 1600 .. 2400 round-trips through its label in every calendar
    for (auto cal : {Calendar::Gregorian, Calendar::Julian, Calendar::NoLeap, Calendar::AllLeap,
                     Calendar::Day360}) {
        for (long long d = -135000; d <= 160000; d += 7) {
            const auto label = format_iso(static_cast<double>(d), cal);
            auto back = parse_time(label, cal);
            REQUIRE(back.has_value());
            REQUIRE(*back == static_cast<double>(d));
        }
    }
}

TEST_CASE("time: units in the standard calendar before 1582 are Julian dates", "[time]") {
    // cftime: date2num(datetime(1500, 1, 1, calendar='standard'), 'days since 1970-01-01',
    // 'standard') = -171655; proleptic_gregorian: -171664 (9 days apart in 1500)
    CHECK(parse_cf_units("days since 1500-01-01", "standard").offset_days == -171655.0);
    CHECK(parse_cf_units("days since 1500-01-01", "gregorian").offset_days == -171655.0);
    CHECK(parse_cf_units("days since 1500-01-01", "").offset_days == -171655.0);
    CHECK(parse_cf_units("days since 1500-01-01", "proleptic_gregorian").offset_days == -171664.0);
    CHECK(parse_cf_units("days since 1582-10-04", "standard").offset_days == -141428.0);
    CHECK(parse_cf_units("days since 1582-10-15", "standard").offset_days == -141427.0);
    CHECK(parse_cf_units("days since 1000-03-01", "standard").offset_days == -354220.0);
    // the value is a real day: written as proleptic_gregorian it reads back as the same instant
    CHECK(format_iso(-171655.0) == "1500-01-10T00:00:00Z");
}

TEST_CASE("time: calendar names and the attribute written", "[time]") {
    CHECK(parse_calendar("") == Calendar::Gregorian);
    CHECK(parse_calendar("Gregorian") == Calendar::Gregorian);
    CHECK(parse_calendar("STANDARD") == Calendar::Gregorian);
    CHECK(parse_calendar("proleptic_gregorian") == Calendar::Gregorian);
    CHECK(parse_calendar("noleap") == Calendar::NoLeap);
    CHECK(parse_calendar("365_day") == Calendar::NoLeap);
    CHECK(parse_calendar("all_leap") == Calendar::AllLeap);
    CHECK(parse_calendar("366_day") == Calendar::AllLeap);
    CHECK(parse_calendar("360_day") == Calendar::Day360);
    CHECK(parse_calendar("julian") == Calendar::Julian);
    CHECK_FALSE(parse_calendar("none").has_value());
    CHECK(calendar_attribute(Calendar::Gregorian, 17322.5) == "gregorian");
    CHECK(calendar_attribute(Calendar::Gregorian, -141427.0) == "gregorian"); // 1582-10-15
    CHECK(calendar_attribute(Calendar::Gregorian, -141427.0 - 1e-3) == "proleptic_gregorian");
    CHECK(calendar_attribute(Calendar::NoLeap, -900000.0) == "noleap");
    CHECK(calendar_attribute(Calendar::Day360, 0.0) == "360_day");
    CHECK(calendar_attribute(Calendar::Julian, 0.0) == "julian");
    CHECK(calendar_attribute(Calendar::AllLeap, 0.0) == "all_leap");
}
