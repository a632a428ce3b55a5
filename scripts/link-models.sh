#!/usr/bin/env bash
# Puts the models clipface needs into $CLIPFACE_HOME/models (default ~/.cache/clipface/models):
# symlinks to the shared folder where it exists, otherwise `clipface models pull` from the
# official sources (needs a network and a built binary).
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${CLIPFACE_SHARED:-$(cd .. && pwd)/shared}
home=${CLIPFACE_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/clipface}
mkdir -p "$home/models"
files=(
  yunet/face_detection_yunet_2022mar.onnx
  scrfd/scrfd_500m_kps.onnx
  dlib/shape_predictor_5_face_landmarks.dat
  dlib/dlib_face_recognition_resnet_model_v1.dat
  clip/bpe_simple_vocab_16e6.txt.gz
)
for f in "${files[@]}"; do
  name=$(basename "$f")
  if [[ -f "$shared/models/$f" ]]; then
    ln -sf "$shared/models/$f" "$home/models/$name"
  elif [[ ! -f "$home/models/$name" ]]; then
    echo "link-models: $shared/models/$f not found; will download $name on first use" >&2
  fi
done
