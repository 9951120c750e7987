// What the k6 scripts of loadtest/ share: turning a scenario of scenarios.json into k6 options,
// the iterations (a query of the query file, a batch of corpus documents) with their tags and
// checks, the setup check and handleSummary. The local generator (services/loadgen, `just load`)
// reads the same file and sends the same requests: iteration n of a workload takes query
// n mod len, batch n takes corpus documents n*batchSize.. under ids idOffset + k mod idSpace, k
// = n*batchSize + i.
//
// The scripts call open() themselves (k6 resolves it from the script's directory) and hand the
// text to these functions.

import http from 'k6/http';
import { check } from 'k6';
import exec from 'k6/execution';

export const BASE_URL = (__ENV.MIROIR_URL || 'http://127.0.0.1:7700').replace(/\/+$/, '');
const KEY = __ENV.MIROIR_KEY || '';

// The endpoint of each op, and the status and body field a successful answer has (the
// generator's `Op::expects`).
const OPS = {
  search: { path: (index) => `/indexes/${index}/search`, status: 200, field: 'hits' },
  'multi-search': { path: () => '/multi-search', status: 200, field: 'results' },
  'facet-search': { path: (index) => `/indexes/${index}/facet-search`, status: 200, field: 'facetHits' },
  write: { path: (index) => `/indexes/${index}/documents`, status: 202, field: 'taskUid' },
};

function headers() {
  const h = { 'Content-Type': 'application/json' };
  if (KEY) h.Authorization = `Bearer ${KEY}`;
  return h;
}

// Lines of an NDJSON file, or the elements of a JSON array.
function records(text) {
  if (text.trimStart().startsWith('[')) return JSON.parse(text);
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line));
}

export function parseQueries(text) {
  const queries = records(text);
  for (const q of queries) {
    if (!OPS[q.op] || q.op === 'write' || typeof q.body !== 'object') {
      throw new Error(`bad query ${JSON.stringify(q)}: op must be search, multi-search or facet-search`);
    }
  }
  if (queries.length === 0) throw new Error('the query file has no query');
  return queries;
}

export function parseDocuments(text) {
  return records(text);
}

// The scenario `name` of the parsed scenarios.json.
export function plan(config, name) {
  const scenario = config.scenarios[name];
  if (!scenario) {
    throw new Error(`no scenario ${name} in scenarios.json (${Object.keys(config.scenarios).join(', ')})`);
  }
  const execs = Object.values(scenario.workloads).map((w) => w.exec);
  return {
    name,
    index: config.index,
    batchSize: config.documents.batchSize,
    idOffset: config.documents.idOffset || 0,
    idSpace: config.documents.idSpace || 0,
    scenario,
    searches: execs.includes('search'),
    writes: execs.includes('write'),
  };
}

// k6 options: the workloads as k6 scenarios, unchanged; one more single-iteration scenario per
// event that tells the operator, at its time, what to do (k6 cannot run a command); the
// thresholds of the file, plus always-true ones that make k6 keep a sub-metric per op and query
// tag for the summary.
export function options(p, queries) {
  const scenarios = Object.assign({}, p.scenario.workloads);
  (p.scenario.events || []).forEach((event, i) => {
    scenarios[`event-${i}-${event.action}`] = {
      executor: 'shared-iterations',
      exec: 'announce',
      vus: 1,
      iterations: 1,
      startTime: event.at,
      env: { EVENT_INDEX: String(i) },
    };
  });
  const thresholds = Object.assign({}, p.scenario.thresholds);
  const show = (key) => {
    if (!thresholds[key]) thresholds[key] = ['max>=0'];
  };
  const ops = new Set(p.writes ? ['write'] : []);
  const tags = new Set();
  if (p.searches) {
    for (const q of queries) {
      ops.add(q.op);
      tags.add(q.tag);
    }
  }
  for (const op of ops) show(`http_req_duration{op:${op}}`);
  for (const tag of tags) show(`http_req_duration{query:${tag}}`);
  for (const w of Object.keys(p.scenario.workloads)) {
    show(`http_req_duration{scenario:${w}}`);
    if (!thresholds[`http_reqs{scenario:${w}}`]) thresholds[`http_reqs{scenario:${w}}`] = ['count>=0'];
  }
  return {
    scenarios,
    thresholds,
    summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(50)', 'p(95)', 'p(99)'],
    // Loopback targets: no DNS, no keep-alive surprises.
    noConnectionReuse: false,
  };
}

// Refuses to start against an index that is not there: a run of 404s measures nothing.
export function setup(p) {
  const res = http.get(`${BASE_URL}/indexes/${p.index}`, { headers: headers(), tags: { op: 'setup' } });
  if (res.status !== 200) {
    exec.test.abort(
      `GET ${BASE_URL}/indexes/${p.index}: HTTP ${res.status} ${res.body}; the index must exist and hold the corpus (just demo loads it), and MIROIR_KEY must be accepted`,
    );
  }
  for (const event of p.scenario.events || []) {
    console.log(`scenario ${p.name}: at ${event.at}, ${event.action}: ${event.description}`);
  }
  return {};
}

