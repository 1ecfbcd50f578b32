#!/usr/bin/env bash
# Mutation testing of gorums-core's engine/, api/ and wire/ with gorums-core's own tests
# (cargo-mutants), then the share of viable mutants caught per file and per directory.
# Opt-in and slow (hours on two cores): never part of .ci/run. See tests/MUTANTS.md.
#
#   scripts/mutants.sh              run every directory, then report
#   scripts/mutants.sh report       report on the last run only
#   MUTANTS_DIRS="wire" scripts/mutants.sh          one directory
#   MUTANTS_FILES="engine/conn.rs" scripts/mutants.sh   some files (reported under their directory)
#
# MUTANTS_JOBS (default 1) is passed to `cargo mutants -j`; MUTANTS_OUT (default
# target/mutants) is where each directory's mutants.out goes; MUTANTS_ARGS adds arguments
# (`-F <regex>` for some mutants, `--shard 1/4`, `--baseline skip`). Doctests are not run
# (each compiles on its own, which would multiply the time); a timeout counts as caught.
#
# What each mutant costs is one rebuild of gorums-core and a relink of its twelve test
# binaries, then about 5 s of tests. To keep that small:
# - the mutants build without debug info (CARGO_PROFILE_DEV_DEBUG=0): far less to write
#   and link per binary, and nothing needs it (a failing test is all that is looked at);
# - with one job, they build in a target directory of their own (MUTANTS_TARGET,
#   default <target>/mutants-build), kept between runs so that the dependencies are
#   built once. With more jobs, never a shared one: cargo-mutants gives each job a copy
#   of the tree, and with one CARGO_TARGET_DIR for all of them a job runs its tests
#   against whichever mutant was built last (seen: a mutant of one function "missed"
#   while the binary held another's).
#   Not the workspace's own: cargo fingerprints a workspace member by its path relative
#   to the workspace and by mtimes, so after a run in the shared directory a plain
#   `cargo test` in the work tree silently reuses the last mutant's build;
# - a 60 s timeout per mutant (the tests take about 5 s; a mutant that loops, such as a
#   timer that never fires, costs a minute and counts as caught).
set -euo pipefail
cd "$(dirname "$0")/.."

out=${MUTANTS_OUT:-target/mutants}
jobs=${MUTANTS_JOBS:-1}
dirs=${MUTANTS_DIRS:-engine api wire}
base_target=${CARGO_TARGET_DIR:-$PWD/target}
if [ "$jobs" = 1 ]; then
    export CARGO_TARGET_DIR=${MUTANTS_TARGET:-$base_target/mutants-build}
else
    # Parallel jobs must not share a target directory: each would test whichever
    # mutant built last. Each job then builds in its own copy of the tree (and builds
    # the dependencies there once).
    unset CARGO_TARGET_DIR
fi
export CARGO_PROFILE_DEV_DEBUG=${CARGO_PROFILE_DEV_DEBUG:-0}
# shellcheck disable=SC2206 # word splitting is the point: several arguments
extra=(${MUTANTS_ARGS:-})

run_dir() {
    local dir=$1
    shift
    local files=()
    for f in "$@"; do files+=(-f "gorums-core/src/$f"); done
    mkdir -p "$out/$dir"
    echo "== cargo mutants over gorums-core/src/$dir ($*)"
    # cargo-mutants exits non-zero when a mutant survives; the report says how many.
    cargo mutants -p gorums-core "${files[@]}" -j "$jobs" --timeout 60 --build-timeout 900 "${extra[@]}" \
        -o "$out/$dir" --cargo-test-arg=--lib --cargo-test-arg=--tests || true
}

if [ "${1:-}" != "report" ]; then
    command -v cargo-mutants >/dev/null || {
        echo "needs cargo-mutants: cargo install cargo-mutants --version 27.1.0" >&2
        exit 1
    }
    for d in $dirs; do
        if [ -n "${MUTANTS_FILES:-}" ]; then
            # Only the named files of this directory, in one run (one mutants.out each).
            picked=()
            for f in $MUTANTS_FILES; do [ "$(dirname "$f")" = "$d" ] && picked+=("$f"); done
            [ ${#picked[@]} -gt 0 ] && run_dir "$d" "${picked[@]}"
        else
            run_dir "$d" "$d/*.rs"
        fi
    done
fi

# Count each outcome per file from cargo-mutants' lists ("path:line:col: mutation").
report() {
    local dir=$1 res=$out/$1/mutants.out
    [ -d "$res" ] || return 0
    for kind in caught timeout missed unviable; do
        [ -f "$res/$kind.txt" ] && sed "s|:.*||; s|^|$kind |" "$res/$kind.txt"
    done | awk -v dir="$dir" '
        { n[$2, $1]++; files[$2] = 1; total[$1]++ }
        END {
            for (f in files) {
                c = n[f, "caught"] + n[f, "timeout"]; v = c + n[f, "missed"]
                printf "  %-40s %4d viable %4d caught %4d missed %4d unviable  %s\n", f, v, c,
                    n[f, "missed"], n[f, "unviable"], v ? sprintf("%5.1f %%", 100 * c / v) : "-"
            }
            c = total["caught"] + total["timeout"]; v = c + total["missed"]
            printf "%-42s %4d viable %4d caught %4d missed %4d unviable  %s\n", dir "/", v, c,
                total["missed"], total["unviable"], v ? sprintf("%5.1f %%", 100 * c / v) : "-"
        }' | sort
    echo
}

echo "== viable mutants caught (timeouts count as caught)"
for d in $dirs; do report "$d"; done
