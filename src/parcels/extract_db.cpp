// `baims extract` database mode (SPEC §10): a work queue on dias_catalogue, passes per image,
// sigs/hists rows written exactly once per (image, pass).
//
// Claim: one transaction picks the next image (FOR UPDATE SKIP LOCKED), re-checks it with a fresh
// snapshot while holding the row lock (see claim()), marks it `inprogress`
// and writes a lease per pass into baims_extraction; a thread renews the leases while the image
// is worked on. An `inprogress` image whose leases have all expired (its worker died) is claimed
// again. Each pass deletes the rows of any earlier attempt, COPYs its rows and marks itself done,
// all in one transaction; the image's final status follows in the last one.

#include "extract_jrc.hpp"
#include "product_files.hpp"

#include "baims/core/error.hpp"
#include "baims/core/interrupt.hpp"
#include "baims/core/log.hpp"
#include "baims/core/progress.hpp"
#include "baims/core/text.hpp"
#include "baims/db/connection.hpp"
#include "baims/db/copy_writer.hpp"
#include "baims/db/schema.hpp"
#include "baims/parcels/extract.hpp"
#include "baims/zonal/raster_source.hpp"

#include <cpl_string.h>
#include <cpl_vsi.h>
#include <gdal.h>
#include <ogr_spatialref.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <unistd.h>

