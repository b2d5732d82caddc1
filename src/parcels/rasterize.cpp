// `baims rasterize`: parcel masks per UTM zone and resolution (SPEC 9).
//
// Per EPSG: the parcels are read once (cursor, WKB), repaired when invalid (OGR MakeValid),
// reprojected with PROJ from their own SRID (traditional GIS axis order), dropped when their
// bounding box misses the AOI's extent in that CRS, and kept in memory as zonal::MultiPolygon.
// Per resolution: the parcels are rasterised on the zone grid {0, 0, res, res} in batches, each
// batch on `threads` threads, and their PostGIS raster WKB is streamed by COPY, in parcel order
// (the output does not depend on the thread count), into a new table; the primary key is added and
// the new table replaces the old one, all in one transaction, so readers (and a crash at any
// moment) see the old table or the new one. --only-new COPYs the missing masks into the existing
// table instead.
#include "baims/parcels/rasterize.hpp"

#include "baims/core/error.hpp"
#include "baims/core/interrupt.hpp"
#include "baims/core/log.hpp"
#include "baims/core/progress.hpp"
#include "baims/db/connection.hpp"
#include "baims/db/copy_writer.hpp"
#include "baims/db/identifiers.hpp"
#include "baims/io/gdal.hpp"

#include <ogr_geometry.h>
#include <ogr_spatialref.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_set>

