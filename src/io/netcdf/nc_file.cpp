#include "nc_file.hpp"

#include "baims/core/error.hpp"

#include <charconv>
#include <cstdint>
#include <system_error>
#include <utility>

namespace baims::io::nc {
namespace {

std::string hint_for(int status) {
    switch (status) {
    case NC_ENOTNC:
        return "Is it a NetCDF-3 or NetCDF-4 file? An interrupted download leaves a file that "
               "looks like this";
    case NC_EHDFERR:
    case NC_EINVAL: // a header cut short
    case NC_EINVALCOORDS:
    case NC_EEDGE:
    case NC_EBADDIM:
        return "The file is probably truncated or corrupt; fetch it again";
    case NC_ENOMEM:
        return "Not enough memory";
    default:
        return "Check that the file is a complete, readable NetCDF file";
    }
}

template <typename T> nlohmann::json one_or_array(const std::vector<T>& v) {
    if (v.size() == 1) {
        return nlohmann::json(v[0]);
    }
    return nlohmann::json(v);
}

template <typename T> std::vector<T> get_att(const File& f, int varid, const char* name, size_t n) {
    std::vector<T> v(n);
    if (n > 0) {
        f.check(nc_get_att(f.id(), varid, name, v.data()),
                std::string("reading attribute '") + name + "'");
    }
    return v;
}

// Bytes a classic-format name takes: length field + name padded to 4.
uint64_t pad4(uint64_t n) {
    return (n + 3) / 4 * 4;
}

} // namespace

std::string prefix(const std::filesystem::path& path) {
    return "cannot read '" + path.string() + "'";
}

void fail(int status, const std::filesystem::path& path, const std::string& what) {
    throw InputError(prefix(path) + ": " + what + " (" + nc_strerror(status) + ")",
                     hint_for(status));
}

File::File(int id, std::filesystem::path path)
    : m_id(id)
    , m_path(std::move(path)) {}

File File::open(const std::filesystem::path& path) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
        throw InputError(prefix(path) + ": no such file", "Check the input path");
    }
    if (std::filesystem::is_directory(path, ec)) {
        std::string dir = path.string();
        while (dir.size() > 1 && dir.back() == '/') {
            dir.pop_back();
        }
        throw InputError(prefix(path) + ": is a directory, not a NetCDF file",
                         "Give the path of a .nc file, or the files in it with a glob: '" + dir +
                             "/*.nc'");
    }
    int id = -1;
    const int status = nc_open(path.c_str(), NC_NOWRITE, &id);
    if (status != NC_NOERR) {
        fail(status, path, status == NC_ENOTNC ? "not a NetCDF file" : "opening the file");
    }
    return File(id, path);
}

File::File(File&& other) noexcept
    : m_id(std::exchange(other.m_id, -1))
    , m_path(std::move(other.m_path)) {}

File& File::operator=(File&& other) noexcept {
    if (this != &other) {
        if (m_id >= 0) {
            nc_close(m_id);
        }
        m_id = std::exchange(other.m_id, -1);
        m_path = std::move(other.m_path);
    }
    return *this;
}

File::~File() {
    if (m_id >= 0) {
        nc_close(m_id); // read-only: nothing to flush, nothing to report
    }
}

std::vector<Dim> dims(const File& f) {
    int ndims = 0;
    f.check(nc_inq_ndims(f.id(), &ndims), "listing dimensions");
    int nunlim = 0;
    f.check(nc_inq_unlimdims(f.id(), &nunlim, nullptr), "listing dimensions");
    std::vector<int> unlim(static_cast<size_t>(nunlim));
    if (nunlim > 0) {
        f.check(nc_inq_unlimdims(f.id(), &nunlim, unlim.data()), "listing dimensions");
    }
    std::vector<Dim> out(static_cast<size_t>(ndims));
    for (int d = 0; d < ndims; ++d) {
        char name[NC_MAX_NAME + 1] = {};
        size_t len = 0;
        f.check(nc_inq_dim(f.id(), d, name, &len), "reading dimension " + std::to_string(d));
        auto& dim = out[static_cast<size_t>(d)];
        dim.name = name;
        dim.len = len;
        for (int u : unlim) {
            dim.unlimited = dim.unlimited || u == d;
        }
    }
    return out;
}

std::vector<Var> vars(const File& f) {
    int nvars = 0;
    f.check(nc_inq_nvars(f.id(), &nvars), "listing variables");
    std::vector<Var> out(static_cast<size_t>(nvars));
    for (int v = 0; v < nvars; ++v) {
        auto& var = out[static_cast<size_t>(v)];
        char name[NC_MAX_NAME + 1] = {};
        int ndims = 0;
        f.check(nc_inq_var(f.id(), v, name, &var.type, &ndims, nullptr, nullptr),
                "reading variable " + std::to_string(v));
        var.id = v;
        var.name = name;
        var.dims.resize(static_cast<size_t>(ndims));
        if (ndims > 0) {
            f.check(nc_inq_vardimid(f.id(), v, var.dims.data()),
                    "reading the dimensions of '" + var.name + "'");
        }
    }
    return out;
}