function call(p, op, tag, body) {
  const spec = OPS[op];
  // A federated multi-search answers one merged list of hits, not results.
  const field = op === 'multi-search' && body.federation ? 'hits' : spec.field;
  const res = http.post(`${BASE_URL}${spec.path(p.index)}`, JSON.stringify(body), {
    headers: headers(),
    tags: { op, query: tag },
  });
  check(
    res,
    {
      [`${op}: status ${spec.status}`]: (r) => r.status === spec.status,
      [`${op}: has ${field}`]: (r) => {
        try {
          return r.json(field) !== undefined;
        } catch (e) {
          return false;
        }
      },
    },
    { op, query: tag },
  );
  return res;
}

// One search: the next query of the file.
export function search(p, queries) {
  const q = queries[exec.scenario.iterationInTest % queries.length];
  call(p, q.op, q.tag, q.body);
}

// One write: the next batch of the corpus, under fresh ids (wrapping in idSpace when set).
export function write(p, corpus) {
  const n = exec.scenario.iterationInTest;
  const first = n * p.batchSize;
  const docs = [];
  for (let i = 0; i < p.batchSize; i++) {
    const doc = Object.assign({}, corpus[(first + i) % corpus.length]);
    const k = first + i;
    doc.id = p.idOffset + (p.idSpace ? k % p.idSpace : k);
    docs.push(doc);
  }
  call(p, 'write', 'batch', docs);
}

// An event is due: k6 cannot act, so it says what the operator does now.
export function announce(p) {
  const event = (p.scenario.events || [])[Number(__ENV.EVENT_INDEX)];
  if (event) {
    console.warn(`NOW (${event.at} into ${p.name}): ${event.action}: ${event.description}`);
  }
}

function fmt(v, digits) {
  return v === undefined || v === null ? '-' : Number(v).toFixed(digits);
}

// The text half of handleSummary: per workload, op and query tag, requests, rate, errors and
// latency percentiles, then every threshold with its verdict.
export function textSummary(p, data) {
  const m = data.metrics;
  const seconds = data.state.testRunDurationMs / 1000;
  const lines = [`scenario ${p.name} against ${BASE_URL} (index ${p.index}), ${fmt(seconds, 1)} s: ${p.scenario.description}`];
  const row = (label, trend, reqs) => {
    if (!trend) return;
    const v = trend.values;
    const count = reqs ? reqs.values.count : undefined;
    lines.push(
      `  ${label.padEnd(34)} ${String(count === undefined ? '' : count).padStart(7)} ${fmt(count === undefined ? undefined : count / seconds, 1).padStart(8)}` +
        ` avg ${fmt(v.avg, 1)} p50 ${fmt(v['p(50)'], 1)} p95 ${fmt(v['p(95)'], 1)} p99 ${fmt(v['p(99)'], 1)} max ${fmt(v.max, 1)} ms`,
    );
  };
  row('all', m.http_req_duration, m.http_reqs);
  for (const key of Object.keys(m).sort()) {
    const sub = key.match(/^http_req_duration\{(.+)\}$/);
    if (sub) row(sub[1], m[key], m[`http_reqs{${sub[1]}}`]);
  }
  if (m.http_req_failed) lines.push(`  errors (http_req_failed) ${fmt(m.http_req_failed.values.rate * 100, 2)}%`);
  if (m.checks) lines.push(`  checks ${fmt(m.checks.values.rate * 100, 2)}%`);
  if (m.dropped_iterations) lines.push(`  dropped iterations ${m.dropped_iterations.values.count}`);
  lines.push('  thresholds:');
  let passed = true;
  for (const [metric, exprs] of Object.entries(p.scenario.thresholds)) {
    for (const expr of exprs) {
      const t = m[metric] && m[metric].thresholds && m[metric].thresholds[expr];
      const ok = t ? t.ok : metric.startsWith('dropped_iterations');
      passed = passed && ok;
      lines.push(`    ${ok ? 'ok  ' : 'FAIL'} ${metric} ${expr}${t ? '' : ' (no sample)'}`);
    }
  }
  lines.push(`  result: ${passed ? 'passed' : 'FAILED'}`);
  return lines.join('\n') + '\n';
}

// handleSummary: the text on stdout and in SUMMARY_DIR (default loadtest/results, relative to
// where k6 runs), k6's whole summary data as JSON beside it.
export function summary(p, data) {
  const dir = (__ENV.SUMMARY_DIR || 'loadtest/results').replace(/\/+$/, '');
  const text = textSummary(p, data);
  return {
    stdout: text,
    [`${dir}/${p.name}-summary.txt`]: text,
    [`${dir}/${p.name}-summary.json`]: JSON.stringify(data, null, 2),
  };
}
