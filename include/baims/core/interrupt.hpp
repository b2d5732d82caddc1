#pragma once
// Cooperative cancellation: SIGINT/SIGTERM set a flag; long loops call check_interrupted().

namespace baims {

void install_signal_handlers();
bool interrupted() noexcept;
// Throws Interrupted when a signal arrived.
void check_interrupted();
// For tests.
void reset_interrupted() noexcept;

} // namespace baims
