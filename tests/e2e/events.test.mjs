// The player's activity view and the activity search, end to end: a recording
// uploaded through the agent API with its events documents (PUT .../events
// before each segment, the segment naming the document's hash), played in
// headless Chromium. The "desktop" shows one flat colour per application in
// front, so a frame tells which moment the player is at:
//   0-10 s xterm (green), 10-58 s the spreadsheet (blue; idle from 20 s to
//   58 s), 58-66 s the browser (red).
// Run: cd tests/e2e && npm test   (needs build/bin/deskaudit-server)
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { frameColor, launchBrowser, nextFrame, signIn, videoState } from './lib/browser.mjs';
import { enrollAgent, enrollmentToken, seedInventory, uploadRecording } from './lib/fixtures.mjs';
import { colourScenes, splitFmp4 } from './lib/media.mjs';
import { isExecutable, serverBin } from './lib/paths.mjs';
import { stopAll, tempDir, waitFor } from './lib/proc.mjs';
import { ADMIN_PASSWORD, ADMIN_USER, ApiClient, ensureWebBuilt, startServer } from './lib/server.mjs';

const artifacts = process.env.DESKAUDIT_E2E_ARTIFACTS || path.join(os.tmpdir(), 'deskaudit-e2e-artifacts');
fs.mkdirSync(artifacts, { recursive: true });
const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

const missing = !isExecutable(serverBin);
if (missing && process.env.CI) throw new Error(`deskaudit-server is missing at ${serverBin}`);

const GREEN = [0x1f, 0x8a, 0x3c];
const BLUE = [0x20, 0x50, 0xc8];
const RED = [0xc8, 0x32, 0x32];
const SCENES = [
  { color: '0x1f8a3c', seconds: 10 },
  { color: '0x2050c8', seconds: 48 },
  { color: '0xc83232', seconds: 8 },
];
const DURATION_MS = 66_000;
const CALC_TITLE = 'payroll.xlsx - LibreOffice Calc';
// The events as the agent reports them, by segment (3 segments of 22 s).
const EVENTS = [
  [
    { t_ms: 0, type: 'session.connect' },
    { t_ms: 200, type: 'window', title: 'alice@desk-e: ~', app: 'xterm', process: 'xterm', pid: 2001 },
    { t_ms: 9800, type: 'app.start', process: 'soffice.bin', pid: 4242 },
    { t_ms: 10_200, type: 'window', title: CALC_TITLE, app: 'libreoffice-calc', process: 'soffice.bin', pid: 4242 },
    { t_ms: 20_000, type: 'idle' },
  ],
  [],
  [
    { t_ms: 58_000, type: 'active' },
    { t_ms: 58_200, type: 'window', title: 'Quarterly report - Mozilla Firefox', app: 'firefox', process: 'firefox', pid: 5151 },
    { t_ms: 63_000, type: 'app.exit', process: 'soffice.bin', pid: 4242 },
  ],
];
const EVENT_COUNT = EVENTS.flat().length;

/** The colour on screen is `want` (each channel within the codec's error). */
function assertColour(got, want, what) {
  assert.ok(got, `${what}: no decoded frame`);
  const off = got.map((c, i) => Math.abs(c - want[i]));
  assert.ok(Math.max(...off) <= 40, `${what}: frame colour ${got} vs ${want}`);
}

