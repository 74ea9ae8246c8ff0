// The console plays a recording's sound: a recording with an audio track (a
// 1 kHz tone as Opus, as the agent records it) in headless Chromium through
// hls.js/MediaSource; the decoded audio has energy, Mute and Volume work.
// Run: cd tests/e2e && npm test   (needs build/bin/deskaudit-server)
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { launchBrowser } from './lib/browser.mjs';
import { enrollAgent, enrollmentToken, seedInventory, uploadRecording } from './lib/fixtures.mjs';
import { splitFmp4 } from './lib/media.mjs';
import { isExecutable, serverBin } from './lib/paths.mjs';
import { run, stopAll, tempDir, waitFor } from './lib/proc.mjs';
import { ADMIN_PASSWORD, ADMIN_USER, ApiClient, ensureWebBuilt, startServer } from './lib/server.mjs';

const missing = !isExecutable(serverBin);
if (missing && process.env.CI) throw new Error(`deskaudit-server is missing at ${serverBin}`);
const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

describe('console audio', { skip: missing && `deskaudit-server not built (${serverBin})` }, () => {
  let server;
  let browser;
  let page;
  let recId;

  before(async () => {
    await ensureWebBuilt();
    server = await startServer();
    const admin = await ApiClient.login(server.url);
    const { pool } = await seedInventory(admin);
    const token = await enrollmentToken(admin, pool.id);
    const { agent } = await enrollAgent(server.url, token, 'desk-sound');
    const out = path.join(tempDir('audio'), 'tone.mp4');
    await run('ffmpeg', [
      '-hide_banner', '-loglevel', 'error', '-y',
      '-f', 'lavfi', '-i', 'testsrc2=s=320x240:r=5:d=8',
      '-f', 'lavfi', '-i', 'sine=frequency=1000:sample_rate=48000:d=8',
      '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-g', '5',
      '-c:a', 'libopus', '-ac', '2', '-b:a', '48k',
      '-movflags', 'frag_keyframe+empty_moov+default_base_moof', '-f', 'mp4', out,
    ]);
    const start = Date.now() - 3_600_000;
    recId = await uploadRecording(agent, {
      username: 'dora',
      startTime: iso(start),
      endTime: iso(start + 8000),
      segments: splitFmp4(fs.readFileSync(out), 2),
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

  test('player: the recording plays with sound; Mute and Volume have names and act', async () => {
    await page.goto(`${server.url}/#/recordings/${recId}`);
    const details = page.getByRole('complementary', { name: 'Recording details' });
    await details.waitFor();
    await waitFor('details say audio', async () => (await details.textContent()).includes('AudioYes'));
    const mute = page.getByRole('button', { name: 'Mute' });
    const volume = page.getByRole('slider', { name: 'Volume' });
    assert.equal(await mute.count(), 1);
    assert.equal(await volume.count(), 1);
    // Decoded sound: the element's audio through Web Audio, measured while playing.
    const rms = await page.evaluate(async () => {
      const video = document.querySelector('video');
      const ctx = new AudioContext();
      const analyser = ctx.createAnalyser();
      ctx.createMediaElementSource(video).connect(analyser);
      analyser.connect(ctx.destination);
      if (video.paused) await video.play();
      const buf = new Float32Array(analyser.fftSize);
      let best = 0;
      for (let i = 0; i < 40; i++) {
        await new Promise((r) => setTimeout(r, 50));
        analyser.getFloatTimeDomainData(buf);
        best = Math.max(best, Math.sqrt(buf.reduce((s, x) => s + x * x, 0) / buf.length));
      }
      return best;
    });
    assert.ok(rms > 0.05, `decoded audio energy ${rms}`);
    await mute.click();
    await waitFor('Mute pressed', async () => (await mute.getAttribute('aria-pressed')) === 'true');
    assert.equal(await page.evaluate(() => document.querySelector('video').muted), true);
    await mute.click();
    await volume.fill('40');
    assert.equal(await page.evaluate(() => document.querySelector('video').volume), 0.4);
    assert.equal(await volume.getAttribute('aria-valuetext'), '40%');
  });
});
