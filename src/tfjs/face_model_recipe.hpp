// How a TF.js face model is fed (internal header, no LibTorch): its registry name, the side of
// the square crop it takes and its pixel format.
#pragma once

#include <string>

#include "tfjs/pixel_format.hpp"

namespace clipface::tfjs {

struct FaceModelRecipe {
  std::string name;  // registry name of its model.json ("antispoof")
  int size = 112;    // square crop side
  PixelFormat pixels;
};

}  // namespace clipface::tfjs
