// Stand-in for `k6/execution` under node: the iteration number is set by the harness.
export default {
  get scenario() {
    return { iterationInTest: globalThis.__k6.iteration };
  },
  test: {
    abort(message) {
      throw new Error(`aborted: ${message}`);
    },
  },
};
