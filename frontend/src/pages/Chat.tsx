import {
  useCallback,
  useEffect,
  useId,
  useLayoutEffect,
  useMemo,
  useReducer,
  useRef,
  useState,
  type FormEvent,
  type KeyboardEvent,
  type ReactNode,
} from "react";
import Markdown, { type Components } from "react-markdown";
import { useMutation, useQuery } from "@tanstack/react-query";
import { useSearchParams } from "react-router";
import { connectRealtime, pluginCall, type RtConnection } from "../api";
import {
  agentOptions,
  ago,
  emptyThread,
  fileName,
  siblings,
  snippet,
  thread,
  visiblePath,
  type Agent,
  type ChatMessage,
  type ChatSession,
  type Provider,
  type SearchHit,
  type SessionView,
  type Started,
} from "../chat";
import { pluginQuery } from "../query";
import { useUser } from "../session";
import { Alert, Link, Loading, message } from "../ui";

const PLUGIN = "chat";
const chat = <T,>(fn: string, input: unknown = {}) => pluginCall<T>(PLUGIN, fn, input);

const providersQuery = pluginQuery<Provider[]>(PLUGIN, "providers");
const agentsQuery = pluginQuery<Agent[]>(PLUGIN, "agents");
const sessionsQuery = pluginQuery<ChatSession[]>(PLUGIN, "sessions");

// ------------------------------------------------------------------ the realtime rooms

/** What the page hears from the answers' rooms. */
interface RoomEvents {
  data(data: unknown): void;
  joined(room: string): void;
  /** A join failed (the answer's room is gone, usually because the answer finished). */
  gone(room: string, why: string): void;
  /** A joined room closed (the answer ended a while ago, or its room failed). */
  closed(room: string): void;
  /** The connection closed while rooms were joined. */
  lost(why: string): void;
}

interface Rooms {
  join(room: string): void;
  leaveAll(): void;
  listen(events: RoomEvents | null): void;
}

/** One realtime connection for the page, opened when the first answer is followed. */
function useRooms(): Rooms {
  const conn = useRef<RtConnection | null>(null);
  const joined = useRef(new Set<string>());
  const pending = useRef(new Map<number, string>());
  const seq = useRef(0);
  const listener = useRef<RoomEvents | null>(null);

  useEffect(
    () => () => {
      const c = conn.current;
      conn.current = null;
      joined.current.clear();
      pending.current.clear();
      c?.close();
    },
    [],
  );

  return useMemo(() => {
    const open = (): RtConnection => {
      const c: RtConnection = connectRealtime(
        (f) => {
          if (conn.current !== c) return;
          if (f.type === "message" && f.plugin === PLUGIN && f.room && joined.current.has(f.room)) {
            listener.current?.data(f.data);
          } else if (f.type === "joined" && f.room) {
            if (typeof f.ref === "number") pending.current.delete(f.ref);
            listener.current?.joined(f.room);
          } else if (f.type === "error" && typeof f.ref === "number" && pending.current.has(f.ref)) {
            const room = pending.current.get(f.ref)!;
            pending.current.delete(f.ref);
            joined.current.delete(room);
            listener.current?.gone(room, f.message ?? f.code ?? "error");
          } else if ((f.type === "closed" || f.type === "left") && f.room && joined.current.has(f.room)) {
            joined.current.delete(f.room);
            listener.current?.closed(f.room);
          }
        },
        (why) => {
          if (conn.current !== c) return;
          conn.current = null;
          const had = joined.current.size > 0;
          joined.current.clear();
          pending.current.clear();
          if (had) listener.current?.lost(why);
        },
      );
      conn.current = c;
      return c;
    };
    return {
      join(room) {
        if (joined.current.has(room)) return;
        const c = conn.current ?? open();
        seq.current += 1;
        pending.current.set(seq.current, room);
        joined.current.add(room);
        c.send({ type: "join", plugin: PLUGIN, room, ref: seq.current });
      },
      leaveAll() {
        const c = conn.current;
        for (const room of joined.current) c?.send({ type: "leave", plugin: PLUGIN, room });
        joined.current.clear();
        pending.current.clear();
      },
      listen(events) {
        listener.current = events;
      },
    };
  }, []);
}

// ------------------------------------------------------------------ the page

interface Opened {
  id: string | null;
  /** Changes when another chat is opened (a new chat that gets its session keeps its key). */
  key: number;
  focus: string | null;
}

