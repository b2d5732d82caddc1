// A cube's store and lock, locally and on object storage: see cube_store.hpp.

#include "cube_store.hpp"

#include "journal.hpp"

#include "baims/core/error.hpp"
#include "baims/core/fs.hpp"
#include "baims/core/log.hpp"
#include "baims/zarr/json.hpp"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <random>
#include <unistd.h>

namespace baims::cube {
namespace {

class PosixCubeLock : public CubeLock {
public:
    PosixCubeLock(const std::filesystem::path& file, const std::string& what)
        : m_lock(file, what) {}

private:
    fs::FileLock m_lock;
};

// An ObjectLease that owns its store.
class OwnedObjectLease : public CubeLock {
public:
    OwnedObjectLease(const std::filesystem::path& cube, const std::string& what,
                     const std::string& command)
        : m_store(cube.string())
        , m_lease(m_store, what, command) {}

private:
    zarr::VsiStore m_store;
    ObjectLease m_lease;
};

std::string host_name() {
    char buf[256] = {0};
    if (::gethostname(buf, sizeof buf - 1) != 0) {
        return "unknown";
    }
    return buf;
}

long long unix_now() {
    return static_cast<long long>(std::time(nullptr));
}

std::string utc_text(long long t) {
    const std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    ::gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

// A lease document read from the store; nullopt if it cannot be parsed.
struct Lease {
    std::string holder;
    std::string host;
    long long pid = 0;
    std::string command;
    long long expires = 0;
};

std::optional<Lease> parse_lease(const std::string& text) {
    try {
        const auto j = nlohmann::json::parse(text);
        Lease l;
        l.holder = j.at("holder").get<std::string>();
        l.host = j.at("host").get<std::string>();
        l.pid = j.at("pid").get<long long>();
        l.command = j.value("command", std::string("baims"));
        l.expires = j.at("expires_unix").get<long long>();
        return l;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

std::string describe(const Lease& l) {
    return l.command + " on host " + l.host + ", pid " + std::to_string(l.pid) + ", lease until " +
           utc_text(l.expires);
}

// Why a lease of another holder no longer counts ("" if it still does).
std::string stale_reason(const Lease& l, const std::string& my_host) {
    if (l.expires <= unix_now()) {
        return "expired at " + utc_text(l.expires);
    }
    if (l.host == my_host && l.pid > 0 && ::kill(static_cast<pid_t>(l.pid), 0) != 0 &&
        errno == ESRCH) {
        return "its process no longer runs";
    }
    return "";
}

} // namespace

std::unique_ptr<zarr::KvStore> open_cube_store(const std::filesystem::path& cube) {
    if (zarr::is_object_storage_path(cube.string())) {
        return std::make_unique<zarr::VsiStore>(cube.string());
    }
    return std::make_unique<zarr::FileStore>(cube, true);
}

std::unique_ptr<CubeLock> lock_cube(const std::filesystem::path& cube, const std::string& what,
                                    const std::string& command) {
    if (zarr::is_object_storage_path(cube.string())) {
        return std::make_unique<OwnedObjectLease>(cube, what, command);
    }
    return std::make_unique<PosixCubeLock>(cube / LOCK_FILE, what);
}

std::chrono::seconds ObjectLease::duration() {
    long long s = 600;
    if (const char* v = std::getenv("BAIMS_S3_LEASE_SECONDS"); v != nullptr && *v != '\0') {
        char* end = nullptr;
        const long long parsed = std::strtoll(v, &end, 10);
        if (end != nullptr && *end == '\0' && parsed > 0) {
            s = parsed;
        }
    }
    return std::chrono::seconds(std::max<long long>(s, 10));
}

ObjectLease::ObjectLease(zarr::VsiStore& store, std::string what, std::string command)
    : m_store(store)
    , m_what(std::move(what))
    , m_command(std::move(command))
    , m_host(host_name())
    , m_duration(duration()) {
    std::random_device rd;
    m_holder = m_host + ":" + std::to_string(::getpid()) + ":" + std::to_string(rd()) +
               std::to_string(rd());
    const std::string where = m_store.root() + "/" + LOCK_FILE;
    auto refuse = [&](const Lease& l) {
        throw OutputError(m_what + " is locked by another baims process (" + describe(l) + ")",
                          "Wait for it to finish; if it no longer runs, wait until the lease "
                          "expires or delete '" +
                              where + "'");
    };
    auto text0 = m_store.get(LOCK_FILE);
    if (text0 && text0->find_first_not_of("0123456789 \n") == std::string::npos) {
        text0.reset(); // the lock file of a local cube (empty or a pid), copied along: no lease
    }
    if (auto text = text0) {
        const auto other = parse_lease(*text);
        if (!other) {
            throw OutputError(m_what + " has an unreadable lease '" + where + "'",
                              "Make sure no baims process writes the cube, then delete it");
        }
        const std::string why = stale_reason(*other, m_host);
        if (why.empty()) {
            refuse(*other);
        }
        log::warn("taking over the lease of " + m_what + " from " + other->command + " on host " +
                  other->host + ", pid " + std::to_string(other->pid) + ": " + why);
    }
    m_store.put(LOCK_FILE, document());
    // Another writer that read no valid lease at the same moment wrote its own: the last PUT
    // wins, and both see the winner once the server has both.
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    auto text = m_store.get(LOCK_FILE);
    const auto now = text ? parse_lease(*text) : std::nullopt;
    if (!now || now->holder != m_holder) {
        if (now) {
            refuse(*now);
        }
        throw OutputError(m_what + ": another process removed the lease '" + where +
                              "' as it was taken",
                          "Make sure no other baims process writes the cube, then run again");
    }
    m_renewer = std::thread([this] { renew_loop(); });
}

ObjectLease::~ObjectLease() {
    {
        std::lock_guard guard(m_mutex);
        m_stop = true;
    }
    m_wake.notify_all();
    if (m_renewer.joinable()) {
        m_renewer.join();
    }
    try {
        auto text = m_store.get(LOCK_FILE);
        const auto now = text ? parse_lease(*text) : std::nullopt;
        if (now && now->holder == m_holder) {
            m_store.erase(LOCK_FILE);
        }
    } catch (const std::exception& e) {
        try {
            log::warn("could not release the lease of " + m_what + ": " + e.what() +
                      "; it expires by itself");
        } catch (...) { // NOLINT(bugprone-empty-catch): logging must not throw from here
        }
    }
}

std::string ObjectLease::document() const {
    const long long expires = unix_now() + m_duration.count();
    nlohmann::json j{{"format", "baims-lease/1"},
                     {"holder", m_holder},
                     {"host", m_host},
                     {"pid", static_cast<long long>(::getpid())},
                     {"command", m_command},
                     {"expires", utc_text(expires)},
                     {"expires_unix", expires}};
    return j.dump() + "\n";
}

void ObjectLease::renew_loop() {
    std::unique_lock lock(m_mutex);
    while (!m_wake.wait_for(lock, m_duration / 3, [this] { return m_stop; })) {
        lock.unlock();
        try {
            auto text = m_store.get(LOCK_FILE);
            const auto now = text ? parse_lease(*text) : std::nullopt;
            if (!now || now->holder != m_holder) {
                log::warn("lost the lease of " + m_what +
                          (now ? " to " + describe(*now) : std::string(": it was deleted")) +
                          "; another writer may change the cube now");
                return;
            }
            m_store.put(LOCK_FILE, document());
        } catch (const std::exception& e) {
            log::warn("could not renew the lease of " + m_what + ": " + e.what());
        }
        lock.lock();
    }
}

bool has_objects_besides_lease(const zarr::VsiStore& store) {
    for (const auto& key : store.list_tree("", 2)) {
        if (key != LOCK_FILE) {
            return true;
        }
    }
    return false;
}

void erase_all_but_lease(zarr::VsiStore& store) {
    auto keys = store.list_tree("");
    std::erase(keys, LOCK_FILE);
    store.erase_keys(keys);
}

} // namespace baims::cube
