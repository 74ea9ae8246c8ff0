// The REST API client of the console (contract: docs api.md). The session
// lives in the HttpOnly cookie `deskaudit_session`; every non-GET request
// carries the `deskaudit_csrf` cookie's value in X-CSRF-Token. Over HTTPS
// both names carry the `__Host-` prefix. Errors come
// back as ApiError carrying the server's {"error":{"code","message"}}.

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** The request field the server blames (e.g. "password"), if any. */
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface User {
  id: string;
  username: string;
  permissions?: string[];
}

export interface Me {
  user: User;
  permissions: string[];
  /** The permissions held without a pool or computer scope. */
  unscoped_permissions?: string[];
  /** A generated password: the server serves nothing else until it is changed. */
  must_change_password?: boolean;
}

export interface Page<T> {
  items: T[];
  next_token?: string;
}

export interface AgentInfo {
  version?: string;
  online?: boolean;
  last_seen_at?: string | null;
  capture?: unknown;
  spool_bytes?: number;
  last_error?: string;
  session?: unknown;
}

export interface EffectivePolicyRef {
  source: 'computer' | 'pool' | 'none';
  policy_id?: string | null;
  policy_name?: string | null;
  mode?: string | null;
}

export interface Computer {
  id: string;
  name: string;
  hostname?: string;
  os?: string;
  pool_id?: string | null;
  enrolled?: boolean;
  agent?: AgentInfo;
  effective_policy?: EffectivePolicyRef;
  recording_now?: boolean;
}

export interface Pool {
  id: string;
  name: string;
  description?: string;
  computer_count?: number;
}

import type { RecordingMode, TriggerKind } from './generated/policy_schema';
import type { RecordingEvent } from './timeline';

export type { RecordingMode, RecordingEvent };

export interface RecordingRule {
  mode: RecordingMode;
  period_start: string;
  period_end: string;
  fps: number;
  audio: boolean;
  segment_max_bytes: number;
  segment_max_minutes: number;
  retention_days: number;
  user_notice: boolean;
  user_notice_message: string;
  /** Activity events: idle after this many seconds without input or screen change (IDLE_MIN_SECONDS..IDLE_MAX_SECONDS). */
  idle_seconds: number;
  /** Mode "events": what starts a recording, each {kind: glob pattern}. */
  triggers: readonly Trigger[];
  /** Mode "events": minutes recorded after the last trigger ends (POST_EVENT_MIN_MINUTES..POST_EVENT_MAX_MINUTES). */
  post_event_minutes: number;
  /** Mode "events": seconds of video kept in memory and written ahead of the trigger (PRE_EVENT_MIN_SECONDS..PRE_EVENT_MAX_SECONDS). */
  pre_event_seconds: number;
}

/** One trigger: exactly one of its keys (TRIGGER_KINDS) with a glob pattern. */
export type Trigger = Partial<Record<TriggerKind, string>>;

export interface Assignment {
  target_type: 'computer' | 'pool';
  target_id: string;
}

export interface Policy {
  id: string;
  name: string;
  recording: RecordingRule;
  assignments?: Assignment[];
}

export interface Recording {
  id: string;
  computer_id: string;
  computer_name?: string;
  pool_id?: string | null;
  policy_id?: string | null;
  policy_name?: string | null;
  username: string;
  start_time: string;
  end_time?: string | null;
  status: 'recording' | 'complete' | 'interrupted';
  size_bytes: number;
  segment_count: number;
  duration_ms?: number;
  expires_at?: string | null;
  /** With the app= / window_title= filters: media time (ms) of the first
   *  matching event. */
  first_match_ms?: number;
}

export interface Segment {
  seq: number;
  size_bytes: number;
  sha256: string;
  start_offset_ms: number;
  duration_ms: number;
}

export interface RecordingDetail extends Recording {
  segments: Segment[];
  /** An audio track (the policy recorded audio), from the first segment. */
  has_audio?: boolean;
  /** The HLS CODECS value, e.g. "avc1.64001f,opus"; null without segments. */
  codecs?: string | null;
}

export interface EventPage {
  items: RecordingEvent[];
  next_page_token?: string | null;
}

/** Most events one request of the events route returns (its maximum). */
const EVENTS_PAGE = 1000;

export interface StatusCheck {
  id: string;
  label: string;
  ok: boolean;
  detail?: string;
}

export interface RecordingStatus {
  computer_id: string;
  checks: StatusCheck[];
}

export interface RoleGrant {
  role_id: string;
  scope_type?: 'pool' | 'computer';
  scope_id?: string;
}

