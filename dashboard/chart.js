// A time-series chart drawn as SVG: requests and errors on the left
// axis, p95 latency on the right one, time below.  Hovering (or the
// arrow keys, when the chart has the focus) shows the values of the
// nearest point.

import {clear, el, svg} from './dom.js';
import * as fmt from './format.js';

const W = 720;
const H = 240;
const PAD = {left: 56, right: 60, top: 12, bottom: 28};

const SERIES = [
  {key: 'requests', label: 'requests', axis: 'left', cls: 's-req'},
  {key: 'errors', label: 'errors (5xx)', axis: 'left', cls: 's-err'},
  {key: 'p95_ms', label: 'p95 latency', axis: 'right', cls: 's-p95'},
];

// a "nice" upper bound and 4 ticks for values up to max
function ticks(max) {
  if (!(max > 0)) return {top: 1, step: 0.25};
  const raw = max / 4;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  return {top: step * 4, step};
}

const hourFmt = new Intl.DateTimeFormat(undefined,
                                        {hour: '2-digit', minute: '2-digit'});
const dayFmt = new Intl.DateTimeFormat(undefined,
                                       {month: 'short', day: 'numeric'});

function timeLabel(t, range) {
  return range === '24h' ? hourFmt.format(t) : dayFmt.format(t);
}

// Draws points ([{t, requests, errors, p95_ms}], oldest first) of range
// into container; returns nothing.  An empty series says so.
export function drawChart(container, points, range) {
  clear(container);

  if (!points || points.length === 0) {
    container.append(el('p', {class: 'note', text: 'No history yet.'}));
    return;
  }

  const n = points.length;
  const times = points.map((p) => new Date(p.t));
  const left = ticks(Math.max(...points.map((p) => p.requests || 0)));
  const right = ticks(Math.max(...points.map((p) => p.p95_ms || 0)));
  const iw = W - PAD.left - PAD.right;
  const ih = H - PAD.top - PAD.bottom;
  const x = (i) => PAD.left + (n === 1 ? iw / 2 : (i * iw) / (n - 1));
  const yl = (v) => PAD.top + ih - (v / left.top) * ih;
  const yr = (v) => PAD.top + ih - (v / right.top) * ih;

  const root = svg('svg', {
    viewBox: `0 0 ${W} ${H}`, class: 'plot', role: 'img',
    'aria-label': `requests, errors and p95 latency over ${range}`});

  // grid and axes
  for (let i = 0; i <= 4; i++) {
    const y = PAD.top + ih - (i * ih) / 4;
    root.append(
      svg('line', {class: 'grid', x1: PAD.left, x2: W - PAD.right,
                   y1: y, y2: y}),
      svg('text', {class: 'tick', x: PAD.left - 6, y: y + 4,
                   'text-anchor': 'end', text: fmt.int(left.step * i)}),
      svg('text', {class: 'tick', x: W - PAD.right + 6, y: y + 4,
                   text: fmt.ms(right.step * i)}));
  }

  const every = Math.max(1, Math.ceil(n / 8));
  for (let i = 0; i < n; i += every) {
    root.append(svg('text', {class: 'tick', x: x(i), y: H - 8,
                             'text-anchor': 'middle',
                             text: timeLabel(times[i], range)}));
  }

  // the series
  for (const s of SERIES) {
    const y = s.axis === 'left' ? yl : yr;
    let d = '';
    let pen = 'M';
    points.forEach((p, i) => {
      const v = p[s.key];
      if (v === null || v === undefined) {
        pen = 'M';
        return;
      }
      d += `${pen}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
      pen = 'L';
    });
    if (d) root.append(svg('path', {class: `line ${s.cls}`, d}));
  }

  // hover: a guide line, dots and a readout
  const guide = svg('line', {class: 'guide', y1: PAD.top,
                             y2: PAD.top + ih, visibility: 'hidden'});
  const dots = SERIES.map((s) => svg('circle', {class: `dot ${s.cls}`,
                                                r: 3.5,
                                                visibility: 'hidden'}));
  const overlay = svg('rect', {class: 'overlay', x: PAD.left, y: PAD.top,
                               width: iw, height: ih});
  root.append(guide, ...dots, overlay);

  const readout = el('p', {class: 'readout', 'aria-live': 'polite'});
  const legend = el('p', {class: 'legend'},
                    SERIES.map((s) => el('span', {class: `swatch ${s.cls}`,
                                                  text: s.label})));

  let at = -1;
  const show = (i) => {
    at = Math.max(0, Math.min(n - 1, i));
    const p = points[at];
    guide.setAttribute('x1', x(at));
    guide.setAttribute('x2', x(at));
    guide.setAttribute('visibility', 'visible');
    SERIES.forEach((s, k) => {
      const v = p[s.key];
      if (v === null || v === undefined) {
        dots[k].setAttribute('visibility', 'hidden');
        return;
      }
      dots[k].setAttribute('cx', x(at));
      dots[k].setAttribute('cy', (s.axis === 'left' ? yl : yr)(v));
      dots[k].setAttribute('visibility', 'visible');
    });
    readout.textContent = `${fmt.time(p.t)}: ${fmt.int(p.requests)} ` +
      `requests, ${fmt.int(p.errors)} errors, p95 ${fmt.ms(p.p95_ms)}`;
  };

  overlay.addEventListener('mousemove', (ev) => {
    const box = root.getBoundingClientRect();
    const px = ((ev.clientX - box.left) / box.width) * W;
    show(n === 1 ? 0 : Math.round(((px - PAD.left) / iw) * (n - 1)));
  });

  const frame = el('div', {class: 'frame', tabindex: 0,
                           'aria-label': 'chart: arrow keys move along it'},
                   root);
  frame.addEventListener('keydown', (ev) => {
    if (ev.key === 'ArrowLeft' || ev.key === 'ArrowRight') {
      show(at < 0 ? n - 1 : at + (ev.key === 'ArrowLeft' ? -1 : 1));
      ev.preventDefault();
    }
  });

  const sum = (k) => points.reduce((a, p) => a + (p[k] || 0), 0);
  const totals = el('p', {class: 'totals', 'data-points': n,
                          'data-requests': sum('requests'),
                          'data-errors': sum('errors'),
                          text: `${fmt.int(n)} points: ` +
                                `${fmt.int(sum('requests'))} requests, ` +
                                `${fmt.int(sum('errors'))} errors`});
  readout.textContent = 'Hover or use the arrow keys for the values.';
  container.append(frame, legend, totals, readout);
}
