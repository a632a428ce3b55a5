// CLIP's byte-level BPE tokenizer, step for step as openai/CLIP simple_tokenizer.py (commit
// d05afc43) with ftfy as the identity: html.unescape twice, strip, collapse whitespace, lower(),
// the pre-tokenizer regex, bytes -> printable code points, BPE with '</w>' word ends.
#include "clipface/tokenizer.hpp"

#include <unicode/locid.h>
#include <unicode/regex.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/utf8.h>
#include <zlib.h>

#include <array>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include "clipface/errors.hpp"
#include "clipface/paths.hpp"
#include "text/html_unescape.hpp"

namespace clipface {
namespace fs = std::filesystem;

namespace {

constexpr const char* kVocabFileName = "bpe_simple_vocab_16e6.txt.gz";
constexpr const char* kStartOfTextString = "<|startoftext|>";
constexpr const char* kEndOfTextString = "<|endoftext|>";
constexpr const char* kWordEnd = "</w>";
// merges = lines[1 : 49152 - 256 - 2 + 1] in simple_tokenizer.py
constexpr std::size_t kMergeCount = 49152 - 256 - 2;
constexpr std::size_t kVocabSize = 2 * 256 + kMergeCount + 2;
// Python's regex is cached without limit; a bound keeps a long-running service from growing.
constexpr std::size_t kMaxCacheEntries = 1 << 18;

// simple_tokenizer's pattern; the `regex` module's \s is White_Space, as ICU's is.
constexpr char16_t kPretokenPattern[] =
    uR"(<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+)";

// bytes_to_unicode(): every byte gets a printable code point; the order matters because the
// vocabulary lists the byte symbols in this order (printable bytes first).
std::vector<std::pair<int, char32_t>> bytes_to_unicode() {
  std::vector<std::pair<int, char32_t>> table;
  auto printable = [](int b) {
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
  };
  for (int b = 0; b < 256; ++b)
    if (printable(b)) table.emplace_back(b, static_cast<char32_t>(b));
  int extra = 0;
  for (int b = 0; b < 256; ++b)
    if (!printable(b)) table.emplace_back(b, static_cast<char32_t>(256 + extra++));
  return table;
}

std::string to_utf8(const icu::UnicodeString& text) {
  std::string out;
  text.toUTF8String(out);
  return out;
}

std::string code_point_utf8(char32_t c) {
  return to_utf8(icu::UnicodeString(static_cast<UChar32>(c)));
}

// Invalid UTF-8 becomes U+FFFD, one per maximal bad sequence (as Python's errors="replace").
std::u32string to_utf32(std::string_view utf8) {
  const icu::UnicodeString text = icu::UnicodeString::fromUTF8(
      icu::StringPiece(utf8.data(), static_cast<int32_t>(utf8.size())));
  std::u32string out(static_cast<std::size_t>(text.countChar32()), U'\0');
  UErrorCode status = U_ZERO_ERROR;
  text.toUTF32(reinterpret_cast<UChar32*>(out.data()), static_cast<int32_t>(out.size()), status);
  return out;
}

// Python's str.isspace(), which str.strip() uses: bidi class WS, B or S, or category Zs.
bool is_python_space(char32_t c) {
  const auto direction = u_charDirection(static_cast<UChar32>(c));
  return u_charType(static_cast<UChar32>(c)) == U_SPACE_SEPARATOR ||
         direction == U_WHITE_SPACE_NEUTRAL || direction == U_BLOCK_SEPARATOR ||
         direction == U_SEGMENT_SEPARATOR;
}

// The `regex` module's \s.
bool is_regex_space(char32_t c) {
  return u_hasBinaryProperty(static_cast<UChar32>(c), UCHAR_WHITE_SPACE);
}

std::u32string python_strip(std::u32string_view text) {
  std::size_t begin = 0;
  std::size_t end = text.size();
  while (begin < end && is_python_space(text[begin])) ++begin;
  while (end > begin && is_python_space(text[end - 1])) --end;
  return std::u32string(text.substr(begin, end - begin));
}

// whitespace_clean: re.sub(r'\s+', ' ', text).strip()
std::u32string collapse_whitespace(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    if (is_regex_space(text[i])) {
      while (i < text.size() && is_regex_space(text[i])) ++i;
      out.push_back(U' ');
    } else {
      out.push_back(text[i++]);
    }
  }
  return python_strip(out);
}

std::vector<std::string> split_code_points(std::string_view utf8) {
  std::vector<std::string> symbols;
  int32_t i = 0;
  const auto* bytes = reinterpret_cast<const uint8_t*>(utf8.data());
  const auto length = static_cast<int32_t>(utf8.size());
  while (i < length) {
    const int32_t start = i;
    UChar32 c;
    U8_NEXT(bytes, i, length, c);
    symbols.emplace_back(
        utf8.substr(static_cast<std::size_t>(start), static_cast<std::size_t>(i - start)));
  }
  return symbols;
}

std::string read_gzip(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw ModelError("BPE vocabulary not found: " + path.string());
  gzFile file = gzopen(path.c_str(), "rb");
  if (!file) throw ModelError("cannot open BPE vocabulary " + path.string());
  std::string data;
  std::array<char, 1 << 16> buffer;
  int read = 0;
  while ((read = gzread(file, buffer.data(), static_cast<unsigned>(buffer.size()))) > 0)
    data.append(buffer.data(), static_cast<std::size_t>(read));
  // A truncated stream ends with Z_BUF_ERROR ("unexpected end of file") but read() == 0.
  int error_number = Z_OK;
  const std::string message = gzerror(file, &error_number);
  // zlib passes plain files through; the original is gzip, as Python's gzip.open insists.
  const bool not_gzip = gzdirect(file) != 0;
  gzclose(file);
  if (read < 0 || error_number != Z_OK)
    throw ModelError("BPE vocabulary " + path.string() + " is corrupt or truncated: " + message);
  if (not_gzip) throw ModelError("BPE vocabulary " + path.string() + " is not a gzip file");
  return data;
}

}  // namespace

