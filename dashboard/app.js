// The dashboard: wires the controls to the state in the URL and redraws
// every panel from the admin API every few seconds, unless paused or
// hidden.

import * as api from './api.js';
import {drawChart} from './chart.js';
import {byId, el, fill} from './dom.js';
import * as drill from './drill.js';
import * as panels from './panels.js';
import * as st from './state.js';
import * as table from './table.js';

const REFRESH_MS = 3000;
const DEBOUNCE_MS = 300;
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

let state = st.parse(location.search);
let paused = false;
let timer = null;
let cycles = 0;                  // refreshes completed
const seq = {paths: 0, trends: 0, drill: 0, summary: 0};
const hostsSeen = new Set();
const methodsSeen = new Set(METHODS);
let rows = [];                   // the table's current rows

// The latest answer of a kind wins: an older one that arrives late is
// dropped.  run(kind, fn) calls fn(isCurrent).
async function run(kind, fn) {
  const mine = ++seq[kind];
  await fn(() => mine === seq[kind]);
}

function options(select, values, current, label) {
  fill(select, values.map((v) => {
    const o = el('option', {value: v});
    o.textContent = label ? label(v) : v;
    o.selected = String(v) === String(current);
    return o;
  }));
}

// range buttons; drawn once, then only their pressed state changes (a
// button that keeps the focus must not be replaced)
function tabs(box, values, current, onPick) {
  if (box.childElementCount === values.length) {
    for (const b of box.children) {
      b.setAttribute('aria-pressed', String(b.dataset.range === current));
    }
    return;
  }
  fill(box, values.map((v) => {
    const b = el('button', {type: 'button', 'data-range': v,
                            'aria-pressed': String(v === current)});
    b.textContent = v;
    b.addEventListener('click', () => onPick(b.dataset.range));
    return b;
  }));
}

function change(patch, what) {
  state = {...state, ...patch};
  st.save(state);
  what();
}

// paths table -------------------------------------------------------------

function drawMethodOptions() {
  options(byId('f-method'), ['', ...[...methodsSeen].sort()], state.method,
          (v) => v || 'any');
}

function openDrill(row) {
  change({dhost: row.host, dmethod: row.method, dpath: row.path},
         () => loadDrill(true));
}

async function loadPaths() {
  await run('paths', async (current) => {
    const answer = await api.paths(st.pathsQuery(state));
    if (!current()) return;
    rows = answer.data || [];
    let newMethod = false;
    for (const r of rows) {
      hostsSeen.add(r.host);
      if (!methodsSeen.has(r.method)) {
        methodsSeen.add(r.method);
        newMethod = true;
      }
    }
    if (newMethod) drawMethodOptions();
    fill(byId('hosts'), [...hostsSeen].sort().slice(0, 200)
      .map((h) => el('option', {value: h})));
    table.drawHead(state, sortBy);
    table.drawRows(answer, state, openDrill);
    byId('paths').dataset.version = answer.metadata.version;
    byId('paths').dataset.total = answer.pagination.total;
  });
}

function sortBy(key) {
  const order = state.sort === key && state.order === 'desc' ? 'asc'
                                                             : 'desc';
  change({sort: key, order, page: 1}, loadPaths);
}

// trends and drill-down ---------------------------------------------------

async function loadTrends() {
  tabs(byId('range'), st.RANGES, state.range,
       (v) => change({range: v}, loadTrends));
  await run('trends', async (current) => {
    const answer = await api.trends(state.range);
    if (current()) drawChart(byId('trends'), answer.data, state.range);
  });
}

function drillRow(key) {
  return rows.find((r) => r.host === key.host && r.method === key.method &&
                          r.path === key.path) || null;
}

// facts from the table's row; the trend again only when asked (a new
// path or range) or at a refresh
async function loadDrill(trend) {
  const key = drill.keyOf(state);
  if (!key) {
    drill.hide();
    return;
  }
  drill.drawFacts(key, drillRow(key));
  tabs(byId('drill-range'), st.RANGES, state.drange,
       (v) => change({drange: v}, () => loadDrill(true)));
  if (!trend) return;
  await run('drill', async (current) => {
    if (current()) await drill.drawTrend(key, state.drange);
  });
}

