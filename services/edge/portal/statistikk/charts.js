// SVG time-series charts, drawn with DOM calls (no inline style, no library). A suppressed
// cell is never drawn as a value: it gets a hatched marker on the axis instead.

import { formatCount, periodLabel, SUPPRESSED_TEXT } from './labels.js';

const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 720;
const HEIGHT = 240;
const LEFT = 56;
const RIGHT = 12;
const TOP = 12;
const BOTTOM = 36;

function el(name, attributes = {}, text) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) {
    node.setAttribute(key, String(value));
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

// A round upper bound for the y axis.
function niceMax(max) {
  if (max <= 0) return 10;
  const magnitude = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (step * magnitude >= max) return step * magnitude;
  }
  return 10 * magnitude;
}

// Draw `series` ([{metric, label, values: (number|null)[]}]) over `periods` into `container`.
export function lineChart(container, { periods, series, granularity, title }) {
  container.replaceChildren();
  const svg = el('svg', {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    role: 'img',
    'aria-label': title,
    class: 'diagram-svg',
  });
  const defs = el('defs');
  const pattern = el('pattern', {
    id: `skravur-${container.id}`,
    width: 6,
    height: 6,
    patternUnits: 'userSpaceOnUse',
    patternTransform: 'rotate(45)',
  });
  pattern.append(el('rect', { width: 6, height: 6, class: 'skravur-bunn' }));
  pattern.append(el('line', { x1: 0, y1: 0, x2: 0, y2: 6, class: 'skravur-strek' }));
  defs.append(pattern);
  svg.append(defs);

  const values = series.flatMap((s) => s.values).filter((v) => v !== null);
  const max = niceMax(Math.max(0, ...values));
  const plotWidth = WIDTH - LEFT - RIGHT;
  const plotHeight = HEIGHT - TOP - BOTTOM;
  const x = (i) => LEFT + (periods.length <= 1 ? plotWidth / 2 : (i * plotWidth) / (periods.length - 1));
  const y = (v) => TOP + plotHeight - (v / max) * plotHeight;

  // Grid and y labels.
  for (let t = 0; t <= 4; t += 1) {
    const value = (max * t) / 4;
    svg.append(el('line', { x1: LEFT, x2: WIDTH - RIGHT, y1: y(value), y2: y(value), class: 'rutenett' }));
    svg.append(el('text', { x: LEFT - 6, y: y(value) + 4, class: 'akse-tekst', 'text-anchor': 'end' }, formatCount(value)));
  }
  // X labels: at most 8.
  const every = Math.max(1, Math.ceil(periods.length / 8));
  const last = periods.length - 1;
  periods.forEach((period, i) => {
    // Every `every`-th period, and the last one unless it would crowd the one before.
    if ((i % every === 0 && (i === last || last - i >= every / 2)) || i === last) {
      svg.append(el('text', { x: x(i), y: HEIGHT - 12, class: 'akse-tekst', 'text-anchor': 'middle' }, periodLabel(period, granularity)));
    }
  });

  series.forEach((s, n) => {
    const group = el('g', { class: `serie serie-${n}`, 'data-metric': s.metric });
    let path = '';
    s.values.forEach((v, i) => {
      if (v === null) {
        path += ' ';
        return;
      }
      path += `${path === '' || path.endsWith(' ') ? 'M' : 'L'}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
    });
    for (const part of path.split(' ').filter((p) => p.length > 0)) {
      group.append(el('path', { d: part, class: 'linje' }));
    }
    s.values.forEach((v, i) => {
      if (v === null) {
        const marker = el('rect', {
          x: x(i) - 4,
          y: TOP + plotHeight - 10 - n * 11,
          width: 8,
          height: 10,
          fill: `url(#skravur-${container.id})`,
          class: 'skjult-punkt',
          'data-period': periods[i],
        });
        marker.append(el('title', {}, `${s.label}, ${periodLabel(periods[i], granularity)}: ${SUPPRESSED_TEXT}`));
        group.append(marker);
      } else {
        const dot = el('circle', { cx: x(i), cy: y(v), r: 3, class: 'punkt', 'data-period': periods[i], 'data-value': v });
        dot.append(el('title', {}, `${s.label}, ${periodLabel(periods[i], granularity)}: ${formatCount(v)}`));
        group.append(dot);
      }
    });
    svg.append(group);
  });
  container.append(svg);

  const legend = document.createElement('ul');
  legend.className = 'tegnforklaring';
  series.forEach((s, n) => {
    const item = document.createElement('li');
    const swatch = document.createElement('span');
    swatch.className = `fargeprøve serie-${n}`;
    swatch.setAttribute('aria-hidden', 'true');
    item.append(swatch, document.createTextNode(s.label));
    legend.append(item);
  });
  container.append(legend);
}
