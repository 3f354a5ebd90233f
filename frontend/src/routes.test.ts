import { describe, expect, it } from "vitest";
import routes from "./routes.json";
import { body, url } from "./api";

interface Operation {
  parameters?: { name: string; in: string }[];
  requestBody?: unknown;
}
type OpenApi = { paths: Record<string, Record<string, Operation>> };

// The server's OpenAPI document (frontend/openapi.json, from `a2e openapi`), when it is there.
const doc = Object.values(import.meta.glob<OpenApi>("../openapi.json", { eager: true, import: "default" }))[0];

const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"];
const ENTRY_KEYS = ["method", "path", "body", "query"];

describe("routes.json", () => {
  const entries = Object.entries(routes as Record<string, Record<string, unknown>>);

  it("has every command the UI calls over HTTP", () => {
    expect(Object.keys(routes)).toEqual(expect.arrayContaining(Object.keys(BEFORE)));
  });

  it.each(entries)("%s is well formed", (command, r) => {
    expect(command).toMatch(/^[a-z][a-z0-9_]*$/);
    for (const k of Object.keys(r)) expect(ENTRY_KEYS).toContain(k);
    expect(METHODS).toContain(r.method);
    expect(typeof r.path).toBe("string");
    const path = r.path as string;
    expect(path).toMatch(/^\/api\//);
    // Placeholders are `{name}`, with no other brace, and each names an argument once.
    const names = [...path.matchAll(/\{([^{}]*)\}/g)].map((m) => m[1]);
    for (const n of names) expect(n).toMatch(/^[a-z_][a-z0-9_]*$/);
    expect(new Set(names).size).toBe(names.length);
    expect(path.replace(/\{[a-z_][a-z0-9_]*\}/g, "")).not.toMatch(/[{}?#]/);
    if ("body" in r) {
      const b = r.body;
      if (typeof b === "string") expect(b).toMatch(/^(args|arg:[a-z_][a-z0-9_]*)$/);
      else {
        expect(Array.isArray(b)).toBe(true);
        expect((b as unknown[]).length).toBeGreaterThan(0);
        for (const f of b as unknown[]) expect(f).toMatch(/^[a-z_][a-z0-9_]*$/);
      }
      expect(r.method).not.toBe("GET");
    }
    if ("query" in r) {
      expect(Array.isArray(r.query)).toBe(true);
      for (const q of r.query as unknown[]) {
        expect(q).toMatch(/^[a-z_][a-z0-9_]*$/);
        expect(names).not.toContain(q);
      }
    }
  });
});

describe.skipIf(!doc)("routes.json and the server's OpenAPI document", () => {
  it.each(Object.entries(routes as Record<string, { method: string; path: string; body?: unknown; query?: string[] }>))(
    "%s is an operation of the server with the same arguments",
    (_, r) => {
      const op = doc!.paths[r.path]?.[r.method.toLowerCase()];
      expect(op, `${r.method} ${r.path}`).toBeDefined();
      const params = op!.parameters ?? [];
      const inPath = [...r.path.matchAll(/\{([^{}]+)\}/g)].map((m) => m[1]);
      expect(params.filter((p) => p.in === "path" && inPath.includes(p.name)).map((p) => p.name).sort()).toEqual([...inPath].sort());
      // (The query arguments are only checked by name: where the document says they go is the server's business.)
      const names = params.map((p) => p.name);
      for (const q of r.query ?? []) expect(names).toContain(q);
      expect("requestBody" in op!).toBe("body" in r);
    },
  );
});

// The table api.ts had before routes.json, as functions: routes.json must build the same requests.
type Args = Record<string, unknown>;
const seg = (v: unknown) => encodeURIComponent(String(v));
const same = (a: Args) => a;
const BEFORE: Record<string, { path: (a: Args) => string; body?: (a: Args) => unknown; query?: (a: Args) => Args }> = {
  setup_status: { path: () => "/api/setup" },
  setup: { path: () => "/api/setup", body: same },
  signup: { path: () => "/api/auth/signup", body: same },
  login: { path: () => "/api/auth/login", body: same },
  logout: { path: () => "/api/auth/logout" },
  logout_all: { path: () => "/api/auth/logout-all" },
  session: { path: () => "/api/auth/session" },
  verify_email: { path: () => "/api/auth/verify-email", body: same },
  resend_verification: { path: () => "/api/auth/resend-verification", body: same },
  password_reset_request: { path: () => "/api/auth/password-reset/request", body: same },
  password_reset_confirm: { path: () => "/api/auth/password-reset/confirm", body: same },
  change_password: { path: () => "/api/auth/change-password", body: same },
  profile: { path: () => "/api/auth/profile" },
  update_profile: { path: () => "/api/auth/profile", body: same },
  sessions: { path: () => "/api/auth/sessions" },
  revoke_session: { path: (a) => `/api/auth/sessions/${seg(a.id)}` },
  plugins: { path: () => "/api/plugins" },
  plugin_remove: { path: (a) => `/api/plugins/${seg(a.name)}`, query: (a) => ({ purge: a.purge }) },
  plugin_enable: { path: (a) => `/api/plugins/${seg(a.name)}/enable` },
  plugin_disable: { path: (a) => `/api/plugins/${seg(a.name)}/disable` },
  plugin_grant: { path: (a) => `/api/plugins/${seg(a.name)}/grants`, body: (a) => ({ grant: a.grant }) },
  plugin_revoke: { path: (a) => `/api/plugins/${seg(a.name)}/grants/${seg(a.grant)}` },
  execute_plugin: { path: (a) => `/api/plugins/${seg(a.name)}/call/${seg(a.function)}`, body: (a) => a.input },
  db_status: { path: () => "/api/admin/db/status" },
  db_stats: { path: () => "/api/admin/db/stats" },
  db_verify: { path: () => "/api/admin/db/verify" },
  db_backup: { path: () => "/api/admin/db/backup" },
  audit_events: { path: () => "/api/admin/audit", query: same },
};

function before(command: string, args: Args): { url: string; body: unknown } {
  const r = BEFORE[command];
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(r.query ? r.query(args) : {})) {
    if (v !== undefined && v !== null && v !== "" && v !== false) params.set(k, String(v));
  }
  const qs = params.toString();
  return { url: r.path(args) + (qs ? `?${qs}` : ""), body: r.body ? (r.body(args) ?? {}) : undefined };
}

const SAMPLES: [string, Args][] = [
  ["setup_status", {}],
  ["login", { email: "a@b.c", password: "pw" }],
  ["logout", {}],
  ["update_profile", { name: "A", bio: null }],
  ["revoke_session", { id: "s/1 2" }],
  ["plugin_remove", { name: "template" }],
  ["plugin_remove", { name: "template", purge: true }],
  ["plugin_remove", { name: "template", purge: false }],
  ["plugin_enable", { name: "chat" }],
  ["plugin_grant", { name: "chat", grant: "http:http://127.0.0.1:8080" }],
  ["plugin_revoke", { name: "tem plate", grant: "db:users" }],
  ["execute_plugin", { name: "audit", function: "query", input: { kind: "auth.", limit: 50 } }],
  ["execute_plugin", { name: "game-logic", function: "rules" }],
  ["db_backup", {}],
  ["audit_events", {}],
  ["audit_events", { kind: "login.failed", plugin: "", user_uuid: "u-1", before_id: 42, limit: 10 }],
  ["audit_events", { kind: "a&b=c", before_id: undefined, limit: null }],
];

describe("url and body from routes.json", () => {
  it.each(SAMPLES)("%s %j builds the same request as before", (command, args) => {
    const old = before(command, args);
    expect(url(command, args)).toBe(old.url);
    expect(body(command, args)).toEqual(old.body);
  });

  it("builds these URLs", () => {
    expect(url("revoke_session", { id: "a b" })).toBe("/api/auth/sessions/a%20b");
    expect(url("execute_plugin", { name: "tick-manager", function: "list_matches", input: {} })).toBe(
      "/api/plugins/tick-manager/call/list_matches",
    );
    expect(url("plugin_remove", { name: "template", purge: true })).toBe("/api/plugins/template?purge=true");
    expect(url("audit_events", { plugin: "host", limit: 50 })).toBe("/api/admin/audit?plugin=host&limit=50");
  });
});
