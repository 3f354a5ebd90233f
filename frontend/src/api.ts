// One client for the a2e API. Every call names a command with its arguments; over HTTP a table
// maps the command to a route, and under Tauri the same command is invoked over IPC. Both give
// the same result shapes and throw the same ApiError.
import { invoke, isTauri } from "@tauri-apps/api/core";
import { listen } from "@tauri-apps/api/event";
import type { components } from "./api-types";
import routes from "./routes.json";

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

// The API's shapes, as the server's OpenAPI document (openapi.json) describes them: `npm run
// api-types` writes api-types.ts from it.
type Schemas = components["schemas"];
export type User = Schemas["UserView"];
export type LoginResult = Schemas["LoginResponse"];
export type SessionView = Schemas["SessionView"];
export type SessionItem = Schemas["SessionItem"];
export type SetupStatus = Schemas["SetupStatus"];
export type Plugin = Schemas["PluginView"];
/** A plugin's realtime counters since the server started. */
export type Realtime = Schemas["RealtimeView"];
export type DbStatus = Schemas["DbStatus"];
export type AuditEvent = Schemas["AuditEventView"];
export type ErrorBody = Schemas["ErrorBody"];

export type DbStats = Schemas["DbStats"];

/** A secret an administrator gave a plugin: its name and origin, never its value. */
export type SecretInfo = Schemas["SecretInfo"];
export type SecretDeleted = Schemas["SecretDeleted"];

/** The filter of `audit_events` (its query string). */
export interface AuditQuery {
  kind?: string;
  plugin?: string;
  user_uuid?: string;
  before_id?: number;
  limit?: number;
}

type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
type Args = Record<string, unknown>;

/**
 * A command's HTTP route, as routes.json writes it (the desktop app reads the same file):
 * `{x}` in the path is the percent-encoded string argument `x` (required, not empty); `body` is
 * "args" (all the arguments), "arg:NAME" (the value of argument NAME) or a list of the fields to
 * send; `query` lists the arguments put in the query string; no `body`, no body.
 */
export interface RouteSpec {
  method: Method;
  path: string;
  body?: "args" | `arg:${string}` | string[];
  query?: string[];
}

/** Every command of the API and its HTTP route. */
export const ROUTES: Readonly<Record<string, RouteSpec>> = routes as Record<string, RouteSpec>;

function route(command: string): RouteSpec {
  const r = Object.hasOwn(ROUTES, command) ? ROUTES[command] : undefined;
  if (!r) throw new ApiError("UNKNOWN_COMMAND", `unknown command ${command}`);
  return r;
}

/** Builds the URL of a command's route with its query string (empty values left out). */
export function url(command: string, args: Args = {}): string {
  const r = route(command);
  const path = r.path.replace(/\{([^{}]+)\}/g, (_, key: string) => {
    const v = args[key];
    if (typeof v !== "string" || v === "") throw new ApiError("INVALID_INPUT", `\`${key}\` is required`);
    return encodeURIComponent(v);
  });
  const params = new URLSearchParams();
  for (const k of r.query ?? []) {
    const v = args[k];
    if (v !== undefined && v !== null && v !== "" && v !== false) params.set(k, String(v));
  }
  const qs = params.toString();
  return path + (qs ? `?${qs}` : "");
}

/** The JSON body a command's route sends, or undefined for none. */
export function body(command: string, args: Args = {}): unknown {
  const b = route(command).body;
  if (b === undefined) return undefined;
  if (b === "args") return args;
  if (Array.isArray(b)) return Object.fromEntries(b.filter((k) => args[k] !== undefined).map((k) => [k, args[k]]));
  return args[b.slice("arg:".length)] ?? {};
}

async function fromResponse(res: Response): Promise<unknown> {
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: keep the text
  }
  if (!res.ok) {
    const err = parsed as { code?: string; message?: string } | null;
    throw new ApiError(err?.code ?? "HTTP_" + res.status, err?.message ?? (text || res.statusText), res.status);
  }
  return parsed;
}

/**
 * Runs a command: over Tauri IPC inside the desktop app, over HTTP otherwise. `signal` cancels the
 * HTTP request (an IPC call runs to its end).
 */
