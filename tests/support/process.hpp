#pragma once
// Running programs from the tests (no shell): the real baims binary, helper servers.

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace baims::test {

struct RunResult {
    int exit_code = -1; // 128 + signal when killed
    std::string out;
    std::string err;
};

// Runs argv (argv[0] looked up in PATH unless it has a slash) with extra environment variables
// (value "" unsets), waits, and returns the exit code and the captured stdout and stderr.
RunResult run(const std::vector<std::string>& argv,
              const std::map<std::string, std::string>& env = {});

// The same, in the background; killed (SIGKILL) and reaped on destruction unless waited for.
class Child {
public:
    explicit Child(const std::vector<std::string>& argv,
                   const std::map<std::string, std::string>& env = {});
    ~Child();
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;
    int pid() const { return m_pid; }
    // The stdout written so far (the child keeps running).
    std::string out_so_far() const;
    RunResult wait();
    void kill(int signal);

private:
    int m_pid = -1;
    std::filesystem::path m_dir;
    bool m_waited = false;
};

// The last non-empty line of s (the error line comes after any log lines).
std::string last_line(const std::string& s);

} // namespace baims::test
