// Contracting wizard, KPI step: person, template and role group, then the KPI set (required locked,
// optional toggles, role defaults, additions from the gallery with custom targets), review, create.
// The contract itself belongs to the contract system (here its simulator), which publishes
// ContractCreated with the kpi_selection; the assignment service attaches the KPIs from that event.

import { api, contractSystem, latestOnly } from './shared/api.js';
import { h, replace, loading, empty, announce, queryParam, retryNotice } from './shared/dom.js';
import { showErrors, clearErrors, validateLocally, markInvalid, numberValue } from './shared/forms.js';
import { requireSession, stopThePage } from './shared/session.js';
import { renderNav } from './shared/nav.js';
import { knownPeople } from './shared/people.js';
import { ROLE_GROUPS, categoryLabel, roleGroupLabel, frequencyLabel, formatScore, scaleOf } from './shared/format.js';

const session = await requireSession();
renderNav(session, 'page_hr_contracting.html');

const STEPS = ['person', 'contract', 'kpis', 'review'];
const form = document.getElementById('wizard');
const status = document.getElementById('wizard-status');

const state = {
  step: 0,
  people: [],
  templates: [],
  allModules: [],
  templateKpis: [], // [{kpi_module_id, is_required, custom_target, module}]
  roleModules: [], // modules for the role group (defaults + universal + optional)
  excluded: new Set(), // module ids switched off
  added: [], // [{module, custom_target}]
  loadedFor: null, // "templateId|roleGroup" the KPI lists were loaded for
  loaded: new Set(), // which of SOURCES have loaded
  current: null, // someone already with us: {staffId, kpis} or {staffId, error} from the assignment service
};

if (!session.isManager) {
  replace(document.getElementById('main'), h('div', { class: 'panel', role: 'alert' },
    h('h1', {}, 'Managers only'), h('p', {}, 'Creating contracts is for managers and HR administrators.')));
  await stopThePage();
}

// ---------------------------------------------------------------- steps

function showStep(index, { focus = true } = {}) {
  state.step = index;
  const name = STEPS[index];
  for (const section of form.querySelectorAll('.wizard-step')) section.classList.toggle('active', section.dataset.step === name);
  for (const [i, li] of [...document.querySelectorAll('#steps li')].entries()) {
    li.classList.toggle('done', i < index);
    if (i === index) li.setAttribute('aria-current', 'step'); else li.removeAttribute('aria-current');
  }
  document.getElementById('back').hidden = index === 0;
  document.getElementById('next').hidden = index === STEPS.length - 1;
  document.getElementById('create').hidden = index !== STEPS.length - 1;
  clearErrors(form);
  if (focus) form.querySelector(`.wizard-step[data-step="${name}"] h2`).focus();
}

/** Disable the inputs of the steps that are not shown, so that browser validation sees only this step. */
function validateStep() {
  const current = form.querySelector('.wizard-step.active');
  // The KPI step's own check says what a custom target may be, in words the browser's does not have.
  if (current.dataset.step === 'kpis') return validateAdded();
  const disabled = [];
  for (const el of form.querySelectorAll('.wizard-step:not(.active) :is(input, select, textarea)')) {
    if (!el.disabled) { el.disabled = true; disabled.push(el); }
  }
  const ok = validateLocally(form);
  for (const el of disabled) el.disabled = false;
  if (!ok) return false;
  if (current.dataset.step === 'contract' && !form.querySelector('input[name=template_id]:checked')) {
    const first = form.querySelector('input[name=template_id]');
    if (first) { markInvalid(first, 'Pick a contract template.'); first.focus(); }
    return false;
  }
  return true;
}

document.getElementById('next').addEventListener('click', async (event) => {
  if (!validateStep()) return;
  const next = event.currentTarget;
  const from = state.step;
  // Held while the KPIs load: a second click would otherwise advance twice and skip their step.
  next.disabled = true;
  try {
    if (STEPS[from] === 'contract') {
      // Someone already with us: the KPI step shows what they hold, so it reads their KPIs too.
      const [loaded] = await Promise.all([loadKpiChoices(), loadCurrentKpis()]);
      if (!loaded) return;
    }
    if (STEPS[from + 1] === 'review') await loadCurrentKpis();
    if (state.step !== from) return; // the person went Back while the KPIs loaded
    if (STEPS[from + 1] === 'kpis') renderKpiStep();
    if (STEPS[from + 1] === 'review') renderReview();
    showStep(from + 1);
  } finally {
    next.disabled = false;
  }
});
document.getElementById('back').addEventListener('click', () => {
  // Back from the review: its read of their KPIs is the newer one.
  if (STEPS[state.step - 1] === 'kpis') renderKpiStep();
  showStep(state.step - 1);
});

