#!/usr/bin/env bash
# `just demo`: a whole Miroir on this machine. Builds the binaries, starts NATS with JetStream,
# three Meilisearch nodes (stand-ins, or real Meilisearch when MEILI_BIN is set), the router, two
# mergers, the gateway, the health-checker and the rebalancer; then, through the gateway only, as any Meilisearch client would: creates
# the index `npm`, sets its settings, uploads the 10k-document npm corpus, runs a few searches and
# shows where the shards live. Stays up until Ctrl-C, or exits when DEMO_EXIT=1.
#
# Environment:
#   MASTER_KEY     the gateway's master key, for clients and SDKs (default: printed at the end)
#   NODE_KEY       the nodes' master key; only the router and the mergers know it
#   MEILI_BIN      path to a meilisearch binary: real nodes instead of stand-ins
#   DEMO_EXIT=1    exit after the searches (the default when CI=true)
#   DEMO_LOAD      after the tour, run the load scenarios of loadtest/scenarios.json with miroir-load
#                  through the gateway: 1 for all of them, or a comma list (search,mixed,...); the
#                  rebalance scenario starts one more node, which miroir-load adds at its event.
#                  Fails the demo when a threshold fails; summaries in .miroir-run/load-summary.json
#   DEMO_PROMETHEUS=1  also start Prometheus (Debian's `prometheus`; .ci/bootstrap installs it)
#                  scraping every service each 2 s with the alert rules of helm/miroir/files/alerts.yaml,
#                  on http://127.0.0.1:$DEMO_PROMETHEUS_PORT (9090); data in .miroir-run/prometheus/
#   DEMO_PROFILE   cargo profile of the binaries: debug (default) or release
#   DEMO_NODES (3), DEMO_MERGERS (2)
# Ports: gateway 7700, nodes 7701.., NATS 4222 (monitoring 8222), metrics: gateway 9100, router
# 9101, mergers 9102... Logs and data go to .miroir-run/ (git ignores it); logs are printed on failure.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=.ci/demo-nats.sh
source .ci/demo-nats.sh

RUN=$ROOT/.miroir-run
LOGS=$RUN/logs
NODES=${DEMO_NODES:-3}
MERGERS=${DEMO_MERGERS:-2}
PROFILE=${DEMO_PROFILE:-debug}
MASTER_KEY=${MASTER_KEY:-miroir-demo-master-key}
NODE_KEY=${NODE_KEY:-miroir-demo-node-key-0123456789}
SHARDS=4 RF=2 # of the index npm, through the router's defaults
GATEWAY_PORT=7700 NODE_PORT0=7701 NATS_PORT=4222 NATS_MONITOR=8222 METRICS_PORT0=9100
PROMETHEUS_PORT=${DEMO_PROMETHEUS_PORT:-9090}
GATEWAY=http://127.0.0.1:$GATEWAY_PORT
NATS_URL=nats://127.0.0.1:$NATS_PORT
CORPUS=libs/testkit/fixtures/npm-10k.ndjson
if [ "${CI:-}" = true ]; then DEMO_EXIT=${DEMO_EXIT:-1}; fi

