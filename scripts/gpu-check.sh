#!/usr/bin/env bash
# The hardware-GPU check, in two halves, for a GPU machine without a Rust
# toolchain (see BENCHMARKS.md, "On a hardware GPU").
#
#   bash scripts/gpu-check.sh prepare
#       On a build machine: builds stripped release binaries of bench_report,
#       dispatch_report, coexec_report, the demos (nbody, stencil, ensemble) and the GPU-facing
#       test binaries, and packs them with the Debian package of the Vulkan
#       loader (libvulkan1) into gpu-check/bundle.tar.gz (git-ignored; it
#       must stay under 64 MiB to travel).
#
#   bash scripts/gpu-check.sh run [OUTDIR]
#       On the GPU machine, from the repository root: unpacks the bundle and
#       the loader, then runs the tests with SWITCHYARD_REQUIRE_GPU=1 on the
#       adapter named by SWITCHYARD_ADAPTER (default: nvidia), the reports
#       with --json, and the demos at sizes fit for a large GPU. Every JSON
#       line goes into OUTDIR/summary.jsonl (OUTDIR: $OUT if set, else
#       gpu-check/out); each program's whole output into OUTDIR/logs.txt.
#       Runs in well under 8 minutes; each step has its own time limit.
#
# Tested here against lavapipe: SWITCHYARD_ADAPTER=llvmpipe bash scripts/gpu-check.sh run
set -euo pipefail
cd "$(dirname "$0")/.."

bundle_dir=gpu-check
bundle=$bundle_dir/bundle.tar.gz
max_bundle_bytes=$((60 << 20))
examples=(bench_report dispatch_report coexec_report nbody stencil ensemble)

prepare() {
    local staging
    staging=$(mktemp -d)
    mkdir -p "$staging/bin" "$staging/deb" "$bundle_dir"
    cargo build --release --locked $(printf -- '--example %s ' "${examples[@]}")
    for example in "${examples[@]}"; do
        strip -o "$staging/bin/$example" "target/release/examples/$example"
    done
    # The test profile's binaries: what `cargo test` (and CI) already built.
    # The layer check reads the source tree, so it stays home.
    local tests
    tests=$(cargo test --locked --no-run --message-format=json 2>/dev/null |
        grep -o '"executable":"[^"]*/deps/[a-z_]*-[0-9a-f]*"' | cut -d'"' -f4 | sort -u)
    for test in $tests; do
        local name
        name=$(basename "$test" | sed 's/-[0-9a-f]*$//')
        case "$name" in
            layers | switchyard) continue ;;
        esac
        strip -o "$staging/bin/test_$name" "$test"
    done
    # The Vulkan loader for x86-64 (the GPU machine may lack it).
    local lists=/tmp/switchyard-gpu-check-apt
    mkdir -p "$lists/partial"
    local apt_options=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 "-oDir::State::Lists=$lists")
    apt-get "${apt_options[@]}" update -qq
    (cd "$staging/deb" && apt-get "${apt_options[@]}" download libvulkan1 >/dev/null)
    tar -czf "$bundle" -C "$staging" bin deb
    rm -rf "$staging"
    local bytes
    bytes=$(stat -c %s "$bundle")
    echo "gpu-check: $bundle is $((bytes >> 20)) MiB ($(tar -tzf "$bundle" | grep -c '^bin/.' || true) binaries)"
    if [ "$bytes" -gt "$max_bundle_bytes" ]; then
        echo "gpu-check: the bundle is over $((max_bundle_bytes >> 20)) MiB and would not travel" >&2
        exit 1
    fi
}

# Runs one step with a time limit, its output appended to the log; prints
# nothing and fails only through the summary line the caller writes.
step() {
    local limit=$1 name=$2
    shift 2
    echo "=== $name: $*" >>"$log"
    local started=$SECONDS status=0
    timeout "$limit" "$@" >"$work/$name.out" 2>&1 || status=$?
    cat "$work/$name.out" >>"$log"
    echo "gpu-check: $name exit $status in $((SECONDS - started)) s" | tee -a "$log" >&2
    return "$status"
}

# The last line of a step's output when it is a JSON object, tagged.
json_of() {
    local name=$1 status=$2 line
    line=$(grep '^{' "$work/$name.out" | tail -n 1 || true)
    if [ -n "$line" ]; then
        echo "{\"step\":\"$name\",\"exit\":$status,\"result\":$line}" >>"$summary"
    else
        echo "{\"step\":\"$name\",\"exit\":$status,\"result\":null}" >>"$summary"
    fi
}

