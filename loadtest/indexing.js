// k6 run loadtest/indexing.js: batches of corpus documents under fresh ids, sent back to back by a few writers.
// Rates, durations, thresholds: scenarios.json, scenario "indexing" (the local generator, `just load indexing`,
// runs the same). Environment: MIROIR_URL (default http://127.0.0.1:7700), MIROIR_KEY, SUMMARY_DIR.
import { SharedArray } from 'k6/data';
import * as miroir from './lib/miroir.js';

const config = JSON.parse(open('./scenarios.json'));
const plan = miroir.plan(config, 'indexing');
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
