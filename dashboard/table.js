// The paths table over /api/paths: one page of rows as the API returns
// it (the API filters, sorts and pages; the table never reorders), with
// sortable column headers and the pager's text.

import {byId, el, fill, setText} from './dom.js';
import * as fmt from './format.js';

// sort: the /api/paths sort key of a sortable column
const COLUMNS = [
  {id: 'path', label: 'Path'},
  {id: 'method', label: 'Method'},
  {id: 'host', label: 'Host'},
  {id: 'requests', label: 'Requests', sort: 'requests', num: true},
  {id: 'errors', label: '5xx', sort: 'errors', num: true},
  {id: 'error_rate', label: '5xx rate', sort: 'error_rate', num: true},
  {id: 'p95', label: 'p95', sort: 'p95', num: true},
  {id: 'bytes_out', label: 'Bytes out', sort: 'bytes', num: true},
  {id: 'last_seen', label: 'Last seen', sort: 'last_seen'},
];

let drawnRows = '';

function cell(col, value, text, title) {
  return el('td', {class: col.num ? 'num' : null, 'data-col': col.id,
                   'data-value': value, title}, text);
}

function flags(row) {
  return [
    row.key_truncated ? el('span', {class: 'flag', title: 'the key was ' +
      'cut at pathstats_key_max_length', text: 'truncated'}) : null,
    row.normalized ? el('span', {class: 'flag', title: 'id-like ' +
      'segments replaced by placeholders', text: 'normalized'}) : null,
  ];
}

function rowOf(row, onOpen) {
  const rate = row.requests ? row.errors / row.requests : 0;
  const open = el('button', {type: 'button', class: 'linkish',
                             title: 'Show this path'});
  open.textContent = row.path === '' ? '(empty)' : row.path;
  open.addEventListener('click', (ev) => {
    ev.stopPropagation();
    onOpen(row);
  });
  const [c] = COLUMNS;
  const tr = el('tr', {on: {click: () => onOpen(row)}},
    el('td', {'data-col': c.id, class: 'path'}, open, flags(row)),
    cell(COLUMNS[1], null, row.method),
    cell(COLUMNS[2], null, row.host),
    cell(COLUMNS[3], row.requests, fmt.int(row.requests)),
    cell(COLUMNS[4], row.errors, fmt.int(row.errors)),
    cell(COLUMNS[5], rate, fmt.pct(rate)),
    cell(COLUMNS[6], row.latency_ms.p95, fmt.ms(row.latency_ms.p95)),
    cell(COLUMNS[7], row.bytes_out, fmt.bytes(row.bytes_out),
         `${fmt.int(row.bytes_out)} bytes`),
    cell(COLUMNS[8], row.last_seen, fmt.ago(row.last_seen),
         fmt.time(row.last_seen)));
  return tr;
}

// The header row: sortable columns are buttons; onSort(sortKey).  Drawn
// again only when the sort changed, so that a focused button stays.
export function drawHead(state, onSort) {
  const head = byId('paths-head');
  const drawn = `${state.sort} ${state.order}`;
  if (head.dataset.drawn === drawn) return;
  head.dataset.drawn = drawn;
  fill(head, COLUMNS.map((col) => {
    if (!col.sort) {
      return el('th', {scope: 'col', text: col.label});
    }
    const active = state.sort === col.sort;
    const th = el('th', {
      scope: 'col', class: col.num ? 'num' : null,
      'aria-sort': active ? (state.order === 'asc' ? 'ascending'
                                                   : 'descending') : null});
    const b = el('button', {type: 'button', 'data-sort': col.sort,
                            class: active ? 'sorted' : null});
    b.textContent = col.label + (active ? (state.order === 'asc' ? ' \u25b2'
                                                                 : ' \u25bc')
                                        : '');
    b.addEventListener('click', () => onSort(col.sort));
    th.append(b);
    return th;
  }));
}

// The rows of one /api/paths answer; onOpen(row) opens a drill-down.
// Rows that did not change are not drawn again, and a focused row's
// button keeps the focus when they did.
export function drawRows(answer, state, onOpen) {
  const body = byId('paths-body');
  const rows = answer.data || [];
  const drawn = JSON.stringify(rows);
  const focused = [...body.querySelectorAll('button')]
    .indexOf(document.activeElement);
  if (drawnRows === drawn) {
    // the same rows: only "last seen" moves on
    body.querySelectorAll('[data-col="last_seen"]').forEach((td, i) => {
      td.textContent = fmt.ago(rows[i].last_seen);
    });
  } else if (rows.length === 0) {
    fill(body, el('tr', {}, el('td', {colspan: COLUMNS.length,
                                      class: 'note',
                                      text: 'No path matches.'})));
  } else {
    fill(body, rows.map((r) => rowOf(r, onOpen)));
    const buttons = body.querySelectorAll('button');
    if (focused >= 0 && buttons.length) {
      buttons[Math.min(focused, buttons.length - 1)].focus();
    }
  }
  drawnRows = drawn;

  const pg = answer.pagination || {};
  const info = answer.metadata && answer.metadata.window_info;
  let caption = `${fmt.int(pg.total)} paths in the last ${state.window}`;
  if (info && info.rows_shown < info.rows_total) {
    caption += ` (the ${fmt.int(info.rows_shown)} most requested of ` +
      `${fmt.int(info.rows_total)})`;
  }
  setText('paths-caption', caption);
  setText('page-info', `Page ${fmt.int(pg.page)} of ` +
          `${fmt.int(Math.max(1, pg.total_pages || 0))}`);
  byId('prev').disabled = !pg.has_prev;
  byId('next').disabled = !pg.has_next;
}