namespace baims::parcels {

namespace {

std::string str(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.2f", v);
    return b;
}

// ---------------------------------------------------------------------------------------------
// Raster WKB (PostGIS "WKTRaster" format, version 0), little endian.

void put_bytes(std::string& hex, const void* data, std::size_t n) {
    static const char* digits = "0123456789ABCDEF";
    const auto* p = static_cast<const std::uint8_t*>(data);
    for (std::size_t i = 0; i < n; ++i) {
        hex += digits[p[i] >> 4];
        hex += digits[p[i] & 15];
    }
}
template <typename T> void put(std::string& hex, T v) {
    static_assert(std::endian::native == std::endian::little);
    put_bytes(hex, &v, sizeof v);
}

} // namespace

std::string mask_raster_hex(const zonal::Mask& mask, double res, int srid) {
    if (mask.width <= 0 || mask.height <= 0 || mask.width > 65535 || mask.height > 65535)
        throw InputError("a mask of " + std::to_string(mask.width) + " x " +
                             std::to_string(mask.height) +
                             " pixels cannot be stored as a PostGIS raster (1..65535 per side)",
                         "Check the parcel geometry");
    std::string hex;
    hex.reserve(2 * (63 + mask.pixels.size()));
    put<std::uint8_t>(hex, 1);                               // NDR
    put<std::uint16_t>(hex, 0);                              // version
    put<std::uint16_t>(hex, 1);                              // bands
    put<double>(hex, res);                                   // scale x
    put<double>(hex, -res);                                  // scale y: north-up
    put<double>(hex, static_cast<double>(mask.col0) * res);  // upper-left x
    put<double>(hex, -static_cast<double>(mask.row0) * res); // upper-left y
    put<double>(hex, 0.0);                                   // skew x
    put<double>(hex, 0.0);                                   // skew y
    put<std::int32_t>(hex, srid);
    put<std::uint16_t>(hex, static_cast<std::uint16_t>(mask.width));
    put<std::uint16_t>(hex, static_cast<std::uint16_t>(mask.height));
    put<std::uint8_t>(hex, 4 | 0x40); // 8BUI, has nodata
    put<std::uint8_t>(hex, 0);        // nodata value
    put_bytes(hex, mask.pixels.data(), mask.pixels.size());
    return hex;
}

std::optional<int> utm_epsg_of_tile(const std::string& tile) {
    std::string t = tile;
    if (!t.empty() && (t[0] == 'T' || t[0] == 't'))
        t = t.substr(1);
    if (t.size() != 5 || !std::isdigit(static_cast<unsigned char>(t[0])) ||
        !std::isdigit(static_cast<unsigned char>(t[1])))
        return std::nullopt;
    const int zone = (t[0] - '0') * 10 + (t[1] - '0');
    const char band = static_cast<char>(std::toupper(static_cast<unsigned char>(t[2])));
    if (zone < 1 || zone > 60 || band < 'C' || band > 'X' || band == 'I' || band == 'O')
        return std::nullopt;
    return (band <= 'M' ? 32700 : 32600) + zone;
}

db::QualifiedName mask_table_name(const db::QualifiedName& parcels, int epsg, int res) {
    const std::string name =
        parcels.name + "_" + std::to_string(epsg) + "_" + std::to_string(res) + "_rast";
    if (name.size() > db::MAX_IDENTIFIER_BYTES)
        throw ConfigError("the mask table name '" + name + "' is longer than 63 bytes",
                          "Use a shorter parcel table name");
    return parcels.with_name(name);
}

namespace {

struct Parcel {
    std::int64_t pid = 0;
    zonal::MultiPolygon geometry; // in the zone's CRS
};

// OGR polygonal geometry -> zonal::MultiPolygon (rings as they are; 2-D).
void append_polygon(const OGRPolygon& poly, zonal::MultiPolygon& out) {
    zonal::Polygon p;
    for (const OGRLinearRing* ring : poly) {
        zonal::Ring r;
        const int n = ring->getNumPoints();
        r.x.resize(static_cast<std::size_t>(n));
        r.y.resize(static_cast<std::size_t>(n));
        for (int i = 0; i < n; ++i) {
            r.x[static_cast<std::size_t>(i)] = ring->getX(i);
            r.y[static_cast<std::size_t>(i)] = ring->getY(i);
        }
        p.rings.push_back(std::move(r));
    }
    if (!p.rings.empty())
        out.push_back(std::move(p));
}

// The polygonal parts of g (MakeValid may return a collection with lines and points).
void collect_polygons(const OGRGeometry& g, zonal::MultiPolygon& out) {
    switch (wkbFlatten(g.getGeometryType())) {
    case wkbPolygon:
        append_polygon(*g.toPolygon(), out);
        break;
    case wkbMultiPolygon:
    case wkbGeometryCollection:
        for (const OGRGeometry* part : *g.toGeometryCollection())
            collect_polygons(*part, out);
        break;
    default:
        break;
    }
}

struct CtDeleter {
    void operator()(OGRCoordinateTransformation* ct) const {
        OGRCoordinateTransformation::DestroyCT(ct);
    }
};
using CtPtr = std::unique_ptr<OGRCoordinateTransformation, CtDeleter>;

// Transformations from each source SRID to one EPSG, made on first use.
class Reprojector {
public:
    explicit Reprojector(int epsg)
        : m_epsg(epsg) {
        if (m_dst.importFromEPSG(epsg) != OGRERR_NONE)
            throw UsageError("EPSG:" + std::to_string(epsg) + " is not a CRS PROJ knows",
                             "Give a UTM zone such as --epsg 32632");
        m_dst.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
    }
    // nullptr: same CRS. Throws InputError for an unknown SRID.
    OGRCoordinateTransformation* get(int srid) {
        auto it = m_cts.find(srid);
        if (it != m_cts.end())
            return it->second.get();
        CtPtr ct;
        if (srid != m_epsg) {
            OGRSpatialReference src;
            io::gdal::ErrorScope errors;
            if (srid <= 0 || src.importFromEPSG(srid) != OGRERR_NONE)
                throw InputError("parcel SRID " + std::to_string(srid) + " is not an EPSG code",
                                 "Set the SRID of the geometry column (UpdateGeometrySRID)");
            src.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
            ct.reset(OGRCreateCoordinateTransformation(&src, &m_dst));
            if (!ct)
                throw InputError("cannot transform from EPSG:" + std::to_string(srid) +
                                 " to EPSG:" + std::to_string(m_epsg) + ": " + errors.last_error());
        }
        return m_cts.emplace(srid, std::move(ct)).first->second.get();
    }

private:
    int m_epsg;
    OGRSpatialReference m_dst;
    std::map<int, CtPtr> m_cts;
};

struct Source {
    db::QualifiedName table;
    std::string pid;      // column name
    std::string geometry; // column name
    int column_srid = 0;  // from geometry_columns (0: unknown)
};

Source resolve_source(db::Connection& conn, const RasterizeRequest& request,
                      const db::ConnectionSettings& settings) {
    Source s;
    if (request.parcels)
        s.table = *request.parcels;
    else
        s.table = settings.tables.parcel;
    if (s.table.empty())
        throw ConfigError("no parcel table is configured",
                          "Give --parcel-table or tables.parcel_table in db_config.json");
    if (!db::table_exists(conn, s.table))
        throw DatabaseError("parcel table " + s.table.display() + " does not exist on " +
                                conn.describe(),
                            "Load the parcels first (baims ingest-vector) or fix parcel_table");
    s.pid = request.pid_column;
    // Columns of the table: the pid column must be an integer column.
    auto cols = conn.exec_params(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped",
        s.table.quoted());
    std::map<std::string, std::string> types;
    for (std::size_t i = 0; i < cols.size(); ++i)
        types[cols.text(i, 0)] = cols.text(i, 1);
    auto pid_type = types.find(s.pid);
    if (pid_type == types.end())
        throw DatabaseError("parcel table " + s.table.display() + " has no column " +
                                db::quote_ident(s.pid),
                            "Give the parcel id column with --pid-column");
    if (pid_type->second != "integer" && pid_type->second != "bigint" &&
        pid_type->second != "smallint")
        throw DatabaseError("parcel id column " + db::quote_ident(s.pid) + " of " +
                                s.table.display() + " is " + pid_type->second + ", not an integer",
                            "Give an integer column with --pid-column");
    auto geo = conn.exec_params(
        "SELECT f_geometry_column, srid FROM geometry_columns WHERE "
        "(quote_ident(f_table_schema) || '.' || quote_ident(f_table_name))::regclass = "
        "$1::regclass ORDER BY f_geometry_column",
        s.table.quoted());
    std::map<std::string, int> geoms;
    for (std::size_t i = 0; i < geo.size(); ++i)
        geoms[geo.text(i, 0)] = static_cast<int>(geo.int64(i, 1));
    if (!request.geometry_column.empty()) {
        s.geometry = request.geometry_column;
        if (!geoms.count(s.geometry))
            throw DatabaseError("parcel table " + s.table.display() + " has no geometry column " +
                                    db::quote_ident(s.geometry),
                                "Check --geometry-column");
    } else if (geoms.count("wkb_geometry")) {
        s.geometry = "wkb_geometry";
    } else if (geoms.count("geometry")) {
        s.geometry = "geometry";
    } else if (geoms.size() == 1) {
        s.geometry = geoms.begin()->first;
    } else {
        throw DatabaseError("parcel table " + s.table.display() + " has " +
                                std::to_string(geoms.size()) + " geometry columns",
                            geoms.empty() ? "Load the parcels with a geometry column"
                                          : "Choose one with --geometry-column");
    }
    s.column_srid = geoms[s.geometry];
    return s;
}

std::string aoi_field(const RasterizeRequest& request, const db::ConnectionSettings& settings) {
    if (!request.aoi_field.empty())
        return request.aoi_field;
    auto it = settings.args.find("aoi_field");
    return it != settings.args.end() && !it->second.empty() ? it->second : "name";
}

// The AOI's geometry (all rows of that name), as OGC WKB, with its SRID.
struct AoiGeometry {
    std::vector<std::uint8_t> wkb;
    int srid = 0;
};

AoiGeometry load_aoi(db::Connection& conn, const RasterizeRequest& request,
                     const db::ConnectionSettings& settings) {
    const db::QualifiedName& aoi = settings.tables.aoi;
    const std::string field = aoi_field(request, settings);
    const std::string hint = "Check the name, or rasterize every parcel with --all-parcels";
    if (!db::table_exists(conn, aoi))
        throw DatabaseError("table " + aoi.display() + " does not exist on " + conn.describe(),
                            "Load the AOIs, or rasterize every parcel with --all-parcels");
    auto r = conn.exec_params(
        "SELECT encode(ST_AsBinary(ST_Collect(wkb_geometry)), 'hex'), max(ST_SRID(wkb_geometry)), "
        "count(*) FROM " +
            aoi.quoted() + " WHERE " + db::quote_ident(field) + " = $1",
        request.aoi);
    if (r.int64(0, 2) == 0)
        throw InputError("AOI '" + request.aoi + "' is not in " + aoi.display(), hint);
    if (r.is_null(0, 0))
        throw InputError("AOI '" + request.aoi + "' in " + aoi.display() + " has no geometry",
                         hint);
    AoiGeometry g;
    const std::string& hex = r.text(0, 0);
    g.wkb.resize(hex.size() / 2);
    for (std::size_t k = 0; k < g.wkb.size(); ++k)
        g.wkb[k] = static_cast<std::uint8_t>(std::stoi(hex.substr(2 * k, 2), nullptr, 16));
    g.srid = static_cast<int>(r.int64(0, 1));
    return g;
}

// The AOI's extent in the zone's CRS: its geometry densified (64 steps along the longer side of
// its bounding box, so that curved edges are followed), reprojected, then bounded.
OGREnvelope aoi_extent(const AoiGeometry& aoi, int epsg) {
    OGRGeometry* raw = nullptr;
    if (OGRGeometryFactory::createFromWkb(aoi.wkb.data(), nullptr, &raw, aoi.wkb.size()) !=
            OGRERR_NONE ||
        !raw)
        throw InputError("the AOI geometry cannot be read");
    std::unique_ptr<OGRGeometry> geom(raw);
    OGREnvelope e;
    geom->getEnvelope(&e);
    const double step = std::max(e.MaxX - e.MinX, e.MaxY - e.MinY) / 64;
    if (step > 0)
        geom->segmentize(step);
    Reprojector reproject(epsg);
    if (OGRCoordinateTransformation* ct = reproject.get(aoi.srid)) {
        io::gdal::ErrorScope errors;
        if (geom->transform(ct) != OGRERR_NONE)
            throw InputError("cannot reproject the AOI to EPSG:" + std::to_string(epsg) + ": " +
                             errors.last_error());
    }
    geom->getEnvelope(&e);
    return e;
}

// The bounding box of g's vertices (MinX > MaxX when it has none).
OGREnvelope bounds(const zonal::MultiPolygon& g) {
    OGREnvelope b;
    b.MinX = b.MinY = INFINITY;
    b.MaxX = b.MaxY = -INFINITY;
    for (const auto& p : g)
        for (const auto& r : p.rings)
            for (std::size_t i = 0; i < r.x.size(); ++i) {
                b.MinX = std::min(b.MinX, r.x[i]);
                b.MaxX = std::max(b.MaxX, r.x[i]);
                b.MinY = std::min(b.MinY, r.y[i]);
                b.MaxY = std::max(b.MaxY, r.y[i]);
            }
    return b;
}

bool meets(const zonal::MultiPolygon& g, const OGREnvelope& e) {
    const OGREnvelope b = bounds(g);
    return b.MinX <= e.MaxX && b.MaxX >= e.MinX && b.MinY <= e.MaxY && b.MaxY >= e.MinY;
}

std::vector<int> derive_epsg(db::Connection& conn, const RasterizeRequest& request,
                             const db::ConnectionSettings& settings) {
    const std::string field = aoi_field(request, settings);
    const db::QualifiedName& aoi = settings.tables.aoi;
    const db::QualifiedName& cat = settings.tables.catalog;
    for (const auto* t : {&aoi, &cat})
        if (!db::table_exists(conn, *t))
            throw DatabaseError("table " + t->display() + " does not exist on " + conn.describe(),
                                "Give the UTM zones with --epsg, or import the catalogue first "
                                "(baims catalog)");
    auto n = conn.exec_params("SELECT count(*) FROM " + aoi.quoted() + " WHERE " +
                                  db::quote_ident(field) + " = $1",
                              request.aoi);
    if (n.int64(0, 0) == 0)
        throw InputError("AOI '" + request.aoi + "' is not in " + aoi.display(),
                         "Check the name, or give the UTM zones with --epsg");
    auto r = conn.exec_params(
        "SELECT DISTINCT split_part(c.reference, '_', 6) FROM " + cat.quoted() + " c JOIN " +
            aoi.quoted() + " a ON ST_Intersects(c.footprint, a.wkb_geometry) WHERE a." +
            db::quote_ident(field) + " = $1 AND c.reference LIKE 'S2%' ORDER BY 1",
        request.aoi);
    std::set<int> codes;
    for (std::size_t i = 0; i < r.size(); ++i) {
        const std::string tile = r.text(i, 0);
        if (auto code = utm_epsg_of_tile(tile))
            codes.insert(*code);
        else
            log::warn("rasterize: catalogue tile id '" + tile +
                      "' is not a Sentinel-2 tile id; ignored");
    }
    if (codes.empty())
        throw InputError("no Sentinel-2 catalogue entry intersects AOI '" + request.aoi + "' in " +
                             cat.display(),
                         "Import the catalogue (baims catalog) or give the zones with --epsg");
    return {codes.begin(), codes.end()};
}

struct ReadStats {
    std::int64_t parcels = 0, invalid = 0, empty = 0, not_polygonal = 0, failed = 0, outside = 0;
};

// All parcels of the source, reprojected to epsg; with an extent, only those meeting it.
std::vector<Parcel> read_parcels(db::Connection& conn, const Source& src, int epsg,
                                 const std::optional<OGREnvelope>& extent, ReadStats& stats) {
    Reprojector reproject(epsg);
    std::vector<Parcel> out;
    db::Transaction tx(conn, "rasterize_read");
    const std::string g = db::quote_ident(src.geometry);
    auto count = tx.exec("SELECT count(*) FROM " + src.table.quoted());
    Progress progress("reading parcels for EPSG:" + std::to_string(epsg),
                      static_cast<std::uint64_t>(count.int64(0, 0)), "parcels");
    tx.exec("DECLARE baims_parcels NO SCROLL CURSOR FOR SELECT " + db::quote_ident(src.pid) +
            ", encode(ST_AsBinary(" + g + "), 'hex'), ST_SRID(" + g + ") FROM " +
            src.table.quoted() + " ORDER BY 1");
    std::vector<std::uint8_t> wkb;
    for (;;) {
        auto rows = tx.exec("FETCH 2000 FROM baims_parcels");
        if (rows.empty())
            break;
        for (std::size_t i = 0; i < rows.size(); ++i) {
            ++stats.parcels;
            if (rows.is_null(i, 0)) {
                ++stats.failed;
                log::warn("rasterize: a parcel has a NULL " + db::quote_ident(src.pid) +
                          "; skipped");
                continue;
            }
            const std::int64_t pid = rows.int64(i, 0);
            if (rows.is_null(i, 1)) {
                ++stats.empty;
                log::debug("rasterize: parcel " + std::to_string(pid) + " has no geometry");
                continue;
            }
            const std::string& hex = rows.text(i, 1);
            wkb.resize(hex.size() / 2);
            for (std::size_t k = 0; k < wkb.size(); ++k) {
                auto nib = [](char c) {
                    return static_cast<std::uint8_t>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
                };
                wkb[k] = static_cast<std::uint8_t>(nib(hex[2 * k]) << 4 | nib(hex[2 * k + 1]));
            }
            int srid = static_cast<int>(rows.int64(i, 2));
            if (srid == 0)
                srid = src.column_srid;
            try {
                OGRGeometry* raw = nullptr;
                io::gdal::ErrorScope errors;
                if (OGRGeometryFactory::createFromWkb(wkb.data(), nullptr, &raw, wkb.size()) !=
                        OGRERR_NONE ||
                    !raw)
                    throw InputError("unreadable WKB");
                std::unique_ptr<OGRGeometry> geom(raw);
                if (geom->IsEmpty()) {
                    ++stats.empty;
                    log::debug("rasterize: parcel " + std::to_string(pid) + " is empty");
                    continue;
                }
                const auto flat = wkbFlatten(geom->getGeometryType());
                if (flat != wkbPolygon && flat != wkbMultiPolygon &&
                    flat != wkbGeometryCollection) {
                    ++stats.empty;
                    ++stats.not_polygonal;
                    log::warn("rasterize: parcel " + std::to_string(pid) + " is a " +
                              OGRGeometryTypeToName(geom->getGeometryType()) +
                              ", not a polygon; no mask");
                    continue;
                }
                bool repaired = false;
                if (!geom->IsValid()) {
                    std::unique_ptr<OGRGeometry> fixed(geom->MakeValid());
                    if (!fixed)
                        throw InputError("invalid geometry that MakeValid cannot repair: " +
                                         errors.last_error());
                    geom = std::move(fixed);
                    repaired = true;
                }
                if (OGRCoordinateTransformation* ct = reproject.get(srid)) {
                    if (geom->transform(ct) != OGRERR_NONE)
                        throw InputError("cannot reproject to EPSG:" + std::to_string(epsg) +
                                         (errors.last_error().empty()
                                              ? std::string()
                                              : ": " + errors.last_error()));
                }
                Parcel p;
                p.pid = pid;
                collect_polygons(*geom, p.geometry);
                if (p.geometry.empty()) {
                    ++stats.empty;
                    log::debug("rasterize: parcel " + std::to_string(pid) +
                               " has no polygonal part");
                    continue;
                }
                if (extent && !meets(p.geometry, *extent)) {
                    ++stats.outside;
                    continue;
                }
                if (repaired) {
                    ++stats.invalid;
                    log::debug("rasterize: parcel " + std::to_string(pid) +
                               " was invalid; repaired");
                }
                out.push_back(std::move(p));
            } catch (const InputError& e) {
                ++stats.failed;
                log::warn("rasterize: parcel " + std::to_string(pid) + ": " + e.what() +
                          "; no mask");
            }
        }
        progress.advance(rows.size());
        check_interrupted();
    }
    progress.finish();
    tx.commit();
    return out;
}

void ensure_raster_type(db::Connection& conn, bool create, bool dry_run) {
    auto r = conn.exec("SELECT to_regtype('raster') IS NOT NULL");
    if (r.boolean(0, 0))
        return;
    if (!create || dry_run)
        throw DatabaseError("the PostGIS raster type is missing on " + conn.describe(),
                            "Run CREATE EXTENSION postgis_raster, or rerun with --create-tables");
    conn.exec("CREATE EXTENSION IF NOT EXISTS postgis_raster");
    log::info("rasterize: created the postgis_raster extension");
}

// What one parcel's mask came to; made on a worker thread, used in parcel order.
struct MaskResult {
    enum Kind { Written, Kept, SubPixel, Failed } kind = Written;
    std::string hex;     // Written: the raster WKB
    std::string message; // Failed: why, after "parcel <pid>"
};

constexpr std::size_t MASK_BATCH = 2048;

// fn(i) for i in [0, n) on up to `threads` threads (zonal::rasterize and mask_raster_hex are pure
// functions of their arguments). The first exception is rethrown once all threads have stopped.
template <class Fn> void parallel_masks(std::size_t n, int threads, Fn&& fn) {
    const std::size_t nt = std::min<std::size_t>(static_cast<std::size_t>(std::max(threads, 1)), n);
    if (nt <= 1) {
        for (std::size_t i = 0; i < n; ++i)
            fn(i);
        return;
    }
    std::atomic<std::size_t> next{0};
    std::exception_ptr error;
    std::mutex error_mutex;
    auto worker = [&] {
        for (std::size_t i = next.fetch_add(1); i < n; i = next.fetch_add(1)) {
            try {
                fn(i);
            } catch (...) {
                std::lock_guard lock(error_mutex);
                if (!error)
                    error = std::current_exception();
                next.store(n);
            }
        }
    };
    std::vector<std::thread> pool;
    for (std::size_t t = 1; t < nt; ++t)
        pool.emplace_back(worker);
    worker();
    for (auto& t : pool)
        t.join();
    if (error)
        std::rethrow_exception(error);
}

RasterizeTableSummary write_table(db::Connection& conn, const Source& src,
                                  const std::vector<Parcel>& parcels, int epsg, int res,
                                  const RasterizeRequest& request) {
    const auto t0 = std::chrono::steady_clock::now();
    RasterizeTableSummary s;
    const db::QualifiedName target = mask_table_name(src.table, epsg, res);
    s.table = target.display();
    s.epsg = epsg;
    s.res = res;
    const zonal::PixelGrid grid{0, 0, static_cast<double>(res), static_cast<double>(res)};
    const zonal::PixelRule rule =
        request.all_touched ? zonal::PixelRule::AllTouched : zonal::PixelRule::Centre;

    db::Transaction tx(conn, "rasterize");
    // Two runs on one mask table wait for each other.
    tx.exec_params("SELECT pg_advisory_xact_lock(hashtext($1))", "baims.rast:" + target.quoted());
    const bool exists = db::table_exists(tx, target);
    const bool incremental = request.only_new && exists;
    std::unordered_set<std::int64_t> have;
    if (incremental) {
        auto r = tx.exec("SELECT pid FROM " + target.quoted());
        for (std::size_t i = 0; i < r.size(); ++i)
            have.insert(r.int64(i, 0));
    }
    const db::QualifiedName load =
        incremental ? target : target.with_name(db::derived_name(target.name, "_baims_new"));
    if (request.dry_run) {
        log::info("dry run: would " +
                  std::string(incremental ? "add missing masks to "
                              : exists    ? "rebuild "
                                          : "create ") +
                  target.display() + "; nothing written");
        return s;
    }
    if (!incremental) {
        tx.exec("DROP TABLE IF EXISTS " + load.quoted());
        tx.exec("CREATE TABLE " + load.quoted() + " (pid integer NOT NULL, rast raster)");
    }
    {
        Progress progress("masks " + target.display(), parcels.size(), "parcels");
        db::CopyWriter copy(tx, load, {"pid", "rast"});
        std::vector<MaskResult> batch;
        for (std::size_t first = 0; first < parcels.size(); first += MASK_BATCH) {
            const std::size_t n = std::min(MASK_BATCH, parcels.size() - first);
            batch.assign(n, MaskResult{});
            parallel_masks(n, request.threads, [&](std::size_t i) {
                const Parcel& p = parcels[first + i];
                MaskResult& out = batch[i];
                if (incremental && have.count(p.pid)) {
                    out.kind = MaskResult::Kept;
                    return;
                }
                zonal::Mask m;
                try {
                    m = zonal::rasterize(p.geometry, grid, rule);
                } catch (const InputError& e) {
                    out.kind = MaskResult::Failed;
                    out.message = ": " + std::string(e.what()) + "; no mask";
                    return;
                }
                if (m.width > 65535 || m.height > 65535) {
                    out.kind = MaskResult::Failed;
                    out.message = " spans " + std::to_string(m.width) + " x " +
                                  std::to_string(m.height) +
                                  " pixels, more than a PostGIS raster holds; no mask";
                } else if (m.width == 0) {
                    out.kind = MaskResult::SubPixel;
                } else {
                    out.hex = mask_raster_hex(m, res, epsg);
                }
            });
            // In parcel order, whatever thread made each mask.
            for (std::size_t i = 0; i < n; ++i) {
                const Parcel& p = parcels[first + i];
                switch (batch[i].kind) {
                case MaskResult::Kept:
                    ++s.kept;
                    break;
                case MaskResult::Failed:
                    ++s.failed;
                    log::warn("rasterize: parcel " + std::to_string(p.pid) + batch[i].message);
                    break;
                case MaskResult::SubPixel:
                    ++s.subpixel;
                    log::debug("rasterize: parcel " + std::to_string(p.pid) +
                               " selects no pixel at " + std::to_string(res) + " m");
                    break;
                case MaskResult::Written:
                    copy.add_raw(std::to_string(p.pid));
                    copy.add_raw(batch[i].hex);
                    copy.end_row();
                    break;
                }
            }
            progress.advance(n);
            check_interrupted();
        }
        copy.complete();
        s.written = static_cast<std::int64_t>(copy.rows());
        progress.finish();
    }
    check_interrupted();
    if (!incremental) {
        const std::string pkey = db::derived_name(target.name, "_pkey");
        tx.exec("ALTER TABLE " + load.quoted() + " ADD CONSTRAINT " +
                db::quote_ident(db::derived_name(load.name, "_pkey")) + " PRIMARY KEY (pid)");
        if (exists)
            tx.exec("DROP TABLE " + target.quoted());
        tx.exec("ALTER TABLE " + load.quoted() + " RENAME TO " + db::quote_ident(target.name));
        tx.exec("ALTER TABLE " + target.quoted() + " RENAME CONSTRAINT " +
                db::quote_ident(db::derived_name(load.name, "_pkey")) + " TO " +
                db::quote_ident(pkey));
    }
    tx.commit();
    s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return s;
}

// Parcels that lie beyond every Sentinel-2 tile of the zone (eastings of the zone's tiles are
// within ~100..900 km; a parcel 300 km beyond is some 3 degrees outside the zone even at 60N,
// or across the equator from its hemisphere) get masks no image of that zone uses, and far from
// its central meridian the projection makes them huge: --epsg 32633 for parcels of zone 17 took
// minutes for 100 parcels and ended with exit 0. All of them so: refused (exit 2) with the zone
// of the AOI; some: a warning.
void check_zone(const std::vector<Parcel>& parcels, int epsg, const AoiGeometry* aoi,
                const std::string& aoi_name) {
    const bool north = epsg < 32700;
    std::size_t outside = 0;
    for (const auto& p : parcels) {
        const OGREnvelope b = bounds(p.geometry);
        if (!(b.MinX <= b.MaxX))
            continue; // no vertex (an empty geometry: counted elsewhere)
        const bool off =
            b.MaxX < -200000 || b.MinX > 1200000 || (north ? b.MaxY < -500000 : b.MinY > 10500000);
        outside += off ? 1 : 0;
    }
    if (outside == 0)
        return;
    const int zone = epsg % 100;
    const std::string name = "UTM zone " + std::to_string(zone) + (north ? "N" : "S") +
                             " (EPSG:" + std::to_string(epsg) + ", longitude " +
                             std::to_string(-180 + 6 * (zone - 1)) + ".." +
                             std::to_string(-180 + 6 * zone) + ")";
    if (outside < parcels.size()) {
        log::warn("rasterize: " + std::to_string(outside) + " of " +
                  std::to_string(parcels.size()) + " parcels lie beyond the Sentinel-2 tiles of " +
                  name + ": their masks are not used by any image of that zone");
        return;
    }
    std::string meant;
    if (aoi) {
        const OGREnvelope e = aoi_extent(*aoi, 4326);
        const double lon = (e.MinX + e.MaxX) / 2, lat = (e.MinY + e.MaxY) / 2;
        const int z = std::clamp(static_cast<int>(std::floor((lon + 180) / 6)) + 1, 1, 60);
        meant = ": AOI '" + aoi_name + "' lies in zone " + std::to_string(z) +
                (lat >= 0 ? "N" : "S") + ", --epsg " +
                std::to_string((lat >= 0 ? 32600 : 32700) + z);
    }
    throw UsageError("--epsg " + std::to_string(epsg) + ": none of the " +
                         std::to_string(parcels.size()) +
                         " parcels lies within the Sentinel-2 tiles of " + name,
                     "Give the zone of the parcels" + meant);
}

} // namespace

RasterizeSummary rasterize_parcels(const RasterizeRequest& request,
                                   const db::ConnectionSettings& settings) {
    // Sentinel-2 (and the CARD products extract reads) are on the WGS 84 UTM zones at 10, 20
    // and 60 m: masks on another grid are never used (--epsg 4326 made tables of "100 parcels
    // smaller than a pixel", --res 30 a table no pass reads, both with exit 0).
    for (int r : request.res)
        if (r != 10 && r != 20 && r != 60)
            throw UsageError("--res " + std::to_string(r) +
                                 " is not a resolution of the Sentinel-2 grids",
                             "Use --res 10, 20 or 60 (metres)");
    for (int e : request.epsg)
        if (!((e >= 32601 && e <= 32660) || (e >= 32701 && e <= 32760)))
            throw UsageError("--epsg " + std::to_string(e) + " is not a WGS 84 UTM zone",
                             "Sentinel-2 tiles are on EPSG:32601-32660 (north) and "
                             "EPSG:32701-32760 (south), e.g. --epsg 32632");
    RasterizeSummary summary;
    db::Connection conn(settings);
    const Source src = resolve_source(conn, request, settings);
    std::vector<int> epsgs = request.epsg;
    if (epsgs.empty()) {
        epsgs = derive_epsg(conn, request, settings);
        std::string list;
        for (int e : epsgs)
            list += (list.empty() ? "" : ", ") + ("EPSG:" + std::to_string(e));
        log::info("rasterize: UTM zones of AOI '" + request.aoi + "' from the catalogue: " + list);
    }
    std::optional<AoiGeometry> aoi;
    if (!request.all_parcels)
        aoi = load_aoi(conn, request, settings);
    for (int e : epsgs)
        for (int r : request.res)
            mask_table_name(src.table, e, r); // validate every name before any work
    ensure_raster_type(conn, request.create_extension, request.dry_run);
    log::info("rasterize: parcels " + src.table.display() + " (pid " + db::quote_ident(src.pid) +
              ", geometry " + db::quote_ident(src.geometry) + ") on " + conn.describe() + ", " +
              (request.all_touched ? "all touched" : "pixel centre") +
              (request.only_new ? ", only new parcels" : "") +
              (aoi ? ", parcels in the extent of AOI '" + request.aoi + "'" : ", every parcel") +
              ", " + std::to_string(std::max(1, request.threads)) + " threads");
    for (int epsg : epsgs) {
        ReadStats rs;
        const auto t0 = std::chrono::steady_clock::now();
        std::optional<OGREnvelope> extent;
        if (aoi)
            extent = aoi_extent(*aoi, epsg);
        const std::vector<Parcel> parcels = read_parcels(conn, src, epsg, extent, rs);
        log::info(
            "rasterize: read " + std::to_string(rs.parcels) +
            " parcels for EPSG:" + std::to_string(epsg) + " in " +
            str(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()) +
            " s");
        check_zone(parcels, epsg, aoi ? &*aoi : nullptr, request.aoi);
        summary.parcels = rs.parcels;
        summary.invalid = rs.invalid;
        summary.empty = rs.empty;
        summary.not_polygonal = rs.not_polygonal;
        summary.outside = rs.outside;
        summary.failed += rs.failed;
        for (int res : request.res) {
            RasterizeTableSummary t = write_table(conn, src, parcels, epsg, res, request);
            if (!request.dry_run)
                log::info("rasterize: " + t.table + ": " + std::to_string(t.written) +
                          " masks written" +
                          (request.only_new ? ", " + std::to_string(t.kept) + " kept" : "") + ", " +
                          std::to_string(t.subpixel) + " parcels smaller than a pixel, " +
                          str(t.seconds) + " s");
            summary.failed += t.failed;
            summary.tables.push_back(t);
        }
    }
    std::int64_t written = 0, subpixel = 0;
    for (const auto& t : summary.tables) {
        written += t.written;
        subpixel += t.subpixel;
    }
    log::info("rasterize: done: " + std::to_string(summary.parcels) + " parcels, " +
              std::to_string(summary.tables.size()) + " tables, " + std::to_string(written) +
              " masks; " + std::to_string(summary.invalid) + " invalid (repaired), " +
              std::to_string(summary.empty) + " empty, " + std::to_string(subpixel) +
              " smaller than a pixel, " + std::to_string(summary.failed) + " failed" +
              (aoi ? ", " + std::to_string(summary.outside) + " outside the AOI" : ""));
    return summary;
}

} // namespace baims::parcels
