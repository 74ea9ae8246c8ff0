#!/usr/bin/env node
// Player benchmark: how fast the console shows a recording.
//
//   node bench/player/player-bench.mjs [--minutes 60] [--segments 6] [--seeks 10] [--opens 5]
//   (or: cd tests/e2e && npm run bench)
//
// Makes a one-hour recording of several segments (ffmpeg lavfi testsrc2 at
// 2 fps, H.264 in fragmented MP4 with a keyframe fragment every 10 s, cached
// in $TMPDIR), uploads it through the agent API to a real deskaudit-server
// (embedded store: SQLite + local directory), then in headless Chromium:
//   - open: click "Play back" in the recordings list -> first video frame
//     presented (requestVideoFrameCallback), first (cold: player chunk not
//     cached) and warm opens;
//   - seek: set the position anywhere in the hour -> the frame of the new
//     position presented, over --seeks positions spread over the hour.
// Targets: open < 1 s, seek < 300 ms (p95). Prints figures; asserts nothing.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { launchBrowser, signIn } from '../../tests/e2e/lib/browser.mjs';
import { enrollAgent, enrollmentToken, seedInventory, uploadRecording } from '../../tests/e2e/lib/fixtures.mjs';
import { splitFmp4, synthesize } from '../../tests/e2e/lib/media.mjs';
import { stopAll } from '../../tests/e2e/lib/proc.mjs';
import { ADMIN_PASSWORD, ADMIN_USER, ApiClient, ensureWebBuilt, startServer } from '../../tests/e2e/lib/server.mjs';

const { values: opt } = parseArgs({
  options: {
    minutes: { type: 'string', default: '60' },
    segments: { type: 'string', default: '6' },
    seeks: { type: 'string', default: '10' },
    opens: { type: 'string', default: '5' },
  },
});
const minutes = Number(opt.minutes);
const segmentCount = Number(opt.segments);
const seekCount = Number(opt.seeks);
const openCount = Number(opt.opens);
for (const [k, v] of Object.entries({ minutes, segments: segmentCount, seeks: seekCount, opens: openCount })) {
  if (!Number.isInteger(v) || v < 1 || v > 1000) throw new Error(`--${k} must be a whole number from 1 to 1000`);
}

const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};
const ms = (x) => `${x.toFixed(0)} ms`;

