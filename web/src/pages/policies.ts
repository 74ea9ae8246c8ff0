import { api, Assignment, can, Computer, Policy, Pool, RecordingRule, Trigger } from '../api';
import { Column, errorBox, loading, pager, table } from '../components';
import { clear, formatBytes, h } from '../dom';
import { href, navigate, Route } from '../router';
import {
  DEFAULT_RECORDING,
  FPS_CHOICES,
  IDLE_MAX_SECONDS,
  IDLE_MIN_SECONDS,
  MAX_TRIGGERS,
  NAME_MAX_BYTES,
  POST_EVENT_MAX_MINUTES,
  POST_EVENT_MIN_MINUTES,
  PRE_EVENT_MAX_SECONDS,
  PRE_EVENT_MIN_SECONDS,
  RECORDING_MODES,
  RETENTION_MAX_DAYS,
  RETENTION_MIN_DAYS,
  SEGMENT_MAX_BYTES,
  SEGMENT_MIN_BYTES,
  SEGMENT_MINUTES_CHOICES,
  TRIGGER_KINDS,
  TRIGGER_PATTERN_MAX_BYTES,
  TriggerKind,
} from '../generated/policy_schema';
import { loadPools } from './computers';

const MIB = 1024 * 1024;
/** MiB with at most 4 decimals: 96 KiB -> "0.0938", 32 MiB -> "32". */
const mibText = (bytes: number) => String(Number((bytes / MIB).toFixed(4)));
const modeText: Record<string, string> = {
  off: 'Off',
  session: 'Whole session',
  period: 'Daily time window',
  events: 'While a trigger runs',
};

/** Triggers as the form shows them: one `kind=pattern` a line. */
export function triggersText(triggers: readonly Trigger[]): string {
  return triggers.map((t) => Object.entries(t).map(([k, v]) => `${k}=${v}`)[0] ?? '').join('\n');
}

/** Reads the triggers text back; a string is the error of the first bad line. */
export function parseTriggers(text: string): Trigger[] | string {
  const out: Trigger[] = [];
  const lines = text.split('\n').map((l) => l.trim());
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (!line) continue;
    const eq = line.indexOf('=');
    const kind = (eq < 0 ? '' : line.slice(0, eq).trim()) as TriggerKind;
    const pattern = eq < 0 ? '' : line.slice(eq + 1).trim();
    if (!(TRIGGER_KINDS as readonly string[]).includes(kind))
      return `Trigger line ${i + 1}: write ${TRIGGER_KINDS.map((k) => `${k}=PATTERN`).join(', ')}.`;
    if (!pattern) return `Trigger line ${i + 1}: the pattern is empty.`;
    if (new TextEncoder().encode(pattern).length > TRIGGER_PATTERN_MAX_BYTES)
      return `Trigger line ${i + 1}: the pattern is longer than ${TRIGGER_PATTERN_MAX_BYTES} bytes.`;
    if (/\\$/.test(pattern.replace(/\\\\/g, '')))
      return `Trigger line ${i + 1}: the pattern ends in a lone \\ (write \\\\ for a backslash).`;
    out.push({ [kind]: pattern });
  }
  if (out.length > MAX_TRIGGERS) return `At most ${MAX_TRIGGERS} triggers.`;
  return out;
}

// The server's defaults, except that a policy made in this form records
// whole sessions: one is created to record (the API's default is "off").
export const DEFAULT_RULE: RecordingRule = { ...DEFAULT_RECORDING, mode: 'session' };

function describe(r: RecordingRule): string {
  if (r.mode === 'off') return 'Off';
  if (r.mode === 'period') return `Daily ${r.period_start}–${r.period_end}`;
  if (r.mode === 'events') return `While a trigger runs (${r.triggers.length})`;
  return modeText[r.mode] ?? r.mode;
}

