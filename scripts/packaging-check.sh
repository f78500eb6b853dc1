#!/usr/bin/env bash
# Packaging habits, checked in CI (.ci/run):
# - every platform gets its own GPU API from wgpu (this machine cannot build
#   for macOS or Windows, but `cargo tree --target` resolves their features);
# - the published package carries the shaders and the README;
# - the API docs build without a warning.
set -euo pipefail
cd "$(dirname "$0")/.."

backends_for() {
    cargo tree --locked --target "$1" -e features -i wgpu 2>/dev/null |
        grep -oE 'wgpu feature "(metal|dx12|vulkan|gles)"' | grep -oE '"[a-z0-9]+"' | tr -d '"' | sort -u | tr '\n' ' '
}
check_backends() {
    local target=$1 want=$2 unwanted=${3:-}
    local got
    got=$(backends_for "$target")
    for backend in $want; do
        if ! grep -qw "$backend" <<<"$got"; then
            echo "packaging-check: $target lacks the wgpu backend '$backend' (has: $got)" >&2
            exit 1
        fi
    done
    for backend in $unwanted; do
        if grep -qw "$backend" <<<"$got"; then
            echo "packaging-check: $target builds the wgpu backend '$backend' it cannot use (has: $got)" >&2
            exit 1
        fi
    done
    echo "packaging-check: $target: wgpu backends $got"
}
check_backends aarch64-apple-darwin "metal"
check_backends x86_64-apple-darwin "metal"
check_backends x86_64-pc-windows-msvc "dx12 vulkan"
check_backends x86_64-unknown-linux-gnu "vulkan gles" "metal dx12"

files=$(cargo package --list --allow-dirty --offline 2>/dev/null || cargo package --list --allow-dirty)
for needed in README.md shaders/saxpy.wgsl shaders/nbody_accel.wgsl shaders/jacobi2d.wgsl; do
    if ! grep -qx "$needed" <<<"$files"; then
        echo "packaging-check: the package lacks $needed" >&2
        exit 1
    fi
done
for shader in shaders/*.wgsl; do
    grep -qx "$shader" <<<"$files" || { echo "packaging-check: the package lacks $shader" >&2; exit 1; }
done
echo "packaging-check: the package lists $(wc -l <<<"$files") files, README and all shaders among them"

RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet
echo "packaging-check: cargo doc --no-deps passes with -D warnings"
