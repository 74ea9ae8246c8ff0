// The console plays a recording's sound: a recording made by our recorder
// (deskaudit-record, the agent's record::Recorder with --pulse-server) of an
// Xvfb desktop and a PulseAudio server of the test's own, while that server
// plays silence, a 1 kHz tone of 3 s, silence. Uploaded as the agent does and
// played in headless Chromium through hls.js/MediaSource: the decoded audio
// has energy where the tone was and none in the silence before it (the
// encoder's silence packets), Mute and Volume work.
// Run: cd tests/e2e && npm test   (needs build/bin/deskaudit-server and
// build/bin/deskaudit-record, Xvfb, pulseaudio, pactl, paplay, sox)
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { launchBrowser } from './lib/browser.mjs';
import { enrollAgent, enrollmentToken, seedInventory, uploadRecording } from './lib/fixtures.mjs';
import { startPulse, startXvfb } from './lib/media.mjs';
import { isExecutable, onPath, recordBin, serverBin } from './lib/paths.mjs';
import { run, sleep, start, stopAll, tempDir, waitFor } from './lib/proc.mjs';
import { ADMIN_PASSWORD, ADMIN_USER, ApiClient, ensureWebBuilt, startServer } from './lib/server.mjs';

const missing = [
  ...[serverBin, recordBin].filter((p) => !isExecutable(p)),
  ...['Xvfb', 'pulseaudio', 'pactl', 'paplay', 'sox'].filter((t) => !onPath(t)),
];
if (missing.length && process.env.CI) throw new Error(`missing for the audio e2e test: ${missing.join(', ')}`);
const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

const SILENCE_BEFORE_MS = 2000;
const TONE_S = 3;
const RECORD_S = 8;

/**
 * Records RECORD_S seconds of a fresh Xvfb display and PulseAudio server
 * with deskaudit-record while paplay plays the tone into the server's sink
 * SILENCE_BEFORE_MS after the first frame. Returns the segment files, the
 * media start (epoch ms), the length and the tone's start in media seconds
 * (when paplay was started: its sound begins a little later).
 */
async function recordTone(logDir) {
  const xvfb = await startXvfb({ width: 640, height: 360, logFile: path.join(logDir, 'xvfb.log') });
  const pulse = await startPulse({ dir: tempDir('pulse'), logFile: path.join(logDir, 'pulse.log') });
  const tone = path.join(logDir, 'tone.wav');
  await run('sox', ['-D', '-n', '-r', '48000', '-c', '2', '-b', '16', tone, 'synth', String(TONE_S), 'sine', '1000', 'gain', '-6']);
  const out = path.join(logDir, 'segments');
  const recLog = path.join(logDir, 'record.log');
  const rec = start(recordBin, [
    '--display', xvfb.display, '--out', out, '--fps', '5', '--segment-max-ms', '3000',
    '--pulse-server', pulse.server, '--seconds', String(RECORD_S),
  ], { logFile: recLog });
  const recLogText = () => (fs.existsSync(recLog) ? fs.readFileSync(recLog, 'utf8') : '');
  const mediaStartMs = Number(await waitFor('the recorder\'s first frame', () => {
    if (rec.exitCode !== null) throw Object.assign(new Error(`deskaudit-record exited: ${recLogText()}`), { fatal: true });
    return /media_start_epoch_ms=(\d+)/.exec(recLogText())?.[1];
  }, { timeoutMs: 20_000 }));
  await sleep(Math.max(0, mediaStartMs + SILENCE_BEFORE_MS - Date.now()));
  const toneStartS = (Date.now() - mediaStartMs) / 1000;
  await run('paplay', ['--server', pulse.server, '--device', pulse.sink, tone], { timeoutMs: 30_000 });
  const r = await rec.exitPromise;
  assert.equal(r.code, 0, `deskaudit-record: ${JSON.stringify(r)}\n${recLogText()}`);
  await pulse.stop();
  await xvfb.stop();
  const elapsedMs = Number(/elapsed_ms=(\d+)/.exec(recLogText())?.[1]);
  const files = fs.readdirSync(out).filter((f) => /^seg-\d+\.mp4$/.test(f)).sort();
  assert.ok(files.length >= 2, `segments written: ${fs.readdirSync(out).join(' ')}\n${recLogText()}`);
  return { segments: files.map((f) => fs.readFileSync(path.join(out, f))), mediaStartMs, elapsedMs, toneStartS };
}