run() {
    local out=${1:-${OUT:-$bundle_dir/out}}
    mkdir -p "$out"
    summary=$out/summary.jsonl
    log=$out/logs.txt
    : >"$summary"
    : >"$log"
    work=$(mktemp -d)
    [ -f "$bundle" ] || { echo "gpu-check: no $bundle; run 'prepare' first" >&2; exit 1; }
    tar -xzf "$bundle" -C "$work"
    if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1'; then
        for deb in "$work"/deb/*.deb; do dpkg -x "$deb" /; done
        ldconfig
    fi
    # NVIDIA containers keep their Vulkan driver manifest outside the
    # loader's search path.
    if [ -z "${VK_DRIVER_FILES:-}" ] && ! ls /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json >/dev/null 2>&1 &&
        [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
        export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
    fi
    if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
        export XDG_RUNTIME_DIR=/tmp/switchyard-xdg-runtime
        mkdir -p -m 700 "$XDG_RUNTIME_DIR"
    fi
    export SWITCHYARD_ADAPTER=${SWITCHYARD_ADAPTER:-nvidia} SWITCHYARD_CACHE_DIR=off
    echo "{\"step\":\"machine\",\"adapter_filter\":\"$SWITCHYARD_ADAPTER\",\"cpus\":$(nproc),\"vk_driver_files\":\"${VK_DRIVER_FILES:-}\"}" >>"$summary"
    local bin=$work/bin status

    for test in "$bin"/test_*; do
        local name
        name=$(basename "$test")
        status=0
        SWITCHYARD_REQUIRE_GPU=1 step 120 "$name" "$test" || status=$?
        local passed failed
        passed=$(grep -o '[0-9]* passed' "$work/$name.out" | awk '{s += $1} END {print s + 0}')
        failed=$(grep -o '[0-9]* failed' "$work/$name.out" | awk '{s += $1} END {print s + 0}')
        echo "{\"step\":\"$name\",\"exit\":$status,\"passed\":$passed,\"failed\":$failed}" >>"$summary"
    done
    status=0; step 150 bench_report "$bin/bench_report" --json || status=$?
    json_of bench_report "$status"
    status=0; step 120 dispatch_report "$bin/dispatch_report" --json || status=$?
    json_of dispatch_report "$status"
    status=0; step 120 coexec_report "$bin/coexec_report" --json || status=$?
    json_of coexec_report "$status"
    # Demo sizes: for a large GPU by default (64k bodies is 4·10^9
    # interactions a step); SWITCHYARD_GPU_CHECK_SIZE=small, the default on
    # a software adapter, keeps the run short there.
    local size=${SWITCHYARD_GPU_CHECK_SIZE:-}
    if [ -z "$size" ]; then
        case "${SWITCHYARD_ADAPTER,,}" in
            *llvmpipe* | *lavapipe*) size=small ;;
            *) size=large ;;
        esac
    fi
    local bodies=65536 bodies_auto=16384 grid=4096 grid_steps=2000
    if [ "$size" = small ]; then
        bodies=4096 bodies_auto=2048 grid=1024 grid_steps=100
    fi
    status=0; step 90 nbody_gpu "$bin/nbody" --bodies "$bodies" --steps 50 --target gpu --json || status=$?
    json_of nbody_gpu "$status"
    status=0; step 60 nbody_auto "$bin/nbody" --bodies "$bodies_auto" --steps 50 --target auto --json || status=$?
    json_of nbody_auto "$status"
    status=0; step 90 stencil_gpu "$bin/stencil" --size "$grid" --steps "$grid_steps" --target gpu --json || status=$?
    json_of stencil_gpu "$status"
    status=0; step 60 stencil_auto "$bin/stencil" --size "$grid" --steps "$((grid_steps / 4))" --target auto --json || status=$?
    json_of stencil_auto "$status"
    status=0; step 60 ensemble_auto "$bin/ensemble" --target auto --json || status=$?
    json_of ensemble_auto "$status"
    rm -rf "$work"
    echo "gpu-check: summary in $summary ($(wc -l <"$summary") lines), logs in $log"
    ! grep -q '"exit":[1-9]' "$summary"
}

case "${1:-}" in
    prepare) prepare ;;
    run) run "${2:-}" ;;
    *)
        echo "usage: bash scripts/gpu-check.sh prepare | run [OUTDIR]" >&2
        exit 2
        ;;
esac
