import { describe, expect, it } from "vitest";
import {
  agentOptions,
  ago,
  applyFrame,
  childrenOf,
  fileName,
  grantFromError,
  keyBoundElsewhere,
  keyOrigin,
  keySecret,
  newestLeaf,
  originOf,
  providerKey,
  selectSibling,
  selectThrough,
  siblings,
  snippet,
  stopList,
  upsert,
  visiblePath,
  emptyThread,
  mergeFresh,
  thread,
  type ChatMessage,
} from "./chat";

let clock = 1_700_000_000_000;
function msg(id: string, parent: string | null, role: ChatMessage["role"] = "user", extra: Partial<ChatMessage> = {}): ChatMessage {
  clock += 1000;
  return {
    id,
    session_id: "s",
    role,
    content: `text of ${id}`,
    model_name: role === "assistant" ? "m" : null,
    parent_id: parent,
    status: "done",
    created_at: clock,
    ...extra,
  };
}

// q1 ─ a1
//    └ a2 ─ q2 ─ a3
//    └ a4            (regenerated twice)
// q1b ─ a5           (an edit of q1: a second first message)
function tree(): ChatMessage[] {
  return [
    msg("q1", null),
    msg("a1", "q1", "assistant"),
    msg("a2", "q1", "assistant"),
    msg("q2", "a2"),
    msg("a3", "q2", "assistant"),
    msg("a4", "q1", "assistant"),
    msg("q1b", null),
    msg("a5", "q1b", "assistant"),
  ];
}

const ids = (ms: ChatMessage[]) => ms.map((m) => m.id);

describe("the visible branch", () => {
  it("follows the newest child at every fork by default", () => {
    expect(ids(visiblePath(tree()))).toEqual(["q1b", "a5"]);
    expect(newestLeaf(tree())?.id).toBe("a5");
  });

  it("follows the selected child where one is selected", () => {
    expect(ids(visiblePath(tree(), { "": "q1" }))).toEqual(["q1", "a4"]);
    expect(ids(visiblePath(tree(), { "": "q1", q1: "a2" }))).toEqual(["q1", "a2", "q2", "a3"]);
  });

  it("ignores a selection of a message that is gone", () => {
    expect(ids(visiblePath(tree(), { "": "nope" }))).toEqual(["q1b", "a5"]);
  });

  it("is empty without messages", () => {
    expect(visiblePath([])).toEqual([]);
    expect(newestLeaf([])).toBeNull();
  });

  it("uses the server's order when creation times are equal", () => {
    const same = [msg("q", null), msg("x", "q", "assistant"), msg("y", "q", "assistant")].map((m) => ({ ...m, created_at: 5 }));
    expect(ids(visiblePath(same))).toEqual(["q", "y"]);
  });

  it("keeps a message whose parent is missing as a first message", () => {
    const ms = [msg("q", null), msg("orphan", "gone")];
    expect(childrenOf(ms).get("")?.map((m) => m.id)).toEqual(["q", "orphan"]);
  });
});

describe("siblings", () => {
  it("lists the versions of a message, oldest first, with its place", () => {
    expect(siblings(tree(), "a2")).toEqual({ ids: ["a1", "a2", "a4"], index: 1 });
    expect(siblings(tree(), "q1b")).toEqual({ ids: ["q1", "q1b"], index: 1 });
    expect(siblings(tree(), "a3")).toEqual({ ids: ["a3"], index: 0 });
    expect(siblings(tree(), "nope")).toEqual({ ids: [], index: -1 });
  });
});

describe("switching branches", () => {
  it("shows the chosen sibling and the newest descendants below it", () => {
    const t = tree();
    let sel = selectSibling(t, {}, "q1");
    expect(ids(visiblePath(t, sel))).toEqual(["q1", "a4"]);
    sel = selectSibling(t, sel, "a2");
    expect(ids(visiblePath(t, sel))).toEqual(["q1", "a2", "q2", "a3"]);
    sel = selectSibling(t, sel, "a1");
    expect(ids(visiblePath(t, sel))).toEqual(["q1", "a1"]);
  });

  it("forgets what was selected below the chosen sibling", () => {
    const t = [...tree(), msg("q2b", "a2"), msg("a6", "q2b", "assistant")];
    // Showing q2 under a2, then switching a2 away and back, shows a2's newest branch again.
    let sel = selectThrough(t, {}, "q2");
    expect(ids(visiblePath(t, sel))).toEqual(["q1", "a2", "q2", "a3"]);
    sel = selectSibling(t, sel, "a2");
    expect(ids(visiblePath(t, sel))).toEqual(["q1", "a2", "q2b", "a6"]);
  });

  it("shows the branch through a message (a search hit, a new answer)", () => {
    const t = tree();
    const sel = selectThrough(t, { "": "q1b" }, "q2");
    expect(ids(visiblePath(t, sel))).toEqual(["q1", "a2", "q2", "a3"]);
    expect(selectThrough(t, sel, "nope")).toBe(sel);
  });

  it("shows a new answer added beside an older one that was selected", () => {
    let t = tree();
    let sel = selectSibling(t, selectSibling(t, {}, "q1"), "a1");
    const a7 = msg("a7", "q1", "assistant", { status: "streaming", content: "" });
    t = upsert(t, a7);
    sel = selectThrough(t, sel, "a7");
    expect(ids(visiblePath(t, sel))).toEqual(["q1", "a7"]);
    expect(siblings(t, "a7")).toEqual({ ids: ["a1", "a2", "a4", "a7"], index: 3 });
  });
});

