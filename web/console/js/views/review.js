// The review queue: flagged days (highest first) beside the participant's recent days;
// void or restore a day with a reason, suspend or reinstate the participant.

import { api } from '../api.js';
import { h, mount, num, table } from '../dom.js';
import { t } from '../i18n.js';
import { actionButton, confirmDialog, toast } from '../ui.js';

export async function render({ root, slug }) {
  const showVoided = h('input', { type: 'checkbox', id: 'include-voided' });
  const list = h('div', { id: 'flag-list' });
  const detail = h('aside', { class: 'card series', id: 'participant-series' });
  let selected = null;

  const load = async () => {
    const flags = await api.get(api.admin(slug, '/flags'), { include_voided: showVoided.checked, limit: 100 });
    const rows = flags.items.map((d) => h('tr', { dataset: { stepDay: d.id, participant: d.participant_id }, class: `${d.voided ? 'voided' : ''} ${selected === d.participant_id ? 'selected' : ''}` },
      h('td', {}, h('a', { href: '#', onclick: (e) => { e.preventDefault(); select(d.participant_id); } }, d.display_name)),
      h('td', { class: 'mono' }, d.student_no ?? ''),
      h('td', {}, d.day),
      h('td', { class: 'num' }, num(d.steps)),
      h('td', {}, t(`source.${d.source}`)),
      h('td', {}, d.voided ? `${t('review.voided')}：${d.void_reason ?? ''}` : t('review.flagged')),
      h('td', {}, dayAction(d))));
    mount(list, rows.length
      ? table([t('col.name'), t('col.student_no'), t('col.day'), t('col.steps'), t('col.source'), t('col.status'), t('col.actions')], rows, { class: 'list' })
      : h('p', { class: 'empty', id: 'review-empty' }, t('review.empty')));
  };

  const select = (id) => {
    selected = id;
    for (const row of list.querySelectorAll('tr[data-participant]')) row.classList.toggle('selected', Number(row.dataset.participant) === id);
    showSeries(id).catch((err) => toast(err.message, 'error'));
  };

  const dayAction = (d) => actionButton(d.voided ? t('review.restore') : t('review.void'), async () => {
    const vars = { name: d.display_name, day: d.day, steps: num(d.steps) };
    if (d.voided) {
      if ((await confirmDialog({ title: t('review.restore'), text: t('review.restore.confirm', vars) })) === null) return;
      await api.post(api.admin(slug, `/step-days/${d.id}/restore`));
    } else {
      const reason = await confirmDialog({ title: t('review.void'), text: t('review.void.confirm', vars), reason: true, danger: true });
      if (!reason) return;
      await api.post(api.admin(slug, `/step-days/${d.id}/void`), { reason });
    }
    toast(d.voided ? t('review.restored') : t('review.voided'));
    await load();
    if (selected === d.participant_id) await showSeries(d.participant_id);
  }, { class: d.voided ? 'secondary' : 'danger', dataset: { action: d.voided ? 'restore' : 'void' } });

  const showSeries = async (id) => {
    const p = await api.get(api.admin(slug, `/participants/${id}/days`));
    const max = Math.max(1, ...p.days.map((d) => d.steps));
    const suspended = p.status === 'suspended';
    mount(detail,
      h('h2', {}, p.display_name, ' ', h('span', { class: 'mono muted' }, p.student_no ?? '')),
      suspended ? h('p', { class: 'error' }, `${t('review.suspended')}：${p.suspend_reason ?? ''}`) : null,
      h('h3', {}, t('review.series')),
      h('ul', { class: 'spark' }, p.days.map((d) => {
        const bar = h('span', { class: `bar ${d.flagged ? 'flagged' : ''} ${d.voided ? 'voided' : ''}` });
        bar.style.width = `${Math.round((d.steps / max) * 100)}%`;
        return h('li', {}, h('span', { class: 'day' }, d.day.slice(5)), bar, h('span', { class: 'num' }, num(d.steps)));
      })),
      actionButton(suspended ? t('review.reinstate') : t('review.suspend'), async () => {
        const vars = { name: p.display_name };
        if (suspended) {
          if ((await confirmDialog({ title: t('review.reinstate'), text: t('review.reinstate.confirm', vars) })) === null) return;
          await api.post(api.admin(slug, `/participants/${id}/reinstate`));
        } else {
          const reason = await confirmDialog({ title: t('review.suspend'), text: t('review.suspend.confirm', vars), reason: true, danger: true });
          if (!reason) return;
          await api.post(api.admin(slug, `/participants/${id}/suspend`), { reason });
        }
        await showSeries(id);
      }, { class: suspended ? 'secondary' : 'danger', id: 'suspend-toggle' }));
  };

  showVoided.addEventListener('change', load);
  mount(root,
    h('div', { class: 'page-head' }, h('h1', {}, t('review.title')), h('label', { class: 'check' }, showVoided, t('review.include_voided'))),
    h('div', { class: 'grid review' }, h('section', { class: 'card' }, list), detail));
  await load();
}
