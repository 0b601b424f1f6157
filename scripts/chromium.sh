#!/usr/bin/env bash
# Installs Debian's chromium for the real-browser tests (web pages driven by chromedp) when it is missing, with a
# Chinese font (the pages' labels and the screenshots in docs/), and prints chromium's path. Idempotent: with both
# present it only prints the path.
# Usage: scripts/chromium.sh
set -euo pipefail

find_chromium() { command -v chromium || command -v chromium-browser || true; }

has_cjk_font() { command -v fc-list >/dev/null && [[ -n $(fc-list :lang=zh 2>/dev/null) ]]; }

bin=$(find_chromium)
missing=()
[[ -n $bin ]] || missing+=(chromium)
has_cjk_font || missing+=(fonts-wqy-microhei)
if ((${#missing[@]})); then
  echo "chromium: installing ${missing[*]} from Debian" >&2
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  bin=$(find_chromium)
  [[ -n $bin ]] || { echo "chromium: installed, but no chromium binary on PATH" >&2; exit 1; }
fi
echo "$bin"
