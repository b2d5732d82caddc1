#pragma once
// Private to baims_io: a thin RAII layer over the netCDF-C API. Every netCDF status other than
// NC_NOERR becomes InputError("cannot read '<path>': <what> (<nc_strerror>)", hint).

#include <netcdf.h>
#include <nlohmann/json.hpp>

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace baims::io::nc {

[[noreturn]] void fail(int status, const std::filesystem::path& path, const std::string& what);

// Throws InputError when status is not NC_NOERR.
inline void check(int status, const std::filesystem::path& path, const std::string& what) {
    if (status != NC_NOERR) {
        fail(status, path, what);
    }
}

// "cannot read '<path>'"
std::string prefix(const std::filesystem::path& path);

// Owns one ncid, opened read-only. Movable, not copyable.
class File {
public:
    static File open(const std::filesystem::path& path);
    File(File&& other) noexcept;
    File& operator=(File&& other) noexcept;
    File(const File&) = delete;
    File& operator=(const File&) = delete;
    ~File();

    int id() const { return m_id; }
    const std::filesystem::path& path() const { return m_path; }
    void check(int status, const std::string& what) const { nc::check(status, m_path, what); }

private:
    File(int id, std::filesystem::path path);
    int m_id = -1;
    std::filesystem::path m_path;
};

struct Dim {
    std::string name;
    size_t len = 0;
    bool unlimited = false;
};

struct Var {
    int id = -1;
    std::string name;
    nc_type type = NC_NAT;
    std::vector<int> dims; // dimension ids
};

std::vector<Dim> dims(const File& f);
std::vector<Var> vars(const File& f);
std::vector<std::string> attr_names(const File& f, int varid); // varid may be NC_GLOBAL
bool has_attr(const File& f, int varid, const char* name);
// Text attribute (NC_CHAR or a single NC_STRING), trailing NULs removed; nullopt if absent or
// not text.
std::optional<std::string> attr_text(const File& f, int varid, const char* name);
// Numeric attribute as doubles (float32 values through their shortest decimal form, so 0.01f
// reads 0.01); nullopt if absent or not numeric.
std::optional<std::vector<double>> attr_numbers(const File& f, int varid, const char* name);
nc_type attr_type(const File& f, int varid, const char* name); // NC_NAT if absent
// Any attribute as JSON: text -> string, one number -> number, several -> array.
nlohmann::json attr_json(const File& f, int varid, const std::string& name);

std::string type_name(nc_type type);
size_t type_size(nc_type type);
bool is_integer_type(nc_type type);
// The unsigned counterpart of a signed integer type (for _Unsigned = "true").
nc_type unsigned_type(nc_type type);
// A float32 through its shortest round-trip decimal form: 0.01f -> 0.01 (not 0.00999999977).
double float_to_decimal_double(float v);

// Classic formats (CDF-1/2/5) only: throws InputError when the file is shorter than its header
// says (netCDF-C reads zeros past the end of a truncated classic file instead of failing).
void check_classic_size(const File& f);

} // namespace baims::io::nc