export async function renderPolicies(main: HTMLElement, route: Route): Promise<void> {
  const token = route.params.get('next_token') ?? '';
  const body = h('div', {}, loading());
  clear(
    main,
    h('h1', { tabindex: '-1' }, 'Policies'),
    can('policy:write') ? h('p', {}, h('a', { href: href(['policies', 'new']), class: 'button primary' }, 'New policy')) : null,
    body,
  );
  try {
    const page = await api.policies({ limit: 50, next_token: token });
    const cols: Column<Policy>[] = [
      { title: 'Name', cell: (p) => h('a', { href: href(['policies', p.id]) }, p.name || p.id) },
      { title: 'ID', cell: (p) => h('code', {}, p.id) },
      { title: 'Recording', cell: (p) => describe(p.recording) },
      { title: 'Frame rate', cell: (p) => `${p.recording.fps} fps` },
      { title: 'Audio', cell: (p) => (p.recording.audio ? 'On' : 'Off') },
      { title: 'Segment', cell: (p) => `${formatBytes(p.recording.segment_max_bytes)} / ${p.recording.segment_max_minutes} min` },
      { title: 'Retention', cell: (p) => `${p.recording.retention_days} days` },
      { title: 'User notice', cell: (p) => (p.recording.user_notice ? 'On' : 'Off') },
    ];
    clear(
      body,
      table('Policies', cols, page.items, 'No policies yet: create one to start recording.'),
      pager(page.next_token ? href(['policies'], { next_token: page.next_token }) : null, token ? href(['policies']) : null),
    );
  } catch (e) {
    clear(body, errorBox(e));
  }
}

/** Reads and checks the form; returns the error text of the first bad field. */
function readRule(form: HTMLFormElement): RecordingRule | string {
  const v = (n: string) => (form.elements.namedItem(n) as HTMLInputElement).value;
  const c = (n: string) => (form.elements.namedItem(n) as HTMLInputElement).checked;
  const mode = v('mode') as RecordingRule['mode'];
  const sizeInput = form.elements.namedItem('segment_mib') as HTMLInputElement;
  const sizeMiB = Number(sizeInput.value);
  // An untouched field keeps the exact byte count it was shown from.
  const sizeBytes =
    sizeInput.value === sizeInput.dataset.shown ? Number(sizeInput.dataset.bytes) : Math.round(sizeMiB * MIB);
  const retention = Number(v('retention_days'));
  const idle = Number(v('idle_seconds'));
  const post = Number(v('post_event_minutes'));
  const pre = Number(v('pre_event_seconds'));
  const triggers = parseTriggers(v('triggers'));
  const hhmm = /^([01]\d|2[0-3]):[0-5]\d$/;
  if (mode === 'period' && (!hhmm.test(v('period_start')) || !hhmm.test(v('period_end'))))
    return 'Give the start and end of the daily time window as HH:MM.';
  if (mode === 'period' && v('period_start') === v('period_end'))
    return 'The daily time window must not start and end at the same time.';
  if (!Number.isFinite(sizeMiB) || sizeBytes < SEGMENT_MIN_BYTES || sizeBytes > SEGMENT_MAX_BYTES)
    return `Segment size must be from ${mibText(SEGMENT_MIN_BYTES)} MiB (${SEGMENT_MIN_BYTES / 1024} KiB) to ${mibText(SEGMENT_MAX_BYTES)} MiB.`;
  if (!Number.isInteger(retention) || retention < RETENTION_MIN_DAYS || retention > RETENTION_MAX_DAYS)
    return `Retention must be from ${RETENTION_MIN_DAYS} to ${RETENTION_MAX_DAYS} days.`;
  if (!Number.isInteger(idle) || idle < IDLE_MIN_SECONDS || idle > IDLE_MAX_SECONDS)
    return `Idle time must be from ${IDLE_MIN_SECONDS} to ${IDLE_MAX_SECONDS} seconds.`;
  if (typeof triggers === 'string') return triggers;
  if (mode === 'events' && triggers.length === 0) return 'Name at least one trigger for recording while a trigger runs.';
  if (mode === 'events' && c('audio')) return 'Audio is not recorded while a trigger runs: turn Record audio off.';
  if (!Number.isInteger(post) || post < POST_EVENT_MIN_MINUTES || post > POST_EVENT_MAX_MINUTES)
    return `Recording after the last trigger must be from ${POST_EVENT_MIN_MINUTES} to ${POST_EVENT_MAX_MINUTES} minutes.`;
  if (!Number.isInteger(pre) || pre < PRE_EVENT_MIN_SECONDS || pre > PRE_EVENT_MAX_SECONDS)
    return `Recording before a trigger must be from ${PRE_EVENT_MIN_SECONDS} to ${PRE_EVENT_MAX_SECONDS} seconds.`;
  if (c('user_notice') && !v('user_notice_message').trim()) return 'Write the message the user sees when recording starts.';
  return {
    mode,
    period_start: v('period_start'),
    period_end: v('period_end'),
    fps: Number(v('fps')),
    audio: c('audio'),
    segment_max_bytes: sizeBytes,
    segment_max_minutes: Number(v('segment_max_minutes')),
    retention_days: retention,
    user_notice: c('user_notice'),
    user_notice_message: v('user_notice_message'),
    idle_seconds: idle,
    triggers,
    post_event_minutes: post,
    pre_event_seconds: pre,
  };
}

