#pragma once
// Reading CF NetCDF inputs on a regular lat/lon grid (1-D lat and lon coordinates): coordinates,
// the time of each step (SPEC §2 "Time per input") and decoded float32 slabs.
// No netCDF types here: the implementation owns the ncid through a small RAII File.

#include "baims/grid/time.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace baims::io {

// Days since 1970-01-01T00:00:00 of the input's calendar (see baims/grid/time.hpp), rounded to
// the millisecond.
struct TimeStep {
    double time = 0.0;
    std::optional<double> start, end; // the step's time bounds, when known
};

struct VarInfo {
    std::string name;
    std::string nc_type;  // "byte","ubyte","char","short","ushort","int","uint","int64","uint64",
                          // "float","double" (after _Unsigned: a short with _Unsigned "true" is
                          // "ushort")
    bool integer = false; // integer storage without scale_factor/add_offset: a flag/class variable
    // All attributes except the packing/encoding ones (scale_factor, add_offset, _FillValue,
    // missing_value, _Unsigned, coordinates, grid_mapping, bounds and every "_…" attribute).
    // valid_min/valid_max/valid_range of a packed variable are converted to physical units.
    nlohmann::json attrs = nlohmann::json::object();
};

// One opened input file. Movable, not copyable; not thread-safe (one per thread).
class CfInput {
public:
    // Throws InputError naming the file when it is not NetCDF, is truncated, has no 1-D lat/lon
    // (naming what it has instead, e.g. 2-D lat(y,x)) or has no time.
    static CfInput open(const std::filesystem::path& path);

    CfInput(CfInput&&) noexcept;
    CfInput& operator=(CfInput&&) noexcept;
    CfInput(const CfInput&) = delete;
    CfInput& operator=(const CfInput&) = delete;
    ~CfInput();

    const std::filesystem::path& path() const;
    const std::vector<double>& lat() const; // as stored (ascending or descending)
    const std::vector<double>& lon() const; // as stored, may be 0..360
    // One per time index (size 1 when there is no time dimension).
    const std::vector<TimeStep>& steps() const;
    // The calendar of the time coordinate (Gregorian when the time comes from global attributes).
    grid::time::Calendar calendar() const;
    // Data variables with dims (time?, [size-1 extra dims such as zlev]*, lat, lon), in file order.
    const std::vector<VarInfo>& variables() const;
    const VarInfo* find(std::string_view name) const;

    // Decoded float32 of one step, lat().size() * lon().size() values in file order (row r is
    // lat()[r]). scale_factor/add_offset applied (in double, then rounded to float);
    // _FillValue/missing_value/valid_min/valid_max/valid_range (in packed units) and, for
    // non-flag variables without _FillValue, the netCDF default fill -> NaN; _Unsigned honoured.
    // A variable without the time dimension reads the same for every step.
    // Throws InputError for an unknown variable or a read failure, InternalError for a bad step.
    void read(const std::string& var, size_t step, float* out) const;

    // Runs `n` independent tasks task(0) .. task(n - 1), possibly concurrently, and returns when
    // all are done (rethrowing the first exception).
    using ForEach = std::function<void(size_t n, const std::function<void(size_t)>& task)>;
    // The same result as read(), but a NetCDF-4 variable stored in deflate/shuffle chunks is read
    // as one task per chunk through `for_each`: the chunk bytes are read with pread() and
    // inflated (libdeflate), unshuffled and decoded without netCDF/HDF5 calls, so the tasks may
    // run on other threads. Other layouts fall back to read() on this thread. Call it from the
    // thread that opened the file. Throws InputError naming the file for a corrupt chunk.
    void read(const std::string& var, size_t step, float* out, const ForEach& for_each) const;

    nlohmann::json global_attrs() const;

private:
    struct Impl;
    explicit CfInput(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

} // namespace baims::io
