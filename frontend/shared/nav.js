// The header every signed-in page shares: brand, the links this role may use, who is signed in.

import { h, replace } from './dom.js';
import { signOut } from './session.js';

const LINKS = [
  { href: 'page_hr_kpis.html', text: 'KPI Gallery', show: (s) => s.isManager },
  { href: 'page_hr_contracting.html', text: 'New contract', show: (s) => s.isManager },
  { href: 'page_staff_detail.html', text: 'People', show: (s) => s.isManager },
  { href: (s) => 'page_staff_detail.html?staff_id=' + encodeURIComponent(s.staffId || ''), text: 'My KPIs', show: (s) => s.isStaffOnly },
];

/** Fill <header id="site-header"> for this session; `current` is this page's file name. */
export function renderNav(session, current) {
  const header = document.getElementById('site-header');
  if (!header) return;
  const items = LINKS.filter((l) => l.show(session)).map((link) => {
    const href = typeof link.href === 'function' ? link.href(session) : link.href;
    const isCurrent = href.split('?')[0] === current;
    return h('li', {}, h('a', { href, 'aria-current': isCurrent ? 'page' : null }, link.text));
  });
  replace(
    header,
    h('div', { class: 'bar' },
      h('a', { class: 'brand', href: items.length ? items[0].firstChild.getAttribute('href') : 'index.html' },
        h('img', { class: 'brand-mark', src: 'favicon.svg', alt: '' }), 'Growth KPIs'),
      h('nav', { class: 'site-nav', 'aria-label': 'Main' }, h('ul', {}, items)),
      h('div', { class: 'user-box' },
        h('span', {}, 'Signed in as ', h('span', { class: 'role-chip' }, session.roleLabel)),
        h('button', {
          type: 'button', class: 'btn btn-small',
          onclick: () => { signOut(); location.href = 'index.html'; },
        }, 'Sign out'))));
}
