// The statistics dashboard: sign-in (token in sessionStorage, sent as a bearer token; no
// cookies), then adoption tiles, usage charts and tables from /api/statistics/*. Every
// number shown is the API's; a suppressed count is shown as "skjult", never as a number.

import { lineChart } from './charts.js';
import {
  ORG_TYPES,
  SUPPRESSED_TEXT,
  formatCount,
  formatShare,
  metricLabel,
  orgTypeLabel,
  periodLabel,
} from './labels.js';

const TOKEN_KEY = 'pmd-statistikk-token';
const $ = (id) => document.getElementById(id);

class SignedOut extends Error {}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

function setStatus(text) {
  $('status').textContent = text;
}

function showSignIn(message = '') {
  sessionStorage.removeItem(TOKEN_KEY);
  $('statistikk').hidden = true;
  $('logg-ut').hidden = true;
  $('innlogging').hidden = false;
  $('utvikling').hidden = false;
  $('innlogging-melding').textContent = message;
}

function showDashboard() {
  $('innlogging').hidden = true;
  $('statistikk').hidden = false;
  $('logg-ut').hidden = false;
}

async function api(path) {
  const response = await fetch(path, {
    headers: { authorization: `Bearer ${token()}`, accept: 'application/json' },
  });
  if (response.status === 401) {
    showSignIn('Innloggingen er ugyldig eller utløpt. Logg inn på nytt.');
    throw new SignedOut();
  }
  if (response.status === 403) {
    showSignIn('Tokenet gir ikke tilgang til statistikk (pmd:statistics).');
    throw new SignedOut();
  }
  if (!response.ok) {
    let message = `Tjenesten svarte ${response.status}.`;
    try {
      const outcome = await response.json();
      message = outcome.issue?.[0]?.diagnostics || message;
    } catch {
      // Not JSON: keep the status.
    }
    throw new Error(message);
  }
  return response.json();
}

// One count as an element: the number, or the suppressed marker.
function countElement(tag, count, className) {
  const node = document.createElement(tag);
  node.className = className;
  if (count.suppressed || count.count === null) {
    node.classList.add('skjult');
    node.dataset.suppressed = 'true';
    node.textContent = SUPPRESSED_TEXT;
    node.title = 'Skjult: et tall fra 1 til 4, eller et tall som ville avslørt et slikt';
  } else {
    node.dataset.value = String(count.count);
    node.textContent = formatCount(count.count);
  }
  return node;
}

function tile(indicator, heading, unit) {
  const article = document.createElement('article');
  article.className = 'flis';
  article.dataset.indicator = indicator.id;
  const title = document.createElement('h4');
  title.textContent = heading;
  const numerator = countElement('p', indicator.numerator, 'tall');
  numerator.dataset.part = 'numerator';
  const of = document.createElement('p');
  of.className = 'av';
  of.append('av ');
  const denominator = countElement('span', indicator.denominator, 'nevner');
  denominator.dataset.part = 'denominator';
  of.append(denominator, ` ${unit}`);
  const share = document.createElement('p');
  share.className = 'andel';
  share.dataset.part = 'share';
  if (indicator.share === null || indicator.share === undefined) {
    share.textContent = 'Andel: –';
  } else {
    share.dataset.value = String(indicator.share);
    share.textContent = `Andel: ${formatShare(indicator.share)}`;
    const bar = document.createElement('meter');
    bar.min = 0;
    bar.max = 1;
    bar.value = indicator.share;
    bar.setAttribute('aria-hidden', 'true');
    share.append(bar);
  }
  article.append(title, numerator, of, share);
  return article;
}

const UNITS = {
  municipality: 'kommuner',
  hospital_trust: 'helseforetak',
  gp_office: 'fastlegekontor',
  other: 'andre i registeret',
};

function renderAdoption(answer) {
  $('tilknytning-periode').textContent = `${answer.from} – ${answer.to}`;
  for (const [role, container] of [['source', $('fliser-kilder')], ['consumer', $('fliser-brukere')]]) {
    container.replaceChildren();
    for (const type of ORG_TYPES) {
      const indicator = answer.indicators.find((i) => i.role === role && i.org_type === type);
      if (indicator) {
        container.append(tile(indicator, orgTypeLabel(type), UNITS[type]));
      }
    }
  }
  const patients = $('fliser-pasienter');
  patients.replaceChildren();
  const viewed = answer.indicators.find((i) => i.id === 'patients_with_data_viewed_by_citizen');
  if (viewed) {
    patients.append(tile(viewed, 'Pasienter med data som selv har sett dem', 'pasienter med data'));
  }
}

// Rows of one metric (ungrouped) as {period → count}.
function seriesOf(answer, metric) {
  return answer.rows.filter((r) => r.metric === metric && Object.keys(r.group).length === 0);
}

function periodsOf(answer) {
  return [...new Set(answer.rows.map((r) => r.period))].sort();
}

function valuesFor(answer, metric, periods) {
  const rows = seriesOf(answer, metric);
  return periods.map((p) => {
    const row = rows.find((r) => r.period === p);
    return row && !row.suppressed ? row.count : null;
  });
}

function headerRow(thead, labels) {
  const tr = document.createElement('tr');
  for (const label of labels) {
    const th = document.createElement('th');
    th.scope = 'col';
    th.textContent = label;
    tr.append(th);
  }
  thead.replaceChildren(tr);
}

function cell(row, extra = {}) {
  const td = countElement('td', row ?? { count: 0, suppressed: false }, 'tall-celle');
  for (const [key, value] of Object.entries(extra)) {
    td.dataset[key] = value;
  }
  return td;
}