function policyForm(p: { name: string; recording: RecordingRule }): HTMLFormElement {
  const r = p.recording;
  const field = (id: string, label: string, input: HTMLElement, hint?: string) =>
    h(
      'div',
      { class: 'field' },
      h('label', { for: id }, label),
      input,
      hint ? h('small', { id: `${id}-hint`, class: 'muted' }, hint) : null,
    );
  const options = (values: (string | number)[], current: string | number, text: (v: string | number) => string) =>
    values.map((x) => h('option', { value: String(x), selected: String(x) === String(current) }, text(x)));

  const mode = h('select', { id: 'p-mode', name: 'mode' }, options([...RECORDING_MODES], r.mode, (m) => modeText[m]));
  const start = h('input', { id: 'p-start', name: 'period_start', type: 'time', value: r.period_start });
  const end = h('input', { id: 'p-end', name: 'period_end', type: 'time', value: r.period_end });
  const window = h('fieldset', { class: 'window' }, h('legend', {}, 'Daily time window'), field('p-start', 'Start time', start), field('p-end', 'End time', end));
  const notice = h('input', { id: 'p-notice', name: 'user_notice', type: 'checkbox', checked: r.user_notice });
  const message = h('textarea', { id: 'p-message', name: 'user_notice_message', rows: 3 }, r.user_notice_message);
  const events = h(
    'fieldset',
    { class: 'window' },
    h('legend', {}, 'Event-triggered recording'),
    field(
      'p-triggers',
      'Triggers',
      h('textarea', { id: 'p-triggers', name: 'triggers', rows: 4, 'aria-describedby': 'p-triggers-hint', spellcheck: 'false' }, triggersText(r.triggers ?? [])),
      'One a line: process=PATTERN (a running program), app=PATTERN (the active window’s class) or window_title=PATTERN. ' +
        'In a pattern * matches any text, ? one character, \\ makes the next one literal; letters match in either case; the whole name or title must match (*payroll* for a title containing “payroll”).',
    ),
    field(
      'p-post',
      'Keep recording after the last trigger (minutes)',
      h('input', { id: 'p-post', name: 'post_event_minutes', type: 'number', min: POST_EVENT_MIN_MINUTES, max: POST_EVENT_MAX_MINUTES, step: 1, value: r.post_event_minutes, 'aria-describedby': 'p-post-hint' }),
      `${POST_EVENT_MIN_MINUTES} to ${POST_EVENT_MAX_MINUTES} minutes.`,
    ),
    field(
      'p-pre',
      'Include before the trigger (seconds)',
      h('input', { id: 'p-pre', name: 'pre_event_seconds', type: 'number', min: PRE_EVENT_MIN_SECONDS, max: PRE_EVENT_MAX_SECONDS, step: 1, value: r.pre_event_seconds, 'aria-describedby': 'p-pre-hint' }),
      `${PRE_EVENT_MIN_SECONDS} to ${PRE_EVENT_MAX_SECONDS} seconds of video kept in memory on the computer (never uploaded unless a trigger runs).`,
    ),
  );
  const sync = () => {
    window.disabled = mode.value !== 'period';
    events.disabled = mode.value !== 'events';
    message.disabled = !notice.checked;
  };
  mode.addEventListener('change', sync);
  notice.addEventListener('change', sync);

  const form = h(
    'form',
    { class: 'policy-form', novalidate: true },
    field('p-name', 'Name', h('input', { id: 'p-name', name: 'name', value: p.name, required: true, maxlength: NAME_MAX_BYTES })),
    field('p-mode', 'Recording', mode),
    window,
    events,
    field('p-fps', 'Frame rate', h('select', { id: 'p-fps', name: 'fps' }, options([...FPS_CHOICES], r.fps, (x) => `${x} frames a second`))),
    h('div', { class: 'field check' }, h('input', { id: 'p-audio', name: 'audio', type: 'checkbox', checked: r.audio }), h('label', { for: 'p-audio' }, 'Record audio')),
    field(
      'p-size',
      'Segment size (MiB)',
      h('input', { id: 'p-size', name: 'segment_mib', type: 'number', min: SEGMENT_MIN_BYTES / MIB, max: SEGMENT_MAX_BYTES / MIB, step: 'any', value: mibText(r.segment_max_bytes), 'data-shown': mibText(r.segment_max_bytes), 'data-bytes': r.segment_max_bytes, 'aria-describedby': 'p-size-hint' }),
      `A segment file is closed and uploaded at this size (${SEGMENT_MIN_BYTES / 1024} KiB to ${mibText(SEGMENT_MAX_BYTES)} MiB).`,
    ),
    field(
      'p-minutes',
      'Segment length (minutes)',
      h('select', { id: 'p-minutes', name: 'segment_max_minutes' }, options([...SEGMENT_MINUTES_CHOICES], r.segment_max_minutes, (x) => `${x} minutes`)),
    ),
    field(
      'p-retention',
      'Retention (days)',
      h('input', { id: 'p-retention', name: 'retention_days', type: 'number', min: RETENTION_MIN_DAYS, max: RETENTION_MAX_DAYS, step: 1, value: r.retention_days, 'aria-describedby': 'p-retention-hint' }),
      'Recordings are deleted this many days after they end.',
    ),
    field(
      'p-idle',
      'Idle after (seconds)',
      h('input', { id: 'p-idle', name: 'idle_seconds', type: 'number', min: IDLE_MIN_SECONDS, max: IDLE_MAX_SECONDS, step: 1, value: r.idle_seconds ?? 30, 'aria-describedby': 'p-idle-hint' }),
      `The timeline marks the session idle after this long without input or screen change (${IDLE_MIN_SECONDS} to ${IDLE_MAX_SECONDS} seconds).`,
    ),
    h('div', { class: 'field check' }, notice, h('label', { for: 'p-notice' }, 'Show a notice to the user when recording starts')),
    field('p-message', 'Notice message', message),
  );
  sync();
  return form;
}

