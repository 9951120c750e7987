// Stand-in for `k6/data` under node: a SharedArray is the array its callback builds.
export class SharedArray {
  constructor(name, build) {
    return build();
  }
}
