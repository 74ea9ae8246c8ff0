// Real media for the tests: an Xvfb desktop, a PulseAudio server, screen capture with ffmpeg
// (x11grab -> H.264 -> fragmented MP4), splitting one fMP4 file into segment
// files the way the agent writes them (each = init + whole fragments,
// timestamps continuing), and ffprobe checks.
import fs from 'node:fs';
import path from 'node:path';
import { run, sleep, start, waitFor } from './proc.mjs';

/** Starts Xvfb on a free display number (90 + pid % 100 upwards). */
export async function startXvfb({ width = 1280, height = 720, logFile } = {}) {
  for (let i = 0; i < 100; i++) {
    const n = 90 + ((process.pid + i) % 100);
    if (fs.existsSync(`/tmp/.X11-unix/X${n}`) || fs.existsSync(`/tmp/.X${n}-lock`)) continue;
    const proc = start('Xvfb', [`:${n}`, '-screen', '0', `${width}x${height}x24`, '-nolisten', 'tcp', '-noreset'], { logFile });
    let exited = false;
    proc.exitPromise.then(() => (exited = true));
    try {
      await waitFor(`Xvfb :${n}`, () => {
        if (exited) throw new Error('Xvfb exited');
        return fs.existsSync(`/tmp/.X11-unix/X${n}`);
      }, { timeoutMs: 10_000 });
    } catch {
      await proc.stop();
      continue;
    }
    return { display: `:${n}`, width, height, proc, stop: () => proc.stop() };
  }
  throw new Error('no free X display number for Xvfb');
}

/**
 * A PulseAudio server of the test's own, as the desktop's sound server: a
 * null sink (`sink`, 48 kHz stereo) and a native socket in a temp dir; no
 * user config, no autospawn. Resolves once `pactl info` answers on it.
 */
export async function startPulse({ dir, sink = 'e2esink', logFile } = {}) {
  for (const sub of ['home', 'run']) fs.mkdirSync(path.join(dir, sub), { recursive: true, mode: 0o700 });
  const socket = path.join(dir, 'native');
  const proc = start('pulseaudio', [
    '--daemonize=no', '-n', '--exit-idle-time=-1', '--disable-shm=yes', '--log-target=stderr', '--log-level=error',
    '-L', `module-null-sink sink_name=${sink} rate=48000 channels=2`,
    '-L', `module-native-protocol-unix auth-anonymous=1 socket=${socket}`,
    '-L', 'module-always-sink',
  ], {
    logFile,
    env: { HOME: path.join(dir, 'home'), XDG_RUNTIME_DIR: path.join(dir, 'run'), XDG_CONFIG_HOME: path.join(dir, 'home') },
  });
  let exited = false;
  proc.exitPromise.then(() => (exited = true));
  const server = `unix:${socket}`;
  await waitFor(`pulseaudio on ${server}`, async () => {
    if (exited) throw Object.assign(new Error(`pulseaudio exited; see ${logFile}`), { fatal: true });
    await run('pactl', ['-s', server, 'info'], { timeoutMs: 5000 });
    return true;
  }, { timeoutMs: 20_000, intervalMs: 100 });
  return { server, sink, proc, stop: () => proc.stop() };
}

const FMP4_FLAGS = 'frag_keyframe+empty_moov+default_base_moof';

/**
 * Records the X display for `seconds` into one fragmented MP4 while
 * `during` (a promise-returning function, e.g. the workload) runs.
 * A keyframe every `gop` frames = one fragment per gop.
 */
