// bench/lower_bound.cpp: the lower bound of `baims gen` on one core (SPEC 11), measured on the
// same files as the benchmark:
//
//   lower_bound read VAR FILE...   time to read (inflate) VAR of every input with
//                                  nc_get_vara_float, every time step, whole slab at once
//   lower_bound read-direct VAR FILE...
//                                  the fastest way we know to read the same: HDF5's chunk index,
//                                  pread of each chunk, libdeflate inflate and byte unshuffle
//                                  (NetCDF-4 deflate/shuffle inputs only; what baims gen does on
//                                  its worker threads)
//   lower_bound compress CUBE/VAR  decode every chunk file of the Zarr array with blosc_decompress
//                                  (not timed), then time only blosc_compress_ctx over them
//                                  with the array's compressor (lz4 level 5 byte shuffle by
//                                  default)
//
// Each prints one line "<wall seconds> <cpu seconds> <detail>"; each the median of REPS (default 3)
// passes. CPU seconds are reported because the machine may be shared with other work.
// Build: g++ -O2 -std=c++20 bench/lower_bound.cpp $(pkg-config --cflags --libs hdf5 libdeflate)
//        -lnetcdf -lblosc

#include <blosc.h>
#include <netcdf.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <hdf5.h>
#include <iterator>
#include <libdeflate.h>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

// CPU seconds of this process (the machine may be shared: CPU time is less affected by load).
double cpu_now() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

[[noreturn]] void die(const std::string& msg) {
    std::fprintf(stderr, "lower_bound: %s\n", msg.c_str());
    std::exit(1);
}

void nc_check(int rc, const std::string& what) {
    if (rc != NC_NOERR) {
        die(what + ": " + nc_strerror(rc));
    }
}

