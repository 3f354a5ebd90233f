// The chat plugin's shapes and the pure logic of the Chat pages: the message tree and its
// branches, the answer frames of the realtime socket, and small formatting helpers.

import type { SecretInfo } from "./api";

export type Role = "user" | "assistant" | "system";
export type Status = "done" | "streaming" | "stopped" | "failed";

export interface ChatMessage {
  id: string;
  session_id: string;
  role: Role;
  content: string;
  model_name: string | null;
  parent_id: string | null;
  status: Status;
  created_at: number;
  /** Why the answer failed, when a frame said so (not stored by the server). */
  error?: string | null;
}

export interface ChatSession {
  id: string;
  title: string;
  model_name: string | null;
  agent_id: string | null;
  user_uuid: string | null;
  created_at: number;
  updated_at: number;
}

export interface SessionView {
  session: ChatSession;
  messages: ChatMessage[];
  provider: string;
  model: string;
  streaming: { message_id: string; room: string }[];
}

export interface Provider {
  id: string;
  name: string;
  kind: "openai" | "ollama";
  base_url: string;
  default_model: string | null;
  users: string[];
}

export interface Agent {
  id: string;
  name: string;
  description: string;
  model_name: string;
  system_prompt: string;
  is_active: boolean;
  user_uuid: string | null;
  options: string;
  created_at: number;
  updated_at: number;
}

export interface AgentOptions {
  provider?: string;
  temperature?: number;
  top_p?: number;
  seed?: number;
  context_length?: number;
  max_tokens?: number;
  stop?: string[];
}

/** What `send`, `regenerate` and `edit` answer. */
export interface Started {
  session: ChatSession;
  user_message?: ChatMessage | null;
  message: ChatMessage;
  room: string;
  execution_id?: string;
}

export interface SearchHit {
  session_id: string;
  title: string;
  message: ChatMessage;
}

/** An agent's options (a JSON string); `{}` when unreadable. */
export function agentOptions(agent: Pick<Agent, "options">): AgentOptions {
  try {
    const o = JSON.parse(agent.options || "{}");
    return o && typeof o === "object" && !Array.isArray(o) ? (o as AgentOptions) : {};
  } catch {
    return {};
  }
}

// ------------------------------------------------------------------ the tree

/** Which child is shown under each parent (the root's key is ""). */
export type Selection = Record<string, string>;

const ROOT = "";
const keyOf = (m: Pick<ChatMessage, "parent_id">) => m.parent_id ?? ROOT;

/** The children of every message (key "" for the first messages), oldest first. */
export function childrenOf(messages: ChatMessage[]): Map<string, ChatMessage[]> {
  const known = new Set(messages.map((m) => m.id));
  const out = new Map<string, ChatMessage[]>();
  for (const m of ordered(messages)) {
    // A message whose parent is missing is shown as a first message rather than lost.
    const key = m.parent_id && known.has(m.parent_id) ? m.parent_id : ROOT;
    const list = out.get(key);
    if (list) list.push(m);
    else out.set(key, [m]);
  }
  return out;
}

/** Messages by creation time; the server's order (its insertion order) breaks ties. */
function ordered(messages: ChatMessage[]): ChatMessage[] {
  return messages
    .map((m, i) => [m, i] as const)
    .sort(([a, i], [b, j]) => a.created_at - b.created_at || i - j)
    .map(([m]) => m);
}

/**
 * The branch shown: from the first message, at each fork the selected child, or the newest one
 * where nothing (or a message that is gone) is selected.
 */
export function visiblePath(messages: ChatMessage[], selected: Selection = {}): ChatMessage[] {
  const children = childrenOf(messages);
  const path: ChatMessage[] = [];
  let key = ROOT;
  for (;;) {
    const kids = children.get(key);
    if (!kids || kids.length === 0 || path.length > messages.length) break;
    const pick = kids.find((m) => m.id === selected[key]) ?? kids[kids.length - 1];
    path.push(pick);
    key = pick.id;
  }
  return path;
}

/** The newest message without replies: where the default branch ends. */
export function newestLeaf(messages: ChatMessage[]): ChatMessage | null {
  const parents = new Set(messages.map((m) => m.parent_id).filter(Boolean));
  const leaves = ordered(messages).filter((m) => !parents.has(m.id));
  return leaves[leaves.length - 1] ?? null;
}

/** A message's siblings (itself included, oldest first) and its place among them (0-based). */
export function siblings(messages: ChatMessage[], id: string): { ids: string[]; index: number } {
  const m = messages.find((x) => x.id === id);
  if (!m) return { ids: [], index: -1 };
  const children = childrenOf(messages);
  const known = m.parent_id && messages.some((x) => x.id === m.parent_id);
  const ids = (children.get(known ? m.parent_id! : ROOT) ?? []).map((x) => x.id);
  return { ids, index: ids.indexOf(id) };
}

