// Staff Detail: a person's KPI tab (growth status, score over time, trend, next evaluation) and
// their Living Journal (timeline, filters, new entries, approvals). A staff-only token sees their
// own page without score numbers, effort weights or hidden entries: the API leaves those keys out.

import { api, allLinkedPages, contractSystem, latestOnly } from './shared/api.js';
import { h, replace, loading, empty, announce, queryParam, openDialog, focusWithin, restoreFocus, retryNotice } from './shared/dom.js';
import { showErrors, clearErrors, validateLocally, numberValue } from './shared/forms.js';
import { requireSession } from './shared/session.js';
import { renderNav } from './shared/nav.js';
import { knownPeople } from './shared/people.js';
import {
  ENTRY_TYPES, WRITABLE_ENTRY_TYPES, ROLE_GROUPS, categoryLabel, roleGroupLabel, entryTypeLabel,
  growth, trendLabel, formatScore, formatPercentOf1, formatDate, formatDateTime, formatShortDate, formatShortDateTime,
  dueLabel, initials, scaleOf, shortId, waitedLabel,
} from './shared/format.js';

const session = await requireSession();
renderNav(session, 'page_staff_detail.html');

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// Entry types that move a KPI's scores (once approved, if pending), and those whose entry may show a move.
const SCORE_MOVING_TYPES = new Set(['score_update', 'score_adjustment', 'effort_recognition']);
const SCORING_TYPES = new Set([...SCORE_MOVING_TYPES, 'approval_granted']);
const pageStatus = document.getElementById('page-status');

const state = {
  staffId: (queryParam('staff_id') || '').trim(),
  kpis: [],
  // The person's journal as loaded (its newest pages), and the chosen KPI's own when one is chosen.
  entries: [],
  nextCursor: null,
  kpiJournal: { kpiId: null, entries: [], nextCursor: null },
  showInactive: false,
  charts: new Map(),
  person: null,
  // Entries of this person awaiting a decision (managers): a count, with "+" when there are more.
  awaiting: null,
};
// A page of what awaits approval on the People page, and the most a person's count reads.
const AWAITING_PAGE = 20;
const AWAITING_COUNTED = 200;

// ---------------------------------------------------------------- people index (managers)

async function showPeople() {
  document.getElementById('people-view').hidden = false;
  document.title = 'People · Growth KPIs';
  const openForm = document.getElementById('open-form');
  openForm.addEventListener('submit', (event) => {
    event.preventDefault();
    if (!validateLocally(openForm)) return;
    location.href = 'page_staff_detail.html?staff_id=' + encodeURIComponent(openForm.elements.staff_id.value.trim());
  });

  replace(document.getElementById('due-list'), loading('Loading evaluations due…'));
  await showKnownPeople();
  redrawAwaiting = showAwaiting();
  await showDue();
}

// The contract system's names of people by staff id: the lists below name people with them, and
// are drawn again once a retry of the people list brings them.
const knownNames = new Map();
let redrawAwaiting = () => {};

function nameOf(staffId) {
  return knownNames.get(staffId) || `Staff member ${shortId(staffId)}`;
}

/** The people with evaluations due in the next two weeks, by name where the contract system knows them. */
async function showDue() {
  const dueList = document.getElementById('due-list');
  replace(dueList, loading('Loading evaluations due…'));
  try {
    const before = new Date(Date.now() + 14 * 86400000).toISOString();
    const items = await allLinkedPages('/hr/evaluations/due', { query: { before, limit: 1000 } });
    const byPerson = new Map();
    for (const item of items) {
      if (!byPerson.has(item.staff_id)) byPerson.set(item.staff_id, []);
      byPerson.get(item.staff_id).push(item);
    }
    replace(dueList, byPerson.size
      ? h('ul', { class: 'people-list' }, [...byPerson].map(([id, list]) => {
        const soonest = list.map((k) => k.next_evaluation_due).sort()[0];
        return h('li', {}, personLink(id, nameOf(id),
          `${list.length} KPI${list.length === 1 ? '' : 's'} · ${dueLabel(soonest)}`));
      }))
      : empty('🗓️', 'Nothing is due in the next two weeks.'));
  } catch (error) {
    replace(dueList, retryNotice(dueList, document.getElementById('due-heading'),
      `We could not load the evaluations due. ${error.humanMessage}`, showDue));
  }
}

/** The people list from the contract system, whose names the other lists use; false (and a
 * retry, which names the people in those lists too) when it cannot be reached. */
async function showKnownPeople() {
  const peopleList = document.getElementById('people-list');
  replace(peopleList, loading('Loading people…'));
  let people;
  try {
    people = await knownPeople();
  } catch (error) {
    replace(peopleList, retryNotice(peopleList, document.getElementById('people-heading'),
      `We could not reach the contract system, so its people cannot be listed right now. ${error.humanMessage}`,
      async () => {
        if (!await showKnownPeople()) return;
        redrawAwaiting();
        await showDue();
      }));
    return false;
  }
  for (const p of people) knownNames.set(p.staff_id, p.name);
  replace(document.getElementById('open-people'), people.map((p) => h('option', { value: p.staff_id }, p.name)));
  replace(peopleList, people.length
    ? h('ul', { class: 'people-list' }, people.map((p) => h('li', {}, personLink(p.staff_id, p.name, roleGroupLabel(p.role_group)))))
    : empty('👥', 'No people are known to the contract system yet. Create a contract to add someone, or open a person by their staff id.',
      h('a', { class: 'btn btn-primary', href: 'page_hr_contracting.html' }, 'Create a contract')));
  return true;
}

// ---------------------------------------------------------------- waiting for approval (managers)

/** What awaits a decision across everyone, the longest waiting first, a page at a time.
 * Returns what draws the entries loaded so far again (with the names known by then). */
function showAwaiting() {
  const list = document.getElementById('awaiting-list');
  const more = document.getElementById('awaiting-more');
  const shown = [];
  let cursor = null;
  let busy = false;
  let loaded = false;

  function draw() {
    replace(list, shown.length
      ? h('ul', { class: 'people-list awaiting-list', 'aria-labelledby': 'awaiting-heading' }, shown.map(awaitingItem))
      : empty('🌿', 'Nothing is waiting for approval. Reflections and held score changes appear here as they come in.'));
  }

  async function load(next) {
    if (busy) return;
    busy = true;
    const button = document.getElementById('awaiting-more-button');
    button.disabled = true;
    if (!next) replace(list, loading('Loading what is waiting for approval…'));
    list.setAttribute('aria-busy', 'true');
    try {
      const page = await api('/hr/journal/pending', { query: { limit: AWAITING_PAGE, cursor: next ? cursor : undefined } });
      shown.push(...(page.items || []));
      cursor = page.next_cursor || null;
      more.hidden = !cursor;
      loaded = true;
      draw();
      if (next) announce(`${page.items?.length || 0} more waiting for approval.`);
    } catch (error) {
      if (next) announce(error.humanMessage);
      else {
        replace(list, retryNotice(list, document.getElementById('awaiting-heading'),
          `We could not load what is waiting for approval. ${error.humanMessage}`, () => load(false)));
      }
    } finally {
      busy = false;
      button.disabled = false;
      list.setAttribute('aria-busy', 'false');
    }
  }

  document.getElementById('awaiting-more-button').addEventListener('click', () => load(true));
  load(false);
  return () => { if (loaded) draw(); };
}

