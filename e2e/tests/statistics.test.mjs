// The statistics dashboard (/portal/statistikk/) in a real browser against a running
// `pmd up` (see ../run.sh): seed sources and consumers of known kinds through the REST API,
// sign in with the development statistics sign-in, and check that every number on the page
// (adoption tiles, the usage table, the table by kind of source) is the API's answer for the
// same query, that suppressed cells are shown as suppressed (never as a number), that the
// charts mark them, that no Content-Security-Policy violation or script error occurs, and
// that the page has no serious accessibility violation. The CSV export downloads without a
// national id. Screenshot: target/e2e-screenshots/statistikk.png.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');

const BASE = process.env.PMD_URL;
const PMD_BIN = process.env.PMD_BIN;
const DATA_DIR = process.env.PMD_DATA_DIR;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = process.env.PMD_SCREENSHOTS || path.join(repo, 'target', 'e2e-screenshots');
const DOCS_IMG = process.env.PMD_DOCS_IMG || '';

assert.ok(BASE, 'PMD_URL is not set: run the tests through e2e/run.sh');

let browser;
let page;
const cspViolations = [];
const consoleErrors = [];

function token(...args) {
  return execFileSync(PMD_BIN, ['--data-dir', DATA_DIR, 'token', ...args], { encoding: 'utf8' }).trim();
}

/** A synthetic fødselsnummer (month + 80, as test ids are) with valid check digits. */
function syntheticFnr(seed) {
  const w1 = [3, 7, 6, 1, 8, 9, 4, 5, 2];
  const w2 = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2];
  const day = String(1 + (seed % 28)).padStart(2, '0');
  const month = String(81 + (seed % 12));
  for (let individual = 500 + (seed % 100); ; individual += 1) {
    const digits = `${day}${month}71${String(individual).padStart(3, '0')}`.split('').map(Number);
    const check = (weights, ds) => {
      const k = 11 - (weights.reduce((sum, w, i) => sum + w * ds[i], 0) % 11);
      return k === 11 ? 0 : k;
    };
    const k1 = check(w1, digits);
    if (k1 === 10) continue;
    const k2 = check(w2, [...digits, k1]);
    if (k2 === 10) continue;
    return `${digits.join('')}${k1}${k2}`;
  }
}

/** Organisations of the embedded register (libs/orgs/data/organisations.csv) of one kind. */
function registerOrgs(kind) {
  const csv = readFileSync(path.join(repo, 'libs', 'orgs', 'data', 'organisations.csv'), 'utf8');
  return csv
    .split('\n')
    .filter((line) => /^\d{9},/.test(line))
    .map((line) => {
      const fields = line.split(',');
      return { orgnr: fields[0], type: fields[fields.length - 2], name: fields[1] };
    })
    .filter((o) => o.type === kind);
}

const PATIENTS = [0, 1, 2, 3, 4, 5].map((i) => syntheticFnr(40 + i));

function observation(patient, i, org) {
  return {
    fullUrl: `urn:uuid:${crypto.randomUUID()}`,
    request: { method: 'POST', url: 'Observation' },
    resource: {
      resourceType: 'Observation',
      status: 'final',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
      code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
      subject: { identifier: { system: 'urn:oid:2.16.578.1.12.4.1.4.1', value: patient } },
      identifier: [{ system: 'urn:pmd:e2e-statistics', value: `${org}-${patient}-${i}` }],
      effectiveDateTime: new Date(Date.now() - i * 3600_000).toISOString().replace(/\.\d+Z$/, 'Z'),
      valueQuantity: { value: 60 + i, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
    },
  };
}

async function send(url, init) {
  const response = await fetch(url, init);
  const body = await response.text();
  assert.ok(response.ok, `${init.method || 'GET'} ${url}: ${response.status} ${body.slice(0, 300)}`);
  return body;
}

async function api(bearer, pathAndQuery) {
  return JSON.parse(await send(`${BASE}${pathAndQuery}`, { headers: { Authorization: `Bearer ${bearer}` } }));
}

/** Seven municipalities send data (six here and the demo's own), five GP offices search. */
async function seed() {
  const municipalities = registerOrgs('municipality').filter((o) => o.name !== 'Trondheim kommune').slice(0, 6);
  for (const [n, org] of municipalities.entries()) {
    const entries = [];
    for (const [p, patient] of PATIENTS.entries()) {
      if ((p + n) % 2 === 0) entries.push(observation(patient, n * 10 + p, org.orgnr));
    }
    await send(`${BASE}/fhir`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token('system', '--org', org.orgnr)}`, 'Content-Type': 'application/fhir+json' },
      body: JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry: entries }),
    });
  }
  for (const [n, org] of registerOrgs('gp_office').slice(0, 5).entries()) {
    const bearer = token('personnel', '--hpr', '9144900', '--org', org.orgnr, '--name', 'Lege Legesen');
    await send(`${BASE}/fhir/Observation/_search`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${bearer}`, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ patient: `Patient/${PATIENTS[n]}`, _count: '5' }).toString(),
    });
  }
}

