// API tokens of the signed-in administrator: create (the secret is shown
// once), list, revoke. Tokens act with their creator's permissions.
import { api, ApiToken } from '../api';
import { Column, errorBox, loading, table } from '../components';
import { clear, formatTime, fromLocalInput, h } from '../dom';
import { clearErrors, field, showError, success } from './forms';

function tokenState(t: ApiToken): { text: string; ok: boolean } {
  if (t.revoked) return { text: 'Revoked', ok: false };
  if (t.expires_at && new Date(t.expires_at).getTime() <= Date.now()) return { text: 'Expired', ok: false };
  return { text: 'Active', ok: true };
}

/** Copies text to the clipboard; falls back to selecting it for Ctrl+C
 *  (the Clipboard API needs a secure context, plain http is not one). */
async function copy(input: HTMLInputElement): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(input.value);
    return true;
  } catch {
    input.focus();
    input.select();
    try {
      return document.execCommand('copy');
    } catch {
      return false;
    }
  }
}

export async function renderTokens(main: HTMLElement): Promise<void> {
  const name = h('input', { id: 'tk-name', name: 'name', maxlength: 200, required: true, autocomplete: 'off' });
  const expires = h('input', { id: 'tk-expires', name: 'expires_at', type: 'datetime-local' });
  const formMsg = h('div', { class: 'form-msg', 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Create token');
  const form = h(
    'form',
    { class: 'admin-form', novalidate: true, 'aria-labelledby': 'tk-title' },
    h('h2', { id: 'tk-title' }, 'Create an API token'),
    h(
      'div',
      { class: 'row' },
      field('tk-name', 'Token name', name, 'What uses it, e.g. "nightly export".'),
      field('tk-expires', 'Expires', expires, 'Optional; leave empty for no expiry.'),
    ),
    formMsg,
    h('div', { class: 'buttons' }, submit),
  );
  const secretSlot = h('div', {});
  const msg = h('div', { 'aria-live': 'polite' });
  const body = h('div', {}, loading());
  clear(
    main,
    h('h1', { tabindex: '-1' }, 'API tokens'),
    h('p', { class: 'muted' }, 'An API token lets scripts call the REST API as you (Authorization: Bearer …), with your permissions.'),
    secretSlot,
    form,
    msg,
    h('h2', {}, 'Your tokens'),
    body,
  );

  let tokens: ApiToken[] = [];
  const draw = () => {
    const cols: Column<ApiToken>[] = [
      { title: 'Name', cell: (t) => h('span', { id: `tk-${t.id}` }, t.name) },
      { title: 'ID', cell: (t) => h('code', {}, t.id) },
      { title: 'Created', cell: (t) => formatTime(t.created_at) },
      { title: 'Expires', cell: (t) => (t.expires_at ? formatTime(t.expires_at) : 'Never') },
      { title: 'Last used', cell: (t) => (t.last_used_at ? formatTime(t.last_used_at) : 'Never') },
      {
        title: 'Status',
        cell: (t) => {
          const s = tokenState(t);
          return h('span', { class: `badge ${s.ok ? 'ok' : 'off'}` }, s.text);
        },
      },
      {
        title: 'Actions',
        className: 'actions',
        cell: (t) => {
          if (t.revoked) return '—';
          const b = h('button', { type: 'button', class: 'danger', 'aria-describedby': `tk-${t.id}` }, 'Revoke');
          b.addEventListener('click', async () => {
            if (!confirm(`Revoke API token “${t.name}”? Scripts using it stop working at once.`)) return;
            b.disabled = true;
            try {
              await api.revokeApiToken(t.id);
              tokens = tokens.map((x) => (x.id === t.id ? { ...x, revoked: true } : x));
              draw();
              clear(msg, success(`Revoked ${t.name}.`));
              (main.querySelector('h1') as HTMLElement | null)?.focus();
            } catch (e) {
              b.disabled = false;
              clear(msg, errorBox(e));
            }
          });
          return b;
        },
      },
    ];
    clear(body, table('Your API tokens', cols, tokens, 'You have no API tokens.'));
  };

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form, formMsg);
    const n = name.value.trim();
    if (!n) {
      clear(formMsg, errorBox('Give the token a name.'));
      name.focus();
      return;
    }
    const exp = fromLocalInput(expires.value);
    if (expires.value && !exp) {
      clear(formMsg, errorBox('The expiry is not a valid date and time.'));
      return;
    }
    submit.disabled = true;
    try {
      const created = await api.createApiToken(exp ? { name: n, expires_at: exp } : { name: n });
      const secret = h('input', { id: 'tk-secret', readonly: true, value: created.token ?? '', spellcheck: 'false' });
      const copied = h('span', { role: 'status', class: 'muted' });
      const copyButton = h('button', { type: 'button' }, 'Copy');
      copyButton.addEventListener('click', async () => {
        copied.textContent = (await copy(secret)) ? 'Copied.' : 'Select the token and press Ctrl+C.';
      });
      const dismiss = h('button', { type: 'button', class: 'link' }, 'I have stored it');
      dismiss.addEventListener('click', () => {
        secretSlot.replaceChildren();
        name.focus();
      });
      clear(
        secretSlot,
        h(
          'section',
          { class: 'secret', 'aria-labelledby': 'tk-secret-title' },
          h('h2', { id: 'tk-secret-title' }, `Token “${created.name}” created`),
          h('p', {}, 'Copy it now: it is shown only this once and cannot be recovered.'),
          h('div', { class: 'row' }, h('label', { for: 'tk-secret', class: 'sr-only' }, 'New API token'), secret, copyButton, copied),
          h('p', {}, dismiss),
        ),
      );
      name.value = '';
      expires.value = '';
      tokens = [created, ...tokens];
      draw();
      secret.focus();
      secret.select();
    } catch (e) {
      showError(form, formMsg, e);
    } finally {
      submit.disabled = false;
    }
  });

  try {
    tokens = (await api.apiTokens()).items.sort((a, b) => b.created_at.localeCompare(a.created_at));
    draw();
  } catch (e) {
    clear(body, errorBox(e));
  }
}