function awaitingItem(entry) {
  return h('li', { dataset: { entryId: entry.id } }, personLink(entry.staff_id, nameOf(entry.staff_id), [
    `${entry.title} · ${entry.module_name} · `,
    h('time', { datetime: entry.created_at, title: formatDateTime(entry.created_at) }, waitedLabel(entry.created_at)),
  ], { tab: 'journal', entry: entry.id }));
}

/** A link to a person's page (with more of its query, such as the journal tab and an entry). */
function personLink(id, name, sub, query = {}) {
  const params = new URLSearchParams({ staff_id: id, ...query });
  return h('a', { class: 'person-link', href: 'page_staff_detail.html?' + params },
    h('span', { class: 'avatar', 'aria-hidden': 'true' }, initials(name)),
    h('span', {}, h('strong', {}, name), h('br'), h('span', { class: 'muted small' }, sub)));
}

// ---------------------------------------------------------------- a person

async function showPerson() {
  const view = document.getElementById('person-view');
  view.hidden = false;
  const own = session.staffId && session.staffId === state.staffId;

  if (session.isStaffOnly) {
    document.getElementById('person-name').textContent = own ? 'My KPIs' : 'Staff member';
    document.getElementById('person-sub').textContent = own ? 'Your growth journey: where you are, where you are heading, and the story so far.' : '';
    document.getElementById('person-avatar').textContent = '🌱';
  } else {
    // Unreachable, the contract system names nobody: the page goes on with the staff id.
    const people = await knownPeople().catch(() => []);
    state.person = people.find((p) => p.staff_id === state.staffId) || null;
    renderPersonHead();
    renderLifecycleActions();
  }

  wireTabs();
  wireEntryForm();
  wireJournalFilters();
  document.getElementById('show-inactive').addEventListener('change', (event) => {
    state.showInactive = event.target.checked;
    renderKpis();
  });
  document.getElementById('load-more').addEventListener('click', () => loadJournal({ more: true }));

  await openKpisAndJournal();
}

/** The person's KPIs, then their journal and what the address asks for; when the KPIs fail to
 * load, Try again goes on from there. */
async function openKpisAndJournal() {
  if (!(await loadKpis(openKpisAndJournal))) return;
  await loadJournal();
  if (queryParam('tab') === 'journal') selectTab('journal', false);
  if (queryParam('entry')) showEntry(queryParam('entry'));
  if (queryParam('new')) awaitTheNewContractsKpis();
}

/** Just after a contract: a new person's KPIs are still being attached, and a renewal may add some. */
async function awaitTheNewContractsKpis() {
  if (!state.kpis.length) await waitForNewKpis();
  else if (await refreshKpisUntilChanged(state.kpis, { timeout: 15000 })) await loadJournal();
}

/** Open the journal on one entry (a link from "Waiting for approval"), when it is on the page. */
function showEntry(entryId) {
  selectTab('journal', false);
  const entry = [...document.querySelectorAll('#journal-list article[data-entry-id]')]
    .find((el) => el.dataset.entryId === entryId);
  if (!entry) return;
  entry.tabIndex = -1;
  entry.scrollIntoView({ block: 'center' });
  entry.focus({ preventScroll: true });
}

const startAwaitingCount = latestOnly();

/** How many of this person's entries await a decision, for the summary (managers). */
async function countAwaiting() {
  if (!session.isManager) return;
  const isLatest = startAwaitingCount();
  try {
    const page = await api('/hr/journal/pending', { query: { staff_id: state.staffId, limit: AWAITING_COUNTED } });
    if (!isLatest()) return;
    state.awaiting = `${(page.items || []).length}${page.next_cursor ? '+' : ''}`;
  } catch {
    if (!isLatest()) return;
    state.awaiting = null; // the journal itself still shows each pending entry
  }
  renderSummary();
}

function renderPersonHead() {
  const name = state.person ? state.person.name : `Staff member ${shortId(state.staffId)}`;
  document.getElementById('person-name').textContent = name;
  document.getElementById('person-avatar').textContent = initials(name);
  replace(document.getElementById('person-sub'),
    state.person?.role_group ? `${roleGroupLabel(state.person.role_group)} · ` : '',
    state.person?.exited ? 'Former staff member · ' : '',
    'Staff id ', h('span', { class: 'mono' }, state.staffId));
  document.title = `${name} · Growth KPIs`;
}

function refuse(error) {
  document.getElementById('person-view').hidden = true;
  const ownLink = session.isStaffOnly && session.staffId
    ? h('a', { class: 'btn btn-primary', href: 'page_staff_detail.html?staff_id=' + encodeURIComponent(session.staffId) }, 'Go to my own page')
    : null;
  const text = error.status === 403
    ? (session.isStaffOnly ? 'This page belongs to someone else. You can only see your own KPIs and journal.' : 'You do not have access to this person’s KPIs.')
    : error.status === 404 ? 'We could not find this person.' : error.humanMessage;
  replace(pageStatus, h('div', { class: 'panel', role: 'alert', id: 'refused' },
    h('h1', {}, error.status === 403 ? 'Not your page' : 'Cannot open this page'), h('p', {}, text), ownLink));
}

// ---------------------------------------------------------------- KPIs

async function fetchKpis() {
  const list = await api(`/hr/staff/${encodeURIComponent(state.staffId)}/kpis`, { query: { status: 'all' } });
  return Array.isArray(list) ? list : list.items || [];
}

// A poll's answer can arrive after a later read's (a status change reloads while a score poll waits):
// only the latest read draws.
const startKpisLoad = latestOnly();

/** The person's KPIs, or null when a later read started meanwhile (its answer is the one to show). */
async function fetchLatestKpis() {
  const isLatest = startKpisLoad();
  const list = await fetchKpis();
  return isLatest() ? list : null;
}

function showKpis(list) {
  state.kpis = list;
  renderKpis();
  renderLifecycleActions();
  fillKpiSelects();
}

/** Draw the person's KPIs; false when they failed to load (said in their place, with Try again
 * running `retry`). */
async function loadKpis(retry = loadKpis) {
  const cards = document.getElementById('kpi-cards');
  if (!state.kpis.length) replace(cards, loading('Loading KPIs…'));
  cards.setAttribute('aria-busy', 'true');
  const isLatest = startKpisLoad();
  try {
    const list = await fetchKpis();
    if (isLatest()) showKpis(list);
    return true;
  } catch (error) {
    if (!isLatest()) return true;
    if (error.status === 403 || error.status === 404) refuse(error);
    // The retry may go on to open the journal's tab: the focus goes to the heading shown then.
    else replace(cards, retryNotice(cards, () => document.querySelector('[role=tabpanel]:not([hidden]) h2'),
      `We could not load the KPIs. ${error.humanMessage}`, () => retry()));
    return false;
  } finally {
    cards.setAttribute('aria-busy', 'false');
  }
}

