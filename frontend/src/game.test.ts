import { describe, expect, it } from "vitest";
import { collide, MatchView, type Rules } from "./game";

const rules: Rules = {
  width: 960,
  height: 640,
  radius: 14,
  speed: 180,
  dash_factor: 3,
  dash_ms: 200,
  dash_cooldown_ms: 2000,
  max_input_ms: 250,
  walls: [[440, 280, 80, 80]],
};

function view(): MatchView {
  const v = new MatchView(rules, "me");
  v.snapshot(
    {
      match: "m-1",
      name: "Test",
      status: "playing",
      players: [
        { n: 0, id: "me", name: "Me", x: 100, y: 100, score: 0, flags: 0, ack: 0 },
        { n: 1, id: "other", name: "Other", x: 500, y: 100, score: 0, flags: 0, ack: 0 },
      ],
      coins: [],
      left: 60_000,
    },
    0,
  );
  return v;
}

describe("the movement rules", () => {
  it("keep a player inside the arena and outside the walls", () => {
    expect(collide(rules, -50, 2000)).toEqual([14, 626]);
    const [x, y] = collide(rules, 450, 320);
    expect(x < 440 - 13.9 || x > 520 + 13.9 || y < 280 - 13.9 || y > 360 + 13.9).toBe(true);
  });
});

describe("prediction", () => {
  it("moves your player at once and replays what the server has not acknowledged", () => {
    const v = view();
    v.predict({ seq: 1, dir: [1, 0], dt: 100, dash: false });
    v.predict({ seq: 2, dir: [1, 0], dt: 100, dash: false });
    expect(v.px).toBeCloseTo(136);
    // The server has applied input 1 only.
    v.update({ p: [[0, 118, 100, 0, 0]], k: [[0, 1]] }, 50);
    expect(v.pending.map((i) => i.seq)).toEqual([2]);
    expect(v.px).toBeCloseTo(136);
  });

  it("snaps back when the server refused an input (a set-back)", () => {
    const v = view();
    v.predict({ seq: 1, dir: [1, 0], dt: 100, dash: false });
    expect(v.px).toBeCloseTo(118);
    v.update({ p: [[0, 100, 100, 0, 0]], k: [[0, 1]] }, 50);
    expect(v.px).toBe(100);
    expect(v.pending).toEqual([]);
  });

  it("dashes three times as fast for the dash's time", () => {
    const v = view();
    v.predict({ seq: 1, dir: [0, 1], dt: 100, dash: true });
    expect(v.py).toBeCloseTo(100 + 0.18 * 300);
    v.predict({ seq: 2, dir: [0, 1], dt: 200, dash: false });
    // 100 ms of dash left, then 100 ms at normal speed.
    expect(v.py).toBeCloseTo(154 + 0.18 * (100 * 3 + 100));
  });
});

describe("interpolation", () => {
  it("draws other players between their last two updates, a little behind", () => {
    const v = view();
    v.update({ p: [[1, 510, 100, 0, 0]] }, 100);
    v.update({ p: [[1, 520, 100, 0, 0]] }, 150);
    const other = v.players.get(1)!;
    expect(v.position(other, 225)).toEqual([515, 100]);
    expect(v.position(other, 1000)).toEqual([520, 100]);
    // Your own player is where prediction put it.
    expect(v.position(v.players.get(0)!, 225)).toEqual([100, 100]);
  });

  it("forgets players who left and learns new names", () => {
    const v = view();
    v.update({ names: [[2, "Newcomer"]], p: [[2, 300, 300, 0, 0]], x: [1] }, 10);
    expect([...v.players.keys()]).toEqual([0, 2]);
    expect(v.players.get(2)!.name).toBe("Newcomer");
  });
});
