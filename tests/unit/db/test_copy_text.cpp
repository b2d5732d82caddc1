// append_copy_text against PostgreSQL's COPY text format ("File Formats", Text Format, of the COPY
// reference): backslash, the delimiter (tab), newline and carriage return must be escaped; any
// other byte is data as it is. Expected strings are written out by hand; the db test "COPY text
// escaping reads back exactly through a real COPY" loads the same values through the server.
#include "baims/db/copy_writer.hpp"

#include <catch2/catch.hpp>

#include <string>

using baims::db::append_copy_text;

namespace {

std::string escaped(std::string_view text) {
    std::string out;
    append_copy_text(out, text);
    return out;
}

} // namespace

TEST_CASE("COPY text: the four special bytes are escaped", "[db][copy]") {
    CHECK(escaped("a\tb") == "a\\tb");
    CHECK(escaped("a\nb") == "a\\nb");
    CHECK(escaped("a\rb") == "a\\rb");
    CHECK(escaped("a\\b") == "a\\\\b");
    CHECK(escaped("\r\n\t\\") == "\\r\\n\\t\\\\");
}

TEST_CASE("COPY text: text that looks like an escape, NULL or the end marker stays text",
          "[db][copy]") {
    CHECK(escaped("\\N") == "\\\\N"); // the text \N, not NULL
    CHECK(escaped("\\.") == "\\\\."); // never a line "\." (end of data)
    CHECK(escaped("\\x41") == "\\\\x41");
    CHECK(escaped("") == ""); // an empty text, not NULL
    CHECK(baims::db::COPY_TEXT_NULL == "\\N");
}

TEST_CASE("COPY text: other control bytes and UTF-8 pass unchanged", "[db][copy]") {
    const std::string controls = "\x01\b\f\v\x1b\x7f";
    CHECK(escaped(controls) == controls);
    const std::string utf8 =
        "\xC3\xA9t\xC3\xA9 \xE6\x9D\xB1\xE4\xBA\xAC \xF0\x9F\x8C\x8D"; // été 東京 🌍
    CHECK(escaped(utf8) == utf8);
    CHECK(escaped("plain text, \"quotes\" and 'apostrophes'") ==
          "plain text, \"quotes\" and 'apostrophes'");
}

TEST_CASE("COPY text: appends to what is already there", "[db][copy]") {
    std::string line = "1\t";
    append_copy_text(line, "x\ty");
    CHECK(line == "1\tx\\ty");
}