/** Poll the KPIs until one of them differs from `before` (scores are recomputed by events, a moment later). */
async function refreshKpisUntilChanged(before, { timeout = 12000 } = {}) {
  const fingerprint = (list) => JSON.stringify(list.map((k) => [k.id, k.status, k.current_score, k.current_effort_score, k.growth_status, k.score_trend, k.last_evaluated_at]));
  const start = Date.now();
  const was = fingerprint(before);
  while (Date.now() - start < timeout) {
    await new Promise((r) => setTimeout(r, 700));
    try {
      const list = await fetchLatestKpis();
      if (list && fingerprint(list) !== was) {
        showKpis(list);
        return true;
      }
    } catch { /* keep trying until the timeout */ }
  }
  return false;
}

async function waitForNewKpis() {
  const cards = document.getElementById('kpi-cards');
  replace(cards, loading('Setting up KPIs from the new contract… this takes a moment.'));
  const start = Date.now();
  while (Date.now() - start < 30000) {
    await new Promise((r) => setTimeout(r, 1000));
    try {
      const list = await fetchLatestKpis();
      if (list?.length) {
        // give the rest of the set a moment to arrive, then show it
        await new Promise((r) => setTimeout(r, 1000));
        const whole = await fetchLatestKpis();
        if (whole) showKpis(whole);
        announce(`${state.kpis.length} KPIs assigned from the new contract.`);
        await loadJournal();
        return;
      }
    } catch { /* retry */ }
  }
  renderKpis();
}

function scoreTypeOf(kpi) {
  const t = kpi.module?.score_type || kpi.score_type;
  if (t) return t;
  return kpi.target_score !== undefined && Number(kpi.target_score) <= 5 ? 'rating' : 'percentage';
}

function kpiName(kpi) {
  return kpi.module?.name || kpi.name || `KPI ${shortId(kpi.kpi_module_id)}`;
}

function renderSummary() {
  const active = state.kpis.filter((k) => k.status !== 'inactive');
  const counts = { exceeding: 0, meeting: 0, growing: 0 };
  for (const k of active) if (counts[k.growth_status] !== undefined) counts[k.growth_status] += 1;
  replace(document.getElementById('person-summary'),
    h('span', { class: 'chip' }, `${active.length} active KPI${active.length === 1 ? '' : 's'}`),
    Object.entries(counts).filter(([, n]) => n).map(([status, n]) => {
      const g = growth(status);
      return h('span', { class: `growth ${g.cls}` }, h('span', { 'aria-hidden': 'true' }, g.icon), `${n} ${g.label.toLowerCase()}`);
    }),
    state.awaiting && state.awaiting !== '0'
      ? h('a', {
        class: 'chip chip-pending',
        href: 'page_staff_detail.html?' + new URLSearchParams({ staff_id: state.staffId, tab: 'journal' }),
        onclick: (event) => {
          event.preventDefault();
          selectTab('journal', true);
        },
      }, `${state.awaiting} awaiting approval`)
      : null);
}

function renderKpis() {
  renderSummary();
  for (const chart of state.charts.values()) chart.destroy();
  state.charts.clear();
  const cards = document.getElementById('kpi-cards');
  const inactiveCount = state.kpis.filter((k) => k.status === 'inactive').length;
  const toggle = document.getElementById('show-inactive');
  toggle.closest('label').lastChild.textContent = ` Show inactive KPIs and their history (${inactiveCount})`;
  const shown = state.kpis.filter((k) => state.showInactive || k.status !== 'inactive');
  // A redraw (after a status change, a score poll) gives the focus back to the same card's button.
  const focused = focusWithin(cards, 'data-kpi-id');
  if (!shown.length) {
    replace(cards, empty('🌱', state.kpis.length
      ? 'No active KPIs right now. Their history is kept: tick “Show inactive KPIs” to see it.'
      : session.isStaffOnly ? 'You have no KPIs yet. They appear when your contract is set up.'
        : 'No KPIs yet. They are assigned when a contract is created for this person.',
    session.isManager && !state.kpis.length ? h('a', { class: 'btn btn-primary', href: 'page_hr_contracting.html?staff_id=' + encodeURIComponent(state.staffId) }, 'Create a contract') : null));
  } else {
    const sorted = [...shown].sort((a, b) => (a.status === 'inactive') - (b.status === 'inactive')
      || (a.module?.display_order ?? 0) - (b.module?.display_order ?? 0));
    replace(cards, h('ul', { class: 'cards' }, sorted.map(kpiCard)));
    for (const kpi of sorted) drawChart(kpi);
  }
  restoreFocus(cards, focused, document.getElementById('kpis-heading'));
}

function kpiCard(kpi) {
  const g = growth(kpi.growth_status);
  const scoreType = scoreTypeOf(kpi);
  const inactive = kpi.status === 'inactive';
  const trend = trendLabel(kpi.score_trend);
  const hasScores = kpi.current_score !== undefined; // absent for a staff-only token
  const nameId = `kpi-${kpi.id}-name`;

  const addBtn = h('button', { type: 'button', class: 'btn btn-small btn-primary', 'aria-describedby': nameId, 'data-action': 'add-entry' },
    session.isStaffOnly ? 'Add a reflection' : 'Add entry');
  addBtn.addEventListener('click', () => startEntry(kpi));
  const journalBtn = h('button', { type: 'button', class: 'btn btn-small', 'aria-describedby': nameId, 'data-action': 'journal' }, 'View journal');
  journalBtn.addEventListener('click', () => {
    selectTab('journal', true);
    showKpiJournal(kpi.id);
  });
  let statusBtn = null;
  // A required KPI is HR's to deactivate (the service refuses a manager); don't offer it.
  // Someone who has left gets their KPIs back by a new contract, not one by one.
  if (session.isManager && (inactive || !kpi.is_required || session.isAdmin) && !(inactive && state.person?.exited)) {
    statusBtn = h('button', { type: 'button', class: 'btn btn-small btn-quiet', 'aria-describedby': nameId, 'data-action': 'status' }, inactive ? 'Reactivate' : 'Deactivate');
    statusBtn.addEventListener('click', () => askStatusChange(kpi, inactive ? 'active' : 'inactive', statusBtn));
  }

  return h('li', { class: `card kpi-card cat-${kpi.module?.category || ''}${inactive ? ' inactive' : ''}`, dataset: { kpiId: kpi.id } },
    h('div', { class: 'kpi-head' },
      h('h3', { id: nameId }, kpiName(kpi)),
      inactive ? h('span', { class: 'growth growth-unscored' }, 'Inactive')
        : h('span', { class: `growth ${g.cls}`, title: g.text, 'data-growth': kpi.growth_status || 'none' }, h('span', { 'aria-hidden': 'true' }, g.icon), g.label)),
    h('div', { class: 'card-meta' },
      h('span', { class: 'chip' }, categoryLabel(kpi.module?.category)),
      h('span', { class: 'chip' }, kpi.source === 'manual' ? 'Added by a manager' : 'From the contract'),
      kpi.is_required ? h('span', { class: 'chip chip-lock' }, h('span', { 'aria-hidden': 'true' }, '🔒'), 'Required') : null),
    hasScores ? h('div', { class: 'score-line', 'data-testid': 'score-line' },
      kpi.current_score === null
        ? h('span', { class: 'muted', 'data-score': '' }, 'Not scored yet')
        : h('span', {}, 'Score ', h('strong', { 'data-score': '' }, formatScore(kpi.current_score, scoreType))),
      h('span', { class: 'muted' }, `Target ${formatScore(kpi.target_score, scoreType)}`),
      h('span', { class: 'muted' }, `Meeting from ${formatScore(kpi.minimum_score, scoreType)}`),
      kpi.effort_weight !== undefined ? h('span', { class: 'muted' }, `Effort counts ${formatPercentOf1(kpi.effort_weight)}`) : null) : null,
    trend ? h('p', { class: 'trend' }, h('span', { 'aria-hidden': 'true' }, trend.icon + ' '), trend.text,
      hasScores && kpi.trend_percentage !== null && kpi.trend_percentage !== undefined
        ? ` (${kpi.trend_percentage > 0 ? '+' : ''}${Number(kpi.trend_percentage).toFixed(1)}%)` : '') : null,
    !hasScores && kpi.module?.objective ? h('p', { class: 'small clamp' }, kpi.module.objective) : null,
    hasScores ? h('div', { class: 'chart-slot', id: `chart-${kpi.id}` }) : null,
    inactive
      ? h('p', { class: 'small' }, `Inactive since ${formatDate(kpi.deactivated_at)}`, kpi.deactivation_reason ? ` — ${kpi.deactivation_reason}` : '')
      : h('p', { class: 'small' }, dueLabel(kpi.next_evaluation_due),
        kpi.last_evaluated_at ? ` · last reviewed ${formatDate(kpi.last_evaluated_at)}` : ''),
    h('div', { class: 'card-actions' }, inactive ? null : addBtn, journalBtn, statusBtn));
}