// ---------------------------------------------------------------- step 1: person

function syncPersonKind() {
  const isNew = form.elements.person_kind.value === 'new';
  document.getElementById('existing-field').hidden = isNew;
  document.getElementById('new-field').hidden = !isNew;
  form.elements.staff_id.disabled = isNew;
  form.elements.name.disabled = !isNew;
}
for (const radio of form.querySelectorAll('input[name=person_kind]')) radio.addEventListener('change', syncPersonKind);

function personSummary() {
  if (form.elements.person_kind.value === 'new') return { name: form.elements.name.value.trim(), isNew: true };
  const person = state.people.find((p) => p.staff_id === form.elements.staff_id.value);
  return { staffId: form.elements.staff_id.value, name: person ? person.name : form.elements.staff_id.value, isNew: false, person };
}

// ---------------------------------------------------------------- step 2: contract

function renderTemplates() {
  const box = document.getElementById('template-options');
  replace(box, h('legend', {}, 'Contract template'),
    state.templates.length
      ? state.templates.map((t) => h('label', { class: 'role-option' },
        h('input', { type: 'radio', name: 'template_id', value: t.id }),
        h('div', {}, h('strong', {}, t.name), h('span', {}, `${roleGroupLabel(t.role_group)} · ${t.description || ''}`))))
      : h('p', { class: 'notice' }, state.loaded.has('templates')
        ? 'The contract system has no templates to offer right now.'
        : 'The contract templates could not be loaded from the contract system: use Try again at the top of the page.'));
  for (const radio of box.querySelectorAll('input')) {
    radio.addEventListener('change', () => {
      const template = state.templates.find((t) => t.id === radio.value);
      if (template) form.elements.role_group.value = template.role_group;
    });
  }
}

// ---------------------------------------------------------------- step 3: KPIs

function chosenContract() {
  const templateId = form.querySelector('input[name=template_id]:checked').value;
  const roleGroup = form.elements.role_group.value;
  return { templateId, roleGroup, key: `${templateId}|${roleGroup}` };
}

/** The KPI step's lists for the template and role group chosen now; false when they failed to load. */
async function loadKpiChoices() {
  const { templateId, roleGroup, key } = chosenContract();
  if (state.loadedFor === key) return true;
  const groups = document.getElementById('kpi-groups');
  replace(groups, loading('Loading the template’s KPIs and the role’s defaults…'));
  try {
    const [templateKpis, roleModules] = await Promise.all([
      api(`/hr/templates/${templateId}/kpis`),
      api('/hr/kpi-modules', { query: { role_group: roleGroup } }),
    ]);
    // Chosen again while these loaded: load what is chosen now.
    if (chosenContract().key !== key) return loadKpiChoices();
    state.templateKpis = templateKpis;
    state.roleModules = roleModules;
    state.excluded = new Set();
    state.loadedFor = key;
    return true;
  } catch (error) {
    replace(groups, h('p', { class: 'notice', role: 'alert' }, error.humanMessage));
    showErrors(form, error);
    return false;
  }
}

/** Someone already with us, and what the assignment service said they hold (null for a new person). */
function currentFor(who) {
  return !who.isNew && state.current?.staffId === who.staffId ? state.current : null;
}

/** The modules the person holds now (active, with the target each has for them), and those they
 * held before (inactive); empty for a new person or when their KPIs could not be read. */
function holdings() {
  const held = currentFor(personSummary())?.kpis || [];
  const holding = held.filter((k) => k.status === 'active');
  const active = new Set(holding.map((k) => k.kpi_module_id));
  const targets = new Map(holding.map((k) => [k.kpi_module_id, k.target_score]));
  const before = new Set(held.filter((k) => k.status !== 'active' && !active.has(k.kpi_module_id)).map((k) => k.kpi_module_id));
  return { active, before, targets };
}

