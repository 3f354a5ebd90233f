// The arena game's client side: the movement rules (to predict your own player), the match as
// the server last described it, and interpolation of the other players between updates.
// The server is authoritative; everything here only makes it look smooth.

export interface Rules {
  width: number;
  height: number;
  radius: number;
  speed: number;
  dash_factor: number;
  dash_ms: number;
  dash_cooldown_ms: number;
  max_input_ms: number;
  walls: [number, number, number, number][];
}

/** Pushes a circle out of the walls and into the arena, as game-logic does. */
export function collide(r: Rules, x: number, y: number): [number, number] {
  for (const [wx, wy, ww, wh] of r.walls) {
    const cx = Math.min(Math.max(x, wx), wx + ww);
    const cy = Math.min(Math.max(y, wy), wy + wh);
    const ox = x - cx;
    const oy = y - cy;
    const d2 = ox * ox + oy * oy;
    if (d2 >= r.radius * r.radius) continue;
    if (d2 > 0) {
      const d = Math.sqrt(d2);
      x = cx + (ox / d) * r.radius;
      y = cy + (oy / d) * r.radius;
    } else {
      const left = x - wx;
      const right = wx + ww - x;
      const top = y - wy;
      const bottom = wy + wh - y;
      const least = Math.min(left, right, top, bottom);
      if (least === left) x = wx - r.radius;
      else if (least === right) x = wx + ww + r.radius;
      else if (least === top) y = wy - r.radius;
      else y = wy + wh + r.radius;
    }
  }
  return [Math.min(Math.max(x, r.radius), r.width - r.radius), Math.min(Math.max(y, r.radius), r.height - r.radius)];
}

/** Moves by (dx, dy) in short steps, as game-logic does. */
export function travel(r: Rules, x: number, y: number, dx: number, dy: number): [number, number] {
  const steps = Math.min(64, Math.max(1, Math.ceil(Math.max(Math.abs(dx), Math.abs(dy)) / 6)));
  for (let i = 0; i < steps; i++) [x, y] = collide(r, x + dx / steps, y + dy / steps);
  return [x, y];
}

/** An input as sent, with what prediction needs. */
export interface SentInput {
  seq: number;
  dir: [number, number];
  dt: number;
  dash: boolean;
  /** Dash time left before this input (local estimate). */
  dashBefore: number;
}

/** Applies one input to a position; returns the position and the dash time left after it. */
export function applyInput(r: Rules, x: number, y: number, input: SentInput, dashLeft: number): [number, number, number] {
  let [dx, dy] = input.dir;
  const len = Math.hypot(dx, dy);
  if (len > 1) {
    dx /= len;
    dy /= len;
  }
  if (input.dash) dashLeft = r.dash_ms;
  const dt = Math.min(Math.max(input.dt, 0), r.max_input_ms);
  const dashing = Math.min(dt, dashLeft);
  const distance = (r.speed / 1000) * (dt + dashing * (r.dash_factor - 1));
  const [nx, ny] = travel(r, x, y, dx * distance, dy * distance);
  return [nx, ny, dashLeft - dashing];
}

interface Sample {
  t: number;
  x: number;
  y: number;
}

export interface PlayerState {
  n: number;
  name: string;
  score: number;
  /** bit 0: stunned, bit 1: dashing. */
  flags: number;
  /** Last position the server sent. */
  x: number;
  y: number;
  samples: Sample[];
}

export interface Snapshot {
  match: string;
  name: string;
  status: string;
  players: { n: number; id: string; name: string; x: number; y: number; score: number; flags: number; ack: number }[];
  coins: [number, number, number][];
  left: number;
  nonce?: number | null;
}

export interface Update {
  p?: [number, number, number, number, number][];
  x?: number[];
  k?: [number, number][];
  c?: [number, number, number][];
  fx?: (string | number)[][];
  n?: number;
  names?: [number, string][];
  left?: number;
}

/** How far behind the newest update other players are drawn, ms. */
export const INTERPOLATION_MS = 100;