function entryKpiId(entry) {
  return entry.staff_kpi_id || entry.kpi_id;
}

function scorePoints(kpi) {
  return loadedEntries()
    .filter((e) => entryKpiId(e) === kpi.id && e.score_after !== undefined && e.score_after !== null
      && (SCORING_TYPES.has(e.entry_type) || e.score_after !== e.score_before))
    .sort((a, b) => new Date(a.created_at) - new Date(b.created_at));
}

function drawChart(kpi) {
  const slot = document.getElementById(`chart-${kpi.id}`);
  if (!slot) return;
  const points = scorePoints(kpi);
  const scoreType = scoreTypeOf(kpi);
  if (!points.length) {
    replace(slot, h('div', { class: 'chart-empty' }, 'No scores yet. The chart starts with the first evaluation.'));
    return;
  }
  const summary = 'Score over time: ' + points.map((p) => `${formatScore(p.score_after, scoreType)} on ${formatShortDate(p.created_at)}`).join(', ')
    + `. Target ${formatScore(kpi.target_score, scoreType)}.`;
  if (!window.Chart) {
    replace(slot, h('p', { class: 'small muted' }, summary));
    return;
  }
  const canvas = h('canvas', { role: 'img', 'aria-label': summary });
  replace(slot, h('div', { class: 'chart-box' }, canvas));
  const scale = scaleOf(scoreType);
  // Several evaluations on one day (a busy catch-up, a demo) get their times too.
  const days = points.map((p) => formatShortDate(p.created_at));
  const sameDay = new Set(days).size < days.length;
  const labels = sameDay ? points.map((p) => formatShortDateTime(p.created_at)) : days;
  const flat = (value) => (value === undefined || value === null ? [] : points.map(() => Number(value)));
  const css = getComputedStyle(document.documentElement);
  const chart = new window.Chart(canvas, {
    type: 'line',
    data: {
      labels,
      datasets: [
        {
          label: 'Score', data: points.map((p) => Number(p.score_after)),
          borderColor: css.getPropertyValue('--primary').trim(), backgroundColor: 'rgba(14,111,104,0.12)',
          fill: true, tension: 0.3, pointRadius: 4, pointHoverRadius: 6,
        },
        { label: 'Target', data: flat(kpi.target_score), borderColor: css.getPropertyValue('--exceeding').trim(), borderDash: [6, 4], borderWidth: 1.5, pointRadius: 0, fill: false },
        { label: 'Meeting from', data: flat(kpi.minimum_score), borderColor: css.getPropertyValue('--growing').trim(), borderDash: [2, 4], borderWidth: 1.5, pointRadius: 0, fill: false },
      ],
    },
    options: {
      responsive: true, maintainAspectRatio: false, animation: false,
      plugins: { legend: { display: true, position: 'bottom', labels: { boxWidth: 12, boxHeight: 2, font: { size: 11 } } } },
      scales: {
        y: { suggestedMin: scale.min, suggestedMax: scale.max, ticks: { maxTicksLimit: 5 } },
        x: { ticks: { maxTicksLimit: 6, autoSkip: true } },
      },
    },
  });
  state.charts.set(kpi.id, chart);
}

// ---------------------------------------------------------------- status changes (managers)

const statusDialog = document.getElementById('status-dialog');
const statusForm = document.getElementById('status-form');
let statusKpi = null;

function askStatusChange(kpi, status, opener) {
  statusKpi = kpi;
  clearErrors(statusForm);
  statusForm.reset();
  statusForm.elements.status.value = status;
  document.getElementById('status-title').textContent = status === 'inactive' ? `Deactivate “${kpiName(kpi)}”?` : `Reactivate “${kpiName(kpi)}”?`;
  document.getElementById('status-text').textContent = status === 'inactive'
    ? 'It stops being evaluated. Its scores and journal stay on this person’s record, and it can be reactivated later.'
    : 'It will be evaluated again from today, continuing its history.';
  document.getElementById('status-submit').textContent = status === 'inactive' ? 'Deactivate' : 'Reactivate';
  openDialog(statusDialog, opener);
}

statusForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const body = { status: statusForm.elements.status.value };
  const reason = statusForm.elements.reason.value.trim();
  if (reason) body.reason = reason;
  const button = document.getElementById('status-submit');
  button.disabled = true;
  try {
    await api(`/hr/staff/${encodeURIComponent(state.staffId)}/kpis/${statusKpi.id}/status`, { method: 'PATCH', body });
    statusDialog.close();
    announce(body.status === 'inactive' ? `“${kpiName(statusKpi)}” deactivated. Its history is kept.` : `“${kpiName(statusKpi)}” is active again.`);
    await loadKpis();
    loadJournal();
  } catch (error) {
    showErrors(statusForm, error);
  } finally {
    button.disabled = false;
  }
});

// ---------------------------------------------------------------- employment changes (managers, via the contract system)

/** Whether the person has left: the contract system's word, or (when it does not know them) every KPI inactive. */
function hasLeft() {
  if (state.person) return Boolean(state.person.exited);
  return state.kpis.length > 0 && state.kpis.every((k) => k.status === 'inactive');
}

