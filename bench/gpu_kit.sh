#!/usr/bin/env bash
# Builds the kit that bench/gpu_session.sh runs on a machine without Rust: the stripped
# release binary, the test suite's binary (gpu_session.sh runs its GPU-only modules: kernels,
# network, training, pack), and the four Fashion-MNIST files.
#
# Usage: bench/gpu_kit.sh KIT [DATA_DIR]   (DATA_DIR: /usr/share/datasets/fashion-mnist)
# Then, with the device tool: carry KIT and the Vulkan loader's .deb files (libvulkan1), and
# run `for f in DEBS/*.deb; do dpkg -x $f /; done; ldconfig; bench/gpu_session.sh KIT $OUT`.
set -eu
kit=$1
data=${2:-/usr/share/datasets/fashion-mnist}
cargo build --release
built=$(cargo test --release --no-run 2>&1)
rm -rf "$kit"
mkdir -p "$kit/tests" "$kit/data"
strip -o "$kit/mlp-gpu" target/release/mlp-gpu
exe=$(sed -n "s|.*Executable tests/suite/main.rs (\(.*\))|\1|p" <<<"$built")
[ -n "$exe" ] || { echo "no test binary for tests/suite/main.rs" >&2; exit 1; }
strip -o "$kit/tests/suite" "$exe"
cp "$data"/*-ubyte* "$kit/data/"
du -sh "$kit"
