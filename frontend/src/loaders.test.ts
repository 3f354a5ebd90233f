import { afterEach, describe, expect, it, vi } from "vitest";
import type { LoaderFunctionArgs } from "react-router";
import type { User } from "./api";
import { adminLoader, linkTokenLoader, notFoundLoader, rootLoader } from "./loaders";
import { queryClient } from "./query";
import { sessionQuery, setupQuery } from "./session";

vi.mock("@tauri-apps/api/core", () => ({ isTauri: () => false, invoke: vi.fn() }));

const user = (role: "user" | "admin"): User => ({
  uuid: "u-1",
  name: "A",
  email: "a@example.com",
  email_verified: true,
  avatar: null,
  bio: null,
  role,
  created_at: 0,
});

function at(path: string): LoaderFunctionArgs {
  return { request: new Request(`http://localhost${path}`), params: {}, context: undefined } as LoaderFunctionArgs;
}

/** Where a loader sends the request: its redirect's location, or null when it lets the page show. */
async function where(loader: (a: LoaderFunctionArgs) => unknown, path: string): Promise<string | null> {
  try {
    await loader(at(path));
    return null;
  } catch (e) {
    if (e instanceof Response) return e.headers.get("Location");
    throw e;
  }
}

function given(needsSetup: boolean, signedIn: User | null) {
  queryClient.setQueryData(setupQuery.queryKey, { needs_setup: needsSetup });
  queryClient.setQueryData(sessionQuery.queryKey, signedIn);
}

afterEach(() => {
  queryClient.clear();
  vi.unstubAllGlobals();
});

describe("the root loader", () => {
  it("sends everything to /setup while the server needs its administrator", async () => {
    given(true, null);
    expect(await where(rootLoader, "/")).toBe("/setup");
    expect(await where(rootLoader, "/login")).toBe("/setup");
    expect(await where(rootLoader, "/setup")).toBeNull();
  });
  it("sends a visitor to /login, except on the public pages", async () => {
    given(false, null);
    for (const path of ["/", "/profile", "/plugins", "/database", "/chat"]) expect(await where(rootLoader, path)).toBe("/login");
    for (const path of ["/login", "/signup", "/verify-email", "/forgot-password", "/reset-password", "/setup"]) {
      expect(await where(rootLoader, path)).toBeNull();
    }
  });
  it("sends a signed-in user from the start, login, signup and setup pages to /profile", async () => {
    given(false, user("user"));
    for (const path of ["/", "/login", "/signup", "/setup"]) expect(await where(rootLoader, path)).toBe("/profile");
    for (const path of ["/profile", "/plugins", "/play", "/verify-email"]) expect(await where(rootLoader, path)).toBeNull();
  });
  it("asks the server once, and takes a failure as signed out with no setup needed", async () => {
    const fetch = vi.fn(async (url: string) =>
      url === "/api/setup" ? new Response("boom", { status: 500 }) : new Response('{"code":"UNAUTHENTICATED"}', { status: 401 }),
    );
    vi.stubGlobal("fetch", fetch);
    expect(await where(rootLoader, "/profile")).toBe("/login");
    expect(await where(rootLoader, "/login")).toBeNull();
    expect(fetch).toHaveBeenCalledTimes(2);
  });
});

describe("the administrators' pages", () => {
  it("let an administrator in", async () => {
    given(false, user("admin"));
    expect(await where(adminLoader, "/database")).toBeNull();
  });
  it("send anyone else to their profile, or to log in", async () => {
    given(false, user("user"));
    expect(await where(adminLoader, "/audit")).toBe("/profile");
    given(false, null);
    expect(await where(adminLoader, "/audit")).toBe("/login");
  });
});

describe("other routes", () => {
  it("send an unknown address to the profile, or to log in", async () => {
    given(false, user("user"));
    expect(await where(notFoundLoader, "/nope")).toBe("/profile");
    given(false, null);
    expect(await where(notFoundLoader, "/nope")).toBe("/login");
  });
  it("take the token of an email link out of the address and hand it to the page", () => {
    expect(linkTokenLoader(at("/verify-email"))).toBeNull();
    let thrown: unknown;
    try {
      linkTokenLoader(at("/verify-email?token=abc"));
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(Response);
    expect((thrown as Response).headers.get("Location")).toBe("/verify-email");
    expect(linkTokenLoader(at("/verify-email"))).toBe("abc");
    expect(linkTokenLoader(at("/reset-password"))).toBeNull();
  });
});
