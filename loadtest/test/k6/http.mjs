// Stand-in for `k6/http` under node: records each request and answers with __k6.respond.
function send(method, url, body, params) {
  const request = { method, url, body: body === undefined ? null : body, params: params || {} };
  globalThis.__k6.requests.push(request);
  const { status, body: answer } = globalThis.__k6.respond(request);
  const text = typeof answer === 'string' ? answer : JSON.stringify(answer);
  return {
    status,
    body: text,
    json(field) {
      const v = JSON.parse(text);
      return field === undefined ? v : v[field];
    },
  };
}
export function get(url, params) {
  return send('GET', url, undefined, params);
}
export function post(url, body, params) {
  return send('POST', url, body, params);
}
export default { get, post };
