import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { call, type DbStats, type DbStatus } from "../api";
import { commandQuery } from "../query";
import { Alert, Loading, message } from "../ui";

const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;

const statsQuery = commandQuery<DbStats>("db_stats");

export function Database() {
  const client = useQueryClient();
  const status = useQuery(commandQuery<DbStatus>("db_status"));
  const stats = useQuery(statsQuery);
  const run = useMutation({
    mutationFn: async (what: "db_verify" | "db_backup") => {
      const r = await call<{ ok?: boolean; path?: string; bytes?: number }>(what);
      return what === "db_verify"
        ? r.ok
          ? "Schema, pages and page HMACs check out."
          : `Problems found: ${JSON.stringify(r)}`
        : `Backup written to ${r.path} (${kib(r.bytes ?? 0)}).`;
    },
    onSuccess: () => client.invalidateQueries({ queryKey: statsQuery.queryKey }),
  });
  const busy = run.isPending;
  const loadError = status.error ?? stats.error;
  return (
    <section>
      <h1>Database</h1>
      {status.isPending && <Loading what="status" />}
      <Alert kind="error">{loadError && message(loadError)}</Alert>
      {status.data && (
        <dl className="facts">
          <dt>Encryption</dt>
          <dd>{status.data.encrypted ? <span className="badge ok">encrypted (SQLCipher {status.data.cipher_version})</span> : <span className="badge warn">not encrypted</span>}</dd>
          <dt>Key</dt>
          <dd>
            {status.data.key_source}
            {status.data.key_fingerprint && (
              <>
                , fingerprint <code>{status.data.key_fingerprint}</code>
              </>
            )}
          </dd>
          <dt>File</dt>
          <dd>
            <code>{status.data.path}</code>
          </dd>
          <dt>Schema version</dt>
          <dd>{status.data.schema_version}</dd>
          <dt>Health</dt>
          <dd>{status.data.healthy ? "answers" : "not answering"}</dd>
        </dl>
      )}
      <div className="actions">
        <button type="button" disabled={busy} onClick={() => run.mutate("db_verify")}>
          Verify integrity
        </button>
        <button type="button" disabled={busy} onClick={() => run.mutate("db_backup")}>
          Back up now
        </button>
      </div>
      <Alert kind="ok">{run.data}</Alert>
      <Alert kind="error">{run.error && message(run.error)}</Alert>
      {stats.data && (
        <>
          <h2>Statistics</h2>
          <p>
            {kib(stats.data.file_bytes)} on disk, {kib(stats.data.wal_bytes)} in the write-ahead log, {stats.data.page_count} pages of {stats.data.page_size} bytes.
          </p>
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Table</th>
                  <th scope="col">Rows</th>
                </tr>
              </thead>
              <tbody>
                {Object.entries(stats.data.tables).map(([t, n]) => (
                  <tr key={t}>
                    <td>{t}</td>
                    <td>{n}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  );
}
