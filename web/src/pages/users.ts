// Administrators: list, create (with scoped roles), edit roles and
// password, disable/enable, delete. Permission admin:users.
import { AdminUser, api, Computer, Pool, Role } from '../api';
import { Column, errorBox, loading, statusBadge, table } from '../components';
import { clear, formatTime, h } from '../dom';
import { href, navigate, Route } from '../router';
import { loadPools } from './computers';
import { clearErrors, describeGrant, field, grantEditor, loadAllComputers, showError, success } from './forms';

interface Lookups {
  roles: Role[];
  roleMap: Map<string, Role>;
  pools: Map<string, Pool>;
  computers: Map<string, Computer>;
}

async function lookups(): Promise<Lookups> {
  const [roles, pools, computers] = await Promise.all([
    api.roles().then((r) => r.items),
    loadPools(),
    loadAllComputers((p) => api.computers(p)),
  ]);
  return {
    roles,
    roleMap: new Map(roles.map((r) => [r.id, r])),
    pools,
    computers: new Map(computers.map((c) => [c.id, c])),
  };
}

const PASSWORD_HINT = '10 to 1024 characters, at least 3 different ones, not containing the user name.';

export async function renderUsers(main: HTMLElement, route: Route): Promise<void> {
  const formSlot = h('div', {});
  const msg = h('div', { 'aria-live': 'polite' });
  const body = h('div', {}, loading());
  clear(main, h('h1', { tabindex: '-1' }, 'Users'), formSlot, msg, h('h2', {}, 'Administrators'), body);
  let look: Lookups;
  let users: AdminUser[];
  try {
    [look, users] = await Promise.all([lookups(), api.users().then((p) => p.items)]);
  } catch (e) {
    clear(body, errorBox(e));
    return;
  }
  clear(formSlot, createForm(look));

  const draw = () => {
    const cols: Column<AdminUser>[] = [
      { title: 'User name', cell: (u) => h('a', { href: href(['users', u.id]), id: `u-${u.id}` }, u.username) },
      {
        title: 'Roles',
        cell: (u) =>
          u.roles.length
            ? h('ul', { class: 'plain' }, u.roles.map((g) => h('li', {}, describeGrant(g, look.roleMap, look.pools, look.computers))))
            : h('span', { class: 'muted' }, 'No role: can sign in but see nothing'),
      },
      { title: 'Status', cell: (u) => statusBadge(!u.disabled, 'Active', 'Disabled') },
      { title: 'Created', cell: (u) => formatTime(u.created_at) },
      {
        title: 'Actions',
        className: 'actions',
        cell: (u) => {
          const edit = h('a', { href: href(['users', u.id]), class: 'button', 'aria-describedby': `u-${u.id}` }, 'Edit');
          const toggle = h('button', { type: 'button', 'aria-describedby': `u-${u.id}` }, u.disabled ? 'Enable' : 'Disable');
          toggle.addEventListener('click', async () => {
            toggle.disabled = true;
            try {
              const changed = await api.updateUser(u.id, { disabled: !u.disabled });
              users = users.map((x) => (x.id === u.id ? changed : x));
              draw();
              clear(msg, success(`${u.username} is ${changed.disabled ? 'disabled: their sessions and API tokens are revoked' : 'enabled'}.`));
            } catch (e) {
              toggle.disabled = false;
              clear(msg, errorBox(e));
            }
          });
          const del = h('button', { type: 'button', class: 'danger', 'aria-describedby': `u-${u.id}` }, 'Delete');
          del.addEventListener('click', async () => {
            if (!confirm(`Delete administrator “${u.username}”? This cannot be undone.`)) return;
            try {
              await api.deleteUser(u.id);
              users = users.filter((x) => x.id !== u.id);
              draw();
              clear(msg, success(`Deleted ${u.username}.`));
              (main.querySelector('h1') as HTMLElement | null)?.focus();
            } catch (e) {
              clear(msg, errorBox(e));
            }
          });
          return h('span', { class: 'row-actions' }, edit, ' ', toggle, ' ', del);
        },
      },
    ];
    clear(body, table('Administrators', cols, users, 'No administrators.'));
  };
  draw();
  const created = route.params.get('created');
  if (created) clear(msg, success(`Created ${created}.`));
}

