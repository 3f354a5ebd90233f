import { describe, expect, it, vi, afterEach, beforeEach } from "vitest";
import { invoke, isTauri } from "@tauri-apps/api/core";
import { listen } from "@tauri-apps/api/event";
import {
  ApiError,
  body,
  call,
  connectRealtime,
  deletePluginSecret,
  pluginSecrets,
  setPluginSecret,
  subscribeEvents,
  url,
} from "./api";

// The desktop app's IPC: off (a browser) unless a test turns it on.
vi.mock("@tauri-apps/api/core", () => ({ isTauri: vi.fn(() => false), invoke: vi.fn() }));
vi.mock("@tauri-apps/api/event", () => ({ listen: vi.fn() }));

beforeEach(() => {
  vi.mocked(isTauri).mockReturnValue(false);
  vi.mocked(invoke).mockReset();
  vi.mocked(listen).mockReset();
});
afterEach(() => vi.unstubAllGlobals());

describe("url", () => {
  it("puts path arguments into the path, encoded", () => {
    expect(url("plugin_revoke", { name: "tem plate", grant: "db:users" })).toBe("/api/plugins/tem%20plate/grants/db%3Ausers");
  });
  it("leaves empty query values out", () => {
    expect(url("audit_events", { kind: "login.failed", plugin: "", before_id: undefined })).toBe("/api/admin/audit?kind=login.failed");
  });
  it("refuses unknown commands", () => {
    expect(() => url("nope")).toThrow(ApiError);
    expect(() => url("toString")).toThrow(ApiError);
  });
  it("refuses a missing or empty path argument", () => {
    expect(() => url("revoke_session", {})).toThrow(expect.objectContaining({ code: "INVALID_INPUT" }));
    expect(() => url("plugin_enable", { name: "" })).toThrow(ApiError);
  });
});

describe("body", () => {
  it("sends all arguments, one argument or the listed fields", () => {
    expect(body("login", { email: "a", password: "b" })).toEqual({ email: "a", password: "b" });
    expect(body("execute_plugin", { name: "p", function: "f", input: [1, 2] })).toEqual([1, 2]);
    expect(body("execute_plugin", { name: "p", function: "f" })).toEqual({});
    expect(body("plugin_grant", { name: "p", grant: "log" })).toEqual({ grant: "log" });
    expect(body("plugins")).toBeUndefined();
  });
});

