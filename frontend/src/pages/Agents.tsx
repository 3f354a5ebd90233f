import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { pluginCall } from "../api";
import { agentOptions, stopList, type Agent, type AgentOptions, type Provider } from "../chat";
import { pluginQuery } from "../query";
import { useUser } from "../session";
import { Alert, Field, Form, Loading, message, str } from "../ui";

const agentsQuery = pluginQuery<Agent[]>("chat", "agents");
const providersQuery = pluginQuery<Provider[]>("chat", "providers");

/** Agents: a name, a system prompt, a model and its settings; a user's own, and shared ones. */
export function Agents() {
  const user = useUser();
  const admin = user.role === "admin";
  const client = useQueryClient();
  const { data, error, isPending: loading } = useQuery(agentsQuery);
  const reload = () => client.invalidateQueries({ queryKey: agentsQuery.queryKey });
  const providers = useQuery(providersQuery);
  const [editing, setEditing] = useState<Agent | null>(null);
  const [formKey, setFormKey] = useState(0);
  const [status, setStatus] = useState<string | null>(null);

  const canEdit = (a: Agent) => admin || (a.user_uuid !== null && a.user_uuid === user.uuid);
  const remove = useMutation({
    mutationFn: (a: Agent) => pluginCall("chat", "delete_agent", { id: a.id }),
    onMutate: () => setStatus(null),
    onSuccess: (_, a) => {
      if (editing?.id === a.id) edit(null);
      setStatus(`Deleted ${a.name}.`);
      return reload();
    },
  });
  const edit = (a: Agent | null) => {
    setEditing(a);
    setFormKey((k) => k + 1);
    setStatus(null);
  };
  const removeIfSure = (a: Agent) => {
    if (confirm(`Delete the agent “${a.name}”?`)) remove.mutate(a);
  };
  const failed = remove.error ?? error;

  return (
    <section>
      <h1>Agents</h1>
      <p className="muted">
        An agent is a system prompt and model settings to start a chat with. Your agents are yours; shared ones are set
        up by administrators.
      </p>
      <Alert kind="ok">{status}</Alert>
      <Alert kind="error">{failed && message(failed)}</Alert>
      {loading && !data && <Loading what="agents" />}
      {data && data.length > 0 && (
        <div className="table-wrap">
          <table aria-label="Agents">
            <thead>
              <tr>
                <th scope="col">Agent</th>
                <th scope="col">Model</th>
                <th scope="col">Settings</th>
                <th scope="col"></th>
              </tr>
            </thead>
            <tbody>
              {data.map((a) => (
                <tr key={a.id}>
                  <td>
                    <strong>{a.name}</strong> {a.user_uuid === null && <span className="badge ok">shared</span>}
                    {a.description && <span className="desc muted">{a.description}</span>}
                  </td>
                  <td>{a.model_name || <span className="muted">provider's default</span>}</td>
                  <td>{settings(agentOptions(a)) || <span className="muted">defaults</span>}</td>
                  <td>
                    {canEdit(a) && (
                      <>
                        <button type="button" onClick={() => edit(a)} aria-label={`Edit ${a.name}`}>
                          Edit
                        </button>
                        {a.id !== "default" && (
                          <button type="button" className="danger" onClick={() => removeIfSure(a)} aria-label={`Delete ${a.name}`}>
                            Delete
                          </button>
                        )}
                      </>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <h2>{editing ? `Edit ${editing.name}` : "New agent"}</h2>
      {editing && (
        <button type="button" className="link" onClick={() => edit(null)}>
          Cancel editing, start a new agent
        </button>
      )}
      <AgentForm
        key={formKey}
        agent={editing}
        admin={admin}
        providers={providers.data ?? []}
        onSaved={(a) => {
          remove.reset();
          edit(null);
          setStatus(editing ? `Saved ${a.name}.` : `Created ${a.name}.`);
          return reload();
        }}
      />
    </section>
  );
}

/** A short summary of an agent's options. */
function settings(o: AgentOptions): string {
  const parts: string[] = [];
  if (o.provider) parts.push(`provider ${o.provider}`);
  if (o.temperature !== undefined) parts.push(`temperature ${o.temperature}`);
  if (o.top_p !== undefined) parts.push(`top_p ${o.top_p}`);
  if (o.seed !== undefined) parts.push(`seed ${o.seed}`);
  if (o.context_length !== undefined) parts.push(`context ${o.context_length}`);
  if (o.max_tokens !== undefined) parts.push(`max tokens ${o.max_tokens}`);
  if (o.stop?.length) parts.push(`stop ${o.stop.map((s) => JSON.stringify(s)).join(", ")}`);
  return parts.join(", ");
}

/** A number from a form field; undefined when empty. */
function num(d: FormData, k: string): number | undefined {
  const v = str(d, k).trim();
  return v === "" ? undefined : Number(v);
}

function AgentForm({
  agent,
  admin,
  providers,
  onSaved,
}: {
  agent: Agent | null;
  admin: boolean;
  providers: Provider[];
  onSaved: (a: Agent) => Promise<unknown>;
}) {
  const o = agent ? agentOptions(agent) : {};
  const text = (v: number | undefined) => (v === undefined ? "" : String(v));
  return (
    <Form
      label={agent ? `Edit the agent ${agent.name}` : "New agent"}
      submit={agent ? "Save agent" : "Create agent"}
      onSubmit={async (d) => {
        const options: AgentOptions = {
          provider: str(d, "provider") || undefined,
          temperature: num(d, "temperature"),
          top_p: num(d, "top_p"),
          seed: num(d, "seed"),
          context_length: num(d, "context_length"),
          max_tokens: num(d, "max_tokens"),
        };
        const stop = stopList(str(d, "stop"));
        if (stop.length) options.stop = stop;
        for (const k of Object.keys(options) as (keyof AgentOptions)[]) if (options[k] === undefined) delete options[k];
        const saved = await pluginCall<Agent>("chat", "save_agent", {
          ...(agent ? { id: agent.id } : {}),
          name: str(d, "name"),
          description: str(d, "description"),
          system_prompt: str(d, "system_prompt"),
          model: str(d, "model").trim(),
          options,
          shared: admin && d.get("shared") === "on",
        });
        await onSaved(saved);
      }}
    >
      <Field label="Name" name="name" defaultValue={agent?.name ?? ""} />
      <Field label="Description (optional)" name="description" required={false} defaultValue={agent?.description ?? ""} />
      <div className="field">
        <label htmlFor="f-system_prompt">System prompt (optional)</label>
        <textarea id="f-system_prompt" name="system_prompt" rows={5} defaultValue={agent?.system_prompt ?? ""} />
      </div>
      <Field label="Model (empty: the provider's default)" name="model" required={false} defaultValue={agent?.model_name ?? ""} />
      <div className="field">
        <label htmlFor="f-provider">Provider (optional)</label>
        <select id="f-provider" name="provider" defaultValue={o.provider ?? ""}>
          <option value="">Any (the first one set up)</option>
          {providers.map((p) => (
            <option key={p.id} value={p.id}>
              {p.name}
            </option>
          ))}
          {o.provider && !providers.some((p) => p.id === o.provider) && <option value={o.provider}>{o.provider}</option>}
        </select>
      </div>
      <div className="grid-fields">
        <NumField label="Temperature (0 to 2)" name="temperature" min={0} max={2} step="any" value={text(o.temperature)} />
        <NumField label="top_p (0 to 1)" name="top_p" min={0} max={1} step="any" value={text(o.top_p)} />
        <NumField label="Seed" name="seed" step={1} value={text(o.seed)} />
        <NumField label="Context length" name="context_length" min={1} max={1048576} step={1} value={text(o.context_length)} />
        <NumField label="Max tokens" name="max_tokens" min={1} max={32768} step={1} value={text(o.max_tokens)} />
      </div>
      <Field
        label="Stop sequences (comma separated)"
        name="stop"
        required={false}
        defaultValue={(o.stop ?? []).join(", ")}
      />
      {admin && (
        <label className="check">
          <input type="checkbox" name="shared" defaultChecked={agent ? agent.user_uuid === null : false} />{" "}
          Shared with everyone
        </label>
      )}
    </Form>
  );
}

function NumField({
  label,
  name,
  min,
  max,
  step,
  value,
}: {
  label: string;
  name: string;
  min?: number;
  max?: number;
  step: number | "any";
  value: string;
}) {
  const id = `f-${name}`;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input id={id} name={name} type="number" inputMode="decimal" min={min} max={max} step={step} defaultValue={value} />
    </div>
  );
}
