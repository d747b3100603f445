// Line charts drawn as inline SVG (no library, no inline styles: colours come from classes
// in portal.css). Each chart is an image with a text alternative; the numbers are also in a
// table next to it.

import { formatDateTime, formatDayMonth, formatNumber } from './format.js';

const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 640;
const HEIGHT = 260;
const PAD = { top: 28, right: 24, bottom: 36, left: 52 };
let counter = 0;

function el(name, attributes = {}, text = null) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (text !== null) node.textContent = text;
  return node;
}

/** Round tick values covering [min, max]. */
function ticks(min, max, wanted = 5) {
  if (min === max) {
    min -= 1;
    max += 1;
  }
  const raw = (max - min) / wanted;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) || raw;
  const start = Math.floor(min / step) * step;
  const end = Math.ceil(max / step) * step;
  const values = [];
  for (let v = start; v <= end + step / 2; v += step) values.push(Number(v.toFixed(10)));
  return values;
}

/**
 * A line chart.
 * @param {object} options
 * @param {string} options.title   accessible name
 * @param {string} options.summary text alternative (what the chart shows)
 * @param {Date} options.from      start of the period
 * @param {Date} options.to        end of the period
 * @param {number} options.decimals
 * @param {string} options.unit
 * @param {Array<{label: string, points: Array<{time: Date, value: number}>}>} options.series
 */
export function lineChart({ title, summary, from, to, decimals, unit, series }) {
  counter += 1;
  const id = `chart-${counter}`;
  const svg = el('svg', {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    role: 'img',
    'aria-labelledby': `${id}-title ${id}-desc`,
    class: 'chart',
    focusable: 'false',
  });
  svg.append(el('title', { id: `${id}-title` }, title), el('desc', { id: `${id}-desc` }, summary));

  const values = series.flatMap((s) => s.points.map((p) => p.value));
  const yTicks = ticks(Math.min(...values), Math.max(...values));
  const yMin = yTicks[0];
  const yMax = yTicks[yTicks.length - 1];
  const t0 = from.getTime();
  const t1 = Math.max(to.getTime(), t0 + 1);
  const x = (time) => PAD.left + ((time.getTime() - t0) / (t1 - t0)) * (WIDTH - PAD.left - PAD.right);
  const y = (value) => HEIGHT - PAD.bottom - ((value - yMin) / (yMax - yMin || 1)) * (HEIGHT - PAD.top - PAD.bottom);

  const grid = el('g', { class: 'grid', 'aria-hidden': 'true' });
  for (const tick of yTicks) {
    grid.append(el('line', { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(tick), y2: y(tick) }));
    grid.append(
      el('text', { x: PAD.left - 8, y: y(tick) + 4, 'text-anchor': 'end', class: 'tick' }, formatNumber(tick, decimals)),
    );
  }
  const days = (t1 - t0) / 86_400_000;
  const xCount = Math.min(6, Math.max(2, Math.round(days)));
  for (let i = 0; i <= xCount; i += 1) {
    const time = new Date(t0 + ((t1 - t0) * i) / xCount);
    const anchor = i === xCount ? 'end' : 'middle';
    grid.append(
      el('text', { x: x(time), y: HEIGHT - PAD.bottom + 20, 'text-anchor': anchor, class: 'tick' }, formatDayMonth(time)),
    );
  }
  grid.append(
    el('line', { x1: PAD.left, x2: WIDTH - PAD.right, y1: HEIGHT - PAD.bottom, y2: HEIGHT - PAD.bottom, class: 'axis' }),
  );
  grid.append(el('text', { x: 2, y: 12, class: 'tick unit' }, unit));
  svg.append(grid);

  series.forEach((s, index) => {
    const group = el('g', { class: `series series-${index + 1}` });
    const points = [...s.points].sort((a, b) => a.time - b.time);
    const d = points.map((p, i) => `${i ? 'L' : 'M'}${x(p.time).toFixed(1)},${y(p.value).toFixed(1)}`).join(' ');
    group.append(el('path', { d, class: 'line' }));
    for (const p of points) {
      const dot = el('circle', { cx: x(p.time).toFixed(1), cy: y(p.value).toFixed(1), r: 3.5, class: 'dot' });
      dot.append(el('title', {}, `${s.label}: ${formatNumber(p.value, decimals)} ${unit}, ${formatDateTime(p.time)}`));
      group.append(dot);
    }
    svg.append(group);
  });
  return svg;
}

/** A legend for several series (line style and colour both tell them apart). */
export function legend(labels) {
  const list = document.createElement('ul');
  list.className = 'legend';
  labels.forEach((label, index) => {
    const item = document.createElement('li');
    item.className = `legend-${index + 1}`;
    const swatch = el('svg', { viewBox: '0 0 24 8', class: 'swatch', 'aria-hidden': 'true', focusable: 'false' });
    swatch.append(el('line', { x1: 0, x2: 24, y1: 4, y2: 4, class: `line series-line-${index + 1}` }));
    item.append(swatch, document.createTextNode(label));
    list.append(item);
  });
  return list;
}
