# shellcheck shell=bash
# Sourced by .ci/demo.sh: just enough of the NATS client protocol, over bash's /dev/tcp, to ask
# the NATS service API who is serving ($SRV.PING) and to read a JetStream KV value, so that the
# demo needs no `nats` CLI. Plain text protocol only (no headers, no TLS, no auth): the local
# nats-server of nats/nats-server.conf.

# nats_request URL SUBJECT PAYLOAD WAIT MAX: publishes PAYLOAD to SUBJECT with a fresh reply
# inbox and prints each reply's payload on its own line, stopping after MAX replies or when none
# came for WAIT seconds. Fails only when the server cannot be reached or refuses the request.
nats_request() {
    local url=$1 subject=$2 payload=$3 wait=$4 max=$5
    local hostport=${url#nats://} inbox="_INBOX.miroir-demo.$$.$RANDOM" fd line size body n=0
    local LC_ALL=C # sizes in the protocol are bytes, and `read -N` must count bytes
    exec {fd}<>"/dev/tcp/${hostport%:*}/${hostport##*:}" 2>/dev/null || return 1
    if ! IFS= read -r -t 5 line <&"$fd" || [[ $line != INFO* ]]; then
        exec {fd}>&-
        return 1
    fi
    printf 'CONNECT {"verbose":false,"pedantic":false,"name":"miroir-demo"}\r\nSUB %s 1\r\nPUB %s %s %d\r\n%s\r\n' \
        "$inbox" "$subject" "$inbox" "${#payload}" "$payload" >&"$fd"
    while [ "$n" -lt "$max" ] && IFS= read -r -t "$wait" line <&"$fd"; do
        line=${line%$'\r'}
        case $line in
            MSG\ *)
                size=${line##* }
                IFS= read -r -N "$size" -t 5 body <&"$fd" || break
                IFS= read -r -t 5 line <&"$fd" || break # the \r\n after the payload
                printf '%s\n' "$body"
                n=$((n + 1))
                ;;
            PING) printf 'PONG\r\n' >&"$fd" ;;
            -ERR*)
                printf 'nats: %s\n' "$line" >&2
                exec {fd}>&-
                return 1
                ;;
        esac
    done
    exec {fd}>&-
}

# nats_service_count URL NAME [ENOUGH]: how many instances of service NAME answer $SRV.PING
# (counting stops at ENOUGH, which saves waiting for stragglers).
nats_service_count() {
    nats_request "$1" "\$SRV.PING.$2" "" 0.5 "${3:-1000}" | grep -c '"type":"io.nats.micro.v1.ping_response"' || true
}

# nats_kv_get URL BUCKET KEY: prints the latest value of KEY (nothing if it has none).
nats_kv_get() {
    local url=$1 bucket=$2 key=$3 reply
    reply=$(nats_request "$url" "\$JS.API.STREAM.MSG.GET.KV_$bucket" \
        "{\"last_by_subj\":\"\$KV.$bucket.$key\"}" 5 1) || return 1
    jq -r '.message.data // empty' <<<"$reply" | base64 -d
}
