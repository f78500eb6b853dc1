#!/usr/bin/env bash
# Builds the MPI examples (`--features mpi`) and runs each on 2 ranks and on
# 4 (oversubscribed on a 2-core machine), on the CPU pools and on the GPU
# adapter, checking every result against the single-process run:
#   stencil_mpi: the gathered grid must equal it bit for bit;
#   nbody_mpi:   the energies must agree (the tolerance is in the example).
# Also checks that a launcher/rank-count mismatch is refused. Run by .ci/run
# after the main tests; needs Open MPI and libclang (see the README).
set -euo pipefail
cd "$(dirname "$0")/.."

# Open MPI refuses to start as root without these (CI runs as root).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
    export XDG_RUNTIME_DIR=/tmp/switchyard-xdg-runtime
    mkdir -p -m 700 "$XDG_RUNTIME_DIR"
fi

examples=(--example stencil_mpi --example nbody_mpi)
cargo clippy --features mpi "${examples[@]}" -- -D warnings
# The test profile: the dependencies `cargo test` built are reused.
cargo build --profile test --features mpi "${examples[@]}"
bin=target/debug/examples

# Runs `mpirun` with the given arguments; prints the JSON line rank 0 ends
# with and fails unless it contains every later argument's text.
check_run() {
    local launch=$1 expectations=("${@:2}")
    local output
    # shellcheck disable=SC2086 # $launch is a word list on purpose
    output=$(mpirun $launch --json)
    local json
    json=$(printf '%s\n' "$output" | tail -n 1)
    echo "$json"
    for expected in "${expectations[@]}"; do
        if [[ "$json" != *"$expected"* ]]; then
            echo "mpi-check: expected $expected in the output of: mpirun $launch" >&2
            exit 1
        fi
    done
}

for ranks in 2 4; do
    launcher="-np $ranks"
    if [ "$ranks" -gt "$(nproc)" ]; then
        launcher="$launcher --oversubscribe"
    fi
    for target in cpu gpu; do
        check_run "$launcher $bin/stencil_mpi --ranks $ranks --size 257 --steps 60 --target $target --check" \
            "\"ranks\":$ranks" '"bit_equal_to_single_process":true'
        check_run "$launcher $bin/nbody_mpi --ranks $ranks --bodies 1024 --steps 20 --target $target --check" \
            "\"ranks\":$ranks" '"single_process_energy":-'
    done
done

# A launcher that starts another number of ranks than asked for is refused.
if refusal=$(mpirun -np 2 "$bin/stencil_mpi" --ranks 3 --size 33 --steps 1 2>&1); then
    echo "mpi-check: --ranks 3 under mpirun -np 2 was not refused" >&2
    exit 1
fi
if [[ "$refusal" != *"MPI reports 2 rank(s) but --ranks 3"* ]]; then
    echo "mpi-check: --ranks 3 under mpirun -np 2 failed for another reason: $refusal" >&2
    exit 1
fi
echo "mpi-check: all MPI runs agree with the single-process runs"