async function screenshot(name) {
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  await page.mouse.move(0, 0);
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  if (DOCS_IMG) {
    mkdirSync(DOCS_IMG, { recursive: true });
    await page.screenshot({ path: path.join(DOCS_IMG, `${name}.png`), fullPage: true });
  }
}

async function checkAccessibility(what) {
  const source = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  await page.evaluate(source);
  // eslint-disable-next-line no-undef
  const result = await page.evaluate(() => axe.run(document, { resultTypes: ['violations'] }));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const report = bad.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  assert.deepEqual(report, [], `${what}: accessibility violations`);
}

/** What the page shows for one count element: a number, or 'suppressed'. */
function shownAs(element) {
  if (!element) return undefined;
  if (element.suppressed === 'true') return 'suppressed';
  return Number(element.value);
}

function expected(count) {
  return count.suppressed ? 'suppressed' : count.count;
}

/** Everything the page shows, read from the DOM (values and suppression marks). */
async function readPage() {
  return page.evaluate(() => {
    const data = (node) => (node ? { ...node.dataset, text: node.textContent } : null);
    const tiles = {};
    for (const tile of document.querySelectorAll('.flis[data-indicator]')) {
      tiles[tile.dataset.indicator] = {
        numerator: data(tile.querySelector('[data-part="numerator"]')),
        denominator: data(tile.querySelector('[data-part="denominator"]')),
        share: data(tile.querySelector('[data-part="share"]')),
      };
    }
    const cells = [...document.querySelectorAll('#tabell-bruk td[data-metric]')].map(data);
    const byType = [...document.querySelectorAll('#tabell-type td[data-metric]')].map(data);
    const hiddenMarks = document.querySelectorAll('#diagram-oppslag .skjult-punkt, #diagram-målinger .skjult-punkt').length;
    return { tiles, cells, byType, hiddenMarks };
  });
}

/** The API's answers to the page's own queries. */
async function apiAnswers(bearer) {
  const [adoption, usage, byType] = await Promise.all([
    api(bearer, '/api/statistics/adoption?'),
    api(bearer, '/api/statistics/usage?granularity=day'),
    api(bearer, '/api/statistics/usage?granularity=day&group_by=org_type'),
  ]);
  return { adoption, usage, byType };
}

