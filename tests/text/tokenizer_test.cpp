// The tokenizer against openai/CLIP's own output (fixtures/clip/tokenizer_cases.json and
// tokenizer_tokens.npy), plus bad vocabulary files and Python's cleaning rules.
#include "clipface/tokenizer.hpp"

#include <gtest/gtest.h>
#include <zlib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <thread>

#include "clipface/errors.hpp"
#include "clipface/npy.hpp"
#include "support/test_env.hpp"

namespace clipface {
namespace {

namespace fs = std::filesystem;
using ::clipface::testing::shared_path;
using ::clipface::testing::TempDir;

constexpr const char* kVocab = "models/clip/bpe_simple_vocab_16e6.txt.gz";
constexpr const char* kCases = "fixtures/clip/tokenizer_cases.json";
constexpr const char* kTokensNpy = "fixtures/clip/tokenizer_tokens.npy";

nlohmann::json read_json(const fs::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

// One tokenizer for the whole suite: loading parses 48,894 merges.
class TokenizerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (fs::exists(shared_path(kVocab))) tokenizer_ = Tokenizer::load(shared_path(kVocab));
  }
  static void TearDownTestSuite() { tokenizer_.reset(); }
  void SetUp() override { CLIPFACE_REQUIRE_SHARED(kVocab); }
  static const Tokenizer& tokenizer() { return *tokenizer_; }

