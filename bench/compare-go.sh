#!/usr/bin/env bash
# Go Gorums' `cmd/benchmark` and gorums-bench, interleaved, with the same flags: the
# median throughput of each over a few runs, and gorums-rs over Go per cell and per
# gorums-rs flavour (tokio with 2 workers, tokio-1t, smol on 2 threads, smol-1t).
#
# Opt-in: Go Gorums is never a dependency of this project and none of its code is here.
# Point the script at a built `cmd/benchmark`, or at a checkout of relab/gorums to build
# it from (needs `go`):
#
#   GORUMS_GO_BENCH=/tmp/go-bench bench/compare-go.sh
#   GORUMS_GO_SRC=/tmp/gorums-src bench/compare-go.sh --runs 1 --time 1s
#   bench/compare-go.sh --scale --out bench/results/compare-go.md --json bench/results/compare-go.json
#
# Flags:
#   --runs R         rounds (3); a cell's figure is the median of its R runs
#   --time D         measured window of every run (2s), passed to both as -time/--time
#   --warmup D       warm-up before it (500ms), -warmup/--warmup
#   --flavours LIST  gorums-rs flavours, comma-separated (tokio,tokio-1t,smol,smol-1t)
#   --cells REGEX    run only the cells whose label matches (grep -E)
#   --scale          add QuorumCall at n = 3,5,7,16,32,64 (q = majority, 0 B) and at
#                    payload 1 KiB, 64 KiB, 1 MiB (n = 3, q = 2); c = 1
#   --scale-grid     add the whole grid n x payload instead
#   --out FILE       write the markdown there instead of stdout
#   --json FILE      also write every run and the medians as JSON
# Environment:
#   GORUMS_GO_BENCH  Go Gorums' benchmark binary; else GORUMS_GO_SRC, a relab/gorums
#                    checkout, is built into a temporary directory
#   GORUMS_BENCH     gorums-bench; else `cargo build --release -p gorums-bench`
#   GOMAXPROCS       for the Go runs: 2 unless set. The reference host has 2 cores and
#                    gorums-rs' two-thread flavours use 2 threads; on a larger machine
#                    say GOMAXPROCS=2 anyway so that Go does not get more cores.
#
# Each cell runs Go and every flavour back to back, and the whole list is repeated R
# times: this host's speed drifts by up to 2x over minutes, so only interleaved runs
# compare. Which system runs first rotates from round to round.
#
# Differences between the two programs the script evens out:
#   - Go's -quorum-size 0 means n/2, ours means n/2+1: every cell passes q explicitly.
#   - Go's -benchmarks regexp is unanchored ("QuorumCall" also runs AsyncQuorumCall):
#     the script passes ^Name$ to both.
#   - Go's in-process servers listen on the fixed ports 40000..40000+n-1, inside the
#     ephemeral port range: the script retries a Go run whose bind failed (below).
#   - Go's Multicast counts messages the servers received per second (averaged over the
#     servers) with no flow control; gorums-bench counts messages sent and waits for an
#     echo every 100 messages (bench/README.md). Both are messages per second per server.
# Not in .ci/run: it needs Go Gorums and minutes of quiet machine.
set -euo pipefail

RUNS=3
TIME=2s
WARMUP=500ms
FLAVOURS=tokio,tokio-1t,smol,smol-1t
CELLS_RE=
SCALE=
OUT=
JSON=

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case $1 in
        --runs) RUNS=$2; shift 2 ;;
        --time) TIME=$2; shift 2 ;;
        --warmup) WARMUP=$2; shift 2 ;;
        --flavours) FLAVOURS=$2; shift 2 ;;
        --cells) CELLS_RE=$2; shift 2 ;;
        --scale) SCALE=cross; shift ;;
        --scale-grid) SCALE=grid; shift ;;
        --out) OUT=$2; shift 2 ;;
        --json) JSON=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "compare-go.sh: unknown flag $1 (see --help)" >&2; exit 2 ;;
    esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/compare-go.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

