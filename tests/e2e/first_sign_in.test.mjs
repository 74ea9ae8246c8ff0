// The first sign-in with a generated password: the server keeps it in a
// 0600 file (never on its output), the console signs in with a cookie whose
// secret page scripts never see, asks for a new password at once, and then
// opens normally. Run: cd tests/e2e && npm test
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { launchBrowser } from './lib/browser.mjs';
import { isExecutable, serverBin } from './lib/paths.mjs';
import { stopAll } from './lib/proc.mjs';
import { ADMIN_USER, ApiClient, ensureWebBuilt, startServer } from './lib/server.mjs';

const missing = !isExecutable(serverBin);
if (missing && process.env.CI) throw new Error(`deskaudit-server is missing at ${serverBin}`);

describe('first sign-in', { skip: missing && `deskaudit-server not built (${serverBin})` }, () => {
  let server;
  let browser;

  before(async () => {
    await ensureWebBuilt();
    server = await startServer({ adminPassword: null });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await stopAll();
  });

  test('a generated password is changed right after signing in; the page never holds the bearer token', async () => {
    const file = path.join(server.dataDir, 'first-admin-password');
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    const generated = fs.readFileSync(file, 'utf8').trim();
    assert.ok(generated.length >= 20);
    assert.ok(!fs.readFileSync(server.log, 'utf8').includes(generated), 'the password is not in the server output');

    const page = await browser.newPage();
    await page.goto(`${server.url}/`);
    await page.getByLabel('User name').fill(ADMIN_USER);
    await page.getByLabel('Password').fill(generated);
    const answer = page.waitForResponse((r) => r.url().endsWith('/api/v1/auth/login'));
    await page.getByRole('button', { name: 'Sign in' }).click();
    const login = await (await answer).json();
    assert.equal(login.must_change_password, true);
    assert.equal('token' in login, false, 'a cookie sign-in answers without the bearer token');
    assert.ok(!(await page.evaluate(() => document.cookie)).includes('deskaudit_session'));

    await page.getByRole('heading', { name: 'Change password' }).waitFor();
    await page.getByText('You signed in with a generated password').waitFor();
    assert.equal(await page.getByRole('navigation', { name: 'Main' }).count(), 0);
    await page.getByLabel('Current password').fill(generated);
    await page.getByLabel('New password', { exact: true }).fill('Chosen-first-pw-2841');
    await page.getByLabel('Repeat the new password').fill('Chosen-first-pw-2841');
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByRole('navigation', { name: 'Main' }).waitFor();
    assert.equal(fs.existsSync(file), false, 'the password file goes once the password is changed');

    const admin = await ApiClient.login(server.url, ADMIN_USER, 'Chosen-first-pw-2841');
    assert.equal((await admin.call('GET', '/auth/me')).must_change_password, false);
    await page.close();
  });
});