namespace baims::parcels {
namespace {

// An image that cannot be extracted: its dias_catalogue status (SPEC §6.3) and why.
struct ImageFailure {
    std::string status;
    std::string message;
};

struct Claim {
    std::int64_t id = 0;
    std::string reference;
    std::string obstime; // "YYYY-MM-DD HH:MM:SS"
    std::string product_identifier;
};

template <typename T> T read_le(const std::uint8_t* p, bool little) {
    T v;
    std::uint8_t b[sizeof(T)];
    if (little) {
        std::memcpy(b, p, sizeof(T));
    } else {
        for (std::size_t i = 0; i < sizeof(T); ++i) {
            b[i] = p[sizeof(T) - 1 - i];
        }
    }
    std::memcpy(&v, b, sizeof(T));
    return v;
}

std::string hostname() {
    char buf[256] = {};
    if (gethostname(buf, sizeof buf - 1) != 0) {
        return "unknown";
    }
    return buf;
}

struct MaskSet {
    std::vector<std::int64_t> pids;
    std::vector<zonal::Mask> masks;
};

// The masks of `table` whose envelope meets the union of the images' extents.
MaskSet load_masks(db::Connection& conn, const db::QualifiedName& table, double res,
                   const std::vector<zonal::RasterInfo>& images, int epsg) {
    if (!db::table_exists(conn, table)) {
        throw ImageFailure{"Parcel SQL", "mask table " + table.display() +
                                             " does not exist (run baims rasterize for EPSG " +
                                             std::to_string(epsg) + ", " +
                                             std::to_string(static_cast<int>(res)) + " m)"};
    }
    double x0 = INFINITY, y0 = INFINITY, x1 = -INFINITY, y1 = -INFINITY;
    for (const auto& image : images) {
        x0 = std::min(x0, image.grid.origin_x);
        y1 = std::max(y1, image.grid.origin_y);
        x1 = std::max(x1, image.grid.origin_x + image.width * image.grid.res_x);
        y0 = std::min(y0, image.grid.origin_y - image.height * image.grid.res_y);
    }
    db::Result rows;
    try {
        rows =
            conn.exec_params("SELECT pid, encode(ST_AsBinary(rast), 'hex') FROM " + table.quoted() +
                                 " WHERE rast IS NOT NULL AND ST_Intersects(ST_Envelope(rast),"
                                 " ST_MakeEnvelope($1, $2, $3, $4, ST_SRID(rast))) ORDER BY pid",
                             x0, y0, x1, y1);
    } catch (const DatabaseError& e) {
        throw ImageFailure{"Parcel SQL",
                           std::string("reading ") + table.display() + ": " + e.what()};
    }
    MaskSet set;
    std::vector<std::uint8_t> bytes;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const std::string& hex = rows.text(i, 1);
        bytes.resize(hex.size() / 2);
        for (std::size_t k = 0; k < bytes.size(); ++k) {
            auto nib = [](char ch) {
                return static_cast<std::uint8_t>(ch <= '9' ? ch - '0' : (ch | 0x20) - 'a' + 10);
            };
            bytes[k] = static_cast<std::uint8_t>(nib(hex[2 * k]) << 4 | nib(hex[2 * k + 1]));
        }
        try {
            set.masks.push_back(mask_from_raster_wkb(bytes, res));
        } catch (const Error& e) {
            throw ImageFailure{"Parcel SQL", "mask of pid " + rows.text(i, 0) + " in " +
                                                 table.display() + ": " + e.what()};
        }
        set.pids.push_back(rows.int64(i, 0));
    }
    return set;
}

struct PassPlan {
    std::string name;               // scl, 10, 20 (Sentinel-2); bs, c6 (Sentinel-1)
    int res = 10;                   // Sentinel-1: replaced by the product's pixel size
    std::vector<std::string> bands; // S2: file band names (scl: {"SCL"}); S1: the sigs names
    bool hist = false;
};

// One raster of a pass and the sigs band names of the bands read from it.
struct Source {
    std::string file;
    std::vector<int> bands; // 1-based
    std::vector<std::string> names;
};

std::vector<std::string> default_passes(const std::string& card) {
    if (card == "s2") {
        return {"scl", "10", "20"};
    }
    return {card};
}

std::vector<PassPlan> plans(const DbExtractRequest& r) {
    std::vector<PassPlan> out;
    const auto passes = r.passes.empty() ? default_passes(r.card) : r.passes;
    for (const auto& p : passes) {
        if (r.card == "bs" || r.card == "c6") {
            if (p != r.card) {
                throw UsageError("--passes: pass '" + p + "' is not a pass of --card " + r.card,
                                 "The Sentinel-1 CARD passes are bs (with --card bs) and c6 "
                                 "(with --card c6)");
            }
            out.push_back(p == "bs" ? PassPlan{p, 10, {"VVb", "VHb"}, false}
                                    : PassPlan{p, 20, {"VVc", "VHc"}, false});
        } else if (p == "scl") {
            out.push_back({p, 20, {"SCL"}, true});
        } else if (p == "10") {
            files::check_s2_bands(r.bands_10, 10, "bands of the 10 m pass");
            out.push_back({p, 10, r.bands_10, false});
        } else if (p == "20") {
            files::check_s2_bands(r.bands_20, 20, "--bands-20");
            out.push_back({p, 20, r.bands_20, false});
        } else {
            throw UsageError("--passes: unknown pass '" + p + "'",
                             p == "bs" || p == "c6"
                                 ? "Pass " + p + " is a Sentinel-1 CARD pass: use --card " + p
                                 : std::string("Sentinel-2 passes are scl, 10 and 20"));
        }
    }
    return out;
}

// The text of a statistic as the real (float4) it is stored as: the shortest digits that read
// back as that float (std::to_chars; PostgreSQL parses them to the same float). A quarter of the
// time of "%.9g" (2.8 million values in a 10 m pass of 100 000 parcels).
std::string fmt_real(double v) {
    char buf[32];
    const auto end = std::to_chars(buf, buf + sizeof buf, static_cast<float>(v)).ptr;
    return std::string(buf, end);
}

class LeaseKeeper {
public:
    LeaseKeeper(const db::ConnectionSettings& s, const db::QualifiedName& table, std::int64_t obsid,
                std::string worker, int lease)
        : m_thread([this, s, table, obsid, worker = std::move(worker), lease] {
            try {
                db::Connection conn(s);
                std::unique_lock lock(m_mutex);
                while (!m_stop) {
                    m_cv.wait_for(lock, std::chrono::seconds(std::max(1, lease / 3)));
                    if (m_stop) {
                        break;
                    }
                    conn.exec_params("UPDATE " + table.quoted() +
                                         " SET lease_until = now() + make_interval(secs => $3)"
                                         " WHERE obsid = $1 AND worker = $2",
                                     obsid, worker, lease);
                }
            } catch (const std::exception& e) {
                log::warn(std::string("extract: cannot renew the lease: ") + e.what());
            }
        }) {}
    ~LeaseKeeper() {
        {
            std::lock_guard lock(m_mutex);
            m_stop = true;
        }
        m_cv.notify_all();
        m_thread.join();
    }

private:
    std::mutex m_mutex;
    std::condition_variable m_cv;
    bool m_stop = false;
    std::thread m_thread;
};

// Which images are candidates besides their status (SPEC §10): the configured AOI (db_config
// args.name in tables.aoi_table, column args.aoi_field) and obstime in [startdate, enddate).
// An empty field means no restriction.
struct QueueFilter {
    std::string aoi_field = "name";
    std::string aoi;
    std::string start;
    std::string end;
};

// The SQL condition on catalogue rows `d`; parameters $3 aoi name, $4 startdate, $5 enddate.
std::string queue_condition(const db::TableNames& t, const QueueFilter& f) {
    return " AND (NULLIF($3::text, '') IS NULL OR ST_Intersects(d.footprint, (SELECT"
           " ST_Union(a.wkb_geometry) FROM " +
           t.aoi.quoted() + " a WHERE a." + db::quote_ident(f.aoi_field) +
           " = $3)))"
           " AND (NULLIF($4::text, '') IS NULL OR d.obstime >= NULLIF($4::text, '')::timestamp)"
           " AND (NULLIF($5::text, '') IS NULL OR d.obstime < NULLIF($5::text, '')::timestamp)";
}

// The statuses baims (and the JRC extractor before it) give catalogue rows: SPEC 6.3.
const std::vector<std::string>& known_statuses() {
    static const std::vector<std::string> s = {
        "ingested",  "inprogress", "extracted",  "No parcels", "No in db",
        "No out db", "No extent",  "Rio error",  "Parcel SQL", "!S3 subdir",
        "!S3 .jp2",  "!S3 VV.img", "!S3 VH.img", "!S3 .tif"};
    return s;
}

// Whether the catalogue table exists (not yet in a dry run that would create the tables).
bool catalog_exists(db::Connection& conn, const db::TableNames& t) {
    return conn.exec_params("SELECT to_regclass($1) IS NOT NULL", t.catalog.quoted()).text(0, 0) ==
           "t";
}

// --rerun-status names statuses to re-queue: one that baims never sets and no image of the card
// has is an operator's typo ('Rio eror'), which would re-queue nothing with exit 0. Refused
// (exit 2) before anything is changed, with the status meant. A status of the catalogue that
// baims does not set (another tool's) is taken as it is.
void check_rerun_statuses(db::Connection& conn, const db::TableNames& t,
                          const DbExtractRequest& request) {
    if (!catalog_exists(conn, t)) {
        return; // a dry run that would create the tables: nothing to re-queue
    }
    std::vector<std::string> present;
    auto res = conn.exec_params("SELECT DISTINCT status FROM " + t.catalog.quoted() +
                                    " WHERE card = $1 AND status IS NOT NULL ORDER BY 1",
                                request.card);
    for (std::size_t i = 0; i < res.size(); ++i) {
        present.push_back(res.text(i, 0));
    }
    const auto& known = known_statuses();
    for (const auto& st : request.rerun_status) {
        if (std::find(known.begin(), known.end(), st) != known.end() ||
            std::find(present.begin(), present.end(), st) != present.end()) {
            continue;
        }
        std::vector<std::string> candidates = known;
        candidates.insert(candidates.end(), present.begin(), present.end());
        const std::string guess = text::did_you_mean(st, candidates);
        std::vector<std::string> quoted;
        for (const auto& p : present) {
            quoted.push_back("'" + p + "'");
        }
        throw UsageError("--rerun-status '" + st + "': no image of card " + request.card +
                             " has this status, and baims sets no such status",
                         (guess.empty() ? std::string() : "Did you mean '" + guess + "'? ") +
                             "The statuses in " + t.catalog.display() + ": " +
                             (quoted.empty() ? "none" : text::join(quoted, ", ")));
    }
}

// --obsid names one image (a rerun by hand): an id the catalogue does not have for the card is
// refused (exit 4) instead of a run that extracts nothing with exit 0; an image that this run
// will not claim (its status, the AOI or dates of the db_config) is named with what to do.
void check_obsid(db::Connection& conn, const db::TableNames& t, const DbExtractRequest& request,
                 const QueueFilter& f) {
    if (!catalog_exists(conn, t)) {
        return;
    }
    auto res = conn.exec_params("SELECT d.status, (d.card = $1" + queue_condition(t, f) +
                                    ") AS queued FROM " + t.catalog.quoted() + " d WHERE d.id = $2",
                                request.card, request.obsid, f.aoi, f.start, f.end);
    if (res.size() == 0 || res.text(0, 1) != "t") {
        const bool other = res.size() > 0;
        if (!other) {
            throw InputError("--obsid " + std::to_string(request.obsid) +
                                 ": no image has this id in " + t.catalog.display(),
                             "Check the id (the catalogue's column id)");
        }
        auto card = conn.exec_params("SELECT card FROM " + t.catalog.quoted() + " WHERE id = $1",
                                     request.obsid);
        if (card.text(0, 0) != request.card) {
            throw InputError("--obsid " + std::to_string(request.obsid) +
                                 ": the image is of card '" + card.text(0, 0) + "', not '" +
                                 request.card + "'",
                             "Give --card " + card.text(0, 0));
        }
        log::warn("extract: image " + std::to_string(request.obsid) +
                  " lies outside the AOI or the dates of the db_config (args name, startdate, "
                  "enddate): it is not claimed");
        return;
    }
    const std::string status = res.text(0, 0);
    const bool requeued = std::find(request.rerun_status.begin(), request.rerun_status.end(),
                                    status) != request.rerun_status.end();
    if (status != "ingested" && status != "inprogress" && !requeued) {
        log::warn("extract: image " + std::to_string(request.obsid) + " has status '" + status +
                  "': it is not claimed. Add --rerun-status '" + status + "' to redo it");
    }
}

QueueFilter queue_filter(db::Connection& conn, const db::ConnectionSettings& settings) {
    QueueFilter f;
    auto arg = [&](const char* key) {
        auto it = settings.args.find(key);
        return it == settings.args.end() ? std::string() : it->second;
    };
    if (!arg("aoi_field").empty()) {
        f.aoi_field = arg("aoi_field");
    }
    f.aoi = arg("name");
    f.start = arg("startdate");
    f.end = arg("enddate");
    const auto& aoi = settings.tables.aoi;
    if (!f.aoi.empty()) {
        if (!db::table_exists(conn, aoi)) {
            throw InputError("AOI table " + aoi.display() + " does not exist",
                             "Load the AOI '" + f.aoi + "' with 'baims ingest-vector … --aoi " +
                                 f.aoi + "' or remove args.name from the db_config");
        }
        auto r = conn.exec_params("SELECT count(*) FROM " + aoi.quoted() + " WHERE " +
                                      db::quote_ident(f.aoi_field) +
                                      " = $1 AND wkb_geometry IS NOT NULL",
                                  f.aoi);
        if (r.int64(0, 0) == 0) {
            throw InputError("AOI '" + f.aoi + "' not found in " + aoi.display() + " (column " +
                                 db::quote_ident(f.aoi_field) + ")",
                             "Load it with 'baims ingest-vector … --aoi " + f.aoi +
                                 "' or check args.name and args.aoi_field in the db_config");
        }
    }
    for (const auto* d : {&f.start, &f.end}) {
        if (d->empty()) {
            continue;
        }
        try {
            conn.exec_params("SELECT $1::timestamp", *d);
        } catch (const DatabaseError&) {
            throw ConfigError("args." + std::string(d == &f.start ? "startdate" : "enddate") +
                                  " '" + *d + "' is not a date",
                              "Write it as YYYY-MM-DD in the db_config");
        }
    }
    return f;
}

struct Shared {
    const DbExtractRequest& request;
    const db::ConnectionSettings& settings;
    std::vector<PassPlan> passes;
    QueueFilter filter;
    bool harmonized = false;
    bool jrc = false; // selection: jrc (extract_jrc.cpp)
    std::mutex mutex;
    DbExtractSummary summary;
    std::int64_t claimed = 0;
    std::unique_ptr<Progress> progress; // images done (start_progress: set at the first claim)
};

// The claimable-image condition on `d`, a row of the catalogue.
std::string claimable(const db::TableNames& t) {
    return "(d.status = 'ingested' OR (d.status = 'inprogress' AND NOT EXISTS (SELECT 1 FROM " +
           t.extraction.quoted() + " e WHERE e.obsid = d.id AND e.lease_until > now())))";
}

// Marks the row picked by claim() `inprogress` and writes its leases; commits.
Claim take_claim(db::Transaction& tx, Shared& s, const std::string& worker, const db::Result& res) {
    const auto& t = s.settings.tables;
    const auto& r = s.request;
    Claim c;
    c.id = res.int64(0, 0);
    c.reference = res.text(0, 1);
    c.obstime = res.text(0, 2);
    tx.exec_params("UPDATE " + t.catalog.quoted() + " SET status = 'inprogress' WHERE id = $1",
                   c.id);
    for (const auto& p : s.passes) {
        tx.exec_params("INSERT INTO " + t.extraction.quoted() +
                           " (obsid, pass, status, worker, lease_until, started, finished, rows,"
                           " message) VALUES ($1, $2, 'inprogress', $3,"
                           " now() + make_interval(secs => $4), now(), NULL, NULL, NULL)"
                           " ON CONFLICT (obsid, pass) DO UPDATE SET status = 'inprogress',"
                           " worker = $3, lease_until = now() + make_interval(secs => $4),"
                           " started = now(), finished = NULL, rows = NULL, message = NULL",
                       c.id, p.name, worker, r.lease_seconds);
    }
    if (db::table_exists(tx, t.catalogue_extra)) {
        auto e = tx.exec_params("SELECT product_identifier FROM " + t.catalogue_extra.quoted() +
                                    " WHERE reference = $1",
                                c.reference);
        if (!e.empty() && !e.is_null(0, 0)) {
            c.product_identifier = e.text(0, 0);
        }
    }
    tx.commit();
    return c;
}

std::optional<Claim> claim(db::Connection& conn, Shared& s, const std::string& worker) {
    const auto& t = s.settings.tables;
    const auto& r = s.request;
    // READ COMMITTED + SKIP LOCKED: when another worker claims a row and commits between this
    // statement's snapshot and its row lock, PostgreSQL re-checks the locked row's new version
    // (now `inprogress`) but evaluates the lease sub-query on the old snapshot (no lease yet), so
    // the image would be claimed twice. A second statement (a new snapshot) re-checks the claim
    // while the row lock is held; a stale pick is let go and the queue read again, which sees the
    // other worker's leases.
    while (true) {
        db::Transaction tx(conn, "claim");
        auto res = tx.exec_params(
            "SELECT d.id, d.reference, to_char(d.obstime, 'YYYY-MM-DD HH24:MI:SS') FROM " +
                t.catalog.quoted() + " d WHERE d.card = $1 AND ($2 = 0 OR d.id = $2) AND " +
                claimable(t) + queue_condition(t, s.filter) +
                " ORDER BY d.obstime, d.id LIMIT 1 FOR UPDATE OF d SKIP LOCKED",
            r.card, r.obsid, s.filter.aoi, s.filter.start, s.filter.end);
        if (res.empty()) {
            return std::nullopt;
        }
        const auto id = res.int64(0, 0);
        if (tx.exec_params("SELECT 1 FROM " + t.catalog.quoted() + " d WHERE d.id = $1 AND " +
                               claimable(t),
                           id)
                .empty()) {
            log::debug("extract: obsid " + std::to_string(id) +
                       " was claimed by another worker meanwhile; reading the queue again");
            continue; // rolled back
        }
        return take_claim(tx, s, worker, res);
    }
}

// The offsets to add to the DN of `safe` for `values: harmonized` (empty: none).
std::map<std::string, double> harmonize_offsets(const std::string& safe) {
    const std::string mtd = safe + "/MTD_MSIL2A.xml";
    GByte* text = nullptr;
    if (!VSIIngestFile(nullptr, mtd.c_str(), &text, nullptr, 16 * 1024 * 1024)) {
        throw ImageFailure{"Rio error", "cannot read " + mtd + " (needed for values: harmonized)"};
    }
    std::string xml(reinterpret_cast<const char*>(text));
    VSIFree(text);
    try {
        return boa_add_offsets(xml);
    } catch (const Error& e) {
        throw ImageFailure{"Rio error", mtd + ": " + e.what()};
    }
}

// The EPSG code of a WGS 84 / UTM zone CRS (32601…32660, 32701…32760), else 0.
int utm_epsg(const std::string& wkt) {
    if (wkt.empty()) {
        return 0;
    }
    OGRSpatialReference srs;
    if (srs.importFromWkt(wkt.c_str()) != OGRERR_NONE) {
        return 0;
    }
    const char* auth = srs.GetAuthorityName(nullptr);
    const char* code = srs.GetAuthorityCode(nullptr);
    if (!auth || !code) {
        srs.AutoIdentifyEPSG();
        auth = srs.GetAuthorityName(nullptr);
        code = srs.GetAuthorityCode(nullptr);
    }
    if (!auth || !code || !EQUAL(auth, "EPSG")) {
        return 0;
    }
    const int e = std::atoi(code);
    return (e > 32600 && e <= 32660) || (e > 32700 && e <= 32760) ? e : 0;
}

// The rasters of pass `p` of the product in `dir`.
std::vector<Source> sources(const std::string& card, const PassPlan& p, const std::string& dir) {
    try {
        if (card == "bs") {
            return {{files::bs_band_file(dir, "VV"), {1}, {"VVb"}},
                    {files::bs_band_file(dir, "VH"), {1}, {"VHb"}}};
        }
        if (card == "c6") {
            return {{files::c6_file(dir), {1, 2}, {"VVc", "VHc"}}};
        }
        std::vector<Source> out;
        for (const auto& b : p.bands) {
            out.push_back({files::s2_band_file(dir, p.res, b), {1}, {b}});
        }
        return out;
    } catch (const files::Missing& m) {
        throw ImageFailure{m.status, m.message};
    }
}

// Statistics of every source over the masks. The sources are decoded at the same time (up to
// `threads` at once, the threads shared among them), each file opened by one reader; memory
// stays bounded by the block rows in flight in each (zonal_statistics streams by block rows).
std::vector<zonal::ZonalResult> zonal_all(const std::vector<Source>& srcs,
                                          const std::vector<zonal::RasterInfo>& infos,
                                          const MaskSet& masks, const PassPlan& p, int threads) {
    std::vector<zonal::ZonalResult> results(srcs.size());
    const int concurrent =
        std::max(1, std::min(std::max(1, threads), static_cast<int>(srcs.size())));
    std::atomic<std::size_t> next{0};
    std::mutex error_mutex;
    std::exception_ptr error;
    auto loop = [&](int per_source_threads) {
        try {
            for (std::size_t i = next.fetch_add(1); i < srcs.size(); i = next.fetch_add(1)) {
                {
                    std::lock_guard lock(error_mutex);
                    if (error) {
                        return;
                    }
                }
                zonal::ZonalOptions o;
                o.bands = srcs[i].bands;
                o.hist = p.hist;
                o.zero_is_nodata = !p.hist;
                o.threads = per_source_threads;
                auto [col, row] = zonal::grid_offset(
                    infos[i], zonal::PixelGrid{0, 0, double(p.res), double(p.res)});
                o.col_offset = col;
                o.row_offset = row;
                results[i] = zonal::zonal_statistics(infos[i], masks.masks, o);
            }
        } catch (...) {
            std::lock_guard lock(error_mutex);
            if (!error) {
                error = std::current_exception();
            }
        }
    };
    // Threads left over (threads > sources, e.g. the scl pass's one file) go to each source.
    const int per = std::max(1, threads / concurrent);
    std::vector<std::thread> pool;
    for (int k = 1; k < concurrent; ++k) {
        pool.emplace_back(loop, per);
    }
    loop(per);
    for (auto& th : pool) {
        th.join();
    }
    if (error) {
        try {
            std::rethrow_exception(error);
        } catch (const Interrupted&) {
            throw;
        } catch (const Error& e) {
            throw ImageFailure{"Rio error", e.what()};
        }
    }
    return results;
}

// Extracts one pass; returns the rows written (0: no parcel). `epsg`: the UTM zone from the
// Sentinel-2 tile id (0 for Sentinel-1: taken from the product's CRS).
std::uint64_t run_pass(db::Connection& conn, Shared& s, const Claim& c, PassPlan p,
                       const std::string& dir, int epsg) {
    const auto& t = s.settings.tables;
    if (t.parcel.empty()) {
        throw ImageFailure{"Parcel SQL", "no parcel_table configured (db_config.json "
                                         "database.tables.parcel_table)"};
    }
    const auto srcs = sources(s.request.card, p, dir);
    std::vector<zonal::RasterInfo> infos;
    for (const auto& src : srcs) {
        try {
            infos.push_back(zonal::describe_raster(src.file));
        } catch (const Error& e) {
            throw ImageFailure{"Rio error", e.what()};
        }
        if (infos.back().band_count < static_cast<int>(src.bands.size())) {
            throw ImageFailure{"Rio error", src.file + " has " +
                                                std::to_string(infos.back().band_count) +
                                                " band(s), a CARD-COH6 product has 2 (VV, VH)"};
        }
    }
    if (epsg == 0) {
        // Sentinel-1 CARD: the UTM zone and the pixel size are the product's own; the masks
        // are those of that zone and resolution, on the zone grid (edges on multiples of res).
        const auto& g = infos.front().grid;
        epsg = utm_epsg(infos.front().crs_wkt);
        if (epsg == 0) {
            throw ImageFailure{"Parcel SQL",
                               srcs.front().file +
                                   " is not in a WGS 84 / UTM zone CRS: no rasterised-parcel "
                                   "table fits it (baims rasterize makes them per UTM zone)"};
        }
        if (g.res_x != g.res_y || g.res_x != std::round(g.res_x) || g.res_x < 1) {
            throw ImageFailure{"Rio error",
                               srcs.front().file + " has pixels of " + std::to_string(g.res_x) +
                                   " x " + std::to_string(g.res_y) + " m, not square whole metres"};
        }
        p.res = static_cast<int>(g.res_x);
        for (std::size_t i = 1; i < infos.size(); ++i) {
            if (utm_epsg(infos[i].crs_wkt) != epsg) {
                throw ImageFailure{"Rio error",
                                   srcs[i].file + " is not in the CRS of " + srcs.front().file};
            }
        }
    }
    const auto mask_table = t.parcel.with_name(t.parcel.name + "_" + std::to_string(epsg) + "_" +
                                               std::to_string(p.res) + "_rast");
    std::map<std::string, double> offsets;
    if (s.harmonized && !p.hist && s.request.card == "s2") {
        offsets = harmonize_offsets(dir);
    }
    MaskSet masks;
    std::vector<std::vector<std::string>> jrc_rows;
    std::vector<zonal::ZonalResult> results;
    if (s.jrc) {
        std::vector<std::string> paths;
        for (const auto& src : srcs) {
            paths.push_back(src.file);
        }
        try {
            jrc_rows =
                jrc::run_pass(conn, s.settings, {c.id, epsg, p.hist, p.bands, paths, mask_table});
        } catch (const jrc::PassFailure& f) {
            throw ImageFailure{f.status, f.message};
        }
    } else {
        masks = load_masks(conn, mask_table, p.res, infos, epsg);
        results = zonal_all(srcs, infos, masks, p, s.request.threads);
    }
    db::Transaction tx(conn, "pass");
    if (p.hist) {
        tx.exec_params("DELETE FROM " + t.hists.quoted() + " WHERE obsid = $1", c.id);
    } else {
        std::string arr = "{";
        for (std::size_t i = 0; i < p.bands.size(); ++i) {
            arr += (i ? "," : "") + p.bands[i];
        }
        arr += "}";
        tx.exec_params("DELETE FROM " + t.sigs.quoted() +
                           " WHERE obsid = $1 AND band = ANY($2::text[])",
                       c.id, arr);
    }
    std::uint64_t rows = 0;
    {
        db::CopyWriter copy(tx, p.hist ? t.hists : t.sigs,
                            p.hist ? std::vector<std::string>{"pid", "obsid", "hist"}
                                   : std::vector<std::string>{"pid", "obsid", "band", "count",
                                                              "mean", "std", "min", "max", "p25",
                                                              "p50", "p75"});
        const std::string obsid = std::to_string(c.id);
        for (const auto& row : jrc_rows) {
            for (const auto& v : row) {
                copy.add(v);
            }
            copy.end_row();
        }
        // Rows grouped by source (S2: one band file each), then pid and band.
        for (std::size_t i = 0; i < results.size(); ++i) {
            const auto& src = srcs[i];
            auto name_of = [&](int band) {
                const auto at = std::find(src.bands.begin(), src.bands.end(), band);
                return src.names[static_cast<std::size_t>(at - src.bands.begin())];
            };
            for (const auto& h : results[i].hists) {
                copy.add(std::to_string(masks.pids[h.zone]));
                copy.add(obsid);
                copy.add(h.json);
                copy.end_row();
            }
            for (auto z : results[i].stats) {
                const std::string band = name_of(z.band);
                // Harmonized values: DN + offset, after DN 0 and nodata were excluded. A shift
                // moves mean, min, max and the (linear) percentiles and leaves std alone.
                const auto off_it = offsets.find(band);
                const double off = off_it == offsets.end() ? 0.0 : off_it->second;
                auto& st = z.stats;
                if (off != 0.0) {
                    for (double* v : {&st.mean, &st.min, &st.max, &st.p25, &st.p50, &st.p75}) {
                        *v += off;
                    }
                }
                copy.add(std::to_string(masks.pids[z.zone]));
                copy.add(obsid);
                copy.add(band);
                copy.add(std::to_string(st.count));
                for (double v : {st.mean, st.std, st.min, st.max, st.p25, st.p50, st.p75}) {
                    copy.add(fmt_real(v));
                }
                copy.end_row();
            }
        }
        copy.complete();
        rows = copy.rows();
    }
    // clock_timestamp(): now() is when this transaction began, before the pass's work.
    tx.exec_params("UPDATE " + t.extraction.quoted() +
                       " SET status = $3, finished = clock_timestamp(), rows = $4, message = NULL"
                       " WHERE obsid = $1 AND pass = $2",
                   c.id, p.name, rows ? std::string("extracted") : std::string("No parcels"),
                   static_cast<std::int64_t>(rows));
    tx.commit();
    return rows;
}

// Starts the progress report at the first claim of the run: its total is that image and those
// still queued then (other processes may take some, so the count can end short of it). Not
// earlier: a process that finds nothing to claim reads the queue once and exits.
void start_progress(db::Connection& conn, Shared& s) {
    std::lock_guard lock(s.mutex);
    if (s.progress) {
        return;
    }
    const auto& t = s.settings.tables;
    const auto& r = s.request;
    auto queued = conn.exec_params("SELECT count(*) FROM " + t.catalog.quoted() +
                                       " d WHERE d.card = $1 AND ($2 = 0 OR d.id = $2) AND " +
                                       claimable(t) + queue_condition(t, s.filter),
                                   r.card, r.obsid, s.filter.aoi, s.filter.start, s.filter.end);
    std::uint64_t total = 1 + static_cast<std::uint64_t>(queued.int64(0, 0));
    if (r.limit > 0) {
        total = std::min<std::uint64_t>(total, static_cast<std::uint64_t>(r.limit));
    }
    s.progress = std::make_unique<Progress>("extract " + r.card, total, "images");
}

void work(Shared& s, int index) {
    const auto& t = s.settings.tables;
    const std::string worker =
        hostname() + ":" + std::to_string(::getpid()) + ":" + std::to_string(index);
    db::Connection conn(s.settings);
    while (true) {
        check_interrupted();
        {
            std::lock_guard lock(s.mutex);
            if (s.request.limit > 0 && s.claimed >= s.request.limit) {
                return;
            }
            ++s.claimed;
        }
        auto c = claim(conn, s, worker);
        if (!c) {
            return;
        }
        log::info("extract: obsid " + std::to_string(c->id) + " " + c->reference + " claimed");
        start_progress(conn, s);
        LeaseKeeper lease(s.settings, t.extraction, c->id, worker, s.request.lease_seconds);
        std::uint64_t rows = 0;
        std::optional<ImageFailure> failure;
        std::string failed_pass;
        const auto started = std::chrono::steady_clock::now();
        try {
            const bool s2 = s.request.card == "s2";
            const int epsg = s2 ? s2_epsg(c->reference) : 0;
            std::string dir;
            try {
                dir = files::product_dir({c->reference, c->obstime, c->product_identifier},
                                         s.request.card, s.request.eodata);
            } catch (const files::Missing& m) {
                throw ImageFailure{m.status, m.message};
            }
            for (const auto& p : s.passes) {
                failed_pass = p.name;
                rows += run_pass(conn, s, *c, p, dir, epsg);
            }
        } catch (const ImageFailure& f) {
            failure = f;
        } catch (const InputError& e) {
            failure = ImageFailure{"Rio error", e.what()};
        }
        const std::string status = failure ? failure->status : rows ? "extracted" : "No parcels";
        db::Transaction tx(conn, "finish");
        if (failure) {
            tx.exec_params(
                "UPDATE " + t.extraction.quoted() +
                    " SET status = CASE WHEN pass = $2 OR $2 = '' THEN $3 ELSE 'not run' END,"
                    " finished = now(), message = CASE WHEN pass = $2 OR $2 = '' THEN $4 ELSE"
                    " 'not run: pass ' || $2 || ' failed' END"
                    " WHERE obsid = $1 AND (pass = $2 OR status = 'inprogress')",
                c->id, failed_pass, failure->status, failure->message);
        }
        tx.exec_params("UPDATE " + t.catalog.quoted() + " SET status = $2 WHERE id = $1", c->id,
                       status);
        tx.commit();
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        // One line per image (a JSON object per line with --log-format json, for cron).
        char took[32];
        std::snprintf(took, sizeof took, "%.2f", seconds);
        log::info("extract: obsid " + std::to_string(c->id) + " " + c->reference + ": " + status +
                  ", " + std::to_string(rows) + " rows, " + took + " s");
        if (s.progress) {
            s.progress->advance();
        }
        std::lock_guard lock(s.mutex);
        s.summary.rows += rows;
        if (failure) {
            ++s.summary.failed;
            ++s.summary.failed_by_status[failure->status];
            s.summary.failures.push_back("obsid " + std::to_string(c->id) + " (" + c->reference +
                                         "): " + failure->status + ": " + failure->message);
            log::warn("extract: obsid " + std::to_string(c->id) + ": " + failure->status + ": " +
                      failure->message);
        } else if (rows == 0) {
            ++s.summary.no_parcels;
        } else {
            ++s.summary.extracted;
        }
    }
}

} // namespace

