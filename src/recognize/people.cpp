#include "clipface/errors.hpp"
#include "clipface/image.hpp"
#include "clipface/recognizer.hpp"

namespace clipface {
namespace fs = std::filesystem;

std::vector<PersonImages> list_people(const fs::path& dir) {
  std::vector<PersonImages> people;
  for (const auto& folder : list_person_folders(dir)) {
    // The CLIP + FAISS paper's layout keeps enrollment photos in <person>/train.
    const fs::path train = folder / "train";
    PersonImages person{folder.filename().string(),
                        list_images(fs::is_directory(train) ? train : folder, false)};
    if (!person.images.empty()) people.push_back(std::move(person));
  }
  if (people.empty()) {
    throw InputError("no person folders with images in " + dir.string() +
                     " (expected DIR/<person>/*.jpg)");
  }
  return people;
}

}  // namespace clipface
