// Test data made the way production makes it: an administrator creates a
// pool and a recording policy, an agent enrolls with an enrollment token and
// uploads real screen recordings through the agent API.
//
// recordDesktop() prefers the real agent (build/bin/deskaudit-agent run, with
// the scripted desktop workload under Xvfb). Without the agent binary it
// records the same workload with ffmpeg x11grab into fragmented MP4 and
// uploads it as the agent would (fallback; reported in `how`).
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApiClient } from './server.mjs';
import { captureScreen, splitFmp4, startXvfb } from './media.mjs';
import { agentBin, isExecutable, workloadScript } from './paths.mjs';
import { run, start, tempDir, waitFor } from './proc.mjs';

// Small (the server's minimum is 64 KiB): the agent's short scripted session
// of ~250 KiB spans several segments.
export const SEGMENT_MAX_BYTES = 96 * 1024;

export async function seedInventory(admin, { poolName = 'Finance desks', policyName = 'Record every session' } = {}) {
  const pool = await admin.call('POST', '/pools', { body: { name: poolName, description: 'Shared desktops of the finance team' } });
  const policy = await admin.call('POST', '/policies', {
    body: {
      name: policyName,
      recording: {
        mode: 'session',
        fps: 5,
        audio: false,
        segment_max_bytes: SEGMENT_MAX_BYTES,
        segment_max_minutes: 10,
        retention_days: 30,
        user_notice: true,
        user_notice_message: 'This session is recorded for audit.',
      },
    },
  });
  await admin.call('PUT', `/policies/${policy.id}/assignments/pools/${pool.id}`);
  return { pool, policy };
}

export async function enrollmentToken(admin, poolId) {
  const t = await admin.call('POST', '/enrollment-tokens', { body: { pool_id: poolId, max_uses: 10 } });
  return t.token;
}

/** Enrolls like an agent; returns an ApiClient carrying the agent token. */
export async function enrollAgent(url, token, hostname) {
  const anon = new ApiClient(url);
  const r = await anon.call('POST', '/agent/enroll', {
    body: { enrollment_token: token, hostname, os: `Linux ${os.release()}`, agent_version: 'e2e-uploader' },
  });
  return { agent: new ApiClient(url, r.agent_token), computerId: r.computer_id };
}

const sha256 = (b) => createHash('sha256').update(b).digest('hex');

/** PUT one segment file of a recording, as the agent does; `eventsSha256`:
 *  the hash of its events document, uploaded before it. */
export async function putSegment(agent, recordingId, seq, body, eventsSha256) {
  const headers = { 'Content-Type': 'video/mp4', 'X-Content-SHA256': sha256(body) };
  if (eventsSha256) headers['X-Deskaudit-Events-SHA256'] = eventsSha256;
  await agent.call('PUT', `/agent/recordings/${recordingId}/segments/${seq}`, {
    body: new Uint8Array(body.buffer, body.byteOffset, body.byteLength),
    headers,
  });
}

/** PUT the events document of segment `seq` (deskaudit-events/1), as the
 *  agent does before the segment; returns its SHA-256 for the segment's
 *  X-Deskaudit-Events-SHA256. */
export async function putEvents(agent, recordingId, seq, events) {
  const body = Buffer.from(JSON.stringify({ format: 'deskaudit-events/1', recording_id: recordingId, seq, events }));
  const hash = sha256(body);
  await agent.call('PUT', `/agent/recordings/${recordingId}/segments/${seq}/events`, {
    body: new Uint8Array(body.buffer, body.byteOffset, body.byteLength),
    headers: { 'Content-Type': 'application/json', 'X-Content-SHA256': hash },
  });
  return hash;
}

/** Uploads segment files as one recording through the agent API; without
 *  endTime the recording stays in progress. `events[seq]`: the activity
 *  events of segment seq (none: no events document, as the agent does). */
export async function uploadRecording(agent, { username, startTime, segments, endTime, events = [] }) {
  const rec = await agent.call('POST', '/agent/recordings', { body: { username, start_time: startTime } });
  for (let seq = 0; seq < segments.length; seq++) {
    const hash = events[seq]?.length ? await putEvents(agent, rec.id, seq, events[seq]) : undefined;
    await putSegment(agent, rec.id, seq, segments[seq], hash);
  }
  if (endTime) await agent.call('POST', `/agent/recordings/${rec.id}/finish`, { body: { end_time: endTime, status: 'complete' } });
  return rec.id;
}