zonal::Mask mask_from_raster_wkb(std::span<const std::uint8_t> wkb, double res) {
    // PostGIS raster WKB: endian(1) version(2) nbands(2) scalex scaley ipx ipy skewx skewy (8
    // each) srid(4) width(2) height(2) = 61 bytes; then per band: pixtype/flags(1), nodata
    // (pixel size), pixels.
    if (wkb.size() < 61) {
        throw InputError("raster WKB of " + std::to_string(wkb.size()) + " bytes is too short");
    }
    const bool le = wkb[0] == 1;
    const auto* p = wkb.data();
    const auto nbands = read_le<std::uint16_t>(p + 3, le);
    const double sx = read_le<double>(p + 5, le);
    const double sy = read_le<double>(p + 13, le);
    const double ipx = read_le<double>(p + 21, le);
    const double ipy = read_le<double>(p + 29, le);
    const double kx = read_le<double>(p + 37, le);
    const double ky = read_le<double>(p + 45, le);
    const int width = read_le<std::uint16_t>(p + 57, le);
    const int height = read_le<std::uint16_t>(p + 59, le);
    if (nbands < 1) {
        throw InputError("mask raster has no band");
    }
    if (kx != 0 || ky != 0 || std::abs(std::abs(sx) - res) > 1e-9 * res ||
        std::abs(std::abs(sy) - res) > 1e-9 * res || sx < 0) {
        throw InputError("mask raster is skewed or not on a " + std::to_string(res) + " m grid");
    }
    const std::uint8_t flags = p[61];
    if ((flags & 0x0F) != 4 || (flags & 0x80)) {
        throw InputError("mask raster band 1 is not an in-database 8BUI band");
    }
    const bool has_nodata = flags & 0x40;
    const std::uint8_t nodata = p[62];
    const std::size_t n = static_cast<std::size_t>(width) * static_cast<std::size_t>(height);
    if (wkb.size() < 63 + n) {
        throw InputError("mask raster WKB is truncated");
    }
    const double c = ipx / res;
    const double top = sy < 0 ? ipy : ipy + height * sy; // north edge
    const double r = -top / res;
    if (std::abs(c - std::round(c)) > 1e-6 || std::abs(r - std::round(r)) > 1e-6) {
        throw InputError("mask raster corner (" + std::to_string(ipx) + ", " + std::to_string(ipy) +
                         ") is not on the " + std::to_string(res) + " m grid");
    }
    zonal::Mask m;
    m.col0 = std::llround(c);
    m.row0 = std::llround(r);
    m.width = width;
    m.height = height;
    m.pixels.resize(n);
    const std::uint8_t* px = p + 63;
    for (int row = 0; row < height; ++row) {
        const int src = sy < 0 ? row : height - 1 - row; // south-up masks are flipped
        for (int col = 0; col < width; ++col) {
            const std::uint8_t v = px[static_cast<std::size_t>(src) * width + col];
            m.pixels[static_cast<std::size_t>(row) * width + col] =
                v != 0 && !(has_nodata && v == nodata) ? 1 : 0;
        }
    }
    return m;
}

