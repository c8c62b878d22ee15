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

# Percent of CPU time idle over the next second, from /proc/stat.
idle_percent() {
    local a b
    read -ra a </proc/stat
    sleep 1
    read -ra b </proc/stat
    local idle=$(( (b[4] + b[5]) - (a[4] + a[5]) ))
    local total=0 i
    for i in 1 2 3 4 5 6 7 8; do
        total=$(( total + b[i] - a[i] ))
    done
    echo $(( total > 0 ? 100 * idle / total : 100 ))
}

wait_idle="${WAIT_IDLE:-300}"
quiet=0
for (( waited = 0; waited < wait_idle && quiet < 3; waited++ )); do
    if [ "$(idle_percent)" -ge 80 ]; then
        quiet=$(( quiet + 1 ))
    else
        quiet=0
    fi
done
if [ "$wait_idle" -gt 0 ] && [ "$quiet" -lt 3 ]; then
    echo "the machine stayed busy for ${wait_idle}s; running anyway" >&2
fi

runner=()
if command -v taskset >/dev/null; then
    runner+=(taskset -c "$(( $(nproc) - 1 ))")
fi
if [ "$(id -u)" -eq 0 ]; then
    runner=(nice -n -20 "${runner[@]}")
fi

"${runner[@]}" cargo bench --package witsock "${benches[@]}" -- "$@" >&2
cargo run --quiet --release --package witsock --example bench-report
