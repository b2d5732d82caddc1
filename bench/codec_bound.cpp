// The codec's share of a tiles run: decompresses every chunk file of the level-0 arrays given and
// recompresses the chunks of the pyramid levels given, with the Blosc settings of each array's
// .zarray, on 1 and on T threads (one chunk per job), and reports bytes and CPU/wall seconds.
// Files are read into memory before the clock starts: this is the codec alone, the lower bound of
// what reading level 0 and writing levels 1..N-1 cost.
//
// Build:  g++ -O2 -std=c++20 -o /tmp/codec_bound bench/codec_bound.cpp -lblosc -pthread
// Usage:  /tmp/codec_bound [-t THREADS] [-c CLEVEL] decode DIR... [encode DIR...]
//         (-c: encode at this clevel instead of the array's own)
//         (DIR: a Zarr v2 array folder with .zarray, e.g. c.zarr/sst or c.levels/1.zarr/sst)
#include <blosc.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;

struct Chunk {
    std::string bytes;
    int clevel = 5, shuffle = 1, typesize = 4;
    std::string cname = "lz4";
};

static std::string slurp(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// The few settings of .zarray this needs, by regex (no JSON library in a one-file bench).
static void settings(const std::string& zarray, Chunk& c) {
    std::smatch m;
    if (std::regex_search(zarray, m, std::regex("\"clevel\"\\s*:\\s*(\\d+)"))) {
        c.clevel = std::stoi(m[1]);
    }
    if (std::regex_search(zarray, m, std::regex("\"shuffle\"\\s*:\\s*(-?\\d+)"))) {
        c.shuffle = std::stoi(m[1]);
    }
    if (std::regex_search(zarray, m, std::regex("\"cname\"\\s*:\\s*\"(\\w+)\""))) {
        c.cname = m[1];
    }
    if (std::regex_search(zarray, m, std::regex("\"dtype\"\\s*:\\s*\"[<>|]\\w(\\d+)\""))) {
        c.typesize = std::stoi(m[1]);
    }
}

static std::vector<Chunk> load(const std::string& dir) {
    Chunk proto;
    settings(slurp(fs::path(dir) / ".zarray"), proto);
    std::vector<Chunk> out;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
        if (e.is_regular_file() && e.path().filename().string()[0] != '.') {
            Chunk c = proto;
            c.bytes = slurp(e.path());
            out.push_back(std::move(c));
        }
    }
    return out;
}

static double cpu_now() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Runs job(i) for i < n on `threads` threads; returns {wall, cpu} seconds.
template <class F> static std::pair<double, double> timed(size_t n, int threads, F job) {
    std::atomic<size_t> next{0};
    const auto w0 = std::chrono::steady_clock::now();
    const double c0 = cpu_now();
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
        ts.emplace_back([&] {
            for (size_t i; (i = next++) < n;) {
                job(i);
            }
        });
    }
    for (auto& t : ts) {
        t.join();
    }
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
    return {wall, cpu_now() - c0};
}

int main(int argc, char** argv) {
    int threads = 2, clevel = -1;
    std::vector<Chunk> dec, enc;
    bool encoding = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "-t" && i + 1 < argc) {
            threads = std::stoi(argv[++i]);
        } else if (a == "-c" && i + 1 < argc) {
            clevel = std::stoi(argv[++i]);
        } else if (a == "decode") {
            encoding = false;
        } else if (a == "encode") {
            encoding = true;
        } else {
            for (auto& c : load(a)) {
                (encoding ? enc : dec).push_back(std::move(c));
            }
        }
    }
    // decoded buffers (also the input of the encode pass)
    auto decoded = [](std::vector<Chunk>& cs) {
        std::vector<std::vector<char>> out(cs.size());
        size_t stored = 0, raw = 0;
        for (size_t i = 0; i < cs.size(); ++i) {
            size_t nb = 0;
            blosc_cbuffer_validate(cs[i].bytes.data(), cs[i].bytes.size(), &nb);
            out[i].resize(nb);
            stored += cs[i].bytes.size();
            raw += nb;
        }
        return std::make_tuple(std::move(out), stored, raw);
    };
    if (clevel >= 0) {
        for (auto& c : enc) {
            c.clevel = clevel;
        }
    }
    auto [dbuf, dstored, draw] = decoded(dec);
    auto [ebuf, estored, eraw] = decoded(enc);
    for (size_t i = 0; i < enc.size(); ++i) {
        blosc_decompress_ctx(enc[i].bytes.data(), ebuf[i].data(), ebuf[i].size(), 1);
    }
    std::vector<std::vector<char>> cbuf(enc.size());
    std::vector<size_t> enc_bytes(enc.size());
    for (size_t i = 0; i < enc.size(); ++i) {
        cbuf[i].resize(ebuf[i].size() + BLOSC_MAX_OVERHEAD);
    }
    std::printf("decode: %zu chunks, %.1f MB stored, %.1f MB decoded\n", dec.size(), dstored / 1e6,
                draw / 1e6);
    std::printf("encode: %zu chunks, %.1f MB raw, %.1f MB stored\n", enc.size(), eraw / 1e6,
                estored / 1e6);
    for (int t : {1, threads}) {
        for (int rep = 0; rep < 3; ++rep) {
            auto [dw, dc] = timed(dec.size(), t, [&](size_t i) {
                blosc_decompress_ctx(dec[i].bytes.data(), dbuf[i].data(), dbuf[i].size(), 1);
            });
            auto [ew, ec] = timed(enc.size(), t, [&](size_t i) {
                const int n = blosc_compress_ctx(enc[i].clevel, enc[i].shuffle, enc[i].typesize,
                                                 ebuf[i].size(), ebuf[i].data(), cbuf[i].data(),
                                                 cbuf[i].size(), enc[i].cname.c_str(), 0, 1);
                enc_bytes[i] = n > 0 ? static_cast<size_t>(n) : 0;
            });
            size_t out = 0;
            for (size_t b : enc_bytes) {
                out += b;
            }
            std::printf("threads %d: decode %.3f s wall %.3f s CPU; encode %.3f s wall %.3f s "
                        "CPU (%.1f MB)\n",
                        t, dw, dc, ew, ec, out / 1e6);
        }
    }
}
