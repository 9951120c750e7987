#!/usr/bin/env python3
"""Build the fuzz targets' seed corpus (fuzz/corpus/<target>/) from the repository's recordings.

Sources: the recorded exchanges with a real Meilisearch 1.50 node
(libs/testkit/fixtures/meilisearch-1.50/*.json: search and multi-search bodies, GET query
strings, filters, documents payloads, API keys, webhooks), a few npm documents of
libs/testkit/fixtures/npm-10k.ndjson written in each payload format, the pinned MessagePack
envelopes of libs/proto/tests/golden.rs plus one minimal envelope per message kind, and KV
records shaped as the services write them. Deterministic: run it again and the corpus is the
same (files are named by the SHA-1 of their content, as libFuzzer names them).

Usage: python3 fuzz/seeds.py   (from anywhere; rewrites fuzz/corpus/)
"""

import base64
import csv
import glob
import hashlib
import hmac
import io
import json
import os
import re
import shutil
import struct
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "libs", "testkit", "fixtures")
RECORDINGS = os.path.join(FIXTURES, "meilisearch-1.50")
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
# The key the tenant_token target verifies with (fuzz_targets/tenant_token.rs).
TOKEN_SECRET = b"fuzz-key-value-0123456789abcdef"
MAX_SEED = 16 * 1024

seeds = {}


def add(target, data):
    if isinstance(data, str):
        data = data.encode()
    if len(data) > MAX_SEED:
        return
    seeds.setdefault(target, set()).add(data)


