#!/usr/bin/env bash
# Sockets inside a wasm32-wasip2 guest under the witsock host: witsock's
# wasi-p2 backend against std::net (wasi-libc), plus witsock on the witsock
# imports, in one run (host/examples/guest_bench.rs). Prints a markdown
# table: the median rate over the rounds and the median per-round ratio to
# std::net (above 1: faster than std).
#
# - builds the probe guest twice (without and with its `imports` feature),
#   and the benchmark;
# - waits (up to WAIT_IDLE seconds, default 300) until the CPUs have been
#   at least 80% idle for 3 seconds, as benches/run.sh does;
# - pins the whole host process (guest thread, wasmtime-wasi's runtime
#   threads, the echo server) to the last CPU, unless PIN=0.
#
#   benches/wasi.sh
#   ROUNDS=30 benches/wasi.sh
#   PIN=0 WAIT_IDLE=0 benches/wasi.sh
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-target}"
probe=host/tests/guests/witsock-probe/Cargo.toml
# Wasm builds: flags meant for native code do not apply.
(
    unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS
    cargo build --release --target wasm32-wasip2 --manifest-path "$probe" \
        --no-default-features --target-dir "$target/witsock-probe-wasi" >&2
    cargo build --release --target wasm32-wasip2 --manifest-path "$probe" \
        --target-dir "$target/witsock-imports-guests" >&2
)
cargo build --release --package witsock-host --example guest_bench >&2

# shellcheck source=benches/quiet.sh
source benches/quiet.sh
wait_for_quiet_machine

runner=()
if [ "${PIN:-1}" != 0 ] && command -v taskset >/dev/null; then
    runner+=(taskset -c "$(( $(nproc) - 1 ))")
fi

"${runner[@]}" "$target/release/examples/guest_bench" \
    "$target/witsock-probe-wasi/wasm32-wasip2/release/witsock-probe.wasm" \
    "$target/witsock-imports-guests/wasm32-wasip2/release/witsock-probe.wasm" \
    "${ROUNDS:-15}"