// the refresh cycle -------------------------------------------------------

async function loadSummary() {
  await run('summary', async (current) => {
    const [summary, health] = await Promise.allSettled([api.summary(),
                                                        api.health()]);
    if (!current()) return;
    const h = health.status === 'fulfilled' ? health.value : null;
    if (summary.status === 'rejected') {
      panels.drawBanner(h, null, summary.reason.message);
      return;
    }
    const {data, metadata} = summary.value;
    panels.drawBanner(h, metadata, null);
    panels.drawHeader(data, metadata);
    panels.drawCards(data);
    panels.drawAlerts(data);
    panels.drawClients(data);
    panels.drawPipeline(data);
  });
}

async function refresh() {
  clearTimeout(timer);
  timer = null;
  const t0 = performance.now();
  const parts = await Promise.allSettled([
    loadSummary(), loadPaths().then(() => loadDrill(true)), loadTrends()]);
  for (const p of parts) {
    if (p.status === 'rejected') {
      panels.drawBanner(null, null, p.reason.message);
    }
  }
  cycles++;
  if (cycles === 1) {
    // after the frame that shows it (bench/dashboard.pl reads this)
    requestAnimationFrame(() => setTimeout(
      () => performance.mark('pathstats-first-render')));
  }
  document.body.dataset.cycles = String(cycles);
  document.body.dataset.refreshMs = (performance.now() - t0).toFixed(1);
  schedule();
}

function schedule() {
  clearTimeout(timer);
  timer = paused || document.hidden ? null : setTimeout(refresh, REFRESH_MS);
}

function setPaused(p) {
  paused = p;
  const b = byId('pause');
  b.setAttribute('aria-pressed', String(paused));
  b.textContent = paused ? 'Resume' : 'Pause';
  document.body.classList.toggle('paused', paused);
  if (paused) {
    schedule();
  } else {
    refresh();
  }
}

// controls ----------------------------------------------------------------

function debounce(fn) {
  let t = null;
  return () => {
    clearTimeout(t);
    t = setTimeout(fn, DEBOUNCE_MS);
  };
}

function setup() {
  const q = byId('q');
  const host = byId('f-host');
  q.value = state.q;
  host.value = state.host;
  if (state.method) methodsSeen.add(state.method);
  drawMethodOptions();
  options(byId('f-window'), st.WINDOWS, state.window, (w) => `last ${w}`);
  options(byId('f-limit'), st.LIMITS, state.limit);

  q.addEventListener('input', debounce(() => {
    if (q.value !== state.q) change({q: q.value, page: 1}, loadPaths);
  }));
  host.addEventListener('input', debounce(() => {
    const v = host.value.trim();
    if (v !== state.host) change({host: v, page: 1}, loadPaths);
  }));
  byId('f-method').addEventListener('change', (e) =>
    change({method: e.target.value, page: 1}, loadPaths));
  byId('f-window').addEventListener('change', (e) =>
    change({window: e.target.value, page: 1}, loadPaths));
  byId('f-limit').addEventListener('change', (e) =>
    change({limit: Number(e.target.value), page: 1}, loadPaths));
  byId('filters').addEventListener('submit', (e) => e.preventDefault());
  byId('prev').addEventListener('click', () =>
    change({page: Math.max(1, state.page - 1)}, loadPaths));
  byId('next').addEventListener('click', () =>
    change({page: state.page + 1}, loadPaths));
  byId('drill-close').addEventListener('click', () =>
    change({dhost: null, dmethod: null, dpath: null}, () => loadDrill()));
  byId('pause').addEventListener('click', () => setPaused(!paused));
  document.addEventListener('visibilitychange', () => {
    if (document.hidden) {
      schedule();
    } else if (!paused) {
      refresh();
    }
  });
  table.drawHead(state, sortBy);
}

performance.mark('pathstats-start');
setup();
refresh();