export async function renderPolicyEditor(main: HTMLElement, id: string | null): Promise<void> {
  const isNew = id === null;
  const body = h('div', {}, loading());
  clear(
    main,
    h('p', { class: 'crumbs' }, h('a', { href: href(['policies']) }, 'Policies'), ' / ', isNew ? 'New policy' : id),
    h('h1', { tabindex: '-1' }, isNew ? 'New policy' : 'Edit policy'),
    body,
  );
  let policy: Policy | null = null;
  try {
    if (!isNew) policy = await api.policy(id);
  } catch (e) {
    clear(body, errorBox(e));
    return;
  }
  const form = policyForm(policy ?? { name: '', recording: { ...DEFAULT_RULE } });
  const msg = h('div', { class: 'form-msg', 'aria-live': 'polite' });
  const save = h('button', { type: 'submit', class: 'primary' }, isNew ? 'Create policy' : 'Save policy');
  form.append(msg, h('div', { class: 'buttons' }, save));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const name = (form.elements.namedItem('name') as HTMLInputElement).value.trim();
    const rule = readRule(form);
    if (!name) {
      clear(msg, errorBox('Give the policy a name.'));
      return;
    }
    if (typeof rule === 'string') {
      clear(msg, errorBox(rule));
      return;
    }
    save.disabled = true;
    try {
      if (isNew) {
        const created = await api.createPolicy({ name, recording: rule });
        navigate(href(['policies', created.id], { saved: '1' }));
      } else {
        await api.updatePolicy(id, { name, recording: rule });
        clear(msg, h('p', { class: 'success', role: 'status' }, 'Policy saved.'));
      }
    } catch (e) {
      clear(msg, errorBox(e));
    } finally {
      save.disabled = false;
    }
  });
  clear(body, form);
  if (policy) {
    if (location.hash.includes('saved=1')) clear(msg, h('p', { class: 'success', role: 'status' }, 'Policy created.'));
    body.append(await assignmentsSection(policy));
    const del = h('button', { type: 'button', class: 'danger' }, 'Delete policy');
    const delMsg = h('div', { 'aria-live': 'polite' });
    del.addEventListener('click', async () => {
      if (!confirm(`Delete policy “${policy!.name}”? Existing recordings keep their own retention.`)) return;
      try {
        await api.deletePolicy(policy!.id);
        navigate(href(['policies']));
      } catch (e) {
        clear(delMsg, errorBox(e));
      }
    });
    body.append(h('section', { class: 'danger-zone' }, h('h2', {}, 'Delete'), del, delMsg));
  }
}

