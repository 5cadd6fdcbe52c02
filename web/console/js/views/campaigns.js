// The campaigns the organiser may administer.

import { api } from '../api.js';
import { h, mount, table } from '../dom.js';
import { t } from '../i18n.js';

export async function render({ root }) {
  mount(root, h('p', {}, t('common.loading')));
  const list = await api.get('/admin/campaigns', { limit: 100 });
  const rows = list.items.map((c) => h('tr', { dataset: { slug: c.slug } },
    h('td', {}, h('a', { href: `#/c/${encodeURIComponent(c.slug)}/dashboard`, class: 'campaign-link' }, c.title)),
    h('td', { class: 'mono' }, c.slug),
    h('td', {}, h('span', { class: `badge ${c.status}` }, t(`status.${c.status}`))),
    h('td', {}, `${c.starts_on} — ${c.ends_on}`),
    h('td', {}, t(`mode.${c.progress_mode}`)),
    h('td', {}, c.owner ?? '')));
  mount(root,
    h('div', { class: 'page-head' },
      h('h1', {}, t('campaigns.title')),
      h('a', { class: 'button', href: '#/new', id: 'new-campaign' }, t('campaigns.new'))),
    list.items.length
      ? table([t('campaign.title'), t('campaign.slug'), t('campaign.status'), t('campaign.dates'), t('campaign.progress_mode'), t('campaign.owner')], rows, { class: 'list', id: 'campaign-list' })
      : h('p', { class: 'empty' }, t('campaigns.empty')));
}
