# Sourced by the benchmark scripts: wait_for_quiet_machine waits (up to
# WAIT_IDLE seconds, default 300) until the CPUs have been at least 80% idle
# for 3 seconds in a row, so that a concurrent build does not land in the
# middle of a measurement.

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

wait_for_quiet_machine() {
    local wait_idle="${WAIT_IDLE:-300}" quiet=0 waited
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
}
