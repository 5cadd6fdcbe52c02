// Building elements without innerHTML (no markup from data ever reaches the parser), and
// the number and date formats of the console.

import { language } from './i18n.js';

/**
 * `h('button', { class: 'x', onclick: fn, disabled: true }, 'text', child)`.
 * `on*` keys add listeners, `dataset` sets data-*, `false`/`null` attributes are left out.
 */
export function h(tag, attrs = {}, ...children) {
  const el = tag.includes(':')
    ? document.createElementNS('http://www.w3.org/2000/svg', tag.split(':')[1])
    : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === false || value === null || value === undefined) continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'text') el.textContent = value;
    else if (key === 'value' && 'value' in el) el.value = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces the content of `el`. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A table from column headers and rows of cells. */
export function table(headers, rows, attrs = {}) {
  return h('table', attrs,
    h('thead', {}, h('tr', {}, headers.map((x) => h('th', {}, x)))),
    h('tbody', {}, rows));
}

const locale = () => (language() === 'en' ? 'en-GB' : 'zh-CN');

export function num(n, digits = 0) {
  return Number(n ?? 0).toLocaleString(locale(), { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function percent(p) {
  return `${num(p, 1)}%`;
}

export function dateTime(iso) {
  return iso ? new Date(iso).toLocaleString(locale(), { hour12: false }) : '';
}

/** Today as YYYY-MM-DD in the browser's zone. */
export function isoToday(offsetDays = 0) {
  const d = new Date(Date.now() + offsetDays * 86400000);
  const pad = (x) => String(x).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** Calls `fn` at most once per `ms`, with the latest arguments. */
export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
