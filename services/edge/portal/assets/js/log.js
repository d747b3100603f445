// "Logg over bruk": who used the citizen's measurements, for which organisation, on what
// basis, what they did and when, and whether they were refused.

import { accessLog } from './api.js';
import { KINDS, formatDateTime } from './format.js';

const ACTION_SYSTEM = 'https://pmd.nhn.no/fhir/CodeSystem/audit-action';
const ORG_ROLE_SYSTEM = 'https://pmd.nhn.no/fhir/CodeSystem/organisation-role';
let nextUrl = null;

function typeCode(agent) {
  return agent && agent.type && agent.type.coding && agent.type.coding[0] ? agent.type.coding[0].code : '';
}

function orgRole(agent) {
  const coding = ((agent.role || [])[0] || {}).coding || [];
  const match = coding.find((c) => c.system === ORG_ROLE_SYSTEM);
  return match ? match.code : '';
}

function line(text, className) {
  const span = document.createElement('span');
  span.className = className || 'line';
  span.textContent = text;
  return span;
}

function cell(...lines) {
  const td = document.createElement('td');
  for (const l of lines) if (l) td.append(l);
  if (!td.childNodes.length) td.append(line('–'));
  return td;
}

function who(event) {
  const agents = event.agent || [];
  const user = agents.find((a) => typeCode(a) === 'IRCP');
  if (user) {
    const hpr = user.who && user.who.identifier ? user.who.identifier.value : '';
    const name = (user.who && user.who.display) || 'Ukjent navn';
    return cell(line(name, 'line strong'), hpr ? line(`HPR-nr. ${hpr}`, 'line muted') : null);
  }
  const patient = agents.find((a) => typeCode(a) === 'PAT');
  if (patient) return cell(line(patient.who && patient.who.reference ? 'Deg selv' : 'En annen innbygger', 'line strong'));
  const org = agents.find((a) => typeCode(a) === 'PROV' && a.requestor);
  if (org) return cell(line('Fagsystem', 'line strong'), line('(maskinell innsending)', 'line muted'));
  return cell(line('Pasientens måledata', 'line strong'));
}

function organisation(event) {
  const orgs = (event.agent || []).filter((a) => typeCode(a) === 'PROV');
  return cell(
    ...orgs.map((org) => {
      const number = org.who && org.who.identifier ? org.who.identifier.value : '';
      const name = (org.who && org.who.display) || 'Ukjent virksomhet';
      const span = line('', 'line');
      const prefix = orgRole(org) === 'point-of-care' ? 'Behandlingssted: ' : '';
      span.append(document.createTextNode(`${prefix}${name}`));
      if (number) span.append(line(` (org.nr. ${number})`, 'muted'));
      return span;
    }),
  );
}

function basis(event) {
  const user = (event.agent || []).find((a) => typeCode(a) === 'IRCP');
  const concept = (user && (user.purposeOfUse || [])[0]) || (event.purposeOfEvent || [])[0];
  return cell(concept && concept.text ? line(concept.text) : null);
}

/** "Puls (28)" for an entity counting one kind of measurement, else its description. */
function entityText(entity) {
  const details = Object.fromEntries((entity.detail || []).map((d) => [d.type, d.valueString]));
  const kind = details.code && KINDS.find((k) => k.codes.includes(details.code));
  return kind ? `${kind.label} (${details.count})` : entity.description;
}

function what(event) {
  const coding = (event.subtype || []).find((c) => c.system === ACTION_SYSTEM);
  // A refused attempt touched nothing: no "0 målinger".
  const touched = (event.entity || []).slice(1).filter((e) => event.outcome === '0' || !/^0 /.test(e.description || ''));
  const detail = touched.map(entityText).filter(Boolean).join(', ');
  return cell(line(coding ? coding.display : 'Bruk', 'line'), detail ? line(detail, 'line muted') : null);
}

function result(event) {
  const td = document.createElement('td');
  if (event.outcome === '0') {
    td.append(line('Utført', 'line'));
  } else {
    td.className = 'denied';
    td.append(line(event.outcomeDesc || 'Avvist', 'line strong'));
  }
  return td;
}

function row(event) {
  const tr = document.createElement('tr');
  if (event.outcome !== '0') tr.className = 'row-denied';
  const time = document.createElement('td');
  const stamp = document.createElement('time');
  stamp.dateTime = event.recorded || '';
  stamp.textContent = formatDateTime(event.recorded);
  time.append(stamp);
  tr.append(time, who(event), organisation(event), basis(event), what(event), result(event));
  return tr;
}

function filters() {
  return {
    from: document.getElementById('log-from').value,
    to: document.getElementById('log-to').value,
  };
}

function render(events, append) {
  const body = document.querySelector('#log-table tbody');
  if (!append) body.replaceChildren();
  for (const event of events) body.append(row(event));
  const empty = document.getElementById('log-empty');
  empty.hidden = body.childElementCount > 0;
  document.getElementById('log-more').hidden = !nextUrl;
}

/** The first page (with the chosen dates). */
export async function showLog(announce) {
  const { events, next } = await accessLog({ ...filters() });
  nextUrl = next;
  render(events, false);
  announce(`Viser ${events.length} hendelser i loggen over bruk.`);
}

/** The next page, appended. */
export async function moreLog(announce) {
  if (!nextUrl) return;
  const { events, next } = await accessLog({ url: nextUrl });
  nextUrl = next;
  render(events, true);
  announce(`${events.length} flere hendelser lagt til.`);
}
