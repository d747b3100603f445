// The portal's only way to the server: the public FHIR API with the citizen's bearer token,
// which lives in sessionStorage (gone when the tab closes; never a cookie, so no other site
// can make the browser act for the citizen).

const SESSION_KEY = 'pmd.portal.session';
const FHIR_JSON = 'application/fhir+json';
const PID_CLAIM = 'helseid://claims/identity/pid';

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** The signed-in session ({token, patient, label, expires}) or null. */
export function session() {
  let value = null;
  try {
    value = JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null');
  } catch {
    value = null;
  }
  if (!value || !value.token || !value.patient) return null;
  if (value.expires && Date.now() > value.expires) {
    clearSession();
    return null;
  }
  return value;
}

export function saveSession(value) {
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(value));
}

export function clearSession() {
  sessionStorage.removeItem(SESSION_KEY);
}

/** The claims of a JWT (not verified: the server does that), or null. */
export function tokenClaims(token) {
  const parts = String(token).trim().split('.');
  if (parts.length !== 3) return null;
  try {
    const base64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
    const padded = base64 + '='.repeat((4 - (base64.length % 4)) % 4);
    const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return null;
  }
}

/** A session from a pasted token: the patient is the token's national id claim. */
export function sessionFromToken(token, label) {
  const claims = tokenClaims(token);
  const patient = claims && claims[PID_CLAIM];
  if (!patient) return null;
  return {
    token: token.trim(),
    patient: String(patient),
    label: label || 'innbygger',
    expires: claims.exp ? claims.exp * 1000 : null,
  };
}

function problem(body, status) {
  const issues = body && Array.isArray(body.issue) ? body.issue : [];
  const text = issues.map((i) => i.diagnostics).filter(Boolean).join('; ');
  return text || `Forespørselen feilet (${status})`;
}

async function request(url, { method = 'GET', form = null, json = null, auth = true } = {}) {
  const headers = { Accept: `${FHIR_JSON}, application/json` };
  let body;
  if (form) {
    headers['Content-Type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(form).toString();
  } else if (json) {
    headers['Content-Type'] = auth ? FHIR_JSON : 'application/json';
    body = JSON.stringify(json);
  }
  if (auth) {
    const current = session();
    if (!current) throw new ApiError(401, 'Du er ikke logget inn.');
    headers.Authorization = `Bearer ${current.token}`;
  }
  const response = await fetch(url, { method, headers, body, credentials: 'omit', cache: 'no-store' });
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (response.status === 401 && auth) {
    clearSession();
    document.dispatchEvent(new CustomEvent('pmd:signed-out'));
  }
  if (!response.ok) throw new ApiError(response.status, problem(data, response.status));
  return data;
}

function nextLink(bundle) {
  const link = (bundle.link || []).find((l) => l.relation === 'next');
  return link ? link.url : null;
}

function resources(bundle) {
  return (bundle.entry || []).map((e) => e.resource).filter(Boolean);
}

/** Every measurement of the patient since `from` (YYYY-MM-DD), oldest first. */
export async function observationsSince(patient, from) {
  const form = {
    patient: `Patient/${patient}`,
    date: `ge${from}`,
    _sort: 'date',
    _count: '1000',
  };
  let bundle = await request('/fhir/Observation/_search', { method: 'POST', form });
  const all = resources(bundle);
  for (let page = 0; page < 50; page += 1) {
    const next = nextLink(bundle);
    if (!next) break;
    bundle = await request(next);
    all.push(...resources(bundle));
  }
  return all;
}

/** The latest measurement of each kind. */
export async function latest(patient) {
  const form = { patient: `Patient/${patient}`, category: 'vital-signs', max: '1' };
  return resources(await request('/fhir/Observation/$lastn', { method: 'POST', form }));
}

/** One page of the access log: {events, next}. `url` is a next link, or null for the first. */
export async function accessLog({ url = null, from = '', to = '', count = 25 } = {}) {
  let target = url;
  if (!target) {
    const query = new URLSearchParams();
    if (from) query.append('date', `ge${from}`);
    if (to) query.append('date', `le${to}`);
    query.append('_count', String(count));
    target = `/fhir/AuditEvent?${query}`;
  }
  const bundle = await request(target);
  return { events: resources(bundle), next: nextLink(bundle) };
}

export async function blocks() {
  return resources(await request('/fhir/Consent'));
}

const TARGET_SYSTEMS = {
  hpr: 'urn:oid:2.16.578.1.12.4.1.4.4',
  org: 'urn:oid:2.16.578.1.12.4.1.4.101',
};

/** Block a practitioner (`kind` hpr) or an organisation (`kind` org). */
export async function createBlock(patient, kind, value, until) {
  const provision = {
    type: 'deny',
    actor: [
      {
        role: {
          coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'PRCP' }],
        },
        reference: { identifier: { system: TARGET_SYSTEMS[kind], value } },
      },
    ],
  };
  if (until) provision.period = { end: until };
  const consent = {
    resourceType: 'Consent',
    status: 'active',
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    patient: { reference: `Patient/${patient}` },
    provision,
  };
  return request('/fhir/Consent', { method: 'POST', json: consent });
}

export async function revokeBlock(id) {
  return request(`/fhir/Consent/${encodeURIComponent(id)}`, { method: 'DELETE' });
}

/** The development sign-in's demo citizens, or null when the server has none. */
export async function devCitizens() {
  const response = await fetch('/portal/dev/citizens', { credentials: 'omit', cache: 'no-store' });
  if (response.status === 404) return null;
  if (!response.ok) throw new ApiError(response.status, 'Kunne ikke hente demobrukere');
  return response.json();
}

export async function devSignIn(pid) {
  return request('/portal/dev/sign-in', { method: 'POST', json: { pid }, auth: false });
}