std::map<std::string, double> boa_add_offsets(const std::string& xml) {
    auto element = [&](const std::string& tag, std::size_t from) {
        const auto open = xml.find("<" + tag, from);
        if (open == std::string::npos) {
            return std::make_pair(std::string::npos, std::string());
        }
        const auto gt = xml.find('>', open);
        const auto close = xml.find("</" + tag + ">", gt);
        if (gt == std::string::npos || close == std::string::npos) {
            return std::make_pair(std::string::npos, std::string());
        }
        return std::make_pair(open, xml.substr(gt + 1, close - gt - 1));
    };
    const auto [bpos, baseline] = element("PROCESSING_BASELINE", 0);
    if (bpos == std::string::npos) {
        throw InputError("no PROCESSING_BASELINE", "Is it an L2A MTD_MSIL2A.xml?");
    }
    double version = 0;
    try {
        version = std::stod(baseline);
    } catch (const std::exception&) {
        throw InputError("PROCESSING_BASELINE '" + baseline + "' is not a number");
    }
    std::map<std::string, double> out;
    if (version < 4.0) {
        return out;
    }
    static const char* ids[] = {"B01", "B02", "B03", "B04", "B05", "B06", "B07",
                                "B08", "B8A", "B09", "B10", "B11", "B12"};
    const auto list = element("BOA_ADD_OFFSET_VALUES_LIST", 0);
    const auto list_end = xml.find("</BOA_ADD_OFFSET_VALUES_LIST>");
    for (std::size_t pos = list.first; pos != std::string::npos && pos < list_end;) {
        const auto at = xml.find("<BOA_ADD_OFFSET ", pos);
        if (at == std::string::npos || at > list_end) {
            break;
        }
        const auto head_end = xml.find('>', at);
        const auto close = xml.find("</BOA_ADD_OFFSET>", head_end);
        const std::string head = xml.substr(at, head_end - at);
        const auto id = head.find("band_id=\"");
        if (id != std::string::npos && close != std::string::npos) {
            try {
                const int band = std::stoi(head.substr(id + 9));
                if (band >= 0 && band < 13) {
                    out[ids[band]] = std::stod(xml.substr(head_end + 1, close - head_end - 1));
                }
            } catch (const std::exception&) {
                throw InputError("unreadable BOA_ADD_OFFSET " + head);
            }
        }
        pos = head_end;
    }
    if (out.empty()) {
        throw InputError("processing baseline " + baseline + " but no BOA_ADD_OFFSET listed",
                         "Use values: dn for this product");
    }
    return out;
}