before(async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const context = await browser.newContext({
    viewport: { width: 1280, height: 900 },
    locale: 'nb-NO',
    timezoneId: 'Europe/Oslo',
    acceptDownloads: true,
  });
  page = await context.newPage();
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const text = message.text();
    if (/Content Security Policy/i.test(text)) cspViolations.push(text);
    // Expected once: the citizen's token pasted in the first test is refused with 403.
    else if (!/status of 403/.test(text)) consoleErrors.push(text);
  });
  page.on('pageerror', (error) => consoleErrors.push(String(error)));
  page.on('response', (response) => {
    if (response.status() >= 400) console.log('response', response.status(), response.url());
  });
  await seed();
  // Wait until statistics have followed the audit log past the seeded events.
  const bearer = token('statistics');
  const deadline = Date.now() + 60_000;
  for (;;) {
    const adoption = await api(bearer, '/api/statistics/adoption');
    const find = (id) => adoption.indicators.find((i) => i.id === id);
    if (find('municipalities_as_sources').numerator.count === 7 && find('gp_offices_as_consumers').numerator.count === 5) break;
    assert.ok(Date.now() < deadline, `statistics did not catch up: ${JSON.stringify(adoption)}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
});

after(async () => {
  if (browser) await browser.close();
});

test('the dashboard asks for a statistics sign-in and refuses other tokens', async () => {
  const response = await page.goto(`${BASE}/portal/statistikk/`);
  assert.equal(response.status(), 200);
  assert.match(response.headers()['content-security-policy'], /default-src 'none'; script-src 'self'/);
  await page.getByRole('heading', { level: 2, name: 'Logg inn' }).waitFor();
  // A citizen's token is not a statistics token.
  await page.getByLabel('Eller lim inn et tilgangstoken').fill(token('citizen', '--pid', PATIENTS[0]));
  await page.getByRole('button', { name: 'Bruk token' }).click();
  await page.getByText('Tokenet gir ikke tilgang til statistikk (pmd:statistics).').waitFor();
  await checkAccessibility('sign-in');
});

test('every number on the page is the API answer, suppressed cells shown as suppressed', async () => {
  await page.getByRole('button', { name: 'Logg inn som statistikkbruker (utvikling)' }).click();
  await page.locator('body[data-loaded="true"]').waitFor();
  const bearer = await page.evaluate(() => sessionStorage.getItem('pmd-statistikk-token'));
  assert.ok(bearer, 'signed in');

  // Other tests may add events meanwhile: compare against answers that did not change
  // while the page was read (reload until the API answers before and after agree).
  let answers;
  let shown;
  for (let attempt = 0; ; attempt += 1) {
    const before = await apiAnswers(bearer);
    await page.evaluate(() => delete document.body.dataset.loaded);
    await page.getByRole('button', { name: 'Vis', exact: true }).click();
    await page.locator('body[data-loaded="true"]').waitFor();
    shown = await readPage();
    const afterwards = await apiAnswers(bearer);
    if (JSON.stringify(before) === JSON.stringify(afterwards)) {
      answers = before;
      break;
    }
    assert.ok(attempt < 10, 'the statistics kept changing');
  }

  // Adoption tiles: numerator, denominator and share of every indicator.
  assert.equal(Object.keys(shown.tiles).length, answers.adoption.indicators.length);
  for (const indicator of answers.adoption.indicators) {
    const tile = shown.tiles[indicator.id];
    assert.ok(tile, `tile ${indicator.id}`);
    assert.equal(shownAs(tile.numerator), expected(indicator.numerator), `${indicator.id} numerator`);
    assert.equal(shownAs(tile.denominator), expected(indicator.denominator), `${indicator.id} denominator`);
    if (indicator.share === null) {
      assert.equal(tile.share.value, undefined, `${indicator.id}: no share shown`);
    } else {
      assert.equal(Number(tile.share.value), indicator.share, `${indicator.id} share`);
    }
    if (indicator.numerator.suppressed) {
      assert.equal(tile.numerator.text, 'skjult', 'suppressed, not 0 and not the number');
    }
  }
  const byId = Object.fromEntries(answers.adoption.indicators.map((i) => [i.id, i]));
  assert.equal(byId.municipalities_as_sources.numerator.count, 7);
  assert.equal(shown.tiles.municipalities_as_sources.numerator.text, '7');
  assert.equal(byId.gp_offices_as_consumers.numerator.count, 5);
  // The demo's one hospital trust as source: 1, hidden.
  assert.equal(byId.hospital_trusts_as_sources.numerator.suppressed, true);
  assert.equal(shown.tiles.hospital_trusts_as_sources.numerator.text, 'skjult');

  // The usage table: one cell per metric and period, as the API says.
  const rows = answers.usage.rows;
  assert.equal(shown.cells.length, rows.length);
  for (const row of rows) {
    const cell = shown.cells.find((c) => c.metric === row.metric && c.period === row.period);
    assert.ok(cell, `cell ${row.metric} ${row.period}`);
    assert.equal(shownAs(cell), row.suppressed ? 'suppressed' : row.count, `${row.metric} ${row.period}`);
  }
  const today = answers.usage.to;
  const received = rows.find((r) => r.metric === 'measurements_received' && r.period === today);
  assert.ok(received.count > 0, 'the seeded measurements are counted today');
  // Every suppressed point of the charted metrics is marked in the charts.
  const charted = ['measurements_received', 'searches', 'reads', 'denied_accesses', 'citizen_views'];
  assert.equal(shown.hiddenMarks, rows.filter((r) => charted.includes(r.metric) && r.suppressed).length);

  // The table by kind of source.
  const typed = answers.byType.rows.filter((r) => r.metric === 'measurements_received');
  assert.equal(shown.byType.length, typed.length);
  for (const row of typed) {
    const cell = shown.byType.find((c) => c.period === row.period && c.orgType === row.group.org_type);
    assert.ok(cell, `by type ${row.period} ${row.group.org_type}`);
    assert.equal(shownAs(cell), row.suppressed ? 'suppressed' : row.count);
  }
  // No count from 1 to 4 anywhere on the page.
  for (const cell of [...shown.cells, ...shown.byType]) {
    if (cell.value !== undefined) assert.ok(!(Number(cell.value) >= 1 && Number(cell.value) <= 4), JSON.stringify(cell));
  }
  await page.locator('#diagram-målinger svg').waitFor();
  await checkAccessibility('dashboard');
  await screenshot('statistikk');
});

test('the CSV export downloads without a national id', async () => {
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Last ned CSV for perioden' }).click(),
  ]);
  const file = await download.path();
  const csv = readFileSync(file, 'utf8');
  assert.match(csv, /^hour,action,outcome,actor_kind,org_parent,org_child,org_type,municipality,purpose_of_use,patient,codes,count\n/);
  assert.ok(csv.split('\n').length > 10, 'one line per event');
  for (const patient of PATIENTS) {
    assert.ok(!csv.includes(patient), 'no national id in the export');
  }
  assert.ok(!csv.includes('Lege Legesen'), 'no name in the export');
});

test('no Content-Security-Policy violation and no script error', () => {
  assert.deepEqual(cspViolations, []);
  assert.deepEqual(consoleErrors, []);
});
