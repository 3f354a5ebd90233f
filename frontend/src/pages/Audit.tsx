import { useEffect, useMemo, useState } from "react";
import { keepPreviousData, useInfiniteQuery, useMutation, useQueryClient, type InfiniteData } from "@tanstack/react-query";
import { pluginCall, subscribeEvents } from "../api";
import { Alert, Loading, message, when } from "../ui";

/** One record of the audit plugin's hash-chained trail. */
interface TrailRecord {
  seq: number;
  at: number;
  kind: string;
  plugin: string | null;
  user: string | null;
  data: unknown;
  hash: string;
}

interface Verified {
  ok: boolean;
  done: boolean;
  checked: number;
  first: number;
  last: number;
  head: string;
  broken: { seq: number; reason: string } | null;
  next: { from: number; prev: string } | null;
}

interface Filter {
  kind?: string;
  plugin?: string;
  user?: string;
}

const PAGE = 50;

interface Page {
  records: TrailRecord[];
  next: number | null;
}

/** The audit trail kept by the audit plugin: its records, live, and a check of its hash chain. */
export function Audit() {
  const client = useQueryClient();
  const [filter, setFilter] = useState<Filter>({});
  const [live, setLive] = useState(false);
  const queryKey = useMemo(() => ["plugin", "audit", "query", filter], [filter]);
  // The newest records first; "Older records" reads the next page, from before the last one shown.
  const trail = useInfiniteQuery({
    queryKey,
    queryFn: ({ pageParam, signal }) =>
      pluginCall<Page>("audit", "query", { ...filter, ...(pageParam ? { before: pageParam } : {}), limit: PAGE }, signal),
    initialPageParam: 0,
    getNextPageParam: (last: Page) => last.next ?? undefined,
    // Another filter keeps the records shown until its own arrive.
    placeholderData: keepPreviousData,
  });
  const records = trail.data?.pages.flatMap((p) => p.records) ?? [];
  const next = trail.hasNextPage ? trail.data?.pages[trail.data.pages.length - 1].next : null;
  const loading = trail.isFetching;

  useEffect(() => {
    // The trail records each event a moment after it happens: read its newest page again shortly
    // after one arrives (the older pages shown are dropped, as a fresh look at the trail).
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stop = subscribeEvents(() => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        client.setQueryData<InfiniteData<Page, number>>(queryKey, (d) =>
          d && { pages: d.pages.slice(0, 1), pageParams: d.pageParams.slice(0, 1) },
        );
        client.invalidateQueries({ queryKey, exact: true });
      }, 300);
    }, setLive);
    return () => {
      clearTimeout(timer);
      stop();
    };
  }, [client, queryKey]);

  const verify = useMutation({
    mutationFn: async () => {
      let input: Record<string, unknown> = {};
      let checked = 0;
      for (;;) {
        const part = await pluginCall<Verified>("audit", "verify", input);
        checked += part.checked;
        if (part.done) return { ...part, checked };
        input = { from: part.next?.from, prev: part.next?.prev };
      }
    },
  });
  const verifying = verify.isPending;
  const verified = verify.data ?? null;
  const failure = verify.error ?? trail.error;
  const error = failure && message(failure);

  return (
    <section>
      <h1>Audit log</h1>
      <p className="muted" role="status">
        Live events: {live ? <span className="badge ok">connected</span> : <span className="badge warn">not connected</span>}
      </p>
      <div className="panel">
        <h2>Integrity</h2>
        <p className="muted">
          Each record carries the hash of the one before it, so a changed or deleted record breaks the chain there.
        </p>
        <button type="button" onClick={() => verify.mutate()} disabled={verifying}>
          {verifying ? "Verifying…" : "Verify the trail"}
        </button>
        {verified && verified.ok && (
          <Alert kind="ok">
            Intact: {verified.checked} records ({verified.first} to {verified.last}). Head <code className="hash">{verified.head}</code>
          </Alert>
        )}
        {verified && !verified.ok && (
          <Alert kind="error">
            Broken at record {verified.broken?.seq}: {verified.broken?.reason}
          </Alert>
        )}
      </div>
      <form
        className="filters"
        aria-label="Filter records"
        onSubmit={(e) => {
          e.preventDefault();
          const d = new FormData(e.currentTarget);
          const value = (k: string) => String(d.get(k) || "").trim() || undefined;
          setFilter({ kind: value("kind"), plugin: value("plugin"), user: value("user") });
        }}
      >
        <div className="field">
          <label htmlFor="f-kind">Kind (or a prefix ending in ".")</label>
          <input id="f-kind" name="kind" placeholder="auth." />
        </div>
        <div className="field">
          <label htmlFor="f-plugin">Plugin ("host" for the host)</label>
          <input id="f-plugin" name="plugin" placeholder="anticheat" />
        </div>
        <div className="field">
          <label htmlFor="f-user">User</label>
          <input id="f-user" name="user" placeholder="user uuid" />
        </div>
        <button type="submit">Filter</button>
      </form>
      <Alert kind="error">{error}</Alert>
      {loading && records.length === 0 && <Loading what="records" />}
      {!loading && records.length === 0 && !error && <p className="muted">No records.</p>}
      {records.length > 0 && (
        <div className="table-wrap">
          <table aria-label="Audit records">
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col">Time</th>
                <th scope="col">Kind</th>
                <th scope="col">Plugin</th>
                <th scope="col">User</th>
                <th scope="col">Details</th>
              </tr>
            </thead>
            <tbody>
              {records.map((r) => (
                <tr key={r.seq}>
                  <td>{r.seq}</td>
                  <td>{when(r.at)}</td>
                  <td>
                    <code>{r.kind}</code>
                  </td>
                  <td>{r.plugin ?? "host"}</td>
                  <td>
                    <code className="hash">{r.user ?? "—"}</code>
                  </td>
                  <td>
                    <code className="hash">{JSON.stringify(r.data)}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {next != null && (
        <button type="button" disabled={loading} onClick={() => trail.fetchNextPage()}>
          Older records
        </button>
      )}
    </section>
  );
}
