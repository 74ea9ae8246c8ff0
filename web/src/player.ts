// The recording player: hls.js over MediaSource, custom accessible controls.
//
// Contract: createPlayer() builds the element tree and starts loading; the
// caller must call destroy() when leaving the page (it detaches hls.js, stops
// the playlist reloads and removes the document-level key handler).
// Time shown to the auditor is the wall-clock time of the frame on screen:
// the playlist's EXT-X-PROGRAM-DATE-TIME when hls.js has it, otherwise the
// recording's start_time + currentTime.
// The light build: no subtitles, alternate audio, DRM or CMCD, none of which
// a screen recording has; it halves the player's download.
import Hls, { ErrorData, ErrorTypes, Events } from 'hls.js/light';
import { h, formatClock, formatTime } from './dom';

export const SPEEDS = [0.5, 1, 1.5, 2, 4, 8, 16];
const SEEK_STEP_S = 5;

export interface PlayerOptions {
  playlistUrl: string;
  /** RFC 3339 start of the recording (wall-clock fallback). */
  startTime: string;
  /** Known duration from the catalog, used until the media reports one. */
  durationHintS?: number;
  autoplay?: boolean;
  /** Media time (s) to start at instead of the beginning (a search hit). */
  startAtS?: number;
  /** A playlist or segment request answered 401: the session ended. */
  onUnauthorized?: () => void;
}

export interface Player {
  element: HTMLElement;
  video: HTMLVideoElement;
  /** Under the progress bar, spanning its width: the activity timeline. */
  timelineSlot: HTMLElement;
  seek(seconds: number): void;
  /** Media duration in seconds (the catalog's until the media knows). */
  duration(): number;
  /** Adds a control to the button row, before the full-screen button. */
  addControl(...els: HTMLElement[]): void;
  /** Adds a line to the keyboard help under the player. */
  addKeyHelp(text: string): void;
  /** Called on every redraw: timeupdate, seeks, and each frame while playing. */
  onRender(fn: () => void): void;
  destroy(): void;
}

/** Whether a page-wide key press is a player shortcut: not while typing in a
 *  field or with a modifier. `activates`: the focused element acts on
 *  Space/Enter itself (a button or link). */
export function shortcutTarget(ev: KeyboardEvent): { ignore: boolean; activates: boolean } {
  const target = ev.target as HTMLElement | null;
  const tag = target?.tagName;
  const ignore =
    ev.defaultPrevented || ev.altKey || ev.ctrlKey || ev.metaKey ||
    tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT' || Boolean(target?.isContentEditable);
  const activates = tag === 'BUTTON' || tag === 'A' || target?.getAttribute('role') === 'menuitem';
  return { ignore, activates };
}

