// End-to-end tests of the web console and player: a real deskaudit-server
// (temp data dir), real screen recordings made under Xvfb, headless Chromium.
// Run: cd tests/e2e && npm test   (needs build/bin/deskaudit-server)
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { launchBrowser, nextFrame, nonBlackShare, videoState } from './lib/browser.mjs';
import { enrollAgent, enrollmentToken, putSegment, recordDesktop, seedInventory, uploadRecording } from './lib/fixtures.mjs';
import { decodeAll, ffprobe } from './lib/media.mjs';
import { cliBin, isExecutable, serverBin } from './lib/paths.mjs';
import { sleep, stopAll, waitFor } from './lib/proc.mjs';
import { ADMIN_PASSWORD, ADMIN_USER, ApiClient, ensureWebBuilt, startServer } from './lib/server.mjs';

const artifacts = process.env.DESKAUDIT_E2E_ARTIFACTS || path.join(os.tmpdir(), 'deskaudit-e2e-artifacts');
fs.mkdirSync(artifacts, { recursive: true });
const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const DAY_MS = 86_400_000;

// Without a server binary there is nothing to test: skip, except in CI.
const missing = !isExecutable(serverBin);
if (missing && process.env.CI) throw new Error(`deskaudit-server is missing at ${serverBin}`);