/** The KPI lists of step 3: template (required, optional), role defaults, universal; and, for
 * someone already with us, those of them they hold now, apart: already theirs, so not a choice. */
function kpiSections() {
  const { active, targets } = holdings();
  const templateIds = new Set(state.templateKpis.map((t) => t.kpi_module_id));
  const required = state.templateKpis.filter((t) => t.is_required).map((t) => ({ module: t.module, target: t.custom_target, required: true, locked: 'required' }));
  const optional = state.templateKpis.filter((t) => !t.is_required).map((t) => ({ module: t.module, target: t.custom_target }));
  const universal = state.roleModules.filter((m) => (m.is_universal || !m.role_group) && !templateIds.has(m.id))
    .map((m) => ({ module: m, locked: 'universal' }));
  const defaults = state.roleModules.filter((m) => m.is_default_for_role && m.role_group && !templateIds.has(m.id))
    .map((m) => ({ module: m }));
  const notHeld = (items) => items.filter((i) => !active.has(i.module.id));
  const theirs = [...required, ...optional, ...defaults, ...universal].filter((i) => active.has(i.module.id))
    .map((i) => ({ ...i, locked: 'theirs', heldTarget: targets.get(i.module.id) }));
  return [
    { id: 'required', title: 'Required by the template', note: 'Locked: every contract from this template includes them.', items: notHeld(required) },
    { id: 'optional', title: 'Optional on the template', note: 'Switch off any that do not fit this person.', items: notHeld(optional) },
    { id: 'defaults', title: `Defaults for ${roleGroupLabel(form.elements.role_group.value).toLowerCase()}s`, note: 'Everyone in this role group starts with these unless you switch them off.', items: notHeld(defaults) },
    { id: 'universal', title: 'For everyone', note: 'The five universal KPIs apply to all staff.', items: notHeld(universal) },
    { id: 'theirs', title: 'Already theirs', note: 'This contract brings these too, and they hold them now: they stay theirs with their history and are not assigned twice.', items: theirs },
  ];
}

/** Whether a KPI of the step is in the contract: a locked one always, the others unless switched off. */
function isOn(item) {
  return Boolean(item.locked) || !state.excluded.has(item.module.id);
}

function includedIds() {
  const ids = new Set();
  for (const section of kpiSections()) for (const item of section.items) if (isOn(item)) ids.add(item.module.id);
  return ids;
}

/** The KPI step, for the person, template and role group chosen now. */
function renderKpiStep() {
  const who = personSummary();
  const current = currentFor(who);
  const { active } = holdings();
  document.getElementById('h-kpis').textContent = who.isNew ? 'KPIs this person starts with' : 'KPIs this contract adds';
  document.getElementById('kpis-intro').textContent = who.isNew
    ? 'Required KPIs are locked by the template. Optional ones are on unless you switch them off. You can add more from the gallery.'
    : 'A new contract keeps every KPI they hold now and adds these. Required KPIs are locked by the template; optional ones are on unless you switch them off. You can add more from the gallery.';
  state.added = state.added.filter((a) => !includedIds().has(a.module.id) && !active.has(a.module.id));
  renderKpiGroups(current);
  renderGalleryPick();
  renderAdded();
}

function renderKpiGroups(current) {
  const heldBefore = holdings().before;
  const sections = kpiSections().filter((s) => s.items.length);
  const groups = document.getElementById('kpi-groups');
  const unknown = current?.error ? h('p', { class: 'notice', 'data-kpi-step': 'current-unknown' },
    'Their current KPIs could not be loaded, so KPIs they already hold may be listed here as if new. ',
    'Those stay theirs and are not assigned twice; the review asks again.') : null;
  const choices = sections.filter((s) => s.id !== 'theirs');
  if (!sections.length) {
    replace(groups, unknown, empty('🧩', 'This template and role group bring no KPIs. Add some from the gallery below.'));
    return;
  }
  replace(groups, unknown,
    choices.length ? null : h('p', { 'data-kpi-step': 'nothing-new' }, 'Nothing new: every KPI of this contract is already theirs. You can add more from the gallery below.'),
    sections.map((section) => h('div', { class: 'section', 'data-kpi-group': section.id },
      h('h3', {}, section.title, ' ', h('span', { class: 'muted small' }, `(${section.items.length})`)),
      h('p', { class: 'muted small' }, section.note),
      h('ul', { class: 'kpi-pick-list' }, section.items.map((item) => kpiPick(item, heldBefore))))));
}

