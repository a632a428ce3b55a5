// clipface people GALLERY list | remove NAME | rename OLD NEW
#include <nlohmann/json.hpp>

#include <cstdio>

#include "clipface/gallery.hpp"
#include "command.hpp"

namespace clipface::app {
namespace {

struct PeopleArgs {
  std::string gallery;
  std::string name;
  std::string new_name;
  bool json = false;
};

const bool registered = register_command(
    "people", "list, remove or rename the people of a gallery", [](CLI::App& app) {
      auto args = std::make_shared<PeopleArgs>();
      app.add_option("gallery", args->gallery, "gallery folder")->required();
      app.require_subcommand(1);
      auto* list = app.add_subcommand("list", "people with their face and image counts");
      list->add_flag("--json", args->json, "print JSON");
      auto* remove = app.add_subcommand(
          "remove", "delete a person with every face, crop and embedding of theirs");
      remove->add_option("name", args->name, "person")->required();
      auto* rename = app.add_subcommand("rename", "rename a person");
      rename->add_option("old", args->name, "current name")->required();
      rename->add_option("new", args->new_name, "new name")->required();
      return [args, list, remove, rename]() {
        if (*list) {
          const Gallery gallery = Gallery::open(args->gallery, GalleryMode::read);
          const auto people = gallery.people();
          if (args->json) {
            nlohmann::json out = nlohmann::json::array();
            for (const auto& p : people) {
              out.push_back({{"name", p.name}, {"faces", p.faces}, {"images", p.images},
                             {"created", p.created}});
            }
            std::printf("%s\n", out.dump().c_str());
          } else {
            std::printf("%-32s %6s %6s  %s\n", "person", "faces", "images", "enrolled");
            for (const auto& p : people) {
              std::printf("%-32s %6d %6d  %s\n", p.name.c_str(), p.faces, p.images,
                          p.created.c_str());
            }
            std::printf("%zu people, %zu faces (model %s)\n", people.size(), gallery.size(),
                        gallery.model().name.c_str());
          }
        } else if (*remove) {
          Gallery gallery = Gallery::open(args->gallery, GalleryMode::write);
          const int removed = gallery.remove_person(args->name);
          std::printf("removed %s (%d faces)\n", args->name.c_str(), removed);
        } else if (*rename) {
          Gallery gallery = Gallery::open(args->gallery, GalleryMode::write);
          gallery.rename_person(args->name, args->new_name);
          std::printf("renamed %s to %s\n", args->name.c_str(), args->new_name.c_str());
        }
        return 0;
      };
    });

}  // namespace
}  // namespace clipface::app