/** Chat with the models the administrators set up: sessions on the left, the conversation on the right. */
export function Chat() {
  const admin = useUser().role === "admin";
  const rooms = useRooms();
  const providers = useQuery(providersQuery);
  const agents = useQuery(agentsQuery);
  const sessions = useQuery(sessionsQuery);
  // The session open is in the address bar (`/chat?s=<id>`), so a reload comes back to it.
  const [address, setAddress] = useSearchParams();
  const [opened, setOpened] = useState<Opened>(() => ({ id: address.get("s"), key: 0, focus: null }));
  const showInAddress = (id: string | null) => setAddress(id ? { s: id } : {}, { replace: true });

  const { refetch } = sessions;
  const loadSessions = useCallback(async () => {
    const r = await refetch();
    return r.isError ? null : (r.data ?? null);
  }, [refetch]);

  const open = (id: string | null, focus: string | null = null) => {
    rooms.leaveAll();
    setOpened((o) => ({ id, key: o.key + 1, focus }));
    showInAddress(id);
  };

  if (!providers.data || !agents.data) {
    const fatal = providers.error ?? agents.error;
    if (fatal) return <Alert kind="error">{`The chat is not available: ${message(fatal)}`}</Alert>;
    return <Loading what="the chat" />;
  }

  return (
    <section className="chat">
      <Sidebar
        sessions={sessions.data ?? null}
        current={opened.id}
        error={sessions.error && message(sessions.error)}
        onOpen={open}
        onImported={async (s) => {
          await loadSessions();
          open(s.id);
        }}
      />
      <div className="chat-main">
        <Conversation
          key={opened.key}
          initialId={opened.id}
          focus={opened.focus}
          admin={admin}
          providers={providers.data}
          agents={agents.data}
          sessions={sessions.data ?? null}
          rooms={rooms}
          onCreated={(s) => {
            setOpened((o) => ({ ...o, id: s.id }));
            showInAddress(s.id);
          }}
          onChanged={loadSessions}
          onDeleted={async () => {
            await loadSessions();
            open(null);
          }}
        />
      </div>
    </section>
  );
}

// ------------------------------------------------------------------ sessions, search and import

function Sidebar({
  sessions,
  current,
  error,
  onOpen,
  onImported,
}: {
  sessions: ChatSession[] | null;
  current: string | null;
  error: string | null;
  onOpen: (id: string | null, focus?: string | null) => void;
  onImported: (s: ChatSession) => Promise<void>;
}) {
  const [query, setQuery] = useState("");
  return (
    <aside className="chat-side" aria-label="Chats">
      <h1>Chat</h1>
      <div className="chat-side-actions">
        <button type="button" onClick={() => onOpen(null)}>
          New chat
        </button>
        <Import onImported={onImported} />
      </div>
      <form role="search" className="chat-search" onSubmit={(e) => e.preventDefault()}>
        <label htmlFor="chat-search">Search chats</label>
        <input id="chat-search" type="search" value={query} onChange={(e) => setQuery(e.target.value)} autoComplete="off" />
      </form>
      {query.trim() ? (
        <SearchResults query={query.trim()} onOpen={onOpen} />
      ) : (
        <>
          <Alert kind="error">{error}</Alert>
          {sessions === null && !error && <Loading what="chats" />}
          {sessions?.length === 0 && <p className="muted">No chats yet.</p>}
          {sessions && sessions.length > 0 && (
            <ul className="chat-list" aria-label="Chat sessions">
              {sessions.map((s) => (
                <li key={s.id}>
                  <button
                    type="button"
                    className={s.id === current ? "card selected" : "card"}
                    aria-current={s.id === current ? "true" : undefined}
                    onClick={() => onOpen(s.id)}
                  >
                    <span className="chat-title">{s.title}</span>
                    <span className="desc">{ago(s.updated_at)}</span>
                  </button>
                </li>
              ))}
            </ul>
          )}
        </>
      )}
    </aside>
  );
}

/** `value`, once it stayed the same for `ms` (null before). */
function useSettled<T>(value: T, ms: number): T | null {
  const [settled, setSettled] = useState<T | null>(null);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return settled;
}