function renderLifecycleActions() {
  if (!session.isManager) return;
  const actions = document.getElementById('person-actions');
  const left = hasLeft();
  if (actions.dataset.left === String(left)) return; // drawn already: a KPI reload keeps the focus on them
  actions.dataset.left = String(left);
  if (left) {
    // No role change or exit for someone who has gone: a new contract re-hires them, with their history.
    replace(actions, h('p', { class: 'small' }, 'They have left. ',
      h('a', { href: 'page_hr_contracting.html?staff_id=' + encodeURIComponent(state.staffId) }, 'A new contract re-hires them'),
      ', with their KPIs and history.'));
    return;
  }
  const roleBtn = h('button', { type: 'button', class: 'btn' }, 'Record a role change');
  const exitBtn = h('button', { type: 'button', class: 'btn btn-quiet' }, 'Record an exit');
  roleBtn.addEventListener('click', () => openLifecycle('role', roleBtn));
  exitBtn.addEventListener('click', () => openLifecycle('exit', exitBtn));
  replace(actions, roleBtn, exitBtn);
}

const lifecycleDialog = document.getElementById('lifecycle-dialog');
const lifecycleForm = document.getElementById('lifecycle-form');
let lifecycleKind = 'role';

function openLifecycle(kind, opener) {
  lifecycleKind = kind;
  clearErrors(lifecycleForm);
  lifecycleForm.reset();
  const roleFields = document.getElementById('lifecycle-role-fields');
  const exitFields = document.getElementById('lifecycle-exit-fields');
  roleFields.hidden = kind !== 'role';
  exitFields.hidden = kind !== 'exit';
  for (const el of roleFields.querySelectorAll('select')) el.disabled = kind !== 'role';
  document.getElementById('lifecycle-title').textContent = kind === 'role' ? 'Record a role change' : 'Record an exit';
  const opts = Object.entries(ROLE_GROUPS).map(([v, t]) => h('option', { value: v }, t));
  replace(lifecycleForm.elements.from_role_group, opts.map((o) => o.cloneNode(true)));
  // No new role picked yet (not the current one, which the simulator refuses): the person chooses.
  replace(lifecycleForm.elements.to_role_group, h('option', { value: '' }, 'Choose the new role group…'), opts);
  if (state.person?.role_group) lifecycleForm.elements.from_role_group.value = state.person.role_group;
  // An exit takes its button away: the focus goes to what stands there instead.
  openDialog(lifecycleDialog, () => (opener.isConnected ? opener : document.querySelector('#person-actions a')));
}

lifecycleForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  if (!validateLocally(lifecycleForm)) return;
  const f = lifecycleForm.elements;
  const before = state.kpis;
  const button = lifecycleForm.querySelector('button[type=submit]');
  button.disabled = true;
  try {
    state.person = state.person || { staff_id: state.staffId, name: `Staff member ${shortId(state.staffId)}` };
    if (lifecycleKind === 'role') {
      await contractSystem('/role-changes', { method: 'POST', body: { staff_id: state.staffId, from_role_group: f.from_role_group.value, to_role_group: f.to_role_group.value } });
      state.person.role_group = f.to_role_group.value;
    } else {
      const body = { staff_id: state.staffId };
      if (f.reason.value.trim()) body.reason = f.reason.value.trim();
      await contractSystem('/exits', { method: 'POST', body });
      state.person.exited = true;
    }
    renderPersonHead();
    renderLifecycleActions();
    lifecycleDialog.close();
    announce('Sent. The KPIs update in a moment.');
    if (await refreshKpisUntilChanged(before, { timeout: 15000 })) loadJournal();
  } catch (error) {
    showErrors(lifecycleForm, error);
  } finally {
    button.disabled = false;
  }
});

// ---------------------------------------------------------------- tabs

function selectTab(name, focus) {
  for (const tab of document.querySelectorAll('[role=tab]')) {
    const on = tab.id === `tab-${name}`;
    tab.setAttribute('aria-selected', String(on));
    tab.tabIndex = on ? 0 : -1;
    document.getElementById(tab.getAttribute('aria-controls')).hidden = !on;
    if (on && focus) tab.focus();
  }
  const url = new URL(location.href);
  if (name === 'journal') url.searchParams.set('tab', 'journal'); else url.searchParams.delete('tab');
  history.replaceState(null, '', url);
  if (name === 'kpis') for (const chart of state.charts.values()) chart.resize();
}

function wireTabs() {
  const tabs = [...document.querySelectorAll('[role=tab]')];
  for (const tab of tabs) {
    tab.addEventListener('click', () => selectTab(tab.id.replace('tab-', ''), false));
    tab.addEventListener('keydown', (event) => {
      const i = tabs.indexOf(tab);
      let next = null;
      if (event.key === 'ArrowRight') next = tabs[(i + 1) % tabs.length];
      else if (event.key === 'ArrowLeft') next = tabs[(i - 1 + tabs.length) % tabs.length];
      else if (event.key === 'Home') next = tabs[0];
      else if (event.key === 'End') next = tabs[tabs.length - 1];
      if (next) {
        event.preventDefault();
        selectTab(next.id.replace('tab-', ''), true);
      }
    });
  }
}

// ---------------------------------------------------------------- journal

// The journal shown is the person's (newest first, a page at a time) or, with one KPI chosen in
// "Show KPI" (or its card's "View journal"), that KPI's own from its route, with its own pages:
// a KPI's entries need not be among the person's newest, so its journal is never the person's
// page filtered. The person's entries stay loaded beside it (the charts and the decisions read them).
// Loads can overlap (an action's reload, a click on "Load older entries", another KPI chosen):
// the latest full load wins, and older pages are only added on top of the entries that are drawn.
const startJournalLoad = latestOnly();
let journalBusy = false;
// Where the focus was in the journal when a redraw began (an entry just decided, say): it goes back there.
let journalFocus = null;
const JOURNAL_PAGE = 200;

function chosenKpi() {
  return document.getElementById('filter-kpi').value;
}

function personJournalPath() {
  return `/hr/staff/${encodeURIComponent(state.staffId)}/journal`;
}

function kpiJournalPath(kpiId) {
  return `/hr/staff/${encodeURIComponent(state.staffId)}/kpis/${encodeURIComponent(kpiId)}/journal`;
}

/** A KPI's first journal page; a KPI the journal has not heard of yet (it learns of new ones by
 * event) has no entries. */
async function firstKpiPage(kpiId) {
  try {
    return await api(kpiJournalPath(kpiId), { query: { limit: JOURNAL_PAGE } });
  } catch (error) {
    if (error.status === 404) return { items: [], next_cursor: null };
    throw error;
  }
}

/** The entries and the next page's cursor of what the journal shows now (null while the chosen
 * KPI's journal is still loading). */
function journalView() {
  const kpi = chosenKpi();
  if (!kpi) return { entries: state.entries, nextCursor: state.nextCursor };
  return state.kpiJournal.kpiId === kpi ? state.kpiJournal : null;
}

