#!/usr/bin/env bash
# Interleaved A/B timing of witsock against its peers (Linux): the
# syscall-probe example runs each scenario round after round, every library
# in turn in a rotating order, and takes the ratio witsock / peer within
# each round. On a shared or virtual machine, whose speed drifts by tens of
# percent over seconds, these ratios are far steadier than ratios of
# separate criterion runs. Prints a markdown table: the median per-round
# time ratio (below 1: witsock faster) and its interquartile range.
#
#   benches/ab.sh
#   ROUNDS=60 benches/ab.sh
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS="${ROUNDS:-30}"

cargo build --release --example syscall-probe >&2
probe="${CARGO_TARGET_DIR:-target}/release/examples/syscall-probe"

# ab <scenario> <operations per run> <library>...
ab() {
    local scenario="$1" count="$2"
    shift 2
    "$probe" ab "$scenario" "$count" "$ROUNDS" "$@" | awk -v scenario="$scenario" '
        $1 == "time" { time[$3] = $4 }
        $1 == "ratio" {
            printf "| %s | %s | %s | %.1f ns | %.1f ns | %.3f | %.3f – %.3f |\n",
                scenario, $3, $4, time[$3], time[$4], $5, $6, $7
        }
    '
}

echo "| scenario | witsock | peer | witsock time per op | peer time per op | time ratio (median of rounds) | interquartile range |"
echo "|---|---|---|---|---|---|---|"
ab would-block-accept 20000 witsock raw std socket2 mio
ab accept 1000 witsock raw std socket2 mio
ab tcp-64k 500 witsock std mio
ab tcp-ping 2000 witsock std mio
ab vectored-1024 500 witsock std
ab udp-64 6400 witsock witsock-batch std