int reps() {
    const char* r = std::getenv("REPS");
    int n = r ? std::atoi(r) : 3;
    return std::max(n, 1);
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// One pass: open each file, read every time step of VAR as a whole slab, close.
double read_pass(const std::string& var, const std::vector<std::string>& files, double& checksum,
                 size_t& values, double& cpu) {
    auto t0 = Clock::now();
    double c0 = cpu_now();
    std::vector<float> buf;
    checksum = 0;
    values = 0;
    for (const auto& f : files) {
        int nc, vid, ndims;
        nc_check(nc_open(f.c_str(), NC_NOWRITE, &nc), f);
        nc_check(nc_inq_varid(nc, var.c_str(), &vid), f + ": " + var);
        nc_check(nc_inq_varndims(nc, vid, &ndims), f);
        std::vector<int> dims(static_cast<size_t>(ndims));
        nc_check(nc_inq_vardimid(nc, vid, dims.data()), f);
        std::vector<size_t> len(static_cast<size_t>(ndims));
        for (int d = 0; d < ndims; ++d) {
            nc_check(nc_inq_dimlen(nc, dims[static_cast<size_t>(d)], &len[static_cast<size_t>(d)]),
                     f);
        }
        if (ndims < 2) {
            die(f + ": " + var + " has fewer than 2 dimensions");
        }
        size_t nt = 1;
        for (int d = 0; d + 2 < ndims; ++d) {
            nt *= len[static_cast<size_t>(d)];
        }
        size_t ny = len[static_cast<size_t>(ndims - 2)], nx = len[static_cast<size_t>(ndims - 1)];
        buf.resize(ny * nx);
        std::vector<size_t> start(static_cast<size_t>(ndims), 0),
            count(static_cast<size_t>(ndims), 1);
        count[static_cast<size_t>(ndims - 2)] = ny;
        count[static_cast<size_t>(ndims - 1)] = nx;
        for (size_t t = 0; t < nt; ++t) {
            // leading dims: only (time) in practice; step the first one
            if (ndims > 2) {
                start[0] = t;
            }
            nc_check(nc_get_vara_float(nc, vid, start.data(), count.data(), buf.data()), f);
            checksum += static_cast<double>(buf[(ny / 2) * nx + nx / 2]);
            values += ny * nx;
        }
        nc_close(nc);
    }
    cpu = cpu_now() - c0;
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

int cmd_read(int argc, char** argv) {
    if (argc < 4) {
        die("usage: lower_bound read VAR FILE...");
    }
    std::string var = argv[2];
    std::vector<std::string> files(argv + 3, argv + argc);
    std::vector<double> times, cpus;
    double checksum = 0;
    size_t values = 0;
    for (int r = 0; r < reps(); ++r) {
        double cpu = 0;
        times.push_back(read_pass(var, files, checksum, values, cpu));
        cpus.push_back(cpu);
    }
    std::printf("%.4f %.4f read %zu files, %zu values (%.1f MB float32)\n", median(times),
                median(cpus), files.size(), values, static_cast<double>(values) * 4 / 1e6);
    return 0;
}

// One pass of the direct read: chunk index from HDF5, then pread + inflate + unshuffle per chunk.
double read_direct_pass(const std::string& var, const std::vector<std::string>& files,
                        size_t& values, double& cpu) {
    auto t0 = Clock::now();
    double c0 = cpu_now();
    values = 0;
    libdeflate_decompressor* dec = libdeflate_alloc_decompressor();
    std::vector<unsigned char> raw, inflated, plain;
    for (const auto& f : files) {
        hid_t file = H5Fopen(f.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
        if (file < 0) {
            die(f + ": not an HDF5 (NetCDF-4) file");
        }
        hid_t ds = H5Dopen2(file, ("/" + var).c_str(), H5P_DEFAULT);
        if (ds < 0) {
            die(f + ": no dataset " + var);
        }
        hid_t type = H5Dget_type(ds);
        const size_t es = H5Tget_size(type);
        H5Tclose(type);
        hid_t dcpl = H5Dget_create_plist(ds);
        hid_t space = H5Dget_space(ds);
        const int rank = H5Sget_simple_extent_ndims(space);
        std::vector<hsize_t> chunk(static_cast<size_t>(rank));
        H5Pget_chunk(dcpl, rank, chunk.data());
        size_t chunk_bytes = es;
        for (auto c : chunk) {
            chunk_bytes *= c;
        }
        bool shuffle = false;
        for (int i = 0; i < H5Pget_nfilters(dcpl); ++i) {
            unsigned flags = 0, cfg = 0;
            size_t nv = 0;
            const auto id = H5Pget_filter2(dcpl, static_cast<unsigned>(i), &flags, &nv, nullptr, 0,
                                           nullptr, &cfg);
            shuffle = shuffle || id == H5Z_FILTER_SHUFFLE;
        }
        hsize_t n = 0;
        H5Dget_num_chunks(ds, space, &n);
        struct Where {
            haddr_t addr;
            hsize_t size;
        };
        std::vector<Where> chunks;
        for (hsize_t k = 0; k < n; ++k) {
            std::vector<hsize_t> offset(static_cast<size_t>(rank));
            unsigned mask = 0;
            Where w{};
            H5Dget_chunk_info(ds, space, k, offset.data(), &mask, &w.addr, &w.size);
            chunks.push_back(w);
        }
        H5Sclose(space);
        H5Pclose(dcpl);
        H5Dclose(ds);
        H5Fclose(file);
        int fd = open(f.c_str(), O_RDONLY);
        for (const auto& w : chunks) {
            raw.resize(w.size);
            if (pread(fd, raw.data(), w.size, static_cast<off_t>(w.addr)) !=
                static_cast<ssize_t>(w.size)) {
                die(f + ": short read");
            }
            inflated.resize(chunk_bytes);
            size_t got = 0;
            if (libdeflate_zlib_decompress(dec, raw.data(), raw.size(), inflated.data(),
                                           chunk_bytes, &got) != LIBDEFLATE_SUCCESS) {
                die(f + ": inflate failed (not a deflate chunk?)");
            }
            if (shuffle) {
                plain.resize(chunk_bytes);
                const size_t ne = chunk_bytes / es;
                for (size_t b = 0; b < es; ++b) {
                    for (size_t e = 0; e < ne; ++e) {
                        plain[e * es + b] = inflated[b * ne + e];
                    }
                }
            }
            values += chunk_bytes / es;
        }
        close(fd);
    }
    libdeflate_free_decompressor(dec);
    cpu = cpu_now() - c0;
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

int cmd_read_direct(int argc, char** argv) {
    if (argc < 4) {
        die("usage: lower_bound read-direct VAR FILE...");
    }
    std::string var = argv[2];
    std::vector<std::string> files(argv + 3, argv + argc);
    std::vector<double> times, cpus;
    size_t values = 0;
    for (int r = 0; r < reps(); ++r) {
        double cpu = 0;
        times.push_back(read_direct_pass(var, files, values, cpu));
        cpus.push_back(cpu);
    }
    std::printf("%.4f %.4f read-direct %zu files, %zu values\n", median(times), median(cpus),
                files.size(), values);
    return 0;
}

std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Tiny extraction of "key": value from .zarray (enough for the fields we need).
std::string json_field(const std::string& js, const std::string& key) {
    auto k = js.find("\"" + key + "\"");
    if (k == std::string::npos) {
        return {};
    }
    auto c = js.find(':', k);
    auto b = js.find_first_not_of(" \t\r\n", c + 1);
    if (js[b] == '"') {
        return js.substr(b + 1, js.find('"', b + 1) - b - 1);
    }
    auto e = js.find_first_of(",}\n", b);
    return js.substr(b, e - b);
}

int cmd_compress(int argc, char** argv) {
    if (argc != 3) {
        die("usage: lower_bound compress CUBE/VAR");
    }
    std::filesystem::path dir = argv[2];
    std::string zarray = slurp(dir / ".zarray");
    if (zarray.empty()) {
        die(dir.string() + "/.zarray not found");
    }
    std::string cname = json_field(zarray, "cname");
    std::string clevel_s = json_field(zarray, "clevel");
    std::string shuffle_s = json_field(zarray, "shuffle");
    int clevel = clevel_s.empty() ? 5 : std::atoi(clevel_s.c_str());
    int shuffle = shuffle_s.empty() ? 1 : std::atoi(shuffle_s.c_str());
    if (cname.empty()) {
        cname = "lz4";
    }
    // Decode every chunk (not timed).
    std::vector<std::vector<char>> chunks;
    size_t raw_bytes = 0, stored_bytes = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
        auto name = e.path().filename().string();
        if (name.empty() || name[0] == '.' || !e.is_regular_file()) {
            continue;
        }
        std::string enc = slurp(e.path());
        size_t nbytes = 0, cbytes = 0, blocksize = 0;
        blosc_cbuffer_sizes(enc.data(), &nbytes, &cbytes, &blocksize);
        std::vector<char> raw(nbytes);
        if (blosc_decompress_ctx(enc.data(), raw.data(), nbytes, 1) < 0) {
            die("cannot decode " + e.path().string());
        }
        raw_bytes += nbytes;
        stored_bytes += enc.size();
        chunks.push_back(std::move(raw));
    }
    if (chunks.empty()) {
        die(dir.string() + " has no chunks");
    }
    std::vector<char> out;
    std::vector<double> times, cpus;
    size_t compressed = 0;
    for (int r = 0; r < reps(); ++r) {
        compressed = 0;
        auto t0 = Clock::now();
        double c0 = cpu_now();
        for (const auto& c : chunks) {
            out.resize(c.size() + BLOSC_MAX_OVERHEAD);
            int n = blosc_compress_ctx(clevel, shuffle, sizeof(float), c.size(), c.data(),
                                       out.data(), out.size(), cname.c_str(), 0, 1);
            if (n <= 0) {
                die("blosc_compress_ctx failed");
            }
            compressed += static_cast<size_t>(n);
        }
        times.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
        cpus.push_back(cpu_now() - c0);
    }
    std::printf("%.4f %.4f compressed %zu chunks (%s level %d shuffle %d), %.1f MB -> %.1f MB "
                "(cube has %.1f MB)\n",
                median(times), median(cpus), chunks.size(), cname.c_str(), clevel, shuffle,
                static_cast<double>(raw_bytes) / 1e6, static_cast<double>(compressed) / 1e6,
                static_cast<double>(stored_bytes) / 1e6);
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        die("usage: lower_bound read|read-direct VAR FILE... | lower_bound compress CUBE/VAR");
    }
    std::string cmd = argv[1];
    if (cmd == "read") {
        return cmd_read(argc, argv);
    }
    if (cmd == "read-direct") {
        return cmd_read_direct(argc, argv);
    }
    if (cmd == "compress") {
        return cmd_compress(argc, argv);
    }
    die("unknown command '" + cmd + "'");
}
