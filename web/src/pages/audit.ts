// The audit log: every administrative action and sign-in, newest first,
// filtered by actor, action, target and time (all in the URL), each entry
// expandable to its details; "Verify chain" checks the hash chain.
import { api, AuditEntry } from '../api';
import { errorBox, loading, pager } from '../components';
import { clear, formatTime, fromLocalInput, h, toLocalInput } from '../dom';
import { href, navigate, Route } from '../router';

const FILTERS = ['actor', 'action', 'target', 'start_time', 'end_time'] as const;

export async function renderAuditLog(main: HTMLElement, route: Route): Promise<void> {
  const f: Record<string, string> = {};
  for (const k of FILTERS) f[k] = route.params.get(k) ?? '';
  const token = route.params.get('next_token') ?? '';
  const limitParam = Number(route.params.get('limit') ?? '');
  const limit = Number.isInteger(limitParam) && limitParam >= 1 && limitParam <= 500 ? limitParam : 50;
  const limitText = limit === 50 ? '' : String(limit);

  const actor = h('input', { id: 'al-actor', name: 'actor', value: f.actor, placeholder: 'user name' });
  const action = h('input', { id: 'al-action', name: 'action', value: f.action, placeholder: 'user.create or user.', 'aria-describedby': 'al-action-hint' });
  const target = h('input', { id: 'al-target', name: 'target', value: f.target, placeholder: 'ID' });
  const from = h('input', { id: 'al-from', name: 'start_time', type: 'datetime-local', value: toLocalInput(f.start_time) });
  const to = h('input', { id: 'al-to', name: 'end_time', type: 'datetime-local', value: toLocalInput(f.end_time) });
  const field = (id: string, label: string, input: HTMLElement) => h('div', { class: 'field' }, h('label', { for: id }, label), input);
  const form = h(
    'form',
    { class: 'filters', role: 'search', 'aria-label': 'Filter the audit log' },
    field('al-actor', 'Actor', actor),
    field('al-action', 'Action', action),
    field('al-target', 'Target', target),
    field('al-from', 'From', from),
    field('al-to', 'To', to),
    h(
      'div',
      { class: 'field buttons' },
      h('button', { type: 'submit', class: 'primary' }, 'Search'),
      h('a', { href: href(['audit-log']), class: 'button' }, 'Clear filters'),
    ),
    h('small', { id: 'al-action-hint', class: 'muted', style: 'flex-basis: 100%' }, 'Filters match exactly; an action ending in "." matches a family, e.g. "auth." or "user.".'),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    // Keep the exact instant of a shared link when the input still shows it.
    const keep = (orig: string, input: HTMLInputElement) =>
      orig && toLocalInput(orig) === input.value ? orig : fromLocalInput(input.value);
    navigate(
      href(['audit-log'], {
        actor: actor.value.trim(),
        action: action.value.trim(),
        target: target.value.trim(),
        start_time: keep(f.start_time, from),
        end_time: keep(f.end_time, to),
        limit: limitText,
      }),
    );
  });

  const verifyButton = h('button', { type: 'button' }, 'Verify chain');
  const verifyResult = h('p', { class: 'summary', role: 'status' });
  verifyButton.addEventListener('click', async () => {
    verifyButton.disabled = true;
    verifyResult.className = 'summary muted';
    verifyResult.textContent = 'Verifying the hash chain and its signatures…';
    try {
      const v = await api.verifyAuditLog();
      verifyResult.className = `summary ${v.ok ? 'good' : 'bad'}`;
      verifyResult.textContent = v.ok
        ? `Audit log intact: ${v.entries} entries; ${v.checkpoints} signed checkpoints verified through entry ${v.signed_through_seq}` +
          (v.unsigned_entries > 0 ? ` (${v.unsigned_entries} newest entries not signed yet)` : '')
        : `Audit log broken: first bad entry ${v.first_bad_seq ?? '?'} (entries ${v.first_bad_seq ?? '?'}..${v.untrusted_through_seq ?? '?'} cannot be trusted): ${v.reason ?? 'the log does not verify'}`;
    } catch (e) {
      verifyResult.className = 'summary bad';
      verifyResult.replaceChildren(errorBox(e));
    } finally {
      verifyButton.disabled = false;
    }
  });

  const body = h('div', {}, loading());
  clear(
    main,
    h('h1', { tabindex: '-1' }, 'Audit log'),
    h('div', { class: 'verify' }, verifyButton, verifyResult),
    form,
    body,
  );

  try {
    const page = await api.auditLog({ ...f, limit, next_token: token || undefined });
    const params: Record<string, string> = { ...Object.fromEntries(FILTERS.map((k) => [k, f[k]])), limit: limitText };
    clear(
      body,
      h('p', { class: 'muted', role: 'status' }, `${page.items.length}${page.next_token ? '+' : ''} entr${page.items.length === 1 ? 'y' : 'ies'}, newest first`),
      entriesTable(page.items, FILTERS.some((k) => f[k])),
      pager(
        page.next_token ? href(['audit-log'], { ...params, next_token: page.next_token }) : null,
        token ? href(['audit-log'], params) : null,
      ),
    );
  } catch (e) {
    clear(body, errorBox(e));
  }
}

function entriesTable(items: AuditEntry[], filtered: boolean): HTMLElement {
  if (items.length === 0)
    return h('p', { class: 'empty' }, filtered ? 'No entry matches these filters.' : 'The audit log is empty.');
  const rows: HTMLElement[] = [];
  for (const e of items) {
    const detailsId = `al-d-${e.seq}`;
    const toggle = h(
      'button',
      { type: 'button', class: 'link', 'aria-expanded': 'false', 'aria-controls': detailsId, 'aria-label': `Details of entry ${e.seq}` },
      'Details',
    );
    const details = h(
      'tr',
      { id: detailsId, class: 'audit-details', hidden: true },
      h(
        'td',
        { colspan: 6 },
        h('pre', {}, JSON.stringify(e.details ?? null, null, 2)),
        h(
          'dl',
          { class: 'meta' },
          h('dt', {}, 'Time (UTC)'),
          h('dd', {}, h('code', {}, e.time)),
          h('dt', {}, 'Hash'),
          h('dd', {}, h('code', {}, e.hash)),
          h('dt', {}, 'Previous hash'),
          h('dd', {}, h('code', {}, e.prev_hash || '(first entry)')),
        ),
      ),
    );
    toggle.addEventListener('click', () => {
      const open = details.hidden;
      details.hidden = !open;
      toggle.setAttribute('aria-expanded', String(open));
    });
    rows.push(
      h(
        'tr',
        { 'data-seq': e.seq },
        h('td', {}, String(e.seq)),
        h('td', { class: 'nowrap' }, formatTime(e.time)),
        h('td', {}, e.actor),
        h('td', {}, h('code', {}, e.action)),
        h('td', {}, h('code', {}, e.target)),
        h('td', {}, toggle),
      ),
      details,
    );
  }
  return h(
    'table',
    { class: 'grid' },
    h('caption', { class: 'sr-only' }, 'Audit log entries'),
    h('thead', {}, h('tr', {}, ['#', 'Time', 'Actor', 'Action', 'Target', 'Details'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, rows),
  );
}