 private:
  static inline std::optional<Tokenizer> tokenizer_;
};

TEST_F(TokenizerTest, ReproducesEveryFixtureCase) {
  CLIPFACE_REQUIRE_SHARED(kCases);
  const auto fixture = read_json(shared_path(kCases));
  ASSERT_EQ(fixture.at("sot_token").get<int>(), Tokenizer::kStartOfText);
  ASSERT_EQ(fixture.at("eot_token").get<int>(), Tokenizer::kEndOfText);
  ASSERT_EQ(fixture.at("context_length").get<int>(), Tokenizer::kContextLength);
  const auto& cases = fixture.at("cases");
  ASSERT_GE(cases.size(), 30u);
  for (const auto& c : cases) {
    const auto text = c.at("text").get<std::string>();
    SCOPED_TRACE(c.at("id").get<std::string>() + ": '" + text + "'");
    EXPECT_EQ(tokenizer().clean(text), c.at("cleaned").get<std::string>());
    EXPECT_EQ(tokenizer().pretokenize(text), c.at("pretokens").get<std::vector<std::string>>());
    EXPECT_EQ(tokenizer().bpe_strings(text), c.at("bpe").get<std::vector<std::string>>());
    EXPECT_EQ(tokenizer().encode(text).size(), c.at("n_bpe_tokens").get<std::size_t>());

    const auto tokens = tokenizer().tokenize(text);
    EXPECT_EQ(tokens, c.at("tokens").get<std::vector<std::int32_t>>());
    const auto length =
        std::count_if(tokens.begin(), tokens.end(), [](auto id) { return id != 0; });
    EXPECT_EQ(length, c.at("length").get<long>());
    // CLIP pools at argmax(tokens): the first end token.
    const auto eot = std::max_element(tokens.begin(), tokens.end()) - tokens.begin();
    EXPECT_EQ(eot, c.at("eot_index").get<long>());
  }
}

TEST_F(TokenizerTest, MatchesTokenArrayOfTheReference) {
  CLIPFACE_REQUIRE_SHARED(kCases);
  CLIPFACE_REQUIRE_SHARED(kTokensNpy);
  const auto cases = read_json(shared_path(kCases)).at("cases");
  const NpyArray array = read_npy(shared_path(kTokensNpy));
  ASSERT_EQ(array.shape, (std::vector<std::int64_t>{static_cast<std::int64_t>(cases.size()),
                                                    Tokenizer::kContextLength}));
  const auto values = array.as_ints();
  for (std::size_t row = 0; row < cases.size(); ++row) {
    SCOPED_TRACE("row " + std::to_string(row));
    const auto tokens = tokenizer().tokenize(cases[row].at("text").get<std::string>());
    const std::vector<std::int64_t> expected(
        values.begin() + row * Tokenizer::kContextLength,
        values.begin() + (row + 1) * Tokenizer::kContextLength);
    EXPECT_EQ(std::vector<std::int64_t>(tokens.begin(), tokens.end()), expected);
  }
}

// Real ftfy would change these; the fixture records what the identity stand-in gives.
TEST_F(TokenizerTest, MatchesIdentityFtfyStandInCases) {
  CLIPFACE_REQUIRE_SHARED(kCases);
  const auto sensitive = read_json(shared_path(kCases)).at("ftfy_sensitive_cases").at("cases");
  ASSERT_FALSE(sensitive.empty());
  for (const auto& c : sensitive) {
    SCOPED_TRACE(c.at("id").get<std::string>());
    EXPECT_EQ(tokenizer().tokenize(c.at("text").get<std::string>()),
              c.at("tokens_identity_standin").get<std::vector<std::int32_t>>());
  }
}

// Python's html.unescape rules (expected values checked with Python 3.11's html.unescape).
TEST_F(TokenizerTest, UnescapesHtmlLikePython) {
  EXPECT_EQ(tokenizer().clean("&amp;amp; &AMP &#65;&#x42;"), "& & ab");  // twice, no ';', numeric
  EXPECT_EQ(tokenizer().clean("&#38;amp;"), "&");                        // second pass
  EXPECT_EQ(tokenizer().clean("&&amp;;"), "&&;");
  EXPECT_EQ(tokenizer().clean("&apos;s &notit; &ampx"), "'s \u00acit; &x");  // longest prefix
  EXPECT_EQ(tokenizer().clean("&#128; &#x92;"), "\u20ac \u2019");            // windows-1252
  EXPECT_EQ(tokenizer().clean("&#0; &#xD800; &#x110000; &#99999999999999999999;"),
            "\ufffd \ufffd \ufffd \ufffd");
  EXPECT_EQ(tokenizer().clean("&#1;x &#xFFFF;y"), "x y");  // invalid code points vanish
  EXPECT_EQ(tokenizer().clean("&bogus; &#; &#x; & x"), "&bogus; &#; &#x; & x");
  EXPECT_EQ(tokenizer().clean("&NotEqualTilde; &lt;b&gt; caf&eacute; &Eacute;T&Eacute;"),
            "\u2242\u0338 <b> caf\u00e9 \u00e9t\u00e9");  // two-code-point value, HTML5-only name
}

TEST_F(TokenizerTest, StripsAndLowersLikePython) {
  // str.lower(): full mapping (İ -> i + combining dot), final sigma, no Turkish rules.
  EXPECT_EQ(tokenizer().clean(
                "\u0130stanbul \u03a3\u0391\u03a3 \u038c\u03a3\u039f\u03a3. Stra\u00dfe \u01c5"),
            "i\u0307stanbul \u03c3\u03b1\u03c2 \u03cc\u03c3\u03bf\u03c2. stra\u00dfe \u01c6");
  // strip() also removes U+001C..U+001F; the regex's \s (White_Space) collapses NBSP, not them.
  EXPECT_EQ(tokenizer().clean("\x1c a \u00a0\u2003 b\t\n\x1f"), "a b");
  EXPECT_EQ(tokenizer().clean("a\x1c"
                              "b"),
            "a\x1c"
            "b");
  EXPECT_EQ(tokenizer().pretokenize("a\x1c"
                                    "b"),
            (std::vector<std::string>{"a", "\x1c", "b"}));
}

TEST_F(TokenizerTest, SpecialTokensInTextAreKept) {
  EXPECT_EQ(tokenizer().encode("<|startoftext|>x<|endoftext|>").front(), Tokenizer::kStartOfText);
  EXPECT_EQ(tokenizer().encode("<|startoftext|>x<|endoftext|>").back(), Tokenizer::kEndOfText);
  EXPECT_EQ(tokenizer().encode("<|startoftext|>x<|endoftext|>").size(), 3u);
}

TEST_F(TokenizerTest, DecodeInvertsEncodeUpToWordSpaces) {
  for (const std::string text : {"a photo of Barack Obama", "Björk Guðmundsdóttir, 北京 😀!",
                                 "state-of-the-art v2.0", "supercalifragilisticexpialidocious"}) {
    SCOPED_TRACE(text);
    const auto ids = tokenizer().encode(text);
    const std::string decoded = tokenizer().decode(ids);
    // '</w>' decodes to a space after every word and punctuation run.
    ASSERT_FALSE(decoded.empty());
    EXPECT_EQ(decoded.back(), ' ');
    auto no_spaces = [](std::string s) {
      s.erase(std::remove(s.begin(), s.end(), ' '), s.end());
      return s;
    };
    EXPECT_EQ(no_spaces(decoded), no_spaces(tokenizer().clean(text)));
    EXPECT_EQ(tokenizer().encode(decoded), ids);
  }
  EXPECT_EQ(tokenizer().decode({Tokenizer::kStartOfText, Tokenizer::kEndOfText}),
            "<|startoftext|><|endoftext|>");
  EXPECT_EQ(tokenizer().decode({}), "");
}

TEST_F(TokenizerTest, DecodeReplacesBrokenUtf8AndRejectsUnknownIds) {
  const auto ids = tokenizer().encode("北");  // three byte tokens; the first alone is not UTF-8
  ASSERT_GE(ids.size(), 2u);
  EXPECT_EQ(tokenizer().decode({ids.front()}), "\ufffd");
  EXPECT_THROW(tokenizer().decode({49408}), InputError);
  EXPECT_THROW(tokenizer().decode({-1}), InputError);
}

TEST_F(TokenizerTest, ContextLengthTruncatesKeepingTheEndToken) {
  const auto tokens = tokenizer().tokenize("a photo of a person named barack obama", 5);
  ASSERT_EQ(tokens.size(), 5u);
  EXPECT_EQ(tokens.front(), Tokenizer::kStartOfText);
  EXPECT_EQ(tokens.back(), Tokenizer::kEndOfText);
  EXPECT_EQ(std::vector<std::int32_t>(tokens.begin() + 1, tokens.end() - 1),
            tokenizer().encode("a photo of"));
  const auto padded = tokenizer().tokenize("obama", 100);
  EXPECT_EQ(padded.size(), 100u);
  EXPECT_EQ(std::count(padded.begin(), padded.end(), 0), 97);
  EXPECT_THROW(tokenizer().tokenize("x", 0), InputError);
}

TEST_F(TokenizerTest, ConcurrentCallsAgree) {
  const std::vector<std::string> texts = {"a photo of kamala harris", "Zoë Saldaña at a premiere",
                                          "Владимир", "東京タワーの写真"};
  std::vector<std::vector<std::int32_t>> expected;
  for (const auto& t : texts) expected.push_back(tokenizer().tokenize(t));
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const std::string text = texts[static_cast<std::size_t>(i) % texts.size()] + " " +
                                 std::to_string(i * 7 + t);  // new pieces fill the cache
        const auto tokens = tokenizer().tokenize(text);
        const auto& base = expected[static_cast<std::size_t>(i) % texts.size()];
        if (!std::equal(base.begin(), base.begin() + 3, tokens.begin())) ++mismatches[t];
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

// The brief: 10k prompts well under a second. The bound is loose for a busy 2-core machine.
TEST_F(TokenizerTest, TenThousandPromptsAreFast) {
  const std::vector<std::string> names = {"Barack Obama",   "Joe Biden",   "Kamala Harris",
                                          "Alex Lacamoire", "Zoë Saldaña", "Björk"};
  const auto start = std::chrono::steady_clock::now();
  std::size_t total = 0;
  for (int i = 0; i < 10000; ++i) {
    total +=
        tokenizer()
            .tokenize("This is the image of a person named " +
                      names[static_cast<std::size_t>(i) % names.size()] + " #" + std::to_string(i))
            .size();
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  RecordProperty("seconds_for_10k", std::to_string(seconds));
  EXPECT_EQ(total, 10000u * Tokenizer::kContextLength);
  EXPECT_LT(seconds, 2.0);
}

// ----- loading -----

void write_gzip(const fs::path& path, const std::string& content) {
  gzFile file = gzopen(path.c_str(), "wb");
  ASSERT_NE(file, nullptr);
  ASSERT_EQ(gzwrite(file, content.data(), static_cast<unsigned>(content.size())),
            static_cast<int>(content.size()));
  gzclose(file);
}

void expect_model_error_naming(const fs::path& path, const std::string& also) {
  try {
    Tokenizer::load(path);
    ADD_FAILURE() << "no error for " << path;
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(also), std::string::npos) << e.what();
  }
}

TEST(TokenizerLoad, MissingFileNamesIt) {
  TempDir dir;
  expect_model_error_naming(dir / "bpe_simple_vocab_16e6.txt.gz", "not found");
}

TEST(TokenizerLoad, PlainTextIsNotGzip) {
  TempDir dir;
  std::ofstream(dir / "vocab.txt.gz") << "#version: 0.2\ni n\nt h\n";
  expect_model_error_naming(dir / "vocab.txt.gz", "not a gzip");
}

TEST(TokenizerLoad, GzipOfSomethingElseIsRejected) {
  TempDir dir;
  write_gzip(dir / "other.gz", "hello world\n");
  expect_model_error_naming(dir / "other.gz", "not CLIP's");
  write_gzip(dir / "short.gz", "#version: 0.2\ni n\nt h\n");
  expect_model_error_naming(dir / "short.gz", "merge lines");
  write_gzip(dir / "bad_line.gz", "#version: 0.2\ni n\nthree parts here\n");
  expect_model_error_naming(dir / "bad_line.gz", "line 3");
}

TEST(TokenizerLoad, TruncatedGzipIsRejected) {
  CLIPFACE_REQUIRE_SHARED(kVocab);
  TempDir dir;
  const std::string bytes = ::clipface::testing::read_text(shared_path(kVocab));
  std::ofstream(dir / "cut.gz", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  expect_model_error_naming(dir / "cut.gz", "truncated");
}

// Sets environment variables for one test and restores them.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(TokenizerLoad, DefaultLooksInModelsDirThenShared) {
  CLIPFACE_REQUIRE_SHARED(kVocab);
  TempDir home;
  TempDir empty_shared;
  {
    ScopedEnv home_env("CLIPFACE_HOME", home.path().string());
    ScopedEnv shared_env("CLIPFACE_SHARED", empty_shared.path().string());
    try {
      Tokenizer::load_default();
      ADD_FAILURE() << "no error without a vocabulary";
    } catch (const ModelError& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find((home.path() / "models").string()), std::string::npos) << message;
      EXPECT_NE(message.find((empty_shared.path() / "models/clip").string()), std::string::npos)
          << message;
      EXPECT_NE(message.find("bpe_simple_vocab_16e6.txt.gz"), std::string::npos) << message;
    }
  }
  {
    ScopedEnv home_env("CLIPFACE_HOME", home.path().string());
    ScopedEnv shared_env("CLIPFACE_SHARED", ::clipface::testing::shared_dir().string());
    EXPECT_EQ(Tokenizer::load_default().encode("a photo of obama"),
              Tokenizer::load(shared_path(kVocab)).encode("a photo of obama"));
  }
}

}  // namespace
}  // namespace clipface
