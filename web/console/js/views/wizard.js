// Creating a campaign step by step: basics, dates and zone, mode and route; the draft is
// then created and the planner shows how steps per km follows.

import { api } from '../api.js';
import { h, isoToday, mount } from '../dom.js';
import { t } from '../i18n.js';
import { fail, field } from '../ui.js';
import { planner } from './plan.js';

const ZONES = ['Asia/Shanghai', 'Asia/Urumqi', 'Asia/Hong_Kong', 'Asia/Macau', 'Asia/Taipei', 'Asia/Tokyo', 'Europe/London', 'UTC'];

export async function render({ root, go }) {
  const routes = await api.get('/admin/routes', { limit: 100 });
  const input = (name, attrs = {}) => h('input', { name, id: `w-${name}`, ...attrs });
  const slug = input('slug', { required: true, pattern: '[a-z0-9][a-z0-9\\-]{1,62}', autocomplete: 'off' });
  const title = input('title', { required: true, maxlength: 100 });
  const description = h('textarea', { name: 'description', id: 'w-description', rows: 3 });
  const starts = input('starts_on', { type: 'date', required: true, value: isoToday() });
  const ends = input('ends_on', { type: 'date', required: true, value: isoToday(30) });
  const zone = h('select', { name: 'timezone', id: 'w-timezone' }, ZONES.map((z) => h('option', { value: z }, z)));
  const modes = ['cohort_mean', 'cohort_total', 'individual'].map((m, i) => h('label', { class: 'choice' },
    h('input', { type: 'radio', name: 'progress_mode', value: m, checked: i === 0 }),
    h('strong', {}, t(`mode.${m}`)), h('small', {}, t(`mode.${m}.help`))));
  const route = h('select', { name: 'route', id: 'w-route' },
    routes.items.map((r) => h('option', { value: r.slug }, `${r.name} (${Math.round(r.total_metres / 1000)} km, ${r.stations})`)));
  const sources = ['werun', 'manual', 'import'].map((s) => h('label', { class: 'check' },
    h('input', { type: 'checkbox', name: 'step_sources', value: s, checked: s !== 'import' }), t(`source.${s}`)));

  const steps = [
    { title: t('wizard.step1'), body: [field(t('campaign.title'), title), field(t('campaign.slug'), slug, t('wizard.slug.help')), field(t('campaign.description'), description)] },
    { title: t('wizard.step2'), body: [h('div', { class: 'row' }, field(t('campaign.starts_on'), starts), field(t('campaign.ends_on'), ends)), field(t('campaign.timezone'), zone)] },
    { title: t('wizard.step3'), body: [h('fieldset', {}, h('legend', {}, t('campaign.progress_mode')), modes), field(t('campaign.route'), route), h('fieldset', {}, h('legend', {}, t('campaign.step_sources')), sources)] },
  ];
  let at = 0;
  const error = h('p', { class: 'error', role: 'alert', hidden: true });
  const show = () => {
    mount(root,
      h('h1', {}, t('wizard.title')),
      h('ol', { class: 'wizard-steps' }, [...steps.map((s) => s.title), t('wizard.step4')].map((s, i) => h('li', { class: i === at ? 'current' : i < at ? 'done' : '' }, s))),
      form);
    mount(form,
      h('section', { class: 'card' }, steps[at].body),
      error,
      h('div', { class: 'actions' },
        at > 0 ? h('button', { type: 'button', class: 'secondary', onclick: () => { at -= 1; show(); } }, t('common.back')) : null,
        h('button', { type: 'submit', id: 'wizard-next' }, at < steps.length - 1 ? t('common.next') : t('wizard.create'))));
  };
  const form = h('form', { class: 'wizard', id: 'wizard', novalidate: false });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.hidden = true;
    if (at < steps.length - 1) {
      at += 1;
      show();
      return;
    }
    try {
      const campaign = await api.post('/admin/campaigns', {
        slug: slug.value.trim(),
        title: title.value.trim(),
        description: description.value.trim(),
        starts_on: starts.value,
        ends_on: ends.value,
        timezone: zone.value,
        progress_mode: form.ownerDocument.querySelector('input[name=progress_mode]:checked').value,
        route: route.value,
        steps_per_km: 18,
        step_sources: sources.map((l) => l.querySelector('input')).filter((c) => c.checked).map((c) => c.value),
      });
      mount(root,
        h('h1', {}, t('wizard.title')),
        h('ol', { class: 'wizard-steps' }, [...steps.map((s) => s.title), t('wizard.step4')].map((s, i) => h('li', { class: i === 3 ? 'current' : 'done' }, s))),
        planner(campaign),
        h('div', { class: 'actions' },
          h('a', { class: 'button', id: 'wizard-done', href: `#/c/${encodeURIComponent(campaign.slug)}/settings` }, t('common.next'))));
    } catch (err) {
      const fields = err.errors?.map?.((f) => f.field ?? f.name).filter(Boolean) ?? [];
      error.textContent = fields.length ? `${err.message}（${fields.map((f) => t(`campaign.${f}`)).join('、')}）` : err.message;
      error.hidden = false;
      const back = { slug: 0, title: 0, starts_on: 1, ends_on: 1, timezone: 1, route: 2, progress_mode: 2 };
      if (err.code === 'slug_taken') at = 0;
      else if (fields.length && back[fields[0]] !== undefined) at = back[fields[0]];
      show();
      fail(err);
    }
  });
  show();
  title.focus();
  void go;
}
