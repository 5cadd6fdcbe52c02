// The campaign's audit log, newest first, paged.

import { api } from '../api.js';
import { dateTime, h, mount, num, table } from '../dom.js';
import { t } from '../i18n.js';

const PAGE = 50;

export async function render({ root, slug }) {
  let offset = 0;
  const box = h('div', { id: 'audit-log' });
  const load = async () => {
    const page = await api.get(api.admin(slug, '/audit'), { limit: PAGE, offset });
    const rows = page.items.map((e) => h('tr', {},
      h('td', {}, dateTime(e.at)),
      h('td', {}, e.actor),
      h('td', { class: 'mono' }, e.action),
      h('td', { class: 'mono' }, e.target),
      h('td', { class: 'summary' }, h('code', {}, JSON.stringify(e.summary)))));
    mount(box,
      rows.length ? table([t('col.at'), t('col.actor'), t('col.action'), t('col.target'), t('col.detail')], rows, { class: 'list' }) : h('p', { class: 'empty' }, t('common.none')),
      h('div', { class: 'pager' },
        h('button', { type: 'button', class: 'secondary', disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - PAGE); load(); } }, '‹'),
        h('span', {}, `${num(Math.min(page.total, offset + 1))}–${num(Math.min(page.total, offset + PAGE))} / ${num(page.total)}`),
        h('button', { type: 'button', class: 'secondary', disabled: offset + PAGE >= page.total, onclick: () => { offset += PAGE; load(); } }, '›')));
  };
  mount(root, h('h1', {}, t('audit.title')), h('section', { class: 'card' }, box));
  await load();
}
