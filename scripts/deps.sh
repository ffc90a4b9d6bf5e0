#!/usr/bin/env bash
# Installs what mlp-gpu needs and is missing, quietly; says what it installed.
# apt: mesa-vulkan-drivers (lavapipe, a Vulkan adapter on the CPU), vulkan-tools,
# dataset-fashion-mnist (the IDX files in /usr/share/datasets/fashion-mnist).
set -euo pipefail
want=(mesa-vulkan-drivers vulkan-tools dataset-fashion-mnist)
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "deps.sh: installed ${missing[*]}" >&2
fi
command -v cargo >/dev/null || { echo "deps.sh: cargo not found; install Rust from https://rustup.rs" >&2; exit 1; }
