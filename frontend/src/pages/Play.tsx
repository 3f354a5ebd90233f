import { useEffect, useLayoutEffect, useRef, useState, type FormEvent } from "react";
import { useMutation, useQuery } from "@tanstack/react-query";
import { connectRealtime, pluginCall, type RtConnection, type RtFrame, type User } from "../api";
import { MatchView, type Rules, type Snapshot, type Update } from "../game";
import { pluginQuery } from "../query";
import { useUser } from "../session";
import { Alert, Loading, message, when } from "../ui";

const PLUGIN = "tick-manager";

interface Listing {
  id: string;
  name: string;
  capacity: number;
  players: number;
  spectators: number;
  status: string;
  time_left_ms: number;
}

interface Result {
  match: string;
  name: string;
  scores: { player: string; name: string; score: number }[];
  duration_ms: number;
  ended_at: number;
}

const rulesQuery = { ...pluginQuery<Rules>("game-logic", "rules"), staleTime: Infinity };
// The lobby reads the open matches and the recent results again every 3 seconds.
const matchesQuery = { ...pluginQuery<Listing[]>(PLUGIN, "list_matches"), refetchInterval: 3000 };
const resultsQuery = { ...pluginQuery<Result[]>(PLUGIN, "results", { limit: 10 }), refetchInterval: 3000 };

/** The arena game: a lobby of matches, and the match you are in. */
export function Play() {
  const user = useUser();
  const [joined, setJoined] = useState<{ id: string; spectate: boolean } | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const { data: rules, error } = useQuery(rulesQuery);

  if (error) return <Alert kind="error">{`The game is not available: ${message(error)}`}</Alert>;
  if (!rules) return <Loading what="the game" />;
  if (joined)
    return (
      <Match
        key={joined.id}
        user={user}
        rules={rules}
        room={joined.id}
        spectate={joined.spectate}
        onExit={(why) => {
          setNotice(why);
          setJoined(null);
        }}
      />
    );
  return (
    <Lobby
      notice={notice}
      onJoin={(id, spectate) => {
        setNotice(null);
        setJoined({ id, spectate });
      }}
    />
  );
}