describe('console audio', { skip: missing.length > 0 && `missing: ${missing.join(', ')}` }, () => {
  let server;
  let browser;
  let page;
  let recId;
  let toneStartS;

  before(async () => {
    await ensureWebBuilt();
    server = await startServer();
    const admin = await ApiClient.login(server.url);
    const { pool } = await seedInventory(admin);
    const token = await enrollmentToken(admin, pool.id);
    const { agent } = await enrollAgent(server.url, token, 'desk-sound');
    const recorded = await recordTone(tempDir('audio'));
    toneStartS = recorded.toneStartS;
    recId = await uploadRecording(agent, {
      username: 'dora',
      startTime: iso(recorded.mediaStartMs),
      endTime: iso(recorded.mediaStartMs + recorded.elapsedMs),
      segments: recorded.segments,
    });
    browser = await launchBrowser();
    page = await browser.newPage();
    await page.goto(`${server.url}/`);
    await page.getByLabel('User name').fill(ADMIN_USER);
    await page.getByLabel('Password').fill(ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Cloud computers' }).waitFor();
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await stopAll();
  });

  test('player: the recording plays with sound; Mute and Volume have names and act', async (t) => {
    await page.goto(`${server.url}/#/recordings/${recId}`);
    const details = page.getByRole('complementary', { name: 'Recording details' });
    await details.waitFor();
    await waitFor('details say audio', async () => (await details.textContent()).includes('AudioYes'));
    const mute = page.getByRole('button', { name: 'Mute' });
    const volume = page.getByRole('slider', { name: 'Volume' });
    assert.equal(await mute.count(), 1);
    assert.equal(await volume.count(), 1);
    // Decoded sound: the element's audio through Web Audio, measured while
    // the playhead is inside [from, to] (seeked there first).
    await page.evaluate(() => {
      const video = document.querySelector('video');
      const ctx = new AudioContext();
      const analyser = ctx.createAnalyser();
      ctx.createMediaElementSource(video).connect(analyser);
      analyser.connect(ctx.destination);
      window.__energy = async (from, to) => {
        await ctx.resume();
        video.pause();
        if (Math.abs(video.currentTime - from) > 0.05) {
          const seeked = new Promise((r) => video.addEventListener('seeked', r, { once: true }));
          video.currentTime = from;
          await seeked;
        }
        await video.play();
        const buf = new Float32Array(analyser.fftSize);
        let best = 0;
        let samples = 0;
        for (let i = 0; i < 400 && video.currentTime < to; i++) {
          await new Promise((r) => setTimeout(r, 50));
          const t = video.currentTime;
          if (t < from + 0.1 || t > to) continue;
          analyser.getFloatTimeDomainData(buf);
          best = Math.max(best, Math.sqrt(buf.reduce((s, x) => s + x * x, 0) / buf.length));
          samples++;
        }
        video.pause();
        return { rms: best, samples, at: video.currentTime };
      };
    });
    const quiet = await page.evaluate(([from, to]) => window.__energy(from, to), [0.2, toneStartS - 0.3]);
    assert.ok(quiet.samples > 0, `no samples in the silence: ${JSON.stringify(quiet)}`);
    assert.ok(quiet.rms < 0.01, `decoded audio energy in the silence before the tone ${JSON.stringify(quiet)}`);
    // paplay's sound starts a little after it is started: measure well inside the tone.
    const tone = await page.evaluate(([from, to]) => window.__energy(from, to), [toneStartS + 0.8, toneStartS + TONE_S - 0.5]);
    t.diagnostic(`tone started at ${toneStartS} s; silence ${JSON.stringify(quiet)}; tone ${JSON.stringify(tone)}`);
    assert.ok(tone.samples > 0, `no samples in the tone: ${JSON.stringify(tone)}`);
    assert.ok(tone.rms > 0.05, `decoded audio energy in the tone ${JSON.stringify(tone)} (tone started at ${toneStartS} s)`);
    await mute.click();
    await waitFor('Mute pressed', async () => (await mute.getAttribute('aria-pressed')) === 'true');
    assert.equal(await page.evaluate(() => document.querySelector('video').muted), true);
    await mute.click();
    await volume.fill('40');
    assert.equal(await page.evaluate(() => document.querySelector('video').volume), 0.4);
    assert.equal(await volume.getAttribute('aria-valuetext'), '40%');
  });
});
