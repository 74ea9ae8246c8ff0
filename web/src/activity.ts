// The player's activity view: the timeline under the progress bar (a band per
// application in front, idle stretches shaded, a marker per event), the
// "Events" list beside the video (click seeks; a type filter), the "Skip
// idle" switch and the `]` / `[` keys for the next / previous event.
//
// Contract: createActivity() adds its timeline and switch to the player and
// returns the list panel for the page to place; setEvents() (re)draws from a
// recording's events; destroy() removes the document-level key handler.
// The type filter also narrows the markers and what `]` / `[` step through.
import { ApiError } from './api';
import { clear, formatClock, formatTime, h } from './dom';
import { Player, shortcutTarget } from './player';
import {
  appBands,
  appColors,
  appOf,
  eventAt,
  EVENT_TYPES,
  idleStretches,
  markers,
  RecordingEvent,
  skipIdleTarget,
  sortEvents,
  stepEvent,
  Stretch,
  typeLabel,
} from './timeline';

const SKIP_IDLE_KEY = 'deskaudit.player.skipIdle';

export interface Activity {
  /** The "Events" panel, for the page to place beside the video. */
  panel: HTMLElement;
  setEvents(events: RecordingEvent[]): void;
  /** The events could not be loaded: the panel says why, the video plays on. */
  setError(e: unknown): void;
  destroy(): void;
}

export interface ActivityOptions {
  /** RFC 3339 start of the recording: wall times of events without `time`. */
  startTime: string;
  /** The media time the player was opened at (a search hit), if any. */
  startAtS?: number;
}

