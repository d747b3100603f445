// "Sperringer": block a practitioner (HPR number) or an organisation, see and revoke blocks.

import { blocks, createBlock, revokeBlock } from './api.js';
import { formatDate, formatDateTime } from './format.js';

const HPR_SYSTEM = 'urn:oid:2.16.578.1.12.4.1.4.4';

function td(text, className) {
  const cell = document.createElement('td');
  if (className) cell.className = className;
  cell.textContent = text;
  return cell;
}

function target(consent) {
  const actor = ((consent.provision || {}).actor || [])[0] || {};
  const reference = actor.reference || {};
  const identifier = reference.identifier || {};
  const hpr = identifier.system === HPR_SYSTEM;
  return {
    kind: hpr ? 'Helsepersonell' : 'Virksomhet',
    number: `${hpr ? 'HPR-nr.' : 'Org.nr.'} ${identifier.value || ''}`,
    name: reference.display || '',
  };
}

function row(consent, onRevoke) {
  const tr = document.createElement('tr');
  const t = target(consent);
  const who = document.createElement('td');
  const name = document.createElement('span');
  name.className = 'line strong';
  name.textContent = t.name || (t.kind === 'Helsepersonell' ? 'Navn ikke kjent' : t.kind);
  const number = document.createElement('span');
  number.className = 'line muted';
  number.textContent = t.number;
  who.append(name, number);
  const active = consent.status === 'active';
  const until = consent.provision && consent.provision.period && consent.provision.period.end;
  const action = document.createElement('td');
  if (active) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'secondary';
    button.textContent = 'Opphev';
    button.setAttribute('aria-label', `Opphev sperringen av ${t.name || t.number}`);
    button.addEventListener('click', () => onRevoke(consent, t, button));
    action.append(button);
  } else {
    action.textContent = '–';
  }
  tr.append(
    who,
    td(t.kind),
    td(active ? 'Aktiv' : 'Opphevet', active ? 'status-active' : 'status-inactive'),
    td(consent.dateTime ? formatDateTime(consent.dateTime) : ''),
    td(until ? formatDate(until) : 'Til du opphever den'),
    action,
  );
  return tr;
}

export async function showBlocks(announce) {
  const list = await blocks();
  const body = document.querySelector('#block-table tbody');
  body.replaceChildren();
  const onRevoke = async (consent, t, button) => {
    button.disabled = true;
    try {
      await revokeBlock(consent.id);
      announce(`Sperringen av ${t.name || t.number} er opphevet.`);
      await showBlocks(announce);
    } catch (error) {
      button.disabled = false;
      announce(`Kunne ikke oppheve sperringen: ${error.message}`, true);
    }
  };
  for (const consent of list) body.append(row(consent, onRevoke));
  document.getElementById('block-empty').hidden = list.length > 0;
  return list;
}

export function wireBlockForm(session, announce) {
  const form = document.getElementById('block-form');
  const input = document.getElementById('block-number');
  const error = document.getElementById('block-number-error');
  const kindInputs = form.querySelectorAll('input[name="block-kind"]');
  const label = document.getElementById('block-number-label');
  const syncKind = () => {
    const kind = form.querySelector('input[name="block-kind"]:checked').value;
    label.textContent = kind === 'hpr' ? 'HPR-nummer' : 'Organisasjonsnummer';
    input.maxLength = 9;
  };
  kindInputs.forEach((radio) => radio.addEventListener('change', syncKind));
  syncKind();
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const kind = form.querySelector('input[name="block-kind"]:checked').value;
    const value = input.value.trim();
    const valid = kind === 'hpr' ? /^\d{1,9}$/.test(value) : /^\d{9}$/.test(value);
    if (!valid) {
      error.textContent =
        kind === 'hpr' ? 'Skriv HPR-nummeret med bare sifre (opptil 9).' : 'Et organisasjonsnummer har 9 sifre.';
      error.hidden = false;
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return;
    }
    error.hidden = true;
    input.removeAttribute('aria-invalid');
    const submit = form.querySelector('button[type="submit"]');
    submit.disabled = true;
    try {
      const until = document.getElementById('block-until').value;
      await createBlock(session().patient, kind, value, until || null);
      input.value = '';
      announce(kind === 'hpr' ? `Helsepersonell med HPR-nr. ${value} er sperret.` : `Virksomheten ${value} er sperret.`);
      await showBlocks(announce);
    } catch (failure) {
      announce(`Kunne ikke sperre: ${failure.message}`, true);
    } finally {
      submit.disabled = false;
    }
  });
}
