// Sign-in. A real deployment signs citizens in through Helsenorge/ID-porten, which this
// portal does not include; the embedded mode (pmd up) offers a development sign-in as one
// of the synthetic demo citizens. A token from elsewhere can also be pasted.

import { devCitizens, devSignIn, saveSession, sessionFromToken } from './api.js';

export async function showSignIn(onSignedIn, announce) {
  const devBox = document.getElementById('dev-signin');
  const list = document.getElementById('dev-citizens');
  const none = document.getElementById('no-signin');
  list.replaceChildren();
  let dev = null;
  try {
    dev = await devCitizens();
  } catch (error) {
    announce(error.message, true);
  }
  devBox.hidden = !dev;
  none.hidden = Boolean(dev);
  if (dev) {
    for (const citizen of dev.citizens) {
      const item = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'citizen';
      button.textContent = `Logg inn som ${citizen.label}`;
      const detail = document.createElement('span');
      detail.className = 'line muted';
      detail.textContent = `Følges opp for ${citizen.follow_up}`;
      button.append(detail);
      button.addEventListener('click', async () => {
        button.disabled = true;
        try {
          const answer = await devSignIn(citizen.pid);
          saveSession({
            token: answer.access_token,
            patient: answer.patient,
            label: `${citizen.label} (${citizen.follow_up})`,
            expires: Date.now() + answer.expires_in * 1000,
          });
          onSignedIn();
        } catch (error) {
          announce(`Innloggingen feilet: ${error.message}`, true);
        } finally {
          button.disabled = false;
        }
      });
      item.append(button);
      list.append(item);
    }
  }
}

export function wireTokenForm(onSignedIn, announce) {
  const form = document.getElementById('token-form');
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const token = document.getElementById('token').value;
    const current = sessionFromToken(token, 'innbygger');
    if (!current) {
      announce('Nøkkelen mangler fødselsnummeret (helseid://claims/identity/pid).', true);
      return;
    }
    saveSession(current);
    document.getElementById('token').value = '';
    onSignedIn();
  });
}
