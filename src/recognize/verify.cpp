#include "clipface/classify.hpp"
#include "clipface/errors.hpp"
#include "clipface/recognizer.hpp"

namespace clipface {

Verification verify_faces(const FacePipeline& pipeline, const cv::Mat& image1,
                          const cv::Mat& image2, float threshold_l2, const std::string& name1,
                          const std::string& name2) {
  const ImageFaces a = pipeline.process(image1);
  const ImageFaces b = pipeline.process(image2);
  if (a.faces.empty()) throw FaceCountError(name1, 0);
  if (b.faces.empty()) throw FaceCountError(name2, 0);
  Verification v;
  v.face1 = a.faces[0];  // the detector lists the most confident face first
  v.face2 = b.faces[0];
  v.cosine = dot(a.embeddings.row(0), b.embeddings.row(0));
  v.l2 = l2_from_cosine(v.cosine);
  v.threshold = threshold_l2;
  v.same = v.l2 <= threshold_l2;
  return v;
}

}  // namespace clipface
