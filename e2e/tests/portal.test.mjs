// The citizen portal in a real browser against a running `pmd up` (see ../run.sh):
// sign in as a demo citizen, see the charts drawn from the seeded data, see a practitioner's
// search in the log of use, block that practitioner in the UI (their next search is refused),
// revoke the block (their search works again). Every view is checked with axe-core (no
// serious or critical violations), with the keyboard, and for Content-Security-Policy
// violations. Screenshots go to target/e2e-screenshots/ (and to docs/img/ with
// PMD_DOCS_IMG set).

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

const HPR = '9144900';
const PRACTITIONER = 'Kari Nordmann';
const ORG = '974589095';

assert.ok(BASE, 'PMD_URL is not set: run the tests through e2e/run.sh');

let browser;
let page;
let patient;
const cspViolations = [];
const consoleErrors = [];

/** A personnel token from the running instance's dev issuer (`pmd token personnel`). */
function personnelToken() {
  return execFileSync(
    PMD_BIN,
    ['--data-dir', DATA_DIR, 'token', 'personnel', '--hpr', HPR, '--org', ORG, '--name', PRACTITIONER],
    { encoding: 'utf8' },
  ).trim();
}

/** The practitioner's search for the patient, as their EHR would send it: the HTTP status. */
async function practitionerSearch() {
  const response = await fetch(`${BASE}/fhir/Observation/_search`, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${personnelToken()}`,
      'Content-Type': 'application/x-www-form-urlencoded',
      Accept: 'application/fhir+json',
    },
    body: new URLSearchParams({ patient: `Patient/${patient}`, _count: '5' }).toString(),
  });
  await response.arrayBuffer();
  return response.status;
}

async function screenshot(name) {
  // Without the focus ring of the last keyboard step.
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  await page.mouse.move(0, 0);
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  if (DOCS_IMG) {
    mkdirSync(DOCS_IMG, { recursive: true });
    await page.screenshot({ path: path.join(DOCS_IMG, `${name}.png`), fullPage: true });
  }
}

/** axe-core on the page as it is: no violation of serious or critical impact. */
async function checkAccessibility(what) {
  const source = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  // Evaluated over the DevTools protocol, which the page's CSP does not govern.
  await page.evaluate(source);
  const result = await page.evaluate(() =>
    // eslint-disable-next-line no-undef
    axe.run(document, { resultTypes: ['violations'] }),
  );
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const report = bad.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  assert.deepEqual(report, [], `${what}: accessibility violations`);
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
      '--lang=nb-NO',
    ],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'nb-NO', timezoneId: 'Europe/Oslo' });
  page = await context.newPage();
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const text = message.text();
    if (/Content Security Policy/i.test(text)) cspViolations.push(text);
    // Expected: the refused practitioner is not the browser's business; any other error is.
    else consoleErrors.push(text);
  });
  page.on('pageerror', (error) => consoleErrors.push(String(error)));
});

after(async () => {
  if (browser) await browser.close();
});

test('the sign-in page offers the demo citizens, clearly marked as development', async () => {
  await page.goto(`${BASE}/portal/`);
  await page.getByRole('heading', { level: 1, name: 'Logg inn' }).waitFor();
  await page.getByText('Kun for utvikling og test.').waitFor();
  const buttons = page.getByRole('button', { name: /Logg inn som Demopasient/ });
  await buttons.first().waitFor();
  assert.equal(await buttons.count(), 5);
  assert.equal(await page.getByRole('button', { name: 'Logg ut' }).isVisible(), false, 'not signed in yet');
  assert.equal(await page.getByRole('navigation', { name: 'Hovedmeny' }).isVisible(), false);
  const csp = (await page.request.get(`${BASE}/portal/`)).headers()['content-security-policy'];
  assert.match(csp, /default-src 'self'/);
  await checkAccessibility('sign-in');
  await screenshot('innlogging');
});

test('the keyboard reaches the skip link first and signs in', async () => {
  await page.keyboard.press('Tab');
  const focused = await page.evaluate(() => document.activeElement && document.activeElement.textContent);
  assert.equal(focused, 'Hopp til hovedinnholdet');
  // Tab to the first demo citizen and press Enter.
  for (let i = 0; i < 20; i += 1) {
    const text = await page.evaluate(() => document.activeElement && document.activeElement.textContent);
    if (text && text.startsWith('Logg inn som Demopasient 1')) break;
    await page.keyboard.press('Tab');
  }
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { level: 1, name: 'Mine målinger' }).waitFor();
  patient = await page.evaluate(() => JSON.parse(sessionStorage.getItem('pmd.portal.session')).patient);
  assert.match(patient, /^\d{11}$/);
});

test('the charts render the seeded measurements, blood pressure as two lines', async () => {
  const bp = page.locator('figure[data-kind="bp"]');
  await bp.locator('svg.chart').waitFor();
  assert.equal(await bp.locator('svg.chart path.line').count(), 2, 'systolic and diastolic');
  const points = await bp.locator('svg.chart .series-1 circle').count();
  assert.ok(points >= 20, `blood pressure points: ${points}`);
  for (const kind of ['hr', 'spo2', 'temp', 'weight']) {
    await page.locator(`figure[data-kind="${kind}"] svg.chart path.line`).first().waitFor();
  }
  const label = await bp.locator('svg.chart').getAttribute('aria-labelledby');
  assert.ok(label, 'the chart has a text alternative');
  const tiles = page.locator('#latest .tile');
  assert.ok((await tiles.count()) >= 4);
  assert.match(await page.locator('#latest .tile[data-kind="bp"] .tile-value').textContent(), /^\d+\/\d+ mmHg$/);
  assert.match(await page.locator('#latest .tile[data-kind="temp"] .tile-value').textContent(), /°C$/);
  await checkAccessibility('Mine målinger');
  await screenshot('mine-malinger');
});

test("a practitioner's search appears in the log of use with name, organisation and basis", async () => {
  assert.equal(await practitionerSearch(), 200);
  await page.getByRole('link', { name: 'Logg over bruk' }).click();
  await page.getByRole('heading', { level: 1, name: 'Logg over bruk' }).waitFor();
  const row = page.locator('#log-table tbody tr', { hasText: PRACTITIONER }).first();
  await row.waitFor();
  const text = await row.textContent();
  assert.match(text, new RegExp(`HPR-nr\\. ${HPR}`));
  assert.match(text, /Oslo universitetssykehus HF/);
  assert.match(text, new RegExp(`org\\.nr\\. ${ORG}`));
  assert.match(text, /Helsetjenester i hjemmet/);
  assert.match(text, /Søk i målinger/);
  assert.match(text, /Utført/);
  await checkAccessibility('Logg over bruk');
  await screenshot('logg-over-bruk');
});

test('blocking the practitioner in the UI refuses their next search; revoking restores it', async () => {
  await page.getByRole('link', { name: 'Sperringer' }).click();
  await page.getByRole('heading', { level: 1, name: 'Sperringer' }).waitFor();
  await page.getByRole('textbox', { name: 'HPR-nummer' }).fill(HPR);
  await page.getByRole('button', { name: 'Sperr', exact: true }).click();
  const row = page.locator('#block-table tbody tr', { hasText: `HPR-nr. ${HPR}` }).first();
  await row.waitFor();
  assert.match(await row.textContent(), /Aktiv/);
  assert.match(await row.textContent(), new RegExp(PRACTITIONER), 'named from the earlier access');
  await checkAccessibility('Sperringer');
  await screenshot('sperringer');

  assert.equal(await practitionerSearch(), 403, 'blocked right after the block');

  await page.getByRole('button', { name: new RegExp(`Opphev sperringen av ${PRACTITIONER}`) }).click();
  await page.locator('#block-table tbody tr', { hasText: 'Opphevet' }).first().waitFor();
  assert.equal(await practitionerSearch(), 200, 'allowed again after revoking');

  // The refusal is in the log, told in Norwegian.
  await page.getByRole('link', { name: 'Logg over bruk' }).click();
  await page.locator('#log-table tbody tr.row-denied', { hasText: 'du har sperret' }).first().waitFor();
  await screenshot('logg-over-bruk-avvist');
});

test('no Content-Security-Policy violation and no script error on the way', () => {
  assert.deepEqual(cspViolations, []);
  assert.deepEqual(consoleErrors, []);
});
