import { api, Pool } from '../api';
import { Column, errorBox, loading, pager, table } from '../components';
import { clear, h } from '../dom';
import { href, Route } from '../router';
import { computerColumns } from './computers';

export async function renderPools(main: HTMLElement, route: Route): Promise<void> {
  const token = route.params.get('next_token') ?? '';
  const body = h('div', {}, loading());
  clear(main, h('h1', { tabindex: '-1' }, 'Computer pools'), body);
  try {
    const page = await api.pools({ limit: 50, next_token: token });
    const cols: Column<Pool>[] = [
      { title: 'ID', cell: (p) => h('a', { href: href(['pools', p.id]) }, p.id) },
      { title: 'Name', cell: (p) => h('a', { href: href(['pools', p.id]) }, p.name || p.id) },
      { title: 'Description', cell: (p) => p.description || '—' },
    ];
    if (page.items.some((p) => p.computer_count !== undefined))
      cols.push({ title: 'Computers', cell: (p) => String(p.computer_count ?? '—') });
    clear(
      body,
      table('Computer pools', cols, page.items, 'No computer pools yet.'),
      pager(page.next_token ? href(['pools'], { next_token: page.next_token }) : null, token ? href(['pools']) : null),
    );
  } catch (e) {
    clear(body, errorBox(e));
  }
}

export async function renderPool(main: HTMLElement, id: string, route: Route): Promise<void> {
  const token = route.params.get('next_token') ?? '';
  const title = h('h1', { tabindex: '-1' }, `Pool ${id}`);
  const info = h('div', {});
  const body = h('div', {}, loading());
  clear(
    main,
    h('p', { class: 'crumbs' }, h('a', { href: href(['pools']) }, 'Computer pools'), ' / ', id),
    title,
    info,
    h('h2', {}, 'Cloud computers in this pool'),
    body,
  );
  try {
    const [pool, page] = await Promise.all([api.pool(id), api.poolComputers(id, { limit: 50, next_token: token })]);
    title.textContent = `Pool ${pool.name || pool.id}`;
    clear(
      info,
      h(
        'dl',
        { class: 'meta inline' },
        h('dt', {}, 'ID'),
        h('dd', {}, h('code', {}, pool.id)),
        pool.description ? [h('dt', {}, 'Description'), h('dd', {}, pool.description)] : null,
      ),
    );
    clear(
      body,
      table(`Cloud computers in pool ${pool.name || pool.id}`, computerColumns(new Map([[pool.id, pool]]), false), page.items, 'This pool has no computers.'),
      pager(
        page.next_token ? href(['pools', id], { next_token: page.next_token }) : null,
        token ? href(['pools', id]) : null,
      ),
    );
  } catch (e) {
    clear(body, errorBox(e));
  }
}
