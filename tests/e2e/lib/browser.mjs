// Headless Chromium (the distribution's, /usr/bin/chromium) driven by
// playwright-core, with a fresh profile per launch, at 1280x720.
import { chromium } from 'playwright-core';
import { chromiumBin } from './paths.mjs';
import { tempDir } from './proc.mjs';

export const VIEWPORT = { width: 1280, height: 720 };

export async function launchBrowser() {
  const profile = tempDir('chromium-profile');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumBin,
    headless: true,
    viewport: VIEWPORT,
    acceptDownloads: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-quic',
      '--no-first-run',
      '--disable-sync',
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
  return context;
}

/** Signs in through the form; resolves when the console shell is shown. */
export async function signIn(page, baseUrl, username, password) {
  await page.goto(`${baseUrl}/`);
  await page.getByLabel('User name').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Main' }).waitFor();
}

/** Share of sampled pixels of the current video frame that are not black. */
export async function nonBlackShare(page) {
  return page.evaluate(() => {
    const v = document.querySelector('video');
    if (!v || v.readyState < 2 || !v.videoWidth) return -1;
    const c = document.createElement('canvas');
    c.width = v.videoWidth;
    c.height = v.videoHeight;
    const g = c.getContext('2d', { willReadFrequently: true });
    g.drawImage(v, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    let lit = 0;
    let n = 0;
    for (let i = 0; i < d.length; i += 4 * 97) {
      n++;
      if (d[i] + d[i + 1] + d[i + 2] > 48) lit++;
    }
    return lit / n;
  });
}

/** Mean [r, g, b] of a 16x16 block in the middle of the current video frame. */
export async function frameColor(page) {
  return page.evaluate(() => {
    const v = document.querySelector('video');
    if (!v || v.readyState < 2 || !v.videoWidth) return null;
    const c = document.createElement('canvas');
    c.width = v.videoWidth;
    c.height = v.videoHeight;
    const g = c.getContext('2d', { willReadFrequently: true });
    g.drawImage(v, 0, 0);
    const d = g.getImageData(Math.floor(c.width / 2) - 8, Math.floor(c.height / 2) - 8, 16, 16).data;
    const sum = [0, 0, 0];
    for (let i = 0; i < d.length; i += 4) for (let k = 0; k < 3; k++) sum[k] += d[i + k];
    return sum.map((x) => Math.round(x / (d.length / 4)));
  });
}

/** Resolves after the next video frame is presented (requestVideoFrameCallback). */
export async function nextFrame(page, timeoutMs = 10_000) {
  return page.evaluate(
    (ms) =>
      new Promise((resolve, reject) => {
        const v = document.querySelector('video');
        const t = setTimeout(() => reject(new Error('no video frame presented')), ms);
        v.requestVideoFrameCallback((_now, meta) => {
          clearTimeout(t);
          resolve(meta.mediaTime);
        });
      }),
    timeoutMs,
  );
}

export const videoState = (page) =>
  page.evaluate(() => {
    const v = document.querySelector('video');
    return v
      ? { t: v.currentTime, d: v.duration, paused: v.paused, rate: v.playbackRate, ready: v.readyState, seeking: v.seeking }
      : null;
  });
