import { describe, expect, it, vi, afterEach } from "vitest";
import { ApiError, call, url } from "./api";

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
  });
  it("turns an error answer into an ApiError with code, message and status", async () => {
    vi.stubGlobal("fetch", async () => new Response(JSON.stringify({ code: "UNAUTHENTICATED", message: "sign in first" }), { status: 401 }));
    await expect(call("session")).rejects.toMatchObject({ code: "UNAUTHENTICATED", message: "sign in first", status: 401 });
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
    const invoke = vi.fn(async (cmd: string) => {
      if (cmd === "login") throw { code: "UNAUTHENTICATED", message: "wrong email or password" };
      return { ok: cmd };
    });
    vi.stubGlobal("__TAURI_INTERNALS__", { invoke });
    expect(await call("plugins")).toEqual({ ok: "plugins" });
    await expect(call("login", { email: "a", password: "b" })).rejects.toMatchObject({ code: "UNAUTHENTICATED" });
    expect(invoke).toHaveBeenCalledWith("login", { email: "a", password: "b" });
  });
});
