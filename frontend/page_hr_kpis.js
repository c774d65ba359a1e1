// KPI Gallery: browse, search and read the KPI library; hr_admin edits modules and template KPI sets.

import { api, contractSystem, latestOnly } from './shared/api.js';
import { h, replace, loading, empty, announce, openDialog } from './shared/dom.js';
import { showErrors, clearErrors, validateLocally, numberValue, linesValue } from './shared/forms.js';
import { requireSession } from './shared/session.js';
import { renderNav } from './shared/nav.js';
import {
  CATEGORIES, ROLE_GROUPS, FREQUENCIES, label, categoryLabel, roleGroupLabel, frequencyLabel,
  formatScore, formatPercentOf1,
} from './shared/format.js';

const session = await requireSession();
renderNav(session, 'page_hr_kpis.html');

const filters = document.getElementById('filters');
const results = document.getElementById('results');
const resultsStatus = document.getElementById('results-status');
const detailDialog = document.getElementById('detail-dialog');
const editDialog = document.getElementById('edit-dialog');
const editForm = document.getElementById('edit-form');

let modules = [];
let editing = null; // the module being edited, or null for a new one

function options(select, map, keep = true) {
  const first = keep ? [...select.options].slice(0, 1) : [];
  replace(select, first, Object.entries(map).map(([value, text]) => h('option', { value }, text)));
}

options(filters.elements.role_group, ROLE_GROUPS);
options(filters.elements.category, CATEGORIES);
options(editForm.elements.category, CATEGORIES, false);
options(editForm.elements.role_group, ROLE_GROUPS, false);
// No role group means a universal KPI, given to everyone; last, so a new module names its role.
editForm.elements.role_group.append(h('option', { value: '' }, 'Everyone (universal KPI)'));
options(editForm.elements.evaluation_frequency, FREQUENCIES, false);

if (session.isAdmin) {
  document.getElementById('admin-actions').hidden = false;
  document.getElementById('archived-toggle').hidden = false;
}

// ---------- the library ----------

const startModulesLoad = latestOnly();
async function loadModules() {
  const isLatest = startModulesLoad();
  const f = filters.elements;
  results.setAttribute('aria-busy', 'true');
  replace(results, loading('Loading the KPI library…'));
  clearErrors(filters);
  try {
    const query = { role_group: f.role_group.value, category: f.category.value, text: f.q.value.trim() };
    if (f.show_archived.checked) query.include_archived = 'true';
    const list = await api('/hr/kpi-modules', { query });
    if (!isLatest()) return;
    modules = Array.isArray(list) ? list : list.items || [];
    render();
  } catch (error) {
    if (!isLatest()) return;
    if (error.errors?.length) showErrors(filters, error);
    replace(results, h('p', { class: 'notice', role: 'alert' }, error.humanMessage));
  } finally {
    if (isLatest()) results.setAttribute('aria-busy', 'false');
  }
}

function visibleModules() {
  const showArchived = filters.elements.show_archived.checked;
  return modules.filter((m) => showArchived || !m.is_archived);
}

function render() {
  const list = visibleModules();
  resultsStatus.textContent = `${list.length} KPI module${list.length === 1 ? '' : 's'} shown.`;
  if (!list.length) {
    replace(results, empty('🔍', 'No KPI modules match these filters. Try a broader search or another role group.'));
    return;
  }
  const by = filters.elements.group_by.value;
  const groups = new Map();
  for (const m of list) {
    const key = m[by] || (by === 'role_group' ? 'all_staff' : 'other');
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(m);
  }
  const order = by === 'category' ? Object.keys(CATEGORIES) : ['all_staff', ...Object.keys(ROLE_GROUPS)];
  const keys = [...groups.keys()].sort((a, b) => order.indexOf(a) - order.indexOf(b));
  replace(results, keys.map((key) => {
    const items = groups.get(key);
    const title = by === 'category' ? categoryLabel(key) : key === 'all_staff' ? 'Everyone (universal KPIs)' : roleGroupLabel(key);
    const id = `group-${key}`;
    return h('section', { 'aria-labelledby': id, class: by === 'category' ? `cat-${key}` : '' },
      h('h2', { class: 'group-title', id }, title, h('span', { class: 'count' }, `(${items.length})`)),
      h('ul', { class: 'cards' }, items.map(moduleCard)));
  }));
}

