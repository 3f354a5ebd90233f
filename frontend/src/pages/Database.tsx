import { useState } from "react";
import { call, type DbStats, type DbStatus } from "../api";
import { Alert, Loading, message, useLoad } from "../ui";

const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;

export function Database() {
  const status = useLoad(() => call<DbStatus>("db_status"));
  const stats = useLoad(() => call<DbStats>("db_stats"));
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const run = async (what: "db_verify" | "db_backup") => {
    setBusy(true);
    setError(null);
    setResult(null);
    try {
      const r = await call<{ ok?: boolean; path?: string; bytes?: number }>(what);
      setResult(what === "db_verify" ? (r.ok ? "Schema, pages and page HMACs check out." : `Problems found: ${JSON.stringify(r)}`) : `Backup written to ${r.path} (${kib(r.bytes ?? 0)}).`);
      stats.reload();
    } catch (e) {
      setError(message(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section>
      <h1>Database</h1>
      {status.loading && !status.data && <Loading what="status" />}
      <Alert kind="error">{status.error ?? stats.error}</Alert>
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
        <button type="button" disabled={busy} onClick={() => run("db_verify")}>
          Verify integrity
        </button>
        <button type="button" disabled={busy} onClick={() => run("db_backup")}>
          Back up now
        </button>
      </div>
      <Alert kind="ok">{result}</Alert>
      <Alert kind="error">{error}</Alert>
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