say() { printf '%s\n' "$*"; }
die() { printf 'demo: error: %s\n' "$*" >&2; exit 1; }
since() { # since EPOCHREALTIME: seconds elapsed, to a tenth
    local us=$((${EPOCHREALTIME//[.,]/} - ${1//[.,]/}))
    printf '%d.%d s' $((us / 1000000)) $((us / 100000 % 10))
}

# --- processes: every one started is recorded, and stopped newest first on exit -------------
PIDS=() NAMES=()

show_logs() {
    local name
    for name in "${NAMES[@]}"; do
        printf '\n----- %s (last 30 lines of %s)\n' "$name" "$LOGS/$name.log" >&2
        tail -n 30 "$LOGS/$name.log" >&2 || true
    done
}

stop() { # stop PID: SIGTERM (services drain), then SIGKILL if it is still there after 15 s
    local pid=$1 deadline=$((SECONDS + 15))
    kill -TERM "$pid" 2>/dev/null || return 0
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.05; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2329 # called by the EXIT trap
cleanup() {
    local status=$? i
    trap - EXIT INT TERM
    trap '' INT # a second Ctrl-C must not cut the cleanup short
    if [ "$status" -ne 0 ] && [ "$status" -ne 130 ] && [ ${#PIDS[@]} -gt 0 ]; then show_logs; fi
    # Newest first: the gateway and the services drain while NATS and the nodes are still up.
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop "${PIDS[$i]}"; done
    [ ${#PIDS[@]} -eq 0 ] || say "demo: stopped ${NAMES[*]}"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME CMD...: runs CMD in the background, logging to $LOGS/NAME.log. In a session of its
# own, so that Ctrl-C reaches only this script, which then stops the services before NATS: a
# service asked to stop while NATS is gone does not finish its shutdown (see docs/operations.md).
start() {
    local name=$1
    shift
    # Plain logs; an error that stops a service is logged without a backtrace (panics keep theirs).
    NO_COLOR=1 RUST_LIB_BACKTRACE=0 $SETSID "$@" >"$LOGS/$name.log" 2>&1 &
    PIDS+=($!) NAMES+=("$name")
}
SETSID=$(command -v setsid || true)

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

all_alive() { # fails, naming it, if a process started here has exited
    local i
    for i in "${!PIDS[@]}"; do
        kill -0 "${PIDS[$i]}" 2>/dev/null || die "${NAMES[$i]} exited (log: $LOGS/${NAMES[$i]}.log)"
    done
}

wait_until() { # wait_until WHAT SECONDS CMD...: polls CMD until it succeeds, failing after SECONDS
    local what=$1 seconds=$2 deadline=$((SECONDS + $2))
    shift 2
    until "$@" >/dev/null 2>&1; do
        all_alive
        [ "$SECONDS" -lt "$deadline" ] || die "timed out after $seconds s waiting for $what"
        sleep 0.1
    done
}

serving() { [ "$(nats_service_count "$NATS_URL" "$1" "$2")" -ge "$2" ]; } # serving NAME COUNT

# --- HTTP -------------------------------------------------------------------------------------
api() { # api METHOD PATH [CURL ARGS...]: the gateway's answer body; a non-2xx status is fatal
    local method=$1 path=$2 out code
    shift 2
    out=$(curl -sS --max-time 120 --noproxy '*' -X "$method" -H "Authorization: Bearer $MASTER_KEY" -w '\n%{http_code}' "$@" "$GATEWAY$path") ||
        die "$method $path: the gateway cannot be reached"
    code=${out##*$'\n'} out=${out%$'\n'*}
    [[ $code == 2?? ]] || die "$method $path: HTTP $code: $out"
    printf '%s\n' "$out"
}

node_api() { # node_api I PATH: GET on node I with the nodes' key (an operator's view, not a client's)
    curl -sS --fail --max-time 10 --noproxy '*' -H "Authorization: Bearer $NODE_KEY" "$(node_url "$1")$2"
}

wait_task() { # wait_task WHAT ENQUEUED_JSON: polls the cluster task until it ends; fails unless it succeeded
    local what=$1 uid started=$EPOCHREALTIME deadline=$((SECONDS + 300)) task status
    uid=$(jq -r .taskUid <<<"$2")
    while :; do
        task=$(api GET "/tasks/$uid")
        status=$(jq -r .status <<<"$task")
        case $status in
            succeeded)
                say "  $what: task $uid succeeded ($(since "$started"))"
                return
                ;;
            failed | canceled) die "$what: task $uid $status: $(jq -c .error <<<"$task")" ;;
        esac
        [ "$SECONDS" -lt "$deadline" ] || die "$what: task $uid still $status after 300 s"
        sleep 0.1
    done
}

# --- the pieces -------------------------------------------------------------------------------
node_url() { echo "http://127.0.0.1:$((NODE_PORT0 + $1))"; }
metrics_port() { echo $((METRICS_PORT0 + $1)); } # 0 gateway, 1 router, 2.. mergers, then health-checker, rebalancer

check_ports() {
    local port ports=("$GATEWAY_PORT" "$NATS_PORT" "$NATS_MONITOR") i
    for ((i = 0; i <= NODES; i++)); do ports+=($((NODE_PORT0 + i))); done # one more for the node the demo adds
    [ -z "${DEMO_LOAD:-}" ] || ports+=($((NODE_PORT0 + NODES + 1)))       # and one for the rebalance under load
    for ((i = 0; i < MERGERS + 4; i++)); do ports+=("$(metrics_port "$i")"); done
    [ -z "${DEMO_PROMETHEUS:-}" ] || ports+=("$PROMETHEUS_PORT")
    for port in "${ports[@]}"; do
        port_free "$port" || die "port $port is in use (is another demo, nats-server or Meilisearch running?)"
    done
}

# Debug by default: the dev profile (dependencies at opt-level 1) is what `just test` and
# `just build` compile too, so the demo reuses their artifacts, and from scratch it builds faster
# than release on a small machine; 10k documents do not need optimised binaries.
build() {
    local packages=(miroir-router miroir-merger miroir-gateway miroir-health-checker miroir-rebalancer miroirctl) flags=() target
    [ -n "${MEILI_BIN:-}" ] || packages+=(miroir-standin)
    [ -z "${DEMO_LOAD:-}" ] || packages+=(miroir-loadgen)
    case $PROFILE in
        debug) ;;
        release) flags=(--release) ;;
        *) die "DEMO_PROFILE must be debug or release, not $PROFILE" ;;
    esac
    say "demo: building ${packages[*]} ($PROFILE)"
    cargo build "${flags[@]}" --bins "${packages[@]/#/--package=}"
    target=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
    BIN=$target/$PROFILE
}

start_nats() {
    command -v nats-server >/dev/null || die "nats-server not found: run 'bash .ci/bootstrap'"
    start nats nats-server -c nats/nats-server.conf
    wait_until "nats-server with JetStream" 20 curl -sf --max-time 2 --noproxy '*' "http://127.0.0.1:$NATS_MONITOR/healthz?js-enabled-only=true"
}

start_node() { # start_node I: node I on port NODE_PORT0 + I
    local i=$1 port=$((NODE_PORT0 + $1))
    if [ -n "${MEILI_BIN:-}" ]; then
        mkdir -p "$RUN/node-$i"
        start "node-$i" "$MEILI_BIN" --http-addr "127.0.0.1:$port" --master-key "$NODE_KEY" \
            --db-path "$RUN/node-$i/data.ms" --dump-dir "$RUN/node-$i/dumps" \
            --snapshot-dir "$RUN/node-$i/snapshots" --no-analytics --env development
    else
        start "node-$i" "$BIN/miroir-standin" --http-addr "127.0.0.1:$port" --master-key "$NODE_KEY"
    fi
}

start_nodes() {
    local i
    [ -z "${MEILI_BIN:-}" ] || [ -x "$MEILI_BIN" ] || die "MEILI_BIN=$MEILI_BIN is not an executable"
    for ((i = 0; i < NODES; i++)); do start_node "$i"; done
    for ((i = 0; i < NODES; i++)); do
        wait_until "node $i at $(node_url "$i")" 60 curl -sf --max-time 2 --noproxy '*' "$(node_url "$i")/health"
    done
}

# The services take their configuration from flags here; every flag is also an environment
# variable (MIROIR_ROUTER_NODE_API_KEY, ...) or a key of a --config file (see docs/operations.md).
start_services() {
    local i nodes=()
    for ((i = 0; i < NODES; i++)); do nodes+=("\"n$((i + 1))=$(node_url "$i")\""); done
    start router "$BIN/miroir-router" --nats-url "$NATS_URL" --node-api-key "$NODE_KEY" \
        --bootstrap-nodes "[$(IFS=,; echo "${nodes[*]}")]" --default-shards "$SHARDS" --default-replication-factor "$RF" \
        --metrics-addr "127.0.0.1:$(metrics_port 1)"
    wait_until "the router (\$SRV.PING.miroir-router)" 60 serving miroir-router 1
    for ((i = 1; i <= MERGERS; i++)); do
        start "merger-$i" "$BIN/miroir-merger" --nats-url "$NATS_URL" --node-api-key "$NODE_KEY" \
            --metrics-addr "127.0.0.1:$(metrics_port $((i + 1)))"
    done
    wait_until "$MERGERS mergers (\$SRV.PING.miroir-merger)" 60 serving miroir-merger "$MERGERS"
    start gateway "$BIN/miroir-gateway" --nats-url "$NATS_URL" --http-addr "127.0.0.1:$GATEWAY_PORT" \
        --master-key "$MASTER_KEY" --metrics-addr "127.0.0.1:$(metrics_port 0)"
    wait_until "the gateway at $GATEWAY/health" 60 curl -sf --max-time 2 --noproxy '*' "$GATEWAY/health"
    wait_until "the gateway (\$SRV.PING.miroir-gateway)" 10 serving miroir-gateway 1
    start health-checker "$BIN/miroir-health-checker" --nats-url "$NATS_URL" --node-api-key "$NODE_KEY" \
        --metrics-addr "127.0.0.1:$(metrics_port $((MERGERS + 2)))"
    wait_until "the health-checker (\$SRV.PING.miroir-health-checker)" 60 serving miroir-health-checker 1
    start rebalancer "$BIN/miroir-rebalancer" --nats-url "$NATS_URL" --node-api-key "$NODE_KEY" --drop-grace-ms 1000 \
        --metrics-addr "127.0.0.1:$(metrics_port $((MERGERS + 3)))"
    wait_until "the rebalancer (\$SRV.PING.miroir-rebalancer)" 60 serving miroir-rebalancer 1
    say "demo: NATS, $NODES nodes, router, $MERGERS mergers, gateway, health-checker and rebalancer are up"
}

# Prometheus scraping every service's metrics endpoint (DEMO_PROMETHEUS=1), with Miroir's alert
# rules loaded: the dashboard's queries (helm/miroir/files/grafana-dashboard.json) run against it.
start_prometheus() {
    local dir=$RUN/prometheus i targets
    command -v prometheus >/dev/null || die "prometheus not found: run 'bash .ci/bootstrap' (Debian's prometheus package)"
    rm -rf "$dir" && mkdir -p "$dir"
    cp helm/miroir/files/alerts.yaml "$dir/alerts.yaml"
    target() { printf "      - targets: ['127.0.0.1:%s']\n        labels: {component: %s}\n" "$(metrics_port "$1")" "$2"; }
    targets=$(target 0 gateway; target 1 router
        for ((i = 1; i <= MERGERS; i++)); do target $((i + 1)) merger; done
        target $((MERGERS + 2)) health-checker; target $((MERGERS + 3)) rebalancer)
    printf 'global:\n  scrape_interval: 2s\n  evaluation_interval: 2s\nrule_files:\n  - alerts.yaml\nscrape_configs:\n  - job_name: miroir\n    static_configs:\n%s\n' "$targets" >"$dir/prometheus.yml"
    start prometheus prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
        --web.listen-address="127.0.0.1:$PROMETHEUS_PORT"
    wait_until "prometheus at http://127.0.0.1:$PROMETHEUS_PORT" 60 curl -sf --max-time 2 --noproxy '*' "http://127.0.0.1:$PROMETHEUS_PORT/-/ready"
    say "demo: prometheus http://127.0.0.1:$PROMETHEUS_PORT scrapes every service (alerts: /alerts)"
}

prometheus_targets_up() { # every scrape target up, and a service build seen on each
    local targets
    targets=$(curl -sf --max-time 2 --noproxy '*' "http://127.0.0.1:$PROMETHEUS_PORT/api/v1/targets") || return 1
    [ "$(jq '[.data.activeTargets[] | select(.health == "up")] | length' <<<"$targets")" = "$((MERGERS + 4))" ]
}

check_prometheus() {
    wait_until "prometheus scraping all $((MERGERS + 4)) services" 30 prometheus_targets_up
    say ""
    say "prometheus: $((MERGERS + 4)) of $((MERGERS + 4)) services scraped; builds: $(curl -sf --max-time 5 --noproxy '*' \
        "http://127.0.0.1:$PROMETHEUS_PORT/api/v1/query" --data-urlencode 'query=count by (service) (miroir_build_info)' |
        jq -r '[.data.result[].metric.service] | sort | join(", ")')"
}

# --- what a client does, through the gateway -------------------------------------------------
load() {
    local docs reply
    docs=$(wc -l <"$CORPUS")
    say ""
    say "through the gateway ($GATEWAY):"
    reply=$(api POST /indexes -H 'Content-Type: application/json' -d '{"uid": "npm", "primaryKey": "id"}')
    wait_task "create index npm (primary key id)" "$reply"
    reply=$(api PATCH /indexes/npm/settings -H 'Content-Type: application/json' -d '{
        "searchableAttributes": ["name", "summary", "tags"],
        "filterableAttributes": ["scope", "major", "downloads", "tags"],
        "sortableAttributes": ["downloads", "name", "major"]}')
    wait_task "settings" "$reply"
    reply=$(api POST /indexes/npm/documents -H 'Content-Type: application/x-ndjson' --data-binary "@$CORPUS")
    wait_task "upload $docs documents ($CORPUS, NDJSON)" "$reply"
}

HIT='def hit: "    #\(.id)  \(.name)  \(.downloads) downloads";'

search() { # search TITLE BODY JQ: POSTs a search, prints TITLE, the request and the answer through JQ
    local title=$1 body=$2 filter=$3 answer
    answer=$(api POST /indexes/npm/search -H 'Content-Type: application/json' -d "$body")
    say ""
    say "$title  $(jq -c . <<<"$body")"
    jq -r "$HIT $filter" <<<"$answer"
}

searches() {
    local fields='"attributesToRetrieve": ["id", "name", "downloads"]'
    search "keyword" "{\"q\": \"react router\", \"limit\": 5, $fields}" \
        '"  \(.estimatedTotalHits) hits (estimated), \(.processingTimeMs) ms", (.hits[] | hit)'
    search "typo" "{\"q\": \"expresss middlewere\", \"limit\": 3, $fields}" \
        '"  \(.estimatedTotalHits) hits (estimated)", (.hits[] | hit)'
    search "filter + facets" "{\"q\": \"\", \"filter\": \"tags = react AND downloads > 100000\", \"facets\": [\"scope\", \"major\", \"downloads\"], \"limit\": 3, $fields}" \
        '"  \(.estimatedTotalHits) hits (estimated)", (.hits[] | hit),
         (.facetDistribution | to_entries[] | select(.key != "downloads")
            | "    facet \(.key): " + ([.value | to_entries | sort_by(-.value)[:5][] | "\(.key)=\(.value)"] | join(" "))),
         (.facetStats | to_entries[] | "    facet \(.key): min \(.value.min), max \(.value.max)")'
    search "sort" "{\"q\": \"\", \"sort\": [\"downloads:desc\"], \"limit\": 5, $fields}" \
        '"  most downloaded of \(.estimatedTotalHits)", (.hits[] | hit)'
    search "pages" "{\"q\": \"typescript\", \"page\": 2, \"hitsPerPage\": 3, $fields}" \
        '"  page \(.page) of \(.totalPages), \(.hitsPerPage) per page, \(.totalHits) hits", (.hits[] | hit)'
}

# Where the shards are: the index record in the topology KV, and what each node holds.
placement() {
    local stats record i uid docs line total=0 expected
    expected=$(wc -l <"$CORPUS")
    stats=$(api GET /indexes/npm/stats)
    say ""
    say "GET /indexes/npm/stats: $(jq -c '{numberOfDocuments, isIndexing, fieldDistribution}' <<<"$stats")"
    [ "$(jq -r .numberOfDocuments <<<"$stats")" = "$expected" ] || die "the gateway counts $(jq -r .numberOfDocuments <<<"$stats") documents, not $expected"
    record=$(nats_kv_get "$NATS_URL" miroir-topology indexes.npm) || die "cannot read indexes.npm from the KV"
    say ""
    say "placement (KV miroir-topology, key indexes.npm): $(jq -r '"\(.shardCount) shards x \(.replicationFactor) copies"' <<<"$record")"
    jq -r '(.storageUid // .uid) as $base | .shards | to_entries[] | "  \($base)__s\(.key) on \(.value.nodes | join(", "))"' <<<"$record"
    say "what each node holds (GET /indexes/<shard>/stats with the nodes' key):"
    for ((i = 0; i < ${1:-$NODES}; i++)); do
        line="  n$((i + 1)) $(node_url "$i"):"
        for uid in $(node_api "$i" "/indexes?limit=1000" | jq -r '.results[].uid | select(startswith("npm__s"))' | sort); do
            docs=$(node_api "$i" "/indexes/$uid/stats" | jq -r .numberOfDocuments)
            line+=" $uid=$docs"
            total=$((total + docs))
        done
        say "$line"
    done
    [ "$total" -eq $((expected * RF)) ] || die "the nodes hold $total document copies, not $((expected * RF))"
}

copies_are() { # copies_are N TOTAL: the first N nodes hold TOTAL document copies of npm
    local i uid sum=0
    for ((i = 0; i < $1; i++)); do
        for uid in $(node_api "$i" "/indexes?limit=1000" | jq -r '.results[].uid | select(startswith("npm__s"))'); do
            sum=$((sum + $(node_api "$i" "/indexes/$uid/stats" | jq -r .numberOfDocuments)))
        done
    done
    [ "$sum" -eq "$2" ]
}

# --- an operator adds a node; the rebalancer moves its share of the copies live -------------------
grow() {
    local i=$NODES id plan_json pending
    say ""
    say "adding a node with miroirctl (the rebalancer moves copies onto it while the index serves):"
    start_node "$i"
    wait_until "node $i at $(node_url "$i")" 60 curl -sf --max-time 2 --noproxy '*' "$(node_url "$i")/health"
    id="n$((i + 1))"
    "$BIN/miroirctl" --nats-url "$NATS_URL" node add "$id" "$(node_url "$i")" || die "miroirctl node add failed"
    plan_json=$("$BIN/miroirctl" --nats-url "$NATS_URL" plan --json) || die "miroirctl plan failed"
    say "  miroirctl plan: $(jq -c '{adds: [.adds[] | "\(.index)/\(.shard) -> \(.node)"], waitingDrops: [.waitingDrops[] | "\(.index)/\(.shard) on \(.node)"]}' <<<"$plan_json")"
    settled() {
        pending=$("$BIN/miroirctl" --nats-url "$NATS_URL" plan --json | jq '[.adds, .rebuilds, .drops, .waitingDrops] | map(length) | add') &&
            [ "$pending" = 0 ]
    }
    wait_until "the rebalance onto $id" 120 settled
    # A search while and after the move answers over every document.
    search "after the rebalance" '{"q": "", "limit": 0}' '"  \(.estimatedTotalHits) documents"'
    "$BIN/miroirctl" --nats-url "$NATS_URL" status | sed 's/^/  /'
    "$BIN/miroirctl" --nats-url "$NATS_URL" migrations | sed 's/^/  /'
    wait_until "the retired copies deleted from their nodes (drop grace)" 60 copies_are "$((NODES + 1))" "$(($(wc -l <"$CORPUS") * RF))"
    placement $((NODES + 1))
}

# --- load: the scenarios of loadtest/scenarios.json through the gateway (DEMO_LOAD) ---------------
load_test() {
    local scenarios=() i=$((NODES + 1)) args=() status=0
    [ "$DEMO_LOAD" = 1 ] || IFS=, read -ra scenarios <<<"$DEMO_LOAD"
    # The rebalance scenario adds a node while it loads: start it now, and let miroir-load
    # register it with miroirctl when the scenario's add-node event is due.
    if [ ${#scenarios[@]} -eq 0 ] || [[ " ${scenarios[*]} " == *" rebalance "* ]]; then
        start_node "$i"
        wait_until "node $i at $(node_url "$i")" 60 curl -sf --max-time 2 --noproxy '*' "$(node_url "$i")/health"
        args+=(--event-cmd "add-node=$BIN/miroirctl --nats-url $NATS_URL node add n$((i + 1)) $(node_url "$i")")
    fi
    say ""
    say "load: miroir-load ${scenarios[*]:-(every scenario)} against $GATEWAY (loadtest/scenarios.json)"
    "$BIN/miroir-load" --url "$GATEWAY" --key "$MASTER_KEY" --quiet --summary-json "$RUN/load-summary.json" \
        "${args[@]}" "${scenarios[@]}" || status=$?
    all_alive
    [ "$status" -eq 0 ] || die "the load test failed (exit $status; summaries in $RUN/load-summary.json)"
    "$BIN/miroirctl" --nats-url "$NATS_URL" status | sed 's/^/  /'
}

# --- main -------------------------------------------------------------------------------------
for tool in curl jq cargo; do command -v "$tool" >/dev/null || die "$tool is needed: run 'bash .ci/bootstrap'"; done
[ "$NODES" -ge "$RF" ] || die "DEMO_NODES must be at least $RF (the replication factor)"
check_ports
build
rm -rf "$RUN/nats" "$RUN"/node-* "$LOGS" "$RUN"/*.log
mkdir -p "$LOGS"
start_nats
start_nodes
start_services
[ -z "${DEMO_PROMETHEUS:-}" ] || start_prometheus
load
searches
placement
grow
[ -z "${DEMO_LOAD:-}" ] || load_test
[ -z "${DEMO_PROMETHEUS:-}" ] || check_prometheus

say ""
say "Miroir is up. Point any Meilisearch SDK at it:"
say "  url         $GATEWAY"
say "  master key  $MASTER_KEY"
say "  try         curl -H 'Authorization: Bearer $MASTER_KEY' '$GATEWAY/indexes/npm/search?q=vue'"
say "NATS $NATS_URL (monitoring http://127.0.0.1:$NATS_MONITOR), nodes $(node_url 0)..$((NODE_PORT0 + NODES - 1)) (key $NODE_KEY)"
say "metrics http://127.0.0.1:$(metrics_port 0)/metrics (gateway), :$(metrics_port 1) (router), :$(metrics_port 2).. (mergers), :$(metrics_port $((MERGERS + 2))) (health-checker), :$(metrics_port $((MERGERS + 3))) (rebalancer)"
[ -z "${DEMO_PROMETHEUS:-}" ] || say "prometheus http://127.0.0.1:$PROMETHEUS_PORT (rules from helm/miroir/files/alerts.yaml; import helm/miroir/files/grafana-dashboard.json in Grafana)"
say "operate   $BIN/miroirctl --nats-url $NATS_URL status | plan | migrations --follow | node add/drain/remove"
say "logs $LOGS/"
if [ "${DEMO_EXIT:-}" = 1 ]; then exit 0; fi
say "running; Ctrl-C stops everything (a node may be stopped to watch reads go to the other copy)"
trap 'exit 0' INT TERM # stopping a running demo is its normal end
# A node that stops is reported and the rest keeps running; NATS or a service stopping ends it.
live=("${!PIDS[@]}") # indexes of the processes still running
while :; do
    pids=()
    for i in "${live[@]}"; do pids+=("${PIDS[$i]}"); done
    dead=""
    wait -n -p dead "${pids[@]}" || true
    [ -n "$dead" ] || die "a process exited on its own"
    still=()
    for i in "${live[@]}"; do
        if [ "${PIDS[$i]}" != "$dead" ]; then
            still+=("$i")
            continue
        fi
        case ${NAMES[$i]} in
            node-*) say "demo: ${NAMES[$i]} exited (log: $LOGS/${NAMES[$i]}.log); the rest keeps running" ;;
            *) die "${NAMES[$i]} exited on its own" ;;
        esac
    done
    live=("${still[@]}")
done
