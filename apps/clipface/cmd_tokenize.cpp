// clipface tokenize TEXT... [--json] [--context N] [--vocab FILE]: CLIP's token ids of each text.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <optional>

#include "clipface/tokenizer.hpp"
#include "command.hpp"

namespace clipface::app {
namespace {

struct TokenizeOptions {
  std::vector<std::string> texts;
  bool json = false;
  int context = Tokenizer::kContextLength;
  std::string vocab;
};

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& part : parts) {
    if (!out.empty()) out += ' ';
    out += part;
  }
  return out;
}

int run_tokenize(const TokenizeOptions& options) {
  const Tokenizer tokenizer =
      options.vocab.empty() ? Tokenizer::load_default() : Tokenizer::load(options.vocab);
  for (const auto& text : options.texts) {
    const auto tokens = tokenizer.tokenize(text, options.context);
    const auto bpe = tokenizer.bpe_strings(text);
    // Ids up to and including the end token; the rest is zero padding.
    const auto eot = std::find(tokens.begin(), tokens.end(), Tokenizer::kEndOfText);
    const auto length = static_cast<std::size_t>(std::min(eot + 1, tokens.end()) - tokens.begin());
    if (options.json) {
      nlohmann::json out{{"text", text},
                         {"cleaned", tokenizer.clean(text)},
                         {"bpe", bpe},
                         {"n_bpe_tokens", bpe.size()},
                         {"truncated", bpe.size() + 2 > tokens.size()},
                         {"length", length},
                         {"eot_index", eot - tokens.begin()},
                         {"tokens", tokens}};
      std::printf("%s\n",
                  out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    } else {
      std::string ids;
      for (std::size_t i = 0; i < length; ++i) {
        if (i > 0) ids += ' ';
        ids += std::to_string(tokens[i]);
      }
      std::printf("text: %s\nbpe:  %s\nids:  %s  (%zu of %zu, zero padded%s)\n\n", text.c_str(),
                  join(bpe).c_str(), ids.c_str(), length, tokens.size(),
                  bpe.size() + 2 > tokens.size() ? ", truncated" : "");
    }
  }
  return 0;
}

[[maybe_unused]] const bool registered = register_command(
    "tokenize", "print CLIP's BPE token ids of each text", [](CLI::App& sub) -> Runner {
      auto options = std::make_shared<TokenizeOptions>();
      sub.add_option("text", options->texts, "texts to tokenize")->required();
      sub.add_flag("--json", options->json, "one JSON object per text and line");
      sub.add_option("--context", options->context, "context length (ids per text, padded)")
          ->check(CLI::Range(1, 1 << 20));
      sub.add_option("--vocab", options->vocab,
                     "bpe_simple_vocab_16e6.txt.gz (default: models dir, then "
                     "$CLIPFACE_SHARED/models/clip)");
      return [options] { return run_tokenize(*options); };
    });

}  // namespace
}  // namespace clipface::app
