#include "baims/catalog/baseline.hpp"

#include "baims/core/text.hpp"

#include <unordered_map>

namespace baims::catalog {

namespace {

bool all_digits(std::string_view s) {
    for (char c : s) {
        if (c < '0' || c > '9') {
            return false;
        }
    }
    return !s.empty();
}

bool is_datetime(std::string_view s) { // 20230420T113631
    return s.size() == 15 && s[8] == 'T' && all_digits(s.substr(0, 8)) && all_digits(s.substr(9));
}

} // namespace

std::string S2ProductName::group_key() const {
    return mission + '_' + level + '_' + sensing + '_' + rel_orbit + '_' + tile;
}

std::optional<S2ProductName> parse_s2_name(std::string_view title) {
    if (text::ends_with(title, ".SAFE")) {
        title.remove_suffix(5);
    }
    auto parts = text::split(title, '_');
    if (parts.size() != 7) {
        return std::nullopt;
    }
    const auto& n = parts[3];
    if (!text::starts_with(parts[0], "S2") || !text::starts_with(parts[1], "MSI") ||
        !is_datetime(parts[2]) || n.size() != 5 || n[0] != 'N' || !all_digits(n.substr(1)) ||
        parts[4].size() < 2 || parts[4][0] != 'R' || parts[5].size() < 2 || parts[5][0] != 'T' ||
        !is_datetime(parts[6])) {
        return std::nullopt;
    }
    S2ProductName name;
    name.mission = parts[0];
    name.level = parts[1];
    name.sensing = parts[2];
    name.baseline = std::stoi(n.substr(1));
    name.rel_orbit = parts[4];
    name.tile = parts[5];
    name.generation = parts[6];
    return name;
}

std::vector<SceneRecord> keep_latest_baseline(std::vector<SceneRecord> records) {
    // best[group] = index of the newest record so far
    std::unordered_map<std::string, size_t> best;
    std::vector<std::optional<S2ProductName>> names(records.size());
    for (size_t i = 0; i < records.size(); ++i) {
        names[i] = parse_s2_name(records[i].reference);
        if (!names[i]) {
            continue;
        }
        auto [it, inserted] = best.emplace(names[i]->group_key(), i);
        if (!inserted) {
            const auto& cur = *names[it->second];
            const auto& cand = *names[i];
            if (cand.baseline > cur.baseline ||
                (cand.baseline == cur.baseline && cand.generation > cur.generation)) {
                it->second = i;
            }
        }
    }
    std::vector<SceneRecord> kept;
    kept.reserve(records.size());
    for (size_t i = 0; i < records.size(); ++i) {
        if (!names[i] || best.at(names[i]->group_key()) == i) {
            kept.push_back(std::move(records[i]));
        }
    }
    return kept;
}

} // namespace baims::catalog
