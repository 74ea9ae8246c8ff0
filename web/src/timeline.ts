// The activity timeline's logic, free of the DOM (unit-tested under node):
// application bands, idle stretches, event markers, next/previous event and
// the "Skip idle" decision. Times: event times in ms on the recording's media
// clock (the video's time), player times in seconds.

/** One activity event as `GET /api/v1/recordings/{id}/events` returns it. */
export interface RecordingEvent {
  t_ms: number;
  /** ISO 8601 UTC wall time: the recording's start_time + t_ms. */
  time?: string;
  type: string;
  seq?: number;
  title?: string;
  app?: string;
  process?: string;
  pid?: number;
  width?: number;
  height?: number;
}

/** A stretch of the recording with one application in front. */
export interface Band {
  app: string;
  startMs: number;
  endMs: number;
  /** The title of the window the band starts with. */
  title?: string;
}

export interface Stretch {
  startMs: number;
  endMs: number;
}

/** Idle stretches longer than this are skipped by "Skip idle". */
export const SKIP_IDLE_MIN_MS = 30_000;

export const EVENT_TYPES: Record<string, string> = {
  window: 'Window',
  'app.start': 'App start',
  'app.exit': 'App exit',
  idle: 'Idle',
  active: 'Active',
  lock: 'Lock',
  unlock: 'Unlock',
  'session.connect': 'Connect',
  'session.disconnect': 'Disconnect',
  'recording.pause': 'Pause',
  'recording.resume': 'Resume',
  resolution: 'Resolution',
};

export function typeLabel(type: string): string {
  return EVENT_TYPES[type] ?? type;
}

/** The application an event names: its WM_CLASS, else its process name. */
export function appOf(e: RecordingEvent): string {
  return e.app || e.process || '';
}

/** Events in media-time order (stable: the server's order within one time). */
export function sortEvents(events: readonly RecordingEvent[]): RecordingEvent[] {
  return events
    .map((e, i) => [e, i] as const)
    .sort((a, b) => a[0].t_ms - b[0].t_ms || a[1] - b[1])
    .map(([e]) => e);
}

/** One band per application in front, from each `window` event to the next
 *  (the last one to `durationMs`); a title change within one application
 *  extends its band. Events must be sorted. */
export function appBands(events: readonly RecordingEvent[], durationMs: number): Band[] {
  const bands: Band[] = [];
  let open: Band | null = null;
  for (const e of events) {
    if (e.type !== 'window') continue;
    const app = appOf(e) || 'Unknown application';
    if (open && open.app === app) continue;
    if (open) {
      open.endMs = e.t_ms;
      if (open.endMs > open.startMs) bands.push(open);
    }
    open = { app, startMs: e.t_ms, endMs: e.t_ms, title: e.title };
  }
  if (open) {
    open.endMs = Math.max(open.startMs, durationMs);
    if (open.endMs > open.startMs) bands.push(open);
  }
  return bands;
}

/** Idle stretches: from each `idle` event to the next `active` (or to
 *  `durationMs` when the recording ended idle). An `idle` while already
 *  idle and an `active` while not idle change nothing. Events must be sorted. */
export function idleStretches(events: readonly RecordingEvent[], durationMs: number): Stretch[] {
  const out: Stretch[] = [];
  let start: number | null = null;
  for (const e of events) {
    if (e.type === 'idle' && start === null) start = e.t_ms;
    else if (e.type === 'active' && start !== null) {
      if (e.t_ms > start) out.push({ startMs: start, endMs: e.t_ms });
      start = null;
    }
  }
  if (start !== null && durationMs > start) out.push({ startMs: start, endMs: durationMs });
  return out;
}

/** Distinct colours for the applications of one recording, in order of first
 *  appearance (a palette readable on the dark player; wraps after 10). */
