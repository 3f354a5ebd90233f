// The route table rendered on the server side of React (no DOM here): where each address ends
// up and what it shows, for a visitor, a user and an administrator.
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { renderToString } from "react-dom/server";
import { QueryClientProvider } from "@tanstack/react-query";
import { createMemoryRouter, RouterProvider } from "react-router";
import type { User } from "./api";
import { routes } from "./App";
import { queryClient } from "./query";
import { sessionQuery, setupQuery } from "./session";

vi.mock("@tauri-apps/api/core", () => ({ isTauri: () => false, invoke: vi.fn() }));

const person = (role: "user" | "admin"): User => ({
  uuid: "u-1",
  name: "Ada",
  email: "ada@example.com",
  email_verified: true,
  avatar: null,
  bio: null,
  role,
  created_at: 0,
});

function given(needsSetup: boolean, user: User | null) {
  queryClient.setQueryData(setupQuery.queryKey, { needs_setup: needsSetup });
  queryClient.setQueryData(sessionQuery.queryKey, user);
}

/** Opens `path` and returns where the router ended up and what it renders. */
async function open(path: string): Promise<{ at: string; html: string }> {
  const router = createMemoryRouter(routes, { initialEntries: [path] });
  const done = () => router.state.initialized && router.state.navigation.state === "idle";
  if (!done()) {
    await new Promise<void>((resolve) => {
      const stop = router.subscribe(() => {
        if (done()) {
          stop();
          resolve();
        }
      });
    });
  }
  const html = renderToString(
    <QueryClientProvider client={queryClient}>
      <RouterProvider router={router} />
    </QueryClientProvider>,
  );
  router.dispose();
  const { pathname, search } = router.state.location;
  return { at: pathname + search, html };
}

const heading = (html: string) => /<h1[^>]*>(.*?)<\/h1>/.exec(html)?.[1];
const links = (html: string) => [...html.matchAll(/<a [^>]*>([^<]*)<\/a>/g)].map((m) => m[1]);

beforeAll(() => {
  // The router's layout effects do nothing here, as React says for each; nothing else is muted.
  const error = console.error.bind(console);
  vi.spyOn(console, "error").mockImplementation((...args: unknown[]) => {
    if (String(args[0]).startsWith("Warning: useLayoutEffect does nothing on the server")) return;
    error(...args);
  });
});

afterEach(() => {
  queryClient.clear();
  vi.unstubAllGlobals();
});

describe("the app's routes", () => {
  it("open the setup page while the server needs its administrator, with no links", async () => {
    given(true, null);
    const { at, html } = await open("/");
    expect(at).toBe("/setup");
    expect(heading(html)).toBe("Welcome to a2e");
    expect(links(html)).toEqual([]);
  });

  it("send a visitor to log in, and show the public pages", async () => {
    given(false, null);
    let page = await open("/profile");
    expect(page.at).toBe("/login");
    expect(heading(page.html)).toBe("Log in");
    expect(links(page.html)).toEqual(["Log in", "Sign up", "Forgot your password?", "Create an account"]);
    expect(page.html).toContain('aria-current="page"');
    page = await open("/signup");
    expect(heading(page.html)).toBe("Sign up");
    page = await open("/forgot-password");
    expect(heading(page.html)).toBe("Forgot your password?");
  });

  it("show a user their pages, not the administrators'", async () => {
    given(false, person("user"));
    let page = await open("/login");
    expect(page.at).toBe("/profile");
    expect(heading(page.html)).toBe("Profile");
    expect(links(page.html)).toEqual(["Play", "Chat", "Agents", "Profile", "Sessions", "Plugins"]);
    expect(page.html).toContain("Log out");
    for (const path of ["/database", "/audit", "/anticheat", "/chat-providers", "/nowhere"]) {
      expect((await open(path)).at).toBe("/profile");
    }
    page = await open("/plugins");
    expect(page.at).toBe("/plugins");
    expect(heading(page.html)).toBe("Plugins");
    expect((await open("/chat?s=abc")).at).toBe("/chat?s=abc");
  });

  it("show an administrator every page", async () => {
    given(false, person("admin"));
    const { at, html } = await open("/database");
    expect(at).toBe("/database");
    expect(heading(html)).toBe("Database");
    expect(links(html)).toEqual([
      "Play",
      "Chat",
      "Agents",
      "Profile",
      "Sessions",
      "Plugins",
      "Database",
      "Audit log",
      "Anticheat",
      "Chat providers",
    ]);
    expect(heading((await open("/audit")).html)).toBe("Audit log");
    expect(heading((await open("/anticheat")).html)).toBe("Anticheat");
    expect(heading((await open("/chat-providers")).html)).toBe("Chat providers");
  });

  it("take the token of an email link out of the address", async () => {
    given(false, null);
    vi.stubGlobal("fetch", () => new Promise(() => {}));
    const { at, html } = await open("/verify-email?token=abc");
    expect(at).toBe("/verify-email");
    expect(heading(html)).toBe("Verify your email");
    expect(html.replace(/<!-- -->/g, "")).toContain("Loading verification…");
  });
});
