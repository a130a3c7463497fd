#!/usr/bin/env bash
# Runs one of bhtrace's fuzz targets (fuzz/fuzz_targets/) for a while.
#
#   scripts/fuzz.sh <envelope|journal> [seconds=60] [extra libFuzzer args…]
#
# Installs cargo-fuzz from crates.io if it is missing, (re)writes the seeds
# from real traces in the current format (fuzz/corpus/<target>/), and runs
# on the stable toolchain with RUSTC_BOOTSTRAP=1 (cargo-fuzz needs -Z flags).
# Crashes land in fuzz/artifacts/<target>/; the last lines of the output are
# libFuzzer's final stats (stat::number_of_executed_units = executions).
set -euo pipefail
cd "$(dirname "$0")/.."

target="${1:?usage: scripts/fuzz.sh <envelope|journal> [seconds] [libFuzzer args…]}"
seconds="${2:-60}"
shift $(( $# >= 2 ? 2 : 1 ))

export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

corpus="fuzz/corpus/$target"
# Every run, not only into an empty folder: a corpus kept from an older
# format version holds files the reader rejects at the version check, and
# would start the fuzzer from nothing that reaches the decoders.
echo "== writing the seeds of $corpus from traces recorded by the layer"
(cd fuzz && cargo run --quiet --example seed -- corpus "$target")

echo "== cargo fuzz run $target for ${seconds}s"
# -malloc_limit_mb: inputs are a few KiB, so any single allocation of
# 256 MiB is sized by an unchecked length field: report it as a crash.
cargo fuzz run --fuzz-dir fuzz "$target" "$corpus" -- \
    -max_total_time="$seconds" \
    -timeout=10 \
    -rss_limit_mb=2048 \
    -malloc_limit_mb=256 \
    -print_final_stats=1 \
    "$@"
