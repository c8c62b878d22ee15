#!/usr/bin/env bash
# Syscalls and heap allocations per operation, witsock beside its peers
# (Linux). Each row runs the syscall-probe example under `strace -f` and
# counts the syscalls its main thread makes between the probe's two marker
# writes; the probe itself counts the heap allocations in between. Where
# valgrind is installed, a second run under callgrind counts the user-space
# instructions of the measured operations (the library's own cost, libc's
# syscall wrappers included, the kernel excluded): unlike time, that count
# does not move with the load of a shared machine.
#
#   benches/syscalls.sh            # N=1000 operations per row
#   N=10000 benches/syscalls.sh
#
# Targets on Linux: one accept4(2) per accepted connection and per
# would-block try-accept, no heap allocation on either path; one sendmsg(2)
# per vectored send of up to 1024 buffers.
set -euo pipefail
cd "$(dirname "$0")/.."

N="${N:-1000}"

if ! command -v strace >/dev/null; then
    echo "strace is missing; installing it" >&2
    if [ "$(id -u)" -eq 0 ]; then
        apt-get install -y strace >&2
    else
        sudo apt-get install -y strace >&2
    fi
fi

cargo build --release --example syscall-probe >&2
probe="${CARGO_TARGET_DIR:-target}/release/examples/syscall-probe"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Prints "<total> <name>=<count> ..." for the marked section of a trace.
count_marked() {
    awk '
        {
            line = $0
            pid = ""
            if (match(line, /^[0-9]+ +/)) {
                pid = substr(line, 1, RLENGTH)
                sub(/ +$/, "", pid)
                line = substr(line, RLENGTH + 1)
            }
            if (line ~ /witsock-probe:begin/) { inside = 1; tid = pid; next }
            if (line ~ /witsock-probe:end/) { inside = 0; next }
            if (!inside || pid != tid) next
            if (line ~ /^<\.\.\. .* resumed>/) next
            if (line ~ /^(\+\+\+|---)/) next
            name = line
            sub(/\(.*/, "", name)
            counts[name]++
            total++
        }
        END {
            printf "%d", total
            for (n in counts) printf " %s=%d", n, counts[n]
            printf "\n"
        }
    ' "$1"
}

# row <scenario> <library> <operations>
row() {
    local scenario="$1" library="$2" ops="$3"
    local trace="$work/trace" out="$work/out"
    strace -f -qq -o "$trace" "$probe" "$scenario" "$library" "$ops" >"$out"
    local allocs
    allocs="$(awk '/^allocations_per_op/ { print $2 }' "$out")"
    local empty
    empty="$(awk '/^empty_polls/ { print $2 }' "$out")"
    read -r total rest <<<"$(count_marked "$trace")"
    # The probe rounds UDP up to whole bursts of 64.
    if [ "$scenario" = udp-64 ]; then
        ops=$(( (ops + 63) / 64 * 64 ))
    fi
    local per_op breakdown=""
    per_op="$(awk -v t="$total" -v n="$ops" 'BEGIN { printf "%.3g", t / n }')"
    for kv in $rest; do
        breakdown+="$(awk -v k="${kv%%=*}" -v c="${kv#*=}" -v n="$ops" \
            'BEGIN { printf "%s %.3g, ", k, c / n }')"
    done
    breakdown="${breakdown%, }"
    if [ -n "$empty" ] && [ "$empty" != 0 ]; then
        breakdown+=" (incl. $empty empty polls)"
    fi
    local instructions="–"
    if command -v valgrind >/dev/null; then
        local collected
        collected="$(valgrind --tool=callgrind --callgrind-out-file=/dev/null \
            --toggle-collect='*measured_section*' \
            "$probe" "$scenario" "$library" "$3" 2>&1 >/dev/null |
            awk '/Collected :/ { print $NF }')"
        instructions="$(awk -v c="$collected" -v n="$ops" 'BEGIN { printf "%.0f", c / n }')"
    fi
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' \
        "$scenario" "$library" "$ops" "$per_op" "$breakdown" "$allocs" "$instructions"
}

echo "| scenario | library | operations | syscalls per op | per op, by syscall | heap allocations per op | user-space instructions per op |"
echo "|---|---|---|---|---|---|---|"
for lib in witsock raw std socket2 mio; do
    row would-block-accept "$lib" "$N"
done
for lib in witsock raw std socket2 mio; do
    row accept "$lib" "$N"
done
for lib in witsock std mio; do
    row tcp-64k "$lib" "$N"
done
for lib in witsock std mio; do
    row tcp-ping "$lib" "$N"
done
for lib in witsock std; do
    row vectored-1024 "$lib" "$N"
done
for lib in witsock witsock-batch std; do
    row udp-64 "$lib" "$(( N * 64 / 10 ))"
done