const LOCKS = {
  required: { icon: '🔒', words: 'Required', title: 'Required by the template' },
  universal: { icon: '🔒', words: 'Applies to everyone', title: 'Applies to everyone' },
  theirs: { icon: '✓', words: 'Already theirs', title: 'Already theirs: they hold it now' },
};

function kpiPick(item, heldBefore) {
  const m = item.module;
  const on = isOn(item);
  const inputId = `pick-${m.id}`;
  const lock = LOCKS[item.locked];
  const control = lock
    ? h('span', { class: 'lock', title: lock.title },
      h('span', { 'aria-hidden': 'true' }, lock.icon), h('span', { class: 'visually-hidden' }, lock.words))
    : h('span', { class: 'switch' }, h('input', {
      type: 'checkbox', id: inputId, checked: on, 'data-module-id': m.id,
      onchange: (e) => {
        if (e.target.checked) state.excluded.delete(m.id); else state.excluded.add(m.id);
        e.target.closest('.kpi-pick').classList.toggle('off', !e.target.checked);
        renderGalleryPick();
      },
    }));
  const name = item.locked ? h('span', { class: 'kpi-pick-name' }, m.name) : h('label', { class: 'kpi-pick-name', for: inputId }, m.name);
  return h('li', { class: `kpi-pick cat-${m.category}${on ? '' : ' off'}` },
    control, name,
    h('span', { class: 'chip' }, categoryLabel(m.category)),
    h('div', { class: 'kpi-pick-detail' },
      h('span', {}, frequencyLabel(m.evaluation_frequency)),
      pickTarget(item),
      item.required ? h('span', { class: 'chip chip-lock' }, 'Required') : null,
      heldBefore.has(m.id) ? h('span', { class: 'chip' }, 'Held before: comes back with its history') : null));
}

/** The target a KPI of the step would have: the template's or the module's; one already theirs
 * keeps the target it has for them (absent when their KPIs were read without scoring). */
function pickTarget(item) {
  const m = item.module;
  if (item.locked === 'theirs') {
    return item.heldTarget === undefined || item.heldTarget === null ? null
      : h('span', {}, `Target ${formatScore(item.heldTarget, m.score_type)} (theirs now, it stays)`);
  }
  if (m.target_score === undefined) return null;
  const byTemplate = item.target !== undefined && item.target !== null;
  return h('span', {}, `Target ${formatScore(byTemplate ? item.target : m.target_score, m.score_type)}${byTemplate ? ' (set by the template)' : ''}`);
}

// the gallery: everything not already in the set

function renderGalleryPick() {
  const included = includedIds();
  const held = holdings().active; // already theirs, whichever contract brought it
  const addedIds = new Set(state.added.map((a) => a.module.id));
  const q = document.getElementById('gallery-search').value.trim().toLowerCase();
  const roleGroup = form.elements.role_group.value;
  const candidates = state.allModules.filter((m) => !m.is_archived && !included.has(m.id) && !held.has(m.id) && !addedIds.has(m.id)
    && (!q || m.name.toLowerCase().includes(q) || (m.objective || '').toLowerCase().includes(q)))
    // this role group's own optional KPIs first, then the rest of the gallery
    .sort((a, b) => (b.role_group === roleGroup) - (a.role_group === roleGroup));
  const select = document.getElementById('gallery-pick');
  replace(select, candidates.length
    ? candidates.map((m) => h('option', { value: m.id }, `${m.name} · ${roleGroupLabel(m.role_group)}`))
    : [h('option', { value: '' }, !state.loaded.has('allModules') ? 'The KPI gallery could not be loaded'
      : q ? 'No KPI matches that search' : 'Every KPI is already included')]);
  select.disabled = !candidates.length;
  document.getElementById('gallery-add').disabled = !candidates.length;
}

document.getElementById('gallery-search').addEventListener('input', renderGalleryPick);
// The search filters as one types: Enter there has nothing to submit.
document.getElementById('gallery-search').addEventListener('keydown', (event) => {
  if (event.key === 'Enter') event.preventDefault();
});
document.getElementById('gallery-add').addEventListener('click', () => {
  const module = state.allModules.find((m) => m.id === document.getElementById('gallery-pick').value);
  if (!module) return;
  state.added.push({ module, custom_target: null });
  renderAdded();
  renderGalleryPick();
  announce(`Added “${module.name}”.`);
  document.querySelector(`#added-list [data-module-id="${module.id}"]`)?.focus();
});

