// One client for the a2e API. Every call names a command with its arguments; over HTTP a table
// maps the command to a route, and under Tauri the same command is invoked over IPC. Both give
// the same result shapes and throw the same ApiError.

export class ApiError extends Error {
  constructor(
    public code: string,
    message: string,
    public status = 0,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export interface User {
  uuid: string;
  name: string;
  email: string;
  email_verified: boolean;
  avatar: string | null;
  bio: string | null;
  role: "user" | "admin";
  created_at: number;
}

export interface LoginResult {
  user: User;
  session_token: string;
  session_expires_at: number;
  access_token: string;
  access_expires_at: number;
  refresh_token: string;
}

export interface SessionItem {
  id: string;
  created_at: number;
  last_seen_at: number;
  expires_at: number;
  current: boolean;
}

export interface Plugin {
  name: string;
  version: string;
  description: string;
  exports: string[];
  public: string[];
  requested_grants: string[];
  granted: string[];
  enabled: boolean;
  sha256: string;
  wasm_bytes: number;
  realtime: Realtime;
}

/** A plugin's realtime counters since the server started. */
export interface Realtime {
  rooms: number;
  clients: number;
  ticks: number;
  ticks_skipped: number;
  ticks_late: number;
  room_calls_failed: number;
  messages_in: number;
  messages_out: number;
  bytes_out: number;
  dropped_inputs: number;
  events_delivered: number;
  events_failed: number;
  events_dropped: number;
  schedule_runs: number;
  schedule_skipped: number;
  schedule_failed: number;
}

export interface DbStatus {
  path: string;
  encrypted: boolean;
  key_fingerprint: string | null;
  key_source: string;
  schema_version: number;
  cipher_version: string | null;
  healthy: boolean;
}

export interface DbStats {
  schema_version: number;
  encrypted: boolean;
  cipher_version: string | null;
  page_size: number;
  page_count: number;
  file_bytes: number;
  wal_bytes: number;
  tables: Record<string, number>;
}

export interface AuditEvent {
  id: number;
  at: number;
  kind: string;
  plugin: string | null;
  user_uuid: string | null;
  client_addr: string | null;
  data: unknown;
}

export interface AuditQuery {
  kind?: string;
  plugin?: string;
  user_uuid?: string;
  before_id?: number;
  limit?: number;
}

type Method = "GET" | "POST" | "PATCH" | "DELETE";
type Args = Record<string, unknown>;

interface Route {
  method: Method;
  path: (a: Args) => string;
  body?: (a: Args) => unknown;
  query?: (a: Args) => Record<string, unknown>;
}

const seg = (v: unknown) => encodeURIComponent(String(v));
const same = (a: Args) => a;

/** Every command of the API and its HTTP route. */
export const ROUTES: Record<string, Route> = {
  setup_status: { method: "GET", path: () => "/api/setup" },
  setup: { method: "POST", path: () => "/api/setup", body: same },
  signup: { method: "POST", path: () => "/api/auth/signup", body: same },
  login: { method: "POST", path: () => "/api/auth/login", body: same },
  logout: { method: "POST", path: () => "/api/auth/logout" },
  logout_all: { method: "POST", path: () => "/api/auth/logout-all" },
  session: { method: "GET", path: () => "/api/auth/session" },
  verify_email: { method: "POST", path: () => "/api/auth/verify-email", body: same },
  resend_verification: { method: "POST", path: () => "/api/auth/resend-verification", body: same },
  password_reset_request: { method: "POST", path: () => "/api/auth/password-reset/request", body: same },
  password_reset_confirm: { method: "POST", path: () => "/api/auth/password-reset/confirm", body: same },
  change_password: { method: "POST", path: () => "/api/auth/change-password", body: same },
  profile: { method: "GET", path: () => "/api/auth/profile" },
  update_profile: { method: "PATCH", path: () => "/api/auth/profile", body: same },
  sessions: { method: "GET", path: () => "/api/auth/sessions" },
  revoke_session: { method: "DELETE", path: (a) => `/api/auth/sessions/${seg(a.id)}` },
  plugins: { method: "GET", path: () => "/api/plugins" },
  plugin_remove: { method: "DELETE", path: (a) => `/api/plugins/${seg(a.name)}`, query: (a) => ({ purge: a.purge }) },
  plugin_enable: { method: "POST", path: (a) => `/api/plugins/${seg(a.name)}/enable` },
  plugin_disable: { method: "POST", path: (a) => `/api/plugins/${seg(a.name)}/disable` },
  plugin_grant: { method: "POST", path: (a) => `/api/plugins/${seg(a.name)}/grants`, body: (a) => ({ grant: a.grant }) },
  plugin_revoke: { method: "DELETE", path: (a) => `/api/plugins/${seg(a.name)}/grants/${seg(a.grant)}` },
  execute_plugin: {
    method: "POST",
    path: (a) => `/api/plugins/${seg(a.name)}/call/${seg(a.function)}`,
    body: (a) => a.input,
  },
  db_status: { method: "GET", path: () => "/api/admin/db/status" },
  db_stats: { method: "GET", path: () => "/api/admin/db/stats" },
  db_verify: { method: "POST", path: () => "/api/admin/db/verify" },
  db_backup: { method: "POST", path: () => "/api/admin/db/backup" },
  audit_events: {
    method: "GET",
    path: () => "/api/admin/audit",
    query: (a) => a,
  },
};

interface TauriInternals {
  invoke: (cmd: string, args?: Args) => Promise<unknown>;
}

function tauri(): TauriInternals | null {
  const w = globalThis as unknown as { __TAURI_INTERNALS__?: TauriInternals };
  return w.__TAURI_INTERNALS__ ?? null;
}

/** Builds the URL of a command's route with its query string (empty values left out). */
export function url(command: string, args: Args = {}): string {
  const route = ROUTES[command];
  if (!route) throw new ApiError("UNKNOWN_COMMAND", `unknown command ${command}`);
  const query = route.query ? route.query(args) : {};
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== null && v !== "" && v !== false) params.set(k, String(v));
  }
  const qs = params.toString();
  return route.path(args) + (qs ? `?${qs}` : "");
}

