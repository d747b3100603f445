// The portal's shell: sign-in state, the three views behind the menu (#maalinger, #logg,
// #sperringer), and one place that tells the user what happened (a polite live region, and
// an alert for errors).

import { clearSession, session } from './api.js';
import { showBlocks, wireBlockForm } from './blocks.js';
import { moreLog, showLog } from './log.js';
import { showMeasurements } from './measurements.js';
import { showSignIn, wireTokenForm } from './signin.js';

const VIEWS = ['maalinger', 'logg', 'sperringer'];
const TITLES = { maalinger: 'Mine målinger', logg: 'Logg over bruk', sperringer: 'Sperringer', signin: 'Logg inn' };

function announce(message, isError = false) {
  const status = document.getElementById('status');
  const alert = document.getElementById('error');
  if (isError) {
    alert.textContent = message;
    alert.hidden = false;
  } else {
    alert.hidden = true;
    status.textContent = message;
  }
}

async function guarded(work) {
  try {
    await work();
  } catch (error) {
    announce(error.status === 403 ? `Ingen tilgang: ${error.message}` : error.message, true);
  }
}

function currentView() {
  const name = window.location.hash.replace('#', '');
  return VIEWS.includes(name) ? name : 'maalinger';
}

function showOnly(name) {
  for (const section of document.querySelectorAll('main > section')) {
    section.hidden = section.id !== `view-${name}`;
  }
  for (const link of document.querySelectorAll('#tabs a')) {
    if (link.dataset.view === name) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.title = `${TITLES[name]} – Pasientens måledata`;
}

/** Show `view`: through a hash change when the hash differs (which routes), else at once. */
function go(view) {
  if (window.location.hash === `#${view}`) route(true);
  else window.location.hash = `#${view}`;
}

async function route(moveFocus) {
  document.getElementById('error').hidden = true;
  const current = session();
  document.getElementById('tabs').hidden = !current;
  document.getElementById('session').hidden = !current;
  if (!current) {
    showOnly('signin');
    if (moveFocus) document.querySelector('#view-signin h1').focus();
    await guarded(() => showSignIn(() => go('maalinger'), announce));
    return;
  }
  document.getElementById('session-who').textContent = current.label;
  const name = currentView();
  showOnly(name);
  if (moveFocus) document.querySelector(`#view-${name} h1`).focus();
  if (name === 'maalinger') await guarded(() => showMeasurements(current, announce));
  if (name === 'logg') await guarded(() => showLog(announce));
  if (name === 'sperringer') await guarded(() => showBlocks(announce));
}

function start() {
  window.addEventListener('hashchange', () => route(true));
  document.addEventListener('pmd:signed-out', () => route(true));
  document.getElementById('sign-out').addEventListener('click', () => {
    clearSession();
    announce('Du er logget ut.');
    route(true);
  });
  document.getElementById('period').addEventListener('change', () => {
    const current = session();
    if (current) guarded(() => showMeasurements(current, announce));
  });
  document.getElementById('log-filter').addEventListener('submit', (event) => {
    event.preventDefault();
    guarded(() => showLog(announce));
  });
  document.getElementById('log-more').addEventListener('click', () => guarded(() => moreLog(announce)));
  wireBlockForm(session, announce);
  wireTokenForm(() => go('maalinger'), announce);
  route(false);
}

start();
