// The Input base and the table of input kinds (input_processor_name -> open function).

#include "baims/io/input.hpp"

#include "input_kinds.hpp"

#include "baims/core/error.hpp"
#include "baims/core/text.hpp"
#include "baims/io/fingerprint.hpp"

#include <algorithm>
#include <vector>

namespace baims::io {
namespace {

using OpenFn = std::unique_ptr<Input> (*)(const std::filesystem::path&, const nlohmann::json&);

struct Kind {
    const char* name; // input_processor_name
    OpenFn open;
};

// Every input kind, in one place. A new kind adds its row here.
constexpr Kind KINDS[] = {
    {"default", &open_cf},
    {"curvilinear", &open_curvilinear},
    {"geotiff", &open_geotiff},
    {"sentinel2-l2a", &open_sentinel2_l2a},
};

} // namespace

void words_from_values(const double* values, size_t n, uint64_t* out, uint8_t* valid) {
    for (size_t i = 0; i < n; ++i) {
        const double x = values[i];
        // -2^63 <= x < 2^64 (false for NaN)
        const bool ok = x >= -9223372036854775808.0 && x < 18446744073709551616.0;
        out[i] = !ok     ? 0
                 : x < 0 ? static_cast<uint64_t>(static_cast<int64_t>(x))
                         : static_cast<uint64_t>(x);
        valid[i] = ok ? 1 : 0;
    }
}

void Input::read_words(const std::string& var, size_t step, FlagWords& out,
                       const ForEach& for_each) const {
    const size_t n = rows(geometry()) * cols(geometry());
    std::vector<float> buf(n);
    read(var, step, buf.data(), for_each);
    const std::vector<double> values(buf.begin(), buf.end());
    out.w32.clear();
    out.w64.resize(n);
    out.valid.resize(n);
    words_from_values(values.data(), n, out.w64.data(), out.valid.data());
}

void Input::read_cells(const std::string& var, size_t step, float* out, const ForEach& for_each,
                       const CellSet& cells) const {
    std::vector<float> all(cells.size); // (a swath's CF files have no geometry of their own)
    read(var, step, all.data(), for_each);
    cells.for_each_in(0, all.size(), [&](size_t i, size_t k) { out[k] = all[i]; });
}

void Input::read_words_cells(const std::string& var, size_t step, FlagWords& out,
                             const ForEach& for_each, const CellSet& cells) const {
    FlagWords all;
    read_words(var, step, all, for_each);
    if (all.valid.size() != cells.size) {
        throw InternalError("read_words_cells: " + std::to_string(all.valid.size()) +
                            " words for a set of " + std::to_string(cells.size) + " cells");
    }
    out.w32.resize(all.w32.empty() ? 0 : cells.count);
    out.w64.resize(all.w64.empty() ? 0 : cells.count);
    out.valid.resize(cells.count);
    cells.for_each_in(0, all.valid.size(), [&](size_t i, size_t k) {
        if (!all.w32.empty()) {
            out.w32[k] = all.w32[i];
        } else {
            out.w64[k] = all.w64[i];
        }
        out.valid[k] = all.valid[i];
    });
}

nlohmann::json Input::identity() const {
    return file_identity(path());
}

void Input::read_window(const std::string& var, size_t step, float* out, const ForEach& for_each,
                        const Window& /*window*/) const {
    read(var, step, out, for_each);
}

void Input::read(const std::string& var, size_t step, float* out) const {
    read(var, step, out, [](size_t n, const std::function<void(size_t)>& task) {
        for (size_t i = 0; i < n; ++i) {
            task(i);
        }
    });
}

const VarInfo* Input::find(std::string_view name) const {
    for (const auto& v : variables()) {
        if (v.name == name) {
            return &v;
        }
    }
    return nullptr;
}

std::vector<std::string> input_processor_names() {
    std::vector<std::string> out;
    for (const auto& k : KINDS) {
        out.emplace_back(k.name);
    }
    return out;
}

std::unique_ptr<Input> open_input(const std::string& processor, const std::filesystem::path& path,
                                  const nlohmann::json& params) {
    for (const auto& k : KINDS) {
        if (processor == k.name) {
            return k.open(path, params);
        }
    }
    const auto names = input_processor_names();
    const auto guess = text::did_you_mean(processor, names);
    throw ConfigError("unknown input_processor_name '" + processor + "'" +
                          (guess.empty() ? "" : " (did you mean '" + guess + "'?)"),
                      "Known: " + text::join(names, ", "));
}

} // namespace baims::io
