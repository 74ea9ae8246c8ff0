// Where the things under test live. Override with environment variables to
// test another build: DESKAUDIT_BUILD_DIR (default <repo>/build),
// DESKAUDIT_SERVER_BIN, DESKAUDIT_AGENT_BIN, DESKAUDIT_CLI_BIN, DESKAUDIT_RECORD_BIN,
// DESKAUDIT_WEB_ROOT.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const buildDir = process.env.DESKAUDIT_BUILD_DIR || path.join(repoRoot, 'build');
export const serverBin = process.env.DESKAUDIT_SERVER_BIN || path.join(buildDir, 'bin', 'deskaudit-server');
export const agentBin = process.env.DESKAUDIT_AGENT_BIN || path.join(buildDir, 'bin', 'deskaudit-agent');
export const cliBin = process.env.DESKAUDIT_CLI_BIN || path.join(buildDir, 'bin', 'deskaudit');
export const recordBin = process.env.DESKAUDIT_RECORD_BIN || path.join(buildDir, 'bin', 'deskaudit-record');
export const webRoot = process.env.DESKAUDIT_WEB_ROOT || path.join(repoRoot, 'web', 'dist');
export const workloadScript = [
  process.env.DESKAUDIT_WORKLOAD,
  path.join(repoRoot, '..', 'shared', 'workload', 'desktop-session.sh'),
  path.join(repoRoot, 'tests', 'workload', 'desktop-session.sh'),
].find((p) => p && fs.existsSync(p));
export const chromiumBin = process.env.DESKAUDIT_CHROMIUM || '/usr/bin/chromium';

export function isExecutable(p) {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first executable `name` on PATH, or null. */
export function onPath(name) {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    if (dir && isExecutable(path.join(dir, name))) return path.join(dir, name);
  }
  return null;
}
