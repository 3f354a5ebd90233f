import { useState, type FormEvent } from "react";
import { queryOptions, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { ApiError, call, deletePluginSecret, pluginCall, pluginSecrets, setPluginSecret, type SecretInfo } from "../api";
import {
  grantFromError,
  keyBoundElsewhere,
  keyOrigin,
  keySecret,
  originOf,
  providerKey,
  stopList,
  type Provider,
} from "../chat";
import { pluginQuery } from "../query";
import { Alert, Loading, message, when } from "../ui";

interface Saved {
  provider: Provider;
  models: string[];
}

/** What `save_provider` takes. */
interface ProviderInput {
  id: string;
  name: string;
  kind: Provider["kind"];
  base_url: string;
  default_model?: string;
  users: string[];
}

/** A save: the provider, and the API key to store first (empty: keep the current one). */
interface SaveInput {
  provider: ProviderInput;
  key: string;
  /** The provider had no key before: one stored for a save that fails is taken back. */
  keyIsNew: boolean;
}

const providersQuery = pluginQuery<Provider[]>("chat", "providers");
/** The chat plugin's secrets (the providers' API keys): names and origins, never values. */
const secretsQuery = queryOptions({
  queryKey: ["plugin_secrets", { name: "chat" }],
  queryFn: ({ signal }) => pluginSecrets("chat", signal),
});

/** Stores the API key of provider `id`, bound to the origin of its base URL. */
async function storeKey(id: string, baseUrl: string, key: string): Promise<SecretInfo> {
  const origin = keyOrigin(baseUrl);
  if (!origin) {
    throw new ApiError("INVALID_INPUT", "The API key was not stored: the base URL is not an http:// or https:// URL.");
  }
  try {
    return await setPluginSecret("chat", keySecret(id), key, origin);
  } catch (e) {
    throw e instanceof ApiError ? new ApiError(e.code, `The API key was not stored: ${e.message}`, e.status) : e;
  }
}

/** Administrators: the model servers the chat uses. */
export function ChatProviders() {
  const client = useQueryClient();
  const { data, error, isPending: loading } = useQuery(providersQuery);
  const { data: secrets, error: secretsError } = useQuery(secretsQuery);
  const reload = () => client.invalidateQueries({ queryKey: providersQuery.queryKey });
  const reloadSecrets = () => client.invalidateQueries({ queryKey: secretsQuery.queryKey });
  const [editing, setEditing] = useState<Provider | null>(null);
  const [formKey, setFormKey] = useState(0);

  const edit = (p: Provider | null) => {
    setEditing(p);
    setFormKey((k) => k + 1);
  };

  // Deleting a provider deletes its API key too; the answer is why the key stayed, if it did.
  const remove = useMutation({
    mutationFn: async (p: Provider): Promise<string | null> => {
      await pluginCall("chat", "delete_provider", { id: p.id });
      return deletePluginSecret("chat", keySecret(p.id)).then(
        () => null,
        (e: unknown) => (e instanceof ApiError && e.status === 404 ? null : message(e)),
      );
    },
    onSuccess: (_, p) => {
      if (editing?.id === p.id) edit(null);
      return Promise.all([reload(), reloadSecrets()]);
    },
  });
  const removeKey = useMutation({
    mutationFn: (p: Provider) => deletePluginSecret("chat", keySecret(p.id)),
    onSuccess: () => reloadSecrets(),
  });
  const removeIfSure = (p: Provider) => {
    if (confirm(`Delete the provider “${p.name}”? Chats that use it can no longer be answered.`)) {
      removeKey.reset();
      remove.mutate(p);
    }
  };
  const removeKeyIfSure = (p: Provider) => {
    if (confirm(`Remove the API key of “${p.name}”? The chat then calls it without a key.`)) {
      remove.reset();
      removeKey.mutate(p);
    }
  };
  const status = remove.isSuccess
    ? `Deleted ${remove.variables.name}.`
    : removeKey.isSuccess
      ? `Removed the API key of ${removeKey.variables.name}.`
      : null;
  const failed = remove.error ?? removeKey.error ?? error;
  const failure = failed
    ? message(failed)
    : remove.data
      ? `The API key of ${remove.variables?.name} was not deleted: ${remove.data}`
      : secretsError
        ? `Could not list the API keys: ${message(secretsError)}`
        : null;

  return (
    <section>
      <h1>Chat providers</h1>
      <p className="muted">
        The model servers chats are answered by: an OpenAI-compatible server (llama.cpp, vLLM, LM Studio…) or Ollama. The
        chat plugin needs a grant for each server's origin; saving a provider checks that it answers with its models.
      </p>
      <Alert kind="ok">{status}</Alert>
      <Alert kind="error">{failure}</Alert>
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
                <th scope="col">API key</th>
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
                    {secrets ? (
                      <KeyState provider={p} secrets={secrets} />
                    ) : (
                      <span className="muted">{secretsError ? "unknown" : "…"}</span>
                    )}
                  </td>
                  <td>
                    <button type="button" onClick={() => edit(p)} aria-label={`Edit ${p.name}`}>
                      Edit
                    </button>
                    {secrets && providerKey(p, secrets) && (
                      <button
                        type="button"
                        className="danger"
                        onClick={() => removeKeyIfSure(p)}
                        aria-label={`Remove the API key of ${p.name}`}
                      >
                        Remove key
                      </button>
                    )}
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
        secrets={secrets}
        onSaved={() => {
          remove.reset();
          removeKey.reset();
          return reload();
        }}
      />
    </section>
  );
}

/** Whether a provider has an API key, and whether the host will send it to the provider's origin. */
function KeyState({ provider, secrets }: { provider: Provider; secrets: SecretInfo[] }) {
  const key = providerKey(provider, secrets);
  if (!key) return <span className="muted">none</span>;
  if (key.elsewhere) return <strong>key bound to {key.secret.origin}; set it again</strong>;
  return <span title={`Sent only to ${key.secret.origin}; set ${when(key.secret.updated_at)}`}>set</span>;
}

function ProviderForm({
  provider,
  secrets,
  onSaved,
}: {
  provider: Provider | null;
  secrets: SecretInfo[] | undefined;
  onSaved: () => Promise<unknown>;
}) {
  const [id, setId] = useState(provider?.id ?? "");
  const [name, setName] = useState(provider?.name ?? "");
  const [kind, setKind] = useState<Provider["kind"]>(provider?.kind ?? "openai");
  const [baseUrl, setBaseUrl] = useState(provider?.base_url ?? "http://127.0.0.1:8080");
  const [defaultModel, setDefaultModel] = useState(provider?.default_model ?? "");
  const [users, setUsers] = useState((provider?.users ?? []).join(", "));
  const [apiKey, setApiKey] = useState("");
  const client = useQueryClient();
  // The key is stored first: saving checks the provider's models, with its key.
  const save = useMutation({
    mutationFn: async ({ provider: input, key, keyIsNew }: SaveInput) => {
      if (!key) return pluginCall<Saved>("chat", "save_provider", input);
      await storeKey(input.id, input.base_url, key);
      try {
        return await pluginCall<Saved>("chat", "save_provider", input);
      } catch (e) {
        // A key of a provider that was not saved would be listed nowhere: take it back.
        if (keyIsNew) await deletePluginSecret("chat", keySecret(input.id)).catch(() => undefined);
        throw e;
      }
    },
    onSuccess: (r) => {
      setDefaultModel(r.provider.default_model ?? "");
      setApiKey("");
      return onSaved();
    },
    onSettled: () => client.invalidateQueries({ queryKey: secretsQuery.queryKey }),
  });
  // Granting the chat plugin the server's origin, then saving again.
  const grantAccess = useMutation({
    mutationFn: (grant: string) => call("plugin_grant", { name: "chat", grant }),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ["plugins"] });
      send();
    },
  });
  // The provider's current key (by the id typed, when adding), and the origin a key would be bound to.
  const currentKey = secrets ? providerKey({ id: id.trim(), base_url: baseUrl }, secrets) : null;
  const newOrigin = keyOrigin(baseUrl);
  const keyNote = !currentKey
    ? null
    : !currentKey.elsewhere
      ? `A key is set for ${currentKey.secret.origin}.`
      : newOrigin
        ? `The current key is bound to ${currentKey.secret.origin}: enter it again to send it to ${newOrigin}.`
        : `The current key is bound to ${currentKey.secret.origin}.`;
  const send = () => {
    grantAccess.reset();
    save.mutate({
      provider: {
        id: id.trim(),
        name: name.trim(),
        kind,
        base_url: baseUrl.trim(),
        ...(defaultModel.trim() ? { default_model: defaultModel.trim() } : {}),
        users: stopList(users),
      },
      key: apiKey.trim(),
      keyIsNew: secrets !== undefined && currentKey === null,
    });
  };
  const busy = save.isPending || grantAccess.isPending;
  const saveError = save.error && message(save.error);
  // The provider's key is bound to another origin: granting would not help, setting the key again does.
  const keyElsewhere = saveError ? keyBoundElsewhere(saveError) : false;
  // A server the chat plugin may not reach yet: the grant that would let it.
  const origin = originOf(save.variables?.provider.base_url ?? "");
  const grant =
    saveError && !keyElsewhere && /grant/i.test(saveError)
      ? (grantFromError(saveError) ?? (origin ? `http:${origin}` : null))
      : null;
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
        <div className="field">
          <label htmlFor="p-key">API key (optional)</label>
          <input
            id="p-key"
            type="password"
            value={apiKey}
            onChange={(e) => setApiKey(e.target.value)}
            autoComplete="new-password"
            spellCheck={false}
            maxLength={4096}
            aria-describedby="p-key-hint"
          />
          <small id="p-key-hint" className="muted">
            Stored encrypted by the host, sent only to this provider's origin, never shown again. Leave empty to keep the
            current key.
            {keyNote && ` ${keyNote}`}
          </small>
        </div>
        <button type="submit">{busy ? "Checking…" : "Save provider"}</button>
      </fieldset>
      <Alert kind="error">{error}</Alert>
      {keyElsewhere && (
        <Alert kind="info">
          This provider's API key is bound to another origin than its base URL: enter the key again above, or remove it
          in the list.
        </Alert>
      )}
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
