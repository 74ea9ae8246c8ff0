import { createActivity } from '../activity';
import { api, RecordingDetail } from '../api';
import { errorBox, loading } from '../components';
import { clear, formatBytes, formatDuration, formatTime, h } from '../dom';
import { createPlayer, Player } from '../player';
import { href } from '../router';
import { parseStartSeconds } from '../timeline';
import { downloadButton, evidenceButton, recordingDurationMs } from './recordings';

const META_REFRESH_MS = 10_000;

function metadata(r: RecordingDetail, player: Player | null): HTMLElement {
  const row = (k: string, v: Node | string) => [h('dt', {}, k), h('dd', {}, v)];
  const durationMs = recordingDurationMs(r) ?? r.segments.reduce((s, x) => s + x.duration_ms, 0);
  return h(
    'aside',
    { class: 'rec-meta', 'aria-label': 'Recording details' },
    h('h2', {}, 'Recording'),
    h(
      'dl',
      { class: 'meta' },
      row('Computer', h('span', {}, r.computer_name || r.computer_id, ' ', h('a', { href: href(['computers', r.computer_id, 'status']) }, h('code', {}, r.computer_id)))),
      row('Pool', r.pool_id ? h('a', { href: href(['pools', r.pool_id]), 'data-pool-id': r.pool_id }, r.pool_id) : '—'),
      row('User', r.username || '—'),
      row('Policy', r.policy_id ? h('a', { href: href(['policies', r.policy_id]) }, r.policy_name || r.policy_id) : r.policy_name || '—'),
      row('Start', formatTime(r.start_time)),
      row('End', r.end_time ? formatTime(r.end_time) : 'Still recording'),
      row('Duration', formatDuration(durationMs)),
      row('Status', r.status),
      row('Size', formatBytes(r.size_bytes)),
      row('Segments', String(r.segment_count)),
      row('Audio', r.segments.length === 0 ? '—' : r.has_audio ? 'Yes' : 'No (video only)'),
      row('Expires', r.expires_at ? formatTime(r.expires_at) : '—'),
      row('ID', h('code', {}, r.id)),
    ),
    downloadButton(r.id),
    r.segments.length > 0 ? evidenceButton(r.id) : null,
    r.segments.length > 0
      ? h(
          'details',
          { class: 'segments' },
          h('summary', {}, `Segments (${r.segments.length})`),
          h(
            'ol',
            { start: '0' },
            r.segments.map((s) => {
              const go = h(
                'button',
                { type: 'button', class: 'link', 'aria-label': `Go to segment ${s.seq}` },
                `#${s.seq} at ${formatDuration(s.start_offset_ms)}`,
              );
              go.addEventListener('click', () => player?.seek(s.start_offset_ms / 1000));
              return h('li', {}, go, ` · ${formatDuration(s.duration_ms)} · ${formatBytes(s.size_bytes)}`);
            }),
          ),
        )
      : null,
  );
}

/** The player page; returns the cleanup to run when leaving it. `params`:
 *  `t` = the media time (seconds) to open at, e.g. a search hit. */
export async function renderPlayer(main: HTMLElement, id: string, params: URLSearchParams, onUnauthorized: () => void): Promise<() => void> {
  const title = h('h1', { tabindex: '-1' }, 'Recording playback');
  const body = h('div', {}, loading());
  clear(main, h('p', { class: 'crumbs' }, h('a', { href: href(['recordings']) }, 'Screen recordings'), ' / ', id), title, body);
  let rec: RecordingDetail;
  try {
    rec = await api.recording(id);
  } catch (e) {
    clear(body, errorBox(e));
    return () => {};
  }
  title.textContent = `Recording of ${rec.username || 'unknown user'} on ${rec.computer_name || rec.computer_id}`;
  const durationMs = recordingDurationMs(rec) ?? rec.segments.reduce((s, x) => s + x.duration_ms, 0);
  if (rec.segment_count === 0 && rec.segments.length === 0) {
    clear(body, h('div', { class: 'layout-player' }, h('p', { class: 'empty' }, 'This recording has no uploaded segment yet: it becomes playable when its first segment arrives.'), metadata(rec, null)));
    return () => {};
  }
  const startAtS = parseStartSeconds(params.get('t'));
  const player = createPlayer({
    playlistUrl: api.playlistUrl(rec.id),
    startTime: rec.start_time,
    durationHintS: durationMs > 0 ? durationMs / 1000 : undefined,
    autoplay: true,
    startAtS,
    onUnauthorized,
  });
  const activity = createActivity(player, { startTime: rec.start_time, startAtS });
  let meta = metadata(rec, player);
  clear(body, h('div', { class: 'layout-player' }, player.element, h('div', { class: 'player-side' }, activity.panel, meta)));
  // Events arrive with segments: loaded beside the video, again when a
  // recording in progress gains segments.
  let eventsOfSegments = -1;
  let eventLoads = 0;
  const loadEvents = (segments: number) => {
    eventsOfSegments = segments;
    const mine = ++eventLoads;
    api
      .allRecordingEvents(id)
      .then((events) => mine === eventLoads && activity.setEvents(events))
      .catch((e) => mine === eventLoads && activity.setError(e));
  };
  loadEvents(rec.segment_count);
  // The pool's name is a nicety: fetched after the player started.
  const poolName = new Map<string, string>();
  const namePools = (panel: HTMLElement) => {
    for (const a of panel.querySelectorAll<HTMLAnchorElement>('a[data-pool-id]')) {
      const n = poolName.get(a.dataset.poolId!);
      if (n) a.textContent = n;
    }
  };
  if (rec.pool_id) {
    void api
      .pool(rec.pool_id)
      .then((p) => {
        poolName.set(p.id, p.name || p.id);
        namePools(meta);
      })
      .catch(() => {});
  }

  // A recording in progress grows: refresh its facts (the playlist itself is
  // reloaded by hls.js as an EVENT playlist).
  let timer = 0;
  if (rec.status === 'recording') {
    timer = window.setInterval(async () => {
      try {
        const fresh = await api.recording(id);
        const wasOpen = meta.querySelector('details')?.open ?? false;
        const next = metadata(fresh, player);
        const d = next.querySelector('details');
        if (d) d.open = wasOpen;
        // Keep keyboard focus when it sits inside the panel being replaced.
        if (!meta.contains(document.activeElement)) {
          namePools(next);
          meta.replaceWith(next);
          meta = next;
        }
        if (fresh.segment_count !== eventsOfSegments) loadEvents(fresh.segment_count);
        if (fresh.status !== 'recording') window.clearInterval(timer);
      } catch {
        // A failed refresh keeps the last facts; the player reports its own errors.
      }
    }, META_REFRESH_MS);
  }
  return () => {
    window.clearInterval(timer);
    activity.destroy();
    player.destroy();
  };
}