async function loadJournal({ more = false, focus = null, fallback = null } = {}) {
  if (more && journalBusy) return;
  const isLatest = startJournalLoad();
  journalBusy = true;
  const list = document.getElementById('journal-list');
  const kpiId = chosenKpi();
  journalFocus = focus || focusWithin(list, 'data-entry-id') || journalFocus;
  if (!more) replace(list, loading('Loading the journal…'));
  list.setAttribute('aria-busy', 'true');
  try {
    let added = [];
    if (more) {
      const view = journalView();
      if (!view?.nextCursor) return;
      const page = await api(kpiId ? kpiJournalPath(kpiId) : personJournalPath(), {
        query: { limit: JOURNAL_PAGE, cursor: view.nextCursor },
      });
      if (!isLatest()) return;
      added = page.items || [];
      view.entries = view.entries.concat(added);
      view.nextCursor = page.next_cursor || null;
      if (!kpiId) {
        state.entries = view.entries;
        state.nextCursor = view.nextCursor;
      }
    } else {
      const [page, kpiPage] = await Promise.all([
        api(personJournalPath(), { query: { limit: JOURNAL_PAGE } }),
        kpiId ? firstKpiPage(kpiId) : null,
      ]);
      if (!isLatest()) return;
      state.entries = page.items || [];
      state.nextCursor = page.next_cursor || null;
      state.kpiJournal = kpiPage
        ? { kpiId, entries: kpiPage.items || [], nextCursor: kpiPage.next_cursor || null }
        : { kpiId: null, entries: [], nextCursor: null };
    }
    renderJournal();
    if (!more) countAwaiting(); // an entry held or decided since moves the count
    if (more && document.getElementById('journal-more').hidden) {
      // The last page: its button is gone, so the focus goes to the first entry it brought.
      journalFocus = null;
      focusFirstOf(list, added);
    } else {
      restoreFocus(list, journalFocus, fallback || document.getElementById('journal-heading'));
    }
    journalFocus = null;
    if (more) announce(`${added.length} older ${added.length === 1 ? 'entry' : 'entries'} loaded.`);
    redrawCharts();
  } catch (error) {
    if (!isLatest()) return;
    // An older page that failed leaves the entries already shown where they are.
    if (more) announce(error.humanMessage);
    else replace(list, retryNotice(list, document.getElementById('journal-heading'),
      `We could not load the journal. ${error.humanMessage}`, () => loadJournal()));
  } finally {
    if (isLatest()) {
      journalBusy = false;
      list.setAttribute('aria-busy', 'false');
    }
  }
}

/** Give the focus the hidden "Load older entries" dropped to the first of `entries` the journal
 * shows (a folded run of status changes when it is in one), else to the journal's heading; a
 * focus the person has moved meanwhile stays put. */
function focusFirstOf(list, entries) {
  const active = document.activeElement;
  if (active && active !== document.body && active.id !== 'load-more') return;
  const ids = new Set(entries.map((e) => e.id));
  const target = [...list.querySelectorAll('article.entry')].find((el) => ids.has(el.dataset.entryId)
    || (el.dataset.entryIds || '').split(' ').some((id) => ids.has(id)))
    || document.getElementById('journal-heading');
  if (!target.hasAttribute('tabindex')) target.setAttribute('tabindex', '-1');
  target.focus();
}

function redrawCharts() {
  for (const kpi of state.kpis) if (state.charts.has(kpi.id) || document.getElementById(`chart-${kpi.id}`)) {
    state.charts.get(kpi.id)?.destroy();
    state.charts.delete(kpi.id);
    drawChart(kpi);
  }
}

/** Show one KPI's journal (or, with '', the person's): a KPI's own entries are loaded for it. */
function showKpiJournal(kpiId) {
  document.getElementById('filter-kpi').value = kpiId;
  if (kpiId && state.kpiJournal.kpiId !== kpiId) loadJournal();
  else renderJournal();
}

function wireJournalFilters() {
  const select = document.getElementById('filter-type');
  replace(select, h('option', { value: '' }, 'All entry types'),
    Object.entries(ENTRY_TYPES).map(([v, t]) => h('option', { value: v }, t)));
  select.addEventListener('change', renderJournal);
  const kpiFilter = document.getElementById('filter-kpi');
  kpiFilter.addEventListener('change', () => showKpiJournal(kpiFilter.value));
  const kpi = queryParam('kpi');
  if (kpi) state.pendingKpiFilter = kpi;
}

function fillKpiSelects() {
  const filter = document.getElementById('filter-kpi');
  const keep = filter.value || state.pendingKpiFilter || '';
  state.pendingKpiFilter = null;
  replace(filter, h('option', { value: '' }, 'All KPIs'),
    state.kpis.map((k) => h('option', { value: k.id }, kpiName(k) + (k.status === 'inactive' ? ' (inactive)' : ''))));
  filter.value = keep;

  const entryKpi = document.getElementById('entry-kpi');
  const current = entryKpi.value;
  const active = state.kpis.filter((k) => k.status !== 'inactive');
  replace(entryKpi, active.map((k) => h('option', { value: k.id }, kpiName(k))));
  if (current) entryKpi.value = current;
  // Entries are written against active KPIs; with none, the form says so instead.
  const fieldset = document.getElementById('entry-fields');
  fieldset.disabled = !active.length;
  fieldset.hidden = !active.length;
  document.getElementById('entry-none').hidden = active.length > 0;
  syncEntryFields();
}

/** The person's entries loaded, with those of the KPI whose journal is loaded (older ones among them). */
function loadedEntries() {
  if (!state.kpiJournal.kpiId) return state.entries;
  const ids = new Set(state.entries.map((e) => e.id));
  return state.entries.concat(state.kpiJournal.entries.filter((e) => !ids.has(e.id)));
}

function decisionsByEntry() {
  const out = new Map();
  for (const e of loadedEntries()) {
    if ((e.entry_type === 'approval_granted' || e.entry_type === 'approval_declined') && e.related_entry_id) {
      out.set(e.related_entry_id, e);
    }
  }
  return out;
}

function renderJournal() {
  const list = document.getElementById('journal-list');
  const type = document.getElementById('filter-type').value;
  const kpi = chosenKpi();
  const view = journalView();
  const more = document.getElementById('journal-more');
  more.hidden = !view?.nextCursor;
  if (!view) { // the chosen KPI's journal is on its way
    replace(list, loading('Loading the journal…'));
    return;
  }
  const shown = view.entries.filter((e) => (!type || e.entry_type === type) && (!kpi || entryKpiId(e) === kpi));
  if (!shown.length) {
    replace(list, empty('📖', view.entries.length
      ? (view.nextCursor ? 'No journal entries match these filters among those loaded. Load older entries to look further back.' : 'No journal entries match these filters.')
      : kpi ? 'This KPI’s journal is empty so far.'
        : 'The journal is empty so far. Observations, coaching notes, reflections and score updates will build up here.'));
    return;
  }
  const decisions = decisionsByEntry();
  const kpisById = new Map(state.kpis.map((k) => [k.id, k]));
  const items = [];
  for (let i = 0; i < shown.length;) {
    // A contract or a role change records many status changes at once: fold a run of them.
    // One lifecycle event writes its changes within moments; a gap starts another run.
    let j = i;
    while (j < shown.length && shown[j].entry_type === 'status_change'
      && (j === i || Math.abs(new Date(shown[j - 1].created_at) - new Date(shown[j].created_at)) < 3000)) j += 1;
    if (j - i >= 3) {
      items.push(statusChangeRun(shown.slice(i, j)));
      i = j;
    } else {
      items.push(journalEntry(shown[i], kpisById.get(entryKpiId(shown[i])), decisions.get(shown[i].id)));
      i += 1;
    }
  }
  replace(list, h('ol', { class: 'timeline', 'aria-label': 'Journal entries, newest first' }, items));
}

