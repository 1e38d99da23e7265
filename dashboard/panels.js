// The panels drawn from /api/summary and /health: the header, the
// stale/unhealthy banner, the summary cards per window, the alerts, the
// top clients and the pipeline.

import {byId, el, fill, setText} from './dom.js';
import * as fmt from './format.js';

const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'];

export function drawHeader(summary, meta) {
  setText('node', summary.node_id || '\u2013');
  setText('host', location.host);
  setText('snapshot', `v${fmt.int(meta.version)}`);
  setText('age', fmt.duration(meta.age_seconds));
  byId('age').classList.toggle('bad', !!meta.stale);
}

// health: {status, body} of /health, or null when it was not (or could
// not be) asked; error: why the summary could not be read, if so;
// problems: the summary's own list of the aggregator's problems, shown
// while /health is not known (its reasons include them)
export function drawBanner(health, meta, error, problems) {
  const reasons = [];
  let title = '';
  if (error) {
    title = 'The admin API does not answer';
    reasons.push(error);
  }
  if (health && health.status !== 200) {
    title = title || 'Unhealthy';
    for (const r of (health.body && health.body.reasons) || []) {
      reasons.push(String(r));
    }
  } else if (!health && problems && problems.length) {
    title = title || 'Unhealthy';
    for (const r of problems) reasons.push(String(r));
  }
  if (meta && meta.stale) {
    title = 'Stale: the numbers below are not live';
    if (!reasons.length) {
      reasons.push(`snapshot is ${fmt.duration(meta.age_seconds)} old`);
    }
  }
  const banner = byId('banner');
  banner.hidden = !title;
  setText('banner-title', title);
  fill(byId('banner-reasons'), reasons.map((r) => el('li', {text: r})));
}

function stat(label, value, key, title) {
  return el('div', {class: 'stat'},
            el('dt', {text: label}),
            el('dd', {'data-k': key, title}, value));
}

function statusBar(status, total, win) {
  const bar = el('div', {class: 'status-bar', role: 'img',
                         'aria-label': 'status classes'});
  const list = el('dl', {class: 'classes'});
  for (const c of CLASSES) {
    const n = status[c] || 0;
    if (total > 0 && n > 0) {
      const seg = el('span', {class: `seg c${c[0]}`,
                              title: `${c}: ${fmt.int(n)}`});
      seg.style.flexGrow = String(n);
      bar.append(seg);
    }
    list.append(el('div', {}, el('dt', {text: c}),
                   el('dd', {'data-k': `${win}.status.${c}`,
                             text: fmt.int(n)})));
  }
  return [bar, list];
}

export function drawCards(summary) {
  const windows = summary.windows || {};
  fill(byId('cards'), Object.keys(windows).map((w) => {
    const s = windows[w];
    const status = s.status || {};
    const lat = s.latency_ms || {};
    const of = (c) => (s.requests ? (status[c] || 0) / s.requests : 0);
    return el('article', {class: 'card', 'data-window': w},
      el('h3', {text: `Last ${w}`}),
      el('dl', {class: 'stats'},
        stat('Requests', fmt.int(s.requests), `${w}.requests`),
        stat('Requests/s', fmt.rate(s.requests_per_second), `${w}.rps`),
        stat('4xx rate', fmt.pct(of('4xx')), `${w}.4xx_rate`),
        stat('5xx rate', fmt.pct(of('5xx')), `${w}.5xx_rate`),
        stat('p50', fmt.ms(lat.p50), `${w}.p50`),
        stat('p95', fmt.ms(lat.p95), `${w}.p95`),
        stat('p99', fmt.ms(lat.p99), `${w}.p99`),
        stat('Clients', fmt.int(s.unique_clients), `${w}.clients`),
        stat('Bytes in', fmt.bytes(s.bytes_in), `${w}.bytes_in`,
             `${fmt.int(s.bytes_in)} bytes`),
        stat('Bytes out', fmt.bytes(s.bytes_out), `${w}.bytes_out`,
             `${fmt.int(s.bytes_out)} bytes`),
        stat('Paths', fmt.int(s.paths), `${w}.paths`)),
      statusBar(status, s.requests, w));
  }));
}