std::vector<std::string> attr_names(const File& f, int varid) {
    int natts = 0;
    f.check(nc_inq_varnatts(f.id(), varid, &natts), "listing attributes");
    std::vector<std::string> out;
    out.reserve(static_cast<size_t>(natts));
    for (int a = 0; a < natts; ++a) {
        char name[NC_MAX_NAME + 1] = {};
        f.check(nc_inq_attname(f.id(), varid, a, name), "listing attributes");
        out.emplace_back(name);
    }
    return out;
}

bool has_attr(const File& f, int varid, const char* name) {
    return nc_inq_attid(f.id(), varid, name, nullptr) == NC_NOERR;
}

nc_type attr_type(const File& f, int varid, const char* name) {
    nc_type type = NC_NAT;
    if (nc_inq_atttype(f.id(), varid, name, &type) != NC_NOERR) {
        return NC_NAT;
    }
    return type;
}

std::optional<std::string> attr_text(const File& f, int varid, const char* name) {
    nc_type type = NC_NAT;
    size_t len = 0;
    if (nc_inq_att(f.id(), varid, name, &type, &len) != NC_NOERR) {
        return std::nullopt;
    }
    if (type == NC_CHAR) {
        std::string s(len, '\0');
        if (len > 0) {
            f.check(nc_get_att_text(f.id(), varid, name, s.data()),
                    std::string("reading attribute '") + name + "'");
        }
        while (!s.empty() && s.back() == '\0') {
            s.pop_back();
        }
        return s;
    }
    if (type == NC_STRING && len == 1) {
        char* value = nullptr;
        f.check(nc_get_att_string(f.id(), varid, name, &value),
                std::string("reading attribute '") + name + "'");
        std::string s = value ? value : "";
        nc_free_string(1, &value);
        return s;
    }
    return std::nullopt;
}

double float_to_decimal_double(float v) {
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    double d = static_cast<double>(v);
    if (r.ec == std::errc()) {
        std::from_chars(buf, r.ptr, d); // on failure (nan/inf) d keeps the plain conversion
    }
    return d;
}

std::optional<std::vector<double>> attr_numbers(const File& f, int varid, const char* name) {
    nc_type type = NC_NAT;
    size_t len = 0;
    if (nc_inq_att(f.id(), varid, name, &type, &len) != NC_NOERR) {
        return std::nullopt;
    }
    if (type == NC_CHAR || type == NC_STRING || type >= NC_FIRSTUSERTYPEID) {
        return std::nullopt;
    }
    if (type == NC_FLOAT) {
        std::vector<float> raw = get_att<float>(f, varid, name, len);
        std::vector<double> out(raw.size());
        for (size_t i = 0; i < raw.size(); ++i) {
            out[i] = float_to_decimal_double(raw[i]);
        }
        return out;
    }
    std::vector<double> out(len);
    if (len > 0) {
        f.check(nc_get_att_double(f.id(), varid, name, out.data()),
                std::string("reading attribute '") + name + "'");
    }
    return out;
}

nlohmann::json attr_json(const File& f, int varid, const std::string& name) {
    nc_type type = NC_NAT;
    size_t len = 0;
    f.check(nc_inq_att(f.id(), varid, name.c_str(), &type, &len),
            "reading attribute '" + name + "'");
    const char* n = name.c_str();
    switch (type) {
    case NC_CHAR:
        return *attr_text(f, varid, n);
    case NC_STRING: {
        std::vector<char*> values(len, nullptr);
        if (len > 0) {
            f.check(nc_get_att_string(f.id(), varid, n, values.data()),
                    "reading attribute '" + name + "'");
        }
        std::vector<std::string> strings;
        for (char* s : values) {
            strings.emplace_back(s ? s : "");
        }
        if (len > 0) {
            nc_free_string(len, values.data());
        }
        return one_or_array(strings);
    }
    case NC_BYTE:
        return one_or_array(get_att<signed char>(f, varid, n, len));
    case NC_UBYTE:
        return one_or_array(get_att<unsigned char>(f, varid, n, len));
    case NC_SHORT:
        return one_or_array(get_att<short>(f, varid, n, len));
    case NC_USHORT:
        return one_or_array(get_att<unsigned short>(f, varid, n, len));
    case NC_INT:
        return one_or_array(get_att<int>(f, varid, n, len));
    case NC_UINT:
        return one_or_array(get_att<unsigned int>(f, varid, n, len));
    case NC_INT64:
        return one_or_array(get_att<long long>(f, varid, n, len));
    case NC_UINT64:
        return one_or_array(get_att<unsigned long long>(f, varid, n, len));
    case NC_FLOAT:
    case NC_DOUBLE:
        return one_or_array(*attr_numbers(f, varid, n));
    default:
        return nullptr; // user-defined types: not representable
    }
}

