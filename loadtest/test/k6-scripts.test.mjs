// The k6 scripts of loadtest/, run under node with k6's modules replaced (harness.mjs): each
// builds its k6 options from scenarios.json unchanged, sends the requests of the query file and
// the corpus with their tags and checks, refuses a missing index in setup, and writes a text and
// a JSON summary. `node --test loadtest/test/k6-scripts.test.mjs` (the generator's tests run it too).
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { LOADTEST, load, reset, requests } from './harness.mjs';

const config = JSON.parse(readFileSync(path.join(LOADTEST, 'scenarios.json'), 'utf8'));
const queries = readFileSync(path.join(LOADTEST, config.queries), 'utf8')
  .split('\n')
  .filter((l) => l.trim())
  .map((l) => JSON.parse(l));

for (const name of Object.keys(config.scenarios)) {
  test(`${name}.js: options are the file's workloads and thresholds`, async () => {
    const m = await load(name);
    const s = config.scenarios[name];
    for (const [w, def] of Object.entries(s.workloads)) {
      assert.deepEqual(m.options.scenarios[w], def, `workload ${w} is passed to k6 unchanged`);
      assert.equal(typeof m[def.exec], 'function', `${name}.js exports ${def.exec}`);
    }
    for (const [key, exprs] of Object.entries(s.thresholds)) {
      assert.deepEqual(m.options.thresholds[key], exprs, key);
    }
    const events = s.events || [];
    const announcers = Object.entries(m.options.scenarios).filter(([, d]) => d.exec === 'announce');
    assert.equal(announcers.length, events.length, 'one announcing scenario per event');
    announcers.forEach(([, d], i) => assert.equal(d.startTime, events[i].at));
    assert.ok(m.options.summaryTrendStats.includes('p(99)'));
    assert.equal(typeof m.handleSummary, 'function');
  });
}

test('setup refuses an index that is not there', async () => {
  const m = await load('search');
  reset(() => ({ status: 404, body: { code: 'index_not_found' } }));
  assert.throws(() => m.setup(), /aborted: .*HTTP 404/);
  reset();
  m.setup();
});

test('search iterations walk the query file with its tags, the key and passing checks', async () => {
  const sent = await requests('search', 'search', queries.length + 1);
  assert.equal(sent.length, queries.length + 1);
  queries.forEach((q, i) => {
    assert.equal(sent[i].op, q.op);
    assert.equal(sent[i].query, q.tag);
    assert.deepEqual(sent[i].body, q.body);
  });
  assert.deepEqual(sent[queries.length].body, queries[0].body, 'wraps around');
  assert.equal(sent[0].path, '/indexes/npm/search');
  assert.ok(sent.some((r) => r.path === '/multi-search'));
  assert.ok(sent.some((r) => r.path === '/indexes/npm/facet-search'));
  const k6 = globalThis.__k6;
  assert.equal(k6.requests[0].params.headers.Authorization, 'Bearer k');
  assert.ok(k6.checks.length > 0 && k6.checks.every((c) => c.ok), 'every check passes on good answers');
});

test('a failed answer fails the checks', async () => {
  const m = await load('search');
  const k6 = reset(() => ({ status: 500, body: { message: 'boom' } }));
  m.search();
  assert.ok(k6.checks.length === 2 && k6.checks.every((c) => !c.ok));
});

test('write iterations send corpus batches under fresh ids', async () => {
  const sent = await requests('indexing', 'write', 2);
  const { batchSize, idOffset, idSpace } = config.documents;
  assert.equal(sent[1].path, '/indexes/npm/documents');
  assert.equal(sent[1].op, 'write');
  assert.equal(sent[1].body.length, batchSize);
  assert.deepEqual(
    sent[1].body.map((d) => d.id),
    Array.from({ length: batchSize }, (_, i) => idOffset + ((batchSize + i) % idSpace)),
  );
  const corpus = readFileSync(path.join(LOADTEST, config.documents.file), 'utf8').split('\n');
  const original = JSON.parse(corpus[batchSize]);
  assert.equal(sent[1].body[0].name, original.name, 'batch 1 starts at corpus document batchSize');
});

test('handleSummary writes text and JSON and shows each threshold', async () => {
  const m = await load('mixed');
  const trend = { values: { avg: 10, min: 1, med: 9, max: 50, 'p(50)': 9, 'p(95)': 30, 'p(99)': 45 } };
  const data = {
    state: { testRunDurationMs: 30000 },
    metrics: {
      http_req_duration: trend,
      'http_req_duration{scenario:search}': { ...trend, thresholds: { 'p(95)<800': { ok: true }, 'p(99)<1500': { ok: true } } },
      'http_req_duration{scenario:write}': { ...trend, thresholds: { 'p(95)<2000': { ok: false } } },
      http_reqs: { values: { count: 960, rate: 32 } },
      'http_reqs{scenario:search}': { values: { count: 900 } },
      http_req_failed: { values: { rate: 0 }, thresholds: { 'rate<0.01': { ok: true } } },
      checks: { values: { rate: 1 }, thresholds: { 'rate>0.99': { ok: true } } },
    },
  };
  const out = m.handleSummary(data);
  assert.match(out.stdout, /scenario mixed/);
  assert.match(out.stdout, /scenario:search +900 +30\.0 avg 10\.0 p50 9\.0 p95 30\.0 p99 45\.0/);
  assert.match(out.stdout, /FAIL http_req_duration\{scenario:write\} p\(95\)<2000/);
  assert.match(out.stdout, /result: FAILED/);
  assert.deepEqual(JSON.parse(out['loadtest/results/mixed-summary.json']), data);
  assert.equal(out['loadtest/results/mixed-summary.txt'], out.stdout);
});
