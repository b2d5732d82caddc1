#pragma once
// Crash injection for fault tests: with BAIMS_TEST_KILL_AT=<name>:<n> in the environment, the
// n-th time the program passes fault_point("<name>") it kills itself with SIGKILL (as kill -9
// would). Without the variable, fault_point costs one relaxed atomic load.

namespace baims {

void fault_point(const char* name);

} // namespace baims