command -v python3 >/dev/null || { echo "compare-go.sh: needs python3 (to read JSON and take medians)" >&2; exit 1; }

GO_BENCH=${GORUMS_GO_BENCH:-}
if [ -z "$GO_BENCH" ]; then
    if [ -z "${GORUMS_GO_SRC:-}" ]; then
        echo "compare-go.sh: set GORUMS_GO_BENCH to Go Gorums' cmd/benchmark binary, or GORUMS_GO_SRC to a relab/gorums checkout" >&2
        exit 1
    fi
    echo "compare-go.sh: building $GORUMS_GO_SRC/cmd/benchmark" >&2
    (cd "$GORUMS_GO_SRC" && go build -o "$WORK/go-bench" ./cmd/benchmark)
    GO_BENCH=$WORK/go-bench
fi
[ -x "$GO_BENCH" ] || { echo "compare-go.sh: $GO_BENCH is not executable" >&2; exit 1; }

RS_BENCH=${GORUMS_BENCH:-}
if [ -z "$RS_BENCH" ]; then
    (cd "$ROOT" && cargo build --release -p gorums-bench --quiet)
    RS_BENCH=${CARGO_TARGET_DIR:-$ROOT/target}/release/gorums-bench
fi
[ -x "$RS_BENCH" ] || { echo "compare-go.sh: $RS_BENCH is not executable" >&2; exit 1; }

# Go Gorums on as many cores as gorums-rs' two-thread flavours use (see the header).
export GOMAXPROCS=${GOMAXPROCS:-2}

# The cells: label|workload|n|q|c|payload. q is always explicit (see the header).
CELLS=(
    "QuorumCall n=3 q=2 c=1|QuorumCall|3|2|1|0"
    "QuorumCall n=3 q=2 c=16|QuorumCall|3|2|16|0"
    "QuorumCall n=3 q=2 c=256|QuorumCall|3|2|256|0"
    "QuorumCall n=4 q=3 c=1|QuorumCall|4|3|1|0"
    "QuorumCall n=4 q=3 c=16|QuorumCall|4|3|16|0"
    "AsyncQuorumCall n=3 q=2|AsyncQuorumCall|3|2|1|0"
    "Multicast n=3|Multicast|3|2|1|0"
)
size_label() { case $1 in 0) echo "0 B" ;; 1024) echo "1 KiB" ;; 65536) echo "64 KiB" ;; 1048576) echo "1 MiB" ;; *) echo "$1 B" ;; esac; }
scale_cell() { # n payload
    local q=$(($1 / 2 + 1))
    CELLS+=("QuorumCall n=$1 q=$q c=1 $(size_label "$2")|QuorumCall|$1|$q|1|$2")
}
case $SCALE in
    cross)
        # n = 3 at 0 B is the first cell already.
        for n in 5 7 16 32 64; do scale_cell "$n" 0; done
        for p in 1024 65536 1048576; do scale_cell 3 "$p"; done
        ;;
    grid)
        for n in 3 5 7 16 32 64; do for p in 0 1024 65536 1048576; do
            if [ "$n$p" != 30 ]; then scale_cell "$n" "$p"; fi
        done; done
        ;;
esac
if [ -n "$CELLS_RE" ]; then
    kept=()
    for cell in "${CELLS[@]}"; do
        if printf '%s\n' "${cell%%|*}" | grep -Eq -- "$CELLS_RE"; then kept+=("$cell"); fi
    done
    CELLS=("${kept[@]}")
fi
[ ${#CELLS[@]} -gt 0 ] || { echo "compare-go.sh: no cell matches $CELLS_RE" >&2; exit 2; }
IFS=, read -r -a FLAV <<<"$FLAVOURS"

flavour_flags() {
    case $1 in
        tokio) echo "--runtime tokio --threads 2" ;;
        tokio-1t) echo "--runtime tokio --threads 1" ;;
        smol) echo "--runtime smol --threads 2" ;;
        smol-1t) echo "--runtime smol --threads 1" ;;
        *) echo "compare-go.sh: unknown flavour $1 (tokio, tokio-1t, smol, smol-1t)" >&2; exit 2 ;;
    esac
}
for f in "${FLAV[@]}"; do flavour_flags "$f" >/dev/null; done