int s2_epsg(const std::string& reference) {
    // S2A_MSIL2A_20201021T103101_N0214_R108_T32UNG_20201021T132152(.SAFE)
    std::size_t pos = 0;
    for (int field = 0; field < 5; ++field) {
        pos = reference.find('_', pos);
        if (pos == std::string::npos) {
            break;
        }
        ++pos;
    }
    if (pos != std::string::npos && pos + 6 <= reference.size() && reference[pos] == 'T') {
        const std::string zone = reference.substr(pos + 1, 2);
        const char band = reference[pos + 3];
        if (std::isdigit(static_cast<unsigned char>(zone[0])) &&
            std::isdigit(static_cast<unsigned char>(zone[1])) && band >= 'C' && band <= 'X') {
            return (band >= 'N' ? 32600 : 32700) + std::stoi(zone);
        }
    }
    throw ImageFailure{"No extent", "no MGRS tile id in the product name " + reference};
}

std::string format_summary(const DbExtractSummary& s) {
    std::string out = "extract: " + std::to_string(s.extracted) + " images extracted, " +
                      std::to_string(s.no_parcels) + " without parcels, " +
                      std::to_string(s.failed) + " failed";
    if (!s.failed_by_status.empty()) {
        std::string by;
        for (const auto& [status, n] : s.failed_by_status) {
            by += (by.empty() ? "" : ", ") + status + " " + std::to_string(n);
        }
        out += " (" + by + ")";
    }
    const double images = static_cast<double>(s.extracted + s.no_parcels + s.failed);
    char tail[96];
    std::snprintf(tail, sizeof tail, " in %.1f s (%.2f images/s, %.0f rows/s)", s.seconds,
                  s.seconds > 0 ? images / s.seconds : 0.0,
                  s.seconds > 0 ? static_cast<double>(s.rows) / s.seconds : 0.0);
    return out + "; " + std::to_string(s.rows) + " rows" + tail;
}

