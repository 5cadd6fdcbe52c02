// A campaign's settings: its figures, editing while allowed, the planner, and the
// lifecycle (activate, close) behind a confirmation.

import { api } from '../api.js';
import { h, mount, num } from '../dom.js';
import { t } from '../i18n.js';
import { actionButton, confirmDialog, field, toast } from '../ui.js';
import { planner } from './plan.js';

export async function render({ root, slug, go }) {
  const campaign = await api.get(api.admin(slug));
  const draft = campaign.status === 'draft';
  const editable = campaign.status !== 'closed';
  const input = (name, attrs = {}) => h('input', { name, id: `s-${name}`, value: campaign[name], disabled: !editable, ...attrs });
  const inputs = {
    title: input('title'),
    description: h('textarea', { name: 'description', rows: 2, disabled: !editable }, campaign.description),
    starts_on: input('starts_on', { type: 'date', disabled: !draft }),
    ends_on: input('ends_on', { type: 'date', disabled: !draft }),
    daily_step_cap: input('daily_step_cap', { type: 'number', min: 1, disabled: !draft }),
    flag_steps_over: input('flag_steps_over', { type: 'number', min: 1 }),
    sync_grace_days: input('sync_grace_days', { type: 'number', min: 0 }),
  };
  const sources = ['werun', 'manual', 'import'].map((s) => h('label', { class: 'check' },
    h('input', { type: 'checkbox', value: s, checked: campaign.step_sources.includes(s), disabled: !editable }), t(`source.${s}`)));
  const save = actionButton(t('common.save'), async () => {
    const body = {};
    for (const [name, el] of Object.entries(inputs)) {
      if (el.disabled) continue;
      const value = el.type === 'number' ? Number(el.value) : el.value;
      if (String(value) !== String(campaign[name])) body[name] = value;
    }
    const chosen = sources.map((l) => l.querySelector('input')).filter((c) => c.checked).map((c) => c.value);
    if (chosen.join() !== campaign.step_sources.join()) body.step_sources = chosen;
    if (Object.keys(body).length === 0) return;
    await api.patch(api.admin(slug), body);
    toast(t('common.save'));
    go(location.hash);
  }, { id: 'settings-save', disabled: !editable });

  const lifecycle = async (action) => {
    const ok = await confirmDialog({
      title: t(`lifecycle.${action}`),
      text: t(`lifecycle.${action}.confirm`, { title: campaign.title }),
      danger: action === 'close',
    });
    if (ok === null) return;
    const updated = await api.post(api.admin(slug, `/${action}`));
    toast(t('lifecycle.done', { status: t(`status.${updated.status}`) }));
    go(location.hash);
  };

  mount(root,
    h('div', { class: 'page-head' },
      h('h1', {}, campaign.title, ' ', h('span', { class: `badge ${campaign.status}`, id: 'campaign-status' }, t(`status.${campaign.status}`))),
      h('div', { class: 'actions' },
        campaign.status === 'draft' ? actionButton(t('lifecycle.activate'), () => lifecycle('activate'), { id: 'activate' }) : null,
        campaign.status === 'active' ? actionButton(t('lifecycle.close'), () => lifecycle('close'), { id: 'close', class: 'danger' }) : null)),
    h('div', { class: 'grid two' },
      h('section', { class: 'card' },
        h('dl', { class: 'facts' },
          h('dt', {}, t('campaign.slug')), h('dd', { class: 'mono' }, campaign.slug),
          h('dt', {}, t('campaign.route')), h('dd', {}, campaign.route),
          h('dt', {}, t('campaign.timezone')), h('dd', {}, campaign.timezone),
          h('dt', {}, t('campaign.progress_mode')), h('dd', {}, t(`mode.${campaign.progress_mode}`)),
          h('dt', {}, t('campaign.steps_per_km')), h('dd', { id: 'steps-per-km' }, num(campaign.steps_per_km))),
        field(t('campaign.title'), inputs.title),
        field(t('campaign.description'), inputs.description),
        h('div', { class: 'row' }, field(t('campaign.starts_on'), inputs.starts_on), field(t('campaign.ends_on'), inputs.ends_on)),
        h('div', { class: 'row' },
          field(t('campaign.daily_step_cap'), inputs.daily_step_cap),
          field(t('campaign.flag_steps_over'), inputs.flag_steps_over),
          field(t('campaign.sync_grace_days'), inputs.sync_grace_days)),
        h('fieldset', {}, h('legend', {}, t('campaign.step_sources')), sources),
        h('div', { class: 'actions' }, save)),
      planner(campaign, (updated) => {
        document.getElementById('steps-per-km').textContent = num(updated.steps_per_km);
      })));
}
