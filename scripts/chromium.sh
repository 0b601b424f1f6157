#!/usr/bin/env bash
# Installs Debian's chromium for the real-browser tests (web pages driven by chromedp) when it is missing, and
# prints its path. Idempotent: with chromium present it only prints the path.
# Usage: scripts/chromium.sh
set -euo pipefail

find_chromium() { command -v chromium || command -v chromium-browser || true; }

bin=$(find_chromium)
if [[ -z $bin ]]; then
  echo "chromium: installing the Debian package" >&2
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium >&2
  bin=$(find_chromium)
  [[ -n $bin ]] || { echo "chromium: installed, but no chromium binary on PATH" >&2; exit 1; }
fi
echo "$bin"
