#pragma once
// The CF NetCDF input (input_processor_name "default"): data variables on 1-D lat/lon axes
// (LatLonAxes) or on 1-D projected x/y axes with a CF grid_mapping (ProjectedAxes), the time of
// each step (SPEC §2 "Time per input") and decoded float32 slabs.
// No netCDF types here: the implementation owns the ncid through a small RAII File.

#include "baims/io/input.hpp"

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace baims::io {

// One opened input file. Movable, not copyable; not thread-safe (one per thread).
class CfInput final : public Input {
public:
    // Throws InputError naming the file when it is not NetCDF, is truncated, has no 1-D lat/lon
    // or x/y grid (naming what it has instead, e.g. 2-D lat(y,x)) or has no time.
    static CfInput open(const std::filesystem::path& path);
    // A file whose data variables lie on two named dimensions (rows, columns) and whose cell
    // positions are known elsewhere (the curvilinear input: 2-D lat/lon in this or another file).
    // geometry() is `geometry`; lat()/lon() are the row and column indices. Variables: those
    // whose last two dimensions are (row_dim, col_dim). Without a time (coordinate or coverage
    // attributes) and with need_time false: one step at time 0.
    static CfInput open_on_dims(const std::filesystem::path& path, const std::string& row_dim,
                                const std::string& col_dim, Geometry geometry, bool need_time);

    CfInput(CfInput&&) noexcept;
    CfInput& operator=(CfInput&&) noexcept;
    CfInput(const CfInput&) = delete;
    CfInput& operator=(const CfInput&) = delete;
    ~CfInput() override;

    const std::filesystem::path& path() const override;
    const Geometry& geometry() const override;
    // The row and column axes of geometry() (lat/lon, or y/x of a projected grid), as stored.
    const std::vector<double>& lat() const;
    const std::vector<double>& lon() const;
    const std::vector<TimeStep>& steps() const override;
    // The calendar of the time coordinate (Gregorian when the time comes from global attributes).
    grid::time::Calendar calendar() const override;
    // Data variables with dims (time?, [size-1 extra dims such as zlev]*, row, column), in file
    // order.
    const std::vector<VarInfo>& variables() const override;
    nlohmann::json global_attrs() const override;

    // Decoded float32 of one step, in file order (row r is lat()[r]), through nc_get_vara.
    // scale_factor/add_offset applied (in double, then rounded to float);
    // _FillValue/missing_value/valid_min/valid_max/valid_range (in packed units) and, for
    // non-flag variables without _FillValue, the netCDF default fill -> NaN; _Unsigned honoured.
    // A variable without the time dimension reads the same for every step.
    // Throws InputError for an unknown variable or a read failure, InternalError for a bad step.
    void read(const std::string& var, size_t step, float* out) const override;
    // Integer variables: the stored integers, masked like read() but compared in the stored type
    // (exact for 64-bit words; in out.w32 for types of up to 32 bits), chunk by chunk through
    // for_each as read() does; packed and floating-point variables through double (out.w64).
    void read_words(const std::string& var, size_t step, FlagWords& out,
                    const ForEach& for_each) const override;

    // The same result as read(), but a NetCDF-4 variable stored in deflate/shuffle chunks is read
    // as one task per chunk through `for_each`: the chunk bytes are read with pread() and
    // inflated (libdeflate), unshuffled and decoded without netCDF/HDF5 calls, so the tasks may
    // run on other threads. Other layouts fall back to read() on this thread. Call it from the
    // thread that opened the file. Throws InputError naming the file for a corrupt chunk.
    void read(const std::string& var, size_t step, float* out,
              const ForEach& for_each) const override;
    // The above reading and inflating only the chunks that meet `window` (and decoding only the
    // window's part of each); the values outside the window are left as they were.
    void read_window(const std::string& var, size_t step, float* out, const ForEach& for_each,
                     const Window& window) const override;
    // The direct chunk reading of read_window() over the whole array, each row part of a chunk
    // decoded in a buffer of its thread and the cells of `cells` picked from it.
    void read_cells(const std::string& var, size_t step, float* out, const ForEach& for_each,
                    const CellSet& cells) const override;
    // read_words() of the cells of `cells`, picked from each chunk in the same way (floating-point
    // and packed variables: from the whole array).
    void read_words_cells(const std::string& var, size_t step, FlagWords& out,
                          const ForEach& for_each, const CellSet& cells) const override;

private:
    // read_words() (cells null) and read_words_cells().
    void read_words_of(const std::string& var, size_t step, FlagWords& out, const ForEach& for_each,
                       const CellSet* cells) const;
    // The direct chunk reading of read_window(): fn(src, row, col0, cols) for each row part of
    // each chunk that meets `window`, src its stored bytes (inflated, unshuffled), through
    // for_each. False (nothing read) when the variable's layout does not allow it.
    using ChunkRow =
        std::function<void(const unsigned char* src, size_t row, size_t col0, size_t cols)>;
    bool chunk_rows(const std::string& var, size_t step, const ForEach& for_each,
                    const Window& window, const ChunkRow& fn) const;

    struct Impl;
    explicit CfInput(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

} // namespace baims::io
