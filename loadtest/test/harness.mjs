// Loads the k6 scripts of loadtest/ under node, with k6's modules replaced by recording
// stand-ins (k6/), k6's init-context globals (open, __ENV) provided, so that their options,
// requests, checks and summaries can be tested without k6.
import { register } from 'node:module';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

register('./k6/loader.mjs', import.meta.url);

export const LOADTEST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

globalThis.__ENV = { MIROIR_URL: 'http://127.0.0.1:7700', MIROIR_KEY: 'k' };
// k6's open(): relative to the script's directory (every script is in loadtest/).
globalThis.open = (p) => readFileSync(path.resolve(LOADTEST, p), 'utf8');

export function reset(respond) {
  globalThis.__k6 = {
    requests: [],
    checks: [],
    iteration: 0,
    respond:
      respond ||
      (({ method, url, body }) => {
        if (method === 'GET') return { status: 200, body: { uid: 'npm' } };
        if (url.endsWith('/documents')) return { status: 202, body: { taskUid: 1 } };
        if (url.endsWith('/multi-search')) {
          // Federated: one merged list of hits.
          return { status: 200, body: JSON.parse(body).federation ? { hits: [] } : { results: [] } };
        }
        if (url.endsWith('/facet-search')) return { status: 200, body: { facetHits: [] } };
        return { status: 200, body: { hits: [] } };
      }),
  };
  return globalThis.__k6;
}

reset();

export async function load(script) {
  return import(path.join(LOADTEST, `${script}.js`));
}

// The first `n` requests iterations of `exec` send: [{op, query, path, body}].
export async function requests(script, exec, n) {
  const m = await load(script);
  const k6 = reset();
  for (let i = 0; i < n; i++) {
    k6.iteration = i;
    m[exec]();
  }
  return k6.requests.map((r) => ({
    op: r.params.tags.op,
    query: r.params.tags.query,
    path: r.url.replace(globalThis.__ENV.MIROIR_URL, ''),
    body: JSON.parse(r.body),
  }));
}
