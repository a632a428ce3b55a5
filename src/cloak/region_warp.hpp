// The differentiable alignment: a model's crop sampled from the perturbed pixels around a face.
// Internal header (LibTorch).
//
// A crop maps to image pixels through the inverse of the model's alignment (OpenCV's convention:
// pixel centres at integer coordinates, which is grid_sample's align_corners = true). Where the
// crop is smaller than its footprint (a 400 px face into a 150 px chip), the region is first
// averaged over k x k blocks, k = the whole part of the scale, as OpenCV's INTER_AREA and dlib's
// pyramid do before interpolating: without it only the pixels next to the sample points would
// reach the model and the perturbation would not survive the model's own antialiased resize.
#pragma once

#include <torch/torch.h>

#include <opencv2/core.hpp>

namespace clipface::cloak {

struct RegionWarp {
  torch::Tensor grid;  // [1, S, S, 2], normalised coordinates in the (pooled) region
  int pool = 1;        // k x k average pooling before sampling
};

// The bounding box, in image pixels, of what a size x size crop made by `to_crop` (2x3 CV_64F,
// image -> crop) sees.
cv::Rect2d crop_footprint(const cv::Mat& to_crop, int size);

// The warp of the crop from a region tensor [3, h, w] whose pixel (0, 0) is `region.tl()`.
RegionWarp make_region_warp(const cv::Mat& to_crop, int size, const cv::Rect& region,
                            c10::IntArrayRef region_sizes);

// [3, h, w] -> [1, 3, S, S], bilinear, black outside the region (as outside an image).
torch::Tensor warp_region(const torch::Tensor& region, const RegionWarp& warp);

}  // namespace clipface::cloak