export async function captureScreen({ display, width, height, seconds, fps = 5, gop = 10, out, during, logFile }) {
  const args = [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'x11grab', '-draw_mouse', '1', '-framerate', String(fps), '-video_size', `${width}x${height}`, '-i', display,
    '-t', String(seconds),
    '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'stillimage', '-pix_fmt', 'yuv420p',
    '-g', String(gop), '-keyint_min', String(gop), '-sc_threshold', '0',
    '-movflags', FMP4_FLAGS, '-f', 'mp4', out,
  ];
  const ff = start('ffmpeg', args, { logFile });
  const work = during ? during().catch((e) => e) : Promise.resolve();
  const r = await ff.exitPromise;
  const workResult = await Promise.race([work, sleep(1000).then(() => null)]);
  if (r.code !== 0) throw new Error(`ffmpeg x11grab failed (${JSON.stringify(r)}); see ${logFile}`);
  if (workResult instanceof Error) throw workResult;
  return fs.readFileSync(out);
}

/**
 * Synthetic long "desktop" for the benchmark: a still background with a
 * small moving picture and the media time printed large (so a frame shows
 * where it is), H.264 in fMP4. Screen-like: a few hundred kB a minute.
 */
export async function synthesize({ seconds, fps = 2, gop = 20, out }) {
  const font = '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf';
  const text = fs.existsSync(font)
    ? `,drawtext=fontfile=${font}:text='%{pts\\:hms}':x=60:y=320:fontsize=72:fontcolor=white`
    : '';
  await run('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', `color=c=0x1e2a38:s=1280x720:r=${fps}:d=${seconds}`,
    '-f', 'lavfi', '-i', `testsrc2=s=320x180:r=${fps}:d=${seconds}`,
    '-filter_complex', `[0][1]overlay=x=60:y=60${text},format=yuv420p`,
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'stillimage',
    '-g', String(gop), '-keyint_min', String(gop), '-sc_threshold', '0',
    '-movflags', FMP4_FLAGS, '-f', 'mp4', out,
  ], { timeoutMs: 900_000 });
  return fs.readFileSync(out);
}

/**
 * A "desktop" whose screen is one flat colour per scene ([{color: '0xRRGGBB',
 * seconds}]), so a frame tells which scene it is from: H.264 in fMP4, one
 * fragment per second (gop = fps), decode times in ms.
 */
export async function colourScenes({ scenes, fps = 5, size = '640x360', out }) {
  const inputs = scenes.flatMap((sc) => ['-f', 'lavfi', '-i', `color=c=${sc.color}:s=${size}:r=${fps}:d=${sc.seconds}`]);
  const concat = `${scenes.map((_, i) => `[${i}:v]`).join('')}concat=n=${scenes.length}:v=1:a=0,format=yuv420p`;
  await run('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y', ...inputs,
    '-filter_complex', concat,
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'stillimage',
    '-g', String(fps), '-keyint_min', String(fps), '-sc_threshold', '0',
    '-video_track_timescale', '1000', '-movflags', FMP4_FLAGS, '-f', 'mp4', out,
  ]);
  return fs.readFileSync(out);
}

/** Top-level ISO BMFF boxes: [{type, offset, size}], sizes checked. */
export function topLevelBoxes(buf) {
  const boxes = [];
  let off = 0;
  while (off < buf.length) {
    if (buf.length - off < 8) throw new Error(`truncated box header at ${off}`);
    let size = buf.readUInt32BE(off);
    const type = buf.toString('latin1', off + 4, off + 8);
    if (size === 1) {
      if (buf.length - off < 16) throw new Error(`truncated largesize at ${off}`);
      const big = buf.readBigUInt64BE(off + 8);
      if (big > BigInt(buf.length - off)) throw new Error(`box ${type} at ${off} overruns the file`);
      size = Number(big);
    } else if (size === 0) {
      size = buf.length - off;
    }
    if (size < 8 || size > buf.length - off) throw new Error(`bad size ${size} of box ${type} at ${off}`);
    boxes.push({ type, offset: off, size });
    off += size;
  }
  return boxes;
}

/**
 * Splits one fMP4 file into `count` segment files: each is the init (all
 * boxes before the first moof) followed by a run of whole moof+mdat pairs.
 */
