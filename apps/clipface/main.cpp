// clipface: face recognition with CLIP embeddings and a FAISS index.
// Errors from the library come back as one line on stderr and an exit code per error kind
// (README, "Exit codes"); stdout carries only results.
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <map>

#include "clipface/allocator.hpp"
#include "clipface/errors.hpp"
#include "clipface/progress.hpp"
#include "command.hpp"

namespace clipface::app {

std::vector<Command>& commands() {
  static std::vector<Command> all;
  return all;
}

namespace {

// Library warnings and (with --verbose) logs go to stderr as "clipface: warning: ...", the same
// shape as the apps' own error lines, so a script reading stdout never sees them.
void log_to_stderr() {
  auto logger = spdlog::stderr_logger_mt("clipface");
  logger->set_pattern("clipface: %^%l%$: %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::warn);
}

}  // namespace
}  // namespace clipface::app

int main(int argc, char** argv) {
  using namespace clipface::app;
  clipface::keep_freed_memory_for_reuse();
  log_to_stderr();
  CLI::App app{"clipface: face recognition with CLIP embeddings and a FAISS index"};
  app.require_subcommand(1);
  // Global flags may also follow the subcommand's own arguments.
  app.fallthrough();
  bool verbose = false, quiet = false;
  app.add_flag("-v,--verbose", verbose, "log what happens");
  app.add_flag("-q,--quiet", quiet, "no progress output");

  auto& all = commands();
  std::sort(all.begin(), all.end(), [](auto& a, auto& b) { return a.name < b.name; });
  std::map<CLI::App*, Runner> runners;
  for (auto& command : all) {
    CLI::App* sub = app.add_subcommand(command.name, command.description);
    runners[sub] = command.setup(*sub);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // Bad arguments are bad input (exit 2), said in one line like every other error.
    std::fprintf(stderr, "clipface: error: %s (see --help)\n", e.what());
    return clipface::InputError("").exit_code();
  }
  if (verbose) spdlog::set_level(spdlog::level::info);
  if (quiet) clipface::set_progress_output(clipface::ProgressOutput::off);
  try {
    for (auto* sub : app.get_subcommands()) return runners.at(sub)();
  } catch (const clipface::SkippedInputsError& e) {
    for (const auto& input : e.inputs()) {
      std::fprintf(stderr, "clipface: skipped %s: %s\n", input.path.c_str(), input.reason.c_str());
    }
    std::fprintf(stderr, "clipface: error: %s\n", e.what());
    return e.exit_code();
  } catch (const clipface::Error& e) {
    std::fprintf(stderr, "clipface: error: %s\n", e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "clipface: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