function createForm(look: Lookups): HTMLElement {
  const username = h('input', { id: 'nu-name', name: 'username', autocomplete: 'off', required: true, maxlength: 200 });
  const password = h('input', { id: 'nu-pass', name: 'password', type: 'password', autocomplete: 'new-password', required: true });
  const grants = grantEditor([], look.roles, [...look.pools.values()], [...look.computers.values()]);
  const msg = h('div', { class: 'form-msg', 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Create user');
  const form = h(
    'form',
    { class: 'admin-form', novalidate: true, 'aria-labelledby': 'nu-title' },
    h('h2', { id: 'nu-title' }, 'New administrator'),
    h('div', { class: 'row' }, field('nu-name', 'User name', username), field('nu-pass', 'Password', password, PASSWORD_HINT)),
    grants.element,
    msg,
    h('div', { class: 'buttons' }, submit),
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form, msg);
    const name = username.value.trim();
    if (!name) {
      clear(msg, errorBox('Give the user a name.'));
      username.focus();
      return;
    }
    const roles = grants.value();
    if (typeof roles === 'string') {
      clear(msg, errorBox(roles));
      return;
    }
    submit.disabled = true;
    try {
      await api.createUser({ username: name, password: password.value, roles });
      // Re-render the list with the new user; the password leaves the page.
      navigate(href(['users'], { created: name }));
    } catch (e) {
      showError(form, msg, e);
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

export async function renderUser(main: HTMLElement, id: string): Promise<void> {
  const title = h('h1', { tabindex: '-1' }, 'Administrator');
  const body = h('div', {}, loading());
  clear(main, h('p', { class: 'crumbs' }, h('a', { href: href(['users']) }, 'Users'), ' / ', id), title, body);
  let look: Lookups;
  let user: AdminUser;
  try {
    [look, user] = await Promise.all([lookups(), api.users().then((p) => p.items.find((u) => u.id === id))]).then(
      ([l, u]) => {
        if (!u) throw new Error(`There is no administrator ${id}.`);
        return [l, u] as [Lookups, AdminUser];
      },
    );
  } catch (e) {
    clear(body, errorBox(e));
    return;
  }
  title.textContent = `Administrator ${user.username}`;

  // Roles
  const grants = grantEditor(user.roles, look.roles, [...look.pools.values()], [...look.computers.values()]);
  const rolesMsg = h('div', { class: 'form-msg', 'aria-live': 'polite' });
  const saveRoles = h('button', { type: 'submit', class: 'primary' }, 'Save roles');
  const rolesForm = h('form', { class: 'admin-form', novalidate: true, 'aria-label': 'Roles' }, grants.element, rolesMsg, h('div', { class: 'buttons' }, saveRoles));
  rolesForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(rolesForm, rolesMsg);
    const roles = grants.value();
    if (typeof roles === 'string') {
      clear(rolesMsg, errorBox(roles));
      return;
    }
    saveRoles.disabled = true;
    try {
      user = await api.updateUser(user.id, { roles });
      clear(rolesMsg, success(`Roles saved: ${user.roles.map((g) => describeGrant(g, look.roleMap, look.pools, look.computers)).join('; ') || 'none'}.`));
    } catch (e) {
      showError(rolesForm, rolesMsg, e);
    } finally {
      saveRoles.disabled = false;
    }
  });

  // Password set by an administrator (e.g. a forgotten one).
  const pw = h('input', { id: 'eu-pass', name: 'password', type: 'password', autocomplete: 'new-password' });
  const pwMsg = h('div', { class: 'form-msg', 'aria-live': 'polite' });
  const setPw = h('button', { type: 'submit' }, 'Set password');
  const pwForm = h(
    'form',
    { class: 'admin-form', novalidate: true, 'aria-labelledby': 'eu-pw-title' },
    h('h2', { id: 'eu-pw-title' }, 'Set a new password'),
    field('eu-pass', 'New password', pw, PASSWORD_HINT),
    pwMsg,
    h('div', { class: 'buttons' }, setPw),
  );
  pwForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(pwForm, pwMsg);
    setPw.disabled = true;
    try {
      user = await api.updateUser(user.id, { password: pw.value });
      pw.value = '';
      clear(pwMsg, success('Password set. Tell the user through a safe channel.'));
    } catch (e) {
      showError(pwForm, pwMsg, e);
    } finally {
      setPw.disabled = false;
    }
  });

  clear(
    body,
    h(
      'dl',
      { class: 'meta inline' },
      h('dt', {}, 'ID'),
      h('dd', {}, h('code', {}, user.id)),
      h('dt', {}, 'Status'),
      h('dd', {}, user.disabled ? 'Disabled' : 'Active', ' (disable, enable or delete on the ', h('a', { href: href(['users']) }, 'Users'), ' page)'),
      h('dt', {}, 'Created'),
      h('dd', {}, formatTime(user.created_at)),
    ),
    h('h2', {}, 'Roles'),
    rolesForm,
    pwForm,
  );
}