# A run that hangs (a wedged connection) must not stop the table: give each a bound.
secs() { python3 -c 'import re,sys; m=re.fullmatch(r"([\d.]+)(ms|s|m)?",sys.argv[1]); v=float(m[1]); print(v/1000 if m[2]=="ms" else v*60 if m[2]=="m" else v)' "$1"; }
LIMIT=$(python3 -c "print(int(($(secs "$TIME") + $(secs "$WARMUP")) * 10 + 60))")

RAW=$WORK/raw.tsv # cell  system  round  ops/s  mean µs  (or "err")
: >"$RAW"

run_go() { # cell-index round
    local label bench n q c p out
    IFS='|' read -r label bench n q c p <<<"${CELLS[$1]}"
    out=$WORK/go.out
    # Go's in-process servers listen on the fixed ports 40000 to 40000+n-1, inside the
    # ephemeral range: a client socket (Go's own, from an earlier run) that got such a
    # port blocks the bind until its TIME-WAIT ends (60 s). Wait that out.
    local try ok=
    for try in 1 2 3 4 5 6 7 8; do
        if timeout "$LIMIT" "$GO_BENCH" -benchmarks "^$bench\$" -config-size "$n" -quorum-size "$q" \
            -concurrent "$c" -payload "$p" -time "$TIME" -warmup "$WARMUP" >"$out" 2>"$WORK/go.err"; then
            ok=1
            break
        fi
        grep -q 'address already in use' "$WORK/go.err" || break
        echo "compare-go.sh: Go's fixed port taken ($(grep -o 'listen tcp [^ ]*' "$WORK/go.err")), try $try" >&2
        sleep 10
    done
    if [ -n "$ok" ]; then
        # "QuorumCall    8443.94 ops/sec    0.12 ms    0.51 ms    8982 B/op    186 allocs/op"
        awk -v b="$bench" -v i="$1" -v r="$2" '$1 == b { printf "%s\tgo\t%s\t%s\t%s\n", i, r, $2, $4 * 1000 }' "$out" >>"$RAW"
    else
        echo "compare-go.sh: Go failed on $label: $(tail -1 "$WORK/go.err")" >&2
        printf '%s\tgo\t%s\terr\terr\n' "$1" "$2" >>"$RAW"
    fi
}

run_rs() { # cell-index round flavour
    local label bench n q c p
    IFS='|' read -r label bench n q c p <<<"${CELLS[$1]}"
    # shellcheck disable=SC2046 # the flavour's flags are words
    if timeout "$LIMIT" "$RS_BENCH" --benchmarks "^$bench\$" --config-size "$n" --quorum-size "$q" \
        --concurrent "$c" --payload "$p" --time "$TIME" --warmup "$WARMUP" $(flavour_flags "$3") \
        --json "$WORK/rs.json" >"$WORK/rs.out" 2>"$WORK/rs.err"; then
        python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))[0]
bad = "err" if r["errors"] else None
print(sys.argv[2], sys.argv[3], sys.argv[4], bad or r["ops_per_sec"], bad or r["mean_us"], sep="\t")
' "$WORK/rs.json" "$1" "$3" "$2" >>"$RAW"
    else
        echo "compare-go.sh: gorums-bench ($3) failed on $label: $(tail -1 "$WORK/rs.err")" >&2
        printf '%s\t%s\t%s\terr\terr\n' "$1" "$3" "$2" >>"$RAW"
    fi
}

