import { api } from '../api';
import { errorBox } from '../components';
import { h } from '../dom';

/** The sign-in form; calls onSignedIn after the server set the session cookie. */
export function renderLogin(root: HTMLElement, onSignedIn: () => void, notice?: string): void {
  const user = h('input', { id: 'login-user', name: 'username', autocomplete: 'username', required: true });
  const pass = h('input', { id: 'login-pass', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const msg = h('div', { class: 'form-msg', 'aria-live': 'polite' }, notice ? h('p', { class: 'muted' }, notice) : null);
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h(
    'form',
    { class: 'login-form', 'aria-labelledby': 'login-title' },
    h('h1', { id: 'login-title' }, 'Sign in to deskaudit'),
    h('p', { class: 'muted' }, 'Screen-recording audit console'),
    h('label', { for: 'login-user' }, 'User name'),
    user,
    h('label', { for: 'login-pass' }, 'Password'),
    pass,
    msg,
    submit,
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    submit.disabled = true;
    msg.replaceChildren();
    try {
      await api.login(user.value.trim(), pass.value);
      onSignedIn();
    } catch (e) {
      msg.replaceChildren(errorBox(e));
      pass.select();
    } finally {
      submit.disabled = false;
    }
  });
  root.replaceChildren(h('main', { class: 'login-page' }, form));
  user.focus();
}
