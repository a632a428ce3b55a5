#!/usr/bin/env bash
# Issue 7 acceptance: LFW View 1 with the dlib embedder. Threshold chosen on pairsDevTrain.txt,
# accuracy on pairsDevTest.txt; also the detection rate over the 4,992 images.
# Usage: scripts/acceptance-lfw.sh [BUILD_DIR] [extra eval options, e.g. --flip]
# Needs >= 98.5% accuracy and >= 99.5% detection. Cold cache: a few minutes on 2 cores.
set -euo pipefail
build=${1:-build}
shift || true
here=$(cd "$(dirname "$0")/.." && pwd)
shared=${CLIPFACE_SHARED:-$here/../shared}
lfw=$shared/data/faces/lfw-view1
json=$("$build/clipface" eval verify "$lfw" --pairs "$lfw/pairsDevTest.txt" \
  --train-pairs "$lfw/pairsDevTrain.txt" --embedder dlib --json "$@")
echo "$json" | /usr/bin/python3 -c '
import json, sys
r = json.load(sys.stdin)
acc, det = r["accuracy"], r["dataset"]["detection_rate"]
print(f"View 1 test accuracy {100*acc:.2f}% (threshold {r[\"threshold_cosine\"]:.4f} from train, "
      f"train accuracy {100*r[\"train_accuracy\"]:.2f}%), ROC AUC {r[\"roc_auc\"]:.4f}, "
      f"TAR@FAR=1e-3 {100*r[\"tar_at_far_1e-3\"]:.2f}%, face found in {100*det:.2f}% of "
      f"{r[\"dataset\"][\"images\"]} images, pairs with a missing face {r[\"missing_pairs\"]}")
ok = acc >= 0.985 and det >= 0.995
print("PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
'
