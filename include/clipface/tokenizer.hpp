// CLIP's byte-level BPE tokenizer (simple_tokenizer.py), reading the original
// bpe_simple_vocab_16e6.txt.gz. Unicode classes come from ICU, gzip from zlib.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace clipface {

// All methods are const and safe to call from several threads (the BPE cache is locked).
class Tokenizer {
 public:
  static constexpr std::int32_t kStartOfText = 49406;
  static constexpr std::int32_t kEndOfText = 49407;
  static constexpr int kContextLength = 77;

  // Throws ModelError naming the file when it is missing, not gzip, truncated or not the
  // vocabulary.
  static Tokenizer load(const std::filesystem::path& bpe_gz);
  // bpe_simple_vocab_16e6.txt.gz from models_dir(), else $CLIPFACE_SHARED/models/clip.
  static Tokenizer load_default();

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // The steps of simple_tokenizer, exposed for tests and `clipface tokenize`.
  std::string clean(std::string_view text) const;                     // unescape, whitespace, lower
  std::vector<std::string> pretokenize(std::string_view text) const;  // regex pieces of clean()
  std::vector<std::string> bpe_strings(std::string_view text) const;  // BPE token strings
  std::vector<std::int32_t> encode(std::string_view text) const;      // ids, no SOT/EOT

  // clip.tokenize(text, context_length, truncate=True): SOT + ids + EOT, zero padded; when too
  // long, the first context_length ids are kept and the last one is set to EOT.
  std::vector<std::int32_t> tokenize(std::string_view text,
                                     int context_length = kContextLength) const;

  // SimpleTokenizer.decode: bytes back to UTF-8 (bad sequences become U+FFFD), '</w>' -> ' '.
  // Throws InputError for an id outside the vocabulary.
  std::string decode(const std::vector<std::int32_t>& ids) const;

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace clipface
