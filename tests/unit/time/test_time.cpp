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
        CHECK(u.scale_days == 1.0 / 24.0);
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
        CHECK(parse_cf_units("s since 1970-01-01").to_days(43200) == Approx(0.5));
        CHECK(parse_cf_units("sec since 1970-01-01").to_days(43200) == Approx(0.5));
        CHECK(parse_cf_units("second since 1970-01-01").to_days(86400) == Approx(1.0));
        CHECK(parse_cf_units("days since 1950-01-01 00:00:00", "standard").offset_days == -7305.0);
        CHECK(parse_cf_units("days since 1978-01-01 00:00:00", "").offset_days == 2922.0);
        CHECK(parse_cf_units("days since 1981-01-01").offset_days == 4018.0);
        CHECK(parse_cf_units("seconds since 1970-01-01T00:00:00Z").offset_days == 0.0);
        CHECK(parse_cf_units("seconds since 1970-01-01 00:00:00 UTC").offset_days == 0.0);
    }
    SECTION("reference with a fraction") {
        auto u = parse_cf_units("seconds since 2017-04-14 10:27:29.454657");
        CHECK(u.offset_days == Approx(17270.43575757705).margin(1e-11));
    }
}

TEST_CASE("time: parse_cf_units errors name the problem", "[time]") {
    CHECK_THROWS_MATCHES(parse_cf_units("days since 1970-01-01", "noleap"), baims::InputError,
                         Catch::Message("unsupported calendar 'noleap'"));
    CHECK_THROWS_MATCHES(parse_cf_units("days since 1970-01-01", "360_day"), baims::InputError,
                         Catch::Message("unsupported calendar '360_day'"));
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
    CHECK(round_to_ms(17270.43575757705) * 86400000.0 == Approx(1492165649455.0).margin(1e-3));
}
