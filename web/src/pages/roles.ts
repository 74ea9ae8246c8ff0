// Roles: the built-in ones (read-only) and custom roles made from a
// permission checklist. Permission admin:users.
import { api, Role } from '../api';
import { Column, errorBox, loading, table } from '../components';
import { clear, h } from '../dom';
import { href, navigate, Route } from '../router';
import { clearErrors, field, showError, success } from './forms';

/** What each permission allows, in the words of the product docs. */
export const PERMISSION_TEXT: Record<string, string> = {
  'policy:read': 'See recording policies',
  'policy:write': 'Create, change, assign and delete policies',
  'inventory:read': 'See cloud computers and pools',
  'inventory:write': 'Change computers and pools, enrollment tokens',
  'recording:list': 'Find recordings',
  'recording:play': 'Play recordings back',
  'recording:download': 'Download recordings',
  'recording:delete': 'Delete recordings',
  'audit:read': 'Read and verify the audit log',
  'admin:users': 'Manage administrators, roles and everyone’s API tokens',
};

function permTags(perms: string[]): HTMLElement {
  return h('span', { class: 'perm-tags' }, perms.map((p) => h('code', { class: 'badge', title: PERMISSION_TEXT[p] ?? p }, p)));
}

export async function renderRoles(main: HTMLElement, route: Route): Promise<void> {
  const formSlot = h('div', { class: 'form-after-list' });
  const msg = h('div', { 'aria-live': 'polite' });
  const builtin = h('div', {}, loading());
  const custom = h('div', {});
  clear(
    main,
    h('h1', { tabindex: '-1' }, 'Roles'),
    msg,
    h('h2', {}, 'Custom roles'),
    custom,
    formSlot,
    h('h2', {}, 'Built-in roles'),
    h('p', { class: 'muted' }, 'Built-in roles cannot be changed. Grant any role everywhere or only for one pool or computer on the Users page.'),
    builtin,
  );
  let roles: Role[];
  let all: string[];
  try {
    const r = await api.roles();
    roles = r.items;
    all = r.permissions;
  } catch (e) {
    clear(builtin, errorBox(e));
    return;
  }
  const base: Column<Role>[] = [
    { title: 'Name', cell: (r) => h('a', { href: href(['roles', r.id]), id: `r-${r.id}` }, r.name) },
    { title: 'Description', cell: (r) => r.description || '—' },
    { title: 'Permissions', cell: (r) => permTags(r.permissions) },
  ];
  const draw = () => {
    clear(builtin, table('Built-in roles', base, roles.filter((r) => r.builtin), 'No built-in roles.'));
    clear(
      custom,
      table(
        'Custom roles',
        [
          ...base,
          {
            title: 'Actions',
            className: 'actions',
            cell: (r) => {
              const del = h('button', { type: 'button', class: 'danger', 'aria-describedby': `r-${r.id}` }, 'Delete');
              del.addEventListener('click', async () => {
                if (!confirm(`Delete role “${r.name}”? Only a role nobody holds can be deleted.`)) return;
                try {
                  await api.deleteRole(r.id);
                  roles = roles.filter((x) => x.id !== r.id);
                  draw();
                  clear(msg, success(`Deleted role ${r.name}.`));
                } catch (e) {
                  clear(msg, errorBox(e));
                }
              });
              return h('span', { class: 'row-actions' }, h('a', { href: href(['roles', r.id]), class: 'button', 'aria-describedby': `r-${r.id}` }, 'Edit'), ' ', del);
            },
          },
        ],
        roles.filter((r) => !r.builtin),
        'No custom roles yet.',
      ),
    );
  };
  draw();
  clear(formSlot, roleForm(null, all));
  const created = route.params.get('created');
  if (created) clear(msg, success(`Created role ${created}.`));
}

/** The create/edit form; a built-in role is shown with everything disabled. */
function roleForm(role: Role | null, all: string[]): HTMLElement {
  const readOnly = role?.builtin ?? false;
  const name = h('input', { id: 'ro-name', name: 'name', value: role?.name ?? '', maxlength: 200, required: true, disabled: readOnly });
  const desc = h('input', { id: 'ro-desc', name: 'description', value: role?.description ?? '', maxlength: 1000, disabled: readOnly });
  const have = new Set(role?.permissions ?? []);
  const boxes = all.map((p) =>
    h('input', { type: 'checkbox', id: `ro-p-${p.replace(/\W/g, '-')}`, value: p, checked: have.has(p), disabled: readOnly }),
  );
  const perms = h(
    'fieldset',
    { class: 'perms', name: 'permissions', id: 'ro-perms', tabindex: '-1' },
    h('legend', {}, 'Permissions'),
    h(
      'ul',
      { class: 'perm-list' },
      boxes.map((b) =>
        h('li', {}, b, h('label', { for: b.id }, h('code', {}, b.value), h('small', {}, PERMISSION_TEXT[b.value] ?? ''))),
      ),
    ),
    h('span', { id: 'ro-perms-error', class: 'field-error', hidden: true }),
  );
  const msg = h('div', { class: 'form-msg', 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', class: 'primary' }, role ? 'Save role' : 'Create role');
  const form = h(
    'form',
    { class: 'admin-form', novalidate: true, 'aria-labelledby': 'ro-title' },
    h('h2', { id: 'ro-title' }, role ? (readOnly ? 'Built-in role (read-only)' : 'Edit role') : 'New custom role'),
    h('div', { class: 'row' }, field('ro-name', 'Role name', name), field('ro-desc', 'Description', desc)),
    perms,
    msg,
    readOnly ? null : h('div', { class: 'buttons' }, submit),
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (readOnly) return;
    clearErrors(form, msg);
    const body = {
      name: name.value.trim(),
      description: desc.value.trim(),
      permissions: boxes.filter((b) => b.checked).map((b) => b.value),
    };
    if (!body.name) {
      clear(msg, errorBox('Give the role a name.'));
      name.focus();
      return;
    }
    if (body.permissions.length === 0) {
      clear(msg, errorBox('Tick at least one permission.'));
      boxes[0]?.focus();
      return;
    }
    submit.disabled = true;
    try {
      if (role) {
        await api.updateRole(role.id, body);
        clear(msg, success('Role saved.'));
      } else {
        await api.createRole(body);
        navigate(href(['roles'], { created: body.name }));
      }
    } catch (e) {
      showError(form, msg, e);
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

export async function renderRole(main: HTMLElement, id: string): Promise<void> {
  const title = h('h1', { tabindex: '-1' }, 'Role');
  const body = h('div', {}, loading());
  clear(main, h('p', { class: 'crumbs' }, h('a', { href: href(['roles']) }, 'Roles'), ' / ', id), title, body);
  try {
    const r = await api.roles();
    const role = r.items.find((x) => x.id === id);
    if (!role) throw new Error(`There is no role ${id}.`);
    title.textContent = `Role ${role.name}`;
    clear(body, roleForm(role, r.permissions));
  } catch (e) {
    clear(body, errorBox(e));
  }
}