export function createPlayer(opts: PlayerOptions): Player {
  const startMs = new Date(opts.startTime).getTime();
  const video = h('video', { class: 'video', playsinline: true, preload: 'auto', tabindex: '-1' });
  // Our own controls replace the native ones (they have no wall clock and no 16x).
  video.controls = false;

  const playBtn = h('button', { type: 'button', class: 'ctl play' }, 'Play');
  const timeText = h('span', { class: 'time', 'aria-live': 'off' }, '0:00 / 0:00');
  const played = h('div', { class: 'played' });
  const buffered = h('div', { class: 'buffered' });
  const thumb = h('div', { class: 'thumb' });
  const tooltip = h('div', { class: 'tooltip', role: 'tooltip', id: 'progress-tip', hidden: true });
  const progress = h(
    'div',
    {
      class: 'progress',
      role: 'slider',
      tabindex: '0',
      'aria-label': 'Progress',
      'aria-valuemin': '0',
      'aria-valuemax': '0',
      'aria-valuenow': '0',
      'aria-valuetext': '0:00',
    },
    h('div', { class: 'track' }, buffered, played),
    thumb,
    tooltip,
  );
  const speed = h(
    'select',
    { id: 'speed', class: 'ctl', 'aria-label': 'Playback speed' },
    SPEEDS.map((s) => h('option', { value: String(s), selected: s === 1 }, `${s}x`)),
  );
  // Sound: recordings made with the policy's audio switch on carry a second
  // track; without one both controls stay but say there is nothing to hear.
  const muteBtn = h('button', { type: 'button', class: 'ctl mute', 'aria-pressed': 'false' }, 'Mute');
  const volume = h('input', {
    id: 'volume',
    class: 'ctl volume',
    type: 'range',
    min: '0',
    max: '100',
    step: '5',
    value: '100',
    'aria-label': 'Volume',
    'aria-valuetext': '100%',
  });
  const fsBtn = h('button', { type: 'button', class: 'ctl', 'aria-pressed': 'false' }, 'Full screen');
  const pipReason = h('span', { id: 'pip-reason', class: 'reason' });
  const pipBtn = h('button', { type: 'button', class: 'ctl', 'aria-pressed': 'false', 'aria-describedby': 'pip-reason' }, 'Picture-in-picture');
  const wall = h('time', { class: 'wall', 'data-epoch-ms': '' }, '—');
  const status = h('p', { class: 'player-status', role: 'status' });
  const stage = h('div', { class: 'stage' }, video);
  const timelineSlot = h('div', { class: 'timeline-slot' });
  const spacer = h('span', { class: 'spacer' });
  const keys = h('p', { class: 'keys muted' }, 'Keys: Space play/pause · ← → 5 s back/forward · M mute · F full screen');

  const element = h(
    'section',
    { class: 'player', 'aria-label': 'Player' },
    stage,
    // The timeline sits under the progress bar in the same grid column.
    h('div', { class: 'controls seek-row' }, progress, timeText, timelineSlot),
    h(
      'div',
      { class: 'controls' },
      playBtn,
      h('label', { class: 'speed', for: 'speed' }, h('span', { 'aria-hidden': 'true' }, 'Speed')),
      speed,
      muteBtn,
      h('label', { class: 'speed', for: 'volume' }, h('span', { 'aria-hidden': 'true' }, 'Volume')),
      volume,
      spacer,
      fsBtn,
      pipBtn,
    ),
    h(
      'div',
      { class: 'under' },
      h('p', { class: 'wallclock' }, h('span', { class: 'muted' }, 'Frame time: '), wall),
      pipReason,
    ),
    status,
    keys,
  );

  // --- state -------------------------------------------------------------
  let hls: Hls | null = null;
  let dragging = false;
  let dragTime = 0;
  let mediaErrorRecoveries = 0;
  let destroyed = false;
  const renderHooks: (() => void)[] = [];

  const duration = (): number => {
    const d = video.duration;
    if (Number.isFinite(d) && d > 0) return d;
    const details = hls?.levels?.[hls.currentLevel >= 0 ? hls.currentLevel : 0]?.details;
    if (details && details.totalduration > 0) return details.totalduration;
    return opts.durationHintS ?? 0;
  };

  /** Wall-clock ms of the media time t. */
  const wallAt = (t: number): number => {
    if (hls && !dragging && Math.abs(t - video.currentTime) < 0.001) {
      const d = hls.playingDate;
      if (d && !Number.isNaN(d.getTime())) return d.getTime();
    }
    return startMs + t * 1000;
  };

  const setStatus = (text: string, isError = false) => {
    status.textContent = text;
    status.classList.toggle('error', isError);
  };

  const render = () => {
    const d = duration();
    const t = dragging ? dragTime : video.currentTime;
    const frac = d > 0 ? Math.min(1, Math.max(0, t / d)) : 0;
    played.style.width = `${frac * 100}%`;
    thumb.style.left = `${frac * 100}%`;
    progress.setAttribute('aria-valuemax', d.toFixed(1));
    progress.setAttribute('aria-valuenow', t.toFixed(1));
    progress.setAttribute('aria-valuetext', `${formatClock(t)} of ${formatClock(d)}`);
    timeText.textContent = `${formatClock(t)} / ${formatClock(d)}`;
    let bufEnd = 0;
    for (let i = 0; i < video.buffered.length; i++) {
      if (video.buffered.start(i) <= t + 0.5) bufEnd = Math.max(bufEnd, video.buffered.end(i));
    }
    buffered.style.width = d > 0 ? `${Math.min(100, (bufEnd / d) * 100)}%` : '0';
    if (!dragging) {
      const w = wallAt(video.currentTime);
      wall.dateTime = new Date(w).toISOString();
      wall.dataset.epochMs = String(Math.round(w));
      wall.textContent = formatTime(w, true);
    }
    for (const fn of renderHooks) fn();
  };

  const syncPlayButton = () => {
    playBtn.textContent = video.paused || video.ended ? 'Play' : 'Pause';
  };

  const seek = (t: number) => {
    const d = duration();
    const clamped = Math.max(0, d > 0 ? Math.min(t, Math.max(0, d - 0.05)) : t);
    video.currentTime = clamped;
    render();
  };

  const togglePlay = () => {
    if (video.paused || video.ended) {
      video.play().catch((e: Error) => {
        if (e.name !== 'AbortError') setStatus(`Cannot play: ${e.message}`, true);
      });
    } else {
      video.pause();
    }
  };

  // --- progress bar: pointer drag with a time tooltip ----------------------
  const timeAtPointer = (clientX: number): number => {
    const rect = progress.getBoundingClientRect();
    const frac = rect.width > 0 ? Math.min(1, Math.max(0, (clientX - rect.left) / rect.width)) : 0;
    return frac * duration();
  };
  const showTip = (clientX: number, t: number) => {
    const rect = progress.getBoundingClientRect();
    tooltip.hidden = false;
    tooltip.textContent = `${formatClock(t)} · ${formatTime(startMs + t * 1000).slice(11)}`;
    const x = Math.min(rect.width, Math.max(0, clientX - rect.left));
    tooltip.style.left = `${x}px`;
  };
  progress.addEventListener('pointerdown', (ev) => {
    if (ev.button !== 0) return;
    ev.preventDefault();
    progress.focus();
    progress.setPointerCapture(ev.pointerId);
    dragging = true;
    dragTime = timeAtPointer(ev.clientX);
    showTip(ev.clientX, dragTime);
    render();
  });
  progress.addEventListener('pointermove', (ev) => {
    const t = timeAtPointer(ev.clientX);
    showTip(ev.clientX, t);
    if (dragging) {
      dragTime = t;
      render();
    }
  });
  const endDrag = (ev: PointerEvent, commit: boolean) => {
    if (!dragging) return;
    dragging = false;
    if (progress.hasPointerCapture(ev.pointerId)) progress.releasePointerCapture(ev.pointerId);
    if (commit) seek(timeAtPointer(ev.clientX));
    else render();
  };
  progress.addEventListener('pointerup', (ev) => endDrag(ev, true));
  progress.addEventListener('pointercancel', (ev) => endDrag(ev, false));
  progress.addEventListener('pointerleave', () => {
    if (!dragging) tooltip.hidden = true;
  });
  progress.addEventListener('blur', () => {
    tooltip.hidden = true;
  });
  progress.addEventListener('keydown', (ev) => {
    const d = duration();
    let t: number | null = null;
    if (ev.key === 'ArrowLeft' || ev.key === 'ArrowDown') t = video.currentTime - SEEK_STEP_S;
    else if (ev.key === 'ArrowRight' || ev.key === 'ArrowUp') t = video.currentTime + SEEK_STEP_S;
    else if (ev.key === 'PageDown') t = video.currentTime - 60;
    else if (ev.key === 'PageUp') t = video.currentTime + 60;
    else if (ev.key === 'Home') t = 0;
    else if (ev.key === 'End') t = d;
    if (t !== null) {
      ev.preventDefault();
      ev.stopPropagation();
      seek(t);
    }
  });

  // --- buttons -------------------------------------------------------------
  playBtn.addEventListener('click', togglePlay);
  video.addEventListener('click', togglePlay);
  speed.addEventListener('change', () => {
    video.playbackRate = Number(speed.value);
  });
  // hls.js or a new source may reset the rate; the select stays the truth.
  video.addEventListener('ratechange', () => {
    const want = Number(speed.value);
    if (video.playbackRate !== want) video.playbackRate = want;
  });

  const syncSound = () => {
    muteBtn.setAttribute('aria-pressed', String(video.muted));
    const pct = Math.round(video.volume * 100);
    if (document.activeElement !== volume) volume.value = String(pct);
    volume.setAttribute('aria-valuetext', video.muted ? `${pct}%, muted` : `${pct}%`);
  };
  // volumechange is queued, so the controls are synced at once as well:
  // the button's state must be right the moment the click returns.
  muteBtn.addEventListener('click', () => {
    video.muted = !video.muted;
    syncSound();
  });
  volume.addEventListener('input', () => {
    video.volume = Number(volume.value) / 100;
    if (video.volume > 0 && video.muted) video.muted = false;
    syncSound();
  });
  video.addEventListener('volumechange', syncSound);

  const toggleFullscreen = async () => {
    try {
      if (document.fullscreenElement) await document.exitFullscreen();
      else await element.requestFullscreen();
    } catch (e) {
      setStatus(`Full screen is not available: ${(e as Error).message}`, true);
    }
  };
  fsBtn.addEventListener('click', () => void toggleFullscreen());
  video.addEventListener('dblclick', () => void toggleFullscreen());
  const onFullscreenChange = () => {
    const on = document.fullscreenElement === element;
    fsBtn.setAttribute('aria-pressed', String(on));
    element.classList.toggle('is-fullscreen', on);
  };
  document.addEventListener('fullscreenchange', onFullscreenChange);
  if (!document.fullscreenEnabled) {
    fsBtn.disabled = true;
    fsBtn.title = 'Full screen is not allowed in this page';
  }

  const pipUnavailable = (reason: string) => {
    pipBtn.disabled = true;
    pipReason.textContent = `Picture-in-picture unavailable: ${reason}`;
  };
  if (!('pictureInPictureEnabled' in document) || !document.pictureInPictureEnabled) {
    pipUnavailable('this browser does not allow it here.');
  } else {
    pipBtn.disabled = true;
    pipReason.textContent = 'Picture-in-picture becomes available once the video has loaded.';
    video.addEventListener('loadedmetadata', () => {
      if (pipBtn.disabled && !pipReason.textContent?.startsWith('Picture-in-picture unavailable')) {
        pipBtn.disabled = false;
        pipReason.textContent = '';
      }
    });
    pipBtn.addEventListener('click', async () => {
      try {
        if (document.pictureInPictureElement) await document.exitPictureInPicture();
        else await video.requestPictureInPicture();
      } catch (e) {
        pipUnavailable(`the request failed (${(e as Error).message}).`);
      }
    });
    video.addEventListener('enterpictureinpicture', () => pipBtn.setAttribute('aria-pressed', 'true'));
    video.addEventListener('leavepictureinpicture', () => pipBtn.setAttribute('aria-pressed', 'false'));
  }

  // --- keyboard shortcuts (anywhere on the page, not while typing) --------
  const onKey = (ev: KeyboardEvent) => {
    const { ignore, activates } = shortcutTarget(ev);
    if (ignore) return;
    const target = ev.target as HTMLElement | null;
    // Buttons and links act on Space/Enter themselves.
    if (ev.key === ' ' && !activates) {
      ev.preventDefault();
      togglePlay();
    } else if (ev.key === 'ArrowLeft' && target?.getAttribute('role') !== 'menu') {
      ev.preventDefault();
      seek(video.currentTime - SEEK_STEP_S);
    } else if (ev.key === 'ArrowRight' && target?.getAttribute('role') !== 'menu') {
      ev.preventDefault();
      seek(video.currentTime + SEEK_STEP_S);
    } else if ((ev.key === 'f' || ev.key === 'F') && !activates) {
      ev.preventDefault();
      void toggleFullscreen();
    } else if ((ev.key === 'm' || ev.key === 'M') && !activates) {
      ev.preventDefault();
      video.muted = !video.muted;
      syncSound();
    }
  };
  document.addEventListener('keydown', onKey);

  // --- media events ---------------------------------------------------------
  for (const ev of ['timeupdate', 'durationchange', 'progress', 'seeked', 'loadedmetadata']) {
    video.addEventListener(ev, render);
  }
  for (const ev of ['play', 'pause', 'ended']) video.addEventListener(ev, syncPlayButton);
  video.addEventListener('waiting', () => setStatus('Loading…'));
  video.addEventListener('playing', () => setStatus(''));
  video.addEventListener('seeked', () => {
    if (!video.paused) return;
    setStatus('');
  });
  video.addEventListener('error', () => {
    const err = video.error;
    if (err && !hls) setStatus(`The video cannot be played: ${err.message || `media error ${err.code}`}`, true);
  });
  // Keep the wall clock and slider moving smoothly between timeupdates.
  let raf = 0;
  const tick = () => {
    if (!video.paused) render();
    raf = requestAnimationFrame(tick);
  };
  raf = requestAnimationFrame(tick);

  // --- source ---------------------------------------------------------------
  if (Hls.isSupported()) {
    hls = new Hls({
      // Audit playback starts at the beginning (or the moment asked for), also
      // for a recording still in progress (an EVENT playlist, which hls.js
      // treats as live).
      startPosition: opts.startAtS ?? 0,
      liveSyncDuration: 6,
      liveMaxLatencyDuration: 1e9,
      maxBufferLength: 60,
      maxMaxBufferLength: 600,
      backBufferLength: 90,
      enableWorker: true,
      lowLatencyMode: false,
    });
    hls.on(Events.ERROR, (_e, data: ErrorData) => {
      const code = (data.response as { code?: number } | undefined)?.code;
      if (code === 401) {
        opts.onUnauthorized?.();
        return;
      }
      if (!data.fatal) return;
      if (data.type === ErrorTypes.MEDIA_ERROR && mediaErrorRecoveries < 2) {
        mediaErrorRecoveries++;
        hls?.recoverMediaError();
        return;
      }
      const what =
        code === 403
          ? 'you are not permitted to play this recording.'
          : code === 404
            ? 'the recording or one of its segments was not found.'
            : `${data.details}${code ? ` (HTTP ${code})` : ''}.`;
      setStatus(`The recording cannot be played: ${what}`, true);
    });
    hls.on(Events.LEVEL_UPDATED, render);
    hls.loadSource(opts.playlistUrl);
    hls.attachMedia(video);
  } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
    video.src = opts.playlistUrl;
    if (opts.startAtS) {
      const at = opts.startAtS;
      video.addEventListener('loadedmetadata', () => (video.currentTime = at), { once: true });
    }
  } else {
    setStatus('This browser cannot play HLS video (no MediaSource support).', true);
  }
  if (opts.autoplay) {
    video.addEventListener(
      'loadedmetadata',
      () => {
        if (!destroyed) video.play().catch(() => syncPlayButton());
      },
      { once: true },
    );
  }
  render();

  return {
    element,
    video,
    timelineSlot,
    seek,
    duration,
    addControl(...els: HTMLElement[]) {
      for (const el of els) spacer.before(el);
    },
    addKeyHelp(text: string) {
      keys.append(` · ${text}`);
    },
    onRender(fn: () => void) {
      renderHooks.push(fn);
      fn();
    },
    destroy() {
      destroyed = true;
      cancelAnimationFrame(raf);
      document.removeEventListener('keydown', onKey);
      document.removeEventListener('fullscreenchange', onFullscreenChange);
      if (document.pictureInPictureElement === video) void document.exitPictureInPicture().catch(() => {});
      if (document.fullscreenElement === element) void document.exitFullscreen().catch(() => {});
      hls?.destroy();
      hls = null;
      video.removeAttribute('src');
      video.load();
    },
  };
}