function renderAdded() {
  const list = document.getElementById('added-list');
  if (!state.added.length) {
    replace(list, h('li', { class: 'muted small' }, 'Nothing added yet.'));
    return;
  }
  replace(list, state.added.map((entry, i) => {
    const m = entry.module;
    const range = targetRange(m);
    const targetId = `target-${m.id}`;
    return h('li', { class: `kpi-pick cat-${m.category}` },
      h('span', { 'aria-hidden': 'true' }, '+'),
      h('span', { class: 'kpi-pick-name' }, m.name),
      h('button', {
        type: 'button', class: 'btn btn-small btn-quiet', 'data-module-id': m.id, 'aria-label': `Remove ${m.name}`,
        onclick: () => { state.added.splice(i, 1); renderAdded(); renderGalleryPick(); announce(`Removed “${m.name}”.`); },
      }, 'Remove'),
      h('div', { class: 'kpi-pick-detail' },
        h('label', { for: targetId }, 'Custom target'),
        h('input', {
          type: 'number', id: targetId, name: `custom_target_${m.id}`, class: 'target-input', step: 'any',
          min: range.min, max: range.max, placeholder: m.target_score ?? '', value: entry.custom_target ?? '',
          'data-minimum': range.fromMinimum ? range.min : null,
          oninput: (e) => { entry.custom_target = numberValue(e.target) ?? null; },
        }),
        h('span', {}, `Gallery target ${formatScore(m.target_score, m.score_type)} · meeting from ${formatScore(range.min, m.score_type)} · ${frequencyLabel(m.evaluation_frequency)}`)));
  }));
}

/** The custom targets a module takes: on its scale, and not under its minimum score (the
 * assignment service refuses those: no score could then count as meeting). */
function targetRange(m) {
  const scale = scaleOf(m.score_type);
  const min = Math.max(scale.min, Number(m.minimum_score ?? scale.min));
  return { min, max: scale.max, fromMinimum: min > scale.min };
}

function validateAdded() {
  clearErrors(form);
  for (const input of document.querySelectorAll('#added-list input[type=number]')) {
    if (!input.checkValidity()) {
      markInvalid(input, `Use a target from ${input.min} to ${input.max}.`
        + (input.dataset.minimum ? ` It cannot be lower than this KPI’s minimum score (${input.dataset.minimum}), where “meeting” begins.` : ''));
      input.focus();
      return false;
    }
  }
  return true;
}

// ---------------------------------------------------------------- step 4: review and create

function selection() {
  const optionalIds = new Set();
  for (const section of kpiSections()) for (const item of section.items) if (!item.locked) optionalIds.add(item.module.id);
  const excluded = [...state.excluded].filter((id) => optionalIds.has(id));
  // Added KPIs with a custom target are assigned by hand after the contract (the event carries no targets).
  const viaEvent = state.added.filter((a) => a.custom_target === null || a.custom_target === undefined).map((a) => a.module.id);
  const viaApi = state.added.filter((a) => a.custom_target !== null && a.custom_target !== undefined);
  return { excluded, viaEvent, viaApi };
}

const readCurrent = latestOnly();

/** Someone already with us: their KPIs as the assignment service holds them now (inactive ones
 * too), for the review. A failure is kept as such: the review says so and the contract can still go. */
async function loadCurrentKpis() {
  const who = personSummary();
  if (who.isNew || !who.staffId) {
    state.current = null;
    return;
  }
  const isLatest = readCurrent();
  let current;
  try {
    const kpis = await api(`/hr/staff/${encodeURIComponent(who.staffId)}/kpis`, { query: { status: 'all' } });
    current = { staffId: who.staffId, kpis: Array.isArray(kpis) ? kpis : [] };
  } catch (error) {
    current = { staffId: who.staffId, error };
  }
  if (isLatest()) state.current = current;
}

/** The KPIs this contract gives, as the review lists them: [{module, required, added, target}]. */
function contractKpis() {
  const included = kpiSections().flatMap((s) => s.items.filter(isOn));
  return [
    ...included.map((i) => ({ module: i.module, required: Boolean(i.required) })),
    ...state.added.map((a) => ({ module: a.module, added: true, target: a.custom_target ?? null })),
  ];
}

