// A real deskaudit-server on a free loopback port with a temporary data
// directory, serving the built console, plus a small REST client over it.
import fs from 'node:fs';
import path from 'node:path';
import { freePort, run, start, tempDir, waitFor } from './proc.mjs';
import { isExecutable, repoRoot, serverBin, webRoot } from './paths.mjs';

export const ADMIN_USER = 'admin';
export const ADMIN_PASSWORD = 'e2e-Console-pw-7391';

function newestMtime(p) {
  const st = fs.statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  let m = st.mtimeMs;
  for (const e of fs.readdirSync(p)) m = Math.max(m, newestMtime(path.join(p, e)));
  return m;
}

/** Builds web/dist when it is missing or older than the console's sources. */
export async function ensureWebBuilt() {
  if (process.env.DESKAUDIT_WEB_ROOT) return;
  const web = path.join(repoRoot, 'web');
  const index = path.join(webRoot, 'index.html');
  const sources = ['src', 'index.html', 'package.json', 'vite.config.ts'].map((f) => path.join(web, f));
  const fresh =
    fs.existsSync(index) && sources.every((s) => !fs.existsSync(s) || newestMtime(s) <= fs.statSync(index).mtimeMs);
  if (fresh) return;
  if (!fs.existsSync(path.join(web, 'node_modules'))) {
    await run('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: web });
  }
  await run('npm', ['run', 'build'], { cwd: web });
}

/** adminPassword: the first administrator's (null: the server generates one
 *  into DATA_DIR/first-admin-password and asks for a new one at sign-in). */
export async function startServer({ dataDir = tempDir('server-data'), logFile, adminPassword = ADMIN_PASSWORD } = {}) {
  if (!isExecutable(serverBin)) throw new Error(`deskaudit-server not found at ${serverBin} (build it first)`);
  const port = await freePort();
  const log = logFile ?? path.join(dataDir, 'server.log');
  const proc = start(
    serverBin,
    ['--listen', `127.0.0.1:${port}`, '--data-dir', dataDir, '--web-root', webRoot],
    { env: { DESKAUDIT_ADMIN_PASSWORD: adminPassword ?? '' }, logFile: log },
  );
  const url = `http://127.0.0.1:${port}`;
  let exited = null;
  proc.exitPromise.then((r) => (exited = r));
  await waitFor(
    'the server to answer /api/v1/health',
    async () => {
      if (exited) {
        const e = new Error(`deskaudit-server exited (${JSON.stringify(exited)}):\n${fs.readFileSync(log, 'utf8').slice(-3000)}`);
        e.fatal = true;
        throw e;
      }
      const r = await fetch(`${url}/api/v1/health`);
      return r.ok;
    },
    { timeoutMs: 30_000 },
  );
  return { url, port, dataDir, log, proc, stop: () => proc.stop() };
}

export class ApiClient {
  constructor(url, token = null) {
    this.url = url;
    this.token = token;
  }

  async call(method, p, { body, headers = {}, raw = false } = {}) {
    const h = { ...headers };
    if (this.token) h.Authorization = `Bearer ${this.token}`;
    let payload = body;
    if (body !== undefined && !(body instanceof Uint8Array)) {
      h['Content-Type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    const res = await fetch(`${this.url}/api/v1${p}`, { method, headers: h, body: payload });
    if (raw) return res;
    const text = await res.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = text;
    }
    if (!res.ok) {
      const e = new Error(`${method} ${p} -> ${res.status}: ${typeof data === 'string' ? data : JSON.stringify(data)}`);
      e.status = res.status;
      e.data = data;
      throw e;
    }
    return data;
  }

  static async login(url, username = ADMIN_USER, password = ADMIN_PASSWORD) {
    const c = new ApiClient(url);
    const r = await c.call('POST', '/auth/login', { body: { username, password } });
    c.token = r.token;
    return c;
  }
}
