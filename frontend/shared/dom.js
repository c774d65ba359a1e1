// Building DOM without innerHTML, so text from the API can never become markup.

/** Create an element: h('p', {class: 'x', onclick: fn}, 'text', child, [more]). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (key === 'value' || key === 'checked' || key === 'disabled' || key === 'selected') {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** Replace all children of an element. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A loading line for an aria-live region. */
export function loading(text = 'Loading…') {
  return h('div', { class: 'loading' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), text);
}

/** An empty state with an icon, a sentence and an optional action. */
export function empty(icon, text, action) {
  return h('div', { class: 'empty' }, h('span', { class: 'empty-icon', 'aria-hidden': 'true' }, icon), h('p', {}, text), action);
}

/** The status toast: a polite live region. It is in the page, empty, from the start: a screen
 * reader reads what changes in a live region it knows, not one added together with its text. */
function toastRegion() {
  let live = document.getElementById('toast');
  if (!live) {
    live = h('div', { id: 'toast', class: 'toast', role: 'status', 'aria-live': 'polite', 'aria-atomic': 'true' });
    document.body.append(live);
  }
  return live;
}
if (document.body) toastRegion();
else document.addEventListener('DOMContentLoaded', toastRegion, { once: true });

/** Say something to screen readers (and show it briefly as a toast). The same words twice are
 * read twice: the region is emptied first and filled a moment later. */
export function announce(text) {
  const live = toastRegion();
  live.textContent = '';
  clearTimeout(announce.timer);
  clearTimeout(announce.filling);
  announce.filling = setTimeout(() => {
    live.textContent = text;
    announce.timer = setTimeout(() => { live.textContent = ''; }, 4000);
  }, 50);
}

/** A URL query parameter of the current page, or null. */
export function queryParam(name) {
  return new URLSearchParams(location.search).get(name);
}

/** Make a <dialog> close on its [data-close] buttons and hand focus back to its opener
 * (an element, or a function that finds it again when the page re-rendered meanwhile). */
export function openDialog(dialog, opener) {
  if (!dialog.dataset.wired) {
    dialog.dataset.wired = '1';
    dialog.addEventListener('click', (event) => {
      if (event.target.closest('[data-close]')) dialog.close();
    });
  }
  dialog.addEventListener('close', () => {
    const target = typeof opener === 'function' ? opener() : opener;
    if (target && target.isConnected) target.focus();
  }, { once: true });
  dialog.showModal();
}

/** Where the focus is inside `container`, to find it again after a redraw: the `keyAttr` of its
 * nearest keyed ancestor (a KPI id, an entry id) and its own `data-action`; null if elsewhere. */
export function focusWithin(container, keyAttr) {
  const active = document.activeElement;
  const keyed = active && container.contains(active) ? active.closest(`[${keyAttr}]`) : null;
  return keyed ? { keyAttr, key: keyed.getAttribute(keyAttr), action: active.dataset.action || null } : null;
}

/** After a redraw took the focus with it, give it to the same place again (the keyed element's
 * action, the keyed element, or `fallback`); a focus the person has moved meanwhile stays put. */
export function restoreFocus(container, where, fallback) {
  if (!where) return;
  const keyed = container.querySelector(`[${where.keyAttr}="${CSS.escape(where.key)}"]`);
  refocus((keyed && where.action && keyed.querySelector(`[data-action="${CSS.escape(where.action)}"]`)) || keyed || fallback);
}

/** Give `target` the focus a redraw dropped (made focusable if it is not, as a heading); a focus
 * the person has moved meanwhile stays put. */
function refocus(target) {
  const active = document.activeElement;
  if (!target || (active && active !== document.body)) return;
  if (!target.hasAttribute('tabindex') && target.tabIndex < 0) target.setAttribute('tabindex', '-1');
  target.focus();
}

/** A load that failed, said in its region with a Try again button. The retry redraws the region,
 * which takes the button (and the keyboard focus) with it: the focus lands on the new Try again
 * when it fails again, else on `heading` (an element, or a function that finds it), unless the
 * person has moved it meanwhile. */
export function retryNotice(region, heading, message, retry) {
  return h('div', { class: 'notice', role: 'alert' }, h('p', {}, message),
    h('button', {
      type: 'button', class: 'btn', 'data-action': 'retry',
      onclick: async () => {
        await retry();
        refocus(region.querySelector('[data-action=retry]') || (typeof heading === 'function' ? heading() : heading));
      },
    }, 'Try again'));
}
