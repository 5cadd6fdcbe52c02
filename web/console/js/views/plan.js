// The planner: how `steps_per_km` follows from the route, the mode, the people and the days.

import { api } from '../api.js';
import { h, mount, num } from '../dom.js';
import { t } from '../i18n.js';
import { actionButton, field, toast } from '../ui.js';

/** A planner panel for the campaign; `applied(campaign)` runs after the suggestion is taken. */
export function planner(campaign, applied) {
  const participants = h('input', { type: 'number', min: 1, value: 30, name: 'participants' });
  const daily = h('input', { type: 'number', min: 1, value: 10000, name: 'daily_steps' });
  const days = h('input', { type: 'number', min: 1, name: 'days', placeholder: '' });
  const out = h('div', { class: 'plan-answer', id: 'plan-answer' });
  const box = h('section', { class: 'card planner' },
    h('h2', {}, t('plan.title')),
    h('div', { class: 'row' },
      campaign.progress_mode === 'cohort_total' ? field(t('plan.participants'), participants) : null,
      field(t('plan.daily_steps'), daily),
      field(t('plan.days'), days)),
    out);
  const run = async () => {
    const plan = await api.get(api.admin(campaign.slug, '/plan'), {
      participants: campaign.progress_mode === 'cohort_total' ? participants.value : undefined,
      daily_steps: daily.value,
      days: days.value,
    });
    if (!days.value) days.placeholder = String(plan.days);
    mount(out,
      h('p', { class: 'explain' }, t(campaign.progress_mode === 'cohort_total' ? 'plan.explain.total' : 'plan.explain', {
        km: num(plan.route_metres / 1000),
        daily: num(plan.daily_steps),
        participants: num(plan.participants),
        days: plan.days,
        spk: num(plan.suggested_steps_per_km),
        need: plan.finish_in_days,
        finish: plan.finish_on ?? '—',
      })),
      h('p', {}, t('plan.current', { spk: num(plan.current_steps_per_km), days: plan.finish_in_days_at_current })),
      campaign.status === 'closed' ? null : actionButton(t('plan.apply', { spk: plan.suggested_steps_per_km }), async () => {
        const updated = await api.patch(api.admin(campaign.slug), { steps_per_km: plan.suggested_steps_per_km },
          campaign.status === 'active' ? { recompute: true } : undefined);
        toast(t('plan.applied', { spk: updated.steps_per_km }));
        Object.assign(campaign, updated);
        await run();
        applied?.(updated);
      }, { id: 'plan-apply' }));
  };
  for (const input of [participants, daily, days]) input.addEventListener('change', () => run().catch((e) => toast(e.message, 'error')));
  run().catch((e) => toast(e.message, 'error'));
  return box;
}