function moduleCard(m) {
  const open = h('button', { type: 'button', class: 'card-link', 'aria-haspopup': 'dialog', 'data-module-id': m.id }, m.name);
  open.addEventListener('click', () => showDetail(m, open));
  return h('li', { class: `card cat-${m.category}${m.is_archived ? ' is-archived' : ''}` },
    h('h3', {}, open),
    h('div', { class: 'card-meta' },
      h('span', { class: 'chip' }, categoryLabel(m.category)),
      m.is_universal || !m.role_group ? h('span', { class: 'chip chip-effort' }, 'For everyone')
        : [h('span', { class: 'chip' }, roleGroupLabel(m.role_group)),
          m.is_default_for_role ? h('span', { class: 'chip chip-effort' }, 'Default for role') : null],
      m.is_archived ? h('span', { class: 'chip chip-hidden' }, 'Archived') : null),
    h('p', { class: 'clamp' }, m.objective || ''),
    h('p', { class: 'small' }, frequencyLabel(m.evaluation_frequency),
      m.target_score !== undefined ? ` · target ${formatScore(m.target_score, m.score_type)}` : '',
      m.effort_weight !== undefined ? ` · effort ${formatPercentOf1(m.effort_weight)}` : ''));
}

// ---------- detail ----------

function showDetail(m, opener) {
  detailDialog.className = `cat-${m.category}`;
  document.getElementById('detail-kicker').textContent = `${categoryLabel(m.category)} · ${roleGroupLabel(m.role_group)}`;
  document.getElementById('detail-title').textContent = m.name;
  const stats = [
    ['Target', m.target_score !== undefined ? formatScore(m.target_score, m.score_type) : null],
    ['Meeting from', m.minimum_score !== undefined ? formatScore(m.minimum_score, m.score_type) : null],
    ['Effort weight', m.effort_weight !== undefined ? formatPercentOf1(m.effort_weight) : null],
    ['Evaluated', frequencyLabel(m.evaluation_frequency)],
  ].filter(([, v]) => v !== null);
  replace(document.getElementById('detail-body'),
    h('div', { class: 'stat-row' }, stats.map(([k, v]) => h('div', { class: 'stat' }, h('span', { class: 'stat-label' }, k), h('span', { class: 'stat-value' }, v)))),
    h('h3', {}, 'Objective'), h('p', {}, m.objective || '—'),
    h('h3', {}, 'How it is measured'), h('p', {}, m.measurement_method || '—'),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Data sources'), h('dd', {}, (m.data_sources || []).join(', ') || '—'),
      h('dt', {}, 'Score type'), h('dd', {}, m.score_type === 'rating' ? 'Rating (1–5)' : 'Percentage (0–100)'),
      h('dt', {}, 'Automation'), h('dd', {}, label({}, m.automation_status)),
      h('dt', {}, 'Slug'), h('dd', { class: 'mono' }, m.slug || '—'),
      h('dt', {}, 'Assigned by default'), h('dd', {}, m.is_universal || !m.role_group ? 'Yes, to everyone (universal KPI)'
        : m.is_default_for_role ? `Yes, to every ${roleGroupLabel(m.role_group).toLowerCase()}` : 'No, added by a manager')),
    h('h3', {}, 'Coaching tips'),
    (m.coaching_tips || []).length ? h('ul', { class: 'tips' }, m.coaching_tips.map((t) => h('li', {}, t))) : h('p', { class: 'muted' }, 'No tips yet.'));
  const foot = document.getElementById('detail-foot');
  replace(foot);
  if (session.isAdmin) {
    const editBtn = h('button', { type: 'button', class: 'btn' }, 'Edit');
    editBtn.addEventListener('click', () => { detailDialog.close(); openEditor(m, opener); });
    const archiveBtn = h('button', { type: 'button', class: 'btn btn-quiet' }, m.is_archived ? 'Restore to gallery' : 'Archive');
    archiveBtn.addEventListener('click', () => setArchived(m, !m.is_archived, archiveBtn));
    foot.append(archiveBtn, editBtn);
  }
  foot.append(h('button', { type: 'button', class: 'btn btn-primary', 'data-close': '' }, 'Close'));
  // The list may re-render behind the dialog (a search finishing): find the card's button again.
  openDialog(detailDialog, () => (opener.isConnected ? opener : results.querySelector(`[data-module-id="${m.id}"]`)));
}

