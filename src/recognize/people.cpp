#include <algorithm>

#include "clipface/errors.hpp"
#include "clipface/image.hpp"
#include "clipface/recognizer.hpp"

namespace clipface {
namespace fs = std::filesystem;

std::vector<PersonImages> list_people(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw InputError("not a folder of people: " + dir.string());
  std::vector<PersonImages> people;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_directory() || name.empty() || name[0] == '_' || name[0] == '.') continue;
    // The CLIP + FAISS paper's layout keeps enrollment photos in <person>/train.
    const fs::path train = entry.path() / "train";
    PersonImages person{name, list_images(fs::is_directory(train) ? train : entry.path(), false)};
    if (!person.images.empty()) people.push_back(std::move(person));
  }
  if (ec) throw InputError("cannot read " + dir.string() + ": " + ec.message());
  std::sort(people.begin(), people.end(),
            [](const auto& a, const auto& b) { return a.person < b.person; });
  if (people.empty()) {
    throw InputError("no person folders with images in " + dir.string() +
                     " (expected DIR/<person>/*.jpg)");
  }
  return people;
}

}  // namespace clipface