/** The ids of the messages below `id` (not itself). */
function descendants(messages: ChatMessage[], id: string): Set<string> {
  const children = childrenOf(messages);
  const out = new Set<string>();
  const todo = [id];
  while (todo.length) {
    for (const c of children.get(todo.pop()!) ?? []) {
      if (!out.has(c.id)) {
        out.add(c.id);
        todo.push(c.id);
      }
    }
  }
  return out;
}

/** Shows sibling `id` instead of the one shown, and below it the newest descendants. */
export function selectSibling(messages: ChatMessage[], selected: Selection, id: string): Selection {
  const m = messages.find((x) => x.id === id);
  if (!m) return selected;
  const next: Selection = { ...selected, [keyOf(m)]: id };
  delete next[id];
  for (const d of descendants(messages, id)) delete next[d];
  return next;
}

/** Shows the branch through `id`: the path from the first message to it, then its newest descendants. */
export function selectThrough(messages: ChatMessage[], selected: Selection, id: string): Selection {
  const byId = new Map(messages.map((m) => [m.id, m]));
  if (!byId.has(id)) return selected;
  const next: Selection = { ...selected };
  delete next[id];
  for (const d of descendants(messages, id)) delete next[d];
  let at = byId.get(id);
  const seen = new Set<string>();
  while (at && !seen.has(at.id)) {
    seen.add(at.id);
    const parent = at.parent_id && byId.has(at.parent_id) ? at.parent_id : ROOT;
    next[parent] = at.id;
    at = parent ? byId.get(parent) : undefined;
  }
  return next;
}

/** Adds messages (or replaces those with the same id), keeping the list's order. */
export function upsert(messages: ChatMessage[], ...add: (ChatMessage | null | undefined)[]): ChatMessage[] {
  let out = messages;
  for (const m of add) {
    if (!m) continue;
    const i = out.findIndex((x) => x.id === m.id);
    out = i < 0 ? [...out, m] : out.map((x, j) => (j === i ? { ...x, ...m } : x));
  }
  return out;
}

// ------------------------------------------------------------------ answer frames

/** What an answer's room sends (the `data` of a realtime `message` frame). */
export type AnswerFrame =
  | { type: "snapshot"; message_id: string; content: string; status: string; error?: string | null }
  | { type: "delta"; message_id: string; text: string }
  | { type: "done"; message_id: string; status: string; content: string; error?: string | null };

function statusOf(s: string): Status {
  // A snapshot says "queued" for an answer waiting for its turn: for the page it is being written.
  return s === "done" || s === "stopped" || s === "failed" ? s : "streaming";
}

/** Whether `data` is a frame of an answer's room. */
export function isAnswerFrame(data: unknown): data is AnswerFrame {
  const d = data as { type?: unknown; message_id?: unknown } | null;
  return (
    !!d && typeof d.message_id === "string" && (d.type === "snapshot" || d.type === "delta" || d.type === "done")
  );
}

/** Applies an answer frame to the messages; unknown messages and other frames change nothing. */
export function applyFrame(messages: ChatMessage[], frame: unknown): ChatMessage[] {
  if (!isAnswerFrame(frame)) return messages;
  const i = messages.findIndex((m) => m.id === frame.message_id);
  if (i < 0) return messages;
  const m = messages[i];
  let next: ChatMessage;
  switch (frame.type) {
    case "snapshot":
      next = { ...m, content: frame.content ?? "", status: statusOf(frame.status), error: frame.error ?? m.error ?? null };
      break;
    case "delta":
      // A delta after the end (a late duplicate) would add text twice.
      if (m.status !== "streaming") return messages;
      next = { ...m, content: m.content + (frame.text ?? "") };
      break;
    case "done":
      next = { ...m, content: frame.content ?? m.content, status: statusOf(frame.status), error: frame.error ?? null };
      break;
  }
  return messages.map((x, j) => (j === i ? next : x));
}

// ------------------------------------------------------------------ helpers

/** "just now", "5 min ago", "3 h ago", "2 d ago", then the date. */
export function ago(ms: number, now: number = Date.now()): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 45) return "just now";
  const min = Math.round(s / 60);
  if (min < 60) return `${min} min ago`;
  const h = Math.round(min / 60);
  if (h < 24) return `${h} h ago`;
  const d = Math.round(h / 24);
  if (d < 7) return `${d} d ago`;
  return new Date(ms).toLocaleDateString();
}

/** Up to `max` characters of `text` around the first word of `query` found in it. */
export function snippet(text: string, query: string, max = 120): string {
  const flat = text.replace(/\s+/g, " ").trim();
  if (flat.length <= max) return flat;
  const lower = flat.toLowerCase();
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  const at = words.map((w) => lower.indexOf(w)).filter((i) => i >= 0).sort((a, b) => a - b)[0] ?? 0;
  const start = Math.max(0, Math.min(at - Math.floor(max / 3), flat.length - max));
  const cut = flat.slice(start, start + max);
  return (start > 0 ? "…" : "") + cut + (start + max < flat.length ? "…" : "");
}

