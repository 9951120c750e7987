#!/usr/bin/env bash
# `just demo`: a local Miroir on this machine. For now: NATS with JetStream and three Meilisearch
# nodes (stand-ins, or real Meilisearch when MEILI_BIN is set), each loaded with its share of a
# slice of the npm corpus and searched. Later the services start here too, one function each.
#
# Environment: MEILI_BIN (real Meilisearch), DEMO_EXIT=1 (exit after the searches; the default
# under CI=true), DEMO_NODES (3), DEMO_DOCS (documents taken from the corpus, 3000),
# DEMO_QUERY ("react"), DEMO_MASTER_KEY. Logs and data go to .miroir-run/ (git ignores it).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

RUN=$ROOT/.miroir-run
NODES=${DEMO_NODES:-3}
DOCS=${DEMO_DOCS:-3000}
QUERY=${DEMO_QUERY:-react}
KEY=${DEMO_MASTER_KEY:-miroir-demo-master-key-0123456789}
NODE_PORT0=7701
NATS_PORT=4222 NATS_MONITOR=8222
CORPUS=libs/testkit/fixtures/npm-10k.ndjson
if [ "${CI:-}" = true ]; then DEMO_EXIT=${DEMO_EXIT:-1}; fi

say() { printf '%s\n' "$*"; }
die() { printf 'demo: error: %s\n' "$*" >&2; exit 1; }

