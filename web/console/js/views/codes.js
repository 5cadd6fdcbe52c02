// Join codes: one card per class on screen; printed, one page per class to post in its classroom.

import { api } from '../api.js';
import { h, mount } from '../dom.js';
import { t } from '../i18n.js';

export async function render({ root, slug }) {
  const [campaign, { items }] = await Promise.all([api.get(api.admin(slug)), api.get(api.admin(slug, '/cohorts'))]);
  const parents = new Set(items.map((c) => c.parent_id).filter((p) => p !== null));
  const classes = items.filter((c) => !parents.has(c.id));
  mount(root,
    h('div', { class: 'page-head no-print' },
      h('h1', {}, t('codes.title')),
      h('button', { type: 'button', id: 'print', onclick: () => window.print() }, t('codes.print'))),
    classes.length
      ? h('div', { class: 'code-sheet', id: 'code-sheet' }, classes.map((c) => h('article', { class: 'code-card' },
        h('p', { class: 'campaign' }, campaign.title),
        h('h2', {}, c.path.split('/').pop()),
        h('p', { class: 'path' }, c.path),
        h('p', { class: 'join-code mono' }, c.join_code),
        h('p', { class: 'hint' }, t('codes.sheet')))))
      : h('p', { class: 'empty' }, t('cohorts.empty')));
}