/** The match as this client knows it. */
export class MatchView {
  players = new Map<number, PlayerState>();
  coins: [number, number, number][] = [];
  left = 0;
  leftAt = 0;
  name = "";
  me: number | null = null;
  ack = 0;
  nonce: number | null = null;
  pending: SentInput[] = [];
  /** Your predicted position. */
  px = 0;
  py = 0;
  predictedDash = 0;
  lastDashAt = -Infinity;

  constructor(
    public rules: Rules,
    public myId: string,
  ) {}

  snapshot(s: Snapshot, now: number) {
    this.name = s.name;
    this.players.clear();
    for (const p of s.players) {
      this.players.set(p.n, { n: p.n, name: p.name, score: p.score, flags: p.flags, x: p.x, y: p.y, samples: [{ t: now, x: p.x, y: p.y }] });
      if (p.id === this.myId) {
        this.me = p.n;
        this.ack = Math.max(this.ack, p.ack);
      }
    }
    this.coins = s.coins;
    this.left = s.left;
    this.leftAt = now;
    if (s.nonce != null) this.nonce = s.nonce;
    this.reconcile();
  }

  /** Applies one update; answers the effects that happened (coins, tags, dashes). */
  update(u: Update, now: number): (string | number)[][] {
    for (const [n, name] of u.names ?? []) {
      const p = this.players.get(n);
      if (p) p.name = name;
      else this.players.set(n, { n, name, score: 0, flags: 0, x: 0, y: 0, samples: [] });
    }
    for (const [n, x, y, score, flags] of u.p ?? []) {
      let p = this.players.get(n);
      if (!p) {
        p = { n, name: "", score, flags, x, y, samples: [] };
        this.players.set(n, p);
      }
      const last = p.samples[p.samples.length - 1];
      if (last && now - last.t > 150) p.samples.push({ t: now - 50, x: last.x, y: last.y });
      p.samples.push({ t: now, x, y });
      while (p.samples.length > 8) p.samples.shift();
      Object.assign(p, { x, y, score, flags });
    }
    for (const n of u.x ?? []) this.players.delete(n);
    for (const [n, seq] of u.k ?? []) if (n === this.me) this.ack = Math.max(this.ack, seq);
    if (u.c) this.coins = u.c;
    if (u.n != null) this.nonce = u.n;
    if (u.left != null) {
      this.left = u.left;
      this.leftAt = now;
    }
    this.reconcile();
    return u.fx ?? [];
  }

  /** Your position: the server's, with the inputs it has not acknowledged replayed on top. */
  reconcile() {
    this.pending = this.pending.filter((i) => i.seq > this.ack);
    const mine = this.me == null ? undefined : this.players.get(this.me);
    if (!mine) return;
    let [x, y, dash] = [mine.x, mine.y, this.pending[0]?.dashBefore ?? 0];
    for (const input of this.pending) [x, y, dash] = applyInput(this.rules, x, y, input, dash);
    this.px = x;
    this.py = y;
    this.predictedDash = dash;
  }

  /** Records an input about to be sent and moves your player at once. */
  predict(input: Omit<SentInput, "dashBefore">) {
    const sent: SentInput = { ...input, dashBefore: this.predictedDash };
    this.pending.push(sent);
    const mine = this.me == null ? undefined : this.players.get(this.me);
    if (mine && mine.flags & 1) return; // stunned: the server will not move you
    [this.px, this.py, this.predictedDash] = applyInput(this.rules, this.px, this.py, sent, this.predictedDash);
  }

  /** Where to draw player `p` at time `now`. */
  position(p: PlayerState, now: number): [number, number] {
    if (p.n === this.me) return [this.px, this.py];
    const t = now - INTERPOLATION_MS;
    const s = p.samples;
    if (s.length === 0) return [p.x, p.y];
    if (t <= s[0].t) return [s[0].x, s[0].y];
    for (let i = s.length - 1; i > 0; i--) {
      if (s[i - 1].t <= t && t <= s[i].t) {
        const f = (t - s[i - 1].t) / Math.max(1, s[i].t - s[i - 1].t);
        return [s[i - 1].x + (s[i].x - s[i - 1].x) * f, s[i - 1].y + (s[i].y - s[i - 1].y) * f];
      }
    }
    const last = s[s.length - 1];
    return [last.x, last.y];
  }

  timeLeft(now: number): number {
    return Math.max(0, this.left - (now - this.leftAt));
  }
}
