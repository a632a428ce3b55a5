// Fawkes' candidate identities from a labelled folder of other people's photos.
#include <set>

#include "clipface/cloak.hpp"
#include "clipface/errors.hpp"
#include "clipface/eval/dataset.hpp"
#include "clipface/image.hpp"

namespace clipface::cloak {

std::vector<PoolImage> read_target_pool(const std::filesystem::path& dir, const Detector& detector,
                                        std::size_t max_people) {
  std::vector<PoolImage> pool;
  std::set<std::string> people;
  for (const auto& photo : eval::list_labelled_images(dir)) {
    if (max_people && people.size() >= max_people && !people.count(photo.person)) continue;
    cv::Mat image;
    try {
      image = load_image(photo.path);
    } catch (const ImageError&) {
      continue;  // a target photo is optional material: one that cannot be read is not needed
    }
    const auto faces = detector.detect(image);
    const int chosen = pick_face(faces, image.size(), FacePick::nearest_centre);
    if (chosen < 0) continue;
    people.insert(photo.person);
    pool.push_back({photo.person, image, faces[static_cast<std::size_t>(chosen)]});
  }
  if (pool.empty()) throw InputError("no face found among the target photos in " + dir.string());
  return pool;
}

}  // namespace clipface::cloak