def compact(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def exchanges():
    for path in sorted(glob.glob(os.path.join(RECORDINGS, "[0-9][0-9]-*.json"))):
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if isinstance(data, list):
            yield from data
        elif isinstance(data, dict):
            for case in data.get("cases", []):
                yield {"request": {"method": "POST", "path": "/indexes/npm/search",
                                   "headers": {}, "body": case.get("request")},
                       "response": {"status": 200, "body": case.get("expected_whole_index_response")}}
                yield {"request": {"method": "POST", "path": "/indexes/npm/search",
                                   "headers": {}, "body": case.get("shard_request")},
                       "response": {"status": 200, "body": None}}


def filters_in(value):
    """Every `filter` value anywhere in a JSON value."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "filter" and v is not None:
                yield v
            else:
                yield from filters_in(v)
    elif isinstance(value, list):
        for v in value:
            yield from filters_in(v)


# ---- MessagePack, the subset the envelopes use -------------------------------------------

def mp(value):
    if value is None:
        return b"\xc0"
    if value is True:
        return b"\xc3"
    if value is False:
        return b"\xc2"
    if isinstance(value, int):
        if 0 <= value < 128:
            return bytes([value])
        if 0 <= value < 1 << 16:
            return b"\xcd" + struct.pack(">H", value)
        if 0 <= value < 1 << 32:
            return b"\xce" + struct.pack(">I", value)
        if 0 <= value:
            return b"\xcf" + struct.pack(">Q", value)
        return b"\xd3" + struct.pack(">q", value)
    if isinstance(value, float):
        return b"\xcb" + struct.pack(">d", value)
    if isinstance(value, str):
        raw = value.encode()
        if len(raw) < 32:
            return bytes([0xA0 | len(raw)]) + raw
        if len(raw) < 256:
            return b"\xd9" + bytes([len(raw)]) + raw
        return b"\xda" + struct.pack(">H", len(raw)) + raw
    if isinstance(value, bytes):
        return b"\xc4" + bytes([len(value)]) + value
    if isinstance(value, list):
        head = bytes([0x90 | len(value)]) if len(value) < 16 else b"\xdc" + struct.pack(">H", len(value))
        return head + b"".join(mp(v) for v in value)
    if isinstance(value, dict):
        head = bytes([0x80 | len(value)]) if len(value) < 16 else b"\xde" + struct.pack(">H", len(value))
        return head + b"".join(mp(k) + mp(v) for k, v in value.items())
    raise TypeError(type(value))


def envelope(kind, version, body):
    return mp({"v": version, "kind": kind, "body": body})


# ---- the targets ---------------------------------------------------------------------------

def search_and_filters():
    for ex in exchanges():
        req = ex.get("request") or {}
        path, body, method = req.get("path", ""), req.get("body"), req.get("method")
        route, _, query = path.partition("?")
        for f in filters_in(body):
            add("filter", f if isinstance(f, str) else compact(f))
        if route.endswith("/search") and method == "POST" and body is not None:
            add("search_request", b"\x01" + compact(body).encode())
        if route.endswith("/search") and method == "GET":
            add("search_request", b"\x00" + query.encode())
        if route.endswith("/documents/fetch") and body is not None:
            add("search_request", b"\x01" + compact(body).encode())
        if route.endswith("/documents") and method == "GET" and query:
            add("search_request", b"\x00" + query.encode())
        if route == "/multi-search" and body is not None:
            add("multi_search", compact(body))
        # A POST search body also as a GET query string, as an SDK would send it.
        if route.endswith("/search") and method == "POST" and isinstance(body, dict):
            pairs = []
            for k, v in body.items():
                if isinstance(v, list):
                    v = ",".join(str(x) for x in v if not isinstance(x, (list, dict)))
                elif isinstance(v, (dict,)):
                    continue
                elif isinstance(v, bool):
                    v = "true" if v else "false"
                pairs.append((k, "" if v is None else str(v)))
            add("search_request", b"\x00" + urllib.parse.urlencode(pairs).encode())


# Filter syntax Meilisearch documents, beyond what the recordings use.
FILTER_SYNTAX = [
    'genres = horror AND year > 2000',
    '(genres = horror OR genres = comedy) AND NOT director = "Jordan Peele"',
    'year 1990 TO 2000',
    'genres IN [horror, "sci fi"] AND rating NOT IN [1, 2]',
    'release_date EXISTS AND NOT overview IS NULL AND tags IS NOT EMPTY',
    'title CONTAINS kit OR title NOT STARTS WITH "The "',
    'b.c >= -1.5e3 AND b.c <= 10 AND b.c != 3',
    '_geoRadius(45.472735, 9.184019, 2000)',
    '_geoBoundingBox([45.494181, 9.214024], [45.449484, 9.179175])',
    "`weird field` = 'single quoted' AND \"escaped \\\" quote\" = x",
    '((((a = 1))))',
    'NOT NOT NOT a = 1',
]


MULTI_SEARCH = [
    {"queries": [{"indexUid": "npm", "q": "react", "federationOptions": {"weight": 0.5}},
                 {"indexUid": "movies", "q": "alien", "filter": "year > 1970"}],
     "federation": {"limit": 5, "offset": 2, "facetsByIndex": {"npm": ["scope"]},
                    "mergeFacets": {"maxValuesPerFacet": 10}}},
    {"queries": [{"indexUid": "npm", "page": 2, "hitsPerPage": 3}], "federation": None},
    {"queries": [{"indexUid": "npm", "federationOptions": {"remote": "ms-1", "queryPosition": 0}}],
     "federation": {"page": 1, "hitsPerPage": 10}},
    {"queries": []},
]


def filter_syntax():
    for f in FILTER_SYNTAX:
        add("filter", f)
    add("filter", compact([FILTER_SYNTAX[0], [FILTER_SYNTAX[2], FILTER_SYNTAX[3]]]))
    add("filter", compact([["a = 1", "b = 2"], "c EXISTS", []]))
    for body in MULTI_SEARCH:
        add("multi_search", compact(body))


def documents():
    # Header bytes of the documents target: kind (0 json, 1 ndjson, 2 csv, 3 csv with the next
    # byte as delimiter), delimiter, the seed of the cuts, the size selector (odd = 1 MiB).
    def seed(kind, delimiter, payload):
        if isinstance(payload, str):
            payload = payload.encode()
        add("documents", bytes([kind, delimiter, 7, 1]) + payload)
        add("documents", bytes([kind, delimiter, 200, 64]) + payload)

    for ex in exchanges():
        req = ex.get("request") or {}
        route = req.get("path", "").partition("?")[0]
        if not route.endswith("/documents") or req.get("method") not in ("POST", "PUT"):
            continue
        ctype = (req.get("headers") or {}).get("Content-Type", "")
        body = req.get("body")
        text = body if isinstance(body, str) else compact(body)
        if "ndjson" in ctype:
            seed(1, ord(","), text)
        elif "csv" in ctype:
            seed(2, ord(","), text)
        else:
            seed(0, ord(","), text)

    docs = []
    with open(os.path.join(FIXTURES, "npm-10k.ndjson"), encoding="utf-8") as f:
        for line in f:
            if len(docs) == 4:
                break
            docs.append(json.loads(line))
    seed(0, ord(","), json.dumps(docs, indent=1, ensure_ascii=False))
    seed(0, ord(","), compact(docs[0]))
    seed(1, ord(","), "\r\n\n".join(compact(d) for d in docs) + "\n")
    for delimiter in (",", ";", "\t", "|"):
        out = io.StringIO()
        fields = sorted({k for d in docs for k, v in d.items() if not isinstance(v, (dict, list))})
        typed = [f + (":number" if isinstance(docs[0].get(f), (int, float)) and not isinstance(docs[0].get(f), bool) else "") for f in fields]
        w = csv.writer(out, delimiter=delimiter, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
        w.writerow(typed)
        for d in docs:
            w.writerow(["" if d.get(f) is None else d.get(f) for f in fields])
        seed(3, ord(delimiter), out.getvalue())
    seed(3, ord(";"), 'id;"title; with ""quotes"""\n1;"a\nmultiline; value"\n2;plain\n')
    seed(2, ord(","), "id:number,ok:boolean,name:string\n1,true,x\n2,false,\"y,z\"\n")


def tokens():
    keys = []
    for ex in exchanges():
        body = (ex.get("response") or {}).get("body")
        items = body.get("results", []) if isinstance(body, dict) else []
        if isinstance(body, dict) and "uid" in body and "actions" in body:
            items = [body]
        for k in items:
            if isinstance(k, dict) and "uid" in k and "indexes" in k:
                keys.append(k)
    uids = sorted({k["uid"] for k in keys}) or ["76cf8b87-fd12-4688-ad34-260d930ca4f4"]
    patterns = sorted({p for k in keys for p in k["indexes"]}) or ["*"]
    filters = sorted(seeds.get("filter", set()))[:6]

    def b64(raw):
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    def sign(header, claims):
        h = b64(compact(header).encode())
        p = b64(compact(claims).encode())
        algo = {"HS384": hashlib.sha384, "HS512": hashlib.sha512}.get(header.get("alg"), hashlib.sha256)
        sig = hmac.new(TOKEN_SECRET, f"{h}.{p}".encode(), algo).digest()
        return f"{h}.{p}.{b64(sig)}"

    rules = [patterns, {p: None for p in patterns}, {"*": {}}]
    for f in filters:
        rules.append({patterns[0]: {"filter": f.decode()}, "movies_*": {"filter": None}})
    for i, r in enumerate(rules):
        for alg in ("HS256", "HS384", "HS512", "RS256"):
            header = {"alg": alg, "typ": "JWT"}
            claims = {"apiKeyUid": uids[i % len(uids)], "searchRules": r}
            if i % 2:
                claims["exp"] = 1_900_000_000
            add("tenant_token", compact(header) + "\0" + compact(claims))
            if alg == "HS256":
                add("tenant_token", sign(header, claims))
    add("tenant_token", compact({"alg": "HS256"}) + "\0" + compact(
        {"apiKeyUid": uids[0], "searchRules": ["*"], "exp": 1, "aud": "x"}))
    add("tenant_token", "not-a-token")
    add("tenant_token", "a.b.c")


def proto():
    source = open(os.path.join(ROOT, "libs", "proto", "tests", "golden.rs"), encoding="utf-8").read()
    for hexed in re.findall(r'"((?:[0-9a-f]{2}){8,})"', source):
        add("proto_envelopes", bytes.fromhex(hexed))
    kinds = []
    for path in sorted(glob.glob(os.path.join(ROOT, "libs", "proto", "src", "*.rs"))):
        text = open(path, encoding="utf-8").read()
        kinds += re.findall(r'message!\(\s*\w+\s*,\s*"([^"]+)"\s*,\s*(\d+)\s*\)', text)
    error = {"status": 400, "code": "invalid_search_q", "type": "invalid_request",
             "message": "Invalid value type at `.q`"}
    for kind, version in sorted(set(kinds)):
        v = int(version)
        add("proto_envelopes", envelope(kind, v, {}))
        add("proto_envelopes", envelope(kind, v, {"Err": error}))
        add("proto_envelopes", envelope(kind, v + 1, {}))
    search_bodies = sorted(b[1:] for b in seeds.get("search_request", set()) if b[:1] == b"\x01")[:5]
    for body in search_bodies:
        add("proto_envelopes", envelope("json-body", 1, {"Ok": {"body": body.decode()}}))


def kv():
    def put(key, value):
        add("kv_values", key.encode() + b"\0" + json.dumps(value, indent=2).encode())

    put("cluster", {"shardCount": 4, "replicationFactor": 2})
    put("nodes.node-1", {"id": "node-1", "url": "http://10.0.0.7:7700", "zone": "a",
                          "state": "active", "health": "healthy", "healthSince": "2026-11-21T05:01:23Z"})
    put("nodes.node-2", {"id": "node-2", "url": "https://n2:7700"})
    put("indexes.npm", {
        "uid": "npm", "primaryKey": "id", "shardCount": 2, "replicationFactor": 2,
        "createdAt": "2026-11-21T05:01:23.4765268Z", "updatedAt": "2026-11-21T05:01:23.4765268Z",
        "shards": [{"nodes": ["node-1", "node-2"]},
                   {"nodes": ["node-2", "node-1"], "incoming": ["node-3"],
                    "lagging": [{"node": "node-1", "reason": "missedWrites", "hintSeq": 42}]}],
        "state": "ready", "storageUid": "npm_old"})
    put("task.25", {"uid": 25, "indexUid": "npm", "type": "documentAdditionOrUpdate",
                    "enqueuedAt": "2026-11-21T05:01:23.4765268Z", "details": {"receivedDocuments": 3},
                    "nodeTasks": [{"node": "node-1", "shard": 0, "replica": 0, "taskUid": 7}],
                    "deferred": [{"node": "node-2", "shard": 1}], "canceledBy": None,
                    "customMetadata": "import-42"})
    put("npm.0.node-3", {"index": "npm", "shard": 0, "node": "node-3", "source": "node-1",
                         "phase": "copying", "copied": 10, "total": 100,
                         "startedAt": "2026-11-21T05:01:23Z", "updatedAt": "2026-11-21T05:01:24Z"})
    put("rebalancer", {"holder": "rebalancer-0", "acquiredAt": "2026-11-21T05:01:23Z",
                       "renewedAt": "2026-11-21T05:01:24Z"})
    for ex in exchanges():
        req, resp = ex.get("request") or {}, ex.get("response") or {}
        body = resp.get("body")
        if req.get("path", "").startswith("/keys") and isinstance(body, dict) and "uid" in body:
            record = {k: body.get(k) for k in ("uid", "name", "description", "actions", "indexes",
                                               "expiresAt", "createdAt", "updatedAt")}
            put(f"keys.{body['uid']}", record)
        if req.get("path", "").startswith("/webhooks") and isinstance(body, dict) and "url" in body:
            uuid = body.get("uuid", "00000000-0000-0000-0000-000000000000")
            put(f"webhooks.{uuid}", {"url": body["url"], "headers": body.get("headers") or {}})
    put("webhooks.2a74819f-2405-46c5-9faf-27939329bc24",
        {"url": "https://example.com/hook", "headers": {"Authorization": "Bearer 0123456789abcdefghijklmnopqrstuvwxyz"}})


def main():
    search_and_filters()
    filter_syntax()
    documents()
    tokens()
    proto()
    kv()
    if os.path.isdir(CORPUS):
        shutil.rmtree(CORPUS)
    total = 0
    for target, items in sorted(seeds.items()):
        d = os.path.join(CORPUS, target)
        os.makedirs(d)
        for data in sorted(items):
            with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
                f.write(data)
            total += len(data)
        print(f"{target}: {len(items)} seeds")
    print(f"total {total} bytes")


if __name__ == "__main__":
    main()