export interface AdminUser {
  id: string;
  username: string;
  disabled: boolean;
  created_at: string;
  roles: RoleGrant[];
}

export interface Role {
  id: string;
  name: string;
  description: string;
  permissions: string[];
  builtin: boolean;
}

export interface ApiToken {
  id: string;
  user_id: string;
  kind: 'api' | 'session';
  name: string;
  created_at: string;
  expires_at?: string | null;
  last_used_at?: string | null;
  revoked: boolean;
  /** The secret: only in the answer to its creation. */
  token?: string;
}

export interface AuditEntry {
  seq: number;
  time: string;
  actor: string;
  action: string;
  target: string;
  details: unknown;
  prev_hash: string;
  hash: string;
}

export interface AuditVerify {
  ok: boolean;
  entries: number;
  last_hash: string;
  checkpoints: number;
  signed_through_seq: number;
  unsigned_entries: number;
  key_ids: string[];
  first_bad_seq?: number;
  untrusted_through_seq?: number;
  reason?: string;
}

const BASE = '/api/v1';

/** Called on every 401 so the app can go back to the sign-in page. */
let onUnauthorized: () => void = () => {};
export function setUnauthorizedHandler(fn: () => void): void {
  onUnauthorized = fn;
}

let csrfFromLogin = '';

// The signed-in administrator's permissions ("recording:download", ...), to
// offer only what the server will allow. null = not known: offer everything
// and let the server's 403 speak.
let permissions: Set<string> | null = null;
let unscoped: Set<string> | null = null;
export function setPermissions(list: string[] | undefined | null, unscopedList?: string[] | null): void {
  permissions = list ? new Set(list) : null;
  unscoped = unscopedList ? new Set(unscopedList) : null;
}
export function can(permission: string): boolean {
  return permissions === null || permissions.has(permission);
}
/** Held without a scope: what user, role and audit-log routes require. */
export function canEverywhere(permission: string): boolean {
  return can(permission) && (unscoped === null || unscoped.has(permission));
}

function csrfToken(): string {
  for (const part of document.cookie.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === 'deskaudit_csrf' || k === '__Host-deskaudit_csrf') return decodeURIComponent(v.join('='));
  }
  return csrfFromLogin;
}

/** Query string from a filter object, leaving out empty values. */
export function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

export async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD') headers['X-CSRF-Token'] = csrfToken();
  let res: Response;
  try {
    res = await fetch(BASE + path, {
      method,
      headers,
      credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, 'network', `The server cannot be reached (${(e as Error).message}).`);
  }
  const text = await res.text();
  let data: unknown = undefined;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      if (res.ok) throw new ApiError(res.status, 'bad_response', `The server sent a response that is not JSON for ${path}.`);
    }
  }
  if (!res.ok) {
    const err = (data as { error?: { code?: string; message?: string; field?: string } } | undefined)?.error;
    const message = err?.message || `${method} ${path} failed: HTTP ${res.status} ${res.statusText}`.trim();
    const e = new ApiError(res.status, err?.code ?? `http_${res.status}`, message, err?.field || undefined);
    if (res.status === 401 && path !== '/auth/login') onUnauthorized();
    throw e;
  }
  return data as T;
}

