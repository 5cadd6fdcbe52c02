// The cohort tree (school → college → class): add, rename, change a join code, delete.

import { api } from '../api.js';
import { h, mount, num } from '../dom.js';
import { t } from '../i18n.js';
import { actionButton, confirmDialog, field, toast } from '../ui.js';

export async function render({ root, slug, go }) {
  const { items } = await api.get(api.admin(slug, '/cohorts'));
  const children = new Map();
  for (const c of items) {
    const key = c.parent_id ?? 0;
    if (!children.has(key)) children.set(key, []);
    children.get(key).push(c);
  }
  const reload = () => go(location.hash);

  const addForm = (parent) => {
    const name = h('input', { name: 'name', required: true, maxlength: 64 });
    const code = h('input', { name: 'join_code', maxlength: 16, class: 'mono' });
    const form = h('form', { class: 'inline-form' }, field(t('cohorts.name'), name), field(t('cohorts.code'), code),
      h('button', { type: 'submit' }, parent ? t('cohorts.add_child') : t('cohorts.add_top')));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      try {
        await api.post(api.admin(slug, '/cohorts'), { name: name.value.trim(), parent_id: parent?.id ?? null, join_code: code.value.trim() || null });
        reload();
      } catch (err) {
        toast(err.message, 'error');
      }
    });
    return form;
  };

  const node = (c) => {
    const kids = children.get(c.id) ?? [];
    const rename = actionButton(t('cohorts.rename'), async () => {
      const name = await confirmDialog({ title: t('cohorts.rename'), text: c.path, reason: true });
      if (!name) return;
      await api.patch(api.admin(slug, `/cohorts/${c.id}`), { name });
      reload();
    }, { class: 'link' });
    const del = actionButton(t('cohorts.delete'), async () => {
      if ((await confirmDialog({ title: t('cohorts.delete'), text: t('cohorts.delete.confirm', { path: c.path }), danger: true })) === null) return;
      await api.del(api.admin(slug, `/cohorts/${c.id}`));
      reload();
    }, { class: 'link danger', disabled: kids.length > 0 || c.member_count > 0 });
    const add = h('details', { class: 'add-child' }, h('summary', {}, t('cohorts.add_child')), addForm(c));
    return h('li', { dataset: { path: c.path } },
      h('div', { class: 'node' },
        h('strong', {}, c.name),
        h('span', { class: 'code mono' }, c.join_code),
        h('span', { class: 'muted' }, `${num(c.member_count)} ${t('col.members')}`),
        rename, del, add),
      kids.length ? h('ul', {}, kids.map(node)) : null);
  };

  const top = children.get(0) ?? [];
  mount(root,
    h('h1', {}, t('cohorts.title')),
    h('section', { class: 'card' },
      top.length ? h('ul', { class: 'tree', id: 'cohort-tree' }, top.map(node)) : h('p', { class: 'empty' }, t('cohorts.empty')),
      addForm(null)));
}