function SearchResults({ query, onOpen }: { query: string; onOpen: (id: string, focus: string) => void }) {
  // Searched once the typing pauses for a quarter of a second.
  const settled = useSettled(query, 250);
  const search = useQuery({ ...pluginQuery<SearchHit[]>(PLUGIN, "search", { query }), enabled: settled === query });
  const error = search.error && message(search.error);
  const hits = settled === query ? (search.data ?? null) : null;
  if (error) return <Alert kind="error">{error}</Alert>;
  if (!hits) return <Loading what="results" />;
  if (hits.length === 0) return <p className="muted">No messages match.</p>;
  return (
    <ul className="chat-list" aria-label="Search results">
      {hits.map((h) => (
        <li key={h.message.id}>
          <button type="button" className="card" onClick={() => onOpen(h.session_id, h.message.id)}>
            <span className="chat-title">{h.title}</span>
            <span className="desc">{snippet(h.message.content, query)}</span>
          </button>
        </li>
      ))}
    </ul>
  );
}

function Import({ onImported }: { onImported: (s: ChatSession) => Promise<void> }) {
  const input = useRef<HTMLInputElement>(null);
  const importing = useMutation({
    mutationFn: async (file: File) => {
      let data: unknown;
      try {
        data = JSON.parse(await file.text());
      } catch {
        throw new Error(`${file.name} is not a JSON export of a chat`);
      }
      return chat<{ session: ChatSession; messages: number }>("import", data);
    },
    onSuccess: (r) => onImported(r.session),
    onSettled: () => {
      if (input.current) input.current.value = "";
    },
  });
  const busy = importing.isPending;
  const error = importing.error && message(importing.error);
  const r = importing.data;
  const ok = r ? `Imported “${r.session.title}” (${r.messages} messages).` : null;
  return (
    <>
      <button type="button" disabled={busy} onClick={() => input.current?.click()}>
        Import
      </button>
      <input
        ref={input}
        type="file"
        accept=".json,application/json"
        hidden
        aria-label="Chat export file (.json)"
        onChange={(e) => {
          const f = e.target.files?.[0];
          if (f) importing.mutate(f);
        }}
      />
      <Alert kind="error">{error}</Alert>
      <Alert kind="ok">{ok}</Alert>
    </>
  );
}

// ------------------------------------------------------------------ one conversation

interface ConversationProps {
  initialId: string | null;
  focus: string | null;
  admin: boolean;
  providers: Provider[];
  agents: Agent[];
  sessions: ChatSession[] | null;
  rooms: Rooms;
  onCreated: (s: ChatSession) => void;
  onChanged: () => Promise<ChatSession[] | null>;
  onDeleted: () => void;
}

