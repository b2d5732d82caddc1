#include "baims/vector/field_codec.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace baims::vector::codec {

FieldType map_type(SourceType type, SourceSubType subtype, int width) {
    switch (type) {
    case SourceType::Integer:
        if (subtype == SourceSubType::Boolean) {
            return FieldType::Boolean;
        }
        if (subtype == SourceSubType::Int16) {
            return FieldType::SmallInt;
        }
        return FieldType::Integer;
    case SourceType::Integer64:
        return FieldType::BigInt;
    case SourceType::Real:
        return subtype == SourceSubType::Float32 ? FieldType::Real : FieldType::Double;
    case SourceType::String:
        if (subtype == SourceSubType::Json) {
            return FieldType::Json;
        }
        return width > 0 ? FieldType::Varchar : FieldType::Text;
    case SourceType::Date:
        return FieldType::Date;
    case SourceType::Time:
        return FieldType::Time;
    case SourceType::DateTime:
        return FieldType::Timestamptz;
    case SourceType::Binary:
        return FieldType::Bytea;
    case SourceType::IntegerList:
        return FieldType::IntegerArray;
    case SourceType::Integer64List:
        return FieldType::BigIntArray;
    case SourceType::RealList:
        return FieldType::DoubleArray;
    case SourceType::StringList:
        return FieldType::TextArray;
    case SourceType::Other:
        break;
    }
    return FieldType::Text;
}

void append_integer(std::string& out, long long v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

void append_double(std::string& out, double v) {
    if (std::isnan(v)) {
        out += "NaN";
    } else if (std::isinf(v)) {
        out += v > 0 ? "Infinity" : "-Infinity";
    } else {
        char buf[40];
        auto r = std::to_chars(buf, buf + sizeof buf, v);
        out.append(buf, r.ptr);
    }
}

void append_bytea(std::string& out, const unsigned char* p, std::size_t n) {
    static constexpr char HEX[] = "0123456789ABCDEF";
    out += "\\x";
    std::size_t at = out.size();
    out.resize(at + 2 * n);
    char* d = out.data() + at;
    for (std::size_t i = 0; i < n; ++i) {
        d[2 * i] = HEX[p[i] >> 4];
        d[2 * i + 1] = HEX[p[i] & 15];
    }
}

void append_array_text(std::string& out, const char* s) {
    out += '"';
    for (; *s; ++s) {
        if (*s == '"' || *s == '\\') {
            out += '\\';
        }
        out += *s;
    }
    out += '"';
}

namespace {
template <class T, class Append>
void append_array(std::string& out, const T* v, std::size_t n, Append append) {
    out += '{';
    for (std::size_t i = 0; i < n; ++i) {
        if (i) {
            out += ',';
        }
        append(out, v[i]);
    }
    out += '}';
}
} // namespace

void append_integer_array(std::string& out, const int* v, std::size_t n) {
    append_array(out, v, n, [](std::string& o, int x) { append_integer(o, x); });
}

void append_integer_array(std::string& out, const std::int64_t* v, std::size_t n) {
    append_array(out, v, n, [](std::string& o, std::int64_t x) { append_integer(o, x); });
}

void append_double_array(std::string& out, const double* v, std::size_t n) {
    append_array(out, v, n, [](std::string& o, double x) { append_double(o, x); });
}

std::string date_time_text(FieldType type, int y, int mo, int d, int h, int mi, double sec,
                           int tz) {
    char buf[64];
    if (type == FieldType::Date) {
        std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", y, mo, d);
        return buf;
    }
    if (type == FieldType::Time) {
        std::snprintf(buf, sizeof buf, "%02d:%02d:%06.3f", h, mi, sec);
        return buf;
    }
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%06.3f", y, mo, d, h, mi, sec);
    std::string s = buf;
    if (tz >= 2) { // 2..99 are negative offsets (UTC-24:30 .. UTC-00:15)
        int minutes = (tz - 100) * 15;
        char off[16];
        std::snprintf(off, sizeof off, "%c%02d:%02d", minutes < 0 ? '-' : '+',
                      std::abs(minutes) / 60, std::abs(minutes) % 60);
        s += off;
    }
    return s;
}

} // namespace baims::vector::codec
