#!/usr/bin/env bash
# Runs every criterion benchmark once and prints the ratio table
# (benches/tools/report.rs), steadier on a small shared machine:
#
# - builds first, then waits (up to WAIT_IDLE seconds, default 300) until
#   the CPUs have been at least 80% idle for 3 seconds, so that a
#   concurrent build does not land in the middle of one library's turn;
# - pins the benchmarks to the last CPU (all of them are single-threaded)
#   with taskset, and raises their priority with nice when run as root.
#
#   benches/run.sh                 # all benchmarks
#   benches/run.sh would_block     # criterion filter, passed through
#   WAIT_IDLE=0 benches/run.sh     # do not wait
set -euo pipefail
cd "$(dirname "$0")/.."

benches=(--bench accept --bench tcp --bench vectored --bench udp)
cargo bench --package witsock "${benches[@]}" --no-run >&2
cargo build --release --package witsock --example bench-report >&2

# shellcheck source=benches/quiet.sh
source benches/quiet.sh
wait_for_quiet_machine

runner=()
if command -v taskset >/dev/null; then
    runner+=(taskset -c "$(( $(nproc) - 1 ))")
fi
if [ "$(id -u)" -eq 0 ]; then
    runner=(nice -n -20 "${runner[@]}")
fi

"${runner[@]}" cargo bench --package witsock "${benches[@]}" -- "$@" >&2
cargo run --quiet --release --package witsock --example bench-report
