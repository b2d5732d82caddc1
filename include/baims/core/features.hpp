#pragma once
// What this version does not have yet, in one table. Every "not available" message and its hint
// come from here, so that no message sends a user to a command, processor or option that does not
// work (tests/unit/config/test_config.cpp checks the table).

#include <string>
#include <vector>

namespace baims {

enum class Feature {
    Rechunk,       // other chunks for an existing cube (the planned `baims optimise`)
    TimeChunks,    // extending a cube whose time chunks are not 1
    VirtualOutput, // /vsi… output paths
};

struct FeatureInfo {
    Feature feature;
    std::string what;    // "<what> is not available in this version"
    std::string instead; // what to do today (a hint that works in this version)
};

// Every entry, in enum order.
const std::vector<FeatureInfo>& unavailable_features();

// "<what> is not available in this version"
std::string not_available(Feature f);
// The hint: what to do instead, with this version.
std::string instead(Feature f);

} // namespace baims
