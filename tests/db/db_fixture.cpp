#include "db_fixture.hpp"

#include "baims/core/error.hpp"
#include "baims/core/text.hpp"

#include <catch2/catch.hpp>
#include <gdal_priv.h>
#include <ogrsf_frmts.h>

#include <arpa/inet.h>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <netinet/in.h>
#include <spawn.h>
#include <sstream>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

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

namespace {

std::filesystem::path make_temp_dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "baims-dbtest.XXXXXX").string();
    if (!mkdtemp(tmpl.data())) {
        throw std::runtime_error("mkdtemp failed");
    }
    return tmpl;
}

std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

struct TempDirs {
    std::vector<std::filesystem::path> dirs;
    ~TempDirs() {
        for (const auto& d : dirs) {
            std::error_code ec;
            std::filesystem::remove_all(d, ec);
        }
    }
};
TempDirs g_dirs;

int spawn(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
          const std::filesystem::path& dir) {
    std::vector<std::string> envs;
    for (char** e = environ; *e; ++e) {
        std::string kv = *e;
        auto key = kv.substr(0, kv.find('='));
        if (!env.count(key)) {
            envs.push_back(kv);
        }
    }
    for (const auto& [k, v] : env) {
        if (!v.empty()) {
            envs.push_back(k + "=" + v);
        }
    }
    std::vector<char*> cargv;
    for (const auto& a : argv) {
        cargv.push_back(const_cast<char*>(a.c_str()));
    }
    cargv.push_back(nullptr);
    std::vector<char*> cenv;
    for (auto& e : envs) {
        cenv.push_back(e.data());
    }
    cenv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, (dir / "out").c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    posix_spawn_file_actions_addopen(&fa, 2, (dir / "err").c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    pid_t pid = -1;
    int rc = posix_spawnp(&pid, cargv[0], &fa, nullptr, cargv.data(), cenv.data());
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        throw std::runtime_error("cannot start " + argv[0]);
    }
    return pid;
}

RunResult collect(int pid, const std::filesystem::path& dir) {
    int status = 0;
    waitpid(pid, &status, 0);
    RunResult r;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = slurp(dir / "out");
    r.err = slurp(dir / "err");
    return r;
}

} // namespace

std::filesystem::path temp_dir() {
    auto d = make_temp_dir();
    g_dirs.dirs.push_back(d);
    return d;
}

RunResult run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env) {
    auto dir = temp_dir();
    return collect(spawn(argv, env, dir), dir);
}

Child::Child(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env)
    : m_dir(temp_dir()) {
    m_pid = spawn(argv, env, m_dir);
}

Child::~Child() {
    if (!m_waited) {
        ::kill(m_pid, SIGKILL);
        int status;
        waitpid(m_pid, &status, 0);
    }
}

RunResult Child::wait() {
    m_waited = true;
    return collect(m_pid, m_dir);
}

void Child::kill(int signal) {
    ::kill(m_pid, signal);
}

std::string baims_binary() {
    return BAIMS_BINARY;
}

std::string nc_gpkg() {
    return std::string(BAIMS_SOURCE_DIR) + "/tests/data/sf/nc.gpkg";
}

void make_polygon_gpkg(const std::filesystem::path& path, int n) {
    if (GDALGetDriverCount() == 0) {
        GDALAllRegister();
    }
    auto* drv = GetGDALDriverManager()->GetDriverByName("GPKG");
    GDALDatasetUniquePtr ds(drv->Create(path.c_str(), 0, 0, 0, GDT_Unknown, nullptr));
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

std::string last_line(const std::string& s) {
    std::string t = s;
    while (!t.empty() && t.back() == '\n') {
        t.pop_back();
    }
    auto nl = t.rfind('\n');
    return nl == std::string::npos ? t : t.substr(nl + 1);
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