async function main() {
  const seconds = minutes * 60;
  const cache = path.join(os.tmpdir(), `deskaudit-bench-desktop-${seconds}s-2fps-g20.mp4`);
  let t = Date.now();
  if (!fs.existsSync(cache)) {
    process.stdout.write(`generating a ${minutes}-minute recording (ffmpeg testsrc2, 2 fps, 1280x720)... `);
    await synthesize({ seconds, fps: 2, gop: 20, out: `${cache}.tmp` });
    fs.renameSync(`${cache}.tmp`, cache);
    console.log(`${((Date.now() - t) / 1000).toFixed(1)} s`);
  }
  const media = fs.readFileSync(cache);
  const segments = splitFmp4(media, segmentCount);

  await ensureWebBuilt();
  const server = await startServer();
  const admin = await ApiClient.login(server.url);
  const { pool } = await seedInventory(admin, { poolName: 'Bench pool', policyName: 'Bench policy' });
  const { agent, computerId } = await enrollAgent(server.url, await enrollmentToken(admin, pool.id), 'bench-desk');
  t = Date.now();
  const start = Date.now() - seconds * 1000 - 60_000;
  const recId = await uploadRecording(agent, { username: 'bench', startTime: iso(start), endTime: iso(start + seconds * 1000), segments });
  const rec = await admin.call('GET', `/recordings/${recId}`);
  console.log(
    `recording ${recId}: ${rec.segment_count} segments, ${(rec.size_bytes / 1048576).toFixed(1)} MiB, ` +
      `${(rec.duration_ms / 60000).toFixed(1)} min; upload ${((Date.now() - t) / 1000).toFixed(1)} s`,
  );

  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    await signIn(page, server.url, ADMIN_USER, ADMIN_PASSWORD);
    const listUrl = `${server.url}/#/recordings?computer_id=${computerId}`;

    // Open: click "Play back" -> first frame presented.
    const opens = [];
    for (let i = 0; i < openCount; i++) {
      await page.goto(listUrl);
      await page.getByRole('button', { name: 'Play back' }).first().waitFor();
      const dt = await page.evaluate(
        () =>
          new Promise((resolve, reject) => {
            const btn = [...document.querySelectorAll('[role=button]')].find((b) => b.textContent === 'Play back');
            const t0 = performance.now();
            const timer = setTimeout(() => reject(new Error('no frame within 20 s')), 20_000);
            btn.click();
            const poll = () => {
              const v = document.querySelector('video');
              if (!v) return requestAnimationFrame(poll);
              v.requestVideoFrameCallback(() => {
                clearTimeout(timer);
                resolve(performance.now() - t0);
              });
            };
            poll();
          }),
      );
      opens.push(dt);
    }

    // Seeks: positions spread over the hour (deterministic), playing at 1x.
    await page.waitForFunction(() => {
      const v = document.querySelector('video');
      return v && v.readyState >= 3 && !v.paused;
    });
    const durationS = rec.duration_ms / 1000;
    const targets = Array.from({ length: seekCount }, (_, i) => ((i * 0.618034 + 0.05) % 0.95) * durationS);
    const seeks = [];
    for (const target of targets) {
      const dt = await page.evaluate(
        (to) =>
          new Promise((resolve, reject) => {
            const v = document.querySelector('video');
            const timer = setTimeout(() => reject(new Error(`no frame at ${to} s within 10 s`)), 10_000);
            const t0 = performance.now();
            const onFrame = (_now, meta) => {
              // The first frame presented at the new position (within 1 s).
              if (Math.abs(meta.mediaTime - to) < 1.0) {
                clearTimeout(timer);
                resolve(performance.now() - t0);
              } else {
                v.requestVideoFrameCallback(onFrame);
              }
            };
            v.requestVideoFrameCallback(onFrame);
            v.currentTime = to;
          }),
        target,
      );
      seeks.push(dt);
      await page.waitForTimeout(300);
    }

    // The server's compression of the player's code, which a cold open waits for.
    const html = await (await fetch(`${server.url}/`)).text();
    const indexJs = html.match(/src="(\/assets\/[^"]+\.js)"/)?.[1];
    const indexCode = indexJs ? await (await fetch(`${server.url}${indexJs}`)).text() : '';
    const playChunk = indexCode.match(/play-[\w-]+\.js/)?.[0];
    const playJs = playChunk && `assets/${playChunk}`;
    const ttfb = async (enc) => {
      const t0 = performance.now();
      const r = await fetch(`${server.url}/${playJs}`, { headers: { 'Accept-Encoding': enc } });
      await r.arrayBuffer();
      return `${(performance.now() - t0).toFixed(0)} ms (${r.headers.get('content-encoding') ?? 'identity'})`;
    };
    const chunkTimes = playJs ? `br ${await ttfb('br')}, gzip ${await ttfb('gzip')}, none ${await ttfb('identity')}` : 'not found';

    const coldOpen = opens[0];
    const warm = opens.slice(1);
    console.log('');
    console.log(`player benchmark (${minutes}-minute recording, ${rec.segment_count} segments, headless Chromium ${browser.browser()?.version() ?? ''})`);
    console.log(`  open (click Play back -> first frame), cold: ${ms(coldOpen)}   target < 1000 ms`);
    if (warm.length) console.log(`  open, warm (n=${warm.length}): p50 ${ms(pct(warm, 50))}  p95 ${ms(pct(warm, 95))}  max ${ms(Math.max(...warm))}`);
    console.log(`  seek -> frame shown (n=${seeks.length}): p50 ${ms(pct(seeks, 50))}  p95 ${ms(pct(seeks, 95))}  max ${ms(Math.max(...seeks))}   target < 300 ms`);
    console.log(`  server time for the player chunk (${playJs}): ${chunkTimes}`);
    console.log(`  seeks: ${seeks.map((x) => x.toFixed(0)).join(' ')} ms`);
  } finally {
    await browser.close();
    await stopAll();
  }
}

main().catch(async (e) => {
  console.error(`player-bench: ${e.stack || e}`);
  await stopAll();
  process.exit(1);
});
