// How a TF.js face model wants its pixels (internal header, no LibTorch): value = channel
// (0..255) * scale + offset, channels RGB or BGR, or one grey channel (0.2989 R + 0.587 G +
// 0.114 B, the weights Human uses).
#pragma once

namespace clipface::tfjs {

struct PixelFormat {
  enum class Channels { rgb, bgr, grey };
  Channels channels = Channels::rgb;
  double scale = 1.0;
  double offset = 0.0;
};

}  // namespace clipface::tfjs
