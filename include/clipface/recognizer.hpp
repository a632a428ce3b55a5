// The calls apps use: image -> faces -> crops -> embeddings (FacePipeline), folders of people into
// a gallery (enroll_*), every face of an image named by the gallery vote (Recognizer), pairs of
// photos compared 1:1 (verify_faces), and pictures of the result (annotate).
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "clipface/classify.hpp"
#include "clipface/detect.hpp"
#include "clipface/embedder.hpp"
#include "clipface/errors.hpp"
#include "clipface/face_analysis.hpp"
#include "clipface/gallery.hpp"
#include "clipface/matrix.hpp"
#include "clipface/quality.hpp"

namespace clipface {

struct PipelineOptions {
  DetectorOptions detector;
  std::string embedder = "dlib";  // make_embedder() spec
  EmbedderOptions embedder_options;
  AnalysisOptions analysis;  // anti-spoofing gate and attributes, off by default
};

// The faces of one image with what the embedder saw and the vectors it made.
struct ImageFaces {
  std::filesystem::path path;  // empty for images that came from memory
  cv::Size size;
  std::vector<Face> faces;             // highest detector score first
  std::vector<cv::Mat> crops;          // aligned crops, one per face
  Matrix embeddings;                   // unit rows, one per face
  std::vector<FaceQuality> quality;    // one per face
  std::vector<FaceAnalysis> analysis;  // one per face when the pipeline analyses, else empty
};

// Which detected faces to go on with (per request in the server: CompreFace's `limit` and
// `det_prob_threshold`), applied before the faces are aligned and embedded.
struct FaceFilter {
  float min_score = 0;  // detector score below which a face is dropped
  int max_faces = 0;    // 0 = all; otherwise the largest faces (by box area), largest first
};
// Drops the faces the filter does not keep (in place).
void filter_faces(std::vector<Face>& faces, const FaceFilter& filter);

class FacePipeline {
 public:
  explicit FacePipeline(const PipelineOptions& options);
  FacePipeline(std::unique_ptr<Detector> detector, std::unique_ptr<Embedder> embedder,
               std::unique_ptr<FaceAnalyzer> analyzer = nullptr);

  ImageFaces process(const cv::Mat& image, const FaceFilter& filter = {}) const;
  // load_image() + process(); ImageError for a bad file.
  ImageFaces process_file(const std::filesystem::path& path) const;

  const Detector& detector() const { return *detector_; }
  const Embedder& embedder() const { return *embedder_; }
  const FaceAnalyzer* analyzer() const { return analyzer_.get(); }  // nullptr when off

 private:
  std::unique_ptr<Detector> detector_;
  std::unique_ptr<Embedder> embedder_;
  std::unique_ptr<FaceAnalyzer> analyzer_;
};

// The people of DIR/<person>/* or, in the layout of the CLIP + FAISS paper, DIR/<person>/train/*.
// Folders starting with '_' or '.' (such as `_group`) are skipped. Sorted by name.
struct PersonImages {
  std::string person;
  std::vector<std::filesystem::path> images;
};
std::vector<PersonImages> list_people(const std::filesystem::path& dir);

struct EnrollOptions {
  bool store_crops = true;    // keep the aligned crop PNG beside each face
  bool skip_enrolled = true;  // images already in the gallery (same content) are not added again
  bool progress = true;
  // All or nothing: every image is looked at before anything is written; when any is skipped,
  // nothing is written and SkippedInputsError lists them all. Holds the run's faces in memory.
  bool strict = false;
  QualityBar quality;  // faces below it are skipped, with the reason
};

// An image that was not used, and the exit code the CLI gives it (README, "Exit codes").
struct SkippedImage {
  std::filesystem::path path;
  // "no face", "2 faces", "low quality: <why>", "spoof (real score 0.12 < 0.50)", or the
  // ImageError message
  std::string reason;
  int exit_code = 2;  // 3: unreadable image (ImageError), 2: bad data (no face, several faces)
};

struct EnrollReport {
  int people = 0;  // people with at least one face enrolled in this run
  int images = 0;  // images looked at
  int faces = 0;   // faces enrolled
  std::vector<SkippedImage> skipped;
  // enroll_unlabelled: single faces left out of images whose other faces were added ("face 2:
  // low quality: ..."); the image itself was used
  std::vector<SkippedImage> skipped_faces;
  std::vector<std::filesystem::path> already_enrolled;  // same content already in the gallery
  bool written = false;                                 // something was committed to the gallery
  double seconds = 0;
};

// The gallery an enrollment writes to: an open one, or one created for the pipeline's embedder at
// the first write, so that a call that enrolls nothing leaves no gallery behind.
class GalleryTarget {
 public:
  explicit GalleryTarget(Gallery& gallery) : gallery_(&gallery) {}
  GalleryTarget(std::filesystem::path dir, GalleryOptions options)
      : dir_(std::move(dir)), options_(std::move(options)) {}

  const Gallery* existing() const { return gallery_; }  // nullptr until created
  Gallery& for_writing(const EmbedderInfo& model);      // creates the gallery on first call