async function runWorkload(display, logDir) {
  if (!workloadScript) throw new Error('the desktop workload script (desktop-session.sh) is missing');
  await run('bash', [workloadScript, display, '--profile', 'quick', '--marks', path.join(logDir, 'marks.jsonl')], {
    timeoutMs: 180_000,
  });
}

const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * One real recording of the scripted desktop session by `username` on a
 * computer enrolled with `token`. Returns {computerId, recordingId, how}.
 */
export async function recordDesktop({ url, admin, token, hostname, username, logDir = tempDir('rec') }) {
  const xvfb = await startXvfb({ logFile: path.join(logDir, 'xvfb.log') });
  try {
    if (isExecutable(agentBin)) return await recordWithAgent({ url, admin, token, username, xvfb, logDir, hostname });
    return await recordWithFfmpeg({ url, token, hostname, username, xvfb, logDir });
  } finally {
    await xvfb.stop();
  }
}

async function recordWithFfmpeg({ url, token, hostname, username, xvfb, logDir }) {
  const { agent, computerId } = await enrollAgent(url, token, hostname);
  const startMs = Date.now();
  const seconds = Number(process.env.DESKAUDIT_E2E_CAPTURE_SECONDS || 45);
  const buf = await captureScreen({
    ...xvfb,
    seconds,
    fps: 5,
    gop: 10,
    out: path.join(logDir, 'capture.mp4'),
    logFile: path.join(logDir, 'ffmpeg.log'),
    during: () => runWorkload(xvfb.display, logDir),
  });
  const segments = splitFmp4(buf, 3);
  const recordingId = await uploadRecording(agent, {
    username,
    startTime: iso(startMs),
    endTime: iso(startMs + seconds * 1000),
    segments,
  });
  return { computerId, recordingId, agent, how: 'ffmpeg x11grab + agent API upload (no deskaudit-agent binary)' };
}

async function recordWithAgent({ url, admin, token, username, xvfb, logDir, hostname }) {
  const stateDir = tempDir('agent-state');
  fs.chmodSync(stateDir, 0o700);
  const agentProc = start(
    agentBin,
    ['run', '--server', url, '--enroll-token', token, '--state-dir', stateDir, '--display', xvfb.display,
      '--heartbeat-seconds', '1', '--log-level', 'debug'],
    { logFile: path.join(logDir, 'agent.log'), env: { HOSTNAME: hostname } },
  );
  try {
    const agentState = async () => JSON.parse((await run(agentBin, ['session', 'status', '--state-dir', stateDir])).stdout.toString());
    // Enrolled and holding the policy: the computer shows up with its heartbeat.
    const computer = await waitFor('the agent to enroll and report', async () => {
      const page = await admin.call('GET', '/computers?limit=500');
      const mine = page.items.filter((c) => c.agent?.online && c.effective_policy?.mode === 'session');
      const known = new Set(globalThis.__deskauditSeenComputers ?? []);
      return mine.find((c) => !known.has(c.id));
    }, { timeoutMs: 60_000, intervalMs: 500 });
    (globalThis.__deskauditSeenComputers ??= []).push(computer.id);
    await waitFor('the agent control socket', () => agentState(), { timeoutMs: 30_000, intervalMs: 300 });
    await run(agentBin, ['session', 'connect', '--user', username, '--state-dir', stateDir]);
    await runWorkload(xvfb.display, logDir);
    await run(agentBin, ['session', 'disconnect', '--state-dir', stateDir]);
    const rec = await waitFor('the agent to upload and finish the recording', async () => {
      const page = await admin.call('GET', `/recordings?computer_id=${encodeURIComponent(computer.id)}&limit=5`);
      return page.items.find((r) => r.username === username && r.status !== 'recording');
    }, { timeoutMs: 120_000, intervalMs: 500 });
    return { computerId: computer.id, recordingId: rec.id, how: 'deskaudit-agent run + session connect/disconnect' };
  } finally {
    await agentProc.stop('SIGTERM', 20_000);
  }
}
