#!/usr/bin/env node
// Evidence benchmark: export + offline verify of a one-hour recording.
//
//   node bench/evidence/evidence-bench.mjs [--minutes 60] [--segments 6] [--runs 1]
//
// Uses the one-hour recording of bench/player (ffmpeg lavfi testsrc2 at 2 fps,
// H.264 fragmented MP4, cached in $TMPDIR), uploads it through the agent API
// to a real deskaudit-server (embedded store: SQLite + local directory), once
// with plaintext objects and once with encryption at rest
// (DESKAUDIT_ENCRYPTION_KEY_FILE, a fresh 0600 key), then times with the
// real CLI:
//   - export: `deskaudit recordings export REC -o DIR` (the server builds the
//     evidence package: manifest signed at finish, MP4 assembled, segments
//     read and, when encrypted, decrypted; the CLI unpacks the tar);
//   - verify: `deskaudit verify DIR --server-key KEYS` (every hash, the agent
//     and server signatures, the MP4 rebuilt and compared byte for byte).
// Prints seconds and the load average; asserts nothing. Binaries from
// DESKAUDIT_BUILD_DIR (default <repo>/build), see tests/e2e/lib/paths.mjs.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { enrollAgent, enrollmentToken, seedInventory, uploadRecording } from '../../tests/e2e/lib/fixtures.mjs';
import { splitFmp4, synthesize } from '../../tests/e2e/lib/media.mjs';
import { cliBin, isExecutable } from '../../tests/e2e/lib/paths.mjs';
import { run, stopAll, tempDir } from '../../tests/e2e/lib/proc.mjs';
import { ApiClient, startServer } from '../../tests/e2e/lib/server.mjs';

const { values: opt } = parseArgs({
  options: {
    minutes: { type: 'string', default: '60' },
    segments: { type: 'string', default: '6' },
    runs: { type: 'string', default: '1' },
  },
});
const minutes = Number(opt.minutes);
const segmentCount = Number(opt.segments);
const runs = Number(opt.runs);
for (const [k, v] of Object.entries({ minutes, segments: segmentCount, runs })) {
  if (!Number.isInteger(v) || v < 1 || v > 1000) throw new Error(`--${k} must be a whole number from 1 to 1000`);
}
const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const secs = (t0) => Number(process.hrtime.bigint() - t0) / 1e9;
const load = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');

async function cli(args, env) {
  return run(cliBin, args, { env, timeoutMs: 1_800_000 });  // rejects, with stderr, on a failure
}

async function one(mode, segments, seconds) {
  const dataDir = tempDir(`evidence-bench-${mode}`);
  const saved = process.env.DESKAUDIT_ENCRYPTION_KEY_FILE;
  if (mode === 'encrypted') {
    const keyFile = path.join(tempDir('evidence-bench-key'), 'master.key');
    fs.writeFileSync(keyFile, `${crypto.randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    process.env.DESKAUDIT_ENCRYPTION_KEY_FILE = keyFile;
  } else {
    delete process.env.DESKAUDIT_ENCRYPTION_KEY_FILE;
  }
  let server;
  try {
    server = await startServer({ dataDir });
  } finally {
    if (saved === undefined) delete process.env.DESKAUDIT_ENCRYPTION_KEY_FILE;
    else process.env.DESKAUDIT_ENCRYPTION_KEY_FILE = saved;
  }
  try {
    const admin = await ApiClient.login(server.url);
    const { pool } = await seedInventory(admin, { poolName: 'Bench pool', policyName: 'Bench policy' });
    const { agent } = await enrollAgent(server.url, await enrollmentToken(admin, pool.id), `bench-${mode}`);
    const start = Date.now() - seconds * 1000 - 60_000;
    const recId = await uploadRecording(agent, { username: 'bench', startTime: iso(start), endTime: iso(start + seconds * 1000), segments });
    const rec = await admin.call('GET', `/recordings/${recId}`);
    const env = { DESKAUDIT_SERVER: server.url, DESKAUDIT_TOKEN: admin.token };
    const keys = path.join(tempDir('evidence-bench-keys'), 'server-keys');
    await cli(['audit', 'keys', '-o', keys], env);
    const results = [];
    for (let i = 0; i < runs; i++) {
      const dir = path.join(tempDir(`evidence-bench-out-${mode}`), 'pkg');
      const loadBefore = load();
      let t0 = process.hrtime.bigint();
      await cli(['recordings', 'export', recId, '-o', dir], env);
      const exportS = secs(t0);
      t0 = process.hrtime.bigint();
      await cli(['verify', dir, '--server-key', keys], {});
      const verifyS = secs(t0);
      const mp4 = fs.statSync(path.join(dir, 'recording.mp4')).size;
      results.push({ exportS, verifyS, mp4, loadBefore, loadAfter: load() });
      fs.rmSync(path.dirname(dir), { recursive: true, force: true });
    }
    return { rec, results };
  } finally {
    await server.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main() {
  if (!isExecutable(cliBin)) throw new Error(`deskaudit CLI not found at ${cliBin} (build it first)`);
  const seconds = minutes * 60;
  const cache = path.join(os.tmpdir(), `deskaudit-bench-desktop-${seconds}s-2fps-g20.mp4`);
  if (!fs.existsSync(cache)) {
    process.stdout.write(`generating a ${minutes}-minute recording (ffmpeg testsrc2, 2 fps, 1280x720)... `);
    await synthesize({ seconds, fps: 2, gop: 20, out: `${cache}.tmp` });
    fs.renameSync(`${cache}.tmp`, cache);
    console.log('done');
  }
  const segments = splitFmp4(fs.readFileSync(cache), segmentCount);
  console.log(`evidence benchmark (${minutes}-minute recording, ${segments.length} segments, ${os.cpus().length} CPUs)`);
  for (const mode of ['plaintext', 'encrypted']) {
    const { rec, results } = await one(mode, segments, seconds);
    const mib = (rec.size_bytes / 1048576).toFixed(1);
    for (const r of results) {
      console.log(
        `  ${mode.padEnd(9)} ${mib} MiB of segments, MP4 ${(r.mp4 / 1048576).toFixed(1)} MiB: ` +
          `export ${r.exportS.toFixed(2)} s, verify ${r.verifyS.toFixed(2)} s, total ${(r.exportS + r.verifyS).toFixed(2)} s` +
          `   (load average before ${r.loadBefore}, after ${r.loadAfter})`,
      );
    }
  }
}

main()
  .then(() => stopAll())
  .catch(async (e) => {
    console.error(`evidence-bench: ${e.stack || e}`);
    await stopAll();
    process.exit(1);
  });