std::string type_name(nc_type type) {
    switch (type) {
    case NC_BYTE:
        return "byte";
    case NC_UBYTE:
        return "ubyte";
    case NC_CHAR:
        return "char";
    case NC_SHORT:
        return "short";
    case NC_USHORT:
        return "ushort";
    case NC_INT:
        return "int";
    case NC_UINT:
        return "uint";
    case NC_INT64:
        return "int64";
    case NC_UINT64:
        return "uint64";
    case NC_FLOAT:
        return "float";
    case NC_DOUBLE:
        return "double";
    case NC_STRING:
        return "string";
    default:
        return "type " + std::to_string(type);
    }
}

size_t type_size(nc_type type) {
    switch (type) {
    case NC_BYTE:
    case NC_UBYTE:
    case NC_CHAR:
        return 1;
    case NC_SHORT:
    case NC_USHORT:
        return 2;
    case NC_INT:
    case NC_UINT:
    case NC_FLOAT:
        return 4;
    case NC_INT64:
    case NC_UINT64:
    case NC_DOUBLE:
        return 8;
    default:
        return 0;
    }
}

bool is_integer_type(nc_type type) {
    switch (type) {
    case NC_BYTE:
    case NC_UBYTE:
    case NC_SHORT:
    case NC_USHORT:
    case NC_INT:
    case NC_UINT:
    case NC_INT64:
    case NC_UINT64:
        return true;
    default:
        return false;
    }
}

nc_type unsigned_type(nc_type type) {
    switch (type) {
    case NC_BYTE:
        return NC_UBYTE;
    case NC_SHORT:
        return NC_USHORT;
    case NC_INT:
        return NC_UINT;
    case NC_INT64:
        return NC_UINT64;
    default:
        return type;
    }
}

void check_classic_size(const File& f) {
    int format = 0;
    f.check(nc_inq_format(f.id(), &format), "reading the format");
    if (format != NC_FORMAT_CLASSIC && format != NC_FORMAT_64BIT_OFFSET &&
        format != NC_FORMAT_CDF5) {
        return; // HDF5 detects truncation itself
    }
    // A lower bound of the file size from the header: the encoded header itself (without the
    // optional free space after it) plus every variable's data, as netCDF-C lays them out.
    const bool cdf5 = format == NC_FORMAT_CDF5;
    const uint64_t count_size = cdf5 ? 8 : 4;                        // NON_NEG
    const uint64_t begin_size = format == NC_FORMAT_CLASSIC ? 4 : 8; // OFFSET
    auto name_size = [&](const std::string& n) { return count_size + pad4(n.size()); };
    auto atts_size = [&](int varid) {
        uint64_t size = 4 + count_size; // NC_ATTRIBUTE tag + nelems, or ABSENT
        for (const auto& a : attr_names(f, varid)) {
            nc_type type = NC_NAT;
            size_t len = 0;
            f.check(nc_inq_att(f.id(), varid, a.c_str(), &type, &len), "reading attribute");
            size += name_size(a) + 4 + count_size + pad4(len * type_size(type));
        }
        return size;
    };
    const auto all_dims = dims(f);
    const auto all_vars = vars(f);
    uint64_t header = 4 + count_size; // magic + numrecs
    header += 4 + count_size;         // dim_list
    for (const auto& d : all_dims) {
        header += name_size(d.name) + count_size;
    }
    header += atts_size(NC_GLOBAL);
    header += 4 + count_size; // var_list
    uint64_t fixed = 0, record = 0, numrecs = 0;
    size_t nrecvars = 0;
    uint64_t last_record_var = 0;
    for (const auto& v : all_vars) {
        header += name_size(v.name) + count_size + count_size * v.dims.size() + atts_size(v.id) +
                  4 + count_size + begin_size;
        uint64_t size = type_size(v.type);
        bool is_record = false;
        for (size_t i = 0; i < v.dims.size(); ++i) {
            const auto& d = all_dims[static_cast<size_t>(v.dims[i])];
            if (i == 0 && d.unlimited) {
                is_record = true;
                numrecs = d.len;
            } else {
                size *= d.len;
            }
        }
        if (is_record) {
            ++nrecvars;
            last_record_var = size;
            record += pad4(size);
        } else {
            fixed += pad4(size);
        }
    }
    if (nrecvars == 1) {
        record = last_record_var; // a single record variable is not padded
    }
    // Writers other than netCDF-C may leave out the padding of the last variable: allow 3 bytes.
    const uint64_t needed = header + fixed + record * numrecs - 3;
    std::error_code ec;
    const auto actual = std::filesystem::file_size(f.path(), ec);
    if (!ec && actual < needed) {
        throw InputError(prefix(f.path()) + ": truncated file: " + std::to_string(actual) +
                             " bytes, but its header describes at least " + std::to_string(needed),
                         "The download or copy was probably interrupted; fetch the file again");
    }
}

} // namespace baims::io::nc
