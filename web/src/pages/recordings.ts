import { api, can, Policy, Pool, Recording } from '../api';
import { Column, errorBox, loading, pager, table } from '../components';
import { clear, formatBytes, formatDuration, formatTime, fromLocalInput, h, toLocalInput } from '../dom';
import { href, navigate, Route } from '../router';
import { loadPools } from './computers';

/** URL parameters of the list = the API's filter names, so a shared link
 *  reproduces the same query. */
export const FILTERS = ['computer_id', 'username', 'app', 'window_title', 'start_time', 'end_time', 'pool_id', 'policy_id', 'status'] as const;

/** "Play back" and "Download" of a recording; disabled, with the reason as
 *  their description, when the administrator lacks the permission. A
 *  `startMs` (a search hit) opens the player at that media time. */
export function playBackButton(id: string, startMs?: number): HTMLElement {
  const t = startMs !== undefined && Number.isFinite(startMs) && startMs > 0 ? (startMs / 1000).toFixed(3).replace(/\.?0+$/, '') : undefined;
  return can('recording:play')
    ? linkButton('Play back', href(['recordings', id], { t }), { class: 'button primary' })
    : h('button', { type: 'button', class: 'primary', disabled: true, title: 'You are not permitted to play recordings (recording:play)' }, 'Play back');
}
export function downloadButton(id: string): HTMLElement {
  return can('recording:download')
    ? linkButton('Download', api.downloadUrl(id), { download: true })
    : h('button', { type: 'button', disabled: true, title: 'You are not permitted to download recordings (recording:download)' }, 'Download');
}

/** The evidence package, for someone who must check the recording without
 *  trusting this server (`deskaudit verify`); same permission as a download. */
export function evidenceButton(id: string): HTMLElement {
  return can('recording:download')
    ? linkButton('Download evidence package', api.evidenceUrl(id), { download: true })
    : h('button', { type: 'button', disabled: true, title: 'You are not permitted to download recordings (recording:download)' }, 'Download evidence package');
}

/** A link styled and announced as a button that also answers Space. */
export function linkButton(label: string, url: string, extra: Record<string, string | boolean> = {}): HTMLAnchorElement {
  const a = h('a', { href: url, role: 'button', class: 'button', ...extra }, label);
  a.addEventListener('keydown', (ev) => {
    if (ev.key === ' ') {
      ev.preventDefault();
      a.click();
    }
  });
  return a;
}

export function recordingDurationMs(r: Recording): number | undefined {
  if (r.duration_ms !== undefined) return r.duration_ms;
  if (r.end_time) return new Date(r.end_time).getTime() - new Date(r.start_time).getTime();
  return undefined;
}

const statusText: Record<string, string> = { recording: 'Recording', complete: 'Complete', interrupted: 'Interrupted' };

async function loadPolicies(): Promise<Policy[]> {
  const page = await api.policies({ limit: 500 });
  return page.items;
}

