#!/usr/bin/env bash
# The main job on bundled defaults: enroll the named people of the face_recognition examples with
# the dlib embedder (no CLIP weights ship here; pass EMBEDDER=clip:ViT-B-32.pt once you have them),
# then name every face in the group photos and write annotated copies.
#   out/demo/gallery     the gallery (SQLite + FAISS)
#   out/demo/annotated   group photos with boxes and names
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${CLIPFACE_SHARED:-$(cd .. && pwd)/shared}
people=$shared/data/faces/named/face_recognition_examples
out=${DEMO_OUT:-out/demo}
embedder=${EMBEDDER:-dlib}
if [[ ! -d "$people" ]]; then
  echo "demo: $people not found (set CLIPFACE_SHARED to the shared data folder)" >&2
  exit 1
fi
rm -rf "$out"
mkdir -p "$out"
echo "== enrolling the people of $people (embedder: $embedder)"
# --allow-skips: one photo (joe_biden/biden2.jpg) shows two faces and is left out
./build/clipface enroll "$out/gallery" "$people" --embedder "$embedder" --allow-skips
./build/clipface people "$out/gallery" list
echo
echo "== identifying the faces in the group photos"
./build/clipface identify "$out/gallery" "$people/_group" --annotate "$out/annotated"
echo
echo "annotated images: $out/annotated/"