// a table in its own horizontal scroller (phones)
function table(head, rows, cls) {
  return el('div', {class: 'scroll'}, el('table', {class: cls || 'small'},
    el('thead', {}, el('tr', {}, head.map((h) => el('th', {
      scope: 'col', class: h.num ? 'num' : null, text: h.label})))),
    el('tbody', {}, rows.map((r) => el('tr', {}, r.map((c, i) => el('td', {
      class: head[i].num ? 'num' : null}, c)))))));
}

function scope(a) {
  if (a.scope === 'overall') return 'all paths';
  const s = el('span', {class: 'key'});
  s.textContent = `${a.method} ${a.host} ${a.path}`;
  return s;
}

function metricValue(a, v) {
  return a.metric === 'p95_ms' ? fmt.ms(v) : fmt.pct(v);
}

export function drawAlerts(summary) {
  const alerts = summary.alerts || [];
  const box = byId('alerts');
  if (!alerts.length) {
    fill(box, el('p', {class: 'note', text: 'None.'}));
    return;
  }
  fill(box, table(
    [{label: 'Level'}, {label: 'Scope'}, {label: 'Metric'},
     {label: 'Value', num: true}, {label: 'Threshold', num: true},
     {label: 'Since'}],
    alerts.map((a) => [
      el('span', {class: `level ${a.level === 'critical' ? 'crit' : 'warn'}`,
                  text: a.level}),
      scope(a), a.metric, metricValue(a, a.value),
      metricValue(a, a.threshold), fmt.ago(a.since)]), 'small alerts'));
}

export function drawClients(summary) {
  const top = summary.top_clients || [];
  const rows = top.map((c) => [c.client, fmt.int(c.requests)]);
  if (summary.top_clients_other) {
    rows.push([el('em', {text: 'others'}),
               fmt.int(summary.top_clients_other)]);
  }
  fill(byId('clients'),
       el('p', {class: 'note',
                text: `Last ${summary.top_clients_window || '1h'}`}),
       rows.length ? table([{label: 'Client'},
                            {label: 'Requests', num: true}], rows)
                   : el('p', {class: 'note', text: 'No client addresses.'}));
}

export function drawPipeline(summary) {
  const p = summary.pipeline || {};
  const r = p.rings || {};
  const ring = el('dl', {class: 'stats'},
    stat('Seen', fmt.int(r.seen), 'ring.seen'),
    stat('Recorded', fmt.int(r.recorded), 'ring.recorded'),
    stat('Dropped', fmt.int(r.dropped), 'ring.dropped'),
    stat('Lost', fmt.int(r.lost), 'ring.lost'),
    stat('In rings', fmt.int(r.in_ring), 'ring.in_ring'),
    stat('Rings', fmt.int(r.count), 'ring.count'));
  const sinks = p.sinks || [];
  const rows = sinks.map((s) => {
    const spool = s.spool;
    const state = el('span', {class: `level ${s.up ? 'ok' : 'crit'}`,
                              text: s.up ? 'up' : 'down'});
    return [s.name, state, fmt.int(s.lag_records), fmt.ago(s.last_flush_at),
            spool ? `${fmt.int(spool.segments)} segments, ` +
                    `${fmt.bytes(spool.bytes)}${spool.full ? ', full' : ''}`
                  : '\u2013',
            s.last_error || ''];
  });
  fill(byId('pipeline'), ring,
       rows.length ? table([{label: 'Sink'}, {label: 'State'},
                            {label: 'Lag', num: true},
                            {label: 'Last flush'}, {label: 'Spool'},
                            {label: 'Last error'}], rows)
                   : el('p', {class: 'note',
                              text: 'No sinks: snapshots from memory.'}));
}
