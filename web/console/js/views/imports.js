// CSV imports of cohorts, roster and steps. A chosen file is first sent with
// `?dry_run=true`: the server judges every line by the same rules as the real import and
// stores nothing, so every bad line is listed (line number, reason) before anything is kept.

import { api } from '../api.js';
import { h, mount, num, table } from '../dom.js';
import { problemText, t } from '../i18n.js';
import { actionButton, toast } from '../ui.js';

const KINDS = [
  { name: 'cohorts', path: '/cohorts/import' },
  { name: 'roster', path: '/roster/import' },
  { name: 'steps', path: '/steps/import' },
];

export async function render({ root, slug }) {
  mount(root, h('h1', {}, t('imports.title')), h('div', { class: 'grid three' }, KINDS.map((kind) => panel(slug, kind))));
}

function summary(report) {
  return Object.entries(report)
    .filter(([, v]) => typeof v === 'number')
    .map(([k, v]) => `${t(`report.${k}`)} ${num(v)}`)
    .join(' · ');
}

function lineTable(lines) {
  return table([t('col.line'), t('col.reason')],
    lines.map((e) => h('tr', { dataset: { line: e.line } },
      h('td', { class: 'num' }, e.line),
      h('td', {}, problemText(e.code, e.message ?? e.reason), e.student_no ? ` (${e.student_no} ${e.date})` : ''))),
    { class: 'line-errors' });
}

function panel(slug, kind) {
  const file = h('input', { type: 'file', accept: '.csv,text/csv', id: `file-${kind.name}`, name: kind.name });
  const result = h('div', { class: 'import-result', id: `result-${kind.name}`, 'aria-live': 'polite' });
  let text = null;

  const check = async () => {
    mount(result, h('p', {}, t('common.loading')));
    try {
      const report = await api.csv(api.admin(slug, kind.path), text, { dry_run: true });
      const ok = kind.name === 'steps'
        ? t('imports.ok.steps', { lines: report.lines, accepted: report.accepted, rejected: report.rejected_count })
        : t('imports.ok', { lines: report.lines });
      mount(result,
        h('p', { class: 'ok' }, ok),
        report.rejected?.length ? lineTable(report.rejected) : null,
        actionButton(t('imports.commit'), commit, { id: `commit-${kind.name}` }));
    } catch (err) {
      showError(err);
    }
  };

  const commit = async () => {
    try {
      const report = await api.csv(api.admin(slug, kind.path), text);
      mount(result, h('p', { class: 'ok done' }, t('imports.done', { summary: summary(report) })));
      toast(t('imports.done', { summary: summary(report) }));
      file.value = '';
      text = null;
    } catch (err) {
      showError(err);
    }
  };

  const showError = (err) => {
    if (err.errors.length && err.errors[0].line !== undefined) {
      const count = Number((err.detail ?? '').match(/^(\d+)/)?.[1] ?? err.errors.length);
      mount(result, h('p', { class: 'error' }, t('imports.bad', { count })), lineTable(err.errors));
    } else {
      mount(result, h('p', { class: 'error' }, err.message));
    }
  };

  file.addEventListener('change', async () => {
    const chosen = file.files[0];
    if (!chosen) return;
    text = await chosen.text();
    await check();
  });

  return h('section', { class: 'card import', id: `import-${kind.name}` },
    h('h2', {}, t(`imports.${kind.name}`)),
    h('p', { class: 'muted' }, t(`imports.${kind.name}.help`)),
    h('label', { class: 'file' }, h('span', {}, t('imports.file')), file),
    result);
}