async function setArchived(m, archived, button) {
  button.disabled = true;
  try {
    await api(`/hr/kpi-modules/${m.id}`, { method: 'PATCH', body: { is_archived: archived } });
    detailDialog.close();
    announce(archived ? `“${m.name}” archived. It stays on everyone’s history but leaves the gallery.` : `“${m.name}” is back in the gallery.`);
    await loadModules();
  } catch (error) {
    announce(error.humanMessage);
  } finally {
    button.disabled = false;
  }
}

// ---------- create and edit (hr_admin) ----------

function openEditor(m, opener) {
  editing = m;
  clearErrors(editForm);
  editForm.reset();
  document.getElementById('edit-title').textContent = m ? `Edit “${m.name}”` : 'New KPI module';
  const f = editForm.elements;
  if (m) {
    for (const key of ['name', 'slug', 'category', 'objective', 'measurement_method', 'score_type',
      'target_score', 'minimum_score', 'evaluation_frequency', 'automation_status', 'display_order']) {
      if (m[key] !== undefined && m[key] !== null) f[key].value = m[key];
    }
    f.role_group.value = m.role_group || '';
    f.effort_weight.value = m.effort_weight !== undefined ? Math.round(m.effort_weight * 100) : '';
    f.data_sources.value = (m.data_sources || []).join('\n');
    f.coaching_tips.value = (m.coaching_tips || []).join('\n');
    f.is_default_for_role.checked = !!m.is_default_for_role;
    f.slug.readOnly = true;
    f.score_type.disabled = true;  // a module's scale stays as created (its scores are on it)
  } else {
    f.slug.readOnly = false;
    f.score_type.disabled = false;
    f.effort_weight.value = 20;
    f.evaluation_frequency.value = 'monthly';
  }
  syncScale();
  openDialog(editDialog, opener);
  f.name.focus();
}

function syncScale() {
  const rating = editForm.elements.score_type.value === 'rating';
  for (const name of ['target_score', 'minimum_score']) {
    editForm.elements[name].min = rating ? 1 : 0;
    editForm.elements[name].max = rating ? 5 : 100;
  }
}
editForm.elements.score_type.addEventListener('change', syncScale);
editForm.elements.name.addEventListener('input', () => {
  if (editing) return;
  editForm.elements.slug.value = editForm.elements.name.value.toLowerCase().normalize('NFKD')
    .replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
});

editForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  if (!validateLocally(editForm)) return;
  const f = editForm.elements;
  const body = {
    name: f.name.value.trim(),
    category: f.category.value,
    role_group: f.role_group.value || null,
    objective: f.objective.value.trim(),
    measurement_method: f.measurement_method.value.trim(),
    data_sources: linesValue(f.data_sources),
    automation_status: f.automation_status.value.trim() || 'manual',
    score_type: f.score_type.value,
    target_score: numberValue(f.target_score),
    minimum_score: numberValue(f.minimum_score),
    effort_weight: numberValue(f.effort_weight) / 100,
    evaluation_frequency: f.evaluation_frequency.value,
    coaching_tips: linesValue(f.coaching_tips),
    is_default_for_role: f.is_default_for_role.checked,
  };
  if (f.display_order.value !== '') body.display_order = numberValue(f.display_order);
  if (!editing) body.slug = f.slug.value.trim();
  const button = editForm.querySelector('button[type=submit]');
  button.disabled = true;
  try {
    const saved = editing
      ? await api(`/hr/kpi-modules/${editing.id}`, { method: 'PATCH', body })
      : await api('/hr/kpi-modules', { method: 'POST', body });
    editDialog.close();
    announce(`Saved “${saved?.name || body.name}”.`);
    await loadModules();
  } catch (error) {
    showErrors(editForm, error);
  } finally {
    button.disabled = false;
  }
});