# --- processes: every one started is recorded and stopped on exit ---------------------------
PIDS=() NAMES=()
# shellcheck disable=SC2329 # called by the EXIT trap
cleanup() {
    trap - EXIT INT TERM
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    [ ${#PIDS[@]} -eq 0 ] || say "demo: stopped ${NAMES[*]}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME CMD...: runs CMD in the background, logging to .miroir-run/NAME.log.
start() {
    local name=$1; shift
    "$@" >"$RUN/$name.log" 2>&1 &
    PIDS+=($!) NAMES+=("$name")
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_until WHAT SECONDS CMD...: polls CMD until it succeeds, failing after SECONDS.
wait_until() {
    local what=$1 deadline=$((SECONDS + $2)); shift 2
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || die "timed out waiting for $what (logs in $RUN)"
        sleep 0.1
    done
}

# --- HTTP to a node ---------------------------------------------------------------------------
api() { # api METHOD URL [CURL ARGS...]: prints the body, fails on a non-2xx status
    local method=$1 url=$2; shift 2
    curl -sS --fail-with-body --noproxy '*' -X "$method" -H "Authorization: Bearer $KEY" "$@" "$url"
}
wait_task() { # wait_task URL UID: polls the task until it is finished; fails unless it succeeded
    local url=$1 uid=$2 deadline=$((SECONDS + 120)) task status
    while :; do
        task=$(api GET "$url/tasks/$uid")
        status=$(jq -r .status <<<"$task")
        case $status in
            succeeded) return 0 ;;
            failed | canceled) die "task $uid on $url $status: $(jq -c .error <<<"$task")" ;;
        esac
        [ "$SECONDS" -lt "$deadline" ] || die "task $uid on $url still $status"
        sleep 0.1
    done
}

# --- the pieces -------------------------------------------------------------------------------
node_url() { echo "http://127.0.0.1:$((NODE_PORT0 + $1))"; }

check_ports() {
    local port i
    for port in "$NATS_PORT" "$NATS_MONITOR"; do
        port_free "$port" || die "port $port is in use (is another demo or nats-server running?)"
    done
    for ((i = 0; i < NODES; i++)); do
        port_free $((NODE_PORT0 + i)) || die "port $((NODE_PORT0 + i)) is in use (is another demo running?)"
    done
}

start_nats() {
    command -v nats-server >/dev/null || die "nats-server not found: run 'bash .ci/bootstrap'"
    start nats nats-server -c nats/nats-server.conf
    wait_until "nats-server" 20 curl -sf --noproxy '*' "http://127.0.0.1:$NATS_MONITOR/healthz?js-enabled-only=true"
}

node_command() { # node_command I: sets NODE_CMD to the command line of node I
    local port=$((NODE_PORT0 + $1))
    if [ -n "${MEILI_BIN:-}" ]; then
        NODE_CMD=("$MEILI_BIN" --http-addr "127.0.0.1:$port" --master-key "$KEY" --db-path "$RUN/node-$1/data.ms"
            --dump-dir "$RUN/node-$1/dumps" --snapshot-dir "$RUN/node-$1/snapshots" --no-analytics --env development)
    else
        NODE_CMD=("$STANDIN_BIN" --http-addr "127.0.0.1:$port" --master-key "$KEY")
    fi
}

start_nodes() {
    local i
    if [ -n "${MEILI_BIN:-}" ]; then
        [ -x "$MEILI_BIN" ] || die "MEILI_BIN=$MEILI_BIN is not an executable"
    else
        say "demo: building the stand-in node"
        cargo build --quiet -p miroir-standin --bin miroir-standin
        STANDIN_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/debug/miroir-standin
    fi
    for ((i = 0; i < NODES; i++)); do
        mkdir -p "$RUN/node-$i"
        node_command "$i"
        start "node-$i" "${NODE_CMD[@]}"
    done
    for ((i = 0; i < NODES; i++)); do
        wait_until "node $i at $(node_url "$i")" 60 curl -sf --noproxy '*' "$(node_url "$i")/health"
    done
}

# Node I gets the documents with id % NODES == I: a first taste of striping.
load_nodes() {
    local i url uid
    for ((i = 0; i < NODES; i++)); do
        url=$(node_url "$i")
        uid=$(api POST "$url/indexes" -H 'Content-Type: application/json' -d '{"uid":"npm","primaryKey":"id"}' | jq -r .taskUid)
        wait_task "$url" "$uid"
        uid=$(head -n "$DOCS" "$CORPUS" | jq -c "select(.id % $NODES == $i)" \
            | api POST "$url/indexes/npm/documents" -H 'Content-Type: application/x-ndjson' --data-binary @- | jq -r .taskUid)
        wait_task "$url" "$uid"
    done
}

search_nodes() {
    local i url body
    say ""
    say "search \"$QUERY\" on each node (limit 3):"
    for ((i = 0; i < NODES; i++)); do
        url=$(node_url "$i")
        body=$(api POST "$url/indexes/npm/search" -H 'Content-Type: application/json' \
            -d "$(jq -cn --arg q "$QUERY" '{q: $q, limit: 3, attributesToRetrieve: ["id", "name", "downloads"]}')")
        say "  node $i $url: $(api GET "$url/indexes/npm/stats" | jq -r .numberOfDocuments) documents," \
            "$(jq -r .estimatedTotalHits <<<"$body") hits for \"$QUERY\""
        jq -r '.hits[] | "      \(.id)\t\(.name)\t\(.downloads) downloads"' <<<"$body"
    done
}

# --- main -------------------------------------------------------------------------------------
{ command -v jq && command -v curl; } >/dev/null || die "curl and jq are needed: run 'bash .ci/bootstrap'"
check_ports
rm -rf "$RUN/nats" "$RUN"/node-* "$RUN"/*.log
mkdir -p "$RUN"
start_nats
start_nodes
load_nodes
search_nodes

say ""
say "NATS        nats://127.0.0.1:$NATS_PORT (monitoring http://127.0.0.1:$NATS_MONITOR)"
for ((i = 0; i < NODES; i++)); do say "node $i      $(node_url "$i") (master key $KEY)"; done
say "logs        $RUN/*.log"
if [ "${DEMO_EXIT:-}" = 1 ]; then
    exit 0
fi
say "running; Ctrl-C stops everything"
trap 'exit 0' INT TERM # stopping a running demo is its normal end
dead=""
wait -n -p dead "${PIDS[@]}" || true
for i in "${!PIDS[@]}"; do
    if [ "${PIDS[$i]}" = "$dead" ]; then die "${NAMES[$i]} exited on its own; see $RUN/${NAMES[$i]}.log"; fi
done
die "a process exited on its own; see $RUN/*.log"