function Conversation({ initialId, focus, admin, providers, agents, sessions, rooms, onCreated, onChanged, onDeleted }: ConversationProps) {
  const [sessionId, setSessionId] = useState(initialId);
  const [session, setSession] = useState<ChatSession | null>(null);
  const [model, setModel] = useState("");
  const [state, dispatch] = useReducer(thread, emptyThread);
  const [loading, setLoading] = useState(!!initialId);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [draft, setDraft] = useState("");
  const [choice, setChoice] = useState<Choice>({ agent: "", provider: "", model: "" });
  const [gone, setGone] = useState<Set<string>>(new Set());
  const [announce, setAnnounce] = useState("");

  const idRef = useRef(sessionId);
  idRef.current = sessionId;
  const goneRef = useRef(gone);
  goneRef.current = gone;
  const messagesRef = useRef(state.messages);
  messagesRef.current = state.messages;
  const alive = useRef(true);
  const attempts = useRef(0);
  const timers = useRef<ReturnType<typeof setTimeout>[]>([]);

  const load = useCallback(
    /** Reads the session again and follows its answers being written; `quiet` keeps a failure unshown. */
    (id: string, focusOn: string | null = null, quiet = false): Promise<boolean> =>
      chat<SessionView>("session", { id })
        .then((v) => {
          if (!alive.current || idRef.current !== id) return true;
          setSession(v.session);
          setModel(v.model || v.session.model_name || "");
          dispatch({ type: "load", messages: v.messages, focus: focusOn });
          for (const s of v.streaming) if (!goneRef.current.has(s.message_id)) rooms.join(s.room);
          return true;
        })
        .catch((e: unknown) => {
          if (alive.current && !quiet) setError(message(e));
          return false;
        })
        .finally(() => {
          if (alive.current) setLoading(false);
        }),
    [rooms],
  );

  // The chat this Conversation opened with (opening another chat mounts a new one; a new chat
  // that gets its session keeps this one).
  const [opening] = useState({ id: initialId, focus });
  useEffect(() => {
    alive.current = true;
    const pending = timers.current;
    if (opening.id) load(opening.id, opening.focus);
    return () => {
      alive.current = false;
      pending.forEach(clearTimeout);
    };
  }, [opening, load]);

  useEffect(() => {
    const later = (f: () => void, ms: number) => timers.current.push(setTimeout(f, ms));
    rooms.listen({
      data(d) {
        dispatch({ type: "frame", data: d });
        const f = d as { type?: string; status?: string };
        if (f.type === "done") setAnnounce(f.status === "done" ? "The answer is complete." : `The answer ${f.status}.`);
      },
      joined() {
        attempts.current = 0;
      },
      closed(room) {
        // Normally the answer's end came first; if not, the stored message says how it ended.
        const m = messagesRef.current.find((x) => `g.${x.id}` === room);
        if (m?.status === "streaming" && idRef.current) load(idRef.current);
      },
      gone(room) {
        // The answer finished (or its room closed): the stored message is final.
        const id = room.startsWith("g.") ? room.slice(2) : room;
        setGone((g) => new Set(g).add(id));
        goneRef.current = new Set(goneRef.current).add(id);
        if (idRef.current) load(idRef.current);
      },
      lost(why) {
        // Read the session again (which follows the answers still being written on a new
        // connection), waiting longer each time; a server that restarts is back in seconds.
        const id = idRef.current;
        if (!id) return;
        const retry = () => {
          if (attempts.current >= 5) {
            setError(`Live updates stopped (${why}). Reload the page to see the answers.`);
            return;
          }
          attempts.current += 1;
          later(async () => {
            if (!alive.current || idRef.current !== id) return;
            if (!(await load(id, null, true))) retry();
          }, 1000 * attempts.current);
        };
        retry();
      },
    });
    return () => rooms.listen(null);
  }, [rooms, load]);

  const path = useMemo(() => visiblePath(state.messages, state.selected), [state]);
  const last = path[path.length - 1] ?? null;
  const live = (m: ChatMessage) => m.status === "streaming" && !gone.has(m.id);
  const writing = [...path].reverse().find(live) ?? state.messages.find(live) ?? null;

  /** Runs a call that starts an answer, shows its messages and follows it. */
  const start = async (what: () => Promise<Started>): Promise<boolean> => {
    setBusy(true);
    setError(null);
    try {
      const r = await what();
      if (!alive.current) return true;
      if (!idRef.current) {
        idRef.current = r.session.id;
        setSessionId(r.session.id);
        setSession(r.session);
        setModel(r.message.model_name ?? r.session.model_name ?? "");
        onCreated(r.session);
      }
      dispatch({ type: "add", messages: [r.user_message, r.message], show: r.message.id });
      setAnnounce("");
      rooms.join(r.room);
      onChanged();
      return true;
    } catch (e) {
      if (!alive.current) return false;
      setError(message(e));
      // The server may have kept the question (and a failed answer): show what it has.
      if (idRef.current) load(idRef.current);
      else adoptNewSession();
      return false;
    } finally {
      if (alive.current) setBusy(false);
    }
  };

  /** After a failed first message, opens the session the server created for it, if any. */
  const adoptNewSession = async () => {
    const before = new Set((sessions ?? []).map((s) => s.id));
    const after = await onChanged();
    const created = sessions ? after?.find((s) => !before.has(s.id)) : undefined;
    if (!created || !alive.current || idRef.current) return;
    idRef.current = created.id;
    setSessionId(created.id);
    onCreated(created);
    load(created.id);
  };

  const send = async () => {
    const content = draft;
    if (!content.trim() || busy || writing) return;
    const input = sessionId
      ? { session_id: sessionId, parent_id: last?.id, content }
      : {
          content,
          ...(choice.agent ? { agent_id: choice.agent } : {}),
          ...(choice.provider ? { provider: choice.provider } : {}),
          ...(choice.model ? { model: choice.model } : {}),
        };
    if (await start(() => chat<Started>("send", input))) setDraft("");
  };

  const stop = async () => {
    if (!writing) return;
    setError(null);
    try {
      const r = await chat<{ stopping: boolean; status: string }>("stop", { message_id: writing.id });
      if (!r.stopping && idRef.current) load(idRef.current);
    } catch (e) {
      setError(message(e));
    }
  };

  const noProvider = providers.length === 0;
  const isNew = !sessionId;

  return (
    <>
      {session ? (
        <SessionHeader
          session={session}
          model={model}
          leaf={last?.id ?? null}
          onRenamed={(s) => {
            setSession(s);
            onChanged();
          }}
          onDeleted={onDeleted}
          onError={setError}
        />
      ) : (
        <h2 className="chat-heading">{isNew ? "New chat" : "Chat"}</h2>
      )}
      <Alert kind="error">{error}</Alert>
      {loading ? (
        <Loading what="the chat" />
      ) : (
        <Log stickKey={sessionId} focus={focus}>
          {path.length === 0 && isNew && !noProvider && <p className="muted chat-empty">Ask anything to start a chat.</p>}
          {path.map((m) => (
            <Message
              key={m.id}
              m={m}
              focused={m.id === focus}
              live={live(m)}
              interrupted={m.status === "streaming" && gone.has(m.id)}
              versions={siblings(state.messages, m.id)}
              busy={busy}
              onSelect={(id) => dispatch({ type: "select", id })}
              onRegenerate={() => start(() => chat<Started>("regenerate", { message_id: m.id }))}
              onEdit={(content) => start(() => chat<Started>("edit", { message_id: m.id, content }))}
            />
          ))}
          {writing && path.includes(writing) && <Typing waiting={writing.content === ""} />}
        </Log>
      )}
      <p className="sr-only" role="status">
        {announce}
      </p>
      {isNew && noProvider ? (
        <NoProvider admin={admin} />
      ) : (
        <>
          {isNew && <NewChatOptions providers={providers} agents={agents} choice={choice} onChange={setChoice} />}
          <Composer draft={draft} onDraft={setDraft} onSend={send} onStop={stop} busy={busy} writing={!!writing} />
        </>
      )}
    </>
  );
}