export function createActivity(player: Player, opts: ActivityOptions): Activity {
  const { video } = player;
  const startMs = new Date(opts.startTime).getTime();

  // --- timeline under the progress bar --------------------------------------
  const bandsRow = h('div', { class: 'tl-bands' });
  const idleLayer = h('div', { class: 'tl-idle' });
  const markerRow = h('div', { class: 'tl-markers', 'aria-hidden': 'true' });
  const head = h('div', { class: 'tl-head', 'aria-hidden': 'true' });
  const timeline = h(
    'div',
    { class: 'timeline', role: 'group', 'aria-label': 'Activity timeline', hidden: true },
    bandsRow,
    markerRow,
    idleLayer,
    head,
  );
  const skipStatus = h('p', { class: 'tl-status', role: 'status' });
  player.timelineSlot.append(timeline, skipStatus);

  // A pointer shortcut: a click on the timeline seeks there (the progress
  // slider and the Events list are the keyboard's way).
  timeline.addEventListener('click', (ev) => {
    const rect = timeline.getBoundingClientRect();
    if (rect.width <= 0) return;
    const frac = Math.min(1, Math.max(0, (ev.clientX - rect.left) / rect.width));
    player.seek(frac * player.duration());
  });

  // --- "Skip idle" switch ------------------------------------------------------
  let skipIdle = readSkipIdle();
  const skipBtn = h(
    'button',
    { type: 'button', role: 'switch', class: 'ctl skip-idle', 'aria-checked': String(skipIdle), title: 'While playing, jump over idle stretches longer than 30 s' },
    'Skip idle',
  );
  skipBtn.addEventListener('click', () => {
    skipIdle = !skipIdle;
    skipBtn.setAttribute('aria-checked', String(skipIdle));
    try {
      localStorage.setItem(SKIP_IDLE_KEY, skipIdle ? '1' : '0');
    } catch {
      // Private mode without storage: the switch still works for this page.
    }
  });
  player.addControl(skipBtn);
  player.addKeyHelp('] [ next/previous event');

  // --- Events panel ------------------------------------------------------------
  const typeFilter = h('select', { id: 'event-type', 'aria-label': 'Event type' }, h('option', { value: '' }, 'All types'));
  const count = h('p', { class: 'muted ev-count', role: 'status' }, 'Loading events…');
  const list = h('ol', { class: 'ev-list' });
  const problem = h('div', {});
  const panel = h(
    'aside',
    { class: 'events-panel', 'aria-label': 'Events' },
    h('h2', {}, 'Events'),
    h('div', { class: 'field' }, h('label', { for: 'event-type' }, 'Type'), typeFilter),
    count,
    problem,
    list,
  );

  // --- state ---------------------------------------------------------------------
  let all: RecordingEvent[] = [];
  let shown: RecordingEvent[] = [];
  let shownTimes: number[] = [];
  let buttons: HTMLButtonElement[] = [];
  let stretches: Stretch[] = [];
  let drawnDurationS = -1;
  let current = -1;
  /** The event last gone to by the keys or the list (index into `shown`). */
  let anchor: number | null = null;
  /** Media time of the previous redraw: "Skip idle" skips only a stretch
   *  that playback ran into. Before anything played it is -1 (or the moment
   *  the page was opened at). */
  let prevT = opts.startAtS ?? -1;

  const wallOf = (e: RecordingEvent): number => {
    const t = e.time ? new Date(e.time).getTime() : NaN;
    return Number.isNaN(t) ? startMs + e.t_ms : t;
  };

  const describe = (e: RecordingEvent): string => {
    const parts = [typeLabel(e.type)];
    const app = appOf(e);
    if (app) parts.push(app);
    if (e.type === 'window' && e.title) parts.push(e.title);
    if (e.type === 'resolution' && e.width && e.height) parts.push(`${e.width}×${e.height}`);
    return parts.join(', ');
  };

  const goTo = (i: number) => {
    anchor = i;
    player.seek(shownTimes[i]);
    highlight(true);
  };

  const drawTimeline = () => {
    const durationS = player.duration();
    drawnDurationS = durationS;
    const durationMs = durationS * 1000;
    // A recording that ended idle: its last stretch runs to the end.
    stretches = idleStretches(all, Math.max(durationMs, all.at(-1)?.t_ms ?? 0));
    timeline.hidden = all.length === 0 || durationMs <= 0;
    bandsRow.replaceChildren();
    idleLayer.replaceChildren();
    markerRow.replaceChildren();
    if (timeline.hidden) return;
    const frac = (ms: number) => Math.min(1, Math.max(0, ms / durationMs));
    // Through the CSSOM: the server's CSP (style-src 'self') drops style attributes.
    const place = <T extends HTMLElement>(el: T, startMs: number, endMs: number): T => {
      el.style.left = `${frac(startMs) * 100}%`;
      el.style.width = `${(frac(endMs) - frac(startMs)) * 100}%`;
      return el;
    };
    const span = (startMs: number, endMs: number) => `${formatClock(startMs / 1000)} to ${formatClock(endMs / 1000)}`;
    const bands = appBands(all, durationMs);
    const colors = appColors(bands);
    for (const b of bands) {
      const label = `${b.app}, ${span(b.startMs, b.endMs)}`;
      const band = h('div', {
        class: 'tl-band',
        role: 'img',
        'aria-label': label,
        title: b.title ? `${label}: ${b.title}` : label,
        'data-app': b.app,
        'data-start-ms': String(b.startMs),
        'data-end-ms': String(b.endMs),
      });
      band.style.background = colors.get(b.app) ?? '';
      bandsRow.append(place(band, b.startMs, b.endMs));
    }
    for (const s of stretches) {
      const label = `Idle, ${span(s.startMs, s.endMs)}`;
      const shade = h('div', {
        class: 'tl-idle-stretch',
        role: 'img',
        'aria-label': label,
        title: label,
        'data-start-ms': String(s.startMs),
        'data-end-ms': String(s.endMs),
      });
      idleLayer.append(place(shade, s.startMs, s.endMs));
    }
    for (const m of markers(shown, durationMs)) {
      const mark = h('div', {
        class: `tl-marker t-${m.type.replace(/[^a-z]/g, '-')}`,
        title: m.count > 1 ? `${typeLabel(m.type)} and ${m.count - 1} more` : typeLabel(m.type),
      });
      mark.style.left = `${m.frac * 100}%`;
      markerRow.append(mark);
    }
  };

  const drawList = () => {
    const want = typeFilter.value;
    shown = want ? all.filter((e) => e.type === want) : all;
    shownTimes = shown.map((e) => e.t_ms / 1000);
    anchor = null;
    current = -1;
    buttons = shown.map((e, i) => {
      const wall = wallOf(e);
      const text = describe(e);
      const b = h(
        'button',
        {
          type: 'button',
          class: `ev t-${e.type.replace(/[^a-z]/g, '-')}`,
          'aria-label': `${formatTime(wall).slice(11, 19)} (${formatClock(e.t_ms / 1000)}), ${text}`,
          'data-t-ms': String(e.t_ms),
          'data-type': e.type,
        },
        h('time', { dateTime: new Date(wall).toISOString(), class: 'ev-time' }, formatTime(wall).slice(11, 19)),
        h('span', { class: 'ev-type' }, typeLabel(e.type)),
        h('span', { class: 'ev-app' }, appOf(e)),
        e.title ? h('span', { class: 'ev-title' }, e.title) : null,
      );
      b.addEventListener('click', () => goTo(i));
      return b;
    });
    clear(list, buttons.map((b) => h('li', {}, b)));
    const n = shown.length;
    count.textContent =
      all.length === 0
        ? 'No activity events in this recording.'
        : want
          ? `${n} of ${all.length} events (${typeLabel(want)})`
          : `${n} event${n === 1 ? '' : 's'}`;
    highlight(false);
  };

  /** Marks the event "now" in the list; keeps it in view while playing
   *  (or after a jump), unless the auditor is using the list. */
  const highlight = (reveal: boolean) => {
    const i = eventAt(shownTimes, video.currentTime);
    if (i === current && !reveal) return;
    buttons[current]?.removeAttribute('aria-current');
    current = i;
    const b = buttons[i];
    if (!b) return;
    b.setAttribute('aria-current', 'true');
    if ((reveal || !video.paused) && !list.contains(document.activeElement)) {
      const top = b.offsetTop; // the list is the offset parent (position: relative)
      if (top < list.scrollTop || top + b.offsetHeight > list.scrollTop + list.clientHeight) {
        list.scrollTop = Math.max(0, top - list.clientHeight / 3);
      }
    }
  };

  typeFilter.addEventListener('change', () => {
    drawList();
    drawTimeline();
  });

  // --- per redraw: playhead, current event, skip idle -------------------------
  video.addEventListener('seeking', () => {
    prevT = video.currentTime;
  });
  player.onRender(() => {
    const d = player.duration();
    if (Math.abs(d - drawnDurationS) > 0.5) drawTimeline();
    head.style.left = d > 0 ? `${Math.min(100, (video.currentTime / d) * 100)}%` : '0';
    if (video.seeking) return;
    const now = video.currentTime;
    if (skipIdle && !video.paused) {
      const to = skipIdleTarget(stretches, prevT, now);
      if (to !== null) {
        prevT = to;
        skipStatus.textContent = `Skipped idle time ${formatClock(now)} to ${formatClock(to)}.`;
        player.seek(to);
        return;
      }
    }
    prevT = now;
    highlight(false);
  });

  // --- keys ------------------------------------------------------------------------
  const onKey = (ev: KeyboardEvent) => {
    if (ev.key !== ']' && ev.key !== '[') return;
    if (shortcutTarget(ev).ignore) return;
    ev.preventDefault();
    const i = stepEvent(shownTimes, video.currentTime, ev.key === ']' ? 1 : -1, anchor);
    if (i !== null) goTo(i);
  };
  document.addEventListener('keydown', onKey);

  return {
    panel,
    setEvents(events: RecordingEvent[]) {
      all = sortEvents(events);
      clear(problem);
      // The type filter offers the types present, in the catalogue's order.
      const present = new Set(all.map((e) => e.type));
      const keep = typeFilter.value;
      const types = [...Object.keys(EVENT_TYPES).filter((t) => present.has(t)), ...[...present].filter((t) => !(t in EVENT_TYPES)).sort()];
      clear(typeFilter, h('option', { value: '' }, 'All types'), types.map((t) => h('option', { value: t }, typeLabel(t))));
      typeFilter.value = present.has(keep) ? keep : '';
      drawList();
      drawTimeline();
    },
    setError(e: unknown) {
      const why =
        e instanceof ApiError && e.status === 403
          ? 'you are not permitted to read the events of this recording.'
          : (e as Error)?.message ?? String(e);
      count.textContent = '';
      clear(problem, h('p', { class: 'error', role: 'alert' }, `Events cannot be shown: ${why}`));
    },
    destroy() {
      document.removeEventListener('keydown', onKey);
    },
  };
}

function readSkipIdle(): boolean {
  try {
    return localStorage.getItem(SKIP_IDLE_KEY) === '1';
  } catch {
    return false;
  }
}
