#include "baims/vector/layer_reader.hpp"

#include "baims/core/error.hpp"
#include "baims/core/log.hpp"
#include "baims/core/text.hpp"
#include "baims/io/gdal.hpp"
#include "baims/vector/field_codec.hpp"

#include <cpl_string.h>
#include <cpl_vsi.h>
#include <gdal_priv.h>
#include <ogr_geometry.h>
#include <ogr_spatialref.h>
#include <ogrsf_frmts.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <set>

namespace baims::vector {

std::string Field::pg_type() const {
    switch (type) {
    case FieldType::Boolean:
        return "boolean";
    case FieldType::SmallInt:
        return "smallint";
    case FieldType::Integer:
        return "integer";
    case FieldType::BigInt:
        return "bigint";
    case FieldType::Real:
        return "real";
    case FieldType::Double:
        return "double precision";
    case FieldType::Text:
        return "text";
    case FieldType::Varchar:
        return "varchar(" + std::to_string(width) + ")";
    case FieldType::Json:
        return "json";
    case FieldType::Date:
        return "date";
    case FieldType::Time:
        return "time";
    case FieldType::Timestamptz:
        return "timestamptz";
    case FieldType::Bytea:
        return "bytea";
    case FieldType::IntegerArray:
        return "integer[]";
    case FieldType::BigIntArray:
        return "bigint[]";
    case FieldType::DoubleArray:
        return "double precision[]";
    case FieldType::TextArray:
        return "text[]";
    }
    return "text";
}

namespace {

struct CtDeleter {
    void operator()(OGRCoordinateTransformation* ct) const {
        OGRCoordinateTransformation::DestroyCT(ct);
    }
};

// OGR's field definition in the codec's terms.
FieldType map_type(const OGRFieldDefn& d) {
    using codec::SourceSubType;
    using codec::SourceType;
    SourceType t = SourceType::Other;
    switch (d.GetType()) {
    case OFTInteger:
        t = SourceType::Integer;
        break;
    case OFTInteger64:
        t = SourceType::Integer64;
        break;
    case OFTReal:
        t = SourceType::Real;
        break;
    case OFTString:
        t = SourceType::String;
        break;
    case OFTDate:
        t = SourceType::Date;
        break;
    case OFTTime:
        t = SourceType::Time;
        break;
    case OFTDateTime:
        t = SourceType::DateTime;
        break;
    case OFTBinary:
        t = SourceType::Binary;
        break;
    case OFTIntegerList:
        t = SourceType::IntegerList;
        break;
    case OFTInteger64List:
        t = SourceType::Integer64List;
        break;
    case OFTRealList:
        t = SourceType::RealList;
        break;
    case OFTStringList:
        t = SourceType::StringList;
        break;
    default:
        break;
    }
    SourceSubType st = SourceSubType::None;
    switch (d.GetSubType()) {
    case OFSTBoolean:
        st = SourceSubType::Boolean;
        break;
    case OFSTInt16:
        st = SourceSubType::Int16;
        break;
    case OFSTFloat32:
        st = SourceSubType::Float32;
        break;
    case OFSTJSON:
        st = SourceSubType::Json;
        break;
    default:
        break;
    }
    return codec::map_type(t, st, d.GetWidth());
}

const char HEX[] = "0123456789ABCDEF";

void append_hex(std::string& out, const unsigned char* p, std::size_t n) {
    std::size_t at = out.size();
    out.resize(at + 2 * n);
    char* d = out.data() + at;
    for (std::size_t i = 0; i < n; ++i) {
        d[2 * i] = HEX[p[i] >> 4];
        d[2 * i + 1] = HEX[p[i] & 15];
    }
}

std::string postgis_type_name(OGRwkbGeometryType flat) {
    switch (flat) {
    case wkbPoint:
        return "Point";
    case wkbLineString:
        return "LineString";
    case wkbPolygon:
        return "Polygon";
    case wkbMultiPoint:
        return "MultiPoint";
    case wkbMultiLineString:
        return "MultiLineString";
    case wkbMultiPolygon:
        return "MultiPolygon";
    case wkbGeometryCollection:
        return "GeometryCollection";
    default:
        return "Geometry";
    }
}

OGRwkbGeometryType multi_of(OGRwkbGeometryType flat) {
    switch (flat) {
    case wkbPoint:
        return wkbMultiPoint;
    case wkbLineString:
        return wkbMultiLineString;
    case wkbPolygon:
        return wkbMultiPolygon;
    default:
        return flat;
    }
}

OGRwkbGeometryType single_of(OGRwkbGeometryType flat) {
    switch (flat) {
    case wkbMultiPoint:
        return wkbPoint;
    case wkbMultiLineString:
        return wkbLineString;
    case wkbMultiPolygon:
        return wkbPolygon;
    default:
        return flat;
    }
}

int dimension_of(OGRwkbGeometryType flat) {
    switch (single_of(flat)) {
    case wkbPoint:
        return 0;
    case wkbLineString:
        return 1;
    case wkbPolygon:
        return 2;
    default:
        return -1;
    }
}

std::string fid_text(GIntBig fid) {
    return fid == OGRNullFID ? std::string("(none)") : std::to_string(fid);
}

} // namespace

struct LayerReader::Impl {
    ReaderOptions options;
    Schema schema;
    ReadStats stats;
    GDALDatasetUniquePtr ds;
    OGRLayer* layer = nullptr;
    std::vector<int> field_index; // source field index per output field
    std::unique_ptr<OGRCoordinateTransformation, CtDeleter> ct;
    OGRwkbGeometryType target_flat = wkbUnknown; // wkbUnknown: any geometry
    bool has_z = false;
    std::vector<unsigned char> wkb;

