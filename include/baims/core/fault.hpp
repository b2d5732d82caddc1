#pragma once
// Crash injection for fault tests: with BAIMS_TEST_KILL_AT=<name>:<n> in the environment, the
// n-th time the program passes fault_point("<name>") it kills itself with SIGKILL (as kill -9
// would). With BAIMS_TEST_FAIL_AT=<name>:<n> it throws std::logic_error there instead: a stand-in
// for a bug, which main() reports as an internal error (exit 70). Without the variables,
// fault_point costs one relaxed atomic load.

namespace baims {

void fault_point(const char* name);

} // namespace baims
