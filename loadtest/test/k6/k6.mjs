// Stand-in for k6's `k6` module under node: check() runs the checks and records them.
export function check(value, checks, tags) {
  let all = true;
  for (const [name, fn] of Object.entries(checks)) {
    const ok = Boolean(fn(value));
    globalThis.__k6.checks.push({ name, ok, tags });
    all = all && ok;
  }
  return all;
}
export function sleep() {}
export default { check, sleep };
