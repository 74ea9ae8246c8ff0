// Shared pieces of the administration pages: labelled fields, errors shown
// next to the field the server blames, and the role-grant editor.
import './admin.css';
import { ApiError, Computer, Pool, Role, RoleGrant } from '../api';
import { errorBox } from '../components';
import { clear, h } from '../dom';

/** A labelled field; `name` is the API field it feeds, so a 422 naming it
 *  lands next to it (see showError). */
export function field(id: string, label: string, input: HTMLElement, hint?: string): HTMLElement {
  if (hint) input.setAttribute('aria-describedby', `${id}-hint`);
  return h(
    'div',
    { class: 'field' },
    h('label', { for: id }, label),
    input,
    hint ? h('small', { id: `${id}-hint`, class: 'muted' }, hint) : null,
    h('span', { id: `${id}-error`, class: 'field-error', hidden: true }),
  );
}

/** Removes every field error shown in `form` and empties `msg`. */
export function clearErrors(form: HTMLElement, msg: HTMLElement): void {
  for (const el of form.querySelectorAll<HTMLElement>('.field-error')) {
    el.hidden = true;
    el.textContent = '';
  }
  for (const el of form.querySelectorAll('[aria-invalid]')) {
    el.removeAttribute('aria-invalid');
    const ids = (el.getAttribute('aria-describedby') ?? '').split(' ').filter((x) => x && !x.endsWith('-error'));
    if (ids.length) el.setAttribute('aria-describedby', ids.join(' '));
    else el.removeAttribute('aria-describedby');
  }
  msg.replaceChildren();
}

/**
 * Shows an error readably: when the server names a field of this form
 * (error.field, matched against the controls' `name`), the message goes
 * under that control, which is marked invalid and focused; otherwise (or
 * additionally) into the form's message region.
 */
export function showError(form: HTMLElement, msg: HTMLElement, e: unknown): void {
  const fieldName = e instanceof ApiError ? e.field : undefined;
  const control = fieldName ? form.querySelector<HTMLElement>(`[name="${CSS.escape(fieldName)}"]`) : null;
  const slot = control ? form.querySelector<HTMLElement>(`#${CSS.escape(control.id)}-error`) : null;
  if (control && slot) {
    slot.textContent = (e as ApiError).message;
    slot.hidden = false;
    control.setAttribute('aria-invalid', 'true');
    const ids = (control.getAttribute('aria-describedby') ?? '').split(' ').filter(Boolean);
    control.setAttribute('aria-describedby', [...ids, slot.id].join(' '));
    clear(msg, h('div', { class: 'error', role: 'alert' }, `Check “${labelOf(form, control)}”: ${(e as ApiError).message}`));
    control.focus();
    return;
  }
  clear(msg, errorBox(e));
}

function labelOf(form: HTMLElement, control: HTMLElement): string {
  return form.querySelector(`label[for="${CSS.escape(control.id)}"]`)?.textContent ?? control.getAttribute('name') ?? '';
}

export function success(text: string): HTMLElement {
  return h('p', { class: 'success', role: 'status' }, text);
}

let grantSeq = 0;

/** What a grant means, for people: "Auditor in pool Finance desks". */
export function describeGrant(g: RoleGrant, roles: Map<string, Role>, pools: Map<string, Pool>, computers: Map<string, Computer>): string {
  const role = roles.get(g.role_id)?.name ?? g.role_id;
  if (g.scope_type === 'pool' && g.scope_id) return `${role} in pool ${pools.get(g.scope_id)?.name ?? g.scope_id}`;
  if (g.scope_type === 'computer' && g.scope_id)
    return `${role} on computer ${computers.get(g.scope_id)?.name ?? g.scope_id}`;
  return `${role} everywhere`;
}

export interface GrantEditor {
  element: HTMLElement;
  /** The grants as entered, or the text of the first incomplete one. */
  value(): RoleGrant[] | string;
}

/**
 * Role grants as rows of selects: role, scope (everywhere, a pool, a
 * computer) and the pool or computer picked from the inventory lists.
 * `name="roles"` on the fieldset lets a 422 about roles show beside it.
 */