export function splitFmp4(buf, count) {
  const boxes = topLevelBoxes(buf);
  const firstMoof = boxes.findIndex((b) => b.type === 'moof');
  if (firstMoof < 0) throw new Error('no moof: not a fragmented MP4');
  const init = buf.subarray(0, boxes[firstMoof].offset);
  const fragments = [];
  for (let i = firstMoof; i < boxes.length; i++) {
    if (boxes[i].type !== 'moof') continue;
    const mdat = boxes[i + 1];
    if (!mdat || mdat.type !== 'mdat') throw new Error(`moof at ${boxes[i].offset} has no mdat after it`);
    fragments.push(buf.subarray(boxes[i].offset, mdat.offset + mdat.size));
  }
  if (fragments.length < count) throw new Error(`only ${fragments.length} fragments for ${count} segments`);
  const segments = [];
  for (let s = 0; s < count; s++) {
    const from = Math.floor((s * fragments.length) / count);
    const to = Math.floor(((s + 1) * fragments.length) / count);
    segments.push(Buffer.concat([init, ...fragments.slice(from, to)]));
  }
  return segments;
}

export async function ffprobe(file) {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', file]);
  return JSON.parse(stdout.toString());
}

/** Decodes every frame: throws when the file does not decode cleanly. */
export async function decodeAll(file) {
  await run('ffmpeg', ['-v', 'error', '-xerror', '-i', file, '-f', 'null', '-']);
}

export function writeTemp(dir, name, buf) {
  const p = path.join(dir, name);
  fs.writeFileSync(p, buf);
  return p;
}

/** Boxes directly inside the box at `box` (a topLevelBoxes entry), sizes checked. */
function childBoxes(buf, box) {
  const inner = topLevelBoxes(buf.subarray(box.offset + 8, box.offset + box.size));
  return inner.map((b) => ({ ...b, offset: b.offset + box.offset + 8 }));
}

/** Adds `ticks` to the base media decode time (tfdt) of every fragment. */
export function shiftDecodeTimes(buf, ticks) {
  const out = Buffer.from(buf);
  for (const moof of topLevelBoxes(out).filter((b) => b.type === 'moof')) {
    for (const traf of childBoxes(out, moof).filter((b) => b.type === 'traf')) {
      const tfdt = childBoxes(out, traf).find((b) => b.type === 'tfdt');
      if (!tfdt) throw new Error(`traf at ${traf.offset} has no tfdt`);
      if (out[tfdt.offset + 8] === 1) {
        out.writeBigUInt64BE(out.readBigUInt64BE(tfdt.offset + 12) + BigInt(ticks), tfdt.offset + 12);
      } else {
        const t = out.readUInt32BE(tfdt.offset + 12) + ticks;
        if (t > 0xffffffff) throw new Error('decode time overflows a version 0 tfdt');
        out.writeUInt32BE(t, tfdt.offset + 12);
      }
    }
  }
  return out;
}

/**
 * A recording across screen resizes as the agent writes it: one segment file
 * per screen size (`sizes`, e.g. ['640x360', '800x600']), each its own init
 * segment + one fragment per second of H.264 at `fps`, `secondsEach` long,
 * decode times (timescale 1000) continuing from one file to the next.
 */
export async function segmentsAcrossResizes({ sizes, secondsEach, fps = 5, dir }) {
  const segments = [];
  for (const [i, size] of sizes.entries()) {
    const out = path.join(dir, `size-${i}.mp4`);
    await run('ffmpeg', [
      '-hide_banner', '-loglevel', 'error', '-y',
      '-f', 'lavfi', '-i', `testsrc2=s=${size}:r=${fps}:d=${secondsEach}`,
      '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p',
      '-g', String(fps), '-keyint_min', String(fps), '-sc_threshold', '0',
      '-video_track_timescale', '1000', '-movflags', FMP4_FLAGS, '-f', 'mp4', out,
    ]);
    segments.push(shiftDecodeTimes(fs.readFileSync(out), i * secondsEach * 1000));
  }
  return segments;
}
