// CSV exports, downloaded with the token through fetch (a plain link can't carry it).

import { api, download } from '../api.js';
import { h, mount } from '../dom.js';
import { t } from '../i18n.js';
import { actionButton } from '../ui.js';

export async function render({ root, slug }) {
  const item = (kind) => h('li', { class: 'export' },
    h('span', {}, t(`exports.${kind}`)),
    actionButton(t('exports.download'), () => download(api.admin(slug, `/export/${kind}.csv`), `${slug}-${kind}.csv`), { id: `export-${kind}` }));
  mount(root, h('h1', {}, t('exports.title')), h('section', { class: 'card' }, h('ul', { class: 'exports' }, ['participants', 'cohorts', 'steps'].map(item))));
}
