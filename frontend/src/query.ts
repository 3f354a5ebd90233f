// Data loading: one TanStack Query client, and query options for API commands and plugin calls.
import { QueryClient, queryOptions } from "@tanstack/react-query";
import { call, pluginCall } from "./api";

export const queryClient = new QueryClient({
  defaultOptions: {
    // A failure shows at once (as it always did), and a page loads its data when it opens, not
    // again whenever the window gets the focus.
    queries: { retry: false, refetchOnWindowFocus: false },
  },
});

/** A query of an API command; its key is `[command, args]`, so `[command]` invalidates every one. */
export function commandQuery<T>(command: string, args: Record<string, unknown> = {}) {
  return queryOptions({
    queryKey: [command, args],
    queryFn: ({ signal }) => call<T>(command, args, signal),
  });
}

/** A query of a plugin's function; its key is `["plugin", plugin, fn, input]`. */
export function pluginQuery<T>(plugin: string, fn: string, input: Record<string, unknown> = {}) {
  return queryOptions({
    queryKey: ["plugin", plugin, fn, input],
    queryFn: ({ signal }) => pluginCall<T>(plugin, fn, input, signal),
  });
}

/** The key prefix of every query of a plugin's function, whatever its input. */
export const pluginKey = (plugin: string, fn: string) => ["plugin", plugin, fn];
