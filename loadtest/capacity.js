// k6 run loadtest/capacity.js: the search mix of queries/npm-search.ndjson from 8 clients back to back (closed model): the throughput the cluster sustains.
// Rates, durations, thresholds: scenarios.json, scenario "capacity" (the local generator, `just load capacity`,
// runs the same). Environment: MIROIR_URL (default http://127.0.0.1:7700), MIROIR_KEY, SUMMARY_DIR.
import { SharedArray } from 'k6/data';
import * as miroir from './lib/miroir.js';

const config = JSON.parse(open('./scenarios.json'));
const plan = miroir.plan(config, 'capacity');
const queries = plan.searches ? new SharedArray('queries', () => miroir.parseQueries(open(`./${config.queries}`))) : [];
const corpus = plan.writes ? new SharedArray('corpus', () => miroir.parseDocuments(open(`./${config.documents.file}`))) : [];

export const options = miroir.options(plan, queries);

export function setup() {
  return miroir.setup(plan);
}

export function search() {
  miroir.search(plan, queries);
}

export function write() {
  miroir.write(plan, corpus);
}

export function announce() {
  miroir.announce(plan);
}

export function handleSummary(data) {
  return miroir.summary(plan, data);
}