export const api = {
  async login(username: string, password: string): Promise<{ user: User; csrf_token?: string }> {
    // session "cookie": the secret stays in the HttpOnly cookie and the
    // answer carries no bearer token for scripts on the page to read.
    const r = await request<{ user: User; csrf_token?: string }>('POST', '/auth/login', { username, password, session: 'cookie' });
    if (r.csrf_token) csrfFromLogin = r.csrf_token;
    return r;
  },
  logout: () => request<unknown>('POST', '/auth/logout'),
  me: () => request<Me>('GET', '/auth/me'),

  computers: (p: { q?: string; pool_id?: string; limit?: number; next_token?: string }) =>
    request<Page<Computer>>('GET', `/computers${query(p)}`),
  computer: (id: string) => request<Computer>('GET', `/computers/${encodeURIComponent(id)}`),
  recordingStatus: (id: string) =>
    request<RecordingStatus>('GET', `/computers/${encodeURIComponent(id)}/recording-status`),

  pools: (p: { limit?: number; next_token?: string }) => request<Page<Pool>>('GET', `/pools${query(p)}`),
  pool: (id: string) => request<Pool>('GET', `/pools/${encodeURIComponent(id)}`),
  poolComputers: (id: string, p: { limit?: number; next_token?: string }) =>
    request<Page<Computer>>('GET', `/pools/${encodeURIComponent(id)}/computers${query(p)}`),

  policies: (p: { limit?: number; next_token?: string }) => request<Page<Policy>>('GET', `/policies${query(p)}`),
  policy: (id: string) => request<Policy>('GET', `/policies/${encodeURIComponent(id)}`),
  createPolicy: (p: { name: string; recording: RecordingRule }) => request<Policy>('POST', '/policies', p),
  updatePolicy: (id: string, p: { name: string; recording: RecordingRule }) =>
    request<Policy>('PATCH', `/policies/${encodeURIComponent(id)}`, p),
  deletePolicy: (id: string) => request<unknown>('DELETE', `/policies/${encodeURIComponent(id)}`),
  assign: (id: string, a: Assignment) =>
    request<unknown>(
      'PUT',
      `/policies/${encodeURIComponent(id)}/assignments/${a.target_type === 'pool' ? 'pools' : 'computers'}/${encodeURIComponent(a.target_id)}`,
    ),
  unassign: (id: string, a: Assignment) =>
    request<unknown>(
      'DELETE',
      `/policies/${encodeURIComponent(id)}/assignments/${a.target_type === 'pool' ? 'pools' : 'computers'}/${encodeURIComponent(a.target_id)}`,
    ),

  recordings: (p: Record<string, string | number | undefined>) =>
    request<Page<Recording>>('GET', `/recordings${query(p)}`),
  recording: (id: string) => request<RecordingDetail>('GET', `/recordings/${encodeURIComponent(id)}`),
  recordingEvents: (id: string, p: { type?: string; from_ms?: number; to_ms?: number; limit?: number; page_token?: string }) =>
    request<EventPage>('GET', `/recordings/${encodeURIComponent(id)}/events${query(p)}`),
  /** Every event of a recording, page after page, in media-time order. */
  async allRecordingEvents(id: string): Promise<RecordingEvent[]> {
    const all: RecordingEvent[] = [];
    let token: string | undefined;
    do {
      const page = await api.recordingEvents(id, { limit: EVENTS_PAGE, page_token: token });
      all.push(...page.items);
      token = page.next_page_token || undefined;
    } while (token);
    return all;
  },
  // The multivariant playlist: its CODECS tell the player which tracks (video, audio) to set up.
  playlistUrl: (id: string) => `${BASE}/recordings/${encodeURIComponent(id)}/master.m3u8`,
  downloadUrl: (id: string) => `${BASE}/recordings/${encodeURIComponent(id)}/download`,
  /** The evidence package (tar: MP4, segments, signed manifest, keys; docs/evidence.md). */
  evidenceUrl: (id: string) => `${BASE}/recordings/${encodeURIComponent(id)}/evidence`,

  changePassword: (current_password: string, new_password: string) =>
    request<unknown>('POST', '/auth/password', { current_password, new_password }),

  users: () => request<Page<AdminUser>>('GET', '/users'),
  createUser: (u: { username: string; password: string; roles: RoleGrant[] }) => request<AdminUser>('POST', '/users', u),
  updateUser: (id: string, u: { password?: string; disabled?: boolean; roles?: RoleGrant[] }) =>
    request<AdminUser>('PATCH', `/users/${encodeURIComponent(id)}`, u),
  deleteUser: (id: string) => request<unknown>('DELETE', `/users/${encodeURIComponent(id)}`),

  roles: () => request<{ items: Role[]; permissions: string[] }>('GET', '/roles'),
  createRole: (r: { name: string; description: string; permissions: string[] }) => request<Role>('POST', '/roles', r),
  updateRole: (id: string, r: { name?: string; description?: string; permissions?: string[] }) =>
    request<Role>('PATCH', `/roles/${encodeURIComponent(id)}`, r),
  deleteRole: (id: string) => request<unknown>('DELETE', `/roles/${encodeURIComponent(id)}`),

  apiTokens: () => request<Page<ApiToken>>('GET', '/api-tokens'),
  createApiToken: (t: { name: string; expires_at?: string }) => request<ApiToken>('POST', '/api-tokens', t),
  revokeApiToken: (id: string) => request<unknown>('DELETE', `/api-tokens/${encodeURIComponent(id)}`),

  auditLog: (p: Record<string, string | number | undefined>) => request<Page<AuditEntry>>('GET', `/audit-log${query(p)}`),
  verifyAuditLog: () => request<AuditVerify>('GET', '/audit-log/verify'),
};