SYSTEMS=(go "${FLAV[@]}")
STARTED=$(date -u '+%Y-%m-%d %H:%M UTC')
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for ((r = 1; r <= RUNS; r++)); do
    echo "compare-go.sh: round $r of $RUNS (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    for i in "${!CELLS[@]}"; do
        # Rotate the order so that no system always runs first (or after Go's GC).
        for ((k = 0; k < ${#SYSTEMS[@]}; k++)); do
            s=${SYSTEMS[$(((k + r - 1) % ${#SYSTEMS[@]}))]}
            if [ "$s" = go ]; then run_go "$i" "$r"; else run_rs "$i" "$r" "$s"; fi
        done
        echo "  ${CELLS[$i]%%|*}: done" >&2
    done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# Medians and ratios: markdown (and JSON).
python3 - "$RAW" "$JSON" "$RUNS" "$TIME" "$WARMUP" "$GOMAXPROCS" "$STARTED" "$LOAD_BEFORE" "$LOAD_AFTER" \
    "$(nproc)" "${FLAV[*]}" "${CELLS[@]}" >"$WORK/table.md" <<'EOF'
import json, statistics, sys
raw, json_out, runs, time, warmup, maxprocs, started, load0, load1, cores, flavours = sys.argv[1:12]
labels = [c.split("|")[0] for c in sys.argv[12:]]
flavours = flavours.split()
samples = {}  # (cell, system) -> [(ops, mean_us)]
for line in open(raw):
    cell, system, _round, ops, mean = line.rstrip("\n").split("\t")
    if ops != "err":
        samples.setdefault((int(cell), system), []).append((float(ops), float(mean)))
short = False
def median(cell, system):
    global short
    v = samples.get((cell, system))
    if not v:
        return None
    short = short or len(v) < int(runs)
    return statistics.median(o for o, _ in v), statistics.median(m for _, m in v), len(v)
def k(m):
    # ops/s, marked when some runs of the cell failed
    x = m[0]
    mark = "" if m[2] == int(runs) else f" [{m[2]}/{runs}]"
    return (f"{x / 1000:.1f}k" if x >= 1000 else f"{x:.0f}") + mark
print(f"Run {started}, {runs} run(s) of {time} (warm-up {warmup}) per cell and system, medians;"
      f" Go with GOMAXPROCS={maxprocs}; {cores} cores; load average {load0} before, {load1} after.")
print()
print("gorums-rs throughput over Go Gorums' (median over median):")
print()
print("| workload | Go ops/s | " + " | ".join(flavours) + " |")
print("|---|--:|" + "--:|" * len(flavours))
rows = []
for i, label in enumerate(labels):
    go = median(i, "go")
    cells, row = [], {"cell": label, "go": None, "flavours": {}}
    if go:
        row["go"] = {"ops_per_sec": go[0], "mean_us": go[1]}
    for f in flavours:
        rs = median(i, f)
        row["flavours"][f] = rs and {"ops_per_sec": rs[0], "mean_us": rs[1], "runs": rs[2],
                                     "ratio": go and rs[0] / go[0]}
        if rs:
            cells.append(f"{rs[0] / go[0]:.1f}x ({k(rs)})" if go else f"- ({k(rs)})")
        else:
            cells.append("failed")
    if go:
        row["go"]["runs"] = go[2]
    rows.append(row)
    print(f"| {label} | {k(go) if go else 'failed'} | " + " | ".join(cells) + " |")
print()
print("(in brackets: gorums-rs' median ops/s"
      + ("; [k/R]: the median of the k runs of R that did not fail)" if short else ")"))
if json_out:
    every = [dict(zip(["cell", "system", "round", "ops_per_sec", "mean_us"], l.rstrip("\n").split("\t")))
             for l in open(raw)]
    for e in every:
        e["cell"] = labels[int(e["cell"])]
    json.dump({"started": started, "runs": int(runs), "time": time, "warmup": warmup,
               "gomaxprocs": int(maxprocs), "load_before": load0, "load_after": load1,
               "medians": rows, "every_run": every}, open(json_out, "w"), indent=1)
EOF
if [ -n "$OUT" ]; then cp "$WORK/table.md" "$OUT"; echo "compare-go.sh: wrote $OUT" >&2; else cat "$WORK/table.md"; fi
