// Who is signed in, and whether the server still needs its first administrator: read once (by the
// root route's loader) and kept in the query cache, which signing in and out update.
import { createContext, useCallback, useContext, type ReactNode } from "react";
import { queryOptions, useQueryClient } from "@tanstack/react-query";
import { useNavigate } from "react-router";
import { call, type SessionView, type SetupStatus, type User } from "./api";

export const setupQuery = queryOptions({
  queryKey: ["auth", "setup_status"],
  queryFn: ({ signal }) =>
    call<SetupStatus>("setup_status", {}, signal).catch((e: unknown): SetupStatus => {
      if (signal.aborted) throw e;
      return { needs_setup: false };
    }),
  staleTime: Infinity,
  gcTime: Infinity,
});

/** The signed-in user, or null. */
export const sessionQuery = queryOptions({
  queryKey: ["auth", "session"],
  queryFn: ({ signal }) =>
    call<SessionView>("session", {}, signal).then(
      (s): User | null => s.user,
      (e: unknown) => {
        if (signal.aborted) throw e;
        return null;
      },
    ),
  staleTime: Infinity,
  gcTime: Infinity,
});

const UserContext = createContext<User | null>(null);

export function UserProvider({ user, children }: { user: User; children: ReactNode }) {
  return <UserContext.Provider value={user}>{children}</UserContext.Provider>;
}

/** The signed-in user, on the pages that are only shown to one. */
export function useUser(): User {
  const user = useContext(UserContext);
  if (!user) throw new Error("useUser outside the signed-in pages");
  return user;
}

/** After signing in (or creating the administrator): the user is known, and their profile opens. */
export function useSignedIn(): (user: User) => Promise<void> {
  const client = useQueryClient();
  const navigate = useNavigate();
  return useCallback(
    async (user: User) => {
      client.setQueryData(setupQuery.queryKey, { needs_setup: false });
      client.setQueryData(sessionQuery.queryKey, user);
      await navigate("/profile");
    },
    [client, navigate],
  );
}

/** After signing out (or being signed out): back to the login page, and nothing of the user's kept. */
export function useSignedOut(): () => Promise<void> {
  const client = useQueryClient();
  const navigate = useNavigate();
  return useCallback(async () => {
    client.setQueryData(sessionQuery.queryKey, null);
    await navigate("/login");
    client.removeQueries({ predicate: (q) => q.queryKey[0] !== "auth" });
  }, [client, navigate]);
}

/** Replaces the signed-in user after a change of their profile. */
export function useSetUser(): (user: User) => void {
  const client = useQueryClient();
  return useCallback((user: User) => client.setQueryData(sessionQuery.queryKey, user), [client]);
}