function NoProvider({ admin }: { admin: boolean }) {
  return (
    <div className="panel" role="status">
      <p>
        <strong>No model provider yet.</strong>
      </p>
      {admin ? (
        <p>
          Add one on the <Link to="/chat-providers">Chat providers</Link> page.
        </p>
      ) : (
        <p>Ask an administrator to add one.</p>
      )}
    </div>
  );
}

// ------------------------------------------------------------------ the session header

function SessionHeader({
  session,
  model,
  leaf,
  onRenamed,
  onDeleted,
  onError,
}: {
  session: ChatSession;
  model: string;
  leaf: string | null;
  onRenamed: (s: ChatSession) => void;
  onDeleted: () => void;
  onError: (e: string | null) => void;
}) {
  const [renaming, setRenaming] = useState(false);
  const [title, setTitle] = useState(session.title);
  const action = useMutation({
    mutationFn: (f: () => Promise<void>) => f(),
    onMutate: () => onError(null),
    onError: (e) => onError(message(e)),
  });
  const busy = action.isPending;
  const act = (f: () => Promise<void>) => action.mutate(f);

  const rename = (e: FormEvent) => {
    e.preventDefault();
    act(async () => {
      const t = title.trim();
      await chat("rename_session", { id: session.id, title: t });
      onRenamed({ ...session, title: t });
      setRenaming(false);
    });
  };

  const exportAs = (format: "json" | "markdown") =>
    act(async () => {
      if (format === "json") {
        const data = await chat<unknown>("export", { id: session.id, format });
        download(JSON.stringify(data, null, 2), "application/json", fileName(session.title, "json"));
      } else {
        const data = await chat<{ markdown: string }>("export", { id: session.id, format, ...(leaf ? { leaf } : {}) });
        download(data.markdown, "text/markdown", fileName(session.title, "md"));
      }
    });

  return (
    <div className="chat-header">
      {renaming ? (
        <form onSubmit={rename} aria-label="Rename the chat" className="chat-rename">
          <label htmlFor="chat-title" className="sr-only">
            Title
          </label>
          <input id="chat-title" value={title} onChange={(e) => setTitle(e.target.value)} maxLength={120} required autoFocus />
          <button type="submit" disabled={busy}>
            Save
          </button>
          <button
            type="button"
            className="link"
            onClick={() => {
              setTitle(session.title);
              setRenaming(false);
            }}
          >
            Cancel
          </button>
        </form>
      ) : (
        <h2 className="chat-heading">
          {session.title}{" "}
          <button type="button" className="link" onClick={() => setRenaming(true)} aria-label="Rename the chat">
            Rename
          </button>
        </h2>
      )}
      <p className="muted chat-model">Model: {model || "the provider's default"}</p>
      <div className="chat-tools">
        <span role="group" aria-label="Export">
          <button type="button" disabled={busy} onClick={() => exportAs("json")}>
            Export JSON
          </button>
          <button type="button" disabled={busy} onClick={() => exportAs("markdown")}>
            Export Markdown
          </button>
        </span>
        <button
          type="button"
          className="danger"
          disabled={busy}
          onClick={() =>
            confirm(`Delete the chat “${session.title}” and all its messages?`) &&
            act(async () => {
              await chat("delete_session", { id: session.id });
              onDeleted();
            })
          }
        >
          Delete chat
        </button>
      </div>
    </div>
  );
}