    void open();
    void check_sidecars();
    void map_fields();
    void choose_geometry_type();
    void set_up_crs();
    void set_filter();
    OGRGeometry* conform(std::unique_ptr<OGRGeometry>& g, GIntBig fid);
    void keep_column_dimension(std::unique_ptr<OGRGeometry>& g, GIntBig fid);
    void format_value(OGRFeature& f, const Field& field, int idx, std::optional<std::string>& out,
                      GIntBig fid);
    void encode(const OGRGeometry& g, std::string& hex);
};

LayerReader::LayerReader(const ReaderOptions& options)
    : m_impl(std::make_unique<Impl>()) {
    auto& I = *m_impl;
    I.options = options;
    I.open();
    I.check_sidecars();
    I.map_fields();
    I.choose_geometry_type();
    I.set_up_crs();
    I.set_filter();
}

void LayerReader::Impl::open() {
    io::gdal::register_drivers();
    {
        io::gdal::ErrorScope errors;
        ds.reset(GDALDataset::Open(options.source.c_str(), GDAL_OF_VECTOR | GDAL_OF_READONLY,
                                   nullptr, nullptr, nullptr));
        if (!ds) {
            std::string why = errors.last_error();
            VSIStatBufL st;
            if (VSIStatL(options.source.c_str(), &st) != 0) {
                why = "no such file or directory";
            } else if (why.empty()) {
                why = "not a vector data set OGR can read";
            }
            throw InputError("cannot open input '" + options.source + "': " + why,
                             "Check the path (zipped shapefiles: /vsizip/path.zip)");
        }
    }
    schema.driver = ds->GetDriver() ? ds->GetDriver()->GetDescription() : "";
    int nlayers = ds->GetLayerCount();
    if (nlayers == 0) {
        throw InputError("input '" + options.source + "' has no vector layer");
    }
    std::vector<std::string> names;
    for (int i = 0; i < nlayers; ++i) {
        names.emplace_back(ds->GetLayer(i)->GetName());
    }
    if (options.layer.empty()) {
        if (nlayers > 1) {
            throw UsageError("input '" + options.source + "' has " + std::to_string(nlayers) +
                                 " layers (" + text::join(names, ", ") + ")",
                             "Choose one with --layer");
        }
        layer = ds->GetLayer(0);
    } else {
        layer = ds->GetLayerByName(options.layer.c_str());
        if (!layer) {
            std::string s = text::did_you_mean(options.layer, names);
            throw InputError("input '" + options.source + "' has no layer '" + options.layer + "'" +
                                 (s.empty() ? "" : " (did you mean '" + s + "'?)"),
                             "Layers: " + text::join(names, ", "));
        }
    }
    schema.layer = layer->GetName();
}

// A shapefile is several files; OGR opens the .shp alone without complaint. Without its .dbf the
// attributes are gone: refuse (nothing can stand in for them).
void LayerReader::Impl::check_sidecars() {
    if (schema.driver != "ESRI Shapefile") {
        return;
    }
    bool dbf = false;
    char** files = ds->GetFileList();
    for (int i = 0; files && files[i]; ++i) {
        std::string f = files[i];
        std::string stem = CPLGetBasename(f.c_str());
        if (EQUAL(CPLGetExtension(f.c_str()), "dbf") && EQUAL(stem.c_str(), schema.layer.c_str())) {
            dbf = true;
        }
    }
    CSLDestroy(files);
    if (!dbf) {
        throw InputError("shapefile layer '" + schema.layer + "' of '" + options.source +
                             "' has no .dbf file, so its attributes are missing",
                         "Put " + schema.layer +
                             ".dbf (and .prj) next to the .shp; they must "
                             "have the same name");
    }
}

void LayerReader::Impl::map_fields() {
    OGRFeatureDefn* defn = layer->GetLayerDefn();
    // Fields: --select, then --rename.
    std::vector<std::string> source_names;
    for (int i = 0; i < defn->GetFieldCount(); ++i) {
        source_names.emplace_back(defn->GetFieldDefn(i)->GetNameRef());
    }
    auto unknown = [&](const std::string& opt, const std::string& name) {
        std::string s = text::did_you_mean(name, source_names);
        return UsageError(opt + ": layer '" + schema.layer + "' has no field '" + name + "'" +
                              (s.empty() ? "" : " (did you mean '" + s + "'?)"),
                          "Fields: " + text::join(source_names, ", "));
    };
    std::vector<int> chosen;
    if (options.select.empty()) {
        for (int i = 0; i < defn->GetFieldCount(); ++i) {
            chosen.push_back(i);
        }
    } else {
        for (const auto& name : options.select) {
            // GetFieldIndex is case-insensitive; we want the exact name.
            auto it = std::find(source_names.begin(), source_names.end(), name);
            if (it == source_names.end()) {
                throw unknown("--select", name);
            }
            chosen.push_back(static_cast<int>(it - source_names.begin()));
        }
    }
    std::map<std::string, std::string> renames;
    for (const auto& [from, to] : options.renames) {
        if (std::find(source_names.begin(), source_names.end(), from) == source_names.end()) {
            throw unknown("--rename", from);
        }
        if (to.empty()) {
            throw UsageError("--rename " + from + "=: the new name is empty");
        }
        renames[from] = to;
    }
    std::set<std::string> used(options.reserved_names.begin(), options.reserved_names.end());
    for (int idx : chosen) {
        const OGRFieldDefn& fd = *defn->GetFieldDefn(idx);
        Field f;
        f.source_name = fd.GetNameRef();
        auto it = renames.find(f.source_name);
        f.name = it != renames.end() ? it->second : f.source_name;
        f.type = map_type(fd);
        f.width = fd.GetWidth();
        if (f.name.size() > 63) {
            throw UsageError("column name '" + f.name + "' is longer than 63 bytes",
                             "Shorten it with --rename '" + f.source_name + "=<name>'");
        }
        if (std::find(options.reserved_names.begin(), options.reserved_names.end(), f.name) !=
            options.reserved_names.end()) {
            throw UsageError("field '" + f.source_name + "' would become column '" + f.name +
                                 "', which baims uses itself",
                             "Rename it, e.g. --rename '" + f.source_name + "=src_" + f.name + "'");
        }
        if (!used.insert(f.name).second) {
            throw UsageError("two fields would become column '" + f.name + "'",
                             "Use --rename or --select");
        }
        field_index.push_back(idx);
        schema.fields.push_back(std::move(f));
    }
}

void LayerReader::Impl::choose_geometry_type() {
    OGRwkbGeometryType gtype = layer->GetGeomType();
    if (layer->GetLayerDefn()->GetGeomFieldCount() > 1) {
        log::warn("layer '" + schema.layer + "' has " +
                  std::to_string(layer->GetLayerDefn()->GetGeomFieldCount()) +
                  " geometry fields; only the first is loaded");
    }
    if (OGR_GT_IsNonLinear(gtype)) {
        gtype = OGR_GT_GetLinear(gtype);
    }
    has_z = OGR_GT_HasZ(gtype) != 0;
    OGRwkbGeometryType flat = wkbFlatten(gtype);
    // A shapefile does not distinguish Polygon from MultiPolygon (nor LineString from
    // MultiLineString): its layer says Polygon, features are either. Load them as multi.
    bool promote = options.promote_to_multi || (schema.driver == "ESRI Shapefile" &&
                                                (flat == wkbPolygon || flat == wkbLineString));
    if (promote) {
        flat = multi_of(flat);
    }
    switch (flat) {
    case wkbPoint:
    case wkbLineString:
    case wkbPolygon:
    case wkbMultiPoint:
    case wkbMultiLineString:
    case wkbMultiPolygon:
    case wkbGeometryCollection:
        target_flat = flat;
        break;
    default:
        target_flat = wkbUnknown;
        has_z = false; // a generic 2D column (see docs/cli/ingest-vector.md)
    }
    schema.geometry_type = postgis_type_name(target_flat) + (has_z ? "Z" : "");
}

namespace {

int epsg_of(const OGRSpatialReference& srs) {
    OGRSpatialReference copy(srs);
    const char* auth = copy.GetAuthorityName(nullptr);
    const char* code = copy.GetAuthorityCode(nullptr);
    if (!auth || !code) {
        copy.AutoIdentifyEPSG();
        auth = copy.GetAuthorityName(nullptr);
        code = copy.GetAuthorityCode(nullptr);
    }
    if (!auth || !code || !EQUAL(auth, "EPSG")) {
        return -1;
    }
    return std::atoi(code);
}

OGRSpatialReference parse_crs(const std::string& text, const char* option) {
    OGRSpatialReference srs;
    io::gdal::ErrorScope errors;
    if (srs.SetFromUserInput(text.c_str()) != OGRERR_NONE) {
        throw UsageError(std::string(option) + " '" + text + "' is not a CRS GDAL knows" +
                             (errors.last_error().empty() ? "" : ": " + errors.last_error()),
                         "Use an EPSG code such as EPSG:4326");
    }
    srs.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
    return srs;
}

} // namespace

void LayerReader::Impl::set_up_crs() {
    // --s-srs says what the coordinates are: it replaces the layer's CRS (or stands in for a
    // missing one, e.g. a shapefile without .prj).
    std::optional<OGRSpatialReference> source;
    if (!options.s_srs.empty()) {
        source = parse_crs(options.s_srs, "--s-srs");
    } else if (const OGRSpatialReference* layer_srs = layer->GetSpatialRef()) {
        source = *layer_srs;
        source->SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
    } else if (layer->GetGeomType() != wkbNone) {
        throw InputError(
            "layer '" + schema.layer + "' of '" + options.source + "' has no CRS" +
                (schema.driver == "ESRI Shapefile" ? " (the .prj file is missing)" : ""),
            "Say what the coordinates are with --s-srs EPSG:<code>");
    }
    if (!options.t_srs.empty()) {
        OGRSpatialReference dst = parse_crs(options.t_srs, "--t-srs");
        int code = epsg_of(dst);
        if (code <= 0) {
            throw UsageError("--t-srs '" + options.t_srs + "' has no EPSG code",
                             "PostGIS needs an SRID; use EPSG:<code>");
        }
        schema.srid = code;
        if (source && !source->IsSame(&dst)) {
            io::gdal::ErrorScope errors;
            ct.reset(OGRCreateCoordinateTransformation(&*source, &dst));
            if (!ct) {
                throw InputError("cannot transform from the CRS of layer '" + schema.layer +
                                 "' to " + options.t_srs + ": " + errors.last_error());
            }
        }
    } else if (source) {
        int code = epsg_of(*source);
        if (code <= 0) {
            throw InputError(
                "the CRS of layer '" + schema.layer + "' has no EPSG code",
                "Reproject with --t-srs EPSG:<code>, or say what it is with --s-srs EPSG:<code>");
        }
        schema.srid = code;
    }
}

// Sets --where and reads the first feature with it: OGR drivers that translate the filter to
// SQL (GeoPackage, ...) report a bad filter only when reading, and an error while reading must
// stop the load before the database is touched.
void LayerReader::Impl::set_filter() {
    io::gdal::ErrorScope errors;
    if (!options.where.empty()) {
        auto bad = [&] {
            // SQL-backed drivers (GeoPackage) report "sqlite3_prepare_v2(<query>) failed:
            // <cause>" first; the cause is what the user needs, not the query.
            std::string why = errors.first_error();
            auto at = why.rfind(") failed: ");
            if (at != std::string::npos) {
                why = why.substr(at + 10);
            }
            return UsageError("--where '" + options.where + "': " + why,
                              "Use an OGR attribute filter, e.g. --where \"NAME = 'Ashe'\"");
        };
        if (layer->SetAttributeFilter(options.where.c_str()) != OGRERR_NONE || errors.failed()) {
            throw bad();
        }
        schema.feature_count = layer->GetFeatureCount(FALSE);
        OGRFeatureUniquePtr probe(layer->GetNextFeature());
        if (errors.failed()) {
            throw bad();
        }
    } else {
        schema.feature_count = layer->GetFeatureCount(FALSE);
    }
    if (errors.failed()) {
        throw InputError("cannot read layer '" + schema.layer + "' of '" + options.source +
                         "': " + errors.first_error());
    }
    layer->ResetReading();
}

LayerReader::~LayerReader() = default;

const Schema& LayerReader::schema() const {
    return m_impl->schema;
}

const ReadStats& LayerReader::stats() const {
    return m_impl->stats;
}

namespace {

// Appends the atomic parts of g (recursing into multis and collections) of dimension dim.
void collect_parts(const OGRGeometry& g, int dim, std::vector<const OGRGeometry*>& out) {
    OGRwkbGeometryType flat = wkbFlatten(g.getGeometryType());
    if (OGR_GT_IsSubClassOf(flat, wkbGeometryCollection)) {
        for (const auto* part : *g.toGeometryCollection()) {
            collect_parts(*part, dim, out);
        }
    } else if (dimension_of(flat) == dim && !g.IsEmpty()) {
        out.push_back(&g);
    }
}

double size_of(const OGRGeometry& g) {
    OGRwkbGeometryType flat = wkbFlatten(g.getGeometryType());
    if (flat == wkbPolygon) {
        return g.toPolygon()->get_Area();
    }
    if (flat == wkbLineString) {
        return g.toLineString()->get_Length();
    }
    return 0;
}

} // namespace

// After MakeValid: keeps the parts of the column's dimension (a collapsed ring becomes a line,
// which a polygon column does not take; nothing left means an empty geometry, counted as
// skipped). A single-part column (Polygon, LineString, Point) that receives several parts keeps
// the largest (area, length; the first of equal ones) and says so: the column cannot hold the
// others, and --promote-to-multi keeps them all.
void LayerReader::Impl::keep_column_dimension(std::unique_ptr<OGRGeometry>& g, GIntBig fid) {
    if (target_flat == wkbUnknown || target_flat == wkbGeometryCollection) {
        return;
    }
    std::vector<const OGRGeometry*> parts;
    collect_parts(*g, dimension_of(target_flat), parts);
    OGRwkbGeometryType single = single_of(target_flat);
    std::unique_ptr<OGRGeometry> keep;
    if (target_flat != single) {
        keep.reset(OGRGeometryFactory::createGeometry(target_flat));
        for (const auto* p : parts) {
            keep->toGeometryCollection()->addGeometry(p);
        }
    } else if (parts.empty()) {
        keep.reset(OGRGeometryFactory::createGeometry(single));
    } else {
        std::size_t best = 0;
        double total = 0;
        for (std::size_t i = 0; i < parts.size(); ++i) {
            total += size_of(*parts[i]);
            if (size_of(*parts[i]) > size_of(*parts[best])) {
                best = i;
            }
        }
        keep.reset(parts[best]->clone());
        if (parts.size() > 1) {
            char share[32];
            std::snprintf(share, sizeof share, "%.1f %%",
                          total > 0 ? 100.0 * size_of(*parts[best]) / total : 0.0);
            log::warn("feature " + fid_text(fid) + " of layer '" + schema.layer +
                      "': the repaired geometry has " + std::to_string(parts.size()) +
                      " parts; the " + schema.geometry_type + " column keeps the largest (" +
                      share + "). Use --promote-to-multi to keep all parts");
        }
    }
    g = std::move(keep);
}

// Makes g fit the column type (promotion, single-part multis). Returns the geometry to write.
OGRGeometry* LayerReader::Impl::conform(std::unique_ptr<OGRGeometry>& g, GIntBig fid) {
    if (target_flat == wkbUnknown) {
        g->set3D(FALSE);
        g->setMeasured(FALSE);
        return g.get();
    }
    OGRwkbGeometryType flat = wkbFlatten(g->getGeometryType());
    if (flat != target_flat) {
        if (target_flat == multi_of(flat)) {
            g.reset(OGRGeometryFactory::forceTo(g.release(), target_flat));
        } else if (flat == multi_of(target_flat) &&
                   g->toGeometryCollection()->getNumGeometries() == 1) {
            g.reset(g->toGeometryCollection()->getGeometryRef(0)->clone());
        } else {
            throw InputError("feature " + fid_text(fid) + " of layer '" + schema.layer + "' is a " +
                                 OGRGeometryTypeToName(g->getGeometryType()) +
                                 ", which does not fit the column type " + schema.geometry_type,
                             dimension_of(flat) == dimension_of(target_flat)
                                 ? "Use --promote-to-multi"
                                 : "Filter the layer with --where, or load it into its own "
                                   "collection");
        }
    }
    g->set3D(has_z ? TRUE : FALSE);
    g->setMeasured(FALSE);
    return g.get();
}

void LayerReader::Impl::encode(const OGRGeometry& g, std::string& hex) {
    std::size_t n = g.WkbSize();
    wkb.resize(n);
    g.exportToWkb(wkbNDR, wkb.data(), wkbVariantIso);
    hex.clear();
    if (schema.srid <= 0) {
        append_hex(hex, wkb.data(), n);
        return;
    }
    // EWKB: the ISO type code with the SRID flag, then the SRID, then the rest as is (PostGIS
    // reads ISO type codes in EWKB).
    std::uint32_t type;
    std::memcpy(&type, wkb.data() + 1, 4);
    type |= 0x20000000u;
    auto srid = static_cast<std::uint32_t>(schema.srid);
    unsigned char head[9];
    head[0] = wkb[0];
    std::memcpy(head + 1, &type, 4);
    std::memcpy(head + 5, &srid, 4);
    hex.reserve(2 * (n + 4));
    append_hex(hex, head, 9);
    append_hex(hex, wkb.data() + 5, n - 5);
}

void LayerReader::Impl::format_value(OGRFeature& f, const Field& field, int idx,
                                     std::optional<std::string>& out, GIntBig fid) {
    if (!f.IsFieldSetAndNotNull(idx)) {
        out.reset();
        return;
    }
    if (!out) {
        out.emplace();
    }
    std::string& s = *out;
    s.clear();
    switch (field.type) {
    case FieldType::Boolean:
        s = f.GetFieldAsInteger(idx) ? "t" : "f";
        break;
    case FieldType::SmallInt:
    case FieldType::Integer:
    case FieldType::BigInt:
        codec::append_integer(s, f.GetFieldAsInteger64(idx));
        break;
    case FieldType::Real:
    case FieldType::Double:
        codec::append_double(s, f.GetFieldAsDouble(idx));
        break;
    case FieldType::Date:
    case FieldType::Time:
    case FieldType::Timestamptz: {
        int y, mo, d, h, mi, tz;
        float sec;
        f.GetFieldAsDateTime(idx, &y, &mo, &d, &h, &mi, &sec, &tz);
        s = codec::date_time_text(field.type, y, mo, d, h, mi, static_cast<double>(sec), tz);
        break;
    }
    case FieldType::Bytea: {
        int n = 0;
        const GByte* p = f.GetFieldAsBinary(idx, &n);
        codec::append_bytea(s, p, static_cast<std::size_t>(n));
        break;
    }
    case FieldType::IntegerArray: {
        // OGR gives an OFTIntegerList only as int (GetFieldAsInteger64List returns nothing).
        int n = 0;
        const int* p = f.GetFieldAsIntegerList(idx, &n);
        codec::append_integer_array(s, p, static_cast<std::size_t>(n));
        break;
    }
    case FieldType::BigIntArray: {
        int n = 0;
        const GIntBig* p = f.GetFieldAsInteger64List(idx, &n);
        static_assert(sizeof(GIntBig) == sizeof(std::int64_t));
        codec::append_integer_array(s, reinterpret_cast<const std::int64_t*>(p),
                                    static_cast<std::size_t>(n));
        break;
    }
    case FieldType::DoubleArray: {
        int n = 0;
        const double* p = f.GetFieldAsDoubleList(idx, &n);
        codec::append_double_array(s, p, static_cast<std::size_t>(n));
        break;
    }
    case FieldType::TextArray: {
        char** list = f.GetFieldAsStringList(idx);
        s += '{';
        for (int i = 0; list && list[i]; ++i) {
            if (i) {
                s += ',';
            }
            codec::append_array_text(s, list[i]);
        }
        s += '}';
        break;
    }
    case FieldType::Text:
    case FieldType::Varchar:
    case FieldType::Json:
        s = f.GetFieldAsString(idx);
        break;
    }
    if (!CPLIsUTF8(s.c_str(), static_cast<int>(s.size()))) {
        throw InputError(
            "feature " + fid_text(fid) + ", field '" + field.source_name +
                "': text is not valid UTF-8",
            "Give the source encoding, e.g. for a shapefile set SHAPE_ENCODING=CP1252");
    }
}

bool LayerReader::next(Feature& out) {
    auto& I = *m_impl;
    while (true) {
        OGRFeatureUniquePtr f;
        {
            io::gdal::ErrorScope errors;
            f.reset(I.layer->GetNextFeature());
            if (errors.failed()) {
                throw InputError("reading layer '" + I.schema.layer + "' of '" + I.options.source +
                                     "' failed after " + std::to_string(I.stats.read) +
                                     " features: " + errors.last_error(),
                                 "Nothing was written; check the input file");
            }
        }
        if (!f) {
            return false;
        }
        ++I.stats.read;
        GIntBig fid = f->GetFID();
        std::unique_ptr<OGRGeometry> g(f->StealGeometry());
        if (g) {
            if (OGR_GT_IsNonLinear(g->getGeometryType())) {
                g.reset(g->getLinearGeometry());
            }
            if (I.ct) {
                io::gdal::ErrorScope errors;
                if (g->transform(I.ct.get()) != OGRERR_NONE) {
                    throw InputError(
                        "feature " + fid_text(fid) + " of layer '" + I.schema.layer +
                        "' cannot be reprojected to " + I.options.t_srs +
                        (errors.last_error().empty() ? "" : ": " + errors.last_error()));
                }
            }
            bool check = !g->IsEmpty() && wkbFlatten(g->getGeometryType()) != wkbPoint &&
                         wkbFlatten(g->getGeometryType()) != wkbMultiPoint;
            if (check) {
                bool valid;
                {
                    io::gdal::ErrorScope quiet; // GEOS explains invalidity through CPLError
                    valid = g->IsValid();
                }
                if (!valid) {
                    switch (I.options.invalid) {
                    case InvalidPolicy::Fail:
                        throw InputError("feature " + fid_text(fid) + " of layer '" +
                                             I.schema.layer + "' has an invalid geometry",
                                         "Use --invalid repair or --invalid skip");
                    case InvalidPolicy::Skip:
                        ++I.stats.skipped;
                        continue;
                    case InvalidPolicy::Repair: {
                        io::gdal::ErrorScope errors;
                        std::unique_ptr<OGRGeometry> fixed(g->MakeValid());
                        if (!fixed) {
                            throw InputError(
                                "feature " + fid_text(fid) +
                                    ": cannot repair the invalid geometry: " + errors.last_error(),
                                "Use --invalid skip");
                        }
                        g = std::move(fixed);
                        I.keep_column_dimension(g, fid);
                        if (g->IsEmpty()) {
                            ++I.stats.skipped; // nothing of this dimension was left
                            continue;
                        }
                        ++I.stats.repaired;
                        break;
                    }
                    }
                }
            }
            I.conform(g, fid);
            I.encode(*g, out.ewkb_hex);
        } else {
            out.ewkb_hex.clear();
        }
        out.fid = fid;
        out.values.resize(I.schema.fields.size());
        for (std::size_t i = 0; i < I.schema.fields.size(); ++i) {
            I.format_value(*f, I.schema.fields[i], I.field_index[i], out.values[i], fid);
        }
        return true;
    }
}

} // namespace baims::vector