describe("upsert", () => {
  it("adds new messages and merges known ones in place", () => {
    const t = [msg("q", null), msg("a", "q", "assistant")];
    const out = upsert(t, { ...t[0], content: "changed" }, null, msg("b", "q", "assistant"));
    expect(ids(out)).toEqual(["q", "a", "b"]);
    expect(out[0].content).toBe("changed");
    expect(t[0].content).toBe("text of q");
  });
});

describe("answer frames", () => {
  const start = () => [msg("q", null), msg("a", "q", "assistant", { status: "streaming", content: "" })];

  it("a snapshot replaces the text so far, deltas append, done replaces", () => {
    let t = start();
    const question = t[0];
    t = applyFrame(t, { type: "snapshot", message_id: "a", content: "Hel", status: "streaming", error: null });
    expect(t[1]).toMatchObject({ content: "Hel", status: "streaming" });
    t = applyFrame(t, { type: "delta", message_id: "a", text: "lo" });
    t = applyFrame(t, { type: "delta", message_id: "a", text: ", world" });
    expect(t[1].content).toBe("Hello, world");
    t = applyFrame(t, { type: "done", message_id: "a", status: "done", content: "Hello, world!", error: null });
    expect(t[1]).toMatchObject({ content: "Hello, world!", status: "done" });
    expect(t[0]).toBe(question);
  });

  it("a queued snapshot counts as being written", () => {
    const t = applyFrame(start(), { type: "snapshot", message_id: "a", content: "", status: "queued", error: null });
    expect(t[1].status).toBe("streaming");
  });

  it("a snapshot of a finished answer finishes it", () => {
    const t = applyFrame(start(), { type: "snapshot", message_id: "a", content: "All of it", status: "stopped", error: null });
    expect(t[1]).toMatchObject({ content: "All of it", status: "stopped" });
  });

  it("keeps the reason of a failure", () => {
    const t = applyFrame(start(), { type: "done", message_id: "a", status: "failed", content: "", error: "the model server's stream broke" });
    expect(t[1]).toMatchObject({ status: "failed", error: "the model server's stream broke" });
  });

  it("ignores deltas after the end, unknown messages and other data", () => {
    let t = applyFrame(start(), { type: "done", message_id: "a", status: "done", content: "fin", error: null });
    const before = t;
    t = applyFrame(t, { type: "delta", message_id: "a", text: "again" });
    expect(t).toBe(before);
    expect(applyFrame(t, { type: "delta", message_id: "zz", text: "x" })).toBe(before);
    expect(applyFrame(t, { type: "closed" })).toBe(before);
    expect(applyFrame(t, null)).toBe(before);
  });
});

