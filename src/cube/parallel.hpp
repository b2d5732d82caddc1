#pragma once
// parallel_for of the cube commands: baims::parallel_for on the run's thread pool.

#include "baims/core/parallel.hpp"
