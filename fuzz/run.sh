#!/usr/bin/env bash
# Build the fuzz targets and run each (all, or those named) for FUZZ_SECONDS (default 60),
# seeded with the committed corpus fuzz/corpus/<target>, copied into a scratch directory
# (FUZZ_WORK, default a new temporary one) so that a run never grows the repository.
# Prints each target's executions; fails if any target crashed, leaking, timing out or OOM,
# and says where its crashing input is. Needs the nightly toolchain and cargo-fuzz.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${FUZZ_SECONDS:-60}"
work="${FUZZ_WORK:-$(mktemp -d -t miroir-fuzz.XXXXXX)}"
if [ "$#" -gt 0 ]; then targets=("$@"); else mapfile -t targets < <(cargo +nightly fuzz list); fi

cargo +nightly fuzz build
failed=()
for t in "${targets[@]}"; do
    mkdir -p "$work/$t/corpus" "$work/$t/artifacts"
    if [ -d "corpus/$t" ]; then cp -n corpus/"$t"/* "$work/$t/corpus/" 2>/dev/null || true; fi
    echo "== $t: ${seconds}s, corpus and artifacts in $work/$t"
    if cargo +nightly fuzz run "$t" "$work/$t/corpus" -- \
        -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$work/$t/artifacts/" >"$work/$t/log" 2>&1; then
        runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$t/log" | grep -o '[0-9]*$' || true)
        echo "   ok: ${runs:-?} executions"
    else
        echo "   FAILED: see $work/$t/log; inputs in $work/$t/artifacts/:"
        ls "$work/$t/artifacts/" || true
        grep -m1 -A8 'panicked at\|ERROR: libFuzzer\|==ERROR' "$work/$t/log" || true
        failed+=("$t")
    fi
done
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz targets that failed: ${failed[*]}"
    exit 1
fi
