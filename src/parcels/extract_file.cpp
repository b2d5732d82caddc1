// `baims extract` file mode: GDAL raster(s) × OGR polygons → rows through OGR.

#include "baims/core/error.hpp"
#include "baims/core/log.hpp"
#include "baims/core/text.hpp"
#include "baims/io/gdal.hpp"
#include "baims/parcels/extract.hpp"
#include "baims/zonal/mask.hpp"
#include "baims/zonal/raster_source.hpp"

#include <gdal.h>
#include <ogr_api.h>
#include <ogr_geometry.h>
#include <ogr_spatialref.h>
#include <ogrsf_frmts.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <sys/statvfs.h>
#include <unistd.h>

namespace baims::parcels {
namespace {

namespace fs = std::filesystem;

struct Parcel {
    std::string id;
    std::unique_ptr<OGRGeometry> geometry; // in the source CRS
};

struct ParcelSet {
    std::string id_name = "pid";
    OGRFieldType id_type = OFTInteger64;
    std::unique_ptr<OGRSpatialReference> srs;
    std::vector<Parcel> parcels;
};

// "<what> 'name' (did you mean 'x'?). <list>: a, b, c" as a UsageError.
[[noreturn]] void no_such(const std::string& what, const std::string& name,
                          const std::vector<std::string>& names, const std::string& list) {
    const std::string guess = text::did_you_mean(name, names);
    throw UsageError(what + " '" + name + "'" +
                         (guess.empty() ? "" : " (did you mean '" + guess + "'?)"),
                     list + ": " + text::join(names, ", "));
}

ParcelSet read_parcels(const FileExtractRequest& r) {
    io::gdal::register_drivers();
    io::gdal::ErrorScope errors;
    GDALDatasetUniquePtr ds(
        GDALDataset::Open(r.parcels.c_str(), GDAL_OF_VECTOR | GDAL_OF_READONLY));
    if (!ds) {
        std::string why = errors.last_error();
        throw InputError("cannot open parcels '" + r.parcels + "'" +
                             (why.empty() ? "" : ": " + why),
                         "Check the path and that OGR reads this format (ogrinfo)");
    }
    OGRLayer* layer = nullptr;
    if (!r.layer.empty()) {
        layer = ds->GetLayerByName(r.layer.c_str());
        if (!layer) {
            std::vector<std::string> names;
            for (int i = 0; i < ds->GetLayerCount(); ++i) {
                names.emplace_back(ds->GetLayer(i)->GetName());
            }
            no_such("parcels '" + r.parcels + "' have no layer", r.layer, names, "Layers");
        }
    } else {
        if (ds->GetLayerCount() < 1) {
            throw InputError("parcels '" + r.parcels + "' have no layer", "Give a vector data set");
        }
        if (ds->GetLayerCount() > 1) {
            throw UsageError("parcels '" + r.parcels + "' have " +
                                 std::to_string(ds->GetLayerCount()) + " layers",
                             "Choose one with --layer");
        }
        layer = ds->GetLayer(0);
    }
    ParcelSet set;
    int id_index = -1;
    if (!r.id_field.empty()) {
        id_index = layer->GetLayerDefn()->GetFieldIndex(r.id_field.c_str());
        if (id_index < 0) {
            std::vector<std::string> names;
            const OGRFeatureDefn* defn = layer->GetLayerDefn();
            for (int i = 0; i < defn->GetFieldCount(); ++i) {
                names.emplace_back(defn->GetFieldDefn(i)->GetNameRef());
            }
            no_such("parcels '" + r.parcels + "' have no field", r.id_field, names, "Fields");
        }
        set.id_name = r.id_field;
        OGRFieldType t = layer->GetLayerDefn()->GetFieldDefn(id_index)->GetType();
        set.id_type = (t == OFTInteger || t == OFTInteger64) ? OFTInteger64 : OFTString;
    }
    if (const OGRSpatialReference* srs = layer->GetSpatialRef()) {
        set.srs.reset(srs->Clone());
        set.srs->SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
    } else {
        // (a shapefile without its .prj: its coordinates are taken as they are, in each
        // raster's CRS; said, since parcels in degrees over a raster in metres give no rows)
        log::warn("extract: parcels '" + r.parcels +
                  "' have no CRS (a shapefile without its .prj?): their coordinates are taken "
                  "in the CRS of each raster");
    }
    layer->ResetReading();
    for (auto& f : *layer) {
        Parcel p;
        if (id_index >= 0) {
            if (!f->IsFieldSetAndNotNull(id_index)) {
                throw InputError("parcel with FID " + std::to_string(f->GetFID()) + " of '" +
                                     r.parcels + "' has no value in '" + r.id_field + "'",
                                 "Choose an id field set on every feature");
            }
            p.id = f->GetFieldAsString(id_index);
        } else {
            p.id = std::to_string(f->GetFID());
        }
        if (OGRGeometry* g = f->GetGeometryRef()) {
            p.geometry.reset(g->clone());
        }
        set.parcels.push_back(std::move(p));
    }
    if (errors.failed()) {
        throw InputError("cannot read parcels '" + r.parcels + "': " + errors.last_error(),
                         "Check the file with ogrinfo");
    }
    return set;
}

void add_polygon(const OGRPolygon& poly, zonal::MultiPolygon& out) {
    zonal::Polygon p;
    for (const OGRLinearRing* ring : poly) {
        zonal::Ring r;
        for (const OGRPoint& pt : *ring) {
            r.x.push_back(pt.getX());
            r.y.push_back(pt.getY());
        }
        p.rings.push_back(std::move(r));
    }
    if (!p.rings.empty()) {
        out.push_back(std::move(p));
    }
}

// Polygonal parts of a geometry (Polygon, MultiPolygon, collections, curves linearised).
void collect(const OGRGeometry& g, zonal::MultiPolygon& out) {
    switch (wkbFlatten(g.getGeometryType())) {
    case wkbPolygon:
        add_polygon(*g.toPolygon(), out);
        break;
    case wkbMultiPolygon:
    case wkbGeometryCollection:
        for (const OGRGeometry* part : *g.toGeometryCollection()) {
            collect(*part, out);
        }
        break;
    case wkbCurvePolygon:
    case wkbMultiSurface: {
        std::unique_ptr<OGRGeometry> lin(g.getLinearGeometry());
        if (lin) {
            collect(*lin, out);
        }
        break;
    }
    default:
        break; // points and lines select nothing
    }
}

std::vector<int> resolve_bands(const zonal::RasterInfo& info,
                               const std::vector<std::string>& bands) {
    std::vector<int> out;
    for (const auto& b : bands) {
        bool digits = !b.empty() &&
                      std::all_of(b.begin(), b.end(), [](char c) { return c >= '0' && c <= '9'; });
        if (digits) {
            const int n = b.size() <= 6 ? std::stoi(b) : 0;
            if (n < 1 || n > info.band_count) {
                throw UsageError("raster '" + info.path + "' has no band " + b + " (it has " +
                                     std::to_string(info.band_count) + ")",
                                 "Choose bands 1 to " + std::to_string(info.band_count));
            }
            out.push_back(n);
            continue;
        }
        auto it = std::find(info.band_names.begin(), info.band_names.end(), b);
        if (it == info.band_names.end()) {
            std::string names;
            for (const auto& n : info.band_names) {
                names += (names.empty() ? "" : ", ") + n;
            }
            throw UsageError("raster '" + info.path + "' has no band '" + b + "'",
                             "Bands are numbers from 1 or names: " + names);
        }
        out.push_back(static_cast<int>(it - info.band_names.begin()) + 1);
    }
    return out;
}

// The OGR driver of the output: --format, else from the extension (CSV, GPKG, GeoJSON: the
// formats tested). Another extension is refused: OGR's CSV driver took any other name as a
// folder of CSV files (-o sigs.xlsx made a folder 'sigs.xlsx' holding 'sigs.csv'), and .fgb
// (FlatGeobuf) wrote none of the rows (it keeps no table without geometry), both with exit 0.
std::string driver_for(const FileExtractRequest& r) {
    if (!r.format.empty()) {
        return r.format;
    }
    if (r.output.rfind("PG:", 0) == 0) {
        return "PostgreSQL";
    }
    std::string ext = fs::path(r.output).extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    static const std::vector<std::pair<std::string, std::string>> by_ext = {
        {"", "CSV"},       {".csv", "CSV"},      {".txt", "CSV"},
        {".gpkg", "GPKG"}, {".json", "GeoJSON"}, {".geojson", "GeoJSON"}};
    for (const auto& [e, driver] : by_ext) {
        if (ext == e) {
            return driver;
        }
    }
    throw UsageError("-o '" + r.output + "': baims does not write '" + ext + "' files",
                     "Use .csv, .gpkg or .geojson, or give another OGR driver with --format");
}

// The driver that writes the output; a UsageError when it is not one that can create.
GDALDriver* output_driver(const std::string& driver_name) {
    io::gdal::register_drivers();
    GDALDriver* driver = GetGDALDriverManager()->GetDriverByName(driver_name.c_str());
    if (!driver || !driver->GetMetadataItem(GDAL_DCAP_CREATE)) {
        throw UsageError("--format '" + driver_name + "' is not an OGR driver that can create",
                         "Use CSV, GPKG, GeoJSON or another OGR vector driver (ogrinfo --formats)");
    }
    return driver;
}

struct OutputRow {
    std::size_t parcel = 0;
    std::size_t raster = 0;
    std::string band;
    zonal::Stats stats;
    std::string hist;
};

// Why writing the output failed: the driver's first failure (the cause: GPKG on a full disk
// fails to make its tables, then says "no such table" at each write), else (OGR's CSV writer
// says nothing when a write falls short) the system's reason, else what the folder's file system
// shows.
std::string write_reason(const io::gdal::ErrorScope& errors, int err, const fs::path& dir) {
    if (!errors.first_error().empty()) {
        return errors.first_error();
    }
    if (err == ENOSPC || err == EDQUOT || err == EIO || err == EFBIG) {
        return std::strerror(err);
    }
    struct statvfs st {};
    if (::statvfs(dir.empty() ? "." : dir.c_str(), &st) == 0 && st.f_bavail == 0) {
        return std::strerror(ENOSPC);
    }
    return "the output driver gave no reason";
}

void write_rows(const FileExtractRequest& r, const ParcelSet& set,
                const std::vector<OutputRow>& rows) {
    const std::string driver_name = driver_for(r);
    GDALDriver* driver = output_driver(driver_name);
    const bool is_file = driver_name != "PostgreSQL" && r.output.rfind("/vsi", 0) != 0;
    fs::path target(r.output);
    fs::path temp = target;
    if (is_file) {
        // (a CSV temporary ends in .csv whatever the output's name: OGR's CSV driver makes a
        // folder of any other name)
        temp = target.parent_path() /
               ("." + target.filename().string() + ".tmp" + std::to_string(::getpid()) +
                (driver_name == "CSV" ? std::string(".csv") : target.extension().string()));
        std::error_code ec;
        fs::remove_all(temp, ec);
    }
    // A failed run leaves no temporary file (on a full disk it would hold the space a rerun
    // needs): removed once the dataset is closed, unless it was renamed into place.
    struct RemoveTemp {
        fs::path path;
        bool armed = false;
        ~RemoveTemp() {
            if (armed) {
                std::error_code ec;
                fs::remove_all(path, ec);
            }
        }
    } remove_temp{temp, is_file};
    const std::string layer_name = target.stem().string().empty() ? "sigs" : target.stem().string();
    {
        io::gdal::ErrorScope errors;
        GDALDatasetUniquePtr ds(
            driver->Create(temp.string().c_str(), 0, 0, 0, GDT_Unknown, nullptr));
        if (!ds) {
            throw OutputError("cannot create '" + r.output + "'" +
                                  (errors.last_error().empty() ? "" : ": " + errors.last_error()),
                              "Check that the folder exists and is writable");
        }
        OGRLayer* layer = ds->CreateLayer(layer_name.c_str(), nullptr, wkbNone, nullptr);
        if (!layer) {
            throw OutputError("cannot create layer '" + layer_name + "' in '" + r.output +
                                  "': " + errors.last_error(),
                              "Check the output format");
        }
        auto add = [&](const char* name, OGRFieldType t, OGRFieldSubType st = OFSTNone) {
            OGRFieldDefn f(name, t);
            f.SetSubType(st);
            if (layer->CreateField(&f) != OGRERR_NONE) {
                throw OutputError("cannot create field '" + std::string(name) + "' in '" +
                                      r.output + "': " + errors.last_error(),
                                  "Check the output format");
            }
        };
        add(set.id_name.c_str(), set.id_type);
        const bool several = r.rasters.size() > 1;
        if (several) {
            add("raster", OFTString);
        }
        add("band", OFTString);
        if (r.hist) {
            add("hist", OFTString, OFSTJSON);
        } else {
            add("count", OFTInteger64);
            for (const char* n : {"mean", "std", "min", "max", "p25", "p50", "p75"}) {
                // Float32 values in double fields: OGR's CSV writer prints float32 fields with too
                // few digits to read the same float back (116.494995 → "116.495").
                add(n, OFTReal);
            }
        }
        const bool transaction = ds->StartTransaction() == OGRERR_NONE;
        for (const auto& row : rows) {
            OGRFeature f(layer->GetLayerDefn());
            int i = 0;
            const std::string& id = set.parcels[row.parcel].id;
            if (set.id_type == OFTInteger64) {
                f.SetField(i++, static_cast<GIntBig>(std::stoll(id)));
            } else {
                f.SetField(i++, id.c_str());
            }
            if (several) {
                f.SetField(i++, r.rasters[row.raster].c_str());
            }
            f.SetField(i++, row.band.c_str());
            if (r.hist) {
                f.SetField(i++, row.hist.c_str());
            } else {
                const auto& s = row.stats;
                f.SetField(i++, static_cast<GIntBig>(s.count));
                for (double v : {s.mean, s.std, s.min, s.max, s.p25, s.p50, s.p75}) {
                    f.SetField(i++, static_cast<double>(static_cast<float>(v))); // stored as real
                }
            }
            errno = 0;
            if (layer->CreateFeature(&f) != OGRERR_NONE) {
                const int err = errno;
                throw OutputError("cannot write to '" + r.output +
                                      "': " + write_reason(errors, err, target.parent_path()),
                                  "Check the free space and the output format");
            }
        }
        errno = 0;
        if (transaction && ds->CommitTransaction() != OGRERR_NONE) {
            const int err = errno;
            throw OutputError("cannot write to '" + r.output +
                                  "': " + write_reason(errors, err, target.parent_path()),
                              "Check the free space and the output format");
        }
        GDALDataset* raw = ds.release();
        errno = 0;
        GDALClose(raw); // void in GDAL 3.6: a failed flush shows as an error in `errors`
        const int err = errno;
        if (errors.failed()) {
            throw OutputError("cannot write '" + r.output +
                                  "': " + write_reason(errors, err, target.parent_path()),
                              "Check the free space and the output format");
        }
    }
    if (is_file && driver_name != "CSV" && driver_name != "GPKG" && driver_name != "GeoJSON") {
        // Another driver (--format) is read back before the output is published: some keep no
        // table without geometry (FlatGeobuf, SQLite here: the run ended with exit 0 and an
        // output without its rows).
        io::gdal::ErrorScope errors;
        GDALDatasetUniquePtr back(
            GDALDataset::Open(temp.c_str(), GDAL_OF_VECTOR | GDAL_OF_READONLY));
        OGRLayer* layer = back ? back->GetLayerByName(layer_name.c_str()) : nullptr;
        const GIntBig n = layer ? layer->GetFeatureCount(TRUE) : -1;
        if (n != static_cast<GIntBig>(rows.size())) {
            throw OutputError(
                "--format " + driver_name + " did not keep the rows: reading '" + r.output +
                    "' back gives " +
                    (n < 0 ? std::string("no layer '" + layer_name + "'")
                           : std::to_string(n) + " of " + std::to_string(rows.size()) + " rows"),
                "Use CSV, GPKG or GeoJSON");
        }
    }
    if (is_file) {
        std::error_code ec;
        fs::rename(temp, target, ec);
        if (ec) {
            throw OutputError("cannot rename the finished output to '" + r.output +
                                  "': " + ec.message(),
                              "Check that the target is not a folder and is writable");
        }
        remove_temp.armed = false;
    }
}

// The parcels' masks on the raster's grid (pixel centre rule, or all touched).
std::vector<zonal::Mask> make_masks(const FileExtractRequest& r, const ParcelSet& set,
                                    const zonal::RasterInfo& info) {
    OGRSpatialReference raster_srs;
    raster_srs.importFromWkt(info.crs_wkt.c_str());
    raster_srs.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
    std::unique_ptr<OGRCoordinateTransformation> ct;
    if (set.srs && !set.srs->IsSame(&raster_srs)) {
        ct.reset(OGRCreateCoordinateTransformation(set.srs.get(), &raster_srs));
        if (!ct) {
            throw InputError("cannot transform the parcels of '" + r.parcels + "' to the CRS of '" +
                                 info.path + "'",
                             "Check both CRS (ogrinfo, gdalinfo)");
        }
    }
    std::vector<zonal::Mask> masks(set.parcels.size());
    const auto rule = r.all_touched ? zonal::PixelRule::AllTouched : zonal::PixelRule::Centre;
    for (std::size_t i = 0; i < set.parcels.size(); ++i) {
        const auto& g = set.parcels[i].geometry;
        if (!g) {
            continue;
        }
        zonal::MultiPolygon mp;
        if (ct) {
            std::unique_ptr<OGRGeometry> t(g->clone());
            if (t->transform(ct.get()) != OGRERR_NONE) {
                log::warn("parcel " + set.parcels[i].id + " cannot be transformed to the CRS of '" +
                          info.path + "'; skipped");
                continue;
            }
            collect(*t, mp);
        } else {
            collect(*g, mp);
        }
        masks[i] = zonal::rasterize(mp, info.grid, rule);
    }
    return masks;
}

} // namespace

namespace {
// The file an input name opens: the name itself, or the quoted file of a GDAL subdataset name
// (NETCDF:"f.nc":var); empty when neither exists.
fs::path input_file(const std::string& name) {
    std::error_code ec;
    if (fs::exists(name, ec)) {
        return name;
    }
    const auto q0 = name.find('"');
    const auto q1 = q0 == std::string::npos ? q0 : name.find('"', q0 + 1);
    if (q1 != std::string::npos && fs::exists(name.substr(q0 + 1, q1 - q0 - 1), ec)) {
        return name.substr(q0 + 1, q1 - q0 - 1);
    }
    return {};
}

// -o naming an input (the parcels file, a raster): the output would replace it when renamed
// into place (an extract -o parcels.gpkg replaced the parcels with the statistics, exit 0).
void check_output_is_not_an_input(const FileExtractRequest& r) {
    std::error_code ec;
    if (r.output.empty() || !fs::exists(r.output, ec)) {
        return;
    }
    std::vector<std::pair<std::string, std::string>> inputs{{"--parcels", r.parcels}};
    for (const auto& raster : r.rasters) {
        inputs.emplace_back("--raster", raster);
    }
    for (const auto& [option, name] : inputs) {
        const fs::path f = input_file(name);
        if (!f.empty() && fs::equivalent(f, r.output, ec)) {
            throw UsageError("-o '" + r.output + "' is the " + option + " input '" + name +
                                 "': the output would replace it",
                             "Give the output another name");
        }
    }
}
} // namespace

FileExtractSummary extract_file(const FileExtractRequest& r) {
    if (r.rasters.empty()) {
        throw UsageError("no --raster given", "Give one or more rasters with --raster FILE");
    }
    check_output_is_not_an_input(r);
    if (!r.output.empty()) {
        output_driver(driver_for(r)); // before the work: an output it cannot write is refused
    }
    std::vector<zonal::RasterInfo> infos;
    std::vector<std::vector<int>> bands;
    for (const auto& path : r.rasters) {
        infos.push_back(zonal::describe_raster(path));
        bands.push_back(resolve_bands(infos.back(), r.bands));
        if (infos.back().crs_wkt.empty() && !r.a_srs.empty()) {
            OGRSpatialReference srs;
            if (srs.SetFromUserInput(r.a_srs.c_str()) != OGRERR_NONE) {
                throw UsageError("--a-srs '" + r.a_srs + "' is not a CRS",
                                 "Give e.g. EPSG:4326 or a WKT/PROJ string");
            }
            char* wkt = nullptr;
            srs.exportToWkt(&wkt);
            infos.back().crs_wkt = wkt;
            CPLFree(wkt);
        }
        if (infos.back().crs_wkt.empty()) {
            throw InputError("raster '" + path + "' has no CRS",
                             "Say what it is with --a-srs (e.g. EPSG:4326)");
        }
    }
    ParcelSet set = read_parcels(r);
    driver_for(r);
    FileExtractSummary summary;
    summary.parcels = set.parcels.size();
    if (r.dry_run) {
        return summary;
    }
    std::vector<OutputRow> rows;
    // Masks depend on the CRS and the pixel grid only: rasters on the grid of the one before
    // (the band files of one Sentinel-2 resolution) reuse its masks.
    std::vector<zonal::Mask> masks;
    const zonal::RasterInfo* masks_of = nullptr;
    auto same_grid = [](const zonal::RasterInfo& a, const zonal::RasterInfo& b) {
        return a.crs_wkt == b.crs_wkt && a.grid.origin_x == b.grid.origin_x &&
               a.grid.origin_y == b.grid.origin_y && a.grid.res_x == b.grid.res_x &&
               a.grid.res_y == b.grid.res_y;
    };
    for (std::size_t ri = 0; ri < infos.size(); ++ri) {
        const auto& info = infos[ri];
        if (!masks_of || !same_grid(*masks_of, info)) {
            masks = make_masks(r, set, info);
            masks_of = &info;
        }
        zonal::ZonalOptions o;
        o.bands = bands[ri];
        o.hist = r.hist;
        o.zero_is_nodata = r.zero_is_nodata;
        o.threads = r.threads;
        zonal::ZonalResult res = zonal::zonal_statistics(info, masks, o);
        std::vector<std::uint8_t> has_row(set.parcels.size(), 0);
        if (r.hist) {
            for (auto& h : res.hists) {
                has_row[h.zone] = 1;
                rows.push_back({h.zone,
                                ri,
                                info.band_names[static_cast<std::size_t>(h.band - 1)],
                                {},
                                std::move(h.json)});
            }
        } else {
            for (const auto& s : res.stats) {
                has_row[s.zone] = 1;
                rows.push_back({s.zone,
                                ri,
                                info.band_names[static_cast<std::size_t>(s.band - 1)],
                                s.stats,
                                {}});
            }
        }
        for (auto v : has_row) {
            summary.empty_parcels += v ? 0 : 1;
        }
        log::info("extract: '" + info.path + "': " + std::to_string(res.blocks_read) + " of " +
                  std::to_string(res.blocks_total) + " blocks read");
    }
    std::stable_sort(rows.begin(), rows.end(),
                     [](const OutputRow& a, const OutputRow& b) { return a.parcel < b.parcel; });
    summary.rows = rows.size();
    write_rows(r, set, rows);
    return summary;
}

} // namespace baims::parcels
