#!/usr/bin/env bash
# `just test`: every test of the workspace (unit, integration, doc), then a check that the
# benches still compile (they are run by `just bench`, never as tests). Prints one summary line
# that sums cargo's per-binary results, and exits non-zero if anything failed or did not build.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

log=$(mktemp)
trap 'rm -f "$log"' EXIT
# A hung test must not hold CI for its whole allowance.
limit=${MIROIR_TEST_TIMEOUT:-2400}
status=0

# `--workspace` would override a `-p` given as an argument.
scope=(--workspace)
for arg in "$@"; do
    case $arg in
        --) break ;;
        -p* | --package*) scope=() ;;
    esac
done

timeout --kill-after=30 "$limit" cargo test "${scope[@]}" --no-fail-fast "$@" 2>&1 | tee "$log" || status=$?
if [ "$#" -eq 0 ]; then
    cargo test --workspace --benches --no-run --quiet 2>&1 || { echo "benches do not compile"; status=1; }
    # The fuzz targets (their own workspace; `just fuzz` runs them on nightly) must keep compiling
    # against the crates they drive; their crashes are regression tests of the suite already.
    CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/fuzz-check" cargo check --manifest-path fuzz/Cargo.toml --bins --quiet 2>&1 \
        || { echo "the fuzz targets do not compile"; status=1; }
fi

# The Helm chart's checks (helm/check/check_chart.py: Helm's own SDK renders it, Kubernetes'
# schemas, structural asserts, the rendered NATS config and services run for real on loopback,
# the helm test script against them, breakages of a copy it must catch). Its counts join the summary.
chart_passed=0 chart_failed=0
if [ "$#" -eq 0 ]; then
    # The checks also run the services, miroirctl and the stand-in: built here if cargo test did not.
    cargo build --quiet --bins -p miroir-gateway -p miroir-router -p miroir-merger -p miroir-rebalancer \
        -p miroir-health-checker -p miroirctl -p miroir-standin 2>&1 || echo "the chart checks' binaries do not build"
    chart_out=$(python3 helm/check/check_chart.py --self-test --binaries "${CARGO_TARGET_DIR:-target}/debug" 2>&1) || true
    echo "$chart_out" | grep -v '^ok ' | tail -n 40
    read -r chart_passed chart_failed < <(sed -n 's/^chart checks: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' <<<"$chart_out" | tail -n1)
    [ -n "${chart_passed:-}" ] || { echo "the chart checks did not report (see above)"; chart_passed=0 chart_failed=1; }
fi

read -r passed failed ignored < <(sed -n 's/^test result: [A-Za-z]*\. \([0-9]*\) passed; \([0-9]*\) failed; \([0-9]*\) ignored.*/\1 \2 \3/p' "$log" \
    | awk '{p+=$1; f+=$2; i+=$3} END {print p+0, f+0, i+0}')
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    echo "tests timed out after ${limit}s (MIROIR_TEST_TIMEOUT)"
elif [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
    echo "the build or a test binary failed before reporting (see above)"
    failed=1
fi
passed=$((passed + chart_passed)) failed=$((failed + chart_failed))
echo "summary: $passed passed, $failed failed, $ignored skipped"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