describe("call over HTTP", () => {
  it("sends the body as JSON and returns the parsed answer", async () => {
    const fetch = vi.fn(async () => new Response(JSON.stringify({ status: "verification_sent" }), { status: 200 }));
    vi.stubGlobal("fetch", fetch);
    const out = await call("signup", { name: "a", email: "a@b.c", password: "p" });
    expect(out).toEqual({ status: "verification_sent" });
    const [u, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(u).toBe("/api/auth/signup");
    expect(init.method).toBe("POST");
    expect(JSON.parse(String(init.body))).toEqual({ name: "a", email: "a@b.c", password: "p" });
    expect(invoke).not.toHaveBeenCalled();
  });
  it("sends no body when the route has none, and passes the abort signal on", async () => {
    const fetch = vi.fn(async () => new Response("[]", { status: 200 }));
    vi.stubGlobal("fetch", fetch);
    const abort = new AbortController();
    await call("plugin_remove", { name: "x", purge: true }, abort.signal);
    const [u, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(u).toBe("/api/plugins/x?purge=true");
    expect(init.method).toBe("DELETE");
    expect(init.body).toBeUndefined();
    expect(init.signal).toBe(abort.signal);
  });
  it("lets a cancelled request end with the abort, not as a network failure", async () => {
    const abort = new AbortController();
    vi.stubGlobal("fetch", async (_: string, init: RequestInit) => {
      init.signal?.throwIfAborted();
      return new Response("{}");
    });
    abort.abort();
    await expect(call("plugins", {}, abort.signal)).rejects.toMatchObject({ name: "AbortError" });
  });
  it("turns an error answer into an ApiError with code, message and status", async () => {
    vi.stubGlobal("fetch", async () => new Response(JSON.stringify({ code: "UNAUTHENTICATED", message: "sign in first" }), { status: 401 }));
    await expect(call("session")).rejects.toMatchObject({ code: "UNAUTHENTICATED", message: "sign in first", status: 401 });
  });
  it("lists, sets and deletes a plugin's secrets; the value goes in the PUT body only", async () => {
    const fetch = vi.fn(async () => new Response("{}", { status: 200 }));
    vi.stubGlobal("fetch", fetch);
    await pluginSecrets("chat");
    await setPluginSecret("chat", "provider.local", "sk-1", "https://api.example.com");
    await deletePluginSecret("chat", "provider.local");
    const sent = (fetch.mock.calls as unknown as [string, RequestInit][]).map(([u, init]) => [init.method, u, init.body]);
    expect(sent).toEqual([
      ["GET", "/api/plugins/chat/secrets", undefined],
      ["PUT", "/api/plugins/chat/secrets/provider.local", JSON.stringify({ value: "sk-1", origin: "https://api.example.com" })],
      ["DELETE", "/api/plugins/chat/secrets/provider.local", undefined],
    ]);
  });
  it("reports a network failure as NETWORK", async () => {
    vi.stubGlobal("fetch", async () => {
      throw new TypeError("connection refused");
    });
    await expect(call("session")).rejects.toMatchObject({ code: "NETWORK" });
  });
});

describe("call under Tauri", () => {
  it("invokes the same command with the same arguments and maps errors", async () => {
    vi.mocked(isTauri).mockReturnValue(true);
    vi.mocked(invoke).mockImplementation(async (cmd: string) => {
      if (cmd === "login") throw { code: "UNAUTHENTICATED", message: "wrong email or password" };
      return { ok: cmd };
    });
    const fetch = vi.fn();
    vi.stubGlobal("fetch", fetch);
    expect(await call("plugins")).toEqual({ ok: "plugins" });
    await expect(call("login", { email: "a", password: "b" })).rejects.toMatchObject({ code: "UNAUTHENTICATED" });
    expect(invoke).toHaveBeenCalledWith("login", { email: "a", password: "b" });
    expect(fetch).not.toHaveBeenCalled();
  });
  it("listens to audit events and stops listening", async () => {
    vi.mocked(isTauri).mockReturnValue(true);
    const unlisten = vi.fn();
    let handler: ((e: { payload: unknown }) => void) | undefined;
    vi.mocked(listen).mockImplementation(async (_event, h) => {
      handler = h as typeof handler;
      return unlisten;
    });
    const events: unknown[] = [];
    const states: boolean[] = [];
    const stop = subscribeEvents((e) => events.push(e), (s) => states.push(s));
    await vi.waitFor(() => expect(states).toEqual([true]));
    expect(listen).toHaveBeenCalledWith("audit-event", expect.any(Function));
    handler?.({ payload: { id: 1 } });
    expect(events).toEqual([{ id: 1 }]);
    stop();
    expect(unlisten).toHaveBeenCalled();
  });
  it("sends realtime frames with rt_send and hears rt-frame events", async () => {
    vi.mocked(isTauri).mockReturnValue(true);
    const unlisten = vi.fn();
    let handler: ((e: { payload: unknown }) => void) | undefined;
    vi.mocked(listen).mockImplementation(async (_event, h) => {
      handler = h as typeof handler;
      return unlisten;
    });
    vi.mocked(invoke).mockResolvedValue({ type: "pong", ref: 7 });
    const frames: unknown[] = [];
    const closed: string[] = [];
    const conn = connectRealtime((f) => frames.push(f), (why) => closed.push(why));
    conn.send({ type: "ping", ref: 7 });
    expect(invoke).toHaveBeenCalledWith("rt_send", { frame: { type: "ping", ref: 7 } });
    await vi.waitFor(() => expect(frames).toEqual([{ type: "pong", ref: 7 }]));
    handler?.({ payload: { type: "disconnected", reason: "bye" } });
    expect(closed).toEqual(["bye"]);
    conn.close();
    await vi.waitFor(() => expect(unlisten).toHaveBeenCalled());
  });
});