DbExtractSummary extract_db(const DbExtractRequest& request,
                            const db::ConnectionSettings& settings) {
    if (request.card != "s2" && request.card != "bs" && request.card != "c6") {
        throw UsageError("--card " + request.card + " is not a card baims extract knows",
                         "Use --card s2 (Sentinel-2 L2A), bs (Sentinel-1 CARD-BS) or c6 "
                         "(Sentinel-1 CARD-COH6)");
    }
    std::string values = request.values;
    if (values.empty()) {
        auto it = settings.args.find("values");
        values = it == settings.args.end() ? "dn" : it->second;
    }
    if (values != "dn" && values != "harmonized") {
        throw UsageError("values '" + values + "' is not dn or harmonized",
                         "Use --values dn|harmonized (or args.values in the db_config)");
    }
    std::string selection = request.selection;
    if (selection.empty()) {
        auto it = settings.args.find("selection");
        selection = it == settings.args.end() ? "exact" : it->second;
    }
    if (selection != "exact" && selection != "jrc") {
        throw UsageError("selection '" + selection + "' is not exact or jrc",
                         "Use --selection exact|jrc (or args.selection in the db_config)");
    }
    if (selection == "jrc" && values == "harmonized") {
        throw UsageError("selection jrc reproduces the JRC extractor's DN; values harmonized "
                         "cannot be combined with it",
                         "Use --values dn with --selection jrc");
    }
    if (selection == "jrc" && request.card != "s2") {
        throw UsageError("selection jrc reproduces the JRC Sentinel-2 extractor; it has no "
                         "Sentinel-1 (--card " +
                             request.card + ") variant",
                         "Use --selection exact with --card " + request.card);
    }
    const auto t0 = std::chrono::steady_clock::now();
    Shared s{
        request, settings, plans(request), {}, values == "harmonized", selection == "jrc", {}, {},
        0,       {}};
    {
        db::Connection conn(settings);
        s.filter = queue_filter(conn, settings);
        if (request.create_tables && request.dry_run) {
            log::info("dry run: missing tables would be created; nothing written");
        } else if (request.create_tables) {
            db::create_tables(conn, settings.tables);
        }
        if (!request.rerun_status.empty()) {
            check_rerun_statuses(conn, settings.tables, request);
        }
        if (request.obsid != 0) {
            check_obsid(conn, settings.tables, request, s.filter);
        }
        if (!request.rerun_status.empty() && !request.dry_run) {
            // Re-queue once, at the start (an image done in this run is not taken again). An
            // `inprogress` image is only re-queued when no live worker holds a lease on it.
            std::string arr = "{";
            for (std::size_t i = 0; i < request.rerun_status.size(); ++i) {
                std::string q;
                for (char ch : request.rerun_status[i]) {
                    if (ch == '"' || ch == '\\') {
                        q += '\\';
                    }
                    q += ch;
                }
                arr += (i ? ",\"" : "\"") + q + "\"";
            }
            arr += "}";
            const auto& t = settings.tables;
            // The rows are locked first, so that the UPDATE (a new snapshot) sees the leases of
            // any claim that committed meanwhile: an UPDATE alone re-checks a concurrently
            // claimed row with the lease sub-query on its old snapshot (see claim()).
            const std::string where = " WHERE d.card = $1 AND ($2 = 0 OR d.id = $2) AND d.status ="
                                      " ANY($6::text[])" +
                                      queue_condition(t, s.filter);
            db::Transaction tx(conn, "re-queue");
            tx.exec_params("SELECT d.id FROM " + t.catalog.quoted() + " d" + where +
                               " ORDER BY d.id FOR UPDATE OF d",
                           request.card, request.obsid, s.filter.aoi, s.filter.start, s.filter.end,
                           arr);
            auto res = tx.exec_params(
                "UPDATE " + t.catalog.quoted() + " d SET status = 'ingested'" + where +
                    " AND NOT EXISTS (SELECT 1 FROM " + t.extraction.quoted() +
                    " e WHERE e.obsid = d.id AND e.lease_until > now()"
                    " AND d.status = 'inprogress')",
                request.card, request.obsid, s.filter.aoi, s.filter.start, s.filter.end, arr);
            tx.commit();
            log::info("extract: " + std::to_string(res.affected_rows()) + " images re-queued");
        }
        if (request.dry_run) {
            return {};
        }
    }
    const int n = std::max(1, request.workers);
    std::vector<std::thread> threads;
    std::exception_ptr error;
    std::mutex error_mutex;
    for (int i = 0; i < n; ++i) {
        threads.emplace_back([&, i] {
            try {
                work(s, i);
            } catch (...) {
                std::lock_guard lock(error_mutex);
                if (!error) {
                    error = std::current_exception();
                }
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    if (s.progress) {
        s.progress->finish();
    }
    if (error) {
        std::rethrow_exception(error);
    }
    s.summary.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return s.summary;
}

} // namespace baims::parcels