async function fromResponse(res: Response): Promise<unknown> {
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: keep the text
  }
  if (!res.ok) {
    const err = body as { code?: string; message?: string } | null;
    throw new ApiError(err?.code ?? "HTTP_" + res.status, err?.message ?? (text || res.statusText), res.status);
  }
  return body;
}

/** Runs a command: over Tauri IPC inside the desktop app, over HTTP otherwise. */
export async function call<T>(command: string, args: Args = {}): Promise<T> {
  const ipc = tauri();
  if (ipc) {
    try {
      return (await ipc.invoke(command, args)) as T;
    } catch (e) {
      const err = e as { code?: string; message?: string };
      throw new ApiError(err?.code ?? "INTERNAL", err?.message ?? String(e));
    }
  }
  const route = ROUTES[command];
  if (!route) throw new ApiError("UNKNOWN_COMMAND", `unknown command ${command}`);
  const init: RequestInit = { method: route.method, credentials: "same-origin", headers: {} };
  if (route.body) {
    init.body = JSON.stringify(route.body(args) ?? {});
    (init.headers as Record<string, string>)["content-type"] = "application/json";
  }
  let res: Response;
  try {
    res = await fetch(url(command, args), init);
  } catch (e) {
    throw new ApiError("NETWORK", `the server did not answer: ${(e as Error).message}`);
  }
  return (await fromResponse(res)) as T;
}

/** Installs a plugin from its module and (optional) plugin.json. */
export async function installPlugin(wasm: File, manifest: File | null, replace: boolean, grant: boolean): Promise<Plugin> {
  const ipc = tauri();
  if (ipc) {
    const bytes = Array.from(new Uint8Array(await wasm.arrayBuffer()));
    const manifestText = manifest ? await manifest.text() : null;
    return call<Plugin>("plugin_install", { wasm: bytes, file_name: wasm.name, manifest: manifestText, replace, grant });
  }
  const form = new FormData();
  form.append("wasm", wasm, wasm.name);
  if (manifest) form.append("manifest", manifest, "plugin.json");
  form.append("replace", String(replace));
  form.append("grant", String(grant));
  const res = await fetch("/api/plugins", { method: "POST", body: form, credentials: "same-origin" });
  return (await fromResponse(res)) as Plugin;
}

