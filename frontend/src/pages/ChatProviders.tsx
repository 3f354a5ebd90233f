import { useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { call, pluginCall } from "../api";
import { grantFromError, originOf, stopList, type Provider } from "../chat";
import { pluginQuery } from "../query";
import { Alert, Loading, message } from "../ui";

interface Saved {
  provider: Provider;
  models: string[];
}

const providersQuery = pluginQuery<Provider[]>("chat", "providers");

/** Administrators: the model servers the chat uses. */
export function ChatProviders() {
  const client = useQueryClient();
  const { data, error, isPending: loading } = useQuery(providersQuery);
  const reload = () => client.invalidateQueries({ queryKey: providersQuery.queryKey });
  const [editing, setEditing] = useState<Provider | null>(null);
  const [formKey, setFormKey] = useState(0);

  const edit = (p: Provider | null) => {
    setEditing(p);
    setFormKey((k) => k + 1);
  };

  const remove = useMutation({
    mutationFn: (p: Provider) => pluginCall("chat", "delete_provider", { id: p.id }),
    onSuccess: (_, p) => {
      if (editing?.id === p.id) edit(null);
      return reload();
    },
  });
  const removeIfSure = (p: Provider) => {
    if (confirm(`Delete the provider “${p.name}”? Chats that use it can no longer be answered.`)) remove.mutate(p);
  };
  const status = remove.isSuccess ? `Deleted ${remove.variables.name}.` : null;
  const failed = remove.error ?? error;

  return (
    <section>
      <h1>Chat providers</h1>
      <p className="muted">
        The model servers chats are answered by: an OpenAI-compatible server (llama.cpp, vLLM, LM Studio…) or Ollama. The
        chat plugin needs a grant for each server's origin; saving a provider checks that it answers with its models.
      </p>
      <Alert kind="ok">{status}</Alert>
      <Alert kind="error">{failed && message(failed)}</Alert>
      {loading && !data && <Loading what="providers" />}
      {data?.length === 0 && <p className="muted">No provider yet: add the first one below.</p>}
      {data && data.length > 0 && (
        <div className="table-wrap">
          <table aria-label="Chat providers">
            <thead>
              <tr>
                <th scope="col">Provider</th>
                <th scope="col">Kind</th>
                <th scope="col">Base URL</th>
                <th scope="col">Default model</th>
                <th scope="col">Users</th>
                <th scope="col"></th>
              </tr>
            </thead>
            <tbody>
              {data.map((p) => (
                <tr key={p.id}>
                  <td>
                    {p.name} <code className="hash">{p.id}</code>
                  </td>
                  <td>{p.kind}</td>
                  <td>
                    <code className="hash">{p.base_url}</code>
                  </td>
                  <td>{p.default_model ?? <span className="muted">none</span>}</td>
                  <td>{p.users.length ? `${p.users.length} user${p.users.length > 1 ? "s" : ""} only` : "everyone"}</td>
                  <td>
                    <button type="button" onClick={() => edit(p)} aria-label={`Edit ${p.name}`}>
                      Edit
                    </button>
                    <button type="button" className="danger" onClick={() => removeIfSure(p)} aria-label={`Delete ${p.name}`}>
                      Delete
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <h2>{editing ? `Edit ${editing.name}` : "Add a provider"}</h2>
      {editing && (
        <button type="button" className="link" onClick={() => edit(null)}>
          Cancel editing, add a new provider
        </button>
      )}
      <ProviderForm
        key={formKey}
        provider={editing}
        onSaved={() => {
          remove.reset();
          return reload();
        }}
      />
    </section>
  );
}

function ProviderForm({ provider, onSaved }: { provider: Provider | null; onSaved: () => Promise<unknown> }) {
  const [id, setId] = useState(provider?.id ?? "");
  const [name, setName] = useState(provider?.name ?? "");
  const [kind, setKind] = useState<Provider["kind"]>(provider?.kind ?? "openai");
  const [baseUrl, setBaseUrl] = useState(provider?.base_url ?? "http://127.0.0.1:8080");
  const [defaultModel, setDefaultModel] = useState(provider?.default_model ?? "");
  const [users, setUsers] = useState((provider?.users ?? []).join(", "));
  const client = useQueryClient();
  const save = useMutation({
    mutationFn: (input: Record<string, unknown>) => pluginCall<Saved>("chat", "save_provider", input),
    onSuccess: (r) => {
      setDefaultModel(r.provider.default_model ?? "");
      return onSaved();
    },
  });
  // Granting the chat plugin the server's origin, then saving again.
  const grantAccess = useMutation({
    mutationFn: (grant: string) => call("plugin_grant", { name: "chat", grant }),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ["plugins"] });
      send();
    },
  });
  const send = () => {
    grantAccess.reset();
    save.mutate({
      id: id.trim(),
      name: name.trim(),
      kind,
      base_url: baseUrl.trim(),
      ...(defaultModel.trim() ? { default_model: defaultModel.trim() } : {}),
      users: stopList(users),
    });
  };
  const busy = save.isPending || grantAccess.isPending;
  const saveError = save.error && message(save.error);
  // A server the chat plugin may not reach yet: the grant that would let it.
  const origin = originOf(String(save.variables?.base_url ?? ""));
  const grant = saveError && /grant/i.test(saveError) ? (grantFromError(saveError) ?? (origin ? `http:${origin}` : null)) : null;
  const error = grantAccess.error ? `Could not grant ${grantAccess.variables}: ${message(grantAccess.error)}` : saveError;
  const saved = save.data ?? null;

  const submit = (e: FormEvent) => {
    e.preventDefault();
    send();
  };

  return (
    <form onSubmit={submit} aria-label={provider ? `Edit the provider ${provider.name}` : "Add a provider"} aria-busy={busy}>
      <fieldset disabled={busy}>
        <div className="field">
          <label htmlFor="p-id">Id (a-z, 0-9 and -)</label>
          <input
            id="p-id"
            value={id}
            onChange={(e) => setId(e.target.value)}
            required
            pattern="[a-z0-9\-]{1,32}"
            readOnly={!!provider}
            autoComplete="off"
          />
        </div>
        <div className="field">
          <label htmlFor="p-name">Name</label>
          <input id="p-name" value={name} onChange={(e) => setName(e.target.value)} maxLength={80} />
        </div>
        <div className="field">
          <label htmlFor="p-kind">Kind</label>
          <select id="p-kind" value={kind} onChange={(e) => setKind(e.target.value as Provider["kind"])}>
            <option value="openai">OpenAI-compatible (llama.cpp, vLLM, LM Studio…)</option>
            <option value="ollama">Ollama</option>
          </select>
        </div>
        <div className="field">
          <label htmlFor="p-url">Base URL</label>
          <input id="p-url" type="url" value={baseUrl} onChange={(e) => setBaseUrl(e.target.value)} required />
        </div>
        <div className="field">
          <label htmlFor="p-model">Default model (optional: the first the server lists)</label>
          <input id="p-model" value={defaultModel} onChange={(e) => setDefaultModel(e.target.value)} />
        </div>
        <div className="field">
          <label htmlFor="p-users">Only these users (user ids, comma separated; empty: everyone)</label>
          <input id="p-users" value={users} onChange={(e) => setUsers(e.target.value)} autoComplete="off" />
        </div>
        <button type="submit">{busy ? "Checking…" : "Save provider"}</button>
      </fieldset>
      <Alert kind="error">{error}</Alert>
      {grant && (
        <button type="button" onClick={() => grantAccess.mutate(grant)} disabled={busy}>
          Grant access to {grant.replace(/^http:/, "")}
        </button>
      )}
      {saved && (
        <div className="alert ok" role="status">
          Saved {saved.provider.name}.{" "}
          {saved.models.length > 0 ? (
            <>
              It serves {saved.models.length} model{saved.models.length > 1 ? "s" : ""}:
              <ul aria-label="Models the provider serves">
                {saved.models.map((m) => (
                  <li key={m}>
                    {m}
                    {m === saved.provider.default_model && " (default)"}
                  </li>
                ))}
              </ul>
            </>
          ) : (
            "It listed no models."
          )}
        </div>
      )}
    </form>
  );
}