struct Tokenizer::Impl {
  std::array<std::string, 256> byte_encoder;  // byte -> UTF-8 of its printable symbol
  std::unordered_map<char32_t, unsigned char> byte_decoder;
  std::vector<std::string> vocab;  // id -> token string (decoder)
  std::unordered_map<std::string, std::int32_t> encoder;
  std::unordered_map<std::string, int> merge_ranks;  // "first second" -> rank
  std::unique_ptr<icu::RegexPattern> pattern;

  mutable std::shared_mutex cache_mutex;
  mutable std::unordered_map<std::string, std::vector<std::int32_t>> cache;

  std::u32string clean32(std::string_view text) const {
    std::u32string s = text::html_unescape(text::html_unescape(to_utf32(text)));
    return collapse_whitespace(python_strip(s));
  }

  icu::UnicodeString clean_lower(std::string_view text) const {
    const std::u32string cleaned = clean32(text);
    icu::UnicodeString unicode = icu::UnicodeString::fromUTF32(
        reinterpret_cast<const UChar32*>(cleaned.data()), static_cast<int32_t>(cleaned.size()));
    // The root locale gives Python's lower(): full mappings, final sigma, no Turkish rules.
    unicode.toLower(icu::Locale::getRoot());
    return unicode;
  }

  std::vector<std::string> pretokens(const icu::UnicodeString& cleaned) const {
    UErrorCode status = U_ZERO_ERROR;
    std::unique_ptr<icu::RegexMatcher> matcher(pattern->matcher(cleaned, status));
    if (U_FAILURE(status)) throw Error(std::string("ICU regex matcher: ") + u_errorName(status));
    std::vector<std::string> pieces;
    while (matcher->find(status) && U_SUCCESS(status))
      pieces.push_back(to_utf8(matcher->group(status)));
    if (U_FAILURE(status)) throw Error(std::string("ICU regex search: ") + u_errorName(status));
    return pieces;
  }

  std::string byte_encode(std::string_view piece) const {
    std::string out;
    for (unsigned char b : piece) out += byte_encoder[b];
    return out;
  }

  int rank(const std::string& first, const std::string& second) const {
    auto it = merge_ranks.find(first + ' ' + second);
    return it == merge_ranks.end() ? -1 : it->second;
  }

