// End-to-end tests of the administration pages (users, roles, API tokens,
// audit log, password change): a real deskaudit-server, headless Chromium.
// Run: cd tests/e2e && npm test   (needs build/bin/deskaudit-server)
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { launchBrowser, signIn } from './lib/browser.mjs';
import { enrollAgent, enrollmentToken, seedInventory, uploadRecording } from './lib/fixtures.mjs';
import { splitFmp4, synthesize } from './lib/media.mjs';
import { isExecutable, serverBin } from './lib/paths.mjs';
import { stopAll, tempDir, waitFor } from './lib/proc.mjs';
import { ADMIN_PASSWORD, ADMIN_USER, ApiClient, ensureWebBuilt, startServer } from './lib/server.mjs';

const artifacts = process.env.DESKAUDIT_E2E_ARTIFACTS || path.join(os.tmpdir(), 'deskaudit-e2e-artifacts');
fs.mkdirSync(artifacts, { recursive: true });
const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

const missing = !isExecutable(serverBin);
if (missing && process.env.CI) throw new Error(`deskaudit-server is missing at ${serverBin}`);

const AUDITOR = 'dora-auditor';
const AUDITOR_PASSWORD = 'Pool-scoped-audit-4417';

describe('deskaudit administration pages', { skip: missing && `deskaudit-server not built (${serverBin})` }, () => {
  let server;
  let admin;
  let browser;
  let page;
  const data = {};

  before(async () => {
    await ensureWebBuilt();
    server = await startServer();
    admin = await ApiClient.login(server.url);
    // Two pools, one computer and one real (synthesized H.264) recording each.
    const a = await seedInventory(admin, { poolName: 'Finance desks', policyName: 'Record finance' });
    const b = await seedInventory(admin, { poolName: 'Support desks', policyName: 'Record support' });
    data.poolA = a.pool;
    data.poolB = b.pool;
    const media = await synthesize({ seconds: 6, fps: 2, gop: 4, out: path.join(tempDir('admin-media'), 'desk.mp4') });
    const segments = splitFmp4(media, 2);
    const start = Date.now() - 3_600_000;
    for (const [pool, hostname, username] of [[a.pool, 'fin-1', 'frank'], [b.pool, 'sup-1', 'sally']]) {
      const { agent } = await enrollAgent(server.url, await enrollmentToken(admin, pool.id), hostname);
      await uploadRecording(agent, { username, startTime: iso(start), endTime: iso(start + 6000), segments });
    }
    browser = await launchBrowser();
    page = await browser.newPage();
    // Deletions and revocations ask first; the tests say yes.
    page.on('dialog', (d) => void d.accept());
    await signIn(page, server.url, ADMIN_USER, ADMIN_PASSWORD);
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await stopAll();
  });

  const navLink = (p, name) => p.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });
  const rowOf = (p, text) => p.getByRole('row').filter({ hasText: text });
  const shot = async (p, name) => {
    const file = path.join(artifacts, `${name}.png`);
    await p.screenshot({ path: file });
    return file;
  };

  test('navigation: Audit log under Security & audits, Administration with Users, Roles, API tokens; Change password in the header', async () => {
    for (const name of ['Screen recordings', 'Audit log', 'Users', 'Roles', 'API tokens']) {
      assert.equal(await navLink(page, name).count(), 1, name);
    }
    const groups = await page.locator('.nav-title').allTextContents();
    assert.deepEqual(groups, ['Resource management', 'Security & audits', 'Administration']);
    const security = await page.getByRole('list', { name: 'Security & audits' }).getByRole('link').allTextContents();
    assert.ok(security.includes('Screen recordings') && security.includes('Audit log'), security.join());
    assert.equal(await page.getByRole('banner').getByRole('link', { name: 'Change password' }).count(), 1);
  });

  test('users: a weak password is refused next to the field; an auditor scoped to one pool is created (keyboard only)', async () => {
    await navLink(page, 'Users').click();
    await page.getByRole('heading', { name: 'Users', level: 1 }).waitFor();
    await rowOf(page, ADMIN_USER).waitFor();

    await page.getByLabel('User name').fill(AUDITOR);
    await page.getByLabel('Password', { exact: true }).fill(`${AUDITOR}-1234`);
    await page.getByRole('button', { name: 'Create user' }).click();
    const fieldError = page.locator('#nu-pass-error');
    await fieldError.waitFor();
    assert.match(await fieldError.textContent(), /user ?name/i, 'the rule broken is named');
    assert.equal(await page.getByLabel('Password', { exact: true }).getAttribute('aria-invalid'), 'true');
    await shot(page, 'admin-01-users-field-error');

    // Keyboard only from here: type, tab to the role controls, arrow keys in the selects.
    await page.getByLabel('Password', { exact: true }).fill('');
    await page.getByLabel('Password', { exact: true }).focus();
    await page.keyboard.type(AUDITOR_PASSWORD);
    await page.getByRole('button', { name: 'Add role' }).focus();
    await page.keyboard.press('Enter');
    const role = page.getByLabel('Role', { exact: true });
    await waitFor('the role row to take focus', () => role.evaluate((el) => el === document.activeElement));
    await role.selectOption('auditor');
    await page.keyboard.press('Tab');
    await page.getByLabel('Scope').selectOption('pool');
    await page.getByLabel('Pool', { exact: true }).selectOption(data.poolA.id);
    await page.getByRole('button', { name: 'Create user' }).focus();
    await page.keyboard.press('Enter');
    const row = rowOf(page, AUDITOR);
    await row.waitFor();
    assert.match(await row.textContent(), new RegExp(`Auditor in pool ${data.poolA.name}`));
    await shot(page, 'admin-02-users');

    const users = (await admin.call('GET', '/users')).items;
    const dora = users.find((u) => u.username === AUDITOR);
    assert.deepEqual(dora.roles, [{ role_id: 'auditor', scope_type: 'pool', scope_id: data.poolA.id }]);
    data.auditorId = dora.id;

    // The edit page shows the same grant.
    await row.getByRole('link', { name: 'Edit' }).click();
    await page.getByRole('heading', { name: `Administrator ${AUDITOR}` }).waitFor();
    assert.equal(await page.getByLabel('Pool', { exact: true }).inputValue(), data.poolA.id);
    await shot(page, 'admin-03-user-edit');
  });

  test('the pool-scoped auditor sees recordings of their pool only and no administration links', async () => {
    const other = await launchBrowser();
    try {
      const p = await other.newPage();
      await signIn(p, server.url, AUDITOR, AUDITOR_PASSWORD);
      assert.equal(await navLink(p, 'Screen recordings').count(), 1);
      for (const name of ['Users', 'Roles', 'Audit log']) assert.equal(await navLink(p, name).count(), 0, name);
      await navLink(p, 'Screen recordings').click();
      await rowOf(p, 'frank').waitFor();
      assert.equal(await rowOf(p, 'sally').count(), 0, "the other pool's recording is not listed");
      await shot(p, 'admin-04-auditor-recordings');
      // Typing the address of an administration page gets a readable refusal.
      await p.goto(`${server.url}/#/users`);
      await p.getByRole('alert').waitFor();
      assert.match(await p.getByRole('alert').textContent(), /not permitted/);
    } finally {
      await other.close();
    }
    // The admin sees both.
    const all = (await admin.call('GET', '/recordings')).items.map((r) => r.username).sort();
    assert.deepEqual(all, ['frank', 'sally']);
  });

  test('audit log: the user creation and the auditor sign-in are listed, actor filter in the URL, details expand, chain verifies', async () => {
    await navLink(page, 'Audit log').click();
    await page.getByRole('heading', { name: 'Audit log' }).waitFor();
    const create = rowOf(page, 'user.create').filter({ hasText: data.auditorId });
    await create.waitFor();
    assert.match(await create.textContent(), new RegExp(ADMIN_USER));
    assert.equal(await rowOf(page, 'auth.login').filter({ hasText: AUDITOR }).count() >= 1, true);
    // Newest first.
    const seqs = (await page.locator('tbody tr[data-seq]').evaluateAll((rs) => rs.map((r) => Number(r.dataset.seq))));
    assert.deepEqual(seqs, [...seqs].sort((x, y) => y - x));

    // Details JSON of the creation names the user and the scoped role.
    const toggle = create.getByRole('button', { name: /Details of entry/ });
    await toggle.focus();
    await page.keyboard.press('Enter');
    assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
    const details = page.locator(`#${await toggle.getAttribute('aria-controls')}`);
    await details.waitFor();
    const json = JSON.parse(await details.locator('pre').textContent());
    assert.equal(json.username, AUDITOR);
    assert.equal(json.roles[0].scope_id, data.poolA.id);
    await shot(page, 'admin-05-audit-log');

    await page.getByLabel('Actor').fill(AUDITOR);
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(new RegExp(`actor=${AUDITOR}`));
    await waitFor('the actor filter', async () => (await rowOf(page, 'user.create').count()) === 0 && (await rowOf(page, 'auth.login').count()) >= 1);
    const actors = await page.locator('tbody tr[data-seq] td:nth-child(3)').allTextContents();
    assert.ok(actors.length > 0 && actors.every((a) => a === AUDITOR), actors.join());
    // The filtered link reproduces the same list in a fresh page.
    const other = await browser.newPage();
    await other.goto(page.url());
    await other.getByRole('row').filter({ hasText: 'auth.login' }).first().waitFor();
    assert.equal(await other.getByLabel('Actor').inputValue(), AUDITOR);
    await other.close();

    await page.getByRole('button', { name: 'Verify chain' }).click();
    const status = page.getByRole('status').filter({ hasText: /Audit log intact/ });
    await status.waitFor();
    const total = (await admin.call('GET', '/audit-log/verify')).entries;
    assert.match(await status.textContent(), /^Audit log intact: \d+ entries; \d+ signed checkpoints verified through entry \d+/);
    assert.ok(Number((await status.textContent()).match(/\d+/)[0]) <= total);
    await shot(page, 'admin-06-audit-verify');

    // Paged: two a page, the token in the URL.
    await page.goto(`${server.url}/#/audit-log?limit=2`);
    await page.locator('tbody tr[data-seq]').first().waitFor();
    assert.equal(await page.locator('tbody tr[data-seq]').count(), 2);
    const first = await page.locator('tbody tr[data-seq]').first().getAttribute('data-seq');
    await page.getByRole('link', { name: 'Next page' }).click();
    await page.waitForURL(/next_token=/);
    await waitFor('the next page', async () => (await page.locator('tbody tr[data-seq]').first().getAttribute('data-seq')) !== first);
    assert.ok(Number(await page.locator('tbody tr[data-seq]').first().getAttribute('data-seq')) < Number(first));
  });

  test('roles: built-ins are read-only, a custom role is made from the permission checklist', async () => {
    await navLink(page, 'Roles').click();
    await page.getByRole('heading', { name: 'Roles', level: 1 }).waitFor();
    await rowOf(page, 'Auditor with download').waitFor();
    await page.getByLabel('Role name').fill('Audit reader');
    await page.getByLabel('Description').fill('Reads the audit log');
    await page.getByRole('checkbox', { name: /audit:read/ }).check();
    await page.getByRole('checkbox', { name: /recording:list/ }).check();
    await page.getByRole('button', { name: 'Create role' }).click();
    await page.getByRole('status').filter({ hasText: 'Created role Audit reader' }).waitFor();
    const roles = (await admin.call('GET', '/roles')).items;
    const made = roles.find((r) => r.name === 'Audit reader');
    assert.deepEqual(made.permissions, ['audit:read', 'recording:list']);
    assert.equal(made.builtin, false);
    await shot(page, 'admin-07-roles');
    await page.getByRole('link', { name: 'Auditor', exact: true }).click();
    await page.getByRole('heading', { name: 'Role Auditor' }).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Save role' }).count(), 0);
    assert.equal(await page.getByRole('checkbox', { name: /recording:play/ }).isChecked(), true);
    assert.equal(await page.getByRole('checkbox', { name: /recording:play/ }).isDisabled(), true);
  });

  test('API tokens: created with the secret shown once, it works, and after Revoke it gets 401', async () => {
    await navLink(page, 'API tokens').click();
    await page.getByRole('heading', { name: 'API tokens' }).waitFor();
    await page.getByLabel('Token name').fill('nightly export');
    await page.getByRole('button', { name: 'Create token' }).click();
    const secretBox = page.getByLabel('New API token');
    await secretBox.waitFor();
    const secret = await secretBox.inputValue();
    assert.ok(secret.length > 20, 'the secret is shown');
    await page.getByRole('button', { name: 'Copy' }).click();
    await page.getByRole('status').filter({ hasText: /Copied|Ctrl\+C/ }).waitFor();
    await shot(page, 'admin-08-api-token-created');

    const me = await new ApiClient(server.url, secret).call('GET', '/auth/me');
    assert.equal(me.user.username, ADMIN_USER);

    const row = rowOf(page, 'nightly export');
    await row.getByRole('button', { name: 'Revoke' }).click();
    await page.getByRole('status').filter({ hasText: 'Revoked nightly export' }).waitFor();
    assert.match(await row.textContent(), /Revoked/);
    const res = await new ApiClient(server.url, secret).call('GET', '/auth/me', { raw: true });
    assert.equal(res.status, 401);
    // After a reload the secret is gone for good.
    await page.reload();
    await rowOf(page, 'nightly export').waitFor();
    assert.equal(await page.getByLabel('New API token').count(), 0);
    await shot(page, 'admin-09-api-tokens');
  });

  test('users: disable, enable and delete (confirmed); change password from the header', async () => {
    await navLink(page, 'Users').click();
    const row = rowOf(page, AUDITOR);
    await row.getByRole('button', { name: 'Disable' }).click();
    await waitFor('disabled', async () => /Disabled/.test(await row.textContent()));
    const refused = await fetch(`${server.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: AUDITOR, password: AUDITOR_PASSWORD }),
    });
    assert.equal(refused.status, 401);
    await row.getByRole('button', { name: 'Enable' }).click();
    await waitFor('enabled', async () => /Active/.test(await row.textContent()));
    await row.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('status').filter({ hasText: `Deleted ${AUDITOR}` }).waitFor();
    assert.equal(await rowOf(page, AUDITOR).count(), 0);
    assert.equal((await admin.call('GET', '/users')).items.some((u) => u.username === AUDITOR), false);

    await page.getByRole('banner').getByRole('link', { name: 'Change password' }).click();
    await page.getByRole('heading', { name: 'Change password' }).waitFor();
    await page.getByLabel('Current password').fill('wrong-current-pw');
    await page.getByLabel('New password', { exact: true }).fill('Fresh-console-pw-5512');
    await page.getByLabel('Repeat the new password').fill('Fresh-console-pw-5512');
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.locator('#pw-current-error').waitFor();
    assert.equal(await page.getByLabel('Current password').getAttribute('aria-invalid'), 'true');
    await shot(page, 'admin-10-change-password');
    await page.getByLabel('Current password').fill(ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByRole('status').filter({ hasText: 'Password changed' }).waitFor();
    await ApiClient.login(server.url, ADMIN_USER, 'Fresh-console-pw-5512');
  });
});
