// "Mine målinger": the latest value of each kind, and a chart per kind over a chosen period.

import { latest, observationsSince } from './api.js';
import { legend, lineChart } from './chart.js';
import {
  KINDS,
  daysAgo,
  formatDate,
  formatDateTime,
  formatNumber,
  kindOf,
  kindUnit,
  readingOf,
  readingText,
} from './format.js';

function h(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === 'class') node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function tiles(observations) {
  const list = document.getElementById('latest');
  list.replaceChildren();
  const byKind = new Map();
  for (const observation of observations) {
    const kind = kindOf(observation);
    if (!kind) continue;
    const reading = readingOf(observation, kind);
    if (!reading) continue;
    const known = byKind.get(kind.id);
    if (!known || known.reading.time < reading.time) byKind.set(kind.id, { kind, reading });
  }
  const shown = KINDS.filter((kind) => byKind.has(kind.id)).map((kind) => byKind.get(kind.id));
  if (!shown.length) {
    list.append(h('li', { class: 'empty' }, 'Ingen målinger registrert ennå.'));
    return;
  }
  for (const { kind, reading } of shown) {
    list.append(
      h(
        'li',
        { class: 'tile', 'data-kind': kind.id },
        h('span', { class: 'tile-label' }, kind.label),
        h('span', { class: 'tile-value' }, readingText(reading, kind)),
        h('span', { class: 'tile-time' }, `Målt ${formatDateTime(reading.time)}`),
      ),
    );
  }
}

function summary(kind, readings) {
  const first = readings[0];
  const last = readings[readings.length - 1];
  const parts = readings[0].values.map((_, index) => {
    const values = readings.map((r) => r.values[index].value);
    const label = readings[0].values.length > 1 ? `${readings[0].values[index].label.toLowerCase()} ` : '';
    return `${label}lavest ${formatNumber(Math.min(...values), kind.decimals)}, høyest ${formatNumber(
      Math.max(...values),
      kind.decimals,
    )}`;
  });
  return (
    `${readings.length} målinger fra ${formatDate(first.time)} til ${formatDate(last.time)}: ` +
    `${parts.join('; ')} ${kindUnit(kind)}. Siste: ${readingText(last, kind)}.`
  );
}

function table(kind, readings) {
  const headers = ['Tidspunkt', ...readings[0].values.map((v) => `${v.label} (${kindUnit(kind)})`)];
  const head = h('tr', {}, ...headers.map((text) => h('th', { scope: 'col' }, text)));
  const rows = [...readings]
    .reverse()
    .map((r) =>
      h(
        'tr',
        {},
        h('td', {}, formatDateTime(r.time)),
        ...r.values.map((v) => h('td', { class: 'number' }, formatNumber(v.value, kind.decimals))),
      ),
    );
  return h(
    'details',
    { class: 'numbers' },
    h('summary', {}, `Vis ${kind.label.toLowerCase()} som tabell`),
    h(
      'div',
      { class: 'table-wrap' },
      h('table', {}, h('caption', {}, `${kind.label}, nyeste først`), h('thead', {}, head), h('tbody', {}, ...rows)),
    ),
  );
}

function charts(observations, from, to) {
  const container = document.getElementById('charts');
  container.replaceChildren();
  const byKind = new Map();
  for (const observation of observations) {
    const kind = kindOf(observation);
    if (!kind) continue;
    const reading = readingOf(observation, kind);
    if (!reading) continue;
    if (!byKind.has(kind.id)) byKind.set(kind.id, []);
    byKind.get(kind.id).push(reading);
  }
  const kinds = KINDS.filter((kind) => byKind.has(kind.id));
  if (!kinds.length) {
    container.append(h('p', { class: 'empty' }, 'Ingen målinger i denne perioden.'));
    return;
  }
  for (const kind of kinds) {
    const readings = byKind.get(kind.id).sort((a, b) => a.time - b.time);
    const labels = readings[0].values.map((v) => v.label);
    const series = labels.map((label, index) => ({
      label,
      points: readings.map((r) => ({ time: r.time, value: r.values[index].value })),
    }));
    const headingId = `heading-${kind.id}`;
    const figure = h('figure', { class: 'chart-card', 'data-kind': kind.id, 'aria-labelledby': headingId });
    figure.append(h('h3', { id: headingId }, `${kind.label} (${kindUnit(kind)})`));
    if (labels.length > 1) figure.append(legend(labels));
    figure.append(
      lineChart({
        title: `${kind.label}, ${formatDate(from)} til ${formatDate(to)}`,
        summary: summary(kind, readings),
        from,
        to,
        decimals: kind.decimals,
        unit: kindUnit(kind),
        series,
      }),
    );
    figure.append(h('figcaption', {}, summary(kind, readings)));
    figure.append(table(kind, readings));
    container.append(figure);
  }
}

/** Load and draw the view for the signed-in citizen. */
export async function showMeasurements(current, announce) {
  const select = document.getElementById('period');
  const days = Number(select.value) || 30;
  const fromText = daysAgo(days);
  const from = new Date(`${fromText}T00:00:00`);
  const to = new Date();
  const view = document.getElementById('view-maalinger');
  view.setAttribute('aria-busy', 'true');
  try {
    const [recent, observations] = await Promise.all([
      latest(current.patient),
      observationsSince(current.patient, fromText),
    ]);
    tiles(recent);
    charts(observations, from, to);
    announce(`Viser ${observations.length} målinger for de siste ${days} dagene.`);
  } finally {
    view.removeAttribute('aria-busy');
  }
}