/** Subscribes to live audit events; returns a function that stops. */
export function subscribeEvents(onEvent: (e: AuditEvent) => void, onState: (connected: boolean) => void): () => void {
  const ipc = tauri() as unknown as { listen?: unknown } | null;
  if (ipc) {
    const w = globalThis as unknown as {
      __TAURI__?: { event?: { listen: (n: string, f: (e: { payload: AuditEvent }) => void) => Promise<() => void> } };
    };
    const listen = w.__TAURI__?.event?.listen;
    if (!listen) return () => {};
    let stop: (() => void) | null = null;
    listen("audit-event", (e) => onEvent(e.payload)).then((f) => {
      stop = f;
      onState(true);
    });
    return () => stop?.();
  }
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${proto}//${location.host}/api/events`);
  ws.onopen = () => onState(true);
  ws.onclose = () => onState(false);
  ws.onmessage = (m) => {
    try {
      const e = JSON.parse(String(m.data));
      if (typeof e.id === "number") onEvent(e as AuditEvent);
    } catch {
      // ignore malformed messages
    }
  };
  return () => ws.close();
}

/** Calls `fn` of plugin `name` with `input` (the plugin's public functions, or any as an administrator). */
export function pluginCall<T>(name: string, fn: string, input: unknown = {}): Promise<T> {
  return call<T>("execute_plugin", { name, function: fn, input });
}

/** A frame the realtime protocol sends (see `/api/rt`). */
export interface RtFrame {
  type: string;
  plugin?: string;
  room?: string;
  data?: unknown;
  reason?: string;
  code?: string;
  message?: string;
  ref?: unknown;
}

/** One realtime connection: `/api/rt` in the browser, `rt_send` and `rt-frame` events in the desktop app. */
export interface RtConnection {
  send(frame: Record<string, unknown>): void;
  close(): void;
}

/** Opens the realtime connection; `onClose` is told why it ended. */
export function connectRealtime(onFrame: (f: RtFrame) => void, onClose: (reason: string) => void): RtConnection {
  const ipc = tauri();
  if (ipc) {
    const w = globalThis as unknown as {
      __TAURI__?: { event?: { listen: (n: string, f: (e: { payload: RtFrame }) => void) => Promise<() => void> } };
    };
    let stop: (() => void) | null = null;
    let closed = false;
    w.__TAURI__?.event
      ?.listen("rt-frame", (e) => {
        if (e.payload?.type === "disconnected") onClose(e.payload.reason ?? "disconnected");
        else onFrame(e.payload);
      })
      .then((f) => {
        if (closed) f();
        else stop = f;
      });
    return {
      send: (frame) => {
        ipc.invoke("rt_send", { frame }).then(
          (reply) => reply && onFrame(reply as RtFrame),
          (e) => onFrame({ type: "error", code: "ERROR", message: String(e), ref: frame.ref }),
        );
      },
      close: () => {
        closed = true;
        stop?.();
      },
    };
  }
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${proto}//${location.host}/api/rt`);
  const queue: string[] = [];
  let open = false;
  ws.onopen = () => {
    open = true;
    for (const f of queue.splice(0)) ws.send(f);
  };
  ws.onclose = (e) => onClose(e.reason || (open ? "the connection closed" : "could not connect"));
  ws.onmessage = (m) => {
    try {
      onFrame(JSON.parse(String(m.data)) as RtFrame);
    } catch {
      // a frame that is not JSON is not ours
    }
  };
  return {
    send: (frame) => {
      const text = JSON.stringify(frame);
      if (open && ws.readyState === WebSocket.OPEN) ws.send(text);
      else if (!open) queue.push(text);
    },
    close: () => ws.close(1000, "left"),
  };
}
