// Block-wise zonal statistics over a GDAL raster. See raster_source.hpp for the contract.
//
// Work items are (block row, band) pairs in block-row order. Each worker thread opens its own
// GDALDataset (GDAL datasets are not thread-safe) and reads, for one item, only the runs of blocks
// of that block row that hold selected pixels. A parcel's values go into its (parcel, band)
// accumulator under a striped lock (a parcel may span two block rows that two workers read at the
// same time). When every band of every block row up to a parcel's last one is done, the parcel is
// reduced and its values freed.

#include "baims/zonal/raster_source.hpp"

#include "baims/core/error.hpp"
#include "baims/core/interrupt.hpp"
#include "baims/io/gdal.hpp"

#include <cpl_conv.h>
#include <gdal.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <exception>
#include <mutex>
#include <thread>

namespace baims::zonal {
namespace {

struct DatasetCloser {
    void operator()(void* ds) const {
        if (ds) {
            GDALClose(static_cast<GDALDatasetH>(ds));
        }
    }
};
using DatasetPtr = std::unique_ptr<void, DatasetCloser>;

DatasetPtr open_dataset(const std::string& path) {
    io::gdal::register_drivers();
    io::gdal::ErrorScope errors;
    GDALDatasetH ds =
        GDALOpenEx(path.c_str(), GDAL_OF_RASTER | GDAL_OF_READONLY, nullptr, nullptr, nullptr);
    if (!ds) {
        std::string why = errors.last_error();
        throw InputError("cannot open raster '" + path + "'" + (why.empty() ? "" : ": " + why),
                         "Check the path and that GDAL reads this format (gdalinfo)");
    }
    return DatasetPtr(ds);
}

bool is_integer_type(GDALDataType t) {
    switch (t) {
    case GDT_Byte:
    case GDT_UInt16:
    case GDT_Int16:
    case GDT_UInt32:
    case GDT_Int32:
    case GDT_UInt64:
    case GDT_Int64:
        return true;
    default:
        return false;
    }
}

// Sets GDAL_NUM_THREADS on this thread for as long as it lives, then restores the thread's
// earlier value. A dataset reads the option when it first decodes, so the datasets this thread
// opens meanwhile decode with `threads` threads (JP2OpenJPEG: blocks of one request in parallel,
// and code blocks within each). threads = 0: no change.
class ThreadDecodeThreads {
public:
    explicit ThreadDecodeThreads(int threads)
        : m_active(threads > 0) {
        if (!m_active) {
            return;
        }
        if (const char* old = CPLGetThreadLocalConfigOption("GDAL_NUM_THREADS", nullptr)) {
            m_old = old;
        }
        CPLSetThreadLocalConfigOption("GDAL_NUM_THREADS", std::to_string(threads).c_str());
    }
    ~ThreadDecodeThreads() {
        if (m_active) {
            CPLSetThreadLocalConfigOption("GDAL_NUM_THREADS", m_old ? m_old->c_str() : nullptr);
        }
    }
    ThreadDecodeThreads(const ThreadDecodeThreads&) = delete;
    ThreadDecodeThreads& operator=(const ThreadDecodeThreads&) = delete;

private:
    bool m_active = false;
    std::optional<std::string> m_old;
};

// A mask clipped to the raster, in raster pixel coordinates.
struct Zone {
    std::size_t index = 0; // into the masks
    int c0 = 0, c1 = 0;    // raster columns [c0, c1)
    int r0 = 0, r1 = 0;    // raster rows [r0, r1)
    std::int64_t mc = 0;   // mask column of raster column 0: col - mask.col0 + col_offset
    std::int64_t mr = 0;
    std::size_t selected = 0; // selected pixels inside the raster: the most values per band
};

// The values a buffer of one block row holds, read as the smallest exact type.
enum class BufferKind { U16, I32, F64 };

struct Plan {
    int block_x = 0, block_y = 0;
    int block_rows = 0, block_cols = 0;
    std::vector<Zone> zones;
    std::vector<std::vector<std::uint32_t>> zones_of_row; // block row -> zones touching it
    std::vector<std::vector<std::uint32_t>> zones_ending; // block row -> zones whose last it is
    std::vector<std::vector<std::uint8_t>> needed;        // [block row][block col]
};

Plan make_plan(const RasterInfo& raster, std::span<const Mask> masks, const ZonalOptions& o) {
    Plan p;
    p.block_x = std::max(1, raster.block_x);
    p.block_y = std::max(1, raster.block_y);
    p.block_rows = (raster.height + p.block_y - 1) / p.block_y;
    p.block_cols = (raster.width + p.block_x - 1) / p.block_x;
    p.zones_of_row.resize(static_cast<std::size_t>(p.block_rows));
    p.zones_ending.resize(static_cast<std::size_t>(p.block_rows));
    p.needed.assign(static_cast<std::size_t>(p.block_rows),
                    std::vector<std::uint8_t>(static_cast<std::size_t>(p.block_cols), 0));
    for (std::size_t i = 0; i < masks.size(); ++i) {
        const Mask& m = masks[i];
        if (m.width <= 0 || m.height <= 0) {
            continue;
        }
        // Raster column of mask column 0.
        const std::int64_t rc0 = m.col0 - o.col_offset;
        const std::int64_t rr0 = m.row0 - o.row_offset;
        const std::int64_t c0 = std::max<std::int64_t>(rc0, 0);
        const std::int64_t c1 = std::min<std::int64_t>(rc0 + m.width, raster.width);
        const std::int64_t r0 = std::max<std::int64_t>(rr0, 0);
        const std::int64_t r1 = std::min<std::int64_t>(rr0 + m.height, raster.height);
        if (c0 >= c1 || r0 >= r1) {
            continue;
        }
        Zone z;
        z.index = i;
        z.c0 = static_cast<int>(c0);
        z.c1 = static_cast<int>(c1);
        z.r0 = static_cast<int>(r0);
        z.r1 = static_cast<int>(r1);
        z.mc = -rc0;
        z.mr = -rr0;
        // Mark the blocks holding selected pixels; keep the rows that hold any.
        int first_row = -1, last_row = -1;
        for (int r = z.r0; r < z.r1; ++r) {
            const std::uint8_t* row = m.pixels.data() + static_cast<std::size_t>(r + z.mr) *
                                                            static_cast<std::size_t>(m.width);
            bool any = false;
            for (int c = z.c0; c < z.c1; ++c) {
                if (row[c + z.mc]) {
                    p.needed[static_cast<std::size_t>(r / p.block_y)]
                            [static_cast<std::size_t>(c / p.block_x)] = 1;
                    any = true;
                    ++z.selected;
                }
            }
            if (any) {
                if (first_row < 0) {
                    first_row = r;
                }
                last_row = r;
            }
        }
        if (first_row < 0) {
            continue; // no selected pixel inside the raster
        }
        z.r0 = first_row;
        z.r1 = last_row + 1;
        const auto id = static_cast<std::uint32_t>(p.zones.size());
        for (int k = z.r0 / p.block_y; k <= last_row / p.block_y; ++k) {
            p.zones_of_row[static_cast<std::size_t>(k)].push_back(id);
        }
        p.zones_ending[static_cast<std::size_t>(last_row / p.block_y)].push_back(id);
        p.zones.push_back(z);
    }
    return p;
}

struct Shared {
    Shared(const RasterInfo& r, std::span<const Mask> m, const ZonalOptions& o,
           const std::vector<int>& b, const Plan& p)
        : raster(r)
        , masks(m)
        , options(o)
        , bands(b)
        , plan(p) {}
    const RasterInfo& raster;
    std::span<const Mask> masks;
    const ZonalOptions& options;
    const std::vector<int>& bands;
    const Plan& plan;
    std::vector<BufferKind> kinds; // per requested band
    // Accumulators per (zone, band position), created on first use.
    std::vector<StatsAccumulator> stats;
    std::vector<HistAccumulator> hists;
    std::array<std::mutex, 256> stripes;

