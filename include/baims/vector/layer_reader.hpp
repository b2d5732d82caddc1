#pragma once
// Reading one OGR layer for loading into PostGIS: field selection and renaming, attribute
// filter, reprojection (traditional GIS axis order on both CRS), promotion to multi-geometries,
// the invalid-geometry policy, and geometries as hex EWKB with the SRID set. No GDAL types here.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace baims::vector {

enum class InvalidPolicy { Repair, Skip, Fail };

struct ReaderOptions {
    std::string source; // anything OGR opens (/vsizip/ too)
    std::string layer;  // empty: the only layer
    std::string s_srs;  // the source CRS, overriding the layer's (or standing in for none)
    std::string t_srs;  // empty: keep the source CRS
    std::vector<std::pair<std::string, std::string>> renames; // source field -> column name
    std::vector<std::string> select;                          // empty: all fields
    std::string where;                                        // OGR attribute filter
    bool promote_to_multi = false;
    InvalidPolicy invalid = InvalidPolicy::Repair;
    // Column names the caller reserves (id, geometry, ...): fields mapping to them are refused.
    std::vector<std::string> reserved_names;
};

// PostgreSQL column type chosen for an OGR field.
enum class FieldType {
    Boolean,
    SmallInt,
    Integer,
    BigInt,
    Real,
    Double,
    Text,
    Varchar, // width > 0
    Json,
    Date,
    Time,
    Timestamptz,
    Bytea,
    IntegerArray,
    BigIntArray,
    DoubleArray,
    TextArray,
};

struct Field {
    std::string source_name;
    std::string name; // column name after --rename
    FieldType type = FieldType::Text;
    int width = 0;
    std::string pg_type() const; // "integer", "varchar(80)", "double precision[]", ...
};

struct Schema {
    std::string driver;        // OGR driver short name
    std::string layer;         // layer name in the source
    std::string geometry_type; // PostGIS type modifier: "MultiPolygon", "PolygonZ", "Geometry"
    int srid = 0;              // EPSG code of the output CRS (0: none)
    std::vector<Field> fields;
    std::int64_t feature_count = -1; // -1 when unknown (cheap count only)
};

struct Feature {
    std::int64_t fid = 0;
    std::string ewkb_hex; // empty: NULL geometry
    std::vector<std::optional<std::string>>
        values; // PostgreSQL input text per Field; nullopt = NULL
};

struct ReadStats {
    std::uint64_t read = 0;     // features read from the source (after --where)
    std::uint64_t repaired = 0; // invalid geometries made valid
    std::uint64_t skipped = 0; // invalid geometries dropped (--invalid skip, or empty after repair)
};

class LayerReader {
public:
    // Opens the source and validates every option (field names, CRS, filter) before any feature
    // is read. Throws InputError (cannot open / no such layer / shapefile without .dbf / no CRS
    // and no --s-srs / CRS without EPSG code) or UsageError (unknown field in --select/--rename,
    // bad --where: the filter is tried on the first feature), with "did you mean" where it helps.
    explicit LayerReader(const ReaderOptions& options);
    ~LayerReader();
    LayerReader(const LayerReader&) = delete;
    LayerReader& operator=(const LayerReader&) = delete;

    const Schema& schema() const;
    // Fills out with the next feature; false at the end. Applies the invalid policy: throws
    // InputError naming the FID for --invalid fail (or a geometry that does not fit the type).
    // Any OGR error while reading is an InputError: a failed read never looks like the end.
    bool next(Feature& out);
    const ReadStats& stats() const;

private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

} // namespace baims::vector
