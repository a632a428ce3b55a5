// The parts of ClipModel that need the other stages: image preprocessing (src/image) and the
// tokenizer (src/text). Kept apart so the tensor-level engine links without them.
#include "clip/engine.hpp"
#include "clipface/errors.hpp"
#include "clipface/preprocess.hpp"
#include "clipface/tokenizer.hpp"

namespace clipface {

const Tokenizer& ClipModel::tokenizer() const {
  std::lock_guard lock(impl_->tokenizer_mutex);
  if (!impl_->tokenizer)
    impl_->tokenizer = std::make_shared<const Tokenizer>(Tokenizer::load_default());
  return *impl_->tokenizer;
}

Matrix ClipModel::encode_texts(const std::vector<std::string>& texts, bool normalize) const {
  const Tokenizer& tok = tokenizer();
  std::vector<std::vector<std::int32_t>> tokens;
  tokens.reserve(texts.size());
  for (const auto& text : texts) tokens.push_back(tok.tokenize(text, impl_->info.context_length));
  return encode_tokens(tokens, normalize);
}

Matrix ClipModel::encode_images(const std::vector<cv::Mat>& images, ImageResize resize,
                                bool normalize) const {
  const int size = impl_->info.image_size;
  const auto per_image = static_cast<std::size_t>(3 * size * size);
  std::vector<float> pixels;
  return impl_->run_batched(
      images.size(),
      [&](std::size_t begin, std::size_t count) {
        // Preprocess one batch at a time so memory stays bounded for any number of images.
        pixels.clear();
        pixels.reserve(count * per_image);
        for (std::size_t i = begin; i < begin + count; ++i) {
          if (images[i].empty())
            throw InputError("encode_images: image " + std::to_string(i) + " is empty");
          append_clip_pixels(images[i], size, resize, pixels);
        }
        const torch::Tensor batch = torch::from_blob(
            pixels.data(), {static_cast<int64_t>(count), 3, size, size}, torch::kFloat);
        return impl_->image_features(batch);
      },
      normalize);
}

}  // namespace clipface
