// How `serve --source` and `--sources FILE` name their sources.
#include <gtest/gtest.h>

#include <fstream>

#include "clipface/errors.hpp"
#include "clipface/serve.hpp"
#include "support/test_env.hpp"

namespace clipface {
namespace {

TEST(LiveSourceSpec, NameEqualsSourceOrTheSourceWhole) {
  const LiveSource named = parse_live_source("door=rtsp://cam.local:8554/live");
  EXPECT_EQ(named.name, "door");
  EXPECT_EQ(named.spec, "rtsp://cam.local:8554/live");
  // No name: source_stem() names it later; a URL's query is not a name.
  const LiveSource plain = parse_live_source("clips/obama.mp4");
  EXPECT_EQ(plain.name, "");
  EXPECT_EQ(plain.spec, "clips/obama.mp4");
  const LiveSource query = parse_live_source("http://host/stream?token=abc");
  EXPECT_EQ(query.name, "");
  EXPECT_EQ(query.spec, "http://host/stream?token=abc");
  // A file whose name holds '=' is taken whole.
  testing::TempDir dir;
  const auto odd = dir / "a=b.mp4";
  std::ofstream(odd) << "x";
  EXPECT_EQ(parse_live_source(odd.string()).spec, odd.string());
}

TEST(LiveSourceSpec, ASourcesFileHasOneALineWithComments) {
  testing::TempDir dir;
  std::ofstream(dir / "sources.txt") << "# the doors\nfront=/dev/video0\n\n  back=/dev/video1  \n"
                                     << "clip.mp4\n";
  const auto sources = read_live_sources(dir / "sources.txt");
  ASSERT_EQ(sources.size(), 3u);
  EXPECT_EQ(sources[0].name, "front");
  EXPECT_EQ(sources[1].name, "back");
  EXPECT_EQ(sources[1].spec, "/dev/video1");
  EXPECT_EQ(sources[2].spec, "clip.mp4");
  EXPECT_THROW(read_live_sources(dir / "missing.txt"), InputError);
}

}  // namespace
}  // namespace clipface
