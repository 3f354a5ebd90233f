import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { call, installPlugin, type Plugin, type Realtime } from "../api";
import { commandQuery } from "../query";
import { useUser } from "../session";
import { Alert, Loading, message } from "../ui";

const pluginsQuery = commandQuery<Plugin[]>("plugins");

export function Plugins() {
  const admin = useUser().role === "admin";
  const client = useQueryClient();
  const { data, error, isPending: loading } = useQuery(pluginsQuery);
  const reload = () => client.invalidateQueries({ queryKey: pluginsQuery.queryKey });
  const [selected, setSelected] = useState<string | null>(null);
  const plugin = data?.find((p) => p.name === selected) ?? null;
  return (
    <section>
      <h1>Plugins</h1>
      {loading && !data && <Loading what="plugins" />}
      <Alert kind="error">{error && message(error)}</Alert>
      {data && data.length === 0 && <p className="muted">No plugins installed.</p>}
      {data && data.length > 0 && (
        <ul className="cards" aria-label="Installed plugins">
          {data.map((p) => (
            <li key={p.name}>
              <button type="button" className={`card ${p.name === selected ? "selected" : ""}`} onClick={() => setSelected(p.name)} aria-pressed={p.name === selected}>
                <strong>{p.name}</strong> <span className="muted">v{p.version}</span> {!p.enabled && <span className="badge warn">disabled</span>}
                <span className="desc">{p.description}</span>
              </button>
            </li>
          ))}
        </ul>
      )}
      {admin && (
        <Install
          onInstalled={async (p) => {
            setSelected(p.name);
            await reload();
          }}
        />
      )}
      {plugin && <Details key={plugin.name} plugin={plugin} admin={admin} onChange={reload} />}
    </section>
  );
}

function Install({ onInstalled }: { onInstalled: (p: Plugin) => Promise<void> }) {
  const install = useMutation({
    mutationFn: async (form: FormData) => {
      const wasm = form.get("wasm") as File | null;
      const manifest = form.get("manifest") as File | null;
      if (!wasm || wasm.size === 0) throw new Error("Choose the plugin's .wasm file.");
      return installPlugin(wasm, manifest && manifest.size > 0 ? manifest : null, form.get("replace") === "on", form.get("grant") === "on");
    },
    onSuccess: onInstalled,
  });
  const busy = install.isPending;
  const p = install.data;
  return (
    <details className="panel">
      <summary>Install a plugin</summary>
      <form
        aria-label="Install a plugin"
        onSubmit={(e) => {
          e.preventDefault();
          install.mutate(new FormData(e.currentTarget));
        }}
      >
        <fieldset disabled={busy}>
          <div className="field">
            <label htmlFor="f-wasm">Module (.wasm)</label>
            <input id="f-wasm" name="wasm" type="file" accept=".wasm,application/wasm" required />
          </div>
          <div className="field">
            <label htmlFor="f-manifest">Manifest (plugin.json, optional)</label>
            <input id="f-manifest" name="manifest" type="file" accept=".json,application/json" />
          </div>
          <label className="check">
            <input type="checkbox" name="grant" defaultChecked /> Grant what the manifest requests
          </label>
          <label className="check">
            <input type="checkbox" name="replace" /> Replace an installed version
          </label>
          <button type="submit">{busy ? "Installing…" : "Install"}</button>
        </fieldset>
        <Alert kind="error">{install.error && message(install.error)}</Alert>
        <Alert kind="ok">
          {p && `Installed ${p.name} ${p.version}${p.granted.length ? ` with grants: ${p.granted.join(", ")}` : " with no grants"}.`}
        </Alert>
      </form>
    </details>
  );
}

