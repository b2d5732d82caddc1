// resample_swath.cpp's walk (both passes of map_swath) compiled a second time with every function
// targeted at AVX2: VEX code (three-operand, no register copies for the SSE2 intrinsics) and the
// 4-wide per-claim kernels under BAIMS_SWATH_AVX2_COPY. map_swath calls it (swath_avx2::walk_swath)
// when use_avx2() says so. The same IEEE operations in each lane as the baseline copy: the target
// is AVX2 alone (no FMA) and the file is compiled with -ffp-contract=off (CMakeLists.txt).
//
// Every header that resample_swath.cpp includes comes first, outside the target pragma: the
// inline functions and templates of those headers that this file instantiates are emitted as
// shared (COMDAT) code, of which the linker keeps one copy for the whole program; compiled for the
// baseline here, that copy runs on every CPU whichever object the linker takes it from (the
// functions of this file may still inline them). (-mavx2 on the whole file would risk an AVX2
// std::vector member, say, taken for the baseline code too.)
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include "baims/core/error.hpp"
#include "baims/core/huge_pages.hpp"
#include "baims/cube/resample.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <emmintrin.h>
#include <immintrin.h>
#include <limits>
#include <numbers>
#include <string_view>
#include <type_traits>
#include <vector>

#pragma GCC push_options
#pragma GCC target("avx2")
#define BAIMS_SWATH_AVX2_COPY 1
#include "resample_swath.cpp"
#pragma GCC pop_options
#endif
