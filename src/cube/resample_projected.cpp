// Resampling a projected source (1-D x/y axes in a CRS): output pixel centres mapped into x/y.

#include "baims/core/error.hpp"
#include "baims/cube/resample.hpp"

namespace baims::cube {

PixelMap map_projected(const io::ProjectedAxes& src, const grid::Grid& /*out*/,
                       Resampling /*method*/, const io::ForEach& /*for_each*/) {
    throw InputError("resampling a projected source (" + src.name +
                     ") is not available in this version");
}

} // namespace baims::cube