document.getElementById('new-module').addEventListener('click', (event) => openEditor(null, event.currentTarget));

// ---------- filters ----------

let searchTimer;
filters.addEventListener('input', (event) => {
  if (event.target.name === 'q') {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(loadModules, 300);
  }
});
filters.addEventListener('change', (event) => {
  if (event.target.name === 'group_by') render();
  else if (event.target.name === 'show_archived') loadModules();
  else if (event.target.name !== 'q') loadModules();
});
filters.addEventListener('submit', (event) => { event.preventDefault(); loadModules(); });

// ---------- template KPI sets ----------

const templateForm = document.getElementById('template-form');
const templateKpis = document.getElementById('template-kpis');
const addSelect = document.getElementById('add_module');
let templates = [];
let templateRows = []; // [{kpi_module_id, weight, is_required, custom_target, module}]
let shownTemplateId = null; // whose rows are drawn: a save goes there, and only once they are
let unsaved = false;
let allModules = [];

async function loadTemplates() {
  const select = templateForm.elements.template_id;
  // Both before the select fills: a template picked early must find the modules there.
  const [fetchedTemplates, fetchedModules] = await Promise.allSettled([contractSystem('/templates'), api('/hr/kpi-modules')]);
  templates = fetchedTemplates.status === 'fulfilled' ? fetchedTemplates.value : [];
  allModules = fetchedModules.status === 'fulfilled' ? fetchedModules.value : [];
  if (!templates.length) {
    replace(templateKpis, empty('📄', 'No contract templates are available from the contract system right now.'));
    select.disabled = true;
    return;
  }
  replace(select, templates.map((t) => h('option', { value: t.id }, `${t.name} · ${roleGroupLabel(t.role_group)}`)));
  await loadTemplateKpis();
}

// Only the answer for the template still selected may draw the table.
const startTemplateLoad = latestOnly();
async function loadTemplateKpis() {
  const isLatest = startTemplateLoad();
  const templateId = templateForm.elements.template_id.value;
  clearErrors(templateForm);
  shownTemplateId = null;
  templateRows = [];
  holdTemplateEditing();
  replace(templateKpis, loading('Loading the template’s KPIs…'));
  try {
    const rows = await api(`/hr/templates/${templateId}/kpis`);
    if (!isLatest()) return;
    templateRows = rows.map((r) => ({
      kpi_module_id: r.kpi_module_id, weight: r.weight, is_required: r.is_required,
      custom_target: r.custom_target, module: r.module || allModules.find((m) => m.id === r.kpi_module_id) || {},
    }));
    shownTemplateId = templateId;
    setUnsaved(false);
    renderTemplateRows();
  } catch (error) {
    if (!isLatest()) return;
    replace(templateKpis, h('p', { class: 'notice', role: 'alert' }, error.humanMessage));
  }
}

/** Nothing to add to or save while no template's rows are shown (loading, or failed to load). */
function holdTemplateEditing() {
  addSelect.disabled = true;
  document.getElementById('add-module-btn').disabled = true;
  document.getElementById('template-save-row').hidden = true;
}

