// `baims extract --compare jrc` (see include/baims/parcels/compare_jrc.hpp).
//
// Per image and stats pass: the JRC rows from extract_jrc.cpp (exactly what --selection jrc
// would write), and the exact rows: each parcel whose bounding box overlaps the image, reprojected
// by PostGIS to the image's UTM zone, rasterised on the zone grid (pixel centre rule) and reduced
// by zonal_statistics, as --selection exact reduces its masks. Values compared as stored (real).

#include "baims/parcels/compare_jrc.hpp"

#include "extract_jrc.hpp"
#include "product_files.hpp"

#include "baims/core/error.hpp"
#include "baims/core/log.hpp"
#include "baims/db/connection.hpp"
#include "baims/db/copy_writer.hpp"
#include "baims/parcels/extract.hpp"
#include "baims/zonal/mask.hpp"
#include "baims/zonal/raster_source.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <unistd.h>

namespace baims::parcels {
namespace {

struct Side {
    double count = 0, mean = 0, std = 0, p50 = 0;
};

struct Row {
    std::optional<Side> jrc;
    std::optional<Side> exact;
};

// The band file of an L2A product in the JRC /eodata layout (L2A or L2A_N0500).
std::string band_file(const std::string& eodata, const std::string& reference,
                      const std::string& obstime, int res, const std::string& band) {
    try {
        return files::s2_band_file(files::product_dir({reference, obstime, ""}, "s2", eodata), res,
                                   band);
    } catch (const files::Missing& m) {
        throw jrc::PassFailure{m.status, m.message};
    }
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

double real(double v) {
    return static_cast<double>(static_cast<float>(v));
}

// The exact statistics of every parcel overlapping the image, per band file.
void exact_side(db::Connection& conn, const db::ConnectionSettings& settings, int epsg, int res,
                const std::vector<std::string>& bands, const std::vector<std::string>& files,
                int threads, std::map<std::pair<std::int64_t, std::string>, Row>& rows) {
    const auto info0 = zonal::describe_raster(files.front());
    const double x0 = info0.grid.origin_x;
    const double y1 = info0.grid.origin_y;
    const double x1 = x0 + info0.width * info0.grid.res_x;
    const double y0 = y1 - info0.height * info0.grid.res_y;
    const auto& parcel = settings.tables.parcel;
    auto g = conn.exec_params("SELECT a.attname FROM pg_attribute a WHERE a.attrelid = "
                              "$1::regclass AND a.attnum > 0 AND NOT a.attisdropped AND "
                              "a.atttypid = 'geometry'::regtype ORDER BY a.attname <> "
                              "'wkb_geometry', a.attnum",
                              parcel.quoted());
    if (g.empty()) {
        throw jrc::PassFailure{"Parcel SQL", parcel.display() + " has no geometry column"};
    }
    const std::string geom = "p." + db::quote_ident(g.text(0, 0));
    auto r =
        conn.exec_params("SELECT p.ogc_fid, encode(ST_AsBinary(ST_Transform(" + geom +
                             ", $5::int)), 'hex') FROM " + parcel.quoted() + " p WHERE " + geom +
                             " && ST_Transform(ST_MakeEnvelope($1::float8, $2::float8,"
                             " $3::float8, $4::float8, $5::int), ST_SRID(" +
                             geom + ")) ORDER BY 1",
                         x0, y0, x1, y1, epsg);
    std::vector<std::int64_t> pids;
    std::vector<zonal::Mask> masks;
    const zonal::PixelGrid grid{0, 0, double(res), double(res)};
    for (std::size_t i = 0; i < r.size(); ++i) {
        pids.push_back(r.int64(i, 0));
        masks.push_back(
            zonal::rasterize(zonal::from_wkb(unhex(r.text(i, 1))), grid, zonal::PixelRule::Centre));
    }
    for (std::size_t b = 0; b < files.size(); ++b) {
        const auto info = b == 0 ? info0 : zonal::describe_raster(files[b]);
        zonal::ZonalOptions o;
        o.zero_is_nodata = true;
        o.threads = threads;
        auto [col, row] = zonal::grid_offset(info, grid);
        o.col_offset = col;
        o.row_offset = row;
        for (const auto& z : zonal::zonal_statistics(info, masks, o).stats) {
            const auto& s = z.stats;
            rows[{pids[z.zone], bands[b]}].exact =
                Side{double(s.count), real(s.mean), real(s.std), real(s.p50)};
        }
    }
}

double pct(double jrc, double exact) {
    if (jrc == exact) {
        return 0;
    }
    return jrc == 0 ? 100.0 : std::abs(exact - jrc) / std::abs(jrc) * 100.0;
}

double quantile(std::vector<double> v, double q) {
    if (v.empty()) {
        return 0;
    }
    std::sort(v.begin(), v.end());
    const double idx = q * double(v.size() - 1);
    const auto lo = static_cast<std::size_t>(std::floor(idx));
    const auto hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (v[hi] - v[lo]) * (idx - double(lo));
}

std::string num(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", v);
    return buf;
}

const std::vector<std::string> COLUMNS{"pid",         "obsid",         "band",      "count_jrc",
                                       "count_exact", "count_diff",    "mean_jrc",  "mean_exact",
                                       "mean_diff",   "mean_diff_pct", "std_jrc",   "std_exact",
                                       "std_diff",    "p50_jrc",       "p50_exact", "p50_diff"};

std::vector<std::string> cells(std::int64_t pid, std::int64_t obsid, const std::string& band,
                               const Row& r) {
    std::vector<std::string> c{std::to_string(pid), std::to_string(obsid), band};
    auto both = [&](double Side::*f, bool with_pct) {
        c.push_back(r.jrc ? num((*r.jrc).*f) : "");
        c.push_back(r.exact ? num((*r.exact).*f) : "");
        c.push_back(r.jrc && r.exact ? num((*r.exact).*f - (*r.jrc).*f) : "");
        if (with_pct) {
            c.push_back(r.jrc && r.exact && (*r.jrc).*f != 0
                            ? num(((*r.exact).*f - (*r.jrc).*f) / (*r.jrc).*f * 100.0)
                            : "");
        }
    };
    both(&Side::count, false);
    both(&Side::mean, true);
    both(&Side::std, false);
    both(&Side::p50, false);
    return c;
}

} // namespace

CompareJrcSummary compare_jrc(const CompareJrcRequest& request,
                              const db::ConnectionSettings& settings) {
    if (request.card != "s2") {
        throw UsageError("--compare jrc compares the JRC Sentinel-2 extractor; --card " +
                             request.card + " has no JRC selection",
                         "Use --card s2 with --compare jrc");
    }
    if (request.output.empty() && request.table.empty()) {
        throw UsageError("--compare jrc needs an output",
                         "Give -o FILE.csv or --compare-table SCHEMA.TABLE");
    }
    files::check_s2_bands(request.bands_10, 10, "bands of the 10 m pass");
    files::check_s2_bands(request.bands_20, 20, "--bands-20");
    const auto& t = settings.tables;
    if (t.parcel.empty()) {
        throw ConfigError("no parcel_table configured",
                          "Set database.tables.parcel_table in the db_config");
    }
    db::Connection conn(settings);
    auto images =
        conn.exec_params("SELECT id, reference, to_char(obstime, 'YYYY-MM-DD HH24:MI:SS') FROM " +
                             t.catalog.quoted() +
                             " WHERE card = $1 AND ($2 = 0 OR id = $2) ORDER BY obstime, id"
                             " LIMIT NULLIF($3, 0)",
                         request.card, request.obsid, request.limit);
    CompareJrcSummary sum;
    // (pid, obsid) -> the largest relative change over its bands
    std::map<std::pair<std::int64_t, std::int64_t>, std::pair<double, double>> parcel_change;
    std::map<std::pair<std::int64_t, std::int64_t>, int> presence; // 1 jrc, 2 exact, 3 both

    const std::string tmp = request.output.empty()
                                ? std::string()
                                : request.output + ".tmp" + std::to_string(::getpid());
    // A failed run (a full disk, an error half-way) leaves no temporary file beside the output.
    struct RemoveTemp {
        std::string path;
        ~RemoveTemp() {
            if (!path.empty()) {
                std::error_code ec;
                std::filesystem::remove(path, ec);
            }
        }
    } remove_temp{tmp};
    std::ofstream csv;
    if (!tmp.empty()) {
        csv.open(tmp);
        if (!csv) {
            throw OutputError("cannot write " + request.output,
                              "Check that its folder exists and is writable");
        }
        for (std::size_t i = 0; i < COLUMNS.size(); ++i) {
            csv << (i ? "," : "") << COLUMNS[i];
        }
        csv << "\n";
    }
    std::vector<std::vector<std::string>> table_rows;
    for (std::size_t im = 0; im < images.size(); ++im) {
        const std::int64_t obsid = images.int64(im, 0);
        const std::string ref = images.text(im, 1);
        std::map<std::pair<std::int64_t, std::string>, Row> rows;
        std::vector<std::string> band_order;
        try {
            const int epsg = s2_epsg(ref);
            for (const auto& pass : request.passes) {
                const int res = pass == "10" ? 10 : 20;
                if (pass != "10" && pass != "20") {
                    throw UsageError("--compare jrc: pass '" + pass + "' cannot be compared",
                                     "Use --passes 10,20 (the scl pass is not compared)");
                }
                const auto& bands = res == 10 ? request.bands_10 : request.bands_20;
                std::vector<std::string> files;
                for (const auto& b : bands) {
                    files.push_back(band_file(request.eodata, ref, images.text(im, 2), res, b));
                    band_order.push_back(b);
                }
                const auto mask_table =
                    t.parcel.with_name(t.parcel.name + "_" + std::to_string(epsg) + "_" +
                                       std::to_string(res) + "_rast");
                for (const auto& r : jrc::run_pass(
                         conn, settings, {obsid, epsg, false, bands, files, mask_table})) {
                    rows[{std::stoll(r[0]), r[2]}].jrc =
                        Side{real(std::stod(r[3])), real(std::stod(r[4])), real(std::stod(r[5])),
                             real(std::stod(r[9]))};
                }
                exact_side(conn, settings, epsg, res, bands, files, request.threads, rows);
            }
        } catch (const jrc::PassFailure& f) {
            sum.failures.push_back("obsid " + std::to_string(obsid) + ": " + f.status + ": " +
                                   f.message);
            continue;
        } catch (const InputError& e) {
            sum.failures.push_back("obsid " + std::to_string(obsid) + ": " + e.what());
            continue;
        }
        ++sum.images;
        for (const auto& [key, r] : rows) {
            const auto pk = std::make_pair(key.first, obsid);
            presence[pk] |= (r.jrc ? 1 : 0) | (r.exact ? 2 : 0);
            if (r.jrc && r.exact) {
                auto& ch = parcel_change[pk];
                ch.first = std::max(ch.first, pct(r.jrc->count, r.exact->count));
                ch.second = std::max(ch.second, pct(r.jrc->mean, r.exact->mean));
            }
            auto c = cells(key.first, obsid, key.second, r);
            if (csv.is_open()) {
                for (std::size_t i = 0; i < c.size(); ++i) {
                    csv << (i ? "," : "") << c[i];
                }
                csv << "\n";
            } else {
                table_rows.push_back(std::move(c));
            }
            ++sum.rows;
        }
    }
    if (csv.is_open()) {
        csv.close();
        if (!csv) {
            throw OutputError("cannot write '" + request.output + "'",
                              "Check the free space and that its folder is writable");
        }
        std::error_code ec;
        std::filesystem::rename(tmp, request.output, ec);
        if (ec) {
            throw OutputError("cannot rename the finished output to '" + request.output +
                                  "': " + ec.message(),
                              "Check that the target is not a folder and is writable");
        }
        remove_temp.path.clear();
    } else {
        const auto table = db::QualifiedName::parse(request.table, "--compare-table");
        db::Transaction tx(conn, "compare");
        tx.exec("DROP TABLE IF EXISTS " + table.quoted());
        tx.exec("CREATE TABLE " + table.quoted() +
                " (pid int, obsid int, band char(3), count_jrc real, count_exact real,"
                " count_diff real, mean_jrc real, mean_exact real, mean_diff real,"
                " mean_diff_pct real, std_jrc real, std_exact real, std_diff real, p50_jrc real,"
                " p50_exact real, p50_diff real)");
        db::CopyWriter copy(tx, table, COLUMNS);
        for (const auto& c : table_rows) {
            for (const auto& v : c) {
                if (v.empty()) {
                    copy.add_null();
                } else {
                    copy.add(v);
                }
            }
            copy.end_row();
        }
        copy.complete();
        tx.commit();
    }
    std::vector<double> count_pct, mean_pct;
    for (const auto& [pk, p] : presence) {
        if (p == 1) {
            ++sum.only_jrc;
        } else if (p == 2) {
            ++sum.only_exact;
        }
    }
    for (const auto& [pk, ch] : parcel_change) {
        ++sum.parcels_both;
        count_pct.push_back(ch.first);
        mean_pct.push_back(ch.second);
        sum.count_any += ch.first > 0;
        sum.count_changed += ch.first > request.threshold_pct;
        sum.mean_changed += ch.second > request.threshold_pct;
    }
    sum.count_change_median_pct = quantile(count_pct, 0.5);
    sum.count_change_p95_pct = quantile(count_pct, 0.95);
    sum.mean_change_median_pct = quantile(mean_pct, 0.5);
    sum.mean_change_p95_pct = quantile(mean_pct, 0.95);
    return sum;
}

std::string format_summary(const CompareJrcSummary& s, double threshold_pct) {
    auto share = [&](std::uint64_t n) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%llu (%.1f %%)", static_cast<unsigned long long>(n),
                      s.parcels_both ? 100.0 * double(n) / double(s.parcels_both) : 0.0);
        return std::string(buf);
    };
    char buf[512];
    std::snprintf(
        buf, sizeof buf,
        "compare jrc: %llu images, %llu rows; %llu parcels (pid, obsid) in both, %llu "
        "only in jrc, %llu only in exact\n"
        "compare jrc: count differs in %s parcels, by more than %g %% in %s; largest "
        "change per parcel: median %.2f %%, p95 %.2f %%\n"
        "compare jrc: mean differs by more than %g %% in %s parcels; largest change per "
        "parcel: median %.3f %%, p95 %.3f %%",
        static_cast<unsigned long long>(s.images), static_cast<unsigned long long>(s.rows),
        static_cast<unsigned long long>(s.parcels_both),
        static_cast<unsigned long long>(s.only_jrc), static_cast<unsigned long long>(s.only_exact),
        share(s.count_any).c_str(), threshold_pct, share(s.count_changed).c_str(),
        s.count_change_median_pct, s.count_change_p95_pct, threshold_pct,
        share(s.mean_changed).c_str(), s.mean_change_median_pct, s.mean_change_p95_pct);
    return buf;
}

} // namespace baims::parcels
