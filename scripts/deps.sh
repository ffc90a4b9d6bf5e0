#!/usr/bin/env bash
# Installs what mlp-gpu needs and is missing, quietly and idempotently; says in one line
# what it installed and why. apt: mesa-vulkan-drivers (lavapipe, a Vulkan adapter on the
# CPU), vulkan-tools, dataset-fashion-mnist (the IDX files in
# /usr/share/datasets/fashion-mnist).
#
# On Debian 12, whose lavapipe (Mesa 22.3.6) runs mlp-gpu's kernels about 4x slower than a
# current one (BENCHMARKS.md), mesa-vulkan-drivers and the libdrm2 it needs come from
# bookworm-backports, enabled through a sources file of its own that reuses the Debian
# mirror the system already uses. MLP_GPU_SYSTEM_MESA=1 keeps the distribution's driver;
# other systems always get the distribution's package.
set -euo pipefail

WANT=(mesa-vulkan-drivers vulkan-tools dataset-fashion-mnist)
MESA_MIN=24 # an older lavapipe is replaced by the backports one
BACKPORTS_LIST=/etc/apt/sources.list.d/mlp-gpu-backports.sources
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

command -v cargo >/dev/null || { echo "deps.sh: cargo not found; install Rust from https://rustup.rs" >&2; exit 1; }

installed_version() {
  dpkg-query -W -f='${Status} ${Version}' "$1" 2>/dev/null | sed -n 's/^install ok installed //p'
}

# "bookworm-backports" where that suite's lavapipe is wanted: Debian 12, a Mesa older than
# MESA_MIN (or none), and MLP_GPU_SYSTEM_MESA unset.
backports_suite() {
  [ "${MLP_GPU_SYSTEM_MESA:-0}" != 1 ] && [ -r /etc/os-release ] || return 0
  local os
  os=$(. /etc/os-release && echo "${ID:-}:${VERSION_CODENAME:-}")
  [ "$os" = debian:bookworm ] || return 0
  local mesa
  mesa=$(installed_version mesa-vulkan-drivers)
  if [ -z "$mesa" ] || dpkg --compare-versions "$mesa" lt "$MESA_MIN"; then
    echo bookworm-backports
  fi
}

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
apt_get() { DEBIAN_FRONTEND=noninteractive $sudo apt-get "$@" </dev/null; }

# Writes BACKPORTS_LIST for suite $1 on the mirror the system's sources use for Debian 12.
enable_backports() {
  [ -z "$(apt-get indextargets --format '$(RELEASE)' "Release: $1" | head -n 1)" ] || return 0
  local mirror
  mirror=$(apt-get indextargets --format '$(REPO_URI)' "Release: bookworm" "Origin: Debian" \
    "Label: Debian" | head -n 1)
  [ -n "$mirror" ] || { echo "deps.sh: the apt sources name no Debian 12 mirror to take $1 from; add one, or set MLP_GPU_SYSTEM_MESA=1 to keep the system's Mesa" >&2; exit 1; }
  {
    echo "# Written by mlp-gpu's scripts/deps.sh: a current lavapipe (mesa-vulkan-drivers)."
    printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\n' "$mirror" "$1"
    [ ! -r "$KEYRING" ] || echo "Signed-By: $KEYRING"
  } | $sudo tee "$BACKPORTS_LIST" >/dev/null
  apt_get update -qq
}

backports=$(backports_suite)
install=()
for p in "${WANT[@]}"; do
  if [ "$p" = mesa-vulkan-drivers ] && [ -n "$backports" ]; then
    install+=("$p/$backports" "libdrm2/$backports")
  elif [ -z "$(installed_version "$p")" ]; then
    install+=("$p")
  fi
done
[ ${#install[@]} -gt 0 ] || exit 0

apt_get update -qq
why=""
if [ -n "$backports" ]; then
  enable_backports "$backports"
  why=" (a lavapipe about 4x faster than Debian 12's; MLP_GPU_SYSTEM_MESA=1 keeps the system's)"
fi
if ! err=$(apt_get install -y -qq --no-install-recommends "${install[@]}" 2>&1 >/dev/null); then
  echo "deps.sh: apt-get install ${install[*]} failed: $(tail -n 1 <<<"$err")" >&2
  exit 1
fi
echo "deps.sh: installed ${install[*]}$why" >&2