function Lobby({ notice, onJoin }: { notice: string | null; onJoin: (id: string, spectate: boolean) => void }) {
  const listed = useQuery(matchesQuery);
  const recent = useQuery(resultsQuery);
  const matches = listed.data ?? null;
  const results = recent.data ?? [];
  const join = useMutation({
    mutationFn: (what: () => Promise<Listing>) => what(),
    onSuccess: (m) => onJoin(m.id, false),
  });
  const run = (what: () => Promise<Listing>) => join.mutate(what);
  const busy = join.isPending;
  const failure = join.error ?? listed.error ?? recent.error;
  const error = failure && message(failure);

  const create = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const d = new FormData(e.currentTarget);
    const name = String(d.get("name") || "").trim();
    run(() =>
      pluginCall<Listing>(PLUGIN, "create_match", {
        ...(name ? { name } : {}),
        capacity: Number(d.get("capacity")),
        duration_s: Number(d.get("duration")),
      }),
    );
  };

  return (
    <section>
      <h1>Play</h1>
      <p className="muted">
        Move with the arrow keys or WASD, dash with Space. Coins are worth 1 point; dashing into another player tags
        them for 2.
      </p>
      <Alert kind="info">{notice}</Alert>
      <Alert kind="error">{error}</Alert>
      <button type="button" disabled={busy} onClick={() => run(() => pluginCall<Listing>(PLUGIN, "matchmake"))}>
        Quick match
      </button>
      <details className="panel">
        <summary>Create a match</summary>
        <form onSubmit={create} aria-label="Create a match">
          <div className="field">
            <label htmlFor="m-name">Name (optional)</label>
            <input id="m-name" name="name" maxLength={40} />
          </div>
          <div className="field">
            <label htmlFor="m-capacity">Players (2 to 32)</label>
            <input id="m-capacity" name="capacity" type="number" min={2} max={32} defaultValue={8} required />
          </div>
          <div className="field">
            <label htmlFor="m-duration">Length in seconds (10 to 1800)</label>
            <input id="m-duration" name="duration" type="number" min={10} max={1800} defaultValue={180} required />
          </div>
          <button type="submit" disabled={busy}>
            Create and join
          </button>
        </form>
      </details>
      <h2>Matches</h2>
      {matches === null && !error && <Loading what="matches" />}
      {matches?.length === 0 && <p className="muted">No open matches. Start one with Quick match.</p>}
      {matches && matches.length > 0 && (
        <div className="table-wrap">
          <table aria-label="Open matches">
            <thead>
              <tr>
                <th scope="col">Match</th>
                <th scope="col">Players</th>
                <th scope="col">Status</th>
                <th scope="col">Time left</th>
                <th scope="col"></th>
              </tr>
            </thead>
            <tbody>
              {matches.map((m) => (
                <tr key={m.id}>
                  <td>{m.name}</td>
                  <td>
                    {m.players} / {m.capacity}
                    {m.spectators > 0 && <span className="muted"> (+{m.spectators} watching)</span>}
                  </td>
                  <td>{m.status}</td>
                  <td>{clock(m.time_left_ms)}</td>
                  <td>
                    {m.status !== "ended" && (
                      <>
                        <button type="button" disabled={m.players >= m.capacity} onClick={() => onJoin(m.id, false)} aria-label={`Join ${m.name}`}>
                          Join
                        </button>
                        <button type="button" className="link" onClick={() => onJoin(m.id, true)} aria-label={`Watch ${m.name}`}>
                          Watch
                        </button>
                      </>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <h2>Recent results</h2>
      {results.length === 0 ? (
        <p className="muted">No finished matches yet.</p>
      ) : (
        <div className="table-wrap">
          <table aria-label="Recent results">
            <thead>
              <tr>
                <th scope="col">Match</th>
                <th scope="col">Ended</th>
                <th scope="col">Scores</th>
              </tr>
            </thead>
            <tbody>
              {results.map((r) => (
                <tr key={r.match}>
                  <td>{r.name}</td>
                  <td>{when(r.ended_at)}</td>
                  <td>{r.scores.map((s) => `${s.name || "player"} ${s.score}`).join(", ") || "nobody played"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function clock(ms: number): string {
  const s = Math.ceil(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

const KEYS: Record<string, [number, number]> = {
  ArrowLeft: [-1, 0],
  ArrowRight: [1, 0],
  ArrowUp: [0, -1],
  ArrowDown: [0, 1],
  a: [-1, 0],
  d: [1, 0],
  w: [0, -1],
  s: [0, 1],
};

interface Props {
  user: User;
  rules: Rules;
  room: string;
  spectate: boolean;
  onExit: (why: string | null) => void;
}

interface Board {
  name: string;
  rows: { n: number; name: string; score: number; x: number; y: number; me: boolean }[];
  coins: [number, number, number][];
  left: number;
}

/** A match: the canvas, the scoreboard and the controls. */
function Match({ user, rules, room, spectate, onExit }: Props) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const view = useRef(new MatchView(rules, user.uuid));
  const conn = useRef<RtConnection | null>(null);
  const [status, setStatus] = useState("Connecting…");
  const [ping, setPing] = useState<number | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [ended, setEnded] = useState<Result | null>(null);
  const [board, setBoard] = useState<Board>({ name: "", rows: [], coins: [], left: 0 });
  const exitRef = useRef(onExit);
  useLayoutEffect(() => {
    exitRef.current = onExit;
  });

  useEffect(() => {
    const v = view.current;
    const keys = new Set<string>();
    let dash = false;
    let seq = 0;
    let last = performance.now();
    let joined = false;
    let noticeTimer: ReturnType<typeof setTimeout> | undefined;
    const show = (text: string) => {
      setNotice(text);
      clearTimeout(noticeTimer);
      noticeTimer = setTimeout(() => setNotice(null), 4000);
    };

    const onFrame = (f: RtFrame) => {
      const now = performance.now();
      if (f.type === "welcome") {
        c.send({ type: "join", plugin: PLUGIN, room, data: { spectate }, ref: "join" });
      } else if (f.type === "joined" && f.room === room) {
        joined = true;
        setStatus(spectate ? "Watching" : "Playing");
      } else if (f.type === "error" && f.ref === "join") {
        exitRef.current(`Could not join: ${f.message}`);
      } else if (f.type === "pong" && typeof f.ref === "number") {
        setPing(Math.round(now - f.ref));
      } else if ((f.type === "left" || f.type === "closed") && f.room === room) {
        exitRef.current(f.reason ? `You left the match: ${f.reason}` : "You left the match.");
      } else if (f.type === "message" && f.room === room) {
        const data = f.data as { snap?: Snapshot; u?: Update; ended?: Result; notice?: { kind: string; message: string } };
        if (data.snap) v.snapshot(data.snap, now);
        if (data.u) {
          for (const fx of v.update(data.u, now)) {
            if (fx[0] === "tag" && fx[2] === v.me) show("You were tagged! Stunned for a second.");
          }
        }
        if (data.ended) {
          setEnded(data.ended);
          setStatus("Match over");
        }
        if (data.notice) show(data.notice.message);
      }
    };
    const c = connectRealtime(onFrame, (reason) => exitRef.current(`Disconnected: ${reason}`));
    conn.current = c;

    const typing = (e: KeyboardEvent) => e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement;
    const down = (e: KeyboardEvent) => {
      if (typing(e)) return;
      const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
      if (key in KEYS || key === " ") e.preventDefault();
      if (key === " ") dash = true;
      else if (key in KEYS) keys.add(key);
    };
    const up = (e: KeyboardEvent) => keys.delete(e.key.length === 1 ? e.key.toLowerCase() : e.key);
    const blur = () => keys.clear();
    addEventListener("keydown", down);
    addEventListener("keyup", up);
    addEventListener("blur", blur);

    // Inputs: 20 a second while keys are held, one every half second otherwise (the heartbeat).
    let idle = 0;
    const inputs = setInterval(() => {
      const now = performance.now();
      const dt = Math.min(now - last, 100);
      last = now;
      if (!joined || spectate || document.hidden || v.me == null) return;
      let [dx, dy] = [0, 0];
      for (const k of keys) {
        dx += KEYS[k][0];
        dy += KEYS[k][1];
      }
      const len = Math.hypot(dx, dy);
      if (len > 0) [dx, dy] = [dx / len, dy / len];
      const wantDash = dash && now - v.lastDashAt >= rules.dash_cooldown_ms;
      dash = false;
      const moving = len > 0 || wantDash;
      if (!moving && ++idle % 10 !== 0) return;
      if (wantDash) v.lastDashAt = now;
      seq += 1;
      const input = { seq, dir: [dx, dy] as [number, number], dt: Math.round(dt), dash: wantDash };
      v.predict(input);
      c.send({ type: "send", plugin: PLUGIN, room, data: { input: { ...input, echo: v.nonce ?? 0 } } });
    }, 50);
    const pings = setInterval(() => c.send({ type: "ping", ref: performance.now() }), 2000);
    const boardTimer = setInterval(() => {
      const now = performance.now();
      const rows = [...v.players.values()]
        .map((p) => {
          const [x, y] = v.position(p, now);
          return { n: p.n, name: p.name, score: p.score, x: Math.round(x), y: Math.round(y), me: p.n === v.me };
        })
        .sort((a, b) => b.score - a.score || a.n - b.n);
      setBoard({ name: v.name, rows, coins: v.coins, left: v.timeLeft(now) });
    }, 250);

    let frame = 0;
    const draw = () => {
      frame = requestAnimationFrame(draw);
      const cv = canvas.current;
      const ctx = cv?.getContext("2d");
      if (!cv || !ctx) return;
      render(ctx, v, performance.now());
    };
    frame = requestAnimationFrame(draw);

    return () => {
      cancelAnimationFrame(frame);
      clearInterval(inputs);
      clearInterval(pings);
      clearInterval(boardTimer);
      clearTimeout(noticeTimer);
      removeEventListener("keydown", down);
      removeEventListener("keyup", up);
      removeEventListener("blur", blur);
      c.send({ type: "leave", plugin: PLUGIN, room });
      c.close();
    };
  }, [room, spectate, rules]);

  const me = board.rows.find((r) => r.me);
  return (
    <section aria-label="Match">
      <h1>{board.name || "Match"}</h1>
      <p className="hud" role="status">
        <span>{status}</span> · <span>Time left {clock(board.left)}</span> · <span>Ping {ping == null ? "…" : `${ping} ms`}</span>
        {me && <> · <span>Your score {me.score}</span></>}
      </p>
      {notice && (
        <p className="alert error" role="alert">
          {notice}
        </p>
      )}
      {ended && (
        <div className="panel" role="dialog" aria-label="Match over">
          <h2>Match over</h2>
          <ol>
            {ended.scores.map((s) => (
              <li key={s.player}>
                {s.name || "player"}: {s.score}
              </li>
            ))}
          </ol>
        </div>
      )}
      <canvas ref={canvas} className="arena" width={rules.width} height={rules.height} aria-label="The arena (a text view follows)" />
      <div className="actions">
        <button type="button" onClick={() => onExit(null)}>
          Leave match
        </button>
        {!spectate && <span className="muted"> Arrow keys or WASD to move, Space to dash.</span>}
      </div>
      <h2>Scoreboard</h2>
      <table aria-label="Scoreboard">
        <thead>
          <tr>
            <th scope="col">Player</th>
            <th scope="col">Score</th>
          </tr>
        </thead>
        <tbody>
          {board.rows.map((r) => (
            <tr key={r.n}>
              <td>
                {r.name || "player"}
                {r.me && " (you)"}
              </td>
              <td>{r.score}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <details className="panel">
        <summary>Text view of the arena</summary>
        <ul aria-label="Positions">
          {board.rows.map((r) => (
            <li key={r.n} data-player={r.name} data-x={r.x} data-y={r.y} data-me={r.me ? "yes" : "no"}>
              {r.me ? "You" : r.name || "player"} at {r.x}, {r.y}
            </li>
          ))}
        </ul>
        <ul aria-label="Coins">
          {board.coins.map(([id, x, y]) => (
            <li key={id} data-x={x} data-y={y}>
              Coin at {x}, {y}
            </li>
          ))}
        </ul>
      </details>
    </section>
  );
}

function hue(n: number): string {
  return `hsl(${(n * 137) % 360} 70% 50%)`;
}

function render(ctx: CanvasRenderingContext2D, v: MatchView, now: number) {
  const r = v.rules;
  ctx.fillStyle = "#10151c";
  ctx.fillRect(0, 0, r.width, r.height);
  ctx.fillStyle = "#3b4656";
  for (const [x, y, w, h] of r.walls) ctx.fillRect(x, y, w, h);
  ctx.fillStyle = "#f5c542";
  for (const [, x, y] of v.coins) {
    ctx.beginPath();
    ctx.arc(x, y, 7, 0, Math.PI * 2);
    ctx.fill();
  }
  ctx.font = "13px system-ui, sans-serif";
  ctx.textAlign = "center";
  for (const p of v.players.values()) {
    const [x, y] = v.position(p, now);
    ctx.globalAlpha = p.flags & 1 ? 0.4 : 1;
    ctx.fillStyle = hue(p.n);
    ctx.beginPath();
    ctx.arc(x, y, r.radius, 0, Math.PI * 2);
    ctx.fill();
    if (p.n === v.me) {
      ctx.strokeStyle = "#ffffff";
      ctx.lineWidth = 3;
      ctx.stroke();
    }
    if (p.flags & 2) {
      ctx.strokeStyle = "#ffffff88";
      ctx.lineWidth = 6;
      ctx.beginPath();
      ctx.arc(x, y, r.radius + 5, 0, Math.PI * 2);
      ctx.stroke();
    }
    ctx.globalAlpha = 1;
    ctx.fillStyle = "#e8edf3";
    ctx.fillText(`${p.name || "player"} ${p.score}`, x, y - r.radius - 6);
  }
}