describe("helpers", () => {
  it("ago", () => {
    const now = 1_700_000_000_000;
    expect(ago(now - 10_000, now)).toBe("just now");
    expect(ago(now - 5 * 60_000, now)).toBe("5 min ago");
    expect(ago(now - 3 * 3_600_000, now)).toBe("3 h ago");
    expect(ago(now - 2 * 86_400_000, now)).toBe("2 d ago");
    expect(ago(now - 30 * 86_400_000, now)).toBe(new Date(now - 30 * 86_400_000).toLocaleDateString());
  });

  it("snippet cuts around the first word found", () => {
    const text = `${"a ".repeat(100)}needle ${"b ".repeat(100)}`;
    const s = snippet(text, "Needle", 40);
    expect(s).toContain("needle");
    expect(s.startsWith("…") && s.endsWith("…")).toBe(true);
    expect(snippet("short\n text", "x")).toBe("short text");
  });

  it("grantFromError reads the grant a denial names", () => {
    expect(
      grantFromError(
        "the chat plugin may not reach http://127.0.0.1:8080 yet: an administrator grants it `http:http://127.0.0.1:8080` (Plugins page, or `a2e plugin grant chat http:http://127.0.0.1:8080`) (denied)",
      ),
    ).toBe("http:http://127.0.0.1:8080");
    expect(grantFromError("busy")).toBeNull();
  });

  it("originOf writes the port", () => {
    expect(originOf("http://127.0.0.1:8080/v1")).toBe("http://127.0.0.1:8080");
    expect(originOf("https://models.example.com")).toBe("https://models.example.com:443");
    expect(originOf("http://localhost")).toBe("http://localhost:80");
    expect(originOf("http://[::1]:11434/")).toBe("http://[::1]:11434");
    expect(originOf("ftp://x")).toBeNull();
    expect(originOf("not a url")).toBeNull();
  });

  it("a provider's API key is the secret provider.<id>, bound to the origin of its base URL", () => {
    expect(keySecret("local")).toBe("provider.local");
    expect(keyOrigin("https://api.example.com/v1")).toBe("https://api.example.com");
    expect(keyOrigin(" http://127.0.0.1:8080/v1/ ")).toBe("http://127.0.0.1:8080");
    expect(keyOrigin("https://API.example.com:443/openai/v1")).toBe("https://api.example.com");
    expect(keyOrigin("ftp://x")).toBeNull();
    expect(keyOrigin("not a url")).toBeNull();
    const secret = { name: "provider.local", origin: "https://api.example.com", updated_at: 1 };
    const others = [{ name: "provider.other", origin: "http://x", updated_at: 2 }, secret];
    expect(providerKey({ id: "local", base_url: "https://api.example.com/v1" }, others)).toEqual({ secret, elsewhere: false });
    expect(providerKey({ id: "local", base_url: "https://new.example.com/v1" }, others)).toEqual({ secret, elsewhere: true });
    expect(providerKey({ id: "none", base_url: "https://api.example.com" }, others)).toBeNull();
    expect(
      keyBoundElsewhere(
        "the chat plugin may not reach https://new.example.com:443 yet: an administrator grants it `http:https://new.example.com:443` (secret `provider.local` is bound to https://api.example.com and is never sent to https://new.example.com)",
      ),
    ).toBe(true);
    expect(keyBoundElsewhere("the chat plugin may not reach http://x:80 yet (denied)")).toBe(false);
  });

  it("agentOptions reads the options JSON", () => {
    expect(agentOptions({ options: '{"temperature":0.5,"stop":["x"]}' })).toEqual({ temperature: 0.5, stop: ["x"] });
    expect(agentOptions({ options: "" })).toEqual({});
    expect(agentOptions({ options: "nope" })).toEqual({});
    expect(agentOptions({ options: "[1]" })).toEqual({});
  });

  it("fileName and stopList", () => {
    expect(fileName("Hello, World!", "md")).toBe("hello-world.md");
    expect(fileName("¿¿", "json")).toBe("chat.json");
    expect(stopList(" a, b ,, c ")).toEqual(["a", "b", "c"]);
  });
});

describe("a conversation's state", () => {
  it("loads, adds a question and its answer, streams it and switches versions", () => {
    let s = thread(emptyThread, { type: "load", messages: [msg("q", null), msg("a", "q", "assistant")] });
    expect(ids(visiblePath(s.messages, s.selected))).toEqual(["q", "a"]);
    const q2 = msg("q2", "a");
    const a2 = msg("a2", "q2", "assistant", { status: "streaming", content: "" });
    s = thread(s, { type: "add", messages: [q2, a2], show: "a2" });
    expect(ids(visiblePath(s.messages, s.selected))).toEqual(["q", "a", "q2", "a2"]);
    s = thread(s, { type: "frame", data: { type: "delta", message_id: "a2", text: "Hi" } });
    expect(s.messages.find((m) => m.id === "a2")?.content).toBe("Hi");
    const same = thread(s, { type: "frame", data: { type: "delta", message_id: "zz", text: "x" } });
    expect(same).toBe(s);
    // A regenerated answer to q2 is shown; switching back shows the first one.
    s = thread(s, { type: "add", messages: [msg("a3", "q2", "assistant")], show: "a3" });
    expect(visiblePath(s.messages, s.selected).at(-1)?.id).toBe("a3");
    s = thread(s, { type: "select", id: "a2" });
    expect(visiblePath(s.messages, s.selected).at(-1)?.id).toBe("a2");
    expect(thread(s, { type: "reset" })).toEqual(emptyThread);
  });

  it("a reload keeps the text that streamed ahead of the store, and a finished answer", () => {
    const q = msg("q", null);
    const a = msg("a", "q", "assistant", { status: "streaming", content: "Hello wor" });
    const b = msg("b", "q", "assistant", { status: "done", content: "final" });
    const fresh = [q, { ...a, content: "Hello" }, { ...b, status: "streaming" as const, content: "fin" }];
    const out = mergeFresh([q, a, b], fresh);
    expect(out[1].content).toBe("Hello wor");
    expect(out[2]).toMatchObject({ status: "done", content: "final" });
    // The store ahead of the page (or finished) wins.
    const later = mergeFresh([q, a], [q, { ...a, status: "done", content: "Hello world." }]);
    expect(later[1]).toMatchObject({ status: "done", content: "Hello world." });
    const failed = mergeFresh([q, { ...a, status: "failed", error: "why" }], [q, { ...a, status: "failed" }]);
    expect(failed[1].error).toBe("why");
  });

  it("a load with a focus shows the branch through it", () => {
    const s = thread(emptyThread, { type: "load", messages: tree(), focus: "q2" });
    expect(ids(visiblePath(s.messages, s.selected))).toEqual(["q1", "a2", "q2", "a3"]);
  });
});