/** The grant an error names (`http:…` in backquotes), if any. */
export function grantFromError(message: string): string | null {
  const m = /`(http:https?:\/\/[^`\s]+)`/.exec(message);
  return m ? m[1] : null;
}

/** `scheme://host:port` of a URL, with the port always written; null for a URL that is not http(s). */
export function originOf(url: string): string | null {
  const u = httpUrl(url);
  if (!u) return null;
  const port = u.port || (u.protocol === "https:" ? "443" : "80");
  return `${u.protocol}//${u.hostname}:${port}`;
}

/** `url` parsed, when it is an http or https URL. */
function httpUrl(url: string): URL | null {
  let u: URL;
  try {
    u = new URL(url.trim());
  } catch {
    return null;
  }
  return u.protocol === "http:" || u.protocol === "https:" ? u : null;
}

// ------------------------------------------------------------------ API keys

/** The name of the chat plugin's secret that holds the API key of provider `id`. */
export function keySecret(id: string): string {
  return `provider.${id}`;
}

/**
 * The origin a provider's API key is bound to: `scheme://host[:port]` of its base URL, written
 * as browsers (and the host) write origins, default ports left out; null for a URL that is not
 * http(s).
 */
export function keyOrigin(baseUrl: string): string | null {
  return httpUrl(baseUrl)?.origin ?? null;
}

/**
 * The API key of a provider among the chat plugin's secrets, if it has one; `elsewhere` when the
 * key is bound to another origin than the provider's base URL (the host will not send it there).
 */
export function providerKey(
  p: Pick<Provider, "id" | "base_url">,
  secrets: readonly SecretInfo[],
): { secret: SecretInfo; elsewhere: boolean } | null {
  const name = keySecret(p.id);
  const secret = secrets.find((s) => s.name === name);
  return secret ? { secret, elsewhere: secret.origin !== keyOrigin(p.base_url) } : null;
}

/** Whether an error says an API key was refused for the origin it was to be sent to. */
export function keyBoundElsewhere(message: string): boolean {
  return /secret `[^`]+` is bound to \S+ and is never sent to/.test(message);
}

/** A file name for a chat's export. */
export function fileName(title: string, ext: string): string {
  const base = title
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 60);
  return `${base || "chat"}.${ext}`;
}

/** Stop sequences from "a, b ,c" (empty pieces dropped). */
export function stopList(text: string): string[] {
  return text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

// ------------------------------------------------------------------ a conversation's state

/** A session's messages as the page knows them, and which branch it shows. */
export interface Thread {
  messages: ChatMessage[];
  selected: Selection;
}

export type ThreadAction =
  /** The session as the server read it; `focus` shows the branch through that message. */
  | { type: "load"; messages: ChatMessage[]; focus?: string | null }
  /** Messages the page just added (a question and its answer); `show` is shown. */
  | { type: "add"; messages: (ChatMessage | null | undefined)[]; show: string }
  /** A frame of an answer's room. */
  | { type: "frame"; data: unknown }
  /** Shows another version of a message. */
  | { type: "select"; id: string }
  | { type: "reset" };

export const emptyThread: Thread = { messages: [], selected: {} };

/**
 * The server's copy of the messages, keeping what the page knows better: an answer being
 * written has text the server stores only every 250 ms, and the end of an answer may arrive
 * before a session read that was already under way.
 */
export function mergeFresh(old: ChatMessage[], fresh: ChatMessage[]): ChatMessage[] {
  const known = new Map(old.map((m) => [m.id, m]));
  return fresh.map((m) => {
    const o = known.get(m.id);
    if (!o) return m;
    if (m.status === "streaming") {
      if (o.status !== "streaming") return o;
      return o.content.length > m.content.length ? { ...m, content: o.content } : m;
    }
    return m.status === "failed" && !m.error && o.error ? { ...m, error: o.error } : m;
  });
}

export function thread(state: Thread, action: ThreadAction): Thread {
  switch (action.type) {
    case "load": {
      const messages = mergeFresh(state.messages, action.messages);
      const selected = action.focus ? selectThrough(messages, {}, action.focus) : state.selected;
      return { messages, selected };
    }
    case "add": {
      const messages = upsert(state.messages, ...action.messages);
      return { messages, selected: selectThrough(messages, state.selected, action.show) };
    }
    case "frame": {
      const messages = applyFrame(state.messages, action.data);
      return messages === state.messages ? state : { ...state, messages };
    }
    case "select":
      return { ...state, selected: selectSibling(state.messages, state.selected, action.id) };
    case "reset":
      return emptyThread;
  }
}
