#include "support/process.hpp"

#include "support/temp_dir.hpp"

#include <csignal>
#include <fcntl.h>
#include <spawn.h>
#include <stdexcept>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace baims::test {

namespace {

// Starts argv with stdout and stderr going to dir/out and dir/err.
int spawn(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
          const std::filesystem::path& dir) {
    std::vector<std::string> envs;
    for (char** e = environ; *e; ++e) {
        std::string kv = *e;
        if (!env.count(kv.substr(0, kv.find('=')))) {
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

std::string Child::out_so_far() const {
    return slurp(m_dir / "out");
}

RunResult Child::wait() {
    m_waited = true;
    return collect(m_pid, m_dir);
}

void Child::kill(int signal) {
    ::kill(m_pid, signal);
}

std::string last_line(const std::string& s) {
    std::string t = s;
    while (!t.empty() && t.back() == '\n') {
        t.pop_back();
    }
    auto nl = t.rfind('\n');
    return nl == std::string::npos ? t : t.substr(nl + 1);
}

} // namespace baims::test
