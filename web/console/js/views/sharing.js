// Sharing a campaign with other organisers (admins only) and the big screen's link with a
// board token.

import { api } from '../api.js';
import { dateTime, h, mount } from '../dom.js';
import { t } from '../i18n.js';
import { actionButton, field, toast } from '../ui.js';

export async function render({ root, slug, user }) {
  const username = h('input', { name: 'grant-username', id: 'grant-username', autocomplete: 'off' });
  const isAdmin = user?.role === 'admin';
  const grant = (verb) => actionButton(t(`sharing.${verb}`), async () => {
    const name = username.value.trim();
    if (!name) return;
    const path = api.admin(slug, `/grants/${encodeURIComponent(name)}`);
    if (verb === 'grant') await api.put(path);
    else await api.del(path);
    toast(t(verb === 'grant' ? 'sharing.granted' : 'sharing.revoked', { user: name }));
  }, { class: verb === 'revoke' ? 'secondary' : '', disabled: !isAdmin, id: `grant-${verb}` });

  const board = h('div', { id: 'board-link' });
  const create = actionButton(t('sharing.board.create'), async () => {
    const token = await api.post(api.admin(slug, '/board-token'));
    const link = `${location.origin}/screen/${encodeURIComponent(slug)}?access_token=${encodeURIComponent(token.token)}`;
    const out = h('input', { readonly: true, value: link, class: 'mono wide', id: 'screen-link' });
    mount(board,
      out,
      h('p', { class: 'muted' }, t('sharing.board.expires', { at: dateTime(token.expires_at) })),
      h('div', { class: 'actions' },
        h('a', { class: 'button', href: link, target: '_blank', rel: 'noopener noreferrer' }, t('sharing.board.open')),
        actionButton(t('sharing.board.copy'), async () => {
          out.select();
          await navigator.clipboard.writeText(link);
          toast(t('sharing.copied'));
        }, { class: 'secondary' })));
  }, { id: 'create-board-token' });

  mount(root,
    h('h1', {}, t('nav.sharing')),
    h('div', { class: 'grid two' },
      h('section', { class: 'card' },
        h('h2', {}, t('sharing.board')),
        h('p', { class: 'muted' }, t('sharing.board.help')),
        create, board),
      h('section', { class: 'card' },
        h('h2', {}, t('sharing.grants')),
        isAdmin ? null : h('p', { class: 'muted' }, t('sharing.admin_only')),
        field(t('sharing.username'), username),
        h('div', { class: 'actions' }, grant('grant'), grant('revoke')))));
}