    std::mutex done_mutex;
    std::vector<int> bands_done; // per block row
    int frontier = 0;            // block rows below this are complete
    ZonalResult result;

    std::atomic<std::size_t> next_item{0};
    std::atomic<bool> failed{false};
    std::mutex error_mutex;
    std::exception_ptr error;
    std::atomic<std::uint64_t> blocks_read{0};
    int decode_threads = 0; // GDAL_NUM_THREADS of each worker's dataset; 0: GDAL's own setting
};

template <typename T>
void accumulate(Shared& s, int k, std::size_t band_pos, const T* buf, int row_stride, int y0) {
    const Plan& p = s.plan;
    const std::size_t nb = s.bands.size();
    const int band = s.bands[band_pos];
    const auto& nodata = s.raster.nodata[static_cast<std::size_t>(band - 1)];
    const bool zero_nodata = s.options.zero_is_nodata;
    const int ylo = k * p.block_y;
    const int yhi = std::min(ylo + p.block_y, s.raster.height);
    for (std::uint32_t id : p.zones_of_row[static_cast<std::size_t>(k)]) {
        const Zone& z = p.zones[id];
        const Mask& m = s.masks[z.index];
        const int r0 = std::max(z.r0, ylo);
        const int r1 = std::min(z.r1, yhi);
        const std::size_t slot = static_cast<std::size_t>(id) * nb + band_pos;
        std::lock_guard lock(s.stripes[slot % s.stripes.size()]);
        if (!s.options.hist && !s.stats[slot].reserved()) {
            s.stats[slot].reserve(z.selected);
        }
        for (int r = r0; r < r1; ++r) {
            const std::uint8_t* mrow = m.pixels.data() + static_cast<std::size_t>(r + z.mr) *
                                                             static_cast<std::size_t>(m.width);
            const T* vrow =
                buf + static_cast<std::size_t>(r - y0) * static_cast<std::size_t>(row_stride);
            for (int c = z.c0; c < z.c1; ++c) {
                if (!mrow[c + z.mc]) {
                    continue;
                }
                const T v = vrow[c];
                if (s.options.hist) {
                    s.hists[slot].add(static_cast<std::int64_t>(v));
                    continue;
                }
                const double d = static_cast<double>(v);
                if (std::isnan(d) || (zero_nodata && d == 0) || (nodata && d == *nodata)) {
                    continue;
                }
                s.stats[slot].add(d);
            }
        }
    }
}

// Reduces every zone whose last block row is below the frontier. Caller holds done_mutex.
void finalize_rows(Shared& s, int from, int to) {
    const std::size_t nb = s.bands.size();
    for (int k = from; k < to; ++k) {
        for (std::uint32_t id : s.plan.zones_ending[static_cast<std::size_t>(k)]) {
            const std::size_t zone = s.plan.zones[id].index;
            for (std::size_t b = 0; b < nb; ++b) {
                const std::size_t slot = static_cast<std::size_t>(id) * nb + b;
                const int band = s.bands[b];
                if (s.options.hist) {
                    const auto& nd = s.raster.nodata[static_cast<std::size_t>(band - 1)];
                    const auto nodata_class =
                        nd && std::isfinite(*nd) ? static_cast<std::int64_t>(*nd) : 0;
                    if (auto json = s.hists[slot].finish_json(nodata_class)) {
                        s.result.hists.push_back({zone, band, std::move(*json)});
                    }
                } else if (auto st = s.stats[slot].finish()) {
                    s.result.stats.push_back({zone, band, *st});
                }
            }
        }
    }
}

void worker(Shared& s, const std::vector<std::pair<int, std::size_t>>& items) {
    DatasetPtr ds;
    std::vector<std::uint16_t> buf16;
    std::vector<std::int32_t> buf32;
    std::vector<double> buf64;
    const Plan& p = s.plan;
    const int width = s.raster.width;
    const ThreadDecodeThreads decode_threads(s.decode_threads);
    try {
        while (!s.failed.load()) {
            const std::size_t i = s.next_item.fetch_add(1);
            if (i >= items.size()) {
                break;
            }
            check_interrupted();
            if (!ds) {
                ds = open_dataset(s.raster.path);
            }
            const auto [k, band_pos] = items[i];
            const int band = s.bands[band_pos];
            GDALRasterBandH h = GDALGetRasterBand(static_cast<GDALDatasetH>(ds.get()), band);
            const int y0 = k * p.block_y;
            const int rows = std::min(p.block_y, s.raster.height - y0);
            const std::size_t cells =
                static_cast<std::size_t>(rows) * static_cast<std::size_t>(width);
            const BufferKind kind = s.kinds[band_pos];
            void* base = nullptr;
            GDALDataType type = GDT_Float64;
            int size = 8;
            if (kind == BufferKind::U16) {
                buf16.resize(cells);
                base = buf16.data();
                type = GDT_UInt16;
                size = 2;
            } else if (kind == BufferKind::I32) {
                buf32.resize(cells);
                base = buf32.data();
                type = GDT_Int32;
                size = 4;
            } else {
                buf64.resize(cells);
                base = buf64.data();
            }
            const auto& need = p.needed[static_cast<std::size_t>(k)];
            for (int bc = 0; bc < p.block_cols;) {
                if (!need[static_cast<std::size_t>(bc)]) {
                    ++bc;
                    continue;
                }
                int end = bc;
                while (end < p.block_cols && need[static_cast<std::size_t>(end)]) {
                    ++end;
                }
                const int x0 = bc * p.block_x;
                const int w = std::min(end * p.block_x, width) - x0;
                io::gdal::ErrorScope errors;
                CPLErr err = GDALRasterIOEx(
                    h, GF_Read, x0, y0, w, rows, static_cast<char*>(base) + std::size_t(x0) * size,
                    w, rows, type, size, static_cast<GSpacing>(width) * size, nullptr);
                if (err != CE_None) {
                    std::string why = errors.last_error();
                    throw InputError("cannot read '" + s.raster.path + "' band " +
                                         std::to_string(band) + " rows " + std::to_string(y0) +
                                         "-" + std::to_string(y0 + rows - 1) +
                                         (why.empty() ? "" : ": " + why),
                                     "The file may be truncated or corrupt; check it with gdalinfo "
                                     "-checksum");
                }
                s.blocks_read += static_cast<std::uint64_t>(end - bc);
                bc = end;
            }
            if (kind == BufferKind::U16) {
                accumulate(s, k, band_pos, buf16.data(), width, y0);
            } else if (kind == BufferKind::I32) {
                accumulate(s, k, band_pos, buf32.data(), width, y0);
            } else {
                accumulate(s, k, band_pos, buf64.data(), width, y0);
            }
            std::lock_guard lock(s.done_mutex);
            ++s.bands_done[static_cast<std::size_t>(k)];
            const int before = s.frontier;
            while (s.frontier < p.block_rows &&
                   s.bands_done[static_cast<std::size_t>(s.frontier)] ==
                       static_cast<int>(s.bands.size())) {
                ++s.frontier;
            }
            finalize_rows(s, before, s.frontier);
        }
    } catch (...) {
        std::lock_guard lock(s.error_mutex);
        if (!s.error) {
            s.error = std::current_exception();
        }
        s.failed = true;
    }
}

} // namespace

RasterInfo describe_raster(const std::string& path) {
    DatasetPtr ds = open_dataset(path);
    auto* h = static_cast<GDALDatasetH>(ds.get());
    RasterInfo info;
    info.path = path;
    info.width = GDALGetRasterXSize(h);
    info.height = GDALGetRasterYSize(h);
    info.band_count = GDALGetRasterCount(h);
    if (info.band_count < 1) {
        throw InputError("raster '" + path + "' has no band",
                         "Give a raster with bands (for NetCDF: NETCDF:\"file.nc\":variable)");
    }
    double gt[6];
    if (GDALGetGeoTransform(h, gt) != CE_None) {
        throw InputError("raster '" + path + "' has no geotransform",
                         "Give a georeferenced raster");
    }
    if (gt[2] != 0 || gt[4] != 0) {
        throw InputError("raster '" + path + "' has a rotated geotransform",
                         "Warp it to a north-up grid first (gdalwarp)");
    }
    if (!(gt[1] > 0) || !(gt[5] < 0)) {
        throw InputError("raster '" + path + "' is not north-up (pixel size " +
                             std::to_string(gt[1]) + ", " + std::to_string(gt[5]) + ")",
                         "Warp it to a north-up grid first (gdalwarp)");
    }
    info.grid = PixelGrid{gt[0], gt[3], gt[1], -gt[5]};
    if (const char* wkt = GDALGetProjectionRef(h)) {
        info.crs_wkt = wkt;
    }
    GDALRasterBandH b1 = GDALGetRasterBand(h, 1);
    GDALGetBlockSize(b1, &info.block_x, &info.block_y);
    for (int b = 1; b <= info.band_count; ++b) {
        GDALRasterBandH band = GDALGetRasterBand(h, b);
        const char* desc = GDALGetDescription(band);
        info.band_names.push_back(desc && *desc ? desc : std::to_string(b));
        int has = 0;
        double nd = GDALGetRasterNoDataValue(band, &has);
        info.nodata.push_back(has ? std::optional<double>(nd) : std::nullopt);
        info.integer.push_back(is_integer_type(GDALGetRasterDataType(band)));
    }
    return info;
}

std::pair<std::int64_t, std::int64_t> grid_offset(const RasterInfo& raster, const PixelGrid& grid) {
    auto same = [](double a, double b) {
        return std::abs(a - b) <= 1e-9 * std::max(1.0, std::abs(b));
    };
    if (!same(raster.grid.res_x, grid.res_x) || !same(raster.grid.res_y, grid.res_y)) {
        throw InputError("raster '" + raster.path + "' has pixels of " +
                             std::to_string(raster.grid.res_x) + " x " +
                             std::to_string(raster.grid.res_y) + ", the masks " +
                             std::to_string(grid.res_x) + " x " + std::to_string(grid.res_y),
                         "Use the mask table of the raster's resolution");
    }
    const double c = (raster.grid.origin_x - grid.origin_x) / grid.res_x;
    const double r = (grid.origin_y - raster.grid.origin_y) / grid.res_y;
    if (std::abs(c - std::round(c)) > 1e-6 || std::abs(r - std::round(r)) > 1e-6) {
        throw InputError("raster '" + raster.path + "' is not aligned with the mask grid (corner " +
                             std::to_string(raster.grid.origin_x) + ", " +
                             std::to_string(raster.grid.origin_y) + ")",
                         "Masks and image must share one pixel grid");
    }
    return {static_cast<std::int64_t>(std::llround(c)), static_cast<std::int64_t>(std::llround(r))};
}

ZonalResult zonal_statistics(const RasterInfo& raster, std::span<const Mask> masks,
                             const ZonalOptions& options) {
    std::vector<int> bands = options.bands;
    if (bands.empty()) {
        for (int b = 1; b <= raster.band_count; ++b) {
            bands.push_back(b);
        }
    }
    for (int b : bands) {
        if (b < 1 || b > raster.band_count) {
            throw InputError("raster '" + raster.path + "' has no band " + std::to_string(b) +
                                 " (it has " + std::to_string(raster.band_count) + ")",
                             "Choose bands 1 to " + std::to_string(raster.band_count));
        }
        if (options.hist && !raster.integer[static_cast<std::size_t>(b - 1)]) {
            throw InputError("band " + std::to_string(b) + " of '" + raster.path +
                                 "' is not an integer band",
                             "Class counts (--hist) need integer classes");
        }
    }
    const Plan plan = make_plan(raster, masks, options);
    Shared s(raster, masks, options, bands, plan);
    {
        DatasetPtr ds = open_dataset(raster.path);
        for (int b : bands) {
            GDALDataType t =
                GDALGetRasterDataType(GDALGetRasterBand(static_cast<GDALDatasetH>(ds.get()), b));
            s.kinds.push_back(t == GDT_Byte || t == GDT_UInt16   ? BufferKind::U16
                              : t == GDT_Int16 || t == GDT_Int32 ? BufferKind::I32
                                                                 : BufferKind::F64);
        }
    }
    const std::size_t slots = plan.zones.size() * bands.size();
    if (options.hist) {
        s.hists.resize(slots);
    } else {
        s.stats.resize(slots);
    }
    s.bands_done.assign(static_cast<std::size_t>(plan.block_rows), 0);
    std::vector<std::pair<int, std::size_t>> items;
    for (int k = 0; k < plan.block_rows; ++k) {
        bool any = std::any_of(plan.needed[static_cast<std::size_t>(k)].begin(),
                               plan.needed[static_cast<std::size_t>(k)].end(),
                               [](std::uint8_t v) { return v != 0; });
        if (!any) {
            s.bands_done[static_cast<std::size_t>(k)] = static_cast<int>(bands.size());
            continue;
        }
        for (std::size_t b = 0; b < bands.size(); ++b) {
            items.emplace_back(k, b);
        }
    }
    {
        // Block rows without work before the first item are complete already.
        std::lock_guard lock(s.done_mutex);
        while (s.frontier < plan.block_rows && s.bands_done[static_cast<std::size_t>(s.frontier)] ==
                                                   static_cast<int>(bands.size())) {
            ++s.frontier;
        }
    }
    const int n = std::max(1, std::min<int>(options.threads, static_cast<int>(items.size())));
    // The threads are split between items (one block row of one band each, a worker per thread)
    // and GDAL's decoding within an item: the workers get one thread each and the rest, if there
    // are fewer items than threads, goes to each worker's decoder. Not when the user set
    // GDAL_NUM_THREADS: then GDAL's setting stands. (GDAL's default, all CPUs in every dataset,
    // runs threads × CPUs decoders on the CPUs.)
    if (!CPLGetConfigOption("GDAL_NUM_THREADS", nullptr)) {
        s.decode_threads = std::max(1, std::max(1, options.threads) / n);
    }
    if (n == 1) {
        worker(s, items);
    } else {
        std::vector<std::thread> threads;
        for (int t = 0; t < n; ++t) {
            threads.emplace_back([&] { worker(s, items); });
        }
        for (auto& t : threads) {
            t.join();
        }
    }
    if (s.error) {
        std::rethrow_exception(s.error);
    }
    ZonalResult result = std::move(s.result);
    result.blocks_read = s.blocks_read.load();
    result.blocks_total = static_cast<std::uint64_t>(plan.block_rows) *
                          static_cast<std::uint64_t>(plan.block_cols) * bands.size();
    std::vector<std::size_t> order(static_cast<std::size_t>(raster.band_count) + 1, 0);
    for (std::size_t i = 0; i < bands.size(); ++i) {
        order[static_cast<std::size_t>(bands[i])] = i;
    }
    auto less = [&](const auto& a, const auto& b) {
        return a.zone != b.zone ? a.zone < b.zone
                                : order[static_cast<std::size_t>(a.band)] <
                                      order[static_cast<std::size_t>(b.band)];
    };
    std::sort(result.stats.begin(), result.stats.end(), less);
    std::sort(result.hists.begin(), result.hists.end(), less);
    return result;
}

} // namespace baims::zonal
