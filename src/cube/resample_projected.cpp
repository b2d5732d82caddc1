// Resampling a projected source (1-D x/y axes in a CRS): each output pixel centre is mapped into
// the source x/y through PROJ (one batch transform per output row), then located on the x and y
// axes with the rules of the separable maps (map_axis: nearest over the cell footprints including
// the outer half pixel; bilinear between the neighbouring centres, clamped in the outer half
// pixel).

#include "baims/core/error.hpp"
#include "baims/core/interrupt.hpp"
#include "baims/cube/resample.hpp"

#include <algorithm>
#include <cmath>

namespace baims::cube {

PixelMap map_projected(const io::ProjectedAxes& src, const grid::Grid& out, Resampling method,
                       const io::ForEach& for_each) {
    if (method != Resampling::Nearest && method != Resampling::Bilinear) {
        throw ConfigError("output_resampling '" + to_string(method) +
                              "' is not available for inputs on a projected grid (" + src.name +
                              ")",
                          "use nearest or bilinear for them");
    }
    PixelMap m;
    m.width = out.width();
    m.height = out.height();
    const size_t W = m.width, H = m.height, n = W * H;
    const bool nearest = method == Resampling::Nearest;
    if (nearest) {
        m.nearest.assign(n, -1);
    } else {
        m.lo.assign(n, -1);
        m.step.assign(n, 4); // (0, 0)
        m.wx.assign(n, 0.f);
        m.wy.assign(n, 0.f);
    }
    const auto lons = out.x_centers();
    const auto lats = out.y_centers();
    const auto src_w = static_cast<std::int64_t>(src.x.size());
    // A one-cell axis has no spacing of its own: its cell is as wide as the grid's other axis.
    const double x_step = src.x.size() > 1   ? std::abs(src.x[1] - src.x[0])
                          : src.y.size() > 1 ? std::abs(src.y[1] - src.y[0])
                                             : 1.0;
    const double y_step = src.y.size() > 1 ? std::abs(src.y[1] - src.y[0]) : x_step;
    // Bands of output rows, each with its own PROJ context.
    const size_t bands = std::min<size_t>(H, 16);
    for_each(bands, [&](size_t band) {
        const io::LonLatToCrs to_src(src.crs);
        std::vector<double> xs(W), ys(W);
        for (size_t r = band * H / bands; r < (band + 1) * H / bands; ++r) {
            if ((r & 15) == 0) {
                check_interrupted();
            }
            std::copy(lons.begin(), lons.end(), xs.begin());
            std::fill(ys.begin(), ys.end(), lats[r]);
            to_src.transform(xs.data(), ys.data(), W);
            const AxisMap xm = map_axis(src.x, xs, x_step, method, false);
            const AxisMap ym = map_axis(src.y, ys, y_step, method, false);
            const size_t base = r * W;
            for (size_t c = 0; c < W; ++c) {
                if (nearest) {
                    const auto sx = xm.nearest[c], sy = ym.nearest[c];
                    if (sx >= 0 && sy >= 0) {
                        m.nearest[base + c] = static_cast<std::int32_t>(sy * src_w + sx);
                    }
                    continue;
                }
                if (xm.lo[c] < 0 || ym.lo[c] < 0) {
                    continue;
                }
                m.lo[base + c] = static_cast<std::int32_t>(ym.lo[c] * src_w + xm.lo[c]);
                const int dc = xm.hi[c] - xm.lo[c], dr = ym.hi[c] - ym.lo[c];
                m.step[base + c] = static_cast<std::uint8_t>((dc + 1) + 3 * (dr + 1));
                m.wx[base + c] = xm.w[c];
                m.wy[base + c] = ym.w[c];
            }
        }
    });
    return m;
}

} // namespace baims::cube