function Details({ plugin, admin, onChange }: { plugin: Plugin; admin: boolean; onChange: () => Promise<unknown> }) {
  const action = useMutation({ mutationFn: (f: () => Promise<unknown>) => f(), onSuccess: onChange });
  const act = (f: () => Promise<unknown>) => action.mutate(f);
  const callable = admin ? plugin.exports : plugin.public;
  return (
    <article className="panel" aria-label={`Plugin ${plugin.name}`}>
      <h2>{plugin.name}</h2>
      <p>{plugin.description}</p>
      <dl className="facts">
        <dt>Functions</dt>
        <dd>{plugin.exports.join(", ") || "none"}</dd>
        <dt>Public</dt>
        <dd>{plugin.public.join(", ") || "none"}</dd>
        <dt>Module</dt>
        <dd>
          {(plugin.wasm_bytes / 1024).toFixed(0)} KiB, sha256 <code className="hash">{plugin.sha256}</code>
        </dd>
        {plugin.realtime && <RealtimeFacts rt={plugin.realtime} />}
      </dl>
      {admin && (
        <>
          <h3>Grants</h3>
          {plugin.granted.length === 0 && <p className="muted">No grants held.</p>}
          <ul className="grants" aria-label="Grants held">
            {plugin.granted.map((g) => (
              <li key={g}>
                <code>{g}</code>{" "}
                <button type="button" onClick={() => act(() => call("plugin_revoke", { name: plugin.name, grant: g }))} aria-label={`Revoke ${g}`}>
                  Revoke
                </button>
              </li>
            ))}
          </ul>
          {plugin.requested_grants
            .filter((g) => !plugin.granted.includes(g))
            .map((g) => (
              <button key={g} type="button" onClick={() => act(() => call("plugin_grant", { name: plugin.name, grant: g }))}>
                Grant {g}
              </button>
            ))}
          <div className="actions">
            {plugin.enabled ? (
              <button type="button" onClick={() => act(() => call("plugin_disable", { name: plugin.name }))}>
                Disable
              </button>
            ) : (
              <button type="button" onClick={() => act(() => call("plugin_enable", { name: plugin.name }))}>
                Enable
              </button>
            )}
            <button
              type="button"
              className="danger"
              onClick={() => confirm(`Remove ${plugin.name}?`) && act(() => call("plugin_remove", { name: plugin.name }))}
            >
              Remove
            </button>
          </div>
        </>
      )}
      <Alert kind="error">{action.error && message(action.error)}</Alert>
      {callable.length > 0 && <Playground plugin={plugin.name} functions={callable} />}
    </article>
  );
}

/** Input of the playground that is not JSON. */
class BadInput extends Error {}

function Playground({ plugin, functions }: { plugin: string; functions: string[] }) {
  const [fn, setFn] = useState(functions[0]);
  const [input, setInput] = useState("{}");
  // The last outcome stays shown while the next call runs.
  const [output, setOutput] = useState<{ text: string; failed: boolean } | null>(null);
  const run = useMutation({
    mutationFn: async () => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(input);
      } catch (e) {
        throw new BadInput(`The input is not JSON: ${(e as Error).message}`);
      }
      return call<unknown>("execute_plugin", { name: plugin, function: fn, input: parsed });
    },
    onSuccess: (out) => setOutput({ text: JSON.stringify(out, null, 2), failed: false }),
    onError: (e) => {
      const code = e instanceof BadInput ? null : ((e as { code?: string }).code ?? "ERROR");
      setOutput({ text: code ? `${code}: ${message(e)}` : message(e), failed: true });
    },
  });
  const busy = run.isPending;
  return (
    <div className="playground">
      <h3>Call playground</h3>
      <div className="field">
        <label htmlFor="f-fn">Function</label>
        <select id="f-fn" value={fn} onChange={(e) => setFn(e.target.value)}>
          {functions.map((f) => (
            <option key={f}>{f}</option>
          ))}
        </select>
      </div>
      <div className="field">
        <label htmlFor="f-input">Input (JSON)</label>
        <textarea id="f-input" rows={5} value={input} onChange={(e) => setInput(e.target.value)} spellCheck={false} />
      </div>
      <button type="button" onClick={() => run.mutate()} disabled={busy}>
        {busy ? "Calling…" : "Call"}
      </button>
      {output !== null && (
        <>
          <h4>{output.failed ? "Error" : "Output"}</h4>
          <pre className={output.failed ? "output failed" : "output"} aria-label="Call output" aria-live="polite">
            {output.text}
          </pre>
        </>
      )}
    </div>
  );
}

/** Realtime activity, shown only for plugins that have any. */
function RealtimeFacts({ rt }: { rt: Realtime }) {
  const active =
    rt.rooms + rt.ticks + rt.messages_in + rt.events_delivered + rt.events_failed + rt.events_dropped + rt.schedule_runs > 0;
  if (!active) return null;
  return (
    <>
      <dt>Rooms</dt>
      <dd>
        {rt.rooms} open, {rt.clients} clients; {rt.ticks} ticks ({rt.ticks_skipped} skipped, {rt.ticks_late} late),{" "}
        {rt.room_calls_failed} failed calls; {rt.messages_in} messages in, {rt.messages_out} out
        {rt.dropped_inputs > 0 && `, ${rt.dropped_inputs} inputs dropped`}
      </dd>
      {rt.events_delivered + rt.events_failed + rt.events_dropped > 0 && (
        <>
          <dt>Events</dt>
          <dd>
            {rt.events_delivered} delivered, {rt.events_failed} failed, {rt.events_dropped} dropped
          </dd>
        </>
      )}
      {rt.schedule_runs > 0 && (
        <>
          <dt>Schedules</dt>
          <dd>
            {rt.schedule_runs} runs, {rt.schedule_skipped} skipped, {rt.schedule_failed} failed
          </dd>
        </>
      )}
    </>
  );
}