const PALETTE = ['#4e9af1', '#f29e4c', '#57c27d', '#e36a6a', '#b07ee8', '#48c1c9', '#e0c341', '#e67db8', '#8fa7c4', '#a3c75c'];
export function appColors(bands: readonly Band[]): Map<string, string> {
  const colors = new Map<string, string>();
  for (const b of bands) if (!colors.has(b.app)) colors.set(b.app, PALETTE[colors.size % PALETTE.length]);
  return colors;
}

export interface Marker {
  /** Position on the timeline, 0..1. */
  frac: number;
  /** The first event at this position. */
  type: string;
  /** Events drawn as this one marker. */
  count: number;
}

/** One marker per event, except that events closer than 1/`slots` of the
 *  timeline share one (an hour of events stays a few hundred elements). */
export function markers(events: readonly RecordingEvent[], durationMs: number, slots = 500): Marker[] {
  if (durationMs <= 0 || slots < 1) return [];
  const out: Marker[] = [];
  let lastSlot = -1;
  for (const e of events) {
    const frac = Math.min(1, Math.max(0, e.t_ms / durationMs));
    const slot = Math.min(slots - 1, Math.floor(frac * slots));
    if (slot === lastSlot) {
      out[out.length - 1].count++;
      continue;
    }
    lastSlot = slot;
    out.push({ frac, type: e.type, count: 1 });
  }
  return out;
}

/** How close (s) to an event the player must be for it to count as "at" it. */
const AT_EVENT_S = 0.05;
/** `[` within this many seconds after an event goes to the one before it
 *  (as a player's "previous chapter"), later it goes back to the event. */
const PREVIOUS_GRACE_S = 1;

/**
 * The event `]` (dir 1) or `[` (dir -1) goes to from media time `nowS`, as an
 * index into `timesS` (ascending), or null when there is none that way.
 * `anchor` is the event last gone to by these keys or the list: while the
 * player is still at it (up to PREVIOUS_GRACE_S past it), the step is taken
 * from it, so events a few ms apart are each visited.
 */
export function stepEvent(timesS: readonly number[], nowS: number, dir: 1 | -1, anchor: number | null = null): number | null {
  if (anchor !== null && anchor >= 0 && anchor < timesS.length) {
    const at = timesS[anchor];
    if (nowS >= at - AT_EVENT_S && nowS <= at + PREVIOUS_GRACE_S) {
      const i = anchor + dir;
      return i >= 0 && i < timesS.length ? i : null;
    }
  }
  if (dir === 1) {
    const i = firstAfter(timesS, nowS + AT_EVENT_S);
    return i < timesS.length ? i : null;
  }
  const i = firstAfter(timesS, nowS - PREVIOUS_GRACE_S) - 1;
  return i >= 0 ? i : null;
}

/** The first index whose time is > x (binary search; timesS ascending). */
function firstAfter(timesS: readonly number[], x: number): number {
  let lo = 0;
  let hi = timesS.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (timesS[mid] > x) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** The last event at or before `nowS` (the one "now"), or -1. */
export function eventAt(timesS: readonly number[], nowS: number): number {
  return firstAfter(timesS, nowS + AT_EVENT_S) - 1;
}

/**
 * "Skip idle": where to jump when playback moved from `prevS` to `nowS`, or
 * null. Only a stretch longer than `minMs` that playback ran into is skipped
 * (prevS before its start, nowS inside it): a stretch the auditor seeked into
 * on purpose (a click in the list, a search hit) plays. prevS is < 0 before
 * anything played, so a stretch at the very start is skipped too.
 */
export function skipIdleTarget(stretches: readonly Stretch[], prevS: number, nowS: number, minMs = SKIP_IDLE_MIN_MS): number | null {
  for (const s of stretches) {
    if (s.endMs - s.startMs <= minMs) continue;
    const start = s.startMs / 1000;
    const end = s.endMs / 1000;
    if (prevS < start && nowS >= start && nowS < end) return end;
  }
  return null;
}

/** The start position a player link carries (`t=` seconds), or undefined. */
export function parseStartSeconds(value: string | null | undefined): number | undefined {
  if (value === null || value === undefined || !/^\d+(\.\d+)?$/.test(value)) return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}
