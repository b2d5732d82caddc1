#pragma once
// PNG encoding through GDAL's PNG driver (a MEM dataset copied with CreateCopy into /vsimem/).
// No GDAL types in this header.

#include <cstdint>
#include <string>

namespace baims::io {

// The PNG file bytes of a w x h RGBA image (rgba: w*h*4 bytes, rows top to bottom, pixel
// interleaved). Throws OutputError if GDAL cannot encode it. Safe to call from many threads.
std::string encode_png_rgba(const std::uint8_t* rgba, int w, int h);

} // namespace baims::io
