// Sign-in: the dev token route in KPI_ENV=dev, a pasted identity-provider token anywhere.

import { request } from './shared/api.js';
import { h, replace, queryParam } from './shared/dom.js';
import { showErrors, clearErrors, validateLocally, markInvalid } from './shared/forms.js';
import { saveToken, currentSession, decodeClaims, homeFor } from './shared/session.js';
import { knownPeople } from './shared/people.js';
import { roleGroupLabel } from './shared/format.js';

const status = document.getElementById('signin-status');
const devForm = document.getElementById('dev-form');
const tokenForm = document.getElementById('token-form');
const staffField = document.getElementById('staff-id-field');

function goOn(session) {
  const next = queryParam('next');
  // Only same-folder pages: never an open redirect.
  const safe = next && /^page_[a-z_]+\.html(\?[^#]*)?$/.test(next) ? next : null;
  location.href = safe && !session.isStaffOnly ? safe : homeFor(session);
}

async function environment() {
  // The gateway renders /config.json from KPI_ENV at start.
  try {
    const config = await request('/config.json', { auth: false });
    return config && config.env === 'prod' ? 'prod' : 'dev';
  } catch {
    return 'dev';
  }
}

function showProd() {
  devForm.hidden = true;
  document.getElementById('prod-info').hidden = false;
  document.getElementById('token-box').open = true;
}

async function fillPeople() {
  const list = document.getElementById('people-list');
  const people = await knownPeople().catch(() => []); // only suggestions: none when unreachable
  replace(list, people.map((p) => h('option', { value: p.staff_id }, `${p.name} · ${roleGroupLabel(p.role_group)}`)));
}

devForm.addEventListener('change', () => {
  const role = devForm.elements.role.value;
  staffField.hidden = role !== 'staff';
  devForm.elements.staff_id.required = role === 'staff';
});

devForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  if (!validateLocally(devForm)) return;
  const role = devForm.elements.role.value;
  const body = { role };
  if (role === 'staff') body.staff_id = devForm.elements.staff_id.value.trim();
  const button = devForm.querySelector('button[type=submit]');
  button.disabled = true;
  replace(status, h('div', { class: 'loading' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Signing in…'));
  try {
    const answer = await request('/dev/token', { method: 'POST', body, auth: false });
    saveToken(answer.token);
    replace(status);
    goOn(currentSession());
  } catch (error) {
    replace(status);
    if (error.status === 404 || error.status === 405) {
      showProd();
      replace(status, h('p', { class: 'notice' }, 'Development sign-in is switched off here. Please use your organisation’s sign-in.'));
    } else {
      showErrors(devForm, error);
    }
  } finally {
    button.disabled = false;
  }
});

tokenForm.addEventListener('submit', (event) => {
  event.preventDefault();
  clearErrors(tokenForm);
  if (!validateLocally(tokenForm)) return;
  const raw = tokenForm.elements.token.value.trim().replace(/^Bearer\s+/i, '');
  const claims = decodeClaims(raw);
  if (!claims || !Array.isArray(claims.roles)) {
    markInvalid(tokenForm.elements.token, 'This does not look like a KPI system token.');
    tokenForm.elements.token.focus();
    return;
  }
  if (claims.exp && claims.exp * 1000 < Date.now()) {
    markInvalid(tokenForm.elements.token, 'This token has expired. Please get a fresh one.');
    tokenForm.elements.token.focus();
    return;
  }
  const managing = claims.roles.includes('manager') || claims.roles.includes('hr_admin');
  if (!managing && !claims.staff_id) {
    markInvalid(tokenForm.elements.token, 'This staff token names no staff member (staff_id), so it cannot open anyone’s page. Please ask for a new one.');
    tokenForm.elements.token.focus();
    return;
  }
  saveToken(raw);
  goOn(currentSession());
});

(async function start() {
  // A token handed over in the URL fragment by an identity provider (#token=...).
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.get('token')) {
    saveToken(fragment.get('token'));
    history.replaceState(null, '', location.pathname + location.search);
  }
  if (queryParam('expired')) {
    replace(status, h('p', { class: 'notice' }, 'Your session has ended. Please sign in again.'));
  }
  const session = currentSession();
  if (session && !queryParam('expired')) {
    replace(status, h('p', { class: 'notice notice-info' }, `You are signed in as ${session.roleLabel}. `,
      h('a', { href: homeFor(session) }, 'Continue'), ' or sign in as someone else below.'));
  }
  if ((await environment()) === 'prod') {
    showProd();
  } else {
    devForm.hidden = false;
    fillPeople();
  }
})();