function kpiLine(item, { targetKept = false } = {}) {
  return h('li', {}, item.module.name,
    item.required ? [h('span', { 'aria-hidden': 'true' }, ' 🔒'), h('span', { class: 'visually-hidden' }, ' (required)')] : '',
    item.added ? [' (added', item.target !== null && !targetKept ? `, target ${formatScore(item.target, item.module.score_type)}` : '', ')'] : '',
    item.added && item.target !== null && targetKept ? ' (their current target stays)' : '');
}

function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

function renderReview() {
  const who = personSummary();
  const template = state.templates.find((t) => t.id === form.querySelector('input[name=template_id]:checked')?.value);
  const roleGroup = form.elements.role_group.value;
  const kpis = contractKpis();
  const switchedOff = kpiSections().flatMap((s) => s.items.filter((i) => !isOn(i)));
  const current = currentFor(who);
  const story = current?.kpis ? whatChangesForThem(who, roleGroup, kpis, current.kpis) : null;
  replace(document.getElementById('review'),
    h('div', { class: 'review-grid' },
      h('div', {},
        h('dl', { class: 'facts' },
          h('dt', {}, 'Person'), h('dd', {}, who.name, who.isNew ? ' (new)' : ''),
          h('dt', {}, 'Template'), h('dd', {}, template ? template.name : '—'),
          h('dt', {}, 'Role group'), h('dd', {}, roleGroupLabel(roleGroup)),
          h('dt', {}, 'KPIs'), h('dd', { 'data-testid': 'kpi-count' }, story ? story.count : String(kpis.length)))),
      h('div', {},
        current?.error ? currentKpisUnknown(current.error) : null,
        story ? story.body : [
          h('h3', {}, 'They will start with'),
          h('ul', { class: 'tips' }, kpis.map((item) => kpiLine(item)))],
        switchedOffLines(switchedOff, story ? story.activeIds : new Set()))));
}

/** The KPIs switched off on this contract; one the person already holds stays theirs all the same. */
function switchedOffLines(switchedOff, activeIds) {
  const names = (items) => items.map((i) => i.module.name).join(', ');
  const stays = switchedOff.filter((i) => activeIds.has(i.module.id));
  const off = switchedOff.filter((i) => !activeIds.has(i.module.id));
  return [
    off.length ? h('p', { class: 'muted small' }, 'Switched off: ', names(off)) : null,
    stays.length ? h('p', { class: 'muted small' }, 'Switched off on this contract, but already theirs, so they keep it: ', names(stays)) : null,
  ];
}

/** The assignment service did not answer: say so, offer to ask again, and let the review be today's. */
function currentKpisUnknown(error) {
  return h('div', { class: 'notice', role: 'alert', 'data-review': 'current-unknown' },
    h('p', {}, 'Their current KPIs could not be loaded, so this review lists only what the contract brings. ',
      'You can still create the contract: KPIs they already hold stay with them and are not assigned twice. ',
      error.humanMessage || error.message),
    h('button', {
      type: 'button', class: 'btn',
      onclick: async (event) => {
        event.currentTarget.disabled = true;
        await loadCurrentKpis();
        renderReview();
        document.getElementById('h-review').focus();
      },
    }, 'Try again'));
}

/** For someone already with us: what they keep, what this contract adds (new, or coming back with
 * their history), what is already theirs, and a word on their role when the contract's differs.
 * A contract never retires a KPI: only a role change or an exit does. */
