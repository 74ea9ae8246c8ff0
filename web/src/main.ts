// Entry point: the app shell (header, left navigation, main region) and the
// route table. Signed-out visitors get the sign-in page; a 401 from any call
// brings them back to it, remembering where they were.
import './style.css';
import { api, ApiError, can, canEverywhere, Me, setPermissions, setUnauthorizedHandler } from './api';
import { errorBox } from './components';
import { clear, h } from './dom';
import { renderAuditLog } from './pages/audit';
import { renderComputers, renderRecordingStatus } from './pages/computers';
import { renderLogin } from './pages/login';
import { renderChangePassword } from './pages/password';
import { renderPolicies, renderPolicyEditor } from './pages/policies';
import { renderPool, renderPools } from './pages/pools';
import { renderRecordings } from './pages/recordings';
import { renderRole, renderRoles } from './pages/roles';
import { renderTokens } from './pages/tokens';
import { renderUser, renderUsers } from './pages/users';
import { currentRoute, href, navigate } from './router';

const root = document.getElementById('app')!;
let me: Me | null = null;
let shell: { main: HTMLElement; nav: HTMLElement } | null = null;
let cleanup: (() => void) | null = null;
let generation = 0;

interface NavItem {
  label: string;
  route: string;
  /** Shown only to administrators holding it (from /auth/me). */
  perm?: string;
  /** The route needs perm granted without a scope. */
  everywhere?: boolean;
}
const NAV: { group: string; items: NavItem[] }[] = [
  {
    group: 'Resource management',
    items: [
      // The first four stay visible to everyone: their pages explain a
      // refusal (the console e2e test relies on that for Policies).
      { label: 'Cloud computers', route: 'computers' },
      { label: 'Computer pools', route: 'pools' },
    ],
  },
  {
    group: 'Security & audits',
    items: [
      { label: 'Screen recordings', route: 'recordings' },
      { label: 'Policies', route: 'policies' },
      { label: 'Audit log', route: 'audit-log', perm: 'audit:read', everywhere: true },
    ],
  },
  {
    group: 'Administration',
    items: [
      { label: 'Users', route: 'users', perm: 'admin:users', everywhere: true },
      { label: 'Roles', route: 'roles', perm: 'admin:users', everywhere: true },
      // Everyone signed in may hold API tokens of their own.
      { label: 'API tokens', route: 'api-tokens' },
    ],
  },
];

/** The navigation the signed-in administrator may use: links they lack the
 *  permission for are left out, and so are groups left empty. */
function visibleNav(): { group: string; items: NavItem[] }[] {
  return NAV.map((g) => ({ ...g, items: g.items.filter((i) => !i.perm || (i.everywhere ? canEverywhere(i.perm) : can(i.perm))) })).filter((g) => g.items.length > 0);
}

/** Where "home" is: the first page this administrator may see. */
function homeRoute(): string {
  return visibleNav()[0]?.items[0]?.route ?? 'api-tokens';
}

function buildShell(): { main: HTMLElement; nav: HTMLElement } {
  const signOut = h('button', { type: 'button', class: 'link' }, 'Sign out');
  signOut.addEventListener('click', async () => {
    try {
      await api.logout();
    } catch {
      // Signed out either way: the cookie is dropped by the server or expires.
    }
    me = null;
    shell = null;
    showLogin('You signed out.');
  });
  const nav = h(
    'nav',
    { class: 'sidenav', 'aria-label': 'Main' },
    visibleNav().map((g) =>
      h(
        'div',
        { class: 'nav-group' },
        h('h2', { class: 'nav-title', id: `nav-${g.group.replace(/\W+/g, '-')}` }, g.group),
        h(
          'ul',
          { 'aria-labelledby': `nav-${g.group.replace(/\W+/g, '-')}` },
          g.items.map((i) => h('li', {}, h('a', { href: href([i.route]), 'data-route': i.route }, i.label))),
        ),
      ),
    ),
  );
  const main = h('main', { id: 'main', tabindex: '-1' });
  clear(
    root,
    h('a', { href: '#main', class: 'skip', onclick: ((ev: Event) => { ev.preventDefault(); main.focus(); }) as EventListener }, 'Skip to content'),
    h(
      'header',
      { class: 'topbar' },
      h('a', { class: 'brand', href: href([homeRoute()]) }, 'deskaudit'),
      h('span', { class: 'spacer' }),
      h('span', { class: 'who' }, `Signed in as ${me?.user.username ?? ''}`),
      h('a', { href: href(['password']), class: 'nav-link', 'data-route': 'password' }, 'Change password'),
      signOut,
    ),
    h('div', { class: 'body' }, nav, main),
  );
  return { main, nav };
}

