// The organiser's login.

import { login } from '../api.js';
import { h, mount } from '../dom.js';
import { t } from '../i18n.js';
import { field } from '../ui.js';

export function render({ root, done }) {
  const username = h('input', { name: 'username', autocomplete: 'username', required: true });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const error = h('p', { class: 'error', role: 'alert', hidden: true });
  const submit = h('button', { type: 'submit' }, t('login.submit'));
  const form = h('form', { class: 'card login', id: 'login-form' },
    h('h1', {}, t('login.title')),
    field(t('login.username'), username),
    field(t('login.password'), password),
    error,
    submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    error.hidden = true;
    try {
      await login(username.value.trim(), password.value);
      done();
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
    } finally {
      submit.disabled = false;
    }
  });
  mount(root, form);
  username.focus();
}