describe('activity events in the console', { skip: missing && `deskaudit-server not built (${serverBin})` }, () => {
  let server;
  let browser;
  let page;
  let recId;
  let otherId;

  before(async () => {
    await ensureWebBuilt();
    server = await startServer();
    const admin = await ApiClient.login(server.url);
    const { pool } = await seedInventory(admin, { poolName: 'Payroll desks', policyName: 'Record payroll desks' });
    const { agent } = await enrollAgent(server.url, await enrollmentToken(admin, pool.id), 'desk-e');
    const video = await colourScenes({ scenes: SCENES, out: path.join(tempDir('events-media'), 'scenes.mp4') });
    const segments = splitFmp4(video, EVENTS.length);
    const start = Date.now() - 3_600_000;
    recId = await uploadRecording(agent, {
      username: 'alice',
      startTime: iso(start),
      endTime: iso(start + DURATION_MS),
      segments,
      events: EVENTS,
    });
    // The same screen without events: the search must leave it out.
    otherId = await uploadRecording(agent, {
      username: 'bob',
      startTime: iso(start + 600_000),
      endTime: iso(start + 600_000 + DURATION_MS),
      segments,
    });
    const rec = await admin.call('GET', `/recordings/${recId}`);
    assert.equal(rec.duration_ms, DURATION_MS);
    browser = await launchBrowser();
    page = await browser.newPage();
    await signIn(page, server.url, ADMIN_USER, ADMIN_PASSWORD);
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await stopAll();
  });

  const openPlayer = async (query = '') => {
    await page.goto(`${server.url}/#/recordings/${recId}${query}`);
    await page.getByRole('slider', { name: 'Progress' }).waitFor();
    await waitFor('the video to load', async () => (await videoState(page))?.ready >= 2, { timeoutMs: 20_000 });
  };
  const pause = async () => {
    await page.evaluate(() => document.querySelector('video').pause());
    await page.getByRole('button', { name: 'Play', exact: true }).waitFor();
  };
  /** Waits for the player to settle at about `t` s; returns its state. */
  const settledAt = async (t, what, tolerance = 0.15) =>
    waitFor(what, async () => {
      const s = await videoState(page);
      return !s.seeking && s.ready >= 2 && Math.abs(s.t - t) <= tolerance && s;
    }, { timeoutMs: 15_000 });
  const events = () => page.getByRole('complementary', { name: 'Events' });

  test('timeline: a band per application, the idle stretch shaded, a marker per event; the Events list', async () => {
    await openPlayer();
    await pause();
    const timeline = page.getByRole('group', { name: 'Activity timeline' });
    await timeline.waitFor();
    const bands = timeline.locator('.tl-band');
    await waitFor('three application bands', async () => (await bands.count()) === 3);
    assert.deepEqual(await bands.evaluateAll((els) => els.map((e) => e.dataset.app)), ['xterm', 'libreoffice-calc', 'firefox']);
    // Named for assistive technology and as a tooltip.
    for (const [name, from, to] of [['xterm', '0:00', '0:10'], ['libreoffice-calc', '0:10', '0:58'], ['firefox', '0:58', '1:06']]) {
      const band = timeline.getByRole('img', { name: `${name}, ${from} to ${to}` });
      assert.equal(await band.count(), 1, name);
      assert.match(await band.getAttribute('title'), new RegExp(`^${name}`));
    }
    const idle = timeline.getByRole('img', { name: 'Idle, 0:20 to 0:58' });
    assert.equal(await idle.count(), 1);
    assert.equal(await timeline.locator('.tl-marker').count(), EVENT_COUNT);

    // Under the progress bar, on its scale: a band starts where the slider
    // puts its time.
    const bar = await page.getByRole('slider', { name: 'Progress' }).boundingBox();
    const tl = await timeline.boundingBox();
    assert.ok(Math.abs(tl.x - bar.x) <= 1 && Math.abs(tl.width - bar.width) <= 1, `timeline ${JSON.stringify(tl)} vs bar ${JSON.stringify(bar)}`);
    assert.ok(tl.y >= bar.y + bar.height - 1, 'the timeline is below the progress bar');
    const calc = await timeline.getByRole('img', { name: /^libreoffice-calc,/ }).boundingBox();
    assert.ok(Math.abs(calc.x - (tl.x + (tl.width * 10_200) / DURATION_MS)) <= 2, `calc band at x=${calc.x}`);
    const idleBox = await idle.boundingBox();
    assert.ok(Math.abs(idleBox.width - (tl.width * 38_000) / DURATION_MS) <= 2, `idle shade ${idleBox.width} px wide`);
    // Distinct colours per application.
    const colours = await bands.evaluateAll((els) => els.map((e) => getComputedStyle(e).backgroundColor));
    assert.equal(new Set(colours).size, 3, colours.join(' '));

    // The list beside the video: every event with time, type, app and title.
    const items = events().getByRole('listitem');
    assert.equal(await items.count(), EVENT_COUNT);
    const calcItem = events().getByRole('button', { name: new RegExp(`\\(0:10\\), Window, libreoffice-calc, ${CALC_TITLE}$`) });
    assert.equal(await calcItem.count(), 1);
    assert.match(await calcItem.textContent(), /\d\d:\d\d:\d\dWindowlibreoffice-calcpayroll\.xlsx/);
    // Filter by type: the list and the markers narrow to it.
    await events().getByLabel('Type').selectOption('window');
    assert.equal(await items.count(), 3);
    assert.equal(await timeline.locator('.tl-marker').count(), 3);
    await events().getByLabel('Type').selectOption('');
    assert.equal(await items.count(), EVENT_COUNT);
    await page.screenshot({ path: path.join(artifacts, 'events-01-timeline.png') });
  });

  test('clicking an event in the list seeks to it: the frame is the one drawn then; ] and [ step through events', async () => {
    await openPlayer();
    await pause();
    await events().getByRole('button', { name: /, Window, firefox, / }).click();
    await settledAt(58.2, 'the seek to the browser window');
    await nextFrame(page).catch(() => {});
    assertColour(await frameColor(page), RED, 'at the firefox window event');
    assert.equal(await events().getByRole('button', { name: /, Window, firefox, / }).getAttribute('aria-current'), 'true');

    await events().getByRole('button', { name: new RegExp(`, Window, libreoffice-calc, `) }).click();
    await settledAt(10.2, 'the seek to the spreadsheet window');
    assertColour(await frameColor(page), BLUE, 'at the spreadsheet window event');

    // Keys: ] next (the idle event at 0:20), [ back to the spreadsheet, [ the app start.
    await page.locator('main h1').focus();
    await page.keyboard.press(']');
    await settledAt(20, '] to the idle event');
    await page.keyboard.press('[');
    await settledAt(10.2, '[ back to the spreadsheet window');
    await page.keyboard.press('[');
    await settledAt(9.8, '[ to the app start');
    assertColour(await frameColor(page), GREEN, 'before the spreadsheet came up');
    await page.screenshot({ path: path.join(artifacts, 'events-02-seek.png') });
  });

  test('"Skip idle" jumps over the idle stretch while playing', async () => {
    await openPlayer();
    await pause();
    const skip = page.getByRole('switch', { name: 'Skip idle' });
    assert.equal(await skip.getAttribute('aria-checked'), 'false');
    await skip.click();
    assert.equal(await skip.getAttribute('aria-checked'), 'true');
    // From 0:15 (five seconds before the idle stretch) with the slider's keys.
    const slider = page.getByRole('slider', { name: 'Progress' });
    await slider.focus();
    await page.keyboard.press('Home');
    for (let i = 0; i < 3; i++) await page.keyboard.press('ArrowRight');
    await settledAt(15, 'the slider at 0:15');
    // Every media time the player shows from here on.
    await page.evaluate(() => {
      const v = document.querySelector('video');
      window.__seen = [];
      const onFrame = (_now, meta) => {
        window.__seen.push(meta.mediaTime);
        v.requestVideoFrameCallback(onFrame);
      };
      v.requestVideoFrameCallback(onFrame);
      v.addEventListener('timeupdate', () => window.__seen.push(v.currentTime));
    });
    await page.getByRole('button', { name: 'Play', exact: true }).click();
    await waitFor('playback past the idle stretch', async () => (await videoState(page)).t > 58.6, { timeoutMs: 60_000, intervalMs: 200 });
    const seen = await page.evaluate(() => window.__seen);
    const inside = seen.filter((t) => t > 21 && t < 57.9);
    assert.deepEqual(inside, [], 'no frame of the idle stretch after its first second was shown');
    assert.ok(seen.some((t) => t > 15 && t < 20), 'the seconds before it played');
    await pause();
    await nextFrame(page).catch(() => {});
    assertColour(await frameColor(page), RED, 'after the idle stretch');
    assert.match(await page.locator('.tl-status').textContent(), /Skipped idle time 0:20 to 0:58/);
    // Off again: the setting is remembered for the next recording opened.
    await skip.click();
    assert.equal(await skip.getAttribute('aria-checked'), 'false');
  });

  test('Screen recordings: "Window title" finds the recording and opens it at the matching moment', async () => {
    await page.goto(`${server.url}/#/recordings`);
    const rowOf = (text) => page.getByRole('row').filter({ hasText: text });
    await rowOf('bob').waitFor();
    await page.getByLabel('Window title').fill('PAYROLL.xlsx');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(/window_title=PAYROLL.xlsx/);
    await waitFor('the window title filter', async () => (await rowOf('bob').count()) === 0 && (await rowOf('alice').count()) === 1);
    assert.equal(await rowOf('alice').locator('td.first-match').textContent(), '0:10', 'the first match is shown');
    await page.screenshot({ path: path.join(artifacts, 'events-03-search.png') });
    // Where playback starts (media events do not bubble: caught on the way down).
    await page.evaluate(() => {
      window.__startedAt = null;
      document.addEventListener('playing', (e) => (window.__startedAt ??= e.target.currentTime), true);
    });
    await rowOf('alice').getByRole('button', { name: 'Play back' }).click();
    await page.waitForURL(new RegExp(`#/recordings/${recId}\\?t=10\\.2$`));
    await page.getByRole('slider', { name: 'Progress' }).waitFor();
    const { startedAt } = await waitFor('playback to start', () =>
      page.evaluate(() => (window.__startedAt === null ? null : { startedAt: window.__startedAt })), { timeoutMs: 20_000 });
    assert.ok(Math.abs(startedAt - 10.2) <= 0.25, `playback started at ${startedAt} s`);
    await pause();
    assertColour(await frameColor(page), BLUE, 'at the search hit');

    // Application: matches the WM_CLASS or the process name.
    await page.goto(`${server.url}/#/recordings?app=FireFox`);
    await waitFor('the application filter', async () => (await rowOf('alice').count()) === 1 && (await rowOf('bob').count()) === 0);
    assert.equal(await page.getByLabel('Application').inputValue(), 'FireFox');
    assert.equal(await rowOf('alice').locator('td.first-match').textContent(), '0:58');
    assert.match(await rowOf('alice').getByRole('button', { name: 'Play back' }).getAttribute('href'), /\?t=58\.2$/);
    await page.goto(`${server.url}/#/recordings?app=no-such-app`);
    await page.getByText('No recording matches these filters.').waitFor();
    assert.ok(otherId);
  });
});