function showLogin(notice?: string): void {
  cleanup?.();
  cleanup = null;
  shell = null;
  renderLogin(
    root,
    async () => {
      await boot();
      const next = currentRoute().params.get('next');
      navigate(next && next.startsWith('#/') && !next.startsWith('#/login') ? next : href([homeRoute()]), true);
    },
    notice,
  );
}

function sessionEnded(): void {
  if (!me) return;
  me = null;
  const here = location.hash.startsWith('#/login') ? '' : location.hash;
  history.replaceState(null, '', href(['login'], { next: here }));
  showLogin('Your session ended. Sign in again.');
}
setUnauthorizedHandler(sessionEnded);

async function route(): Promise<void> {
  const gen = ++generation;
  cleanup?.();
  cleanup = null;
  const r = currentRoute();
  if (!me) {
    if (r.path[0] !== 'login') history.replaceState(null, '', href(['login'], { next: location.hash || '' }));
    showLogin();
    return;
  }
  if (me.must_change_password) {
    // The server answers nothing else until the generated password is replaced.
    shell = null;
    const box = h('div', { class: 'login-form' });
    const main = h('main', { id: 'main', class: 'login-page', tabindex: '-1' }, box);
    clear(root, main);
    renderChangePassword(box, me.user.username, {
      notice: 'You signed in with a generated password. Choose your own password to continue.',
      onChanged: async () => {
        await boot();
        navigate(href([homeRoute()]), true);
      },
    });
    main.querySelector<HTMLInputElement>('input:not([hidden])')?.focus();
    document.title = 'Change password · deskaudit';
    return;
  }
  if (!shell) {
    shell = buildShell();
    prefetchPlayer();
  }
  const { main } = shell;
  const [first, second, third] = r.path;
  for (const a of root.querySelectorAll<HTMLAnchorElement>('a[data-route]')) {
    const active = a.dataset.route === first || (first === undefined && a.dataset.route === homeRoute());
    if (active) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const prevFocusInMain = main.contains(document.activeElement) || document.activeElement === document.body;
  try {
    switch (first) {
      case undefined:
      case 'login':
        navigate(href([homeRoute()]), true);
        return;
      case 'computers':
        if (second && third === 'status') await renderRecordingStatus(main, second);
        else await renderComputers(main, r);
        break;
      case 'pools':
        if (second) await renderPool(main, second, r);
        else await renderPools(main, r);
        break;
      case 'recordings':
        if (second) {
          // hls.js is large: load the player only when a recording is opened.
          const { renderPlayer } = await import('./pages/play');
          const stop = await renderPlayer(main, second, r.params, sessionEnded);
          if (gen !== generation) stop();
          else cleanup = stop;
        } else {
          await renderRecordings(main, r);
        }
        break;
      case 'policies':
        if (second === 'new') await renderPolicyEditor(main, null);
        else if (second) await renderPolicyEditor(main, second);
        else await renderPolicies(main, r);
        break;
      case 'audit-log':
        await renderAuditLog(main, r);
        break;
      case 'users':
        if (second) await renderUser(main, second);
        else await renderUsers(main, r);
        break;
      case 'roles':
        if (second) await renderRole(main, second);
        else await renderRoles(main, r);
        break;
      case 'api-tokens':
        await renderTokens(main);
        break;
      case 'password':
        renderChangePassword(main, me.user.username);
        break;
      default:
        clear(main, h('h1', { tabindex: '-1' }, 'Page not found'), h('p', {}, 'No page here. Use the navigation on the left.'));
    }
  } catch (e) {
    clear(main, errorBox(e));
  }
  if (gen !== generation) return;
  const title = main.querySelector('h1');
  document.title = `${title?.textContent ?? 'deskaudit'} · deskaudit`;
  // Move focus to the new page's heading, unless the user is typing in a
  // control that survived (filters re-render on submit).
  if (prevFocusInMain && title instanceof HTMLElement) title.focus({ preventScroll: true });
}

let playerPrefetched = false;
/** Loads the player's code while the auditor is still browsing lists, so
 *  "Play back" does not wait for it. */
function prefetchPlayer(): void {
  if (playerPrefetched) return;
  playerPrefetched = true;
  const load = () => void import('./pages/play').catch(() => (playerPrefetched = false));
  if ('requestIdleCallback' in window) requestIdleCallback(load, { timeout: 2000 });
  else setTimeout(load, 500);
}

async function boot(): Promise<void> {
  try {
    me = await api.me();
    setPermissions(me.permissions ?? me.user.permissions, me.unscoped_permissions);
  } catch (e) {
    me = null;
    if (!(e instanceof ApiError && e.status === 401)) {
      clear(root, h('main', { class: 'login-page' }, h('h1', {}, 'deskaudit'), errorBox(e)));
      throw e;
    }
  }
}

window.addEventListener('hashchange', () => void route());
boot()
  .then(() => route())
  .catch(() => {});