export async function call<T>(command: string, args: Args = {}, signal?: AbortSignal): Promise<T> {
  if (isTauri()) {
    try {
      return await invoke<T>(command, args);
    } catch (e) {
      const err = e as { code?: string; message?: string } | null;
      throw new ApiError(err?.code ?? "INTERNAL", err?.message ?? String(e));
    }
  }
  const target = url(command, args);
  const json = body(command, args);
  const init: RequestInit = { method: route(command).method, credentials: "same-origin", signal };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers = { "content-type": "application/json" };
  }
  let res: Response;
  try {
    res = await fetch(target, init);
  } catch (e) {
    if (signal?.aborted) throw e;
    throw new ApiError("NETWORK", `the server did not answer: ${(e as Error).message}`);
  }
  return (await fromResponse(res)) as T;
}

/** Installs a plugin from its module and (optional) plugin.json. */
export async function installPlugin(wasm: File, manifest: File | null, replace: boolean, grant: boolean): Promise<Plugin> {
  if (isTauri()) {
    // The module travels as raw bytes; its options ride in headers (the manifest percent-encoded).
    const headers: Record<string, string> = {
      "a2e-file-name": encodeURIComponent(wasm.name),
      "a2e-replace": String(replace),
      "a2e-grant": String(grant),
    };
    if (manifest) headers["a2e-manifest"] = encodeURIComponent(await manifest.text());
    try {
      return await invoke<Plugin>("plugin_install", new Uint8Array(await wasm.arrayBuffer()), { headers });
    } catch (e) {
      const err = e as { code?: string; message?: string } | null;
      throw new ApiError(err?.code ?? "INTERNAL", err?.message ?? String(e));
    }
  }
  const form = new FormData();
  form.append("wasm", wasm, wasm.name);
  if (manifest) form.append("manifest", manifest, "plugin.json");
  form.append("replace", String(replace));
  form.append("grant", String(grant));
  const res = await fetch("/api/plugins", { method: "POST", body: form, credentials: "same-origin" });
  return (await fromResponse(res)) as Plugin;
}

/** Listens to a Tauri event until the returned function is called (also before listening started). */
function listenUntilStopped<T>(event: string, onPayload: (payload: T) => void, onListening?: () => void): () => void {
  let stop: (() => void) | null = null;
  let stopped = false;
  listen<T>(event, (e) => onPayload(e.payload)).then(
    (unlisten) => {
      if (stopped) {
        unlisten();
        return;
      }
      stop = unlisten;
      onListening?.();
    },
    () => undefined,
  );
  return () => {
    stopped = true;
    stop?.();
  };
}

/** Subscribes to live audit events; returns a function that stops. */
export function subscribeEvents(onEvent: (e: AuditEvent) => void, onState: (connected: boolean) => void): () => void {
  if (isTauri()) return listenUntilStopped<AuditEvent>("audit-event", onEvent, () => onState(true));
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
export function pluginCall<T>(name: string, fn: string, input: unknown = {}, signal?: AbortSignal): Promise<T> {
  return call<T>("execute_plugin", { name, function: fn, input }, signal);
}

/** The secrets of plugin `name` (administrators): names and origins, never values. */
export function pluginSecrets(name: string, signal?: AbortSignal): Promise<SecretInfo[]> {
  return call<SecretInfo[]>("plugin_secrets", { name }, signal);
}

/**
 * Stores (or replaces) the secret `secret` of plugin `name` (administrators). `origin`
 * (`scheme://host[:port]`, no path) is the only origin the host ever sends it to; the value is
 * never shown again.
 */
export function setPluginSecret(
  name: string,
  secret: string,
  value: string,
  origin: string,
  signal?: AbortSignal,
): Promise<SecretInfo> {
  return call<SecretInfo>("plugin_secret_set", { name, secret, value, origin }, signal);
}

/** Deletes the secret `secret` of plugin `name` (administrators); `deleted` is false when there was none. */
export function deletePluginSecret(name: string, secret: string, signal?: AbortSignal): Promise<SecretDeleted> {
  return call<SecretDeleted>("plugin_secret_delete", { name, secret }, signal);
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
  if (isTauri()) {
    const close = listenUntilStopped<RtFrame>("rt-frame", (f) => {
      if (f?.type === "disconnected") onClose(f.reason ?? "disconnected");
      else onFrame(f);
    });
    return {
      send: (frame) => {
        invoke<RtFrame | null>("rt_send", { frame }).then(
          (reply) => reply && onFrame(reply),
          (e) => onFrame({ type: "error", code: "ERROR", message: String(e), ref: frame.ref }),
        );
      },
      close,
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
