// clipface: face recognition with CLIP embeddings and a FAISS index.
// Errors from the library come back as one line on stderr and an exit code per error kind.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <map>

#include "clipface/allocator.hpp"
#include "clipface/errors.hpp"
#include "command.hpp"

namespace clipface::app {

std::vector<Command>& commands() {
  static std::vector<Command> all;
  return all;
}

}  // namespace clipface::app

int main(int argc, char** argv) {
  using namespace clipface::app;
  clipface::keep_freed_memory_for_reuse();
  CLI::App app{"clipface: face recognition with CLIP embeddings and a FAISS index"};
  app.require_subcommand(1);
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "log what happens");
  spdlog::set_level(spdlog::level::warn);

  auto& all = commands();
  std::sort(all.begin(), all.end(), [](auto& a, auto& b) { return a.name < b.name; });
  std::map<CLI::App*, Runner> runners;
  for (auto& command : all) {
    CLI::App* sub = app.add_subcommand(command.name, command.description);
    runners[sub] = command.setup(*sub);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (verbose) spdlog::set_level(spdlog::level::info);
  try {
    for (auto* sub : app.get_subcommands()) return runners.at(sub)();
  } catch (const clipface::Error& e) {
    std::fprintf(stderr, "clipface: error: %s\n", e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "clipface: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
