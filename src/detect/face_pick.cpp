// Choosing the face that stands for a one-person photo showing several (LFW's neighbours at the
// frame's edge, a crowd behind the subject): shared by evaluation and fine-tuning.
#include <limits>
#include <string>
#include <vector>

#include "clipface/detect.hpp"
#include "clipface/errors.hpp"

namespace clipface {

FacePick parse_face_pick(const std::string& name) {
  if (name == "centre" || name == "center") return FacePick::nearest_centre;
  if (name == "largest") return FacePick::largest;
  throw InputError("unknown face pick '" + name + "' (expected centre or largest)");
}

std::string to_string(FacePick pick) {
  return pick == FacePick::largest ? "largest" : "centre";
}

int pick_face(const std::vector<Face>& faces, cv::Size image_size, FacePick pick) {
  int best = -1;
  double best_value = std::numeric_limits<double>::infinity();
  const double cx = image_size.width / 2.0, cy = image_size.height / 2.0;
  for (std::size_t i = 0; i < faces.size(); ++i) {
    const auto& box = faces[i].box;
    double value;
    if (pick == FacePick::largest) {
      value = -static_cast<double>(box.width) * box.height;
    } else {
      const double dx = box.x + box.width / 2.0 - cx, dy = box.y + box.height / 2.0 - cy;
      value = dx * dx + dy * dy;
    }
    if (value < best_value) {
      best_value = value;
      best = static_cast<int>(i);
    }
  }
  return best;
}

}  // namespace clipface
