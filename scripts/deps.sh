#!/usr/bin/env bash
# Installs what mlp-gpu needs and is missing, quietly and idempotently; says in one line
# what it installed and why. apt: mesa-vulkan-drivers (lavapipe, a Vulkan adapter on the
# CPU), vulkan-tools, dataset-fashion-mnist (the IDX files in
# /usr/share/datasets/fashion-mnist). `deps.sh test` (make test) adds what the tests run:
# python3 (the shader generator's check), parallel (two shards of a sweep at once),
# slurm-wlm and munge (scripts/slurm-check.sh, a one-node Slurm), spirv-tools and
# glslang-tools (spirv-val and glslangValidator check naga's SPIR-V and GLSL), libegl1,
# libegl-mesa0 and libgl1-mesa-dri (llvmpipe's GL, the second backend the tests run on).
#
# On Debian 12, whose lavapipe (Mesa 22.3.6) runs mlp-gpu's epochs about 1.6x slower than a
# current one (docs/benchmarks-history.md), mesa-vulkan-drivers and the libdrm2 it needs come from
# bookworm-backports, enabled through a sources file of its own that reuses the Debian
# mirror the system already uses. MLP_GPU_SYSTEM_MESA=1 keeps the distribution's driver;
# other systems always get the distribution's package. If only that upgrade fails (no
# network, say), the old driver stays, with a warning, and the script succeeds.
# MLP_GPU_DEPS_ROOT prefixes the files under /etc it reads and writes (tests only).
set -euo pipefail

WANT=(mesa-vulkan-drivers vulkan-tools dataset-fashion-mnist)
[ "${1:-}" != test ] || WANT+=(python3 parallel slurm-wlm munge spirv-tools glslang-tools libegl1 libegl-mesa0 libgl1-mesa-dri)
MESA_MIN=24 # an older lavapipe is replaced by the backports one (CURRENT_MESA in context.rs)
ROOT=${MLP_GPU_DEPS_ROOT:-}
BACKPORTS_LIST=$ROOT/etc/apt/sources.list.d/mlp-gpu-backports.sources
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

command -v cargo >/dev/null || { echo "deps.sh: cargo not found; install Rust from https://rustup.rs" >&2; exit 1; }

# The installed version of package $1 ("" if none; the first architecture's if several).
installed_version() {
  { dpkg-query -W -f='${Status} ${Version}\n' "$1" 2>/dev/null || true; } |
    sed -n 's/^install ok installed //p' | sed -n 1p
}

# "bookworm-backports" where that suite's lavapipe is wanted: Debian 12, a Mesa older than
# MESA_MIN (or none), and MLP_GPU_SYSTEM_MESA unset.
backports_suite() {
  [ "${MLP_GPU_SYSTEM_MESA:-0}" != 1 ] && [ -r "$ROOT/etc/os-release" ] || return 0
  local os mesa
  os=$(. "$ROOT/etc/os-release" && echo "${ID:-}:${VERSION_CODENAME:-}")
  [ "$os" = debian:bookworm ] || return 0
  mesa=$(installed_version mesa-vulkan-drivers)
  if [ -z "$mesa" ] || dpkg --compare-versions "$mesa" lt "$MESA_MIN"; then
    echo bookworm-backports
  fi
}

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
apt_get() { $sudo env DEBIAN_FRONTEND=noninteractive apt-get "$@" </dev/null; }

# The first http(s) URI among the apt index targets matching the filters "$@".
first_repo() {
  local uri
  for uri in $(apt-get indextargets --format '$(REPO_URI)' "$@"); do
    case $uri in http://* | https://*) echo "$uri"; return ;; esac
  done
}

# Writes BACKPORTS_LIST for suite $1 on the mirror the system's sources use for Debian 12,
# unless some source already has that suite; says "wrote" when it wrote the file.
enable_backports() {
  [ -z "$(first_repo "Codename: $1")" ] || return 0
  local mirror
  mirror=$(first_repo "Codename: bookworm" "Origin: Debian" "Label: Debian")
  if [ -z "$mirror" ]; then
    echo "deps.sh: the apt sources name no Debian 12 mirror to take $1 from; add one, or set MLP_GPU_SYSTEM_MESA=1 to keep the system's Mesa" >&2
    return 1
  fi
  {
    echo "# Written by mlp-gpu's scripts/deps.sh: a current lavapipe (mesa-vulkan-drivers)."
    printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\n' "$mirror" "$1"
    [ ! -r "$KEYRING" ] || echo "Signed-By: $KEYRING"
  } | $sudo tee "$BACKPORTS_LIST" >/dev/null
  echo wrote
}

# apt-get update, then install "$@"; on failure one line naming the cause, status 1.
apt_install() {
  local err
  if ! err=$(apt_get update -qq 2>&1 >/dev/null) ||
    ! err=$(apt_get install -y -qq --no-install-recommends "$@" 2>&1 >/dev/null); then
    echo "deps.sh: apt-get install $* failed: $(tail -n 1 <<<"$err")" >&2
    return 1
  fi
}

backports=$(backports_suite)
missing=() # what the distribution's packages give; the backports lavapipe comes after
for p in "${WANT[@]}"; do
  if [ "$p" != mesa-vulkan-drivers ] || [ -z "$backports" ]; then
    [ -n "$(installed_version "$p")" ] || missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ] && [ -z "$backports" ]; then
  exit 0
fi
[ -z "$sudo" ] || command -v sudo >/dev/null ||
  { echo "deps.sh: run as root, or install sudo, to install ${missing[*]} ${backports:+mesa-vulkan-drivers}" >&2; exit 1; }

if [ ${#missing[@]} -gt 0 ]; then
  apt_install "${missing[@]}"
  echo "deps.sh: installed ${missing[*]}" >&2
fi
[ -n "$backports" ] || exit 0
old=$(installed_version mesa-vulkan-drivers)
upgrade=("mesa-vulkan-drivers/$backports" "libdrm2/$backports")
# Finding the mirror needs current lists: fetched above if anything was installed.
if { [ ${#missing[@]} -gt 0 ] || apt_get update -qq >/dev/null 2>&1; } &&
  wrote=$(enable_backports "$backports") && apt_install "${upgrade[@]}"; then
  echo "deps.sh: installed ${upgrade[*]} (a lavapipe about 1.6x faster than Debian 12's; MLP_GPU_SYSTEM_MESA=1 keeps the system's)" >&2
  exit 0
fi
# Leave apt as it was: no sources file of ours that cannot be fetched.
[ "${wrote:-}" != wrote ] || $sudo rm -f "$BACKPORTS_LIST"
if [ -z "$old" ]; then
  echo "deps.sh: no lavapipe installed; set MLP_GPU_SYSTEM_MESA=1 to take Debian 12's" >&2
  exit 1
fi
echo "deps.sh: warning: keeping lavapipe $old (the backports one could not be installed; MLP_GPU_SYSTEM_MESA=1 stops trying)" >&2
