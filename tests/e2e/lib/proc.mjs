// Child processes and temporary resources of a test run. Everything started
// here is registered and stopped by stopAll() (also on exit and on signals),
// so a failing test leaves no Xvfb, server or ffmpeg behind.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const children = new Set();
const tempDirs = new Set();

export function tempDir(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `deskaudit-${prefix}-`));
  tempDirs.add(dir);
  return dir;
}

/** Starts a process; its output goes to logFile (kept for failure reports). */
export function start(cmd, args, { env = {}, logFile = null, cwd } = {}) {
  const out = logFile ? fs.openSync(logFile, 'a') : 'ignore';
  const child = spawn(cmd, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', out, out],
    cwd,
    detached: true, // own process group: stop() ends its children too
  });
  if (typeof out === 'number') fs.closeSync(out);
  children.add(child);
  child.exitPromise = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  child.exitPromise.then(() => children.delete(child));
  child.stop = async (signal = 'SIGTERM', graceMs = 5000) => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitPromise;
    try {
      process.kill(-child.pid, signal);
    } catch {
      /* already gone */
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }, graceMs);
    const r = await child.exitPromise;
    clearTimeout(timer);
    return r;
  };
  return child;
}

/** Runs a command to completion; rejects with its output on failure. */
export function run(cmd, args, { env = {}, cwd, timeoutMs = 600_000, input } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    children.add(child);
    const out = [];
    const err = [];
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => err.push(d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      children.delete(child);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      const stdout = Buffer.concat(out);
      const stderr = Buffer.concat(err).toString();
      if (code === 0) resolve({ stdout, stderr });
      else reject(new Error(`${cmd} ${args.join(' ')} failed (${code ?? signal}):\n${stderr.slice(-4000)}`));
    });
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}

export async function stopAll() {
  await Promise.all([...children].map((c) => (c.stop ? c.stop() : c.kill('SIGKILL'))));
  for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
  tempDirs.clear();
}

function killSync() {
  for (const c of children) {
    try {
      if (c.stop) process.kill(-c.pid, 'SIGKILL');
      else c.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
}
process.on('exit', killSync);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    killSync();
    process.exit(130);
  });
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls fn until it returns a truthy value; an error with .fatal set ends it at once. */
export async function waitFor(what, fn, { timeoutMs = 30_000, intervalMs = 100 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      if (e.fatal) throw e;
      last = e;
    }
    await sleep(intervalMs);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
}