async function assignmentsSection(policy: Policy): Promise<HTMLElement> {
  const section = h('section', { 'aria-labelledby': 'assign-title' }, h('h2', { id: 'assign-title' }, 'Assigned to'));
  const list = h('div', {});
  const msg = h('div', { 'aria-live': 'polite' });
  let pools = new Map<string, Pool>();
  let computers: Computer[] = [];
  try {
    [pools, computers] = await Promise.all([loadPools(), api.computers({ limit: 500 }).then((p) => p.items)]);
  } catch (e) {
    msg.append(errorBox(e));
  }
  const nameOf = (a: Assignment) =>
    a.target_type === 'pool' ? pools.get(a.target_id)?.name : computers.find((c) => c.id === a.target_id)?.name;
  let assignments = [...(policy.assignments ?? [])];

  const draw = () => {
    clear(
      list,
      table<Assignment>(
        'Assignments',
        [
          { title: 'Type', cell: (a) => (a.target_type === 'pool' ? 'Computer pool' : 'Cloud computer') },
          { title: 'Target', cell: (a) => h('span', {}, nameOf(a) ?? '', ' ', h('code', {}, a.target_id)) },
          {
            title: 'Actions',
            cell: (a) => {
              const b = h('button', { type: 'button', 'aria-label': `Remove ${a.target_id}` }, 'Remove');
              b.addEventListener('click', async () => {
                try {
                  await api.unassign(policy.id, a);
                  assignments = assignments.filter((x) => !(x.target_type === a.target_type && x.target_id === a.target_id));
                  draw();
                  clear(msg, h('p', { class: 'success', role: 'status' }, `Removed ${a.target_id}.`));
                } catch (e) {
                  clear(msg, errorBox(e));
                }
              });
              return b;
            },
          },
        ],
        assignments,
        'Not assigned: this policy applies to no computer yet.',
      ),
    );
  };

  const type = h(
    'select',
    { id: 'a-type' },
    h('option', { value: 'computer' }, 'Cloud computer'),
    h('option', { value: 'pool' }, 'Computer pool'),
  );
  const target = h('select', { id: 'a-target' });
  const fillTargets = () => {
    const opts =
      type.value === 'pool'
        ? [...pools.values()].map((p) => h('option', { value: p.id }, `${p.name || p.id} (${p.id})`))
        : computers.map((c) => h('option', { value: c.id }, `${c.name || c.id} (${c.id})`));
    clear(target, opts.length ? opts : h('option', { value: '' }, 'Nothing to assign'));
  };
  type.addEventListener('change', fillTargets);
  fillTargets();
  const add = h('button', { type: 'submit' }, 'Assign');
  const form = h(
    'form',
    { class: 'filters', 'aria-label': 'Assign policy' },
    h('div', { class: 'field' }, h('label', { for: 'a-type' }, 'Assign to'), type),
    h('div', { class: 'field' }, h('label', { for: 'a-target' }, 'Target'), target),
    h('div', { class: 'field buttons' }, add),
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!target.value) return;
    const a: Assignment = { target_type: type.value as Assignment['target_type'], target_id: target.value };
    try {
      await api.assign(policy.id, a);
      if (!assignments.some((x) => x.target_type === a.target_type && x.target_id === a.target_id)) assignments.push(a);
      draw();
      clear(msg, h('p', { class: 'success', role: 'status' }, `Assigned to ${a.target_id}.`));
    } catch (e) {
      clear(msg, errorBox(e));
    }
  });
  draw();
  section.append(list, form, msg);
  return section;
}
