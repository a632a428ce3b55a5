// clipface keys GALLERY create --scope S [--name N] | list [--json] | revoke ID: the API keys of
// `clipface serve` (keys.db beside gallery.db). `create` prints the new key alone on stdout.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>

#include "clipface/api_keys.hpp"
#include "clipface/errors.hpp"
#include "clipface/gallery.hpp"
#include "command.hpp"

namespace clipface::app {
namespace {

struct KeysArgs {
  std::string gallery;
  std::string scopes = "recognize";
  std::string name;
  std::string id;
  bool json = false;
};

void require_gallery(const std::string& dir) {
  if (!std::filesystem::exists(std::filesystem::path(dir) / kGalleryDbName)) {
    throw GalleryError("no gallery at " + dir + " (no " + kGalleryDbName + ")");
  }
}

const bool registered = register_command(
    "keys", "create, list or revoke the API keys of `clipface serve`", [](CLI::App& app) {
      auto args = std::make_shared<KeysArgs>();
      app.add_option("gallery", args->gallery, "gallery folder")->required();
      app.require_subcommand(1);
      auto* create = app.add_subcommand(
          "create", "make a key and print it (shown this once; only its hash is kept)");
      create
          ->add_option("--scope", args->scopes,
                       "recognize (recognize, verify, detect, list), manage (add, delete, "
                       "rename), admin (keys, audit), a comma-separated list, or all")
          ->capture_default_str();
      create->add_option("--name", args->name, "what the key is for (shown in lists)");
      auto* list = app.add_subcommand("list", "keys with their scopes (never the secrets)");
      list->add_flag("--json", args->json, "print JSON");
      auto* revoke = app.add_subcommand("revoke", "make a key unusable from now on");
      revoke->add_option("id", args->id, "the key's id (8 hex digits, from list)")->required();
      return [args, create, list, revoke]() {
        require_gallery(args->gallery);
        if (*create) {
          const auto scopes = parse_scopes(args->scopes);
          KeyStore store = KeyStore::open(args->gallery);
          const auto made = store.create(args->name, scopes);
          std::printf("%s\n", made.secret.c_str());
          std::fprintf(stderr, "clipface: key %s (%s) created; it is not shown again\n",
                       made.key.id.c_str(), made.key.scopes_text().c_str());
        } else if (*list) {
          const KeyStore store = KeyStore::open(args->gallery);
          const auto keys = store.list();
          if (args->json) {
            nlohmann::json out = nlohmann::json::array();
            for (const auto& k : keys) out.push_back(to_json(k));
            std::printf("%s\n", out.dump().c_str());
          } else {
            std::printf("%-8s  %-24s  %-24s  %-24s  %s\n", "id", "name", "scopes", "created",
                        "revoked");
            for (const auto& k : keys) {
              std::printf("%-8s  %-24s  %-24s  %-24s  %s\n", k.id.c_str(), k.name.c_str(),
                          k.scopes_text().c_str(), k.created.c_str(),
                          k.revoked.empty() ? "-" : k.revoked.c_str());
            }
          }
        } else if (*revoke) {
          KeyStore store = KeyStore::open(args->gallery);
          if (!store.revoke(args->id)) {
            throw InputError("no valid key with id '" + args->id + "' in " + args->gallery);
          }
          std::printf("revoked %s\n", args->id.c_str());
        }
        return 0;
      };
    });

}  // namespace
}  // namespace clipface::app
