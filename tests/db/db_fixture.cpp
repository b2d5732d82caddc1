#include "db_fixture.hpp"

#include "baims/core/error.hpp"

#include <catch2/catch.hpp>
#include <gdal_priv.h>
#include <ogrsf_frmts.h>

#include <arpa/inet.h>
#include <cstdlib>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace baims::test {

void require_server() {
    const char* host = std::getenv("PGHOST");
    if (!host || !*host) {
        FAIL("PGHOST is not set: the db tests need the throwaway server; run them as "
             "'tests/scripts/pg_tmp.sh ctest --test-dir <build> -L db'");
    }
}

db::Connection connect() {
    require_server();
    return db::Connection(db::ConnectionSettings::from_environment());
}

TempSchema::TempSchema(const std::string& tag)
    : m_conn(connect())
    , m_name("Parcels \"2024\" " + tag) {
    m_conn.exec("DROP SCHEMA IF EXISTS " + quoted() + " CASCADE");
    m_conn.exec("CREATE SCHEMA " + quoted());
}

TempSchema::~TempSchema() {
    try {
        m_conn.exec("DROP SCHEMA IF EXISTS " + quoted() + " CASCADE");
    } catch (...) {
    }
}

std::string TempSchema::quoted() const {
    return db::quote_ident(m_name);
}

std::string TempSchema::table(const std::string& t) const {
    return quoted() + "." + db::quote_ident(t);
}

std::string baims_binary() {
    return BAIMS_BINARY;
}

std::string nc_gpkg() {
    return std::string(BAIMS_SOURCE_DIR "/tests/data/sf/nc.gpkg");
}

RunResult ingest(std::vector<std::string> args) {
    args.insert(args.begin(), {baims_binary(), "--progress", "never", "ingest-vector"});
    return run(args);
}

std::int64_t rows(db::Connection& c, const std::string& from) {
    return c.exec("SELECT count(*) FROM " + from).int64(0, 0);
}

bool exists(db::Connection& c, const std::string& quoted_table) {
    return c.exec_params("SELECT to_regclass($1) IS NOT NULL", quoted_table).boolean(0, 0);
}

GDALDriver* gdal_driver(const char* name) {
    if (GDALGetDriverCount() == 0) {
        GDALAllRegister();
    }
    return GetGDALDriverManager()->GetDriverByName(name);
}

void make_polygon_gpkg(const std::filesystem::path& path, int n) {
    GDALDatasetUniquePtr ds(
        gdal_driver("GPKG")->Create(path.c_str(), 0, 0, 0, GDT_Unknown, nullptr));
    REQUIRE(ds);
    OGRSpatialReference srs;
    srs.importFromEPSG(4326);
    auto* layer = ds->CreateLayer("polys", &srs, wkbPolygon, nullptr);
    OGRFieldDefn name("name", OFTString);
    OGRFieldDefn value("value", OFTReal);
    layer->CreateField(&name);
    layer->CreateField(&value);
    ds->StartTransaction();
    for (int i = 0; i < n; ++i) {
        OGRFeature f(layer->GetLayerDefn());
        double x = (i % 1000) * 0.01;
        double y = (i / 1000) * 0.01;
        OGRLinearRing ring;
        ring.addPoint(x, y);
        ring.addPoint(x + 0.008, y);
        ring.addPoint(x + 0.008, y + 0.008);
        ring.addPoint(x, y + 0.008);
        ring.addPoint(x, y);
        OGRPolygon poly;
        poly.addRing(&ring);
        f.SetGeometry(&poly);
        f.SetField(0, ("parcel\t" + std::to_string(i)).c_str());
        f.SetField(1, i * 0.5);
        REQUIRE(layer->CreateFeature(&f) == OGRERR_NONE);
    }
    ds->CommitTransaction();
}

int unused_port() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    int port = ntohs(a.sin_port);
    close(fd); // nothing listens on it now
    return port;
}

} // namespace baims::test