function renderTemplateRows() {
  const template = templates.find((t) => t.id === templateForm.elements.template_id.value);
  const taken = new Set(templateRows.map((r) => r.kpi_module_id));
  const candidates = allModules.filter((m) => !taken.has(m.id) && !m.is_archived
    && (!template || m.role_group === template.role_group || !m.role_group));
  replace(addSelect, candidates.length
    ? candidates.map((m) => h('option', { value: m.id }, `${m.name} (${roleGroupLabel(m.role_group)})`))
    : [h('option', { value: '' }, 'Every suitable KPI is already on this template')]);
  addSelect.disabled = !session.isAdmin || !candidates.length;
  document.getElementById('add-module-btn').disabled = !session.isAdmin || !candidates.length;
  document.getElementById('template-save-row').hidden = !session.isAdmin;

  if (!templateRows.length) {
    replace(templateKpis, empty('🧩', 'This template has no KPIs yet. People on it will still get their role group’s defaults.'));
    return;
  }
  const readOnly = !session.isAdmin;
  // A scroll region at phone width: focusable, so a keyboard can scroll it too.
  replace(templateKpis, h('div', { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': 'KPIs on this template' }, h('table', { class: 'plain' },
    h('caption', { class: 'visually-hidden' }, 'KPIs on this template'),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'KPI'), h('th', { scope: 'col' }, 'Weight'),
      h('th', { scope: 'col' }, 'Required'), h('th', { scope: 'col' }, 'Custom target'), readOnly ? null : h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Remove')))),
    h('tbody', {}, templateRows.map((row, i) => {
      const name = row.module.name || row.kpi_module_id;
      const scale = row.module.score_type === 'rating' ? { min: 1, max: 5 } : { min: 0, max: 100 };
      return h('tr', { class: `cat-${row.module.category || ''}` },
        h('th', { scope: 'row' }, name, h('div', { class: 'muted small' }, categoryLabel(row.module.category))),
        h('td', {}, h('input', { type: 'number', name: `kpis[${i}].weight`, 'aria-label': `Weight of ${name}`, value: row.weight ?? 1, min: 0, step: 'any', disabled: readOnly,
          oninput: (e) => { row.weight = numberValue(e.target); dirty(); } })),
        h('td', {}, h('input', { type: 'checkbox', name: `kpis[${i}].is_required`, 'aria-label': `${name} is required`, checked: !!row.is_required, disabled: readOnly,
          onchange: (e) => { row.is_required = e.target.checked; dirty(); } })),
        h('td', {}, h('input', { type: 'number', name: `kpis[${i}].custom_target`, 'aria-label': `Custom target for ${name}`, placeholder: row.module.target_score ?? '', value: row.custom_target ?? '', min: scale.min, max: scale.max, step: 'any', disabled: readOnly,
          oninput: (e) => { row.custom_target = numberValue(e.target) ?? null; dirty(); } })),
        readOnly ? null : h('td', {}, h('button', { type: 'button', class: 'btn btn-small btn-quiet', 'aria-label': `Remove ${name}`,
          onclick: () => { templateRows.splice(i, 1); dirty(); renderTemplateRows(); } }, 'Remove')));
    })))));
}

function setUnsaved(value) {
  unsaved = value;
  document.getElementById('template-dirty').textContent = value ? 'Unsaved changes' : '';
}
const dirty = () => setUnsaved(true);

document.getElementById('add-module-btn').addEventListener('click', () => {
  const module = allModules.find((m) => m.id === addSelect.value);
  if (!module) return;
  templateRows.push({ kpi_module_id: module.id, weight: 1, is_required: false, custom_target: null, module });
  dirty();
  renderTemplateRows();
  announce(`Added “${module.name}”. Save to keep it.`);
});

templateForm.elements.template_id.addEventListener('change', (event) => {
  if (unsaved && shownTemplateId && !window.confirm('This template has unsaved changes. Leave them?')) {
    event.target.value = shownTemplateId;
    return;
  }
  loadTemplateKpis();
});

templateForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  if (!validateLocally(templateForm)) return;
  const templateId = shownTemplateId;
  if (!templateId) return;
  const body = {
    kpis: templateRows.map((r) => ({
      kpi_module_id: r.kpi_module_id, weight: r.weight ?? 1, is_required: !!r.is_required,
      custom_target: r.custom_target ?? null,
    })),
  };
  const button = templateForm.querySelector('button[type=submit]');
  button.disabled = true;
  try {
    await api(`/hr/templates/${templateId}/kpis`, { method: 'PUT', body });
    announce('Template KPIs saved. New contracts from this template will use them.');
    await loadTemplateKpis();
  } catch (error) {
    showErrors(templateForm, error);
  } finally {
    button.disabled = false;
  }
});

loadModules();
if (session.isManager) loadTemplates();
else document.getElementById('templates-section').hidden = true;
