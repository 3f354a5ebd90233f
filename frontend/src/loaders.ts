// The route loaders: who may see which page is decided here, before anything renders.
import { redirect, replace, type LoaderFunctionArgs } from "react-router";
import type { User } from "./api";
import { queryClient } from "./query";
import { sessionQuery, setupQuery } from "./session";

/** The pages shown without signing in. */
export const PUBLIC = ["/login", "/signup", "/verify-email", "/forgot-password", "/reset-password", "/setup"];
/** The pages a signed-in user is sent away from, to their profile. */
const SIGNED_IN_AWAY = ["/", "/login", "/signup", "/setup"];

/**
 * Sends the request where it belongs: to /setup while the server has no administrator, to /login
 * when not signed in on a page that needs it, to /profile when signed in on the start, login,
 * signup or setup page. Returns the signed-in user otherwise.
 */
export async function access({ request }: LoaderFunctionArgs): Promise<User | null> {
  const [setup, user] = await Promise.all([queryClient.ensureQueryData(setupQuery), queryClient.ensureQueryData(sessionQuery)]);
  const path = new URL(request.url).pathname;
  if (setup.needs_setup && path !== "/setup") throw redirect("/setup");
  if (!user && !PUBLIC.includes(path)) throw redirect("/login");
  if (user && SIGNED_IN_AWAY.includes(path)) throw redirect("/profile");
  return user;
}

/** The root route: every navigation passes here. */
export async function rootLoader(args: LoaderFunctionArgs): Promise<null> {
  await access(args);
  return null;
}

/** The administrators' pages: anyone else goes to their profile. */
export async function adminLoader(args: LoaderFunctionArgs): Promise<null> {
  const user = await access(args);
  if (user?.role !== "admin") throw redirect("/profile");
  return null;
}

/** An address that is no page: the profile (or the login page, through `access`). */
export async function notFoundLoader(args: LoaderFunctionArgs): Promise<never> {
  await access(args);
  throw redirect("/profile");
}

let linkToken: { path: string; token: string } | null = null;

/**
 * The pages opened from a link in an email (`?token=…`): the token is kept in memory and taken out
 * of the address bar; the page gets it as its loader data (null without one).
 */
export function linkTokenLoader({ request }: LoaderFunctionArgs): string | null {
  const url = new URL(request.url);
  const token = url.searchParams.get("token");
  if (token) {
    linkToken = { path: url.pathname, token };
    throw replace(url.pathname);
  }
  return linkToken?.path === url.pathname ? linkToken.token : null;
}
