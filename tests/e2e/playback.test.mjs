// Players other than ours play a download across screen resizes to the end:
// a recording whose screen changed size twice is uploaded through the agent
// API, downloaded as one MP4 through the REST API, then played by headless
// Chromium in a <video> element and by VLC (when installed).
// Run: cd tests/e2e && npm test   (needs build/bin/deskaudit-server)
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { launchBrowser } from './lib/browser.mjs';
import { enrollAgent, enrollmentToken, seedInventory, uploadRecording } from './lib/fixtures.mjs';
import { decodeAll, segmentsAcrossResizes } from './lib/media.mjs';
import { isExecutable, serverBin } from './lib/paths.mjs';
import { run, stopAll, tempDir } from './lib/proc.mjs';
import { ApiClient, ensureWebBuilt, startServer } from './lib/server.mjs';

const artifacts = process.env.DESKAUDIT_E2E_ARTIFACTS || path.join(os.tmpdir(), 'deskaudit-e2e-artifacts');
fs.mkdirSync(artifacts, { recursive: true });
const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

const missing = !isExecutable(serverBin);
const cvlc = '/usr/bin/cvlc';
const noVlc = !isExecutable(cvlc);
if (noVlc && process.env.CI) throw new Error(`VLC is missing at ${cvlc} (scripts/install-deps --test installs vlc-bin)`);
if (missing && process.env.CI) throw new Error(`deskaudit-server is missing at ${serverBin}`);

const SIZES = ['640x360', '800x600', '480x270'];
const SECONDS_EACH = 2;
const FPS = 5;
// One frame interval plus the container's rounding (timescale 1000).
const TOLERANCE_S = 1 / FPS + 0.001;