function whatChangesForThem(who, roleGroup, kpis, held) {
  const active = held.filter((k) => k.status === 'active');
  const activeIds = new Set(active.map((k) => k.kpi_module_id));
  const heldBefore = new Set(held.filter((k) => k.status !== 'active').map((k) => k.kpi_module_id));
  const already = kpis.filter((i) => activeIds.has(i.module.id));
  const adds = kpis.filter((i) => !activeIds.has(i.module.id));
  const comingBack = adds.filter((i) => heldBefore.has(i.module.id));
  const fresh = adds.filter((i) => !heldBefore.has(i.module.id));
  const theirRole = who.person?.role_group;
  const count = `${active.length + adds.length}: they keep ${active.length}, this contract adds ${adds.length}`;

  const body = [
    // Someone who has left holds no role's KPIs: the contract re-hires them in its own role group.
    theirRole && theirRole !== roleGroup && !who.person?.exited ? h('p', { class: 'notice notice-info', 'data-review': 'role-note' },
      `This contract is for the ${roleGroupLabel(roleGroup).toLowerCase()} role group; ${who.name} is in the ${roleGroupLabel(theirRole).toLowerCase()} role group now. `,
      `A contract does not change their role, so the KPIs of their ${roleGroupLabel(theirRole).toLowerCase()} role stay active. `,
      'To move them to the new role’s KPIs, record a role change on ',
      h('a', { href: `page_staff_detail.html?staff_id=${encodeURIComponent(who.staffId)}` }, 'their page'),
      ` (“Record a role change”, from ${roleGroupLabel(theirRole).toLowerCase()} to ${roleGroupLabel(roleGroup).toLowerCase()}).`) : null,

    h('section', { class: 'review-part', 'data-review': 'keep' },
      h('h3', {}, 'What they keep'),
      active.length
        ? [h('p', {}, `Their ${plural(active.length, 'active KPI')} stay with them: a new contract keeps every KPI they hold, and its history carries on.`),
          h('details', {},
            h('summary', {}, `Show the ${plural(active.length, 'KPI')} they hold now`),
            h('ul', { class: 'tips' }, active.map((k) => h('li', {}, k.module?.name || 'A KPI'))))]
        : h('p', {}, heldBefore.size
          ? 'No KPIs are active for them right now: the ones they held before rest with their history.'
          : 'No KPIs are active for them yet.')),

    h('section', { class: 'review-part', 'data-review': 'adds' },
      h('h3', {}, 'What this contract adds'),
      !adds.length ? h('p', {}, 'Nothing new: every KPI of this contract is already theirs.') : null,
      fresh.length ? [h('p', {}, `New for them (${fresh.length}):`),
        h('ul', { class: 'tips', 'data-review': 'new' }, fresh.map((item) => kpiLine(item)))] : null,
      comingBack.length ? [h('p', {}, `Coming back (${comingBack.length}): they held these before, and this contract makes them active again with their history.`),
        h('ul', { class: 'tips', 'data-review': 'back' }, comingBack.map((item) => kpiLine(item)))] : null),

    already.length ? h('section', { class: 'review-part', 'data-review': 'already' },
      h('h3', {}, 'Already theirs'),
      h('p', {}, `${plural(already.length, 'KPI')} of this contract ${already.length === 1 ? 'is' : 'are'} already active for them, so ${already.length === 1 ? 'it is' : 'they are'} not assigned twice:`),
      h('ul', { class: 'tips' }, already.map((item) => kpiLine(item, { targetKept: true })))) : null,
  ];
  return { count, body, activeIds };
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  // Enter in a field submits the form from any step; before the review it means Next.
  if (STEPS[state.step] !== 'review') {
    document.getElementById('next').click();
    return;
  }
  const who = personSummary();
  const templateId = form.querySelector('input[name=template_id]:checked')?.value;
  const { excluded, viaEvent, viaApi } = selection();
  const body = {
    template_id: templateId,
    role_group: form.elements.role_group.value,
    kpi_selection: { excluded_module_ids: excluded, added_module_ids: viaEvent },
  };
  if (who.isNew) body.name = who.name; else body.staff_id = who.staffId;

  const button = document.getElementById('create');
  button.disabled = true;
  replace(status, loading('Creating the contract…'));
  let created;
  try {
    created = await contractSystem('/contracts', { method: 'POST', body });
  } catch (error) {
    replace(status);
    button.disabled = false;
    // Errors about the person or the template belong to earlier steps: go back to them.
    const fields = (error.errors || []).map((e) => e.field);
    if (fields.some((f) => f === 'name' || f === 'staff_id')) showStep(0, { focus: false });
    else if (fields.some((f) => f === 'template_id' || f === 'role_group')) showStep(1, { focus: false });
    showErrors(form, error);
    return;
  }

  const problems = [];
  for (const entry of viaApi) {
    try {
      await api(`/hr/staff/${created.staff_id}/kpis`, {
        method: 'POST',
        body: { kpi_module_id: entry.module.id, contract_id: created.contract_id, custom_target: entry.custom_target },
      });
    } catch (error) {
      if (error.status !== 409) problems.push(`${entry.module.name}: ${assignmentProblem(error)}`);
    }
  }
  replace(status);
  form.hidden = true;
  document.getElementById('steps').hidden = true;
  const done = document.getElementById('done');
  done.hidden = false;
  const staffUrl = `page_staff_detail.html?staff_id=${encodeURIComponent(created.staff_id)}&new=1`;
  replace(document.getElementById('done-body'),
    h('p', {}, `The contract for ${who.name} is in the contract system. Their KPIs are being attached now and appear on their page in a moment.`),
    problems.length ? h('p', { class: 'notice' }, 'Some added KPIs could not be assigned: ', problems.join('; ')) : null,
    h('dl', { class: 'facts' },
      h('dt', {}, 'Staff id'), h('dd', { class: 'mono', 'data-testid': 'created-staff-id' }, created.staff_id),
      h('dt', {}, 'Contract id'), h('dd', { class: 'mono' }, created.contract_id)),
    h('div', { class: 'btn-row' },
      h('a', { class: 'btn btn-primary', href: staffUrl, id: 'open-staff' }, `Open ${who.name}’s KPIs`),
      h('a', { class: 'btn', href: 'page_hr_contracting.html' }, 'Create another contract')));
  document.getElementById('h-done').focus();
  announce('Contract created.');
});

