// Forms: read values, and show problem+json errors next to the field they concern.

import { h } from './dom.js';
import { fieldKey } from './api.js';

/** Remove every error message and invalid mark from a form. */
export function clearErrors(form) {
  for (const el of form.querySelectorAll('[aria-invalid="true"]')) {
    el.removeAttribute('aria-invalid');
    const describedBy = (el.getAttribute('aria-describedby') || '').split(' ').filter((id) => !id.endsWith('-error'));
    if (describedBy.length) el.setAttribute('aria-describedby', describedBy.join(' '));
    else el.removeAttribute('aria-describedby');
  }
  for (const el of form.querySelectorAll('.field-error')) el.remove();
  const summary = form.querySelector('[data-form-error]');
  if (summary) summary.textContent = '';
}

function controlFor(form, field) {
  const key = fieldKey(field);
  const candidates = [key, key.split('.').pop(), key.replace(/\[\d+\]$/, ''), key.split('.')[0]];
  for (const name of candidates) {
    if (!name) continue;
    const el = form.querySelector(`[name="${CSS.escape(name)}"], [data-field="${CSS.escape(name)}"]`);
    if (el) return el;
  }
  return null;
}

/** Mark one control invalid with a message shown beside it. */
export function markInvalid(control, message) {
  const id = (control.id || control.name || 'field') + '-error';
  control.setAttribute('aria-invalid', 'true');
  const describedBy = new Set((control.getAttribute('aria-describedby') || '').split(' ').filter(Boolean));
  describedBy.add(id);
  control.setAttribute('aria-describedby', [...describedBy].join(' '));
  const note = h('p', { class: 'field-error', id }, message);
  const host = control.closest('.field, .check, td, .kpi-pick-detail, .kpi-pick') || control.parentElement;
  host.append(note);
}

function labelOf(form, name) {
  const control = controlFor(form, name);
  const label = control && (control.labels?.[0] || form.querySelector(`label[for="${CSS.escape(control.id)}"]`));
  return label ? label.textContent.trim().toLowerCase() : name.replace(/_/g, ' ');
}

/** A service's terse validation message in words a person reads easily. */
export function friendlyMessage(form, message) {
  const text = String(message || '').trim();
  let m;
  if (/^taken$/i.test(text)) return 'Already in use; please choose another.';
  if (/length >= 1|must not be empty|required/i.test(text)) return 'Please fill this in.';
  if (/Invalid enum value/i.test(text)) return 'Please choose one of the options.';
  if (/Expected `(int|float|number)`/i.test(text)) return 'Please enter a number.';
  if (/Expected `(uuid|str)`/i.test(text) && /uuid/i.test(text)) return 'Please enter a valid id.';
  if ((m = /must not exceed (\w+)/i.exec(text))) return `Must not be more than the ${labelOf(form, m[1])}.`;
  if ((m = /must be at least (\w+)/i.exec(text)) && /_/.test(m[1])) return `Must be at least the ${labelOf(form, m[1])}.`;
  return text.charAt(0).toUpperCase() + text.slice(1) + (/[.!?]$/.test(text) ? '' : '.');
}

/** Show an ApiError (or any Error) on a form: per field where the field is known, else in the summary. */
export function showErrors(form, error) {
  clearErrors(form);
  const leftovers = [];
  let first = null;
  for (const { field, message: raw } of error.errors || []) {
    const message = friendlyMessage(form, raw);
    const missing = /missing required field `(\w+)`/i.exec(raw || '');
    const control = controlFor(form, missing ? missing[1] : field) || (field ? controlFor(form, field) : null);
    if (control) {
      markInvalid(control, missing ? 'Please fill this in.' : message);
      first = first || control;
    } else {
      leftovers.push(field ? `${field}: ${message}` : message);
    }
  }
  const summary = form.querySelector('[data-form-error]');
  const headline = error.humanMessage || error.message;
  if (summary) {
    const lines = [];
    if (!first || leftovers.length) lines.push(headline);
    lines.push(...leftovers);
    summary.textContent = first && !leftovers.length ? 'Please check the highlighted fields.' : lines.join(' ');
  }
  focusField(first || summary);
}

/** Focus a field and bring it to the middle of its scroller (clear of sticky heads and feet). */
export function focusField(el) {
  if (!el || !el.focus) return;
  el.focus({ preventScroll: true });
  el.scrollIntoView({ block: 'center' });
}

/** Check required fields and number ranges in the browser before asking the server. */
export function validateLocally(form) {
  clearErrors(form);
  let first = null;
  for (const el of form.querySelectorAll('input, select, textarea')) {
    if (el.disabled || el.closest('[hidden]')) continue;
    if (!el.checkValidity()) {
      markInvalid(el, el.validationMessage || 'Please check this value.');
      first = first || el;
    }
  }
  if (first) {
    const summary = form.querySelector('[data-form-error]');
    if (summary) summary.textContent = 'Please check the highlighted fields.';
    focusField(first);
    return false;
  }
  return true;
}

/** A number input's value as a number, or undefined when empty. */
export function numberValue(el) {
  if (!el || el.value === '') return undefined;
  const n = Number(el.value);
  return Number.isFinite(n) ? n : undefined;
}

/** Lines of a textarea as a trimmed, non-empty list. */
export function linesValue(el) {
  return (el.value || '').split('\n').map((s) => s.trim()).filter(Boolean);
}