 private:
  Gallery* gallery_ = nullptr;
  std::unique_ptr<Gallery> created_;
  std::filesystem::path dir_;
  GalleryOptions options_;
};

// Enrolls the images of each person with exactly one face; one transaction per person, so an
// interrupted run keeps every person it finished and a rerun picks up the rest (strict: one
// transaction for the whole run, and none when an image is skipped). With the pipeline's
// anti-spoofing gate on, a face judged a spoof is skipped, never enrolled.
EnrollReport enroll_people(GalleryTarget& target, const FacePipeline& pipeline,
                           const std::vector<PersonImages>& people, const EnrollOptions& options);
inline EnrollReport enroll_people(Gallery& gallery, const FacePipeline& pipeline,
                                  const std::vector<PersonImages>& people,
                                  const EnrollOptions& options) {
  GalleryTarget target(gallery);
  return enroll_people(target, pipeline, people, options);
}

// An image that should show one face (an enrollment photo, a verification probe) showing none or
// several after filtering.
class FaceCountError : public InputError {
 public:
  FaceCountError(const std::string& image, int faces);
  int faces() const { return faces_; }

 private:
  int faces_;
};

struct EnrolledFace {
  std::int64_t face_id = 0;
  Face face;
  cv::Mat crop;  // what the embedder saw
};

// Enrolls the one face of one image for `person` in one transaction (a service's "add a face").
// `name` is kept as the image's path; `sha256` identifies its bytes. FaceCountError unless the
// image shows exactly one face that passes `filter`; InputError ("low quality: ...") when that
// face is below `quality`, the bar enroll_people holds photos to.
EnrolledFace enroll_image(Gallery& gallery, const FacePipeline& pipeline, const std::string& person,
                          const cv::Mat& image, const std::string& name, const std::string& sha256,
                          const FaceFilter& filter = {}, const QualityBar& quality = {},
                          bool store_crop = true);

// Every face of every image as an unlabelled face (or a known stranger), for clustering
// (`clipface add GALLERY --unlabelled DIR`): faces below the quality bar are left out one by one
// (an image none of whose faces clears it is skipped); one transaction per batch of images, so
// an interrupted run keeps what it finished and a rerun passes over images already in the
// gallery (strict: one transaction, none when an image is skipped). EnrollReport::people stays 0.
EnrollReport enroll_unlabelled(GalleryTarget& target, const FacePipeline& pipeline,
                               const std::vector<std::filesystem::path>& images,
                               const EnrollOptions& options, bool strangers = false);
inline EnrollReport enroll_unlabelled(Gallery& gallery, const FacePipeline& pipeline,
                                      const std::vector<std::filesystem::path>& images,
                                      const EnrollOptions& options, bool strangers = false) {
  GalleryTarget target(gallery);
  return enroll_unlabelled(target, pipeline, images, options, strangers);
}

// A face of an image, named. A face the anti-spoofing gate rejects is labelled kSpoof, with no
// neighbours: it is never named, not even as a near miss.
struct NamedFace {
  Face face;
  Decision decision;
  std::vector<Neighbor> neighbours;  // nearest first (up to k2, or as many as asked)
  cv::Mat crop;
  FaceQuality quality;
  std::vector<float> embedding;  // the unit vector it was named by
  FaceAnalysis analysis;  // empty unless the pipeline analyses
};

struct Identification {
  std::filesystem::path path;
  cv::Size size;
  std::vector<NamedFace> faces;
};

// Names an embedding; the gallery's k1/k2 vote by default, the fine-tuned prompt classifier when
// `identify --classifier` is given.
using FaceNamer = std::function<std::vector<Decision>(const Matrix& embeddings)>;

class Recognizer {
 public:
  // The pipeline's embedder must be the gallery's embedding space (GalleryError otherwise).
  Recognizer(const Gallery& gallery, const FacePipeline& pipeline, KnnVote rule);
  // On a snapshot (searches in parallel with writes, as the server runs them).
  Recognizer(std::shared_ptr<const GallerySnapshot> snapshot, const FacePipeline& pipeline,
             KnnVote rule);

  // Replaces the vote with another way of naming faces (neighbours are still reported).
  void set_namer(FaceNamer namer) { namer_ = std::move(namer); }

  // `neighbours`: how many to look up and report per face (at least the vote's k2).
  Identification identify(const cv::Mat& image, const FaceFilter& filter = {},
                          int neighbours = 0) const;
  Identification identify_file(const std::filesystem::path& path) const;

 private:
  using Search = std::function<std::vector<std::vector<Neighbor>>(const Matrix&, int)>;
  Search search_;
  const FacePipeline& pipeline_;
  KnnVote rule_;
  FaceNamer namer_;
};

// Stores the faces an identification met as unlabelled faces (`identify --remember`), with their
// crops and quality; an image already in the gallery adds nothing. Returns the new face ids.
std::vector<std::int64_t> remember_faces(Gallery& gallery, const EmbedderInfo& model,
                                         const Identification& identification,
                                         const std::string& image_sha256);

// 1:1 comparison of the most prominent face (highest score) of two images.
struct Verification {
  float cosine = 0;
  float l2 = 2;
  float threshold = 0;  // largest L2 distance that still means "same person"
  bool same = false;
  Face face1, face2;
};
// InputError naming the image when it holds no face.
Verification verify_faces(const FacePipeline& pipeline, const cv::Mat& image1,
                          const cv::Mat& image2, float threshold_l2,
                          const std::string& name1 = "image 1",
                          const std::string& name2 = "image 2");

// Boxes, landmarks and labels drawn on a copy of the image (green known, red Unknown).
cv::Mat annotate(const cv::Mat& image, const std::vector<NamedFace>& faces);

}  // namespace clipface