function statusChangeRun(entries) {
  const kinds = new Map();
  for (const e of entries) {
    const kind = (e.title || 'Status change').split(':')[0];
    kinds.set(kind, (kinds.get(kind) || 0) + 1);
  }
  const summary = [...kinds].map(([kind, n]) => (n > 1 ? `${kind} × ${n}` : kind)).join(' · ');
  const newest = entries[0].created_at;
  const oldest = entries[entries.length - 1].created_at;
  return h('li', { class: 't-status_change' },
    h('article', { class: 'entry', 'data-entry-type': 'status_change', 'data-entry-ids': entries.map((e) => e.id).join(' ') },
      h('div', { class: 'entry-head' },
        h('span', { class: 'entry-type' }, 'Status changes'),
        h('time', { class: 'muted small', datetime: newest },
          formatDateTime(oldest) === formatDateTime(newest) ? formatDateTime(newest) : `${formatDateTime(oldest)} – ${formatDateTime(newest)}`)),
      h('details', { class: 'run' },
        h('summary', {}, h('strong', {}, `${entries.length} KPI changes`), ' ', h('span', { class: 'muted small' }, summary)),
        h('ul', { class: 'run-list' }, entries.map((e) => h('li', {}, e.content || e.title || entryTypeLabel(e.entry_type)))))));
}

function approvalState(entry, decision) {
  if (entry.approval_status) return entry.approval_status; // if the API says so itself
  if (!entry.is_pending_approval) return null;
  if (decision) return decision.entry_type === 'approval_granted' ? 'approved' : 'declined';
  return 'pending';
}

function journalEntry(entry, kpi, decision) {
  const scoreType = kpi ? scoreTypeOf(kpi) : 'percentage';
  const approval = approvalState(entry, decision);
  const changed = entry.score_before !== undefined && entry.score_after !== undefined
    && entry.score_after !== null && entry.score_before !== entry.score_after;
  const body = h('article', { class: `entry${approval === 'pending' ? ' pending' : ''}`, 'data-entry-type': entry.entry_type, 'data-entry-id': entry.id },
    h('div', { class: 'entry-head' },
      h('span', { class: 'entry-type' }, entryTypeLabel(entry.entry_type)),
      h('time', { class: 'muted small', datetime: entry.created_at }, formatDateTime(entry.created_at))),
    h('h3', {}, entry.title || entryTypeLabel(entry.entry_type)),
    entry.content ? h('p', { class: 'entry-content' }, entry.content) : null,
    entry.effort_notes ? h('p', { class: 'small' }, h('strong', {}, 'Effort: '), entry.effort_notes) : null,
    h('div', { class: 'entry-meta' },
      kpi ? h('span', { class: 'chip' }, kpiName(kpi)) : null,
      changed ? h('span', { class: 'chip', 'data-score-change': '' }, entry.score_before === null
        ? `Score set to ${formatScore(entry.score_after, scoreType)}`
        : `Score ${formatScore(entry.score_before, scoreType)} → ${formatScore(entry.score_after, scoreType)}`) : null,
      entry.effort_recognized ? h('span', { class: 'chip chip-effort' }, h('span', { 'aria-hidden': 'true' }, '💪'), 'Effort recognised') : null,
      approval === 'pending' ? h('span', { class: 'chip chip-pending' }, 'Awaiting approval') : null,
      approval === 'approved' ? h('span', { class: 'chip' }, '✓ Approved') : null,
      approval === 'declined' ? h('span', { class: 'chip' }, 'Not approved') : null,
      session.isManager && entry.is_visible_to_staff === false ? h('span', { class: 'chip chip-hidden' }, 'Not visible to staff') : null,
      entry.linked_catchup_id ? h('span', { class: 'chip' }, `Catch-up ${shortId(entry.linked_catchup_id)}`) : null,
      entry.linked_incident_id ? h('span', { class: 'chip' }, `Incident ${shortId(entry.linked_incident_id)}`) : null),
    approval === 'pending' && session.isManager ? approvalBox(entry, kpi) : null);
  return h('li', { class: `t-${entry.entry_type}` }, body);
}

function approvalBox(entry, kpi) {
  const notesId = `notes-${entry.id}`;
  // An inactive KPI's scores stay as they were left: a score change waits for a reactivation
  // (the journal refuses it), while a reflection can still be approved or declined.
  const frozen = kpi?.status === 'inactive' && SCORE_MOVING_TYPES.has(entry.entry_type);
  const form = h('form', { class: 'approval-box', novalidate: true, 'aria-label': `Decide on “${entry.title || 'this entry'}”` },
    h('p', { class: 'form-error', 'data-form-error': '', role: 'alert', tabindex: '-1' }),
    h('div', { class: 'field' }, h('label', { for: notesId }, 'Notes for the decision (optional)'),
      h('textarea', { id: notesId, name: 'notes', rows: 2 })),
    frozen ? h('p', { class: 'small muted' }, 'This KPI is inactive: reactivate it to approve a score change, or decline it.') : null,
    h('div', { class: 'btn-row' },
      frozen ? null : h('button', { type: 'submit', class: 'btn btn-primary btn-small', value: 'approve' }, 'Approve'),
      h('button', { type: 'submit', class: 'btn btn-small', value: 'decline' }, 'Decline')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const decision = event.submitter?.value || (frozen ? 'decline' : 'approve');
    const body = { decision };
    const notes = form.elements.notes.value.trim();
    if (notes) body.notes = notes;
    for (const b of form.querySelectorAll('button')) b.disabled = true;
    const before = state.kpis;
    // The decided entry is redrawn without this box: the focus goes to the entry.
    const focus = { keyAttr: 'data-entry-id', key: entry.id, action: null };
    try {
      await api(`/hr/journal/${entry.id}/approval`, { method: 'POST', body });
      announce(decision === 'approve' ? 'Approved. It now counts on the journal.' : 'Declined, with your notes kept in the journal.');
      await loadJournal({ focus });
      if (decision === 'approve' && SCORING_TYPES.has(entry.entry_type)) {
        if (await refreshKpisUntilChanged(before)) loadJournal();
      }
    } catch (error) {
      if (error.status === 409) {
        // Decided elsewhere meanwhile, or the KPI was deactivated: the reload redraws this box,
        // so say it in the status toast.
        announce(error.humanMessage);
        loadJournal({ focus });
        return;
      }
      showErrors(form, error);
      for (const b of form.querySelectorAll('button')) b.disabled = false;
    }
  });
  return form;
}

// ---------------------------------------------------------------- new entries

const entryForm = document.getElementById('entry-form');
// Whether "Recognise the effort shown" was ticked by choosing an effort recognition (not by the
// person): another entry type unticks it again, so a coaching session after it is not stored
// as recognising effort.
let effortTickedForType = false;

