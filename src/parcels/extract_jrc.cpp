// `selection: jrc`: the JRC extractor's SQL and pixel reads (see extract_jrc.hpp).
//
// Stats passes (10, 20): the window is the extent of the AOI row (args.name) in the image CRS,
// clipped to the image; the masks are those of parcels whose geometry's bounding box overlaps
// the image footprint (&&); each band's window is read whole. SCL pass: the whole image, masks
// mapped against the image corner, parcels whose bounding box overlaps the image envelope.

#include "extract_jrc.hpp"

#include "baims/core/error.hpp"
#include "baims/db/schema.hpp"
#include "baims/io/gdal.hpp"
#include "baims/zonal/jrc.hpp"

#include <gdal.h>

#include <cmath>
#include <cstdio>
#include <memory>

namespace baims::parcels::jrc {
namespace {

struct Image {
    int width = 0;
    int height = 0;
    double ulx = 0;
    double uly = 0;
    double res = 0; // the geotransform's pixel width
};

struct DatasetCloser {
    void operator()(void* ds) const { GDALClose(ds); }
};
using Dataset = std::unique_ptr<void, DatasetCloser>;

Dataset open(const std::string& path) {
    io::gdal::register_drivers();
    Dataset ds(
        GDALOpenEx(path.c_str(), GDAL_OF_RASTER | GDAL_OF_READONLY, nullptr, nullptr, nullptr));
    if (!ds) {
        throw PassFailure{"Rio error", "cannot open " + path};
    }
    return ds;
}

Image describe(const std::string& path) {
    auto ds = open(path);
    double gt[6];
    if (GDALGetGeoTransform(ds.get(), gt) != CE_None || gt[2] != 0 || gt[4] != 0) {
        throw PassFailure{"Rio error", path + " has no north-up geotransform"};
    }
    return {GDALGetRasterXSize(ds.get()), GDALGetRasterYSize(ds.get()), gt[0], gt[3], gt[1]};
}

// Band 1 of `path`, pixels [col0, col0 + width) x [row0, row0 + height), row-major.
std::vector<std::uint16_t> read_window(const std::string& path, std::int64_t col0,
                                       std::int64_t row0, int width, int height) {
    auto ds = open(path);
    std::vector<std::uint16_t> px(static_cast<std::size_t>(width) * height);
    if (GDALRasterIO(GDALGetRasterBand(ds.get(), 1), GF_Read, static_cast<int>(col0),
                     static_cast<int>(row0), width, height, px.data(), width, height, GDT_UInt16, 0,
                     0) != CE_None) {
        throw PassFailure{"Rio error",
                          std::string("reading ") + path + ": " + CPLGetLastErrorMsg()};
    }
    return px;
}

std::vector<std::uint8_t> unhex(const std::string& hex) {
    std::vector<std::uint8_t> bytes(hex.size() / 2);
    auto nib = [](char ch) {
        return static_cast<std::uint8_t>(ch <= '9' ? ch - '0' : (ch | 0x20) - 'a' + 10);
    };
    for (std::size_t k = 0; k < bytes.size(); ++k) {
        bytes[k] = static_cast<std::uint8_t>(nib(hex[2 * k]) << 4 | nib(hex[2 * k + 1]));
    }
    return bytes;
}

std::string real_text(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(static_cast<float>(v)));
    return buf;
}

std::string arg(const db::ConnectionSettings& s, const char* key, const std::string& fallback) {
    auto it = s.args.find(key);
    return it == s.args.end() || it->second.empty() ? fallback : it->second;
}

// The geometry column of the parcel table: wkb_geometry (JRC, ogr2ogr) when present, else the
// table's only geometry column.
std::string geometry_column(db::Connection& conn, const db::QualifiedName& table) {
    auto r = conn.exec_params("SELECT a.attname FROM pg_attribute a WHERE a.attrelid = "
                              "$1::regclass AND a.attnum > 0 AND NOT a.attisdropped AND "
                              "a.atttypid = 'geometry'::regtype ORDER BY a.attname <> "
                              "'wkb_geometry', a.attnum",
                              table.quoted());
    if (r.empty()) {
        throw PassFailure{"Parcel SQL",
                          "parcel table " + table.display() + " has no geometry column"};
    }
    return r.text(0, 0);
}

struct Parcel {
    std::int64_t pid = 0;
    std::vector<zonal::jrc::Index> pixels;
};

// The masks of the parcels whose geometry's bounding box overlaps `region` (SQL, $1.. params),
// mapped against (ulx, uly) on a rows x cols window; parcels selecting no pixel left out.
template <typename... Args>
std::vector<Parcel> load(db::Connection& conn, const db::ConnectionSettings& settings,
                         const Pass& pass, const std::string& region, double ulx, double uly,
                         double dx, int rows, int cols, const Args&... args) {
    const auto& parcel = settings.tables.parcel;
    if (!db::table_exists(conn, pass.mask_table)) {
        throw PassFailure{"Parcel SQL", "mask table " + pass.mask_table.display() +
                                            " does not exist (make it as the JRC how-to does, "
                                            "with ST_AsRaster, for EPSG " +
                                            std::to_string(pass.epsg) + ")"};
    }
    db::Result r;
    try {
        const std::string geom = db::quote_ident(geometry_column(conn, parcel));
        r = conn.exec_params("SELECT m.pid, encode(ST_AsBinary(m.rast), 'hex') FROM " +
                                 pass.mask_table.quoted() + " m JOIN " + parcel.quoted() +
                                 " p ON m.pid = p.ogc_fid WHERE m.rast IS NOT NULL AND p." + geom +
                                 " && ST_Transform(" + region + ", ST_SRID(p." + geom +
                                 ")) ORDER BY m.pid",
                             args...);
    } catch (const DatabaseError& e) {
        throw PassFailure{"Parcel SQL", std::string("reading ") + pass.mask_table.display() +
                                            " with " + parcel.display() + ": " + e.what()};
    }
    std::vector<Parcel> out;
    for (std::size_t i = 0; i < r.size(); ++i) {
        zonal::jrc::RasterMask m;
        try {
            m = zonal::jrc::read_raster_wkb(unhex(r.text(i, 1)));
        } catch (const Error& e) {
            throw PassFailure{"Parcel SQL", "mask of pid " + r.text(i, 0) + " in " +
                                                pass.mask_table.display() + ": " + e.what()};
        }
        auto px = zonal::jrc::indices(m, ulx, uly, dx, rows, cols);
        if (!px.empty()) {
            out.push_back({r.int64(i, 0), std::move(px)});
        }
    }
    return out;
}

std::vector<std::vector<std::string>>
hist_pass(db::Connection& conn, const db::ConnectionSettings& settings, const Pass& pass) {
    const Image img = describe(pass.files.front());
    // As JRC: the envelope's width from the row count and its height from the column count.
    const auto parcels =
        load(conn, settings, pass,
             "ST_MakeEnvelope($1::float8, $2::float8, $3::float8, $4::float8, $5::int)", img.ulx,
             img.uly, img.res, img.height, img.width, img.ulx, img.uly - img.width * img.res,
             img.ulx + img.height * img.res, img.uly, pass.epsg);
    std::vector<std::vector<std::string>> rows;
    if (parcels.empty()) {
        return rows;
    }
    const auto px = read_window(pass.files.front(), 0, 0, img.width, img.height);
    const std::string obsid = std::to_string(pass.obsid);
    std::vector<std::int64_t> values;
    for (const auto& p : parcels) {
        values.clear();
        for (auto i : p.pixels) {
            values.push_back(px[static_cast<std::size_t>(i.row) * img.width + i.col]);
        }
        if (auto h = zonal::jrc::hist(values)) {
            rows.push_back({std::to_string(p.pid), obsid, *h});
        }
    }
    return rows;
}

std::vector<std::vector<std::string>>
stats_pass(db::Connection& conn, const db::ConnectionSettings& settings, const Pass& pass) {
    const Image img = describe(pass.files.front());
    const double dx = std::round(img.res); // JRC: int(np.round(transform[0]))
    const auto& aoi = settings.tables.aoi;
    const std::string aoi_name = arg(settings, "name", "");
    db::Result ext;
    try {
        ext = conn.exec_params(
            "SELECT ST_XMin(b)::float8::text, ST_YMin(b)::float8::text, ST_XMax(b)::float8::text,"
            " ST_YMax(b)::float8::text FROM (SELECT ST_Extent(ST_Transform(wkb_geometry, $1::int)) "
            "b"
            " FROM " +
                aoi.quoted() + " WHERE " + db::quote_ident(arg(settings, "aoi_field", "name")) +
                " = $2) e",
            pass.epsg, aoi_name);
    } catch (const DatabaseError& e) {
        throw PassFailure{"No extent",
                          "extent of AOI '" + aoi_name + "' in " + aoi.display() + ": " + e.what()};
    }
    if (ext.empty() || ext.is_null(0, 0)) {
        throw PassFailure{"No extent", "no AOI '" + aoi_name + "' in " + aoi.display() +
                                           " (selection: jrc maps the masks against its extent;"
                                           " set args.name)"};
    }
    const auto w =
        zonal::jrc::aoi_window(ext.real(0, 0), ext.real(0, 1), ext.real(0, 2), ext.real(0, 3),
                               img.ulx, img.uly, img.width, img.height, dx);
    std::vector<std::vector<std::string>> rows;
    if (w.width <= 0 || w.height <= 0) {
        return rows;
    }
    const auto parcels = load(conn, settings, pass,
                              "(SELECT footprint FROM " + settings.tables.catalog.quoted() +
                                  " WHERE id = $1::bigint)",
                              w.ulx, w.uly, dx, w.height, w.width, pass.obsid);
    if (parcels.empty()) {
        return rows;
    }
    const std::string obsid = std::to_string(pass.obsid);
    std::vector<bool> kept(parcels.size(), false);
    std::vector<std::vector<std::vector<std::string>>> per_parcel(parcels.size());
    std::vector<double> values;
    for (std::size_t b = 0; b < pass.files.size(); ++b) {
        const auto px = read_window(pass.files[b], w.col0, w.row0, w.width, w.height);
        for (std::size_t k = 0; k < parcels.size(); ++k) {
            if (b > 0 && !kept[k]) {
                continue;
            }
            values.clear();
            for (auto i : parcels[k].pixels) {
                values.push_back(px[static_cast<std::size_t>(i.row) * w.width + i.col]);
            }
            auto st = zonal::jrc::stats(values, b == 0);
            if (!st) {
                continue; // band 1 with a 0: the parcel is dropped from every band
            }
            kept[k] = true;
            per_parcel[k].push_back({std::to_string(parcels[k].pid), obsid, pass.bands[b],
                                     std::to_string(st->count), real_text(st->mean),
                                     real_text(st->std), real_text(st->min), real_text(st->max),
                                     real_text(st->p25), real_text(st->p50), real_text(st->p75)});
        }
    }
    for (auto& p : per_parcel) {
        for (auto& row : p) {
            rows.push_back(std::move(row));
        }
    }
    return rows;
}

} // namespace

std::vector<std::vector<std::string>>
run_pass(db::Connection& conn, const db::ConnectionSettings& settings, const Pass& pass) {
    try {
        return pass.hist ? hist_pass(conn, settings, pass) : stats_pass(conn, settings, pass);
    } catch (const InputError& e) {
        throw PassFailure{"Rio error", e.what()};
    }
}

} // namespace baims::parcels::jrc