/** Saves `text` as a file through a temporary link. */
function download(text: string, type: string, name: string) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  a.rel = "noopener";
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 30_000);
}

// ------------------------------------------------------------------ messages

/** The messages of the branch shown; follows new text unless the reader scrolled up. */
function Log({
  stickKey,
  focus,
  children,
}: {
  stickKey: string | null;
  focus: string | null;
  children: ReactNode;
}) {
  const box = useRef<HTMLDivElement>(null);
  const force = useRef(true);
  const focused = useRef(false);
  // How tall the content was after the last render: the reader was at the bottom if they
  // still see that bottom now (read before the browser reports their scrolling, so a scroll
  // up between two pieces of text is never undone).
  const height = useRef(0);

  useLayoutEffect(() => {
    force.current = true;
  }, [stickKey]);

  useLayoutEffect(() => {
    const el = box.current;
    if (!el) return;
    if (focus && !focused.current) {
      const target = document.getElementById(`msg-${focus}`);
      if (target) {
        focused.current = true;
        force.current = false;
        el.scrollTop = target.offsetTop - 8;
        height.current = el.scrollHeight;
        return;
      }
    }
    const atBottom = el.scrollTop + el.clientHeight >= height.current - 40;
    if (force.current || atBottom) el.scrollTop = el.scrollHeight;
    force.current = false;
    height.current = el.scrollHeight;
  });

  return (
    <div ref={box} className="chat-log" role="log" aria-label="Conversation" aria-live="off" tabIndex={0}>
      {children}
    </div>
  );
}

function Typing({ waiting }: { waiting: boolean }) {
  return (
    <p className="typing">
      <span className="dots" aria-hidden="true">
        <span />
        <span />
        <span />
      </span>{" "}
      <span className="muted">{waiting ? "Waiting for the model…" : "Writing…"}</span>
    </p>
  );
}

const WHO: Record<string, string> = { user: "You", assistant: "Assistant", system: "System" };

function Message({
  m,
  focused,
  live,
  interrupted,
  versions,
  busy,
  onSelect,
  onRegenerate,
  onEdit,
}: {
  m: ChatMessage;
  focused: boolean;
  live: boolean;
  interrupted: boolean;
  versions: { ids: string[]; index: number };
  busy: boolean;
  onSelect: (id: string) => void;
  onRegenerate: () => void;
  onEdit: (content: string) => Promise<boolean>;
}) {
  const [editing, setEditing] = useState(false);
  const who = WHO[m.role] ?? m.role;
  return (
    <article className={`msg ${m.role}${focused ? " focused" : ""}`} aria-label={who} id={`msg-${m.id}`} aria-busy={live || undefined}>
      <div className="msg-head">
        <strong>{who}</strong>
        {m.role === "assistant" && m.model_name && <span className="muted">{m.model_name}</span>}
        {m.status === "stopped" && <span className="badge warn">stopped</span>}
        {m.status === "failed" && <span className="badge bad">failed</span>}
        {interrupted && <span className="badge warn">interrupted</span>}
        {versions.ids.length > 1 && <Versions versions={versions} onSelect={onSelect} />}
      </div>
      {editing ? (
        <EditBox
          initial={m.content}
          busy={busy}
          onCancel={() => setEditing(false)}
          onSave={async (content) => {
            if (await onEdit(content)) setEditing(false);
          }}
        />
      ) : m.role === "assistant" ? (
        <div className="md">
          <Markdown components={MD}>{m.content}</Markdown>
        </div>
      ) : (
        <p className="plain">{m.content}</p>
      )}
      {m.status === "failed" && (
        <p className="alert error msg-error">{m.error || "the answer failed"}</p>
      )}
      {interrupted && <p className="muted">This answer stopped being written before it finished.</p>}
      {!editing && (
        <div className="msg-actions">
          <CopyButton text={m.content} />
          {m.role === "assistant" && !live && (
            <button type="button" className="link" disabled={busy} onClick={onRegenerate}>
              Regenerate
            </button>
          )}
          {m.role === "user" && (
            <button type="button" className="link" disabled={busy} onClick={() => setEditing(true)}>
              Edit
            </button>
          )}
        </div>
      )}
    </article>
  );
}

