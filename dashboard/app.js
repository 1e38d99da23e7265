// The dashboard: wires the controls to the state in the URL and redraws
// every panel from the admin API every few seconds, unless paused or
// hidden.  The first load draws the first screen (header, cards, alerts,
// the paths table) from one summary and one paths request, which the
// page preloads, and the panels below it once that is on the screen.

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
let health = null;               // the latest {status, body} of /health
let summary = null;              // the latest /api/summary answer
let summaryError = null;         // why the latest one failed, if it did
let windows = st.WINDOWS;        // the paths' windows the API offers
let ranges = st.RANGES;          // the trends' ranges the API offers

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
    const w = offered(answer.metadata.windows, st.WINDOWS, st.DAY_WINDOWS,
                      state.window);
    if (w.length !== windows.length) {
      windows = w;
      drawWindowOptions();
    }
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
  tabs(byId('range'), ranges, state.range,
       (v) => change({range: v}, loadTrends));
  await run('trends', async (current) => {
    const answer = await api.trends(state.range);
    if (!current()) return;
    const r = offered(answer.metadata.ranges, st.RANGES, st.LONG_RANGES,
                      state.range);
    if (r.length !== ranges.length) {
      ranges = r;
      tabs(byId('range'), ranges, state.range,
           (v) => change({range: v}, loadTrends));
    }
    drawChart(byId('trends'), answer.data, state.range);
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

// The banner from what the latest answers say: /health's reasons, or
// the summary's own (stale, the aggregator's problems) until /health
// has been asked.
function drawBanner() {
  const ok = summary && !summaryError;
  panels.drawBanner(health, ok ? summary.metadata : null, summaryError,
                    ok ? summary.data.health : null);
}

// The summary's panels, with /health unless firstScreen: then only the
// header, banner, cards and alerts.
async function loadSummary(firstScreen) {
  await run('summary', async (current) => {
    const [answer, h] = await Promise.allSettled([
      api.summary(), firstScreen ? health : api.health()]);
    if (!current()) return;
    if (!firstScreen) health = h.status === 'fulfilled' ? h.value : null;
    summaryError = answer.status === 'rejected' ? answer.reason.message
                                                : null;
    if (!summaryError) summary = answer.value;
    drawBanner();
    if (summaryError) return;
    const {data, metadata} = summary;
    panels.drawHeader(data, metadata);
    panels.drawCards(data);
    panels.drawAlerts(data);
    if (!firstScreen) drawBelow();
  });
}

// the summary's panels below the first screen
function drawBelow() {
  if (summary) {
    panels.drawClients(summary.data);
    panels.drawPipeline(summary.data);
  }
}

async function loadHealth() {
  health = await api.health().catch(() => null);
  drawBanner();
}

function reportFailures(parts) {
  for (const p of parts) {
    if (p.status === 'rejected') {
      panels.drawBanner(null, null, p.reason.message);
    }
  }
}

// resolves after the next frame has been drawn (at once in a hidden
// tab, which draws none)
function afterFrame() {
  return new Promise((resolve) => {
    if (document.hidden) {
      resolve();
    } else {
      requestAnimationFrame(() => setTimeout(resolve));
    }
  });
}

function cycleDone(t0) {
  cycles++;
  document.body.dataset.cycles = String(cycles);
  document.body.dataset.refreshMs = (performance.now() - t0).toFixed(1);
  schedule();
}

// The first load: the first screen, then the rest.  The marks, each
// after the frame that shows it, are what bench/dashboard.pl reads.
async function first() {
  const t0 = performance.now();
  reportFailures(await Promise.allSettled([loadSummary(true),
                                           loadPaths()]));
  await afterFrame();
  performance.mark('pathstats-first-screen');
  drawBelow();
  reportFailures(await Promise.allSettled([loadHealth(), loadDrill(true),
                                           loadTrends()]));
  await afterFrame();
  performance.mark('pathstats-first-render');
  cycleDone(t0);
}

async function refresh() {
  clearTimeout(timer);
  timer = null;
  const t0 = performance.now();
  reportFailures(await Promise.allSettled([
    loadSummary(false), loadPaths().then(() => loadDrill(true)),
    loadTrends()]));
  cycleDone(t0);
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

function drawWindowOptions() {
  options(byId('f-window'), windows, state.window, (w) => `last ${w}`);
}

// The windows and ranges the API answers with (metadata.windows,
// .ranges): the longer views, from PostgreSQL's daily rollups, are offered
// once it serves them; the choice in the URL is kept either way.
function offered(list, base, extra, current) {
  if (!Array.isArray(list)) return base;
  return [...base, ...extra.filter((v) => list.includes(v) || v === current)];
}

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
  drawWindowOptions();
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
first();
