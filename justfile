# Miroir's task runner. CI runs `bash .ci/run`: `bash .ci/bootstrap`, then `just test` and `just lint`.

set shell := ["bash", "-euo", "pipefail", "-c"]
set positional-arguments := true

# List the recipes
default:
    @just --list

# Build every crate, binary, test and bench
build:
    cargo build --workspace --all-targets

# The whole suite: unit, integration and doc tests (benches are compiled, not run); args go to cargo test
test *ARGS:
    bash .ci/test.sh "$@"

# clippy with warnings as errors, then rustfmt --check
lint:
    cargo clippy --workspace --all-targets -- -D warnings
    cargo fmt --all -- --check

# Run the workspace's benchmarks and print their figures; args go to cargo bench
bench *ARGS:
    cargo bench --workspace --benches "$@"

# Load the running demo (`just demo` in another terminal) with the scenarios of loadtest/scenarios.json, all or those named, and print p50/p95/p99, req/s, errors and thresholds; args go to miroir-load (--duration 10s, --summary-json PATH, --event-cmd add-node=CMD)
load *ARGS:
    MIROIR_KEY="${MIROIR_KEY:-miroir-demo-master-key}" cargo run --quiet --package miroir-loadgen --bin miroir-load -- "$@"

# Run each fuzz target (all, or those named) for FUZZ_SECONDS (default 60) from the committed seed corpus; fails on any crash (nightly + cargo-fuzz)
fuzz *TARGETS:
    bash fuzz/run.sh "$@"

# The whole cluster (NATS, 3 nodes, router, 2 mergers, gateway) loaded with npm data and searched; DEMO_EXIT=1 exits after
demo:
    bash .ci/demo.sh
