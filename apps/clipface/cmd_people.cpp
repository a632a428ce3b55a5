// clipface people GALLERY list | remove NAME | rename OLD NEW | faces GROUP | name CLUSTER NAME |
// merge A B | split GROUP FACE... [--to NAME] | not FACE NAME. A group is a person's name or a
// cluster written #N (clipface cluster lists them).
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
  std::string group;
  std::string cluster;
  std::vector<std::int64_t> faces;
  std::string to;
  std::int64_t face = 0;
  bool json = false;
};

std::int64_t cluster_number(const std::string& text) {
  // "12", "#12" or "cluster:12"
  const FaceGroup g = FaceGroup::parse(
      text.empty() || text[0] == '#' || text.rfind("cluster:", 0) == 0 ? text : "#" + text);
  return g.cluster;
}

void print_faces(const std::vector<FaceRecord>& faces, bool json) {
  if (json) {
    for (const auto& f : faces) {
      nlohmann::json line{
          {"face_id", f.id},
          {"person", f.person.empty() ? nlohmann::json(nullptr) : nlohmann::json(f.person)},
          {"cluster", f.cluster > 0 ? nlohmann::json(f.cluster) : nlohmann::json(nullptr)},
          {"file", f.image_path},
          {"face", f.face_index},
          {"box", {f.face.box.x, f.face.box.y, f.face.box.width, f.face.box.height}}};
      if (f.quality) {
        line["quality"] = {
            {"size", f.quality->size}, {"sharpness", f.quality->sharpness},
            {"yaw", f.quality->yaw},   {"pitch", f.quality->pitch},
            {"roll", f.quality->roll}, {"detector_score", f.quality->detector_score}};
      }
      std::printf("%s\n", line.dump().c_str());
    }
    return;
  }
  std::printf("%8s %4s %6s %9s  %s\n", "face_id", "face", "size", "sharpness", "file");
  for (const auto& f : faces) {
    std::printf("%8lld %4d %6.0f %9.1f  %s\n", static_cast<long long>(f.id), f.face_index,
                f.quality ? f.quality->size : 0.0f, f.quality ? f.quality->sharpness : 0.0f,
                f.image_path.c_str());
  }
}

const bool registered = register_command(
    "people", "list, remove, rename, name, merge or split the people (and clusters) of a gallery",
    [](CLI::App& app) {
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
      auto* faces = app.add_subcommand("faces", "the faces of a person or a cluster (#N)");
      faces->add_option("group", args->group, "person name or #cluster")->required();
      faces->add_flag("--json", args->json, "one JSON line per face");
      auto* name =
          app.add_subcommand("name", "give every face of a cluster to a person (created when new)");
      name->add_option("cluster", args->cluster, "cluster number (12 or #12)")->required();
      name->add_option("name", args->name, "person")->required();
      auto* merge = app.add_subcommand(
          "merge",
          "move every face of A into B (person into person, #cluster into #cluster or "
          "into a person); A is gone afterwards");
      merge->add_option("from", args->group, "person or #cluster")->required();
      merge->add_option("into", args->name, "person or #cluster")->required();
      auto* split = app.add_subcommand(
          "split",
          "move chosen faces out of a person or cluster: into a new cluster, or to "
          "--to NAME; faces leaving a person are kept as \"not them\"");
      split->add_option("group", args->group, "person or #cluster")->required();
      split->add_option("faces", args->faces, "face ids (clipface people GALLERY faces GROUP)")
          ->required();
      split->add_option("--to", args->to, "give them to this person instead of a new cluster");
      auto* forget = app.add_subcommand(
          "forget", "delete faces (duplicates, bad photos) with their crops and embeddings");
      forget->add_option("faces", args->faces, "face ids")->required();
      auto* negative =
          app.add_subcommand("not",
                             "record that a face is not a person (a negative example: clustering, "
                             "proposals and calibration use it)");
      negative->add_option("face", args->face, "face id")->required();
      negative->add_option("name", args->name, "person")->required();
      return [args, list, remove, rename, faces, name, merge, split, forget, negative]() {
        if (*list) {
          const Gallery gallery = Gallery::open(args->gallery, GalleryMode::read);
          const auto people = gallery.people();
          if (args->json) {
            nlohmann::json out = nlohmann::json::array();
            for (const auto& p : people) {
              out.push_back({{"name", p.name},
                             {"faces", p.faces},
                             {"images", p.images},
                             {"created", p.created}});
            }
            std::printf("%s\n", out.dump().c_str());
          } else {
            std::printf("%-32s %6s %6s  %s\n", "person", "faces", "images", "enrolled");
            for (const auto& p : people) {
              std::printf("%-32s %6d %6d  %s\n", p.name.c_str(), p.faces, p.images,
                          p.created.c_str());
            }
            const std::size_t named = gallery.labelled_size();
            std::printf(
                "%zu people, %zu named faces, %zu unlabelled faces, %zu clusters (model %s)\n",
                people.size(), named, gallery.size() - named, gallery.clusters().size(),
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
        } else if (*faces) {
          const Gallery gallery = Gallery::open(args->gallery, GalleryMode::read);
          const FaceGroup group = FaceGroup::parse(args->group);
          print_faces(group.is_cluster() ? gallery.cluster_faces(group.cluster)
                                         : gallery.faces(group.person),
                      args->json);
        } else if (*name) {
          const std::int64_t cluster = cluster_number(args->cluster);
          Gallery gallery = Gallery::open(args->gallery, GalleryMode::write);
          const int n = gallery.name_cluster(cluster, args->name);
          std::printf("named cluster #%lld %s (%d faces)\n", static_cast<long long>(cluster),
                      args->name.c_str(), n);
        } else if (*merge) {
          const FaceGroup from = FaceGroup::parse(args->group), into = FaceGroup::parse(args->name);
          Gallery gallery = Gallery::open(args->gallery, GalleryMode::write);
          const int n = gallery.merge(from, into);
          std::printf("merged %s into %s (%d faces)\n", from.describe().c_str(),
                      into.describe().c_str(), n);
        } else if (*split) {
          const FaceGroup from = FaceGroup::parse(args->group);
          Gallery gallery = Gallery::open(args->gallery, GalleryMode::write);
          const std::int64_t cluster = gallery.split(from, args->faces, args->to);
          if (cluster > 0) {
            std::printf("moved %zu faces out of %s into cluster #%lld\n", args->faces.size(),
                        from.describe().c_str(), static_cast<long long>(cluster));
          } else {
            std::printf("moved %zu faces out of %s to %s\n", args->faces.size(),
                        from.describe().c_str(), args->to.c_str());
          }
        } else if (*forget) {
          Gallery gallery = Gallery::open(args->gallery, GalleryMode::write);
          std::printf("removed %d faces\n", gallery.remove_faces(args->faces));
        } else if (*negative) {
          Gallery gallery = Gallery::open(args->gallery, GalleryMode::write);
          gallery.add_negative(args->face, args->name);
          std::printf("face %lld is not %s\n", static_cast<long long>(args->face),
                      args->name.c_str());
        }
        return 0;
      };
    });

}  // namespace
}  // namespace clipface::app
