// The one table of model files clipface knows. Sums of OpenAI's checkpoints are the path component
// before the file name in their URLs (openai/CLIP clip.py _MODELS, commit d05afc43, which checks
// them the same way); face-model sums are those of the decompressed files in shared/models
// (MODELS.md). Adding a model means adding one row here.
#include <algorithm>
#include <array>
#include <cctype>
#include <string>

#include "clipface/errors.hpp"
#include "clipface/models.hpp"

namespace clipface::models {
namespace {

constexpr std::string_view kOpenAiClip =
    "OpenAI CLIP (openai/CLIP clip.py _MODELS), MIT licence; TorchScript archive";
constexpr std::string_view kDlib =
    "Davis King, dlib.net/files (also davisking/dlib-models), CC0; sum of the unpacked .dat";

constexpr std::array kRegistry{
    ModelEntry{"RN50", "clip", "torchscript", "RN50.pt",
               "https://openaipublic.azureedge.net/clip/models/"
               "afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762/RN50.pt",
               "afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762",
               Compression::none, kOpenAiClip},
    ModelEntry{"RN101", "clip", "torchscript", "RN101.pt",
               "https://openaipublic.azureedge.net/clip/models/"
               "8fa8567bab74a42d41c5915025a8e4538c3bdbe8804a470a72f30b0d94fab599/RN101.pt",
               "8fa8567bab74a42d41c5915025a8e4538c3bdbe8804a470a72f30b0d94fab599",
               Compression::none, kOpenAiClip},
    ModelEntry{"RN50x4", "clip", "torchscript", "RN50x4.pt",
               "https://openaipublic.azureedge.net/clip/models/"
               "7e526bd135e493cef0776de27d5f42653e6b4c8bf9e0f653bb11773263205fdd/RN50x4.pt",
               "7e526bd135e493cef0776de27d5f42653e6b4c8bf9e0f653bb11773263205fdd",
               Compression::none, kOpenAiClip},
    ModelEntry{"RN50x16", "clip", "torchscript", "RN50x16.pt",
               "https://openaipublic.azureedge.net/clip/models/"
               "52378b407f34354e150460fe41077663dd5b39c54cd0bfd2b27167a4a06ec9aa/RN50x16.pt",
               "52378b407f34354e150460fe41077663dd5b39c54cd0bfd2b27167a4a06ec9aa",
               Compression::none, kOpenAiClip},
    ModelEntry{"RN50x64", "clip", "torchscript", "RN50x64.pt",
               "https://openaipublic.azureedge.net/clip/models/"
               "be1cfb55d75a9666199fb2206c106743da0f6468c9d327f3e0d0a543a9919d9c/RN50x64.pt",
               "be1cfb55d75a9666199fb2206c106743da0f6468c9d327f3e0d0a543a9919d9c",
               Compression::none, kOpenAiClip},
    ModelEntry{"ViT-B/32", "clip", "torchscript", "ViT-B-32.pt",
               "https://openaipublic.azureedge.net/clip/models/"
               "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt",
               "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af",
               Compression::none, kOpenAiClip},
    ModelEntry{"ViT-B/16", "clip", "torchscript", "ViT-B-16.pt",
               "https://openaipublic.azureedge.net/clip/models/"
               "5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f/ViT-B-16.pt",
               "5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f",
               Compression::none, kOpenAiClip},
    ModelEntry{"ViT-L/14", "clip", "torchscript", "ViT-L-14.pt",
               "https://openaipublic.azureedge.net/clip/models/"
               "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836/ViT-L-14.pt",
               "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836",
               Compression::none, kOpenAiClip},
    ModelEntry{"ViT-L/14@336px", "clip", "torchscript", "ViT-L-14-336px.pt",
               "https://openaipublic.azureedge.net/clip/models/"
               "3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02/"
               "ViT-L-14-336px.pt",
               "3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02",
               Compression::none, kOpenAiClip},
    ModelEntry{"bpe-vocab", "vocabulary", "gzip", "bpe_simple_vocab_16e6.txt.gz",
               "https://github.com/openai/CLIP/raw/d05afc436d78f1c48dc0dbf8e5980a9d471f35f6/"
               "clip/bpe_simple_vocab_16e6.txt.gz",
               "924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a",
               Compression::none, "CLIP's BPE merges (openai/CLIP clip/), MIT licence"},
    ModelEntry{"yunet-2022mar", "detector", "onnx", "face_detection_yunet_2022mar.onnx",
               "https://github.com/opencv/opencv_zoo/raw/c97242ce7f2a554e288b50eabd9f5df957e78801/"
               "models/face_detection_yunet/face_detection_yunet_2022mar.onnx",
               "50ef07f702a31741ca46a4c0d947773b64143b9362780237bf0d427d6c79bab7",
               Compression::none,
               "YuNet (Shiqi Yu, libfacedetection.train) via OpenCV Zoo, MIT; the version "
               "OpenCV 4.6's FaceDetectorYN loads"},
    ModelEntry{"yunet-2023mar", "detector", "onnx", "face_detection_yunet_2023mar.onnx",
               "https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/"
               "face_detection_yunet_2023mar.onnx",
               "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
               Compression::none,
               "YuNet via OpenCV Zoo, MIT; needs raw cv::dnn decoding on OpenCV 4.6"},
    ModelEntry{"scrfd-500m", "detector", "onnx", "scrfd_500m_kps.onnx", "",
               "517cb1980c72422e676738fc45431700fb7cbee56d0f825b623ee427b3e5ce58",
               Compression::none,
               "InsightFace SCRFD, ONNX export by hpc203/scrfd-opencv @ eee7bf1e weights/; "
               "non-commercial research only, no licence to redistribute: no URL, use a mirror"},
    ModelEntry{"scrfd-2.5g", "detector", "onnx", "scrfd_2.5g_kps.onnx", "",
               "32d20c77b9e2dc1d07e94c2ab9d25bdd5cd05eddbe0b46e7b38e7a1eca22e99a",
               Compression::none,
               "InsightFace SCRFD, ONNX export by hpc203/scrfd-opencv @ eee7bf1e weights/; "
               "non-commercial research only, no licence to redistribute: no URL, use a mirror"},
    ModelEntry{"dlib-landmarks-5", "landmarks", "dlib", "shape_predictor_5_face_landmarks.dat",
               "http://dlib.net/files/shape_predictor_5_face_landmarks.dat.bz2",
               "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
               Compression::bzip2, kDlib},
    ModelEntry{"dlib-resnet-v1", "face-embedder", "dlib",
               "dlib_face_recognition_resnet_model_v1.dat",
               "http://dlib.net/files/dlib_face_recognition_resnet_model_v1.dat.bz2",
               "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
               Compression::bzip2, kDlib},
    ModelEntry{"dlib-mmod", "detector", "dlib", "mmod_human_face_detector.dat",
               "http://dlib.net/files/mmod_human_face_detector.dat.bz2",
               "be467b1a76f482693de3b0f6a1ff91d092319be71523d4d4b0628f6a53fcb87a",
               Compression::bzip2, kDlib},
};

// "ViT-L/14@336px", "vit-l-14-336px" and "ViT_L_14_336px" all compare equal.
std::string normalise(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (c == '/' || c == '@' || c == '_') c = '-';
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

std::string_view stem(std::string_view file) {
  for (std::string_view ext : {".txt.gz", ".pt", ".onnx", ".dat"}) {
    if (file.size() > ext.size() && file.ends_with(ext))
      return file.substr(0, file.size() - ext.size());
  }
  return file;
}

}  // namespace

std::span<const ModelEntry> registry() {
  return kRegistry;
}

const ModelEntry* find(std::string_view name) noexcept {
  try {
    const std::string wanted = normalise(name);
    for (const auto& entry : kRegistry) {
      if (wanted == normalise(entry.name) || wanted == normalise(entry.file) ||
          wanted == normalise(stem(entry.file))) {
        return &entry;
      }
    }
  } catch (...) {  // allocation failure: treat as unknown
  }
  return nullptr;
}

const ModelEntry& lookup(std::string_view name) {
  if (const ModelEntry* entry = find(name)) return *entry;
  std::string known;
  for (const auto& entry : kRegistry) {
    if (!known.empty()) known += ", ";
    known += entry.name;
  }
  throw InputError("unknown model '" + std::string(name) + "'; known models: " + known);
}

const ModelEntry* find_by_sha256(std::string_view sha256) noexcept {
  for (const auto& entry : kRegistry) {
    if (entry.sha256 == sha256) return &entry;
  }
  return nullptr;
}

}  // namespace clipface::models
