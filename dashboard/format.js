// Numbers and times as people read them: thousands separators, units,
// local time.  Counts are always shown whole (exact), never rounded to
// "1.2k": the dashboard shows exactly what the API says.

const intFmt = new Intl.NumberFormat(undefined, {maximumFractionDigits: 0});
const fmts = new Map();

function fixed(digits) {
  if (!fmts.has(digits)) {
    fmts.set(digits, new Intl.NumberFormat(undefined, {
      minimumFractionDigits: digits, maximumFractionDigits: digits}));
  }
  return fmts.get(digits);
}

const DASH = '\u2013';

export function int(n) {
  return Number.isFinite(n) ? intFmt.format(n) : DASH;
}

export function num(n, digits = 1) {
  return Number.isFinite(n) ? fixed(digits).format(n) : DASH;
}

// 3 significant digits or more, e.g. 0.123, 1.23, 12.3, 1,234
function sig(n) {
  const a = Math.abs(n);
  return num(n, a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3);
}

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function bytes(n) {
  if (!Number.isFinite(n)) return DASH;
  let i = 0;
  let v = n;
  while (v >= 1024 && i < BYTE_UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${int(v)} B` : `${sig(v)} ${BYTE_UNITS[i]}`;
}

export function ms(v) {
  if (!Number.isFinite(v)) return DASH;
  if (v === 0) return '0 ms';
  return v >= 1000 ? `${sig(v / 1000)} s` : `${sig(v)} ms`;
}

// a fraction as a percentage
export function pct(f) {
  if (!Number.isFinite(f)) return DASH;
  return `${num(f * 100, f === 0 ? 0 : f < 0.001 ? 3 : 2)} %`;
}

export function rate(perSecond) {
  if (!Number.isFinite(perSecond)) return DASH;
  return `${sig(perSecond)}/s`;
}

export function duration(seconds) {
  if (!Number.isFinite(seconds)) return DASH;
  if (seconds < 10) return `${num(seconds, 1)} s`;
  if (seconds < 120) return `${int(seconds)} s`;
  if (seconds < 7200) return `${int(seconds / 60)} min`;
  if (seconds < 172800) return `${num(seconds / 3600, 1)} h`;
  return `${num(seconds / 86400, 1)} d`;
}

const dateTime = new Intl.DateTimeFormat(undefined, {
  year: 'numeric', month: 'short', day: 'numeric',
  hour: '2-digit', minute: '2-digit', second: '2-digit'});

export function time(iso) {
  if (!iso) return DASH;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? DASH : dateTime.format(d);
}

// "5 s ago" from an ISO time, relative to now (ms since the epoch)
export function ago(iso, now = Date.now()) {
  if (!iso) return DASH;
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return DASH;
  return `${duration(Math.max(0, (now - t) / 1000))} ago`;
}
