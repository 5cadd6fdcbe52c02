// Shared bits of the page: the toast, the confirmation dialog and error display.

import { h } from './dom.js';
import { t } from './i18n.js';

let toastTimer = null;

/** A short message at the bottom of the page. */
export function toast(text, kind = 'ok') {
  const el = document.getElementById('toast');
  el.textContent = text;
  el.className = `toast ${kind}`;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    el.hidden = true;
  }, 4000);
}

/** Shows an error the way the user reads it. */
export function fail(err) {
  toast(err?.message ? err.message : t('error.generic', { detail: String(err) }), 'error');
}

/**
 * Asks for confirmation in the page's own dialog; resolves to `null` when cancelled, else
 * to the reason typed (or '' when no reason was asked for).
 */
export function confirmDialog({ title, text, reason = false, danger = false }) {
  const dialog = document.getElementById('confirm');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-text').textContent = text;
  const label = document.getElementById('confirm-reason-label');
  const input = document.getElementById('confirm-reason');
  label.hidden = !reason;
  input.value = '';
  input.required = reason;
  document.getElementById('confirm-ok').className = danger ? 'danger' : '';
  dialog.returnValue = '';
  dialog.showModal();
  if (reason) input.focus();
  return new Promise((resolve) => {
    dialog.addEventListener(
      'close',
      () => resolve(dialog.returnValue === 'ok' ? input.value.trim() : null),
      { once: true },
    );
  });
}

/** A labelled form field. */
export function field(label, input, help) {
  return h('label', { class: 'field' }, h('span', { class: 'label' }, label), input, help ? h('small', {}, help) : null);
}

/** A button that disables itself while `action` runs and shows its failure. */
export function actionButton(label, action, attrs = {}) {
  const button = h('button', { type: 'button', ...attrs }, label);
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      await action();
    } catch (err) {
      fail(err);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}
