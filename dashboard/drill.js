// A path's drill-down: its key, status classes, latency percentiles and
// last seen (from its row of the table), and its own trend from
// /api/trends?range=&host=&method=&path=.

import * as api from './api.js';
import {drawChart} from './chart.js';
import {byId, el, fill, setText} from './dom.js';
import * as fmt from './format.js';

function fact(label, value, key) {
  return el('div', {class: 'stat'}, el('dt', {text: label}),
            el('dd', {'data-k': key}, value));
}

export function keyOf(state) {
  return state.dpath === null ? null
    : {host: state.dhost, method: state.dmethod, path: state.dpath};
}

// Shows the panel for key; row is its /api/paths row, or null when the
// current table does not hold it.
export function drawFacts(key, row) {
  byId('drill').hidden = false;
  setText('drill-key', `${key.method} ${key.host} ${key.path}`);
  if (!row) {
    fill(byId('drill-facts'), el('p', {class: 'note',
      text: 'Not in this page of the table: only its trend is shown.'}));
    return;
  }
  const s = row.status || {};
  const l = row.latency_ms || {};
  fill(byId('drill-facts'), el('dl', {class: 'stats'},
    fact('Requests', fmt.int(row.requests), 'requests'),
    ['1xx', '2xx', '3xx', '4xx', '5xx'].map((c) => fact(c, fmt.int(s[c]),
                                                        c)),
    fact('p50', fmt.ms(l.p50), 'p50'),
    fact('p95', fmt.ms(l.p95), 'p95'),
    fact('p99', fmt.ms(l.p99), 'p99'),
    fact('max', fmt.ms(l.max), 'max'),
    fact('Clients', fmt.int(row.unique_clients), 'clients'),
    fact('Last seen', fmt.time(row.last_seen), 'last_seen')));
}

// Fetches and draws key's trend of range.
export async function drawTrend(key, range) {
  const note = byId('drill-note');
  const box = byId('drill-chart');
  const {status, body} = await api.pathTrends(range, key);
  if (status === 404) {
    note.hidden = false;
    setText(note, (body && body.message) || 'No trend for this path.');
    fill(box);
    box.hidden = true;
    return;
  }
  if (status !== 200) {
    throw new api.ApiError(status, body);
  }
  note.hidden = true;
  box.hidden = false;
  drawChart(box, body.data, range);
}

export function hide() {
  byId('drill').hidden = true;
}
