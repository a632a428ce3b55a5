// The fine-tuned prompt classifier (clipface/finetune.hpp) in the open-set protocols (`eval openset
// --classifier prompts`, `eval prompts`): the CLIP model behind an embedder spec, the fine-tuning
// data made of the enrolled people's cached embeddings, and the classifier behind
// IdentityClassifier.
//
// Same space: the CLIP embedder (src/embed/clip_embedder.cpp) aligns the picked face with
// align_faces(image, faces, image_size, crop style), squash-resizes and returns unit rows of
// ClipModel::encode_images, exactly what finetune::embed_face_folders does (align_face, loose by
// default, ImageResize::squash, normalize = true), so the cached eval embeddings are the image
// features the text tower is trained against. `--flip` averages in the mirrored crop on both the
// training and the probe side.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "clipface/clip.hpp"
#include "clipface/embedder.hpp"
#include "clipface/eval/openset.hpp"
#include "clipface/finetune.hpp"

namespace clipface::eval {

inline constexpr const char* kPromptConfidenceMeaning =
    "softmax probability of the most likely enrolled person over all enrolled people's prompts "
    "(logit_scale x cosine); it says how clearly one enrolled person wins, not how close the face "
    "is to anyone";

// Names a face with the most likely enrolled person; confidence = kPromptConfidenceMeaning.
class PromptIdentityClassifier final : public IdentityClassifier {
 public:
  explicit PromptIdentityClassifier(finetune::PromptClassifier classifier);
  std::string name() const override;
  std::string confidence_meaning() const override;
  std::vector<Prediction> predict(const Matrix& embeddings) const override;

 private:
  finetune::PromptClassifier classifier_;
};

// InputError unless `spec` names a CLIP embedder ("clip:<file>" | "clip-random:<arch>"): the
// prompt classifier trains CLIP's own text tower. `who` names the asking option in the message.
void require_clip_spec(const std::string& spec, const std::string& who = "--classifier prompts");

// The CLIP model of an embedder spec, loaded again for training (the Embedder interface stays
// inference only). ModelError when it is not the model behind `embedder` (another checksum or
// architecture). Random-weight architectures get the embedder's seed (0), so the same weights.
ClipModel load_clip_model(const std::string& spec, const EmbedderInfo& embedder,
                          const RuntimeOptions& runtime);

// The model the prompt classifier trains: the embedder's own when it is a CLIP embedder (one copy
// of the weights in memory), else load_clip_model(). InputError for a spec that is not CLIP.
std::shared_ptr<ClipModel> clip_model_for(const std::string& spec, const Embedder& embedder,
                                          const RuntimeOptions& runtime);

// Fine-tuning data of an open-set split: the enrolled rows as a FaceSet (classes = the enrolled
// people), its own seeded per-person train / validation split (best-epoch selection), and the
// probes (genuine rows with their names, impostor rows).
struct PromptData {
  finetune::FaceSet training;
  finetune::Split fit;
  finetune::OpenSetProbes probes;
};
// InputError when fewer than two people are enrolled (nothing to contrast).
PromptData prompt_data(const Matrix& embeddings, const std::vector<int>& labels,
                       const std::vector<std::string>& names, const OpenSetSplit& split,
                       const EmbedderInfo& embedder, std::uint64_t seed,
                       double validation_fraction);

}  // namespace clipface::eval
