#include "baims/core/features.hpp"

#include <stdexcept>

namespace baims {

const std::vector<FeatureInfo>& unavailable_features() {
    static const std::vector<FeatureInfo> table = {
        {Feature::Rechunk, "changing the chunk sizes of an existing cube in gen",
         "Rechunk the cube first with 'baims optimise CUBE --in-place --chunks lat=...,lon=...', "
         "remove output_writer_params.chunksizes (the cube keeps its own) or write to another "
         "output_path"},
        {Feature::TimeChunks, "extending a cube whose time chunks are not 1",
         "Rechunk the cube first with 'baims optimise CUBE --in-place --chunks time=1', or write "
         "to another output_path"},
        {Feature::VirtualOutput, "GDAL virtual paths other than /vsis3/ as output_path",
         "Write to a local path and copy the cube"},
    };
    return table;
}

namespace {
const FeatureInfo& info(Feature f) {
    for (const auto& e : unavailable_features()) {
        if (e.feature == f) {
            return e;
        }
    }
    throw std::logic_error("feature missing from the table of unavailable features");
}
} // namespace

std::string not_available(Feature f) {
    return info(f).what + " is not available in this version";
}

std::string instead(Feature f) {
    return info(f).instead;
}

} // namespace baims