export function grantEditor(initial: RoleGrant[], roles: Role[], pools: Pool[], computers: Computer[]): GrantEditor {
  const rows = h('div', { class: 'grant-rows' });
  const id = `grants-${++grantSeq}`;
  const add = h('button', { type: 'button' }, 'Add role');
  const fieldset = h(
    'fieldset',
    { class: 'grants', id, name: 'roles', tabindex: '-1' },
    h('legend', {}, 'Roles'),
    rows,
    h('div', {}, add),
    h('span', { id: `${id}-error`, class: 'field-error', hidden: true }),
  );
  const entries: { row: HTMLElement; role: HTMLSelectElement; scope: HTMLSelectElement; target: HTMLSelectElement }[] = [];

  const addRow = (g: RoleGrant | null) => {
    const n = ++grantSeq;
    const role = h(
      'select',
      { id: `g-role-${n}` },
      roles.map((r) => h('option', { value: r.id }, r.builtin ? r.name : `${r.name} (custom)`)),
    );
    const scope = h(
      'select',
      { id: `g-scope-${n}` },
      h('option', { value: '' }, 'Everywhere'),
      h('option', { value: 'pool' }, 'One computer pool'),
      h('option', { value: 'computer' }, 'One cloud computer'),
    );
    const target = h('select', { id: `g-target-${n}` });
    const targetLabel = h('label', { for: `g-target-${n}` }, 'Pool or computer');
    const fill = () => {
      const list =
        scope.value === 'pool'
          ? pools.map((p) => h('option', { value: p.id }, `${p.name || p.id} (${p.id})`))
          : scope.value === 'computer'
            ? computers.map((c) => h('option', { value: c.id }, `${c.name || c.id} (${c.id})`))
            : [];
      clear(target, list);
      target.disabled = scope.value === '';
      targetLabel.textContent = scope.value === 'pool' ? 'Pool' : scope.value === 'computer' ? 'Computer' : 'Pool or computer';
    };
    scope.addEventListener('change', fill);
    if (g) {
      if (!roles.some((r) => r.id === g.role_id)) role.append(h('option', { value: g.role_id }, g.role_id));
      role.value = g.role_id;
      scope.value = g.scope_type ?? '';
    } else {
      role.value = roles.find((r) => r.id === 'auditor')?.id ?? roles[0]?.id ?? '';
    }
    fill();
    if (g?.scope_id) {
      if (![...target.options].some((o) => o.value === g.scope_id)) target.append(h('option', { value: g.scope_id }, g.scope_id));
      target.value = g.scope_id;
    }
    const remove = h('button', { type: 'button', class: 'link' }, 'Remove');
    const row = h(
      'div',
      { class: 'grant-row', role: 'group', 'aria-label': `Role ${entries.length + 1}` },
      h('div', { class: 'field' }, h('label', { for: role.id }, 'Role'), role),
      h('div', { class: 'field' }, h('label', { for: scope.id }, 'Scope'), scope),
      h('div', { class: 'field' }, targetLabel, target),
      h('div', { class: 'field buttons' }, remove),
    );
    const entry = { row, role, scope, target };
    remove.addEventListener('click', () => {
      const i = entries.indexOf(entry);
      entries.splice(i, 1);
      row.remove();
      (entries[Math.min(i, entries.length - 1)]?.role ?? add).focus();
    });
    entries.push(entry);
    rows.append(row);
    return entry;
  };
  add.addEventListener('click', () => addRow(null).role.focus());
  for (const g of initial) addRow(g);

  return {
    element: fieldset,
    value() {
      const out: RoleGrant[] = [];
      for (const [i, e] of entries.entries()) {
        if (!e.role.value) return `Pick the role of row ${i + 1}.`;
        if (e.scope.value && !e.target.value)
          return `Pick the ${e.scope.value === 'pool' ? 'pool' : 'computer'} of role ${i + 1} (the list is empty: create one first, or choose "Everywhere").`;
        out.push(
          e.scope.value
            ? { role_id: e.role.value, scope_type: e.scope.value as 'pool' | 'computer', scope_id: e.target.value }
            : { role_id: e.role.value },
        );
      }
      return out;
    },
  };
}

/** Every computer (for scope pickers): a few pages of 500 at most. */
export async function loadAllComputers(list: (p: { limit: number; next_token?: string }) => Promise<{ items: Computer[]; next_token?: string }>): Promise<Computer[]> {
  const out: Computer[] = [];
  let token: string | undefined;
  for (let i = 0; i < 10; i++) {
    const page = await list({ limit: 500, next_token: token });
    out.push(...page.items);
    token = page.next_token;
    if (!token) break;
  }
  return out;
}
