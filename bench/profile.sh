#!/usr/bin/env bash
# Instructions per call, counted with callgrind (repeatable on a noisy machine), and the
# functions they go to; then syscalls per call (strace -c), where futex and epoll_wait
# counts stand for wake-ups.
#
# It runs the fixed-work mode twice, with N1 and N2 calls, and divides the difference in
# instructions by N2 - N1, so that start-up and connection set-up cancel out.
#
#   bench/profile.sh                      # QuorumCall, n=3 q=2 c=1, tokio current-thread
#   bench/profile.sh --runtime smol       # any gorums-bench flags are passed on
#   N1=1000 N2=5000 bench/profile.sh --benchmarks '^Multicast$'
#
# Output goes to $OUT (default target/profile): callgrind.out.N2 can be opened with
# callgrind_annotate or kcachegrind.
set -euo pipefail

N1=${N1:-2000}
N2=${N2:-12000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=${OUT:-$TARGET/profile}
BIN=$TARGET/release/gorums-bench

if ! command -v valgrind >/dev/null; then
    echo "profile.sh: valgrind is not installed; on Debian: apt-get install valgrind" >&2
    exit 1
fi

ARGS=(--benchmarks '^QuorumCall$' --config-size 3 --quorum-size 2 --concurrent 1 --threads 1 --runtime tokio)
if [ $# -gt 0 ]; then
    # Defaults first, the caller's flags after: clap keeps the last value of a flag.
    ARGS+=("$@")
fi

(cd "$ROOT" && cargo build --release -p gorums-bench --quiet)
mkdir -p "$OUT"

instructions() { # calls -> total instructions of the run
    local calls=$1 file="$OUT/callgrind.out.$1"
    valgrind --tool=callgrind --callgrind-out-file="$file" --dump-instr=no \
        "$BIN" "${ARGS[@]}" --calls "$calls" >"$OUT/run.$calls.txt" 2>"$OUT/valgrind.$calls.txt"
    grep -E '^(summary|totals):' "$file" | head -1 | awk '{print $2}'
}

echo "gorums-bench ${ARGS[*]}"
echo "callgrind: $N1 calls, then $N2 calls ..."
I1=$(instructions "$N1")
I2=$(instructions "$N2")
PER_CALL=$(( (I2 - I1) / (N2 - N1) ))
echo
echo "instructions per call: $PER_CALL   (runs: $I1 Ir for $N1 calls, $I2 Ir for $N2 calls)"
echo
echo "top functions by own instructions ($N2-call run, start-up included):"
callgrind_annotate --inclusive=no "$OUT/callgrind.out.$N2" 2>/dev/null \
    | sed -n '/^ *Ir/,$p' | sed -n '3,32p' | cut -c1-160
echo
if command -v strace >/dev/null; then
    echo "syscalls per call (strace -c, $N2 calls, start-up included):"
    strace -f -c -o "$OUT/strace.txt" "$BIN" "${ARGS[@]}" --calls "$N2" >/dev/null 2>&1 || true
    awk -v n="$N2" 'NR > 2 && $NF != "total" && $4 ~ /^[0-9]+$/ { printf "  %-16s %8.2f\n", $NF, $4 / n }' \
        "$OUT/strace.txt" | sort -k2 -rn | head -12
else
    echo "(strace not installed: no syscall counts)"
fi
