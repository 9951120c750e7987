// Node module hooks that resolve k6's built-in modules to the stand-ins beside this file.
const STUBS = { k6: 'k6.mjs', 'k6/http': 'http.mjs', 'k6/execution': 'execution.mjs', 'k6/data': 'data.mjs' };
export async function resolve(specifier, context, next) {
  if (STUBS[specifier]) {
    return { url: new URL(STUBS[specifier], import.meta.url).href, shortCircuit: true };
  }
  return next(specifier, context);
}
