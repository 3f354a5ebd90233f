import { useEffect, useState } from "react";
import { call, subscribeEvents, type AuditEvent, type AuditQuery } from "../api";
import { Alert, Loading, message, when } from "../ui";

export function Audit() {
  const [filter, setFilter] = useState<AuditQuery>({});
  const [events, setEvents] = useState<AuditEvent[]>([]);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | null>(null);
  const [more, setMore] = useState(false);
  const [live, setLive] = useState(false);
  const PAGE = 50;

  const load = async (before?: number) => {
    setLoading(true);
    try {
      const page = await call<AuditEvent[]>("audit_events", { ...filter, before_id: before, limit: PAGE });
      setEvents((old) => (before ? [...old, ...page] : page));
      setMore(page.length === PAGE);
      setError(null);
    } catch (e) {
      setError(message(e));
    } finally {
      setLoading(false);
    }
  };

  useEffect(() => {
    load();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [filter]);

  useEffect(
    () =>
      subscribeEvents(
        (e) => {
          const matches = (!filter.kind || e.kind === filter.kind) && (!filter.plugin || e.plugin === filter.plugin);
          if (matches) setEvents((old) => (old.some((o) => o.id === e.id) ? old : [e, ...old]));
        },
        setLive,
      ),
    [filter],
  );

  return (
    <section>
      <h1>Audit log</h1>
      <p className="muted" role="status">
        Live events: {live ? <span className="badge ok">connected</span> : <span className="badge warn">not connected</span>}
      </p>
      <form
        className="filters"
        aria-label="Filter events"
        onSubmit={(e) => {
          e.preventDefault();
          const d = new FormData(e.currentTarget);
          setFilter({ kind: String(d.get("kind") || "") || undefined, plugin: String(d.get("plugin") || "") || undefined });
        }}
      >
        <div className="field">
          <label htmlFor="f-kind">Kind</label>
          <input id="f-kind" name="kind" placeholder="login.failed" />
        </div>
        <div className="field">
          <label htmlFor="f-plugin">Plugin</label>
          <input id="f-plugin" name="plugin" placeholder="auth" />
        </div>
        <button type="submit">Filter</button>
      </form>
      <Alert kind="error">{error}</Alert>
      {loading && events.length === 0 && <Loading what="events" />}
      {!loading && events.length === 0 && <p className="muted">No events.</p>}
      {events.length > 0 && (
        <div className="table-wrap">
          <table aria-label="Audit events">
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col">Time</th>
                <th scope="col">Kind</th>
                <th scope="col">Plugin</th>
                <th scope="col">User</th>
                <th scope="col">Client</th>
              </tr>
            </thead>
            <tbody>
              {events.map((e) => (
                <tr key={e.id}>
                  <td>{e.id}</td>
                  <td>{when(e.at)}</td>
                  <td>
                    <code>{e.kind}</code>
                  </td>
                  <td>{e.plugin ?? "—"}</td>
                  <td>
                    <code className="hash">{e.user_uuid ?? "—"}</code>
                  </td>
                  <td>{e.client_addr ?? "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {more && (
        <button type="button" disabled={loading} onClick={() => load(events[events.length - 1]?.id)}>
          Older events
        </button>
      )}
    </section>
  );
}
