import { api, Computer, Pool } from '../api';
import { actionsMenu, Column, errorBox, loading, pager, statusBadge, table } from '../components';
import { clear, formatTime, h } from '../dom';
import { href, navigate, Route } from '../router';

/** Links every computer row offers: the three-ways-in entry points. */
export function computerActions(c: Computer): HTMLElement {
  return actionsMenu(`Actions for ${c.name || c.id}`, [
    { label: 'Recording playback', href: href(['recordings'], { computer_id: c.id }) },
    { label: 'Recording status', href: href(['computers', c.id, 'status']) },
  ]);
}

export function policyInForce(c: Computer): string {
  const p = c.effective_policy;
  if (!p || p.source === 'none' || !p.policy_id) return 'None';
  const from = p.source === 'pool' ? ' (from pool)' : '';
  return `${p.policy_name || p.policy_id}${from}`;
}

export function computerColumns(pools: Map<string, Pool>, withPool = true): Column<Computer>[] {
  const cols: Column<Computer>[] = [
    { title: 'ID', cell: (c) => h('code', {}, c.id) },
    { title: 'Name', cell: (c) => c.name || c.hostname || '—', className: 'nowrap' },
  ];
  if (withPool)
    cols.push({
      title: 'Pool',
      cell: (c) =>
        c.pool_id ? h('a', { href: href(['pools', c.pool_id]) }, pools.get(c.pool_id)?.name ?? c.pool_id) : '—',
    });
  cols.push(
    { title: 'OS', cell: (c) => c.os || '—' },
    { title: 'Agent version', cell: (c) => c.agent?.version || '—' },
    {
      title: 'Agent',
      cell: (c) => {
        const b = statusBadge(Boolean(c.agent?.online), 'Online', c.enrolled === false ? 'Not enrolled' : 'Offline');
        if (c.agent?.last_seen_at) b.title = `Last seen ${formatTime(c.agent.last_seen_at)}`;
        return b;
      },
    },
    { title: 'Policy in force', cell: policyInForce },
    { title: 'Recording', cell: (c) => statusBadge(Boolean(c.recording_now), 'Recording now', 'Not recording') },
    { title: 'Actions', cell: computerActions, className: 'actions' },
  );
  return cols;
}

export async function loadPools(): Promise<Map<string, Pool>> {
  const pools = new Map<string, Pool>();
  let token: string | undefined;
  // Pools are few; a handful of pages at most.
  for (let i = 0; i < 10; i++) {
    const page = await api.pools({ limit: 500, next_token: token });
    for (const p of page.items) pools.set(p.id, p);
    token = page.next_token;
    if (!token) break;
  }
  return pools;
}

export async function renderComputers(main: HTMLElement, route: Route): Promise<void> {
  const q = route.params.get('q') ?? '';
  const poolId = route.params.get('pool_id') ?? '';
  const token = route.params.get('next_token') ?? '';
  const search = h('input', { id: 'computer-search', type: 'search', value: q, placeholder: 'ID or name' });
  const form = h(
    'form',
    { class: 'filters', role: 'search', 'aria-label': 'Search computers' },
    h('div', { class: 'field' }, h('label', { for: 'computer-search' }, 'Search computers'), search),
    h('div', { class: 'field buttons' }, h('button', { type: 'submit' }, 'Search')),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    navigate(href(['computers'], { q: search.value.trim(), pool_id: poolId }));
  });
  const body = h('div', {}, loading());
  clear(main, h('h1', { tabindex: '-1' }, 'Cloud computers'), form, body);
  try {
    const [page, pools] = await Promise.all([
      api.computers({ q, pool_id: poolId, next_token: token, limit: 50 }),
      loadPools().catch(() => new Map<string, Pool>()),
    ]);
    clear(
      body,
      table('Cloud computers', computerColumns(pools), page.items, q ? `No computer matches “${q}”.` : 'No cloud computers yet.'),
      pager(
        page.next_token ? href(['computers'], { q, pool_id: poolId, next_token: page.next_token }) : null,
        token ? href(['computers'], { q, pool_id: poolId }) : null,
      ),
    );
  } catch (e) {
    clear(body, errorBox(e));
  }
}

export async function renderRecordingStatus(main: HTMLElement, id: string): Promise<void> {
  const body = h('div', {}, loading());
  const title = h('h1', { tabindex: '-1' }, `Recording status`);
  clear(main, h('p', { class: 'crumbs' }, h('a', { href: href(['computers']) }, 'Cloud computers'), ' / ', id), title, body);
  try {
    const [status, computer] = await Promise.all([api.recordingStatus(id), api.computer(id).catch(() => null)]);
    title.textContent = `Recording status of ${computer?.name || id}`;
    const failed = status.checks.filter((c) => !c.ok).length;
    clear(
      body,
      h(
        'p',
        { class: failed ? 'summary bad' : 'summary good' },
        failed ? `${failed} of ${status.checks.length} checks failed: these explain missing recordings.` : 'All checks passed: this computer is being recorded as its policy says.',
      ),
      h(
        'ul',
        { class: 'checklist', 'aria-label': 'Checks' },
        status.checks.map((c) =>
          h(
            'li',
            { class: c.ok ? 'ok' : 'fail', 'data-check': c.id },
            h('span', { class: 'mark', 'aria-hidden': 'true' }, c.ok ? '✓' : '✗'),
            h('span', { class: 'sr-only' }, c.ok ? 'Passed: ' : 'Failed: '),
            h('strong', {}, c.label),
            c.detail ? h('span', { class: 'detail' }, c.detail) : null,
          ),
        ),
      ),
      h('p', {}, h('a', { href: href(['recordings'], { computer_id: id }) }, 'Recording playback')),
    );
  } catch (e) {
    clear(body, errorBox(e));
  }
}
