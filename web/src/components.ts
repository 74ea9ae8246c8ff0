// Small reusable pieces: error banner, data table, pager, actions menu.
import { ApiError } from './api';
import { h } from './dom';

/** A readable error banner; never a blank page. */
export function errorBox(e: unknown): HTMLElement {
  let msg: string;
  if (e instanceof ApiError) {
    msg = e.status === 403 ? `You are not permitted to do this: ${e.message}` : e.message;
  } else {
    msg = e instanceof Error ? e.message : String(e);
  }
  return h('div', { class: 'error', role: 'alert' }, msg);
}

export function loading(what = 'Loading…'): HTMLElement {
  return h('p', { class: 'muted', role: 'status' }, what);
}

export interface Column<T> {
  title: string;
  cell: (row: T) => Node | string;
  className?: string;
}

export function table<T>(caption: string, columns: Column<T>[], rows: T[], empty: string): HTMLElement {
  if (rows.length === 0) return h('p', { class: 'empty' }, empty);
  return h(
    'table',
    { class: 'grid' },
    h('caption', { class: 'sr-only' }, caption),
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col', class: c.className }, c.title)))),
    h(
      'tbody',
      {},
      rows.map((r) => h('tr', {}, columns.map((c) => h('td', { class: c.className }, c.cell(r))))),
    ),
  );
}

/** "Next page" / "First page" links; the token lives in the URL. */
export function pager(nextHref: string | null, firstHref: string | null): HTMLElement | null {
  if (!nextHref && !firstHref) return null;
  return h(
    'nav',
    { class: 'pager', 'aria-label': 'Pages' },
    firstHref ? h('a', { href: firstHref }, 'First page') : null,
    nextHref ? h('a', { href: nextHref }, 'Next page') : null,
  );
}

export interface MenuItem {
  label: string;
  href: string;
}

let openMenu: { close: (focusButton: boolean) => void } | null = null;
document.addEventListener('click', () => openMenu?.close(false));

/** An "Actions" button that opens a menu of links (WAI-ARIA menu button):
 *  Enter/Space/ArrowDown open it, arrows move, Escape closes, Tab leaves. */
export function actionsMenu(label: string, items: MenuItem[]): HTMLElement {
  const id = `menu-${Math.random().toString(36).slice(2, 10)}`;
  const button = h(
    'button',
    { type: 'button', class: 'menu-button', 'aria-haspopup': 'menu', 'aria-expanded': 'false', 'aria-controls': id, 'aria-label': label },
    'Actions ▾',
  );
  const links = items.map((it) => h('a', { role: 'menuitem', href: it.href, tabindex: '-1' }, it.label));
  const menu = h('div', { role: 'menu', id, class: 'menu', hidden: true, 'aria-label': label }, links);
  const wrap = h('div', { class: 'menu-wrap' }, button, menu);

  const close = (focusButton: boolean) => {
    if (menu.hidden) return;
    menu.hidden = true;
    button.setAttribute('aria-expanded', 'false');
    if (openMenu?.close === close) openMenu = null;
    if (focusButton) button.focus();
  };
  const open = (index: number) => {
    openMenu?.close(false);
    menu.hidden = false;
    button.setAttribute('aria-expanded', 'true');
    openMenu = { close };
    links[(index + links.length) % links.length]?.focus();
  };
  button.addEventListener('click', (ev) => {
    ev.stopPropagation();
    if (menu.hidden) open(0);
    else close(true);
  });
  button.addEventListener('keydown', (ev) => {
    if (ev.key === 'ArrowDown') {
      ev.preventDefault();
      open(0);
    } else if (ev.key === 'ArrowUp') {
      ev.preventDefault();
      open(-1);
    }
  });
  menu.addEventListener('keydown', (ev) => {
    const i = links.indexOf(document.activeElement as HTMLAnchorElement);
    if (ev.key === 'ArrowDown') {
      ev.preventDefault();
      links[(i + 1) % links.length].focus();
    } else if (ev.key === 'ArrowUp') {
      ev.preventDefault();
      links[(i - 1 + links.length) % links.length].focus();
    } else if (ev.key === 'Home') {
      ev.preventDefault();
      links[0].focus();
    } else if (ev.key === 'End') {
      ev.preventDefault();
      links[links.length - 1].focus();
    } else if (ev.key === 'Escape') {
      ev.preventDefault();
      close(true);
    } else if (ev.key === 'Tab') {
      close(false);
    } else if (ev.key === ' ') {
      ev.preventDefault();
      (document.activeElement as HTMLElement | null)?.click();
    }
  });
  menu.addEventListener('click', (ev) => ev.stopPropagation());
  menu.addEventListener('focusout', (ev) => {
    const to = ev.relatedTarget as Node | null;
    if (to && !wrap.contains(to)) close(false);
  });
  return wrap;
}

export function statusBadge(ok: boolean, yes: string, no: string): HTMLElement {
  return h('span', { class: `badge ${ok ? 'ok' : 'off'}` }, ok ? yes : no);
}
