#!/usr/bin/env bash
# The main job on bundled defaults (grows with the project).
set -euo pipefail
cd "$(dirname "$0")/.."
./build/clipface --help
