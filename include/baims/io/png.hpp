#pragma once
// PNG encoding of RGBA images (our chunk writer, GDAL's deflate). No GDAL types in this header.

#include <cstdint>
#include <string>

namespace baims::io {

// The PNG file bytes of a w x h RGBA image (rgba: w*h*4 bytes, rows top to bottom, pixel
// interleaved), 8 bits per sample, filter Up on every row. Throws OutputError if it cannot be
// compressed. Safe to call from many threads.
std::string encode_png_rgba(const std::uint8_t* rgba, int w, int h);

} // namespace baims::io