describe('deskaudit console', { skip: missing && `deskaudit-server not built (${serverBin})` }, () => {
  let server;
  let admin;
  let browser;
  let page;
  const data = {};

  before(async () => {
    await ensureWebBuilt();
    server = await startServer();
    admin = await ApiClient.login(server.url);
    const { pool, policy } = await seedInventory(admin);
    data.pool = pool;
    data.policy = policy;
    const token = await enrollmentToken(admin, pool.id);

    // Recording A: alice's real session on desk-a, several segments.
    const a = await recordDesktop({ url: server.url, admin, token, hostname: 'desk-a', username: 'alice' });
    data.how = a.how;
    data.a = await admin.call('GET', `/recordings/${a.recordingId}`);
    data.computerA = a.computerId;
    console.log(`# recording A made by: ${a.how}; ${data.a.segment_count} segments, ${data.a.duration_ms} ms`);

    // Recording B (bob, two days ago) and C (carol, still recording) on
    // desk-b, made of recording A's real segment files.
    const segs = [];
    for (const s of data.a.segments) {
      const res = await admin.call('GET', `/recordings/${data.a.id}/segments/${s.seq}`, { raw: true });
      assert.equal(res.status, 200);
      segs.push(Buffer.from(await res.arrayBuffer()));
    }
    const { agent: agentB, computerId: computerB } = await enrollAgent(server.url, token, 'desk-b');
    data.computerB = computerB;
    data.agentB = agentB;
    data.segs = segs;
    const bStart = Date.now() - 2 * DAY_MS;
    data.b = await uploadRecording(agentB, {
      username: 'bob',
      startTime: iso(bStart),
      endTime: iso(bStart + data.a.duration_ms),
      segments: segs,
    });
    data.bStart = bStart;
    data.c = await uploadRecording(agentB, { username: 'carol', startTime: iso(Date.now() - 60_000), segments: segs.slice(0, 1) });

    browser = await launchBrowser();
    page = await browser.newPage();
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await stopAll();
  });

  const navLink = (name) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });
  const rowOf = (text) => page.getByRole('row').filter({ hasText: text });
  const shot = async (name) => {
    const file = path.join(artifacts, `${name}.png`);
    await page.screenshot({ path: file });
    return file;
  };

  test('sign in: a wrong password is refused readably, the right one opens the console', async () => {
    await page.goto(`${server.url}/`);
    await page.getByLabel('User name').fill(ADMIN_USER);
    await page.getByLabel('Password').fill('not-the-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    assert.ok((await alert.textContent()).length > 5, 'the refusal says why');
    await shot('01-sign-in');
    await page.getByLabel('Password').fill(ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Cloud computers' }).waitFor();
    for (const name of ['Cloud computers', 'Computer pools', 'Screen recordings', 'Policies']) {
      assert.equal(await page.getByRole('link', { name, exact: true }).count(), 1, name);
    }
  });

  test('way 1: Cloud computers > actions > Recording playback (keyboard only)', async () => {
    await navLink('Cloud computers').click();
    const row = rowOf(data.computerA);
    await row.waitFor();
    const text = await row.textContent();
    assert.match(text, /desk-a|Finance/);
    assert.match(text, new RegExp(data.policy.name));
    await shot('02-cloud-computers');
    const menuButton = row.getByRole('button', { name: /Actions for/ });
    await menuButton.focus();
    await page.keyboard.press('Enter');
    const item = page.getByRole('menuitem', { name: 'Recording playback' });
    await item.waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Recording playback');
    await shot('03-actions-menu');
    await page.keyboard.press('Enter');
    await page.waitForURL(/#\/recordings\?computer_id=/);
    await rowOf('alice').waitFor();
    assert.equal(await rowOf('bob').count(), 0, "only desk-a's recordings");
    await rowOf('alice').getByRole('button', { name: 'Play back' }).focus();
    await page.keyboard.press('Enter');
    await page.waitForURL(new RegExp(`#/recordings/${data.a.id}$`));
    await page.getByRole('slider', { name: 'Progress' }).waitFor();
  });

  test('way 2: Computer pools > pool > Recording playback', async () => {
    await navLink('Computer pools').click();
    await page.getByRole('link', { name: data.pool.name }).click();
    await page.getByRole('heading', { name: `Pool ${data.pool.name}` }).waitFor();
    const row = rowOf(data.computerA);
    await row.waitFor();
    assert.equal(await rowOf(data.computerB).count(), 1, 'both computers are in the pool');
    await shot('04-pool');
    await row.getByRole('button', { name: /Actions for/ }).click();
    await page.getByRole('menuitem', { name: 'Recording playback' }).click();
    await rowOf('alice').getByRole('button', { name: 'Play back' }).click();
    await page.waitForURL(new RegExp(`#/recordings/${data.a.id}$`));
  });

  test('way 3: Screen recordings filtered by computer ID, user name and time; filters live in the URL', async () => {
    await navLink('Screen recordings').click();
    await rowOf('bob').waitFor();
    // Newest first: carol (a minute ago), alice (now-ish), bob (two days ago) last.
    const users = await page.locator('tbody tr td:nth-child(2)').allTextContents();
    assert.deepEqual(users.at(-1), 'bob');
    await shot('05-screen-recordings');

    await page.getByLabel('Computer ID').fill(data.computerA);
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(new RegExp(`computer_id=${data.computerA}`));
    await waitFor('the computer filter', async () => (await rowOf('bob').count()) === 0 && (await rowOf('alice').count()) === 1);

    await page.getByLabel('Computer ID').fill('');
    await page.getByLabel('User name').fill('bob');
    await page.getByRole('button', { name: 'Search' }).click();
    await waitFor('the user filter', async () => (await rowOf('alice').count()) === 0 && (await rowOf('bob').count()) === 1);

    // Time range: the day of bob's recording only.
    await page.getByLabel('User name').fill('');
    const local = (ms) => {
      const d = new Date(ms);
      const p = (n) => String(n).padStart(2, '0');
      return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
    };
    await page.getByLabel('From').fill(local(data.bStart - 3_600_000));
    await page.getByLabel('To').fill(local(data.bStart + 3_600_000));
    await page.getByRole('button', { name: 'Search' }).click();
    await waitFor('the time filter', async () => (await rowOf('bob').count()) === 1 && (await rowOf('alice').count()) === 0 && (await rowOf('carol').count()) === 0);
    const shared = page.url();
    assert.match(shared, /start_time=.*end_time=/);

    // A shared link reproduces the same list in a fresh page.
    const other = await browser.newPage();
    await other.goto(shared);
    await other.getByRole('row').filter({ hasText: 'bob' }).waitFor();
    assert.equal(await other.getByRole('row').filter({ hasText: 'alice' }).count(), 0);
    assert.notEqual(await other.getByLabel('From').inputValue(), '');
    await other.close();

    // Paged: two a page, newest first, the page token in the URL.
    await page.goto(`${server.url}/#/recordings?limit=2`);
    await rowOf('alice').waitFor();
    assert.equal(await page.locator('tbody tr').count(), 2);
    await page.getByRole('link', { name: 'Next page' }).click();
    await page.waitForURL(/next_token=/);
    await rowOf('bob').waitFor();
    assert.equal(await page.locator('tbody tr').count(), 1);
    assert.equal(await page.getByRole('link', { name: 'Next page' }).count(), 0);
    await page.getByRole('link', { name: 'First page' }).click();
    await rowOf('alice').waitFor();

    // Through the filters the way in ends at the same player.
    await page.goto(`${server.url}/#/recordings?computer_id=${data.computerA}&username=alice`);
    await rowOf('alice').getByRole('button', { name: 'Play back' }).click();
    await page.waitForURL(new RegExp(`#/recordings/${data.a.id}$`));
  });

  test('recording status: the checklist of a computer', async () => {
    await navLink('Cloud computers').click();
    await rowOf(data.computerB).getByRole('button', { name: /Actions for/ }).click();
    await page.getByRole('menuitem', { name: 'Recording status' }).click();
    await page.getByRole('list', { name: 'Checks' }).waitFor();
    const items = await page.getByRole('list', { name: 'Checks' }).getByRole('listitem').count();
    assert.ok(items >= 3, `${items} checks`);
    await shot('06-recording-status');
  });

  test('player: play, drag to 75 %, speed 4x, keyboard, full screen, picture-in-picture', async () => {
    await page.goto(`${server.url}/#/recordings/${data.a.id}`);
    const slider = page.getByRole('slider', { name: 'Progress' });
    await slider.waitFor();
    // Metadata beside the video.
    const meta = page.getByRole('complementary', { name: 'Recording details' });
    for (const want of ['alice', data.computerA, data.policy.name, String(data.a.segment_count)]) {
      assert.ok((await meta.textContent()).includes(want), `metadata shows ${want}`);
    }
    // Autoplay started it; the first frame has content.
    await waitFor('playback to start', async () => (await videoState(page))?.t > 0.5, { timeoutMs: 15_000 });
    await page.getByRole('button', { name: 'Pause' }).click();
    await page.getByRole('button', { name: 'Play' }).waitFor();
    assert.equal((await videoState(page)).paused, true);
    await shot('07-player');

    // Drag the progress bar to 75 %.
    const durationS = data.a.duration_ms / 1000;
    const box = await slider.boundingBox();
    await page.mouse.move(box.x + 3, box.y + box.height / 2);
    await page.mouse.down();
    for (let i = 1; i <= 10; i++) await page.mouse.move(box.x + (box.width * 0.75 * i) / 10, box.y + box.height / 2);
    const tip = page.getByRole('tooltip');
    assert.match(await tip.textContent(), /\d+:\d\d/, 'the tooltip shows the time under the pointer');
    await shot('08-player-drag');
    await page.mouse.up();
    await waitFor('the seek to 75 %', async () => {
      const s = await videoState(page);
      return !s.seeking && s.ready >= 2 && Math.abs(s.t - durationS * 0.75) < 1.0;
    }, { timeoutMs: 10_000 });
    const now = Number(await slider.getAttribute('aria-valuenow'));
    assert.ok(Math.abs(now - durationS * 0.75) < 1.0, `aria-valuenow ${now} vs ${durationS * 0.75}`);
    assert.ok((await nonBlackShare(page)) > 0.05, 'a decoded, non-black frame is on screen');
    // Wall-clock time of the frame = start + media time.
    const wallMs = Number(await page.locator('time.wall').getAttribute('data-epoch-ms'));
    const expected = new Date(data.a.start_time).getTime() + (await videoState(page)).t * 1000;
    assert.ok(Math.abs(wallMs - expected) < 1500, `frame time ${wallMs} vs ${expected}`);

    // Speed 4x: media time runs about 4x wall time.
    await page.getByRole('slider', { name: 'Progress' }).focus();
    await page.keyboard.press('Home');
    await page.getByLabel('Playback speed').selectOption('4');
    await page.getByRole('button', { name: 'Play' }).click();
    await waitFor('playing at 4x', async () => {
      const s = await videoState(page);
      return !s.paused && s.rate === 4 && s.t > 0.3;
    });
    const t0 = (await videoState(page)).t;
    const w0 = Date.now();
    await sleep(2000);
    const t1 = (await videoState(page)).t;
    const ratio = (t1 - t0) / ((Date.now() - w0) / 1000);
    assert.ok(ratio > 3.0 && ratio < 4.8, `media/wall time ratio ${ratio.toFixed(2)} at 4x`);
    await page.getByLabel('Playback speed').selectOption('1');

    // Keyboard: space pauses, arrows step 5 s.
    await page.locator('main h1').focus();
    await page.keyboard.press('Space');
    await waitFor('space to pause', async () => (await videoState(page)).paused);
    const before5 = (await videoState(page)).t;
    await page.keyboard.press('ArrowRight');
    await waitFor('ArrowRight +5 s', async () => Math.abs((await videoState(page)).t - (before5 + 5)) < 0.3);
    await page.keyboard.press('ArrowLeft');
    await waitFor('ArrowLeft -5 s', async () => Math.abs((await videoState(page)).t - before5) < 0.3);

    // Full screen, then leave it.
    await page.getByRole('button', { name: 'Full screen' }).click();
    await waitFor('full screen', () => page.evaluate(() => document.fullscreenElement !== null));
    await shot('09-player-fullscreen');
    await page.getByRole('button', { name: 'Full screen' }).click();
    await waitFor('leaving full screen', () => page.evaluate(() => document.fullscreenElement === null));

    // Picture-in-picture: entered, or the button is disabled with a reason.
    const pip = page.getByRole('button', { name: 'Picture-in-picture' });
    if (await pip.isEnabled()) {
      await pip.click();
      await waitFor('picture-in-picture or its refusal', () =>
        page.evaluate(() => document.pictureInPictureElement !== null || document.querySelector('#pip-reason').textContent !== ''),
      );
    }
    const inPip = await page.evaluate(() => document.pictureInPictureElement === document.querySelector('video'));
    console.log(`# picture-in-picture: ${inPip ? 'entered' : `unavailable (${await page.locator('#pip-reason').textContent()})`}`);
    if (inPip) {
      assert.equal(await pip.getAttribute('aria-pressed'), 'true');
      await pip.click();
      await waitFor('leaving picture-in-picture', () => page.evaluate(() => document.pictureInPictureElement === null));
    } else {
      assert.equal(await pip.isDisabled(), true);
      assert.match(await page.locator('#pip-reason').textContent(), /Picture-in-picture unavailable: .+/);
    }
  });

  test('player: playback continues across a segment boundary without a stall', async () => {
    assert.ok(data.a.segments.length >= 2, 'recording A has several segments');
    const boundaryS = data.a.segments[1].start_offset_ms / 1000;
    await page.goto(`${server.url}/#/recordings/${data.a.id}`);
    await page.getByRole('slider', { name: 'Progress' }).waitFor();
    await waitFor('the video to load', async () => (await videoState(page))?.ready >= 2, { timeoutMs: 15_000 });
    await page.evaluate((t) => {
      const v = document.querySelector('video');
      v.pause();
      window.__stalls = 0;
      v.addEventListener('waiting', () => {
        if (v.currentTime > t - 1.5) window.__stalls++;
      });
      v.currentTime = Math.max(0, t - 2);
    }, boundaryS);
    await waitFor('the seek before the boundary', async () => {
      const s = await videoState(page);
      return !s.seeking && s.ready >= 3;
    });
    const framesBefore = await page.evaluate(() => document.querySelector('video').getVideoPlaybackQuality().totalVideoFrames);
    await page.getByRole('button', { name: 'Play' }).click();
    const w0 = Date.now();
    // 2 s into the next segment, or its end when it is shorter.
    const goal = Math.min(boundaryS + 2, data.a.duration_ms / 1000 - 0.3);
    await waitFor('playback past the boundary', async () => (await videoState(page)).t > goal, { timeoutMs: 15_000 });
    const elapsed = (Date.now() - w0) / 1000;
    const span = goal - (boundaryS - 2);
    assert.ok(elapsed < span + 3, `${span.toFixed(1)} s across the boundary took ${elapsed.toFixed(1)} s`);
    assert.equal(await page.evaluate(() => window.__stalls), 0, 'no waiting/stall at the boundary');
    const framesAfter = await page.evaluate(() => document.querySelector('video').getVideoPlaybackQuality().totalVideoFrames);
    assert.ok(framesAfter > framesBefore, 'frames were decoded across the boundary');
    await nextFrame(page);
    assert.ok((await nonBlackShare(page)) > 0.05);
    await page.getByRole('button', { name: 'Pause' }).click();
  });

  test('download: one MP4 whose duration ffprobe reads as the recording’s', async () => {
    await page.goto(`${server.url}/#/recordings?computer_id=${data.computerA}`);
    const row = rowOf('alice');
    const [download] = await Promise.all([page.waitForEvent('download'), row.getByRole('button', { name: 'Download' }).click()]);
    const file = path.join(artifacts, 'download.mp4');
    await download.saveAs(file);
    assert.match(download.suggestedFilename(), /\.mp4$/);
    const probe = await ffprobe(file);
    const dur = Number(probe.format.duration);
    assert.ok(Math.abs(dur - data.a.duration_ms / 1000) <= 1, `ffprobe ${dur} s vs ${data.a.duration_ms / 1000} s`);
    assert.equal(probe.streams.filter((s) => s.codec_type === 'video').length, 1);
    await decodeAll(file);
  });

  test('evidence package: the player’s button gives a package that deskaudit verify accepts, and it is audited', async () => {
    await page.goto(`${server.url}/#/recordings/${data.a.id}`);
    const button = page.getByRole('button', { name: 'Download evidence package' });
    await button.waitFor();
    const [download] = await Promise.all([page.waitForEvent('download'), button.click()]);
    assert.match(download.suggestedFilename(), /_evidence\.tar$/);
    const dir = path.join(artifacts, 'evidence');
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    const tar = path.join(artifacts, 'evidence.tar');
    await download.saveAs(tar);
    execFileSync('tar', ['-xf', tar, '-C', dir]);
    for (const f of ['recording.mp4', 'segments/000000.m4s', 'manifest.json', 'manifest.sig', 'keys.json']) {
      assert.ok(fs.existsSync(path.join(dir, f)), f);
    }
    // Offline: no server, no credentials.
    const ok = spawnSync(cliBin, ['verify', dir], { encoding: 'utf8', env: { PATH: process.env.PATH, HOME: '/nonexistent' } });
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /evidence verified/);
    const seg = path.join(dir, 'segments/000000.m4s');
    const bytes = fs.readFileSync(seg);
    bytes[bytes.length - 100] ^= 0xff;
    fs.writeFileSync(seg, bytes);
    const bad = spawnSync(cliBin, ['verify', dir], { encoding: 'utf8', env: { PATH: process.env.PATH, HOME: '/nonexistent' } });
    assert.equal(bad.status, 1, bad.stdout + bad.stderr);
    assert.match(bad.stdout, /FAIL segment_hash_mismatch \[segments\/000000\.m4s\]/);
    const log = await admin.call('GET', `/audit-log?action=recording.export&target=${data.a.id}`);
    assert.ok(log.items.length >= 1, 'the export is in the audit log');
    assert.equal(log.items[0].actor, ADMIN_USER);
  });

  test('a recording in progress (EVENT playlist) keeps growing in the player', async () => {
    await page.goto(`${server.url}/#/recordings/${data.c}`);
    const slider = page.getByRole('slider', { name: 'Progress' });
    await slider.waitFor();
    await waitFor('the first segment to load', async () => Number(await slider.getAttribute('aria-valuemax')) > 0, { timeoutMs: 15_000 });
    const max0 = Number(await slider.getAttribute('aria-valuemax'));
    await putSegment(data.agentB, data.c, 1, data.segs[1]);
    const grow = data.a.segments[1].duration_ms / 1000;
    await waitFor('the playlist reload to extend the progress bar', async () => Number(await slider.getAttribute('aria-valuemax')) >= max0 + grow - 0.2, {
      timeoutMs: 30_000,
      intervalMs: 500,
    });
  });

  test('policies: create with every setting, assign to a computer and a pool, edit', async () => {
    await navLink('Policies').click();
    await rowOf(data.policy.name).waitFor();
    await shot('10-policies');
    await page.getByRole('link', { name: 'New policy' }).click();
    await page.getByLabel('Name').fill('Office hours, 10 fps');
    await page.getByLabel('Recording', { exact: true }).selectOption('period');
    await page.getByLabel('Start time').fill('08:30');
    await page.getByLabel('End time').fill('17:45');
    await page.getByLabel('Frame rate').selectOption('10');
    await page.getByLabel('Record audio').check();
    await page.getByLabel('Segment size (MiB)').fill('16');
    await page.getByLabel('Segment length (minutes)').selectOption('20');
    await page.getByLabel('Retention (days)').fill('90');
    await page.getByLabel('Idle after (seconds)').fill('45');
    await page.getByLabel('Show a notice to the user when recording starts').check();
    await page.getByLabel('Notice message').fill('Your screen is recorded during office hours.');
    await page.getByRole('button', { name: 'Create policy' }).click();
    await page.getByText('Policy created.').waitFor();
    const id = decodeURIComponent(page.url().match(/#\/policies\/([^?]+)/)[1]);
    const p = await admin.call('GET', `/policies/${id}`);
    assert.deepEqual(p.recording, {
      mode: 'period',
      period_start: '08:30',
      period_end: '17:45',
      fps: 10,
      audio: true,
      segment_max_bytes: 16 * 1024 * 1024,
      segment_max_minutes: 20,
      retention_days: 90,
      user_notice: true,
      user_notice_message: 'Your screen is recorded during office hours.',
      idle_seconds: 45,
      // Event-triggered recording's settings: kept (the defaults), used in mode "events" only.
      triggers: [],
      post_event_minutes: 10,
      pre_event_seconds: 30,
    });
    // Assign to desk-b and to the pool.
    await page.getByLabel('Assign to').selectOption('computer');
    await page.getByLabel('Target').selectOption(data.computerB);
    await page.getByRole('button', { name: 'Assign' }).click();
    await page.getByText(`Assigned to ${data.computerB}.`).waitFor();
    await page.getByLabel('Assign to').selectOption('pool');
    await page.getByLabel('Target').selectOption(data.pool.id);
    await page.getByRole('button', { name: 'Assign' }).click();
    await page.getByText(`Assigned to ${data.pool.id}.`).waitFor();
    await shot('11-policy-editor');
    const withAssignments = await admin.call('GET', `/policies/${id}`);
    const got = withAssignments.assignments.map((a) => `${a.target_type}:${a.target_id}`).sort();
    assert.deepEqual(got, [`computer:${data.computerB}`, `pool:${data.pool.id}`].sort());
    const eff = await admin.call('GET', `/computers/${data.computerB}/effective-policy`);
    assert.equal(eff.source, 'computer');

    // Bad input gets a clear message, not a request.
    await page.getByLabel('Retention (days)').fill('0');
    await page.getByRole('button', { name: 'Save policy' }).click();
    assert.match(await page.getByRole('alert').textContent(), /Retention must be from 1 to 3650 days/);
    // Edit: back to whole-session recording at 2 fps.
    await page.getByLabel('Retention (days)').fill('7');
    await page.getByLabel('Recording', { exact: true }).selectOption('session');
    await page.getByLabel('Frame rate').selectOption('2');
    await page.getByRole('button', { name: 'Save policy' }).click();
    await page.getByText('Policy saved.').waitFor();
    const edited = await admin.call('GET', `/policies/${id}`);
    assert.equal(edited.recording.mode, 'session');
    assert.equal(edited.recording.fps, 2);
    assert.equal(edited.recording.retention_days, 7);

    // Event-triggered recording: each field is checked, with a message, before any request.
    await page.getByLabel('Recording', { exact: true }).selectOption('events');
    await page.getByRole('button', { name: 'Save policy' }).click();
    assert.match(await page.getByRole('alert').textContent(), /Name at least one trigger/);
    await page.getByLabel('Triggers').fill('process=gimp*\nwindow_title=*payroll*\ncommand=rm');
    await page.getByRole('button', { name: 'Save policy' }).click();
    assert.match(await page.getByRole('alert').textContent(), /Trigger line 3: write process=PATTERN, app=PATTERN, window_title=PATTERN/);
    await page.getByLabel('Triggers').fill('process=gimp*\nwindow_title=*payroll*\napp=libreoffice-calc');
    await page.getByRole('button', { name: 'Save policy' }).click();
    assert.match(await page.getByRole('alert').textContent(), /Audio is not recorded while a trigger runs/);
    await page.getByLabel('Record audio').uncheck();
    await page.getByLabel('Keep recording after the last trigger (minutes)').fill('5');
    await page.getByRole('button', { name: 'Save policy' }).click();
    assert.match(await page.getByRole('alert').textContent(), /Recording after the last trigger must be from 10 to 60 minutes/);
    await page.getByLabel('Keep recording after the last trigger (minutes)').fill('15');
    await page.getByLabel('Include before the trigger (seconds)').fill('121');
    await page.getByRole('button', { name: 'Save policy' }).click();
    assert.match(await page.getByRole('alert').textContent(), /Recording before a trigger must be from 0 to 120 seconds/);
    await page.getByLabel('Include before the trigger (seconds)').fill('60');
    await page.getByLabel('Idle after (seconds)').fill('5');
    await page.getByRole('button', { name: 'Save policy' }).click();
    assert.match(await page.getByRole('alert').textContent(), /Idle time must be from 10 to 3600 seconds/);
    await page.getByLabel('Idle after (seconds)').fill('120');
    await page.getByRole('button', { name: 'Save policy' }).click();
    await page.getByText('Policy saved.').waitFor();
    const triggered = await admin.call('GET', `/policies/${id}`);
    assert.equal(triggered.recording.mode, 'events');
    assert.equal(triggered.recording.audio, false);
    assert.deepEqual(triggered.recording.triggers, [
      { process: 'gimp*' },
      { window_title: '*payroll*' },
      { app: 'libreoffice-calc' },
    ]);
    assert.equal(triggered.recording.post_event_minutes, 15);
    assert.equal(triggered.recording.pre_event_seconds, 60);
    assert.equal(triggered.recording.idle_seconds, 120);
    // The page shows what was saved.
    await page.reload();
    assert.equal(await page.getByLabel('Triggers').inputValue(), 'process=gimp*\nwindow_title=*payroll*\napp=libreoffice-calc');
    assert.equal(await page.getByLabel('Idle after (seconds)').inputValue(), '120');

    // Saving an untouched policy changes nothing (96 KiB is not a whole MiB).
    await page.goto(`${server.url}/#/policies/${data.policy.id}`);
    await page.getByRole('button', { name: 'Save policy' }).click();
    await page.getByText('Policy saved.').waitFor();
    const same = await admin.call('GET', `/policies/${data.policy.id}`);
    assert.deepEqual(same.recording, data.policy.recording);
  });

  test('errors are readable and a lost session goes back to sign-in', async () => {
    await page.goto(`${server.url}/#/recordings/rec-does-not-exist`);
    const alert = page.getByRole('alert');
    await alert.waitFor();
    assert.ok((await alert.textContent()).trim().length > 5);
    await page.context().clearCookies();
    await page.goto(`${server.url}/#/pools`);
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    assert.match(page.url(), /#\/login\?next=/);
    // Signing in again returns to the page asked for.
    await page.getByLabel('User name').fill(ADMIN_USER);
    await page.getByLabel('Password').fill(ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Computer pools' }).waitFor();
    // The SPA fallback: a deep link path serves the console.
    const res = await fetch(`${server.url}/some/deep/link`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /<div id="app">/);
    console.log(`# screenshots in ${artifacts}`);
  });

  test('permissions: an administrator without download or policy rights gets disabled buttons and clear refusals', async () => {
    const role = await admin.call('POST', '/roles', {
      body: { name: 'Recording viewer', description: 'list and play only', permissions: ['inventory:read', 'recording:list', 'recording:play'] },
    });
    const password = 'Audit-only-pw-83921';
    await admin.call('POST', '/users', { body: { username: 'vera', password, roles: [{ role_id: role.id }] } });
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    await page.getByLabel('User name').fill('vera');
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('navigation', { name: 'Main' }).waitFor();
    await navLink('Screen recordings').click();
    const row = rowOf('alice');
    await row.waitFor();
    assert.equal(await row.getByRole('button', { name: 'Download' }).isDisabled(), true);
    assert.equal(await row.getByRole('button', { name: 'Play back' }).isEnabled(), true);
    assert.match(await page.locator('#perm-note').textContent(), /does not allow downloading/);
    // The server refuses too, whatever the console shows.
    const res = await page.request.get(`${server.url}/api/v1/recordings/${data.a.id}/download`);
    assert.equal(res.status(), 403);
    await navLink('Policies').click();
    assert.match(await page.getByRole('alert').textContent(), /not permitted/);
    await shot('12-no-permission');
  });
});