function renderUsage(answer) {
  $('bruk-periode').textContent = `${answer.from} – ${answer.to}`;
  const periods = periodsOf(answer);
  const granularity = answer.granularity;
  lineChart($('diagram-målinger'), {
    periods,
    granularity,
    title: 'Målinger mottatt per periode',
    series: [{ metric: 'measurements_received', label: metricLabel('measurements_received'), values: valuesFor(answer, 'measurements_received', periods) }],
  });
  const accesses = ['searches', 'reads', 'denied_accesses', 'citizen_views'];
  lineChart($('diagram-oppslag'), {
    periods,
    granularity,
    title: 'Oppslag og visninger per periode',
    series: accesses.map((m) => ({ metric: m, label: metricLabel(m), values: valuesFor(answer, m, periods) })),
  });

  const metrics = [...new Set(answer.rows.map((r) => r.metric))];
  const table = $('tabell-bruk');
  headerRow(table.querySelector('thead'), ['Periode', ...metrics.map(metricLabel)]);
  const body = table.querySelector('tbody');
  body.replaceChildren();
  for (const period of periods) {
    const tr = document.createElement('tr');
    const th = document.createElement('th');
    th.scope = 'row';
    th.textContent = periodLabel(period, granularity);
    th.dataset.period = period;
    tr.append(th);
    for (const metric of metrics) {
      const row = answer.rows.find((r) => r.metric === metric && r.period === period && Object.keys(r.group).length === 0);
      tr.append(cell(row, { metric, period }));
    }
    body.append(tr);
  }
}

function renderByType(answer) {
  const periods = periodsOf(answer);
  const rows = answer.rows.filter((r) => r.metric === 'measurements_received');
  const types = ORG_TYPES.filter((t) => rows.some((r) => r.group.org_type === t));
  const table = $('tabell-type');
  headerRow(table.querySelector('thead'), ['Periode', ...types.map(orgTypeLabel)]);
  const body = table.querySelector('tbody');
  body.replaceChildren();
  if (types.length === 0) {
    const tr = document.createElement('tr');
    const td = document.createElement('td');
    td.textContent = 'Ingen målinger mottatt i perioden.';
    tr.append(td);
    body.append(tr);
    return;
  }
  for (const period of periods) {
    const tr = document.createElement('tr');
    const th = document.createElement('th');
    th.scope = 'row';
    th.textContent = periodLabel(period, answer.granularity);
    tr.append(th);
    for (const type of types) {
      const row = rows.find((r) => r.period === period && r.group.org_type === type);
      tr.append(cell(row, { metric: 'measurements_received', period, orgType: type }));
    }
    body.append(tr);
  }
}

function selection() {
  const params = new URLSearchParams();
  const from = $('fra').value;
  const to = $('til').value;
  if (from) params.set('from', from);
  if (to) params.set('to', to);
  return params;
}

async function load() {
  setStatus('Henter statistikk …');
  const range = selection();
  const usage = new URLSearchParams(range);
  usage.set('granularity', $('oppløsning').value);
  const grouped = new URLSearchParams(usage);
  grouped.set('group_by', 'org_type');
  try {
    const [adoption, totals, byType] = await Promise.all([
      api(`/api/statistics/adoption?${range}`),
      api(`/api/statistics/usage?${usage}`),
      api(`/api/statistics/usage?${grouped}`),
    ]);
    renderAdoption(adoption);
    renderUsage(totals);
    renderByType(byType);
    setStatus('');
    document.body.dataset.loaded = 'true';
  } catch (error) {
    if (!(error instanceof SignedOut)) {
      setStatus(`Kunne ikke hente statistikken: ${error.message}`);
    }
  }
}

async function exportCsv() {
  setStatus('Lager uttrekk …');
  const response = await fetch(`/api/statistics/export?${selection()}`, {
    headers: { authorization: `Bearer ${token()}` },
  });
  if (!response.ok) {
    setStatus(`Uttrekket feilet (${response.status}).`);
    return;
  }
  const blob = await response.blob();
  const link = document.createElement('a');
  link.href = URL.createObjectURL(blob);
  link.download = 'pmd-statistikk-eksport.csv';
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  setStatus('Uttrekket er lastet ned.');
}

async function devSignIn() {
  $('innlogging-melding').textContent = 'Logger inn …';
  const response = await fetch('/portal/dev/statistics-token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{}',
  });
  if (response.status === 404) {
    $('utvikling').hidden = true;
    $('innlogging-melding').textContent = 'Utviklingsinnlogging finnes bare i den innebygde utgaven (pmd up). Lim inn et token.';
    return;
  }
  if (!response.ok) {
    $('innlogging-melding').textContent = `Innloggingen feilet (${response.status}).`;
    return;
  }
  const answer = await response.json();
  signIn(answer.access_token);
}

function signIn(value) {
  sessionStorage.setItem(TOKEN_KEY, value.trim());
  $('innlogging-melding').textContent = '';
  showDashboard();
  load();
}

function start() {
  $('utviklingsinnlogging').addEventListener('click', () => {
    devSignIn().catch((e) => {
      $('innlogging-melding').textContent = `Innloggingen feilet: ${e.message}`;
    });
  });
  $('token-skjema').addEventListener('submit', (event) => {
    event.preventDefault();
    const value = $('token').value;
    if (value.trim()) {
      $('token').value = '';
      signIn(value);
    }
  });
  $('utvalg').addEventListener('submit', (event) => {
    event.preventDefault();
    load();
  });
  $('eksport').addEventListener('click', () => {
    exportCsv().catch((e) => setStatus(`Uttrekket feilet: ${e.message}`));
  });
  $('logg-ut').addEventListener('click', () => showSignIn('Du er logget ut.'));
  if (token()) {
    showDashboard();
    load();
  } else {
    showSignIn();
  }
}

start();