function wireEntryForm() {
  const typeSelect = entryForm.elements.entry_type;
  if (session.isStaffOnly) {
    replace(typeSelect, h('option', { value: 'self_reflection' }, 'Self reflection'));
    document.getElementById('entry-type-field').hidden = true;
    document.getElementById('entry-title').textContent = 'Add a reflection';
    entryForm.querySelector('[data-for=staff]').hidden = false;
    entryForm.querySelector('button[type=submit]').textContent = 'Share reflection';
  } else {
    // A self reflection is the person's own voice: a manager's entry of that type would read as theirs.
    replace(typeSelect, WRITABLE_ENTRY_TYPES.filter((t) => t !== 'self_reflection').map((t) => h('option', { value: t }, entryTypeLabel(t))));
    entryForm.querySelector('[data-for=manager]').hidden = false;
  }
  typeSelect.addEventListener('change', syncEntryFields);
  entryForm.elements.kpi_id.addEventListener('change', syncEntryFields);
  // Ticked by the person, the box is theirs: another entry type leaves it as they set it.
  entryForm.elements.effort_recognized.addEventListener('change', () => { effortTickedForType = false; });
  entryForm.addEventListener('submit', submitEntry);
  syncEntryFields();
}

function syncEntryFields() {
  const type = entryForm.elements.entry_type.value;
  const effortTypes = new Set(['effort_recognition', 'observation', 'coaching_session', 'milestone', 'training_completed', 'catch_up_note']);
  const show = (key, on) => {
    for (const el of entryForm.querySelectorAll(`[data-for="${key}"]`)) {
      el.hidden = !on;
      for (const input of el.querySelectorAll('input, textarea, select')) input.disabled = !on;
    }
  };
  const isStaff = session.isStaffOnly;
  show('score_update', !isStaff && type === 'score_update');
  show('score_adjustment', !isStaff && type === 'score_adjustment');
  show('effort_recognition', !isStaff && type === 'effort_recognition');
  show('effort', !isStaff && effortTypes.has(type));
  show('catch_up_note', type === 'catch_up_note');
  show('incident_link', type === 'incident_link');
  show('manager', !isStaff);
  const effort = entryForm.elements.effort_recognized;
  if (type === 'effort_recognition') {
    if (!effort.checked) effortTickedForType = true;
    effort.checked = true;
  } else if (effortTickedForType) {
    effort.checked = false;
    effortTickedForType = false;
  }

  const kpi = state.kpis.find((k) => k.id === entryForm.elements.kpi_id.value);
  const scale = scaleOf(kpi ? scoreTypeOf(kpi) : 'percentage');
  for (const name of ['score', 'effort_score']) {
    const input = entryForm.elements[name];
    input.min = scale.min;
    input.max = scale.max;
  }
  const range = `Between ${scale.min} and ${scale.max}` + (kpi && kpi.target_score !== undefined ? `; the target is ${formatScore(kpi.target_score, scoreTypeOf(kpi))}.` : '.');
  document.getElementById('entry-score-hint').textContent = range;
  document.getElementById('entry-effort-hint').textContent = `How much effort you saw, on the same scale (${scale.min}–${scale.max}).`;
  entryForm.elements.score_impact.min = -(scale.max - scale.min);
  entryForm.elements.score_impact.max = scale.max - scale.min;
  // An example that fits the scale: a rating moves in small steps (the field allows ±4 there).
  document.getElementById('entry-impact-hint').textContent = scale.max <= 5
    ? `A positive or negative change on the ${scale.min}–${scale.max} rating, e.g. 0.5 or -1.`
    : 'A positive or negative change in percentage points, e.g. 5 or -2.';
}

function startEntry(kpi) {
  selectTab('journal', false);
  entryForm.elements.kpi_id.value = kpi.id;
  if (!session.isStaffOnly && !kpi.last_evaluated_at) entryForm.elements.entry_type.value = 'score_update';
  syncEntryFields();
  entryForm.scrollIntoView({ block: 'start', behavior: 'smooth' });
  (session.isStaffOnly ? entryForm.elements.title : entryForm.elements.entry_type).focus();
}

async function submitEntry(event) {
  event.preventDefault();
  if (!validateLocally(entryForm)) return;
  const f = entryForm.elements;
  const kpiId = f.kpi_id.value;
  const type = f.entry_type.value;
  const body = { entry_type: type, title: f.title.value.trim(), content: f.content.value.trim() };
  if (!session.isStaffOnly) {
    if (type === 'score_update') body.score = numberValue(f.score);
    if (type === 'score_adjustment') body.score_impact = numberValue(f.score_impact);
    if (type === 'effort_recognition' && numberValue(f.effort_score) !== undefined) body.effort_score = numberValue(f.effort_score);
    if (!f.effort_recognized.disabled) {
      body.effort_recognized = f.effort_recognized.checked;
      if (f.effort_notes.value.trim()) body.effort_notes = f.effort_notes.value.trim();
    }
    body.is_visible_to_staff = f.is_visible_to_staff.checked;
    body.is_pending_approval = f.is_pending_approval.checked;
  }
  if (type === 'catch_up_note' && f.linked_catchup_id.value.trim()) body.linked_catchup_id = f.linked_catchup_id.value.trim();
  if (type === 'incident_link') body.linked_incident_id = f.linked_incident_id.value.trim();

  const button = entryForm.querySelector('button[type=submit]');
  button.disabled = true;
  const before = state.kpis;
  let saved;
  try {
    saved = await api(`/hr/staff/${encodeURIComponent(state.staffId)}/kpis/${kpiId}/journal`, { method: 'POST', body });
  } catch (error) {
    showErrors(entryForm, error);
    return;
  } finally {
    button.disabled = false;
  }
  // The next entry starts afresh (every field and box as the page first drew them, the effort
  // box too), on the same KPI and entry type.
  const keepKpi = f.kpi_id.value;
  const keepType = f.entry_type.value;
  entryForm.reset();
  effortTickedForType = false;
  f.kpi_id.value = keepKpi;
  f.entry_type.value = keepType;
  syncEntryFields();
  announce(session.isStaffOnly ? 'Thank you. Your reflection is shared with your manager.' : 'Added to the journal.');
  // The focus goes to the new entry in the journal; where the filters hide it, to the form's
  // first field, for the next one.
  if (entryForm.contains(document.activeElement)) document.activeElement.blur();
  await loadJournal({ focus: saved?.id ? { keyAttr: 'data-entry-id', key: saved.id, action: null } : null, fallback: f.kpi_id });
  // The score is recomputed from the entry's event a moment later; the form is free meanwhile.
  if (!session.isStaffOnly && SCORING_TYPES.has(type) && !body.is_pending_approval) {
    if (await refreshKpisUntilChanged(before)) loadJournal();
  }
}

// ---------------------------------------------------------------- start

(async function start() {
  if (!state.staffId) {
    if (session.isStaffOnly) {
      if (session.staffId) location.replace('page_staff_detail.html?staff_id=' + encodeURIComponent(session.staffId));
      else refuse({ status: 400, humanMessage: 'Your sign-in names no staff member, so we cannot tell which page is yours. Please sign in again with a token that carries your staff id.' });
      return;
    }
    showPeople();
    return;
  }
  if (!UUID.test(state.staffId)) {
    refuse({ status: 404 });
    return;
  }
  showPerson();
})();