/** Why a KPI added with a custom target was not assigned, in words (the service names its field). */
function assignmentProblem(error) {
  const target = error.fieldMessage('custom_target');
  return target ? `its custom target ${target.replace(/module's/g, 'KPI’s')}.` : error.humanMessage;
}

// ---------------------------------------------------------------- start

// What the wizard needs first, from two systems. Each may fail on its own: the banner says which,
// and Try again asks only for what is still missing.
const SOURCES = [
  { key: 'people', what: 'the people', from: 'the contract system', load: knownPeople },
  { key: 'templates', what: 'the contract templates', from: 'the contract system', load: () => contractSystem('/templates') },
  { key: 'allModules', what: 'the KPI gallery', from: 'the KPI catalogue', load: () => api('/hr/kpi-modules') },
];

async function loadSources() {
  const missing = SOURCES.filter((source) => !state.loaded.has(source.key));
  replace(status, loading('Loading people and contract templates…'));
  const answers = await Promise.allSettled(missing.map((source) => source.load()));
  const failures = [];
  for (const [i, source] of missing.entries()) {
    if (answers[i].status === 'fulfilled') {
      state[source.key] = answers[i].value;
      state.loaded.add(source.key);
    } else {
      failures.push(`Could not load ${source.what} from ${source.from}: ${answers[i].reason.humanMessage || answers[i].reason.message}`);
    }
  }
  // Try again leaves the focus on the step being filled in once all is there, on itself if not.
  replace(status, failures.length
    ? retryNotice(status, () => form.querySelector('.wizard-step.active h2'), failures.join(' '), loadSources)
    : null);
  renderPeople();
  // Drawn again only when they were asked for: a template already picked stays picked.
  if (missing.some((source) => source.key === 'templates')) renderTemplates();
  renderGalleryPick();
}

function renderPeople() {
  const select = form.elements.staff_id;
  const keep = select.value || queryParam('staff_id');
  // People who have left are listed too: a new contract re-hires them as themselves, history and all.
  replace(select, state.people.map((p) => h('option', { value: p.staff_id },
    `${p.name}${p.exited ? ' (left)' : ''} · ${roleGroupLabel(p.role_group)}`)));
  if (keep) {
    if (!state.people.some((p) => p.staff_id === keep)) select.append(h('option', { value: keep }, `Staff member ${keep.slice(0, 8)}`));
    select.value = keep;
  }
  // Nobody yet: a new person. Not when the people could not be loaded (it may be someone already with us).
  if (state.loaded.has('people') && !state.people.length && !keep) {
    form.querySelector('input[name=person_kind][value=new]').checked = true;
  }
  syncPersonKind();
}

(async function start() {
  replace(form.elements.role_group, Object.entries(ROLE_GROUPS).map(([v, t]) => h('option', { value: v }, t)));
  showStep(0, { focus: false });
  renderAdded();
  await loadSources();
})();
