// A small SVG chart of the per-day series: bars for counted steps, a line for active
// participants, each on its own scale. Drawn with DOM calls (no library, no inline style).

import { h, num } from './dom.js';

const W = 1400;
const H = 240;
const PAD = { left: 64, right: 56, top: 16, bottom: 28 };

/** `series`: `[{date, active, enrolled, counted_steps}]`, oldest first. */
export function dayChart(series, labels) {
  const svg = h('svg:svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': labels.title });
  if (!series.length) return svg;
  const innerW = W - PAD.left - PAD.right;
  const innerH = H - PAD.top - PAD.bottom;
  const maxSteps = Math.max(1, ...series.map((d) => d.counted_steps));
  const maxActive = Math.max(1, ...series.map((d) => d.active));
  const slot = innerW / series.length;
  const barWidth = Math.max(1, Math.min(48, slot * 0.7));
  const x = (i) => PAD.left + i * slot;
  const ySteps = (v) => PAD.top + innerH - (v / maxSteps) * innerH;
  const yActive = (v) => PAD.top + innerH - (v / maxActive) * innerH;

  svg.append(
    h('svg:line', { x1: PAD.left, y1: PAD.top + innerH, x2: W - PAD.right, y2: PAD.top + innerH, class: 'axis' }),
    h('svg:text', { x: PAD.left - 6, y: PAD.top + 10, class: 'tick steps', 'text-anchor': 'end' }, num(maxSteps)),
    h('svg:text', { x: PAD.left - 6, y: PAD.top + innerH, class: 'tick steps', 'text-anchor': 'end' }, '0'),
    h('svg:text', { x: W - PAD.right + 6, y: PAD.top + 10, class: 'tick active' }, num(maxActive)),
    h('svg:text', { x: W - PAD.right + 6, y: PAD.top + innerH, class: 'tick active' }, '0'),
  );
  series.forEach((d, i) => {
    const top = ySteps(d.counted_steps);
    svg.append(h('svg:rect', {
      x: x(i) + (slot - barWidth) / 2,
      y: top,
      width: barWidth,
      height: PAD.top + innerH - top,
      class: 'bar',
      dataset: { date: d.date },
    }, h('svg:title', {}, `${d.date} · ${labels.steps} ${num(d.counted_steps)} · ${labels.active} ${num(d.active)}`)));
  });
  const points = series.map((d, i) => `${x(i) + slot / 2},${yActive(d.active)}`).join(' ');
  svg.append(h('svg:polyline', { points, class: 'line' }));
  series.forEach((d, i) => svg.append(h('svg:circle', { cx: x(i) + slot / 2, cy: yActive(d.active), r: 3, class: 'dot' })));
  const every = Math.max(1, Math.ceil(series.length / 10));
  series.forEach((d, i) => {
    if (i % every === 0 || i === series.length - 1) {
      svg.append(h('svg:text', { x: x(i) + slot / 2, y: H - 8, class: 'tick', 'text-anchor': 'middle' }, d.date.slice(5)));
    }
  });
  return svg;
}