/** "‹ 2/3 ›": which version of a message is shown. */
function Versions({ versions, onSelect }: { versions: { ids: string[]; index: number }; onSelect: (id: string) => void }) {
  const { ids, index } = versions;
  return (
    <span className="versions" role="group" aria-label="Versions">
      <button
        type="button"
        className="link"
        disabled={index <= 0}
        onClick={() => onSelect(ids[index - 1])}
        aria-label="Previous version"
      >
        ‹
      </button>
      <span>
        {index + 1}/{ids.length}
      </span>
      <button
        type="button"
        className="link"
        disabled={index >= ids.length - 1}
        onClick={() => onSelect(ids[index + 1])}
        aria-label="Next version"
      >
        ›
      </button>
    </span>
  );
}

function CopyButton({ text }: { text: string }) {
  const [note, setNote] = useState("");
  useEffect(() => {
    if (!note) return;
    const t = setTimeout(() => setNote(""), 2000);
    return () => clearTimeout(t);
  }, [note]);
  return (
    <>
      <button
        type="button"
        className="link"
        onClick={() =>
          (navigator.clipboard?.writeText(text) ?? Promise.reject(new Error("the clipboard is not available here"))).then(
            () => setNote("Copied."),
            (e) => setNote(`Could not copy: ${message(e)}`),
          )
        }
      >
        Copy
      </button>
      <span className="muted" role="status">
        {note}
      </span>
    </>
  );
}

function EditBox({
  initial,
  busy,
  onSave,
  onCancel,
}: {
  initial: string;
  busy: boolean;
  onSave: (content: string) => void;
  onCancel: () => void;
}) {
  const [text, setText] = useState(initial);
  const id = useId();
  return (
    <form
      className="msg-edit"
      aria-label="Edit the message"
      onSubmit={(e) => {
        e.preventDefault();
        if (text.trim()) onSave(text);
      }}
    >
      <label htmlFor={id} className="sr-only">
        Edit message
      </label>
      <textarea id={id} rows={4} value={text} onChange={(e) => setText(e.target.value)} autoFocus />
      <button type="submit" disabled={busy || !text.trim()}>
        Save & send
      </button>
      <button type="button" className="link" onClick={onCancel}>
        Cancel
      </button>
    </form>
  );
}

/** Markdown as React elements: no raw HTML, links open apart, images are links (they are not loaded). */
const MD: Components = {
  // react-markdown's default urlTransform already blanks `javascript:` and other unsafe URLs;
  // a link left without an address is shown as its text.
  a: ({ href, title, children }) =>
    href ? (
      <a href={href} title={title} target="_blank" rel="noopener noreferrer">
        {children}
      </a>
    ) : (
      <span>{children}</span>
    ),
  img: ({ src, alt }) =>
    typeof src === "string" && src ? (
      <a href={src} target="_blank" rel="noopener noreferrer">
        {alt || src}
      </a>
    ) : (
      <>{alt}</>
    ),
};

// ------------------------------------------------------------------ composing

interface Choice {
  agent: string;
  provider: string;
  model: string;
}

