// Source geometries (rows, columns, descriptions) and the lon/lat -> CRS transformation.

#include "baims/io/geometry.hpp"

#include "baims/core/error.hpp"

#include <proj.h>

#include <cmath>
#include <limits>
#include <type_traits>

namespace baims::io {

size_t rows(const Geometry& g) {
    return std::visit(
        [](const auto& k) -> size_t {
            using T = std::decay_t<decltype(k)>;
            if constexpr (std::is_same_v<T, LatLonAxes>) {
                return k.lat.size();
            } else if constexpr (std::is_same_v<T, ProjectedAxes>) {
                return k.y.size();
            } else {
                return k.height;
            }
        },
        g);
}

size_t cols(const Geometry& g) {
    return std::visit(
        [](const auto& k) -> size_t {
            using T = std::decay_t<decltype(k)>;
            if constexpr (std::is_same_v<T, LatLonAxes>) {
                return k.lon.size();
            } else if constexpr (std::is_same_v<T, ProjectedAxes>) {
                return k.x.size();
            } else {
                return k.width;
            }
        },
        g);
}

std::string describe(const Geometry& g) {
    const std::string size = std::to_string(rows(g)) + "x" + std::to_string(cols(g));
    if (std::holds_alternative<LatLonAxes>(g)) {
        return "lat/lon " + size;
    }
    if (const auto* p = std::get_if<ProjectedAxes>(&g)) {
        return p->name + " x/y " + size;
    }
    return "2-D lat/lon " + size;
}

struct LonLatToCrs::Impl {
    PJ_CONTEXT* ctx = nullptr;
    PJ* pj = nullptr;
    ~Impl() {
        if (pj) {
            proj_destroy(pj);
        }
        if (ctx) {
            proj_context_destroy(ctx);
        }
    }
};

LonLatToCrs::LonLatToCrs(const std::string& crs, const std::string& from)
    : m_impl(std::make_unique<Impl>()) {
    m_impl->ctx = proj_context_create();
    proj_log_level(m_impl->ctx, PJ_LOG_NONE);
    PJ* raw = proj_create_crs_to_crs(m_impl->ctx, from.c_str(), crs.c_str(), nullptr);
    if (!raw) {
        // PROJ may fail without an error number (e.g. to an engineering CRS): its string is
        // then a null pointer, not text.
        const int err = proj_context_errno(m_impl->ctx);
        const char* why = err != 0 ? proj_context_errno_string(m_impl->ctx, err) : nullptr;
        throw InputError("PROJ cannot map longitude/latitude to the CRS '" + crs + "'" +
                             (why ? std::string(": ") + why : std::string()),
                         "Check the grid mapping of the input");
    }
    // Longitude first, latitude second; the target's x/y in its natural order.
    m_impl->pj = proj_normalize_for_visualization(m_impl->ctx, raw);
    proj_destroy(raw);
    if (!m_impl->pj) {
        throw InputError("PROJ cannot map longitude/latitude to the CRS '" + crs + "'",
                         "Check the grid mapping of the input");
    }
}

LonLatToCrs::LonLatToCrs(LonLatToCrs&&) noexcept = default;
LonLatToCrs& LonLatToCrs::operator=(LonLatToCrs&&) noexcept = default;
LonLatToCrs::~LonLatToCrs() = default;

namespace {

void run(PJ* pj, PJ_DIRECTION dir, double* x, double* y, size_t n) {
    if (n == 0) {
        return;
    }
    proj_errno_reset(pj);
    proj_trans_generic(pj, dir, x, sizeof(double), n, y, sizeof(double), n, nullptr, 0, 0, nullptr,
                       0, 0);
    constexpr double NaN = std::numeric_limits<double>::quiet_NaN();
    for (size_t i = 0; i < n; ++i) {
        // PROJ marks a point it cannot map with HUGE_VAL.
        if (!(std::abs(x[i]) < 1e300) || !(std::abs(y[i]) < 1e300)) {
            x[i] = NaN;
            y[i] = NaN;
        }
    }
}

} // namespace

void LonLatToCrs::transform(double* x, double* y, size_t n) const {
    run(m_impl->pj, PJ_FWD, x, y, n);
}

void LonLatToCrs::inverse(double* x, double* y, size_t n) const {
    run(m_impl->pj, PJ_INV, x, y, n);
}

} // namespace baims::io
