import { useEffect, useRef, useState } from "react";
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

/** The audit trail kept by the audit plugin: its records, live, and a check of its hash chain. */
export function Audit() {
  const [filter, setFilter] = useState<Filter>({});
  const [records, setRecords] = useState<TrailRecord[]>([]);
  const [next, setNext] = useState<number | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | null>(null);
  const [live, setLive] = useState(false);
  const [verified, setVerified] = useState<Verified | null>(null);
  const [verifying, setVerifying] = useState(false);
  const generation = useRef(0);

  const load = async (before?: number) => {
    const mine = ++generation.current;
    setLoading(true);
    try {
      const page = await pluginCall<{ records: TrailRecord[]; next: number | null }>("audit", "query", {
        ...filter,
        ...(before ? { before } : {}),
        limit: PAGE,
      });
      if (mine !== generation.current) return; // a newer load is under way
      setRecords((old) => (before ? [...old, ...page.records] : page.records));
      setNext(page.next);
      setError(null);
    } catch (e) {
      if (mine === generation.current) setError(message(e));
    } finally {
      if (mine === generation.current) setLoading(false);
    }
  };

  useEffect(() => {
    load();
    // The trail records each event a moment after it happens: reload shortly after one arrives.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stop = subscribeEvents(() => {
      clearTimeout(timer);
      timer = setTimeout(() => load(), 300);
    }, setLive);
    return () => {
      clearTimeout(timer);
      stop();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [filter]);

  const verify = async () => {
    setVerifying(true);
    setVerified(null);
    try {
      let input: Record<string, unknown> = {};
      let checked = 0;
      for (;;) {
        const part = await pluginCall<Verified>("audit", "verify", input);
        checked += part.checked;
        if (part.done) {
          setVerified({ ...part, checked });
          break;
        }
        input = { from: part.next?.from, prev: part.next?.prev };
      }
    } catch (e) {
      setError(message(e));
    } finally {
      setVerifying(false);
    }
  };

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
        <button type="button" onClick={verify} disabled={verifying}>
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
        <button type="button" disabled={loading} onClick={() => load(next)}>
          Older records
        </button>
      )}
    </section>
  );
}
