// Change one's own password (from the header). The server checks the
// current one and the rules; a 422 names the field it blames.
import { api } from '../api';
import { errorBox } from '../components';
import { clear, h } from '../dom';
import { clearErrors, field, showError, success } from './forms';

export interface ChangePasswordOptions {
  /** Shown above the form (the first sign-in with a generated password). */
  notice?: string;
  /** Called after the server accepted the new password. */
  onChanged?: () => void | Promise<void>;
}

export function renderChangePassword(main: HTMLElement, username: string, options: ChangePasswordOptions = {}): void {
  const current = h('input', { id: 'pw-current', name: 'current_password', type: 'password', autocomplete: 'current-password', required: true });
  // name "password": the server names the new password's field so in 422s.
  const next = h('input', { id: 'pw-new', name: 'password', type: 'password', autocomplete: 'new-password', required: true });
  const again = h('input', { id: 'pw-again', name: 'password_again', type: 'password', autocomplete: 'new-password', required: true });
  const msg = h('div', { class: 'form-msg', 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Change password');
  const form = h(
    'form',
    { class: 'admin-form narrow', novalidate: true, 'aria-label': 'Change password' },
    h('input', { type: 'text', name: 'username', autocomplete: 'username', value: username, hidden: true, readonly: true }),
    field('pw-current', 'Current password', current),
    field('pw-new', 'New password', next, '10 to 1024 characters, at least 3 different ones, not containing your user name.'),
    field('pw-again', 'Repeat the new password', again),
    msg,
    h('div', { class: 'buttons' }, submit),
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form, msg);
    if (next.value !== again.value) {
      clear(msg, errorBox('The two new passwords differ.'));
      again.focus();
      return;
    }
    submit.disabled = true;
    try {
      await api.changePassword(current.value, next.value);
      form.reset();
      clear(msg, success('Password changed. Your other sessions were signed out.'));
      await options.onChanged?.();
    } catch (e) {
      // A wrong current password is a 403 naming current_password: show it there.
      showError(form, msg, e);
    } finally {
      submit.disabled = false;
    }
  });
  clear(main, h('h1', { tabindex: '-1' }, 'Change password'), options.notice ? h('p', { class: 'notice' }, options.notice) : null, form);
}
