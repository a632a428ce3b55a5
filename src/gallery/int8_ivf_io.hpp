// The file format of an Int8IvfIndex (the part of index.faiss after the gallery's stamp): the
// settings, the int8 scales, the routing space, the centroids, per list (and for the recent
// vectors) its ids and fp32 vectors, and a checksum of all of it. Codes are not stored: they are
// re-encoded on loading (deterministic), which keeps the file free of redundant copies. Every count
// is checked against the bytes left before anything is allocated, so a truncated or damaged file
// fails to load cleanly (and the gallery rebuilds the index from SQLite) instead of crashing.
#pragma once

#include <cstdio>
#include <memory>

#include "gallery/int8_ivf_index.hpp"

namespace clipface::gallery_detail {

// Throws std::runtime_error when writing fails.
void write_int8_ivf(const Int8IvfIndex& index, std::FILE* file);
// Reads to the end of `file`; throws std::runtime_error saying what is wrong (short, damaged,
// of another dimension, checksum mismatch).
std::unique_ptr<Int8IvfIndex> read_int8_ivf(std::FILE* file, int dim);

}  // namespace clipface::gallery_detail
