// The admin API, by relative URLs: the page works wherever the admin
// location is mounted and never asks anything of another origin.

export class ApiError extends Error {
  constructor(status, body) {
    super((body && (body.message || body.error)) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

// {status, body}: the JSON of any answer, 2xx or not (the API answers
// errors in JSON too); throws ApiError on a network failure or on an
// answer that is not JSON.
export async function request(url) {
  let res;
  try {
    res = await fetch(url, {cache: 'no-store',
                            headers: {Accept: 'application/json'}});
  } catch (e) {
    throw new ApiError(0, {error: 'network error', message: String(e)});
  }
  let body;
  try {
    body = await res.json();
  } catch (e) {
    throw new ApiError(res.status, {error: 'not JSON'});
  }
  return {status: res.status, body};
}

// The body of a 2xx answer, else throws ApiError.
export async function get(url) {
  const {status, body} = await request(url);
  if (status < 200 || status > 299) throw new ApiError(status, body);
  return body;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

export const summary = () => get('api/summary');

// /health answers 503 with its reasons when unhealthy: both are answers
export const health = () => request('health');

export const paths = (p) => get(`api/paths${query(p)}`);

export const trends = (range) => get(`api/trends${query({range})}`);

// one path's trend: host, method and path always go together (each may
// be empty)
export const pathTrends = (range, key) => request(
  `api/trends?range=${encodeURIComponent(range)}` +
  `&host=${encodeURIComponent(key.host)}` +
  `&method=${encodeURIComponent(key.method)}` +
  `&path=${encodeURIComponent(key.path)}`);