/** Agent, provider and model of a new chat. */
function NewChatOptions({
  providers,
  agents,
  choice,
  onChange,
}: {
  providers: Provider[];
  agents: Agent[];
  choice: Choice;
  onChange: (c: Choice) => void;
}) {
  const agent = agents.find((a) => a.id === choice.agent) ?? agents.find((a) => a.id === "default") ?? agents[0];
  const agentProvider = agent ? agentOptions(agent).provider : undefined;
  const provider =
    providers.find((p) => p.id === choice.provider) ??
    providers.find((p) => p.id === agentProvider) ??
    providers[0];

  // Fill in the agent and provider chosen by default, so what is shown is what is sent.
  useEffect(() => {
    if ((agent && choice.agent !== agent.id) || (provider && choice.provider !== provider.id)) {
      onChange({ ...choice, agent: agent?.id ?? "", provider: provider?.id ?? "" });
    }
  }, [agent, provider, choice, onChange]);

  const listing = useQuery({
    ...pluginQuery<{ models: string[]; default_model: string | null }>(PLUGIN, "models", { provider: provider?.id }),
    enabled: !!provider,
  });

  // The models of the provider shown (null while they load).
  const current = !provider
    ? null
    : listing.isSuccess
      ? { models: listing.data.models, default_model: listing.data.default_model, error: null }
      : listing.isError
        ? { models: [], default_model: provider.default_model, error: message(listing.error) }
        : null;
  const models = current?.models ?? null;
  const modelsError = current?.error ?? null;

  // The model: the agent's, else the provider's default, else the first the provider lists.
  const fallback = agent?.model_name || current?.default_model || models?.[0] || "";
  const listed = current !== null;
  useEffect(() => {
    if (listed && !choice.model && fallback) onChange({ ...choice, model: fallback });
  }, [listed, fallback, choice, onChange]);

  const options = [...new Set([...(models ?? []), ...(choice.model ? [choice.model] : [])])];
  return (
    <div className="chat-options">
      <div className="field">
        <label htmlFor="chat-agent">Agent</label>
        <select id="chat-agent" value={agent?.id ?? ""} onChange={(e) => onChange({ ...choice, agent: e.target.value, provider: "", model: "" })}>
          {agents.map((a) => (
            <option key={a.id} value={a.id}>
              {a.name}
              {a.user_uuid === null ? " (shared)" : ""}
            </option>
          ))}
        </select>
      </div>
      {providers.length > 1 && (
        <div className="field">
          <label htmlFor="chat-provider">Provider</label>
          <select id="chat-provider" value={provider?.id ?? ""} onChange={(e) => onChange({ ...choice, provider: e.target.value, model: "" })}>
            {providers.map((p) => (
              <option key={p.id} value={p.id}>
                {p.name}
              </option>
            ))}
          </select>
        </div>
      )}
      <div className="field">
        <label htmlFor="chat-model">Model</label>
        {models === null ? (
          <select id="chat-model" disabled>
            <option>Loading models…</option>
          </select>
        ) : options.length > 0 && !modelsError ? (
          <select id="chat-model" value={choice.model} onChange={(e) => onChange({ ...choice, model: e.target.value })}>
            {options.map((m) => (
              <option key={m} value={m}>
                {m}
              </option>
            ))}
          </select>
        ) : (
          <input
            id="chat-model"
            value={choice.model}
            onChange={(e) => onChange({ ...choice, model: e.target.value })}
            aria-describedby={modelsError ? "chat-model-note" : undefined}
            placeholder="the model's name"
          />
        )}
        {modelsError && (
          <span id="chat-model-note" className="muted">
            Could not list the models: {modelsError}
          </span>
        )}
      </div>
    </div>
  );
}

function Composer({
  draft,
  onDraft,
  onSend,
  onStop,
  busy,
  writing,
}: {
  draft: string;
  onDraft: (t: string) => void;
  onSend: () => void;
  onStop: () => void;
  busy: boolean;
  writing: boolean;
}) {
  const keys = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      onSend();
    }
  };
  return (
    <form
      className="composer"
      aria-label="Composer"
      onSubmit={(e) => {
        e.preventDefault();
        onSend();
      }}
    >
      <label htmlFor="chat-message" className="sr-only">
        Message
      </label>
      <textarea
        id="chat-message"
        rows={3}
        value={draft}
        onChange={(e) => onDraft(e.target.value)}
        onKeyDown={keys}
        placeholder="Message (Enter sends, Shift+Enter for a new line)"
      />
      <div className="composer-actions">
        <button type="submit" disabled={busy || writing || !draft.trim()}>
          Send
        </button>
        {writing && (
          <button type="button" className="danger" onClick={onStop}>
            Stop
          </button>
        )}
      </div>
    </form>
  );
}