  // SimpleTokenizer.bpe: repeatedly merge the adjacent pair with the lowest rank.
  std::vector<std::int32_t> bpe(const std::string& token) const {
    std::vector<std::string> word = split_code_points(token);
    word.back() += kWordEnd;
    while (word.size() > 1) {
      int best_rank = -1;
      std::size_t best = 0;
      for (std::size_t i = 0; i + 1 < word.size(); ++i) {
        const int r = rank(word[i], word[i + 1]);
        if (r >= 0 && (best_rank < 0 || r < best_rank)) best_rank = r, best = i;
      }
      if (best_rank < 0) break;
      const std::string first = word[best];
      const std::string second = word[best + 1];
      std::vector<std::string> merged;
      merged.reserve(word.size());
      for (std::size_t i = 0; i < word.size();) {
        if (i + 1 < word.size() && word[i] == first && word[i + 1] == second) {
          merged.push_back(first + second);
          i += 2;
        } else {
          merged.push_back(word[i++]);
        }
      }
      word = std::move(merged);
    }
    std::vector<std::int32_t> ids;
    ids.reserve(word.size());
    for (const auto& symbol : word) ids.push_back(encoder.at(symbol));
    return ids;
  }

  std::vector<std::int32_t> cached_bpe(const std::string& token) const {
    {
      std::shared_lock lock(cache_mutex);
      if (auto it = cache.find(token); it != cache.end()) return it->second;
    }
    std::vector<std::int32_t> ids = bpe(token);
    std::unique_lock lock(cache_mutex);
    if (cache.size() >= kMaxCacheEntries) cache.clear();
    cache.emplace(token, ids);
    return ids;
  }

  std::vector<std::int32_t> encode(std::string_view text) const {
    std::vector<std::int32_t> ids;
    for (const std::string& piece : pretokens(clean_lower(text))) {
      // The special tokens sit in Python's BPE cache as themselves.
      if (piece == kStartOfTextString) {
        ids.push_back(kStartOfText);
      } else if (piece == kEndOfTextString) {
        ids.push_back(kEndOfText);
      } else {
        const auto piece_ids = cached_bpe(byte_encode(piece));
        ids.insert(ids.end(), piece_ids.begin(), piece_ids.end());
      }
    }
    return ids;
  }
};

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::load(const fs::path& bpe_gz) {
  const std::string data = read_gzip(bpe_gz);
  auto fail = [&](const std::string& why) {
    return ModelError("BPE vocabulary " + bpe_gz.string() + " is not CLIP's " + kVocabFileName +
                      ": " + why);
  };
  // The original's first line is '"bpe_simple_vocab_16e6.txt#version: 0.2'; Python skips it.
  if (data.substr(0, data.find('\n')).find("#version") == std::string::npos)
    throw fail("no '#version' header line");

  auto impl = std::make_unique<Impl>();
  for (const auto& [byte, code_point] : bytes_to_unicode()) {
    impl->byte_encoder[static_cast<std::size_t>(byte)] = code_point_utf8(code_point);
    impl->byte_decoder[code_point] = static_cast<unsigned char>(byte);
    impl->vocab.push_back(impl->byte_encoder[static_cast<std::size_t>(byte)]);
  }
  for (std::size_t i = 0; i < 256; ++i) impl->vocab.push_back(impl->vocab[i] + kWordEnd);

  // merges = data.split('\n')[1 : kMergeCount + 1], each "first second".
  std::size_t line_start = data.find('\n');
  std::size_t line_number = 1;
  impl->merge_ranks.reserve(kMergeCount);
  while (impl->merge_ranks.size() < kMergeCount) {
    const std::size_t line_end =
        line_start == std::string::npos ? std::string::npos : data.find('\n', line_start + 1);
    const std::string_view line =
        line_start == std::string::npos
            ? std::string_view()
            : std::string_view(data).substr(line_start + 1, line_end - line_start - 1);
    if (line.empty() && (line_end == std::string::npos || line_end + 1 == data.size()))
      throw fail("it ends after " + std::to_string(line_number - 1) + " merge lines, expected " +
                 std::to_string(kMergeCount));
    const std::size_t space = line.find(' ');
    if (space == std::string_view::npos || space == 0 || space + 1 >= line.size() ||
        line.find_first_of(" \t\r", space + 1) != std::string_view::npos)
      throw fail("line " + std::to_string(line_number + 1) + " is not a merge pair");
    const std::string first(line.substr(0, space));
    const std::string second(line.substr(space + 1));
    impl->merge_ranks.emplace(first + ' ' + second, static_cast<int>(impl->merge_ranks.size()));
    impl->vocab.push_back(first + second);
    line_start = line_end;
    ++line_number;
  }
  impl->vocab.emplace_back(kStartOfTextString);
  impl->vocab.emplace_back(kEndOfTextString);
  if (impl->vocab.size() != kVocabSize || impl->merge_ranks.size() != kMergeCount)
    throw fail("repeated merge pairs");

  // dict(zip(vocab, range(len(vocab)))): a repeated string keeps its last id.
  impl->encoder.reserve(impl->vocab.size());
  for (std::size_t id = 0; id < impl->vocab.size(); ++id)
    impl->encoder[impl->vocab[id]] = static_cast<std::int32_t>(id);

  UErrorCode status = U_ZERO_ERROR;
  UParseError parse_error;
  impl->pattern.reset(icu::RegexPattern::compile(icu::UnicodeString(kPretokenPattern),
                                                 UREGEX_CASE_INSENSITIVE, parse_error, status));
  if (U_FAILURE(status))
    throw Error(std::string("cannot compile the pre-tokenizer pattern: ") + u_errorName(status));
  return Tokenizer(std::move(impl));
}

