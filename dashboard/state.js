// The view's state lives in the page's query string, so that a view can
// be bookmarked and shared: the paths table's filters, sort and page,
// the trends' range, and the path drilled into.  Defaults are left out
// of the URL.

export const WINDOWS = ['1m', '1h', '24h'];
export const RANGES = ['24h', '7d', '30d'];
// offered only when the API serves them (PostgreSQL's daily rollups)
export const DAY_WINDOWS = ['7d', '30d'];
export const LONG_RANGES = ['90d', '1y'];
export const SORTS = ['requests', 'errors', 'error_rate', 'p95', 'bytes',
                      'last_seen'];
export const LIMITS = [10, 25, 50, 100, 200];

export const DEFAULTS = Object.freeze({
  q: '', host: '', method: '', window: '24h', sort: 'requests',
  order: 'desc', page: 1, limit: 50, range: '24h',
  // the drilled-into path: its key, and its trend's range
  dhost: null, dmethod: null, dpath: null, drange: '24h',
});

function pick(value, allowed, dflt) {
  return allowed.includes(value) ? value : dflt;
}

function whole(value, dflt, min, max) {
  const n = Number(value);
  return Number.isInteger(n) && n >= min && n <= max ? n : dflt;
}

// The state a query string (location.search) describes.
export function parse(search) {
  const p = new URLSearchParams(search);
  const get = (k) => p.get(k);
  const s = {
    q: get('q') || '',
    host: get('host') || '',
    method: (get('method') || '').toUpperCase(),
    window: pick(get('window'), [...WINDOWS, ...DAY_WINDOWS],
                 DEFAULTS.window),
    sort: pick(get('sort'), SORTS, DEFAULTS.sort),
    order: pick(get('order'), ['asc', 'desc'], DEFAULTS.order),
    page: whole(get('page'), 1, 1, 1e9),
    limit: pick(whole(get('limit'), DEFAULTS.limit, 1, 200), LIMITS,
                DEFAULTS.limit),
    range: pick(get('range'), [...RANGES, ...LONG_RANGES], DEFAULTS.range),
    dhost: null, dmethod: null, dpath: null,
    drange: pick(get('drange'), RANGES, DEFAULTS.drange),
  };
  // a drill-down needs its whole key (each part may be empty)
  if (p.has('dpath') && p.has('dhost') && p.has('dmethod')) {
    s.dhost = get('dhost');
    s.dmethod = get('dmethod');
    s.dpath = get('dpath');
  }
  return s;
}

// The query string of a state, without the defaults ("" for none).
export function serialize(s) {
  const p = new URLSearchParams();
  for (const k of ['q', 'host', 'method', 'window', 'sort', 'order', 'page',
                   'limit', 'range']) {
    if (s[k] !== DEFAULTS[k]) p.set(k, String(s[k]));
  }
  if (s.dpath !== null) {
    p.set('dhost', s.dhost);
    p.set('dmethod', s.dmethod);
    p.set('dpath', s.dpath);
    if (s.drange !== DEFAULTS.drange) p.set('drange', s.drange);
  }
  const q = p.toString();
  return q ? `?${q}` : '';
}

// Writes the state into the address bar without a new history entry.
export function save(s) {
  const q = serialize(s);
  if (q !== location.search) {
    history.replaceState(null, '', q || location.pathname);
  }
}

// The /api/paths parameters of a state, without the defaults (the API's
// own): the default view asks for plain api/paths, which the page
// preloads.
export function pathsQuery(s) {
  const q = {};
  for (const k of ['q', 'host', 'method', 'window', 'sort', 'order', 'page',
                   'limit']) {
    if (s[k] !== DEFAULTS[k]) q[k] = s[k];
  }
  return q;
}