export async function renderRecordings(main: HTMLElement, route: Route): Promise<void> {
  const f: Record<string, string> = {};
  for (const k of FILTERS) f[k] = route.params.get(k) ?? '';
  const token = route.params.get('next_token') ?? '';
  // Page size from the URL (a shared link keeps it); the API allows 1..500.
  const limitParam = Number(route.params.get('limit') ?? '');
  const limit = Number.isInteger(limitParam) && limitParam >= 1 && limitParam <= 500 ? limitParam : 50;
  const limitText = limit === 50 ? '' : String(limit);

  const computerId = h('input', { id: 'f-computer', name: 'computer_id', value: f.computer_id, placeholder: 'cc-…' });
  const username = h('input', { id: 'f-user', name: 'username', value: f.username });
  // Activity: recordings with an event of this application (WM_CLASS or
  // process) / window title (substrings, any case).
  const app = h('input', { id: 'f-app', name: 'app', value: f.app });
  const windowTitle = h('input', { id: 'f-title', name: 'window_title', value: f.window_title });
  const from = h('input', { id: 'f-from', name: 'start_time', type: 'datetime-local', value: toLocalInput(f.start_time) });
  const to = h('input', { id: 'f-to', name: 'end_time', type: 'datetime-local', value: toLocalInput(f.end_time) });
  const pool = h('select', { id: 'f-pool', name: 'pool_id' }, h('option', { value: '' }, 'All pools'));
  const policy = h('select', { id: 'f-policy', name: 'policy_id' }, h('option', { value: '' }, 'All policies'));
  const status = h(
    'select',
    { id: 'f-status', name: 'status' },
    h('option', { value: '' }, 'Any status'),
    Object.entries(statusText).map(([v, t]) => h('option', { value: v }, t)),
  );
  status.value = f.status;
  const field = (id: string, label: string, input: HTMLElement) =>
    h('div', { class: 'field' }, h('label', { for: id }, label), input);
  const form = h(
    'form',
    { class: 'filters', role: 'search', 'aria-label': 'Filter recordings' },
    field('f-computer', 'Computer ID', computerId),
    field('f-user', 'User name', username),
    field('f-app', 'Application', app),
    field('f-title', 'Window title', windowTitle),
    field('f-from', 'From', from),
    field('f-to', 'To', to),
    field('f-pool', 'Pool', pool),
    field('f-policy', 'Policy', policy),
    field('f-status', 'Status', status),
    h(
      'div',
      { class: 'field buttons' },
      h('button', { type: 'submit', class: 'primary' }, 'Search'),
      h('a', { href: href(['recordings']), class: 'button' }, 'Clear filters'),
    ),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const fromIso = fromLocalInput(from.value);
    const toIso = fromLocalInput(to.value);
    // Keep the exact instant of a shared link when the input still shows it.
    const keep = (orig: string, iso: string, input: HTMLInputElement) =>
      orig && toLocalInput(orig) === input.value ? orig : iso;
    navigate(
      href(['recordings'], {
        computer_id: computerId.value.trim(),
        username: username.value.trim(),
        app: app.value.trim(),
        window_title: windowTitle.value.trim(),
        start_time: keep(f.start_time, fromIso, from),
        end_time: keep(f.end_time, toIso, to),
        pool_id: pool.value,
        policy_id: policy.value,
        status: status.value,
        limit: limitText,
      }),
    );
  });

  const active = FILTERS.filter((k) => f[k]);
  const title = f.computer_id && active.length === 1 ? `Screen recordings of ${f.computer_id}` : 'Screen recordings';
  const body = h('div', {}, loading());
  clear(main, h('h1', { tabindex: '-1' }, title), form, body);

  // Filter choices load beside the list; a failure leaves the plain select.
  void loadPools()
    .then((pools: Map<string, Pool>) => {
      for (const p of pools.values()) pool.append(h('option', { value: p.id }, p.name || p.id));
      pool.value = f.pool_id;
    })
    .catch(() => {});
  void loadPolicies()
    .then((ps) => {
      for (const p of ps) policy.append(h('option', { value: p.id }, p.name || p.id));
      policy.value = f.policy_id;
    })
    .catch(() => {});
  if (f.pool_id) pool.append(h('option', { value: f.pool_id }, f.pool_id));
  pool.value = f.pool_id;
  if (f.policy_id) policy.append(h('option', { value: f.policy_id }, f.policy_id));
  policy.value = f.policy_id;

  try {
    const page = await api.recordings({ ...f, limit, next_token: token || undefined });
    const byActivity = Boolean(f.app || f.window_title);
    const cols: Column<Recording>[] = [
      {
        title: 'Computer',
        cell: (r) => h('span', {}, r.computer_name || r.computer_id, h('br'), h('code', { class: 'small' }, r.computer_id)),
      },
      { title: 'User', cell: (r) => r.username || '—' },
      { title: 'Start', cell: (r) => formatTime(r.start_time) },
      { title: 'End', cell: (r) => (r.end_time ? formatTime(r.end_time) : '—') },
      { title: 'Duration', cell: (r) => formatDuration(recordingDurationMs(r)) },
      { title: 'Size', cell: (r) => formatBytes(r.size_bytes) },
      { title: 'Segments', cell: (r) => String(r.segment_count) },
      { title: 'Status', cell: (r) => h('span', { class: `badge st-${r.status}` }, statusText[r.status] ?? r.status) },
      ...(byActivity
        ? [{ title: 'First match', className: 'nowrap first-match', cell: (r: Recording) => (r.first_match_ms !== undefined ? formatDuration(r.first_match_ms) : '—') }]
        : []),
      {
        title: 'Actions',
        className: 'actions',
        cell: (r) =>
          h(
            'span',
            { class: 'row-actions', 'data-recording-id': r.id },
            playBackButton(r.id, byActivity ? r.first_match_ms : undefined),
            ' ',
            downloadButton(r.id),
          ),
      },
    ];
    const params: Record<string, string> = { ...Object.fromEntries(FILTERS.map((k) => [k, f[k]])), limit: limitText };
    clear(
      body,
      h('p', { class: 'muted', role: 'status' }, `${page.items.length}${page.next_token ? '+' : ''} recording${page.items.length === 1 ? '' : 's'}, newest first`),
      !can('recording:play') || !can('recording:download')
        ? h(
            'p',
            { class: 'notice', id: 'perm-note' },
            `Your role does not allow ${[!can('recording:play') && 'playing', !can('recording:download') && 'downloading'].filter(Boolean).join(' or ')} recordings: those buttons are disabled.`,
          )
        : null,
      table('Screen recordings', cols, page.items, active.length ? 'No recording matches these filters.' : 'No recordings yet.'),
      pager(
        page.next_token ? href(['recordings'], { ...params, next_token: page.next_token }) : null,
        token ? href(['recordings'], params) : null,
      ),
    );
  } catch (e) {
    clear(body, errorBox(e));
  }
}