Tokenizer Tokenizer::load_default() {
  std::vector<fs::path> candidates{models_dir() / kVocabFileName};
  if (const char* shared = std::getenv("CLIPFACE_SHARED"); shared && *shared)
    candidates.push_back(fs::path(shared) / "models" / "clip" / kVocabFileName);
  std::string looked;
  for (const auto& candidate : candidates) {
    std::error_code ec;
    if (fs::is_regular_file(candidate, ec)) return load(candidate);
    if (!looked.empty()) looked += ", ";
    looked += candidate.string();
  }
  throw ModelError(std::string("BPE vocabulary ") + kVocabFileName + " not found (looked in " +
                   looked + (std::getenv("CLIPFACE_SHARED") ? "" : "; CLIPFACE_SHARED is not set") +
                   ")");
}

std::string Tokenizer::clean(std::string_view text) const {
  return to_utf8(impl_->clean_lower(text));
}

std::vector<std::string> Tokenizer::pretokenize(std::string_view text) const {
  return impl_->pretokens(impl_->clean_lower(text));
}

std::vector<std::string> Tokenizer::bpe_strings(std::string_view text) const {
  std::vector<std::string> strings;
  for (std::int32_t id : impl_->encode(text))
    strings.push_back(impl_->vocab[static_cast<std::size_t>(id)]);
  return strings;
}

std::vector<std::int32_t> Tokenizer::encode(std::string_view text) const {
  return impl_->encode(text);
}

std::vector<std::int32_t> Tokenizer::tokenize(std::string_view text, int context_length) const {
  if (context_length < 1)
    throw InputError("context length must be at least 1, got " + std::to_string(context_length));
  std::vector<std::int32_t> ids{kStartOfText};
  const auto body = impl_->encode(text);
  ids.insert(ids.end(), body.begin(), body.end());
  ids.push_back(kEndOfText);
  const auto context = static_cast<std::size_t>(context_length);
  if (ids.size() > context) {
    ids.resize(context);
    ids.back() = kEndOfText;  // truncate=True keeps the end token CLIP pools at
  }
  ids.resize(context, 0);
  return ids;
}

std::string Tokenizer::decode(const std::vector<std::int32_t>& ids) const {
  std::string symbols;
  for (std::int32_t id : ids) {
    if (id < 0 || static_cast<std::size_t>(id) >= impl_->vocab.size())
      throw InputError("token id " + std::to_string(id) + " is outside the vocabulary (0.." +
                       std::to_string(impl_->vocab.size() - 1) + ")");
    symbols += impl_->vocab[static_cast<std::size_t>(id)];
  }
  std::string bytes;
  for (char32_t c : to_utf32(symbols))
    bytes.push_back(static_cast<char>(impl_->byte_decoder.at(c)));
  std::string text = to_utf8(icu::UnicodeString::fromUTF8(bytes));
  std::string out;
  for (std::size_t pos = 0;;) {
    const std::size_t hit = text.find(kWordEnd, pos);
    out.append(text, pos, hit == std::string::npos ? std::string::npos : hit - pos);
    if (hit == std::string::npos) break;
    out += ' ';
    pos = hit + 4;
  }
  return out;
}

}  // namespace clipface