describe('a download across screen resizes in other players', { skip: missing && `deskaudit-server not built (${serverBin})` }, () => {
  let server;
  let recording;
  let file;

  before(async () => {
    await ensureWebBuilt();
    server = await startServer();
    const admin = await ApiClient.login(server.url);
    const { pool } = await seedInventory(admin, { poolName: 'Resizing desks', policyName: 'Record resizing desks' });
    const { agent } = await enrollAgent(server.url, await enrollmentToken(admin, pool.id), 'resize-1');
    const segments = await segmentsAcrossResizes({ sizes: SIZES, secondsEach: SECONDS_EACH, fps: FPS, dir: tempDir('resize-media') });
    const start = Date.now() - 3_600_000;
    const total = SIZES.length * SECONDS_EACH * 1000;
    const id = await uploadRecording(agent, { username: 'rita', startTime: iso(start), endTime: iso(start + total), segments });
    recording = await admin.call('GET', `/recordings/${id}`);
    assert.equal(recording.duration_ms, total);
    const res = await admin.call('GET', `/recordings/${id}/download`, { raw: true });
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(res.headers.get('content-type'), 'video/mp4');
    // Readable by the unprivileged user VLC runs as when the tests run as root.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'deskaudit-resize-download-'));
    fs.chmodSync(dir, 0o755);
    file = path.join(dir, 'resized.mp4');
    fs.writeFileSync(file, Buffer.from(await res.arrayBuffer()), { mode: 0o644 });
    fs.copyFileSync(file, path.join(artifacts, 'resized-download.mp4'));
    await decodeAll(file);
  });

  after(async () => {
    await stopAll();
    if (file) fs.rmSync(path.dirname(file), { recursive: true, force: true });
  });

  test('Chromium plays it in a <video> to the end, sizes switching, without an error', async () => {
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      const bytes = fs.readFileSync(file).toString('base64');
      const result = await page.evaluate(
        async ({ b64, timeoutMs }) => {
          const data = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
          const v = document.createElement('video');
          v.muted = true;
          document.body.append(v);
          const sizes = [];
          const seen = (w, h) => {
            const s = `${w}x${h}`;
            if (w && sizes.at(-1) !== s) sizes.push(s);
          };
          const onFrame = (_now, meta) => {
            seen(meta.width, meta.height);
            v.requestVideoFrameCallback(onFrame);
          };
          v.requestVideoFrameCallback(onFrame);
          v.addEventListener('resize', () => seen(v.videoWidth, v.videoHeight));
          const ended = await new Promise((resolve) => {
            const t = setTimeout(() => resolve({ outcome: 'timeout' }), timeoutMs);
            v.addEventListener('ended', () => {
              clearTimeout(t);
              resolve({ outcome: 'ended' });
            });
            v.addEventListener('error', () => {
              clearTimeout(t);
              resolve({ outcome: 'error', error: `${v.error?.code} ${v.error?.message}` });
            });
            v.src = URL.createObjectURL(new Blob([data], { type: 'video/mp4' }));
            v.play().catch((e) => {
              clearTimeout(t);
              resolve({ outcome: 'error', error: `play(): ${e}` });
            });
          });
          const q = v.getVideoPlaybackQuality?.();
          return {
            ...ended,
            currentTime: v.currentTime,
            duration: v.duration,
            sizes,
            error: ended.error ?? (v.error ? `${v.error.code} ${v.error.message}` : null),
            frames: q ? { total: q.totalVideoFrames, dropped: q.droppedVideoFrames } : null,
          };
        },
        { b64: bytes, timeoutMs: 120_000 },
      );
      console.log(`# chromium: ${JSON.stringify(result)}`);
      assert.equal(result.outcome, 'ended', result.error ?? '');
      assert.equal(result.error, null);
      const expected = recording.duration_ms / 1000;
      assert.ok(Math.abs(result.duration - expected) <= TOLERANCE_S, `duration ${result.duration} s vs ${expected} s`);
      assert.ok(Math.abs(result.currentTime - result.duration) <= TOLERANCE_S, `ended at ${result.currentTime} of ${result.duration} s`);
      assert.deepEqual(result.sizes, SIZES);
      if (result.frames) assert.equal(result.frames.total, SIZES.length * SECONDS_EACH * FPS, 'every frame decoded');
    } finally {
      await browser.close().catch(() => {});
    }
  });

  test('VLC plays it to the end, sizes switching, without a demuxer or decoder error', { skip: noVlc && `VLC not installed (${cvlc})` }, async () => {
    // VLC refuses to run as root.
    const [cmd, pre] = process.getuid?.() === 0 ? ['runuser', ['-u', 'nobody', '--', cvlc]] : [cvlc, []];
    const { stdout, stderr } = await run(
      cmd,
      [...pre, '-vv', '--intf', 'dummy', '--no-dbus', '--vout', 'dummy', '--no-audio', '--play-and-exit', file],
      { timeoutMs: 120_000 },
    );
    const log = `${stdout}${stderr}`;
    fs.writeFileSync(path.join(artifacts, 'resized-download.vlc.log'), log);
    const lines = log.split('\n');
    assert.ok(lines.some((l) => / main input debug: EOF reached/.test(l)), 'VLC reached the end of the file');
    const sizes = [];
    for (const l of lines) {
      const m = / main vout display debug: VoutDisplayEvent 'resize' (\d+x\d+)/.exec(l);
      if (m && sizes.at(-1) !== m[1]) sizes.push(m[1]);
    }
    assert.deepEqual(sizes, SIZES);
    // Errors of the parts that read and decode the file (the machine's missing
    // D-Bus, PulseAudio and hot keys are not about the file), and every
    // complaint of libavcodec's H.264 decoder (its lines start "[h264 @").
    const bad = lines.filter(
      (l) =>
        /\] (mp4 demux|avcodec decoder|h264 packetizer|main decoder|main input|main input source|main video output|main vout display) error/.test(l) ||
        (/^\[h264 @/.test(l) && !/Reinit context/.test(l)),
    );
    assert.deepEqual(bad, []);
  });
});
