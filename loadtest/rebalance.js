// k6 run loadtest/rebalance.js: searches and writes while a node joins: at the time of the add-node event the script prints NOW ...; run `miroirctl node add <id> <url>` then (the local generator runs it for you: miroir-load rebalance --event-cmd add-node='...').
// Rates, durations, thresholds: scenarios.json, scenario "rebalance" (the local generator, `just load rebalance`,
// runs the same). Environment: MIROIR_URL (default http://127.0.0.1:7700), MIROIR_KEY, SUMMARY_DIR.
import { SharedArray } from 'k6/data';
import * as miroir from './lib/miroir.js';

const config = JSON.parse(open('./scenarios.json'));
const plan = miroir.plan(config, 'rebalance');
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
