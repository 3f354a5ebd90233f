//! The simulation itself, free of the plugin interface.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Arena width.
pub const WIDTH: f64 = 960.0;
/// Arena height.
pub const HEIGHT: f64 = 640.0;
/// Player radius.
pub const RADIUS: f64 = 14.0;
/// Units per second.
pub const SPEED: f64 = 180.0;
/// Speed factor while dashing.
pub const DASH_FACTOR: f64 = 3.0;
/// Movement time a dash lasts, ms.
pub const DASH_MS: f64 = 200.0;
/// Time before the next dash, ms.
pub const DASH_COOLDOWN_MS: u64 = 2000;
/// Longest time one input may cover, ms (longer ones are cut to this).
pub const MAX_INPUT_MS: f64 = 250.0;
/// How long a tagged player cannot move, ms.
pub const STUN_MS: u64 = 1000;
/// Coin pick-up distance beyond the player's radius.
pub const COIN_REACH: f64 = 10.0;
/// Coins on the map at most.
pub const MAX_COINS: usize = 6;
/// A new coin every this many ms while there are fewer than [`MAX_COINS`].
pub const COIN_EVERY_MS: u64 = 1500;
/// Obstacles: (x, y, w, h).
pub const WALLS: [(f64, f64, f64, f64); 5] = [
    (200.0, 150.0, 120.0, 40.0),
    (640.0, 150.0, 120.0, 40.0),
    (200.0, 450.0, 120.0, 40.0),
    (640.0, 450.0, 120.0, 40.0),
    (440.0, 280.0, 80.0, 80.0),
];

/// Request of `new_match`.
#[derive(Debug, Deserialize)]
pub struct NewMatch {
    /// Seed of the match's random generator.
    pub seed: u64,
    /// Match length, ms (10 s to 1 h; default 3 minutes).
    #[serde(default)]
    pub duration_ms: Option<u64>,
}

/// A match.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// The seed it started from.
    pub seed: u64,
    /// The generator's state.
    pub rng: u64,
    /// Simulated time, ms.
    pub time_ms: u64,
    /// When the match ends, ms of simulated time.
    pub duration_ms: u64,
    /// Whether it has ended.
    pub ended: bool,
    /// Players by id.
    pub players: BTreeMap<String, Player>,
    /// Coins on the map.
    pub coins: Vec<Coin>,
    /// Id of the next coin.
    pub next_coin: u32,
    /// Short number of the next player.
    pub next_player: u32,
    /// Time since the last coin appeared, ms.
    pub coin_timer_ms: u64,
}

/// A player.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Player {
    /// Short number, used in updates instead of the id.
    pub n: u32,
    /// Display name.
    pub name: String,
    /// Position.
    pub x: f64,
    /// Position.
    pub y: f64,
    /// Score.
    pub score: i64,
    /// Dash movement time left, ms.
    pub dash_left: f64,
    /// Simulated time from which the next dash may start.
    pub dash_ready: u64,
    /// Simulated time until which the player cannot move.
    pub stunned_until: u64,
}

/// A coin.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Coin {
    /// Id.
    pub id: u32,
    /// Position.
    pub x: f64,
    /// Position.
    pub y: f64,
}

/// A player entering the match.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Join {
    /// Player id.
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
}

/// One input of one player.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Input {
    /// Player id.
    pub player: String,
    /// Direction; a longer vector is cut to length 1.
    #[serde(default)]
    pub dir: [f64; 2],
    /// Time the input covers, ms (0 to [`MAX_INPUT_MS`]).
    #[serde(default)]
    pub dt: f64,
    /// Start a dash.
    #[serde(default)]
    pub dash: bool,
}

/// Something that happened in a step.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// A player entered.
    Joined { player: String },
    /// A player was removed.
    Left { player: String },
    /// A player picked up a coin.
    Coin { player: String, coin: u32 },
    /// A dashing player tagged another.
    Tag { by: String, victim: String },
    /// A player started a dash.
    Dash { player: String },
    /// The match ended.
    Ended { scores: BTreeMap<String, i64>, duration_ms: u64 },
}

/// What clients see of a match: whole-unit positions, scores, flags (1: stunned, 2: dashing).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct View {
    /// Simulated time, ms.
    pub time_ms: u64,
    /// Time left, ms.
    pub left_ms: u64,
    /// Players in id order.
    pub players: Vec<ViewPlayer>,
    /// Coins: [id, x, y].
    pub coins: Vec<[i64; 3]>,
}

/// One player in a [`View`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ViewPlayer {
    /// Short number.
    pub n: u32,
    /// Player id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Position, rounded.
    pub x: i64,
    /// Position, rounded.
    pub y: i64,
    /// Score.
    pub score: i64,
    /// 1: stunned, 2: dashing.
    pub flags: u8,
}

/// The match as clients see it.
pub fn view(state: &State) -> View {
    let now = state.time_ms;
    View {
        time_ms: now,
        left_ms: state.duration_ms.saturating_sub(now),
        players: state
            .players
            .iter()
            .map(|(id, p)| ViewPlayer {
                n: p.n,
                id: id.clone(),
                name: p.name.clone(),
                x: p.x.round() as i64,
                y: p.y.round() as i64,
                score: p.score,
                flags: u8::from(p.stunned_until > now) | (u8::from(p.dash_left > 0.0) << 1),
            })
            .collect(),
        coins: state.coins.iter().map(|c| [i64::from(c.id), c.x.round() as i64, c.y.round() as i64]).collect(),
    }
}

/// The rules' numbers.
pub fn rules() -> serde_json::Value {
    serde_json::json!({
        "width": WIDTH, "height": HEIGHT, "radius": RADIUS, "speed": SPEED,
        "dash_factor": DASH_FACTOR, "dash_ms": DASH_MS, "dash_cooldown_ms": DASH_COOLDOWN_MS,
        "max_input_ms": MAX_INPUT_MS, "stun_ms": STUN_MS, "coin_reach": COIN_REACH,
        "walls": WALLS.iter().map(|w| [w.0, w.1, w.2, w.3]).collect::<Vec<_>>(),
    })
}

/// A new match with its first coins.
pub fn new_match(req: &NewMatch) -> State {
    let duration_ms = req.duration_ms.unwrap_or(180_000).clamp(10_000, 3_600_000);
    let mut state = State { seed: req.seed, rng: req.seed ^ 0x9E37_79B9_7F4A_7C15, duration_ms, ..State::default() };
    for _ in 0..3 {
        spawn_coin(&mut state);
    }
    state
}

/// Advances `state` by `dt_ms`: joins, leaves, then the inputs in order, then the clock.
pub fn step(state: &mut State, dt_ms: u32, joins: &[Join], leaves: &[String], inputs: &[Input]) -> Vec<Outcome> {
    let mut out = Vec::new();
    if state.ended {
        return out;
    }
    for join in joins {
        if state.players.contains_key(&join.id) {
            continue;
        }
        let (x, y) = free_spot(state);
        let n = state.next_player;
        state.next_player += 1;
        let name = join.name.chars().take(32).collect();
        state.players.insert(join.id.clone(), Player { n, name, x, y, ..Player::default() });
        out.push(Outcome::Joined { player: join.id.clone() });
    }
    for id in leaves {
        if state.players.remove(id).is_some() {
            out.push(Outcome::Left { player: id.clone() });
        }
    }
    for input in inputs {
        apply(state, input, &mut out);
    }
    state.time_ms += u64::from(dt_ms.min(1000));
    state.coin_timer_ms += u64::from(dt_ms.min(1000));
    while state.coin_timer_ms >= COIN_EVERY_MS {
        state.coin_timer_ms -= COIN_EVERY_MS;
        if state.coins.len() < MAX_COINS {
            spawn_coin(state);
        }
    }
    if state.time_ms >= state.duration_ms {
        state.ended = true;
        let scores = state.players.iter().map(|(id, p)| (id.clone(), p.score)).collect();
        out.push(Outcome::Ended { scores, duration_ms: state.time_ms });
    }
    out
}

fn apply(state: &mut State, input: &Input, out: &mut Vec<Outcome>) {
    let now = state.time_ms;
    let Some(player) = state.players.get_mut(&input.player) else { return };
    if player.stunned_until > now {
        return;
    }
    let (mut dx, mut dy) = (finite(input.dir[0]), finite(input.dir[1]));
    let len = (dx * dx + dy * dy).sqrt();
    if len > 1.0 {
        dx /= len;
        dy /= len;
    }
    if input.dash && now >= player.dash_ready {
        player.dash_left = DASH_MS;
        player.dash_ready = now + DASH_COOLDOWN_MS;
        out.push(Outcome::Dash { player: input.player.clone() });
    }
    let dt = finite(input.dt).clamp(0.0, MAX_INPUT_MS);
    let dashing_for = dt.min(player.dash_left);
    player.dash_left -= dashing_for;
    let distance = SPEED / 1000.0 * (dt + dashing_for * (DASH_FACTOR - 1.0));
    let (x, y) = travel(player.x, player.y, dx * distance, dy * distance);
    player.x = x;
    player.y = y;
    let dashing = dashing_for > 0.0;
    // Coins in reach.
    let (px, py) = (x, y);
    let reach = RADIUS + COIN_REACH;
    let mut picked = Vec::new();
    state.coins.retain(|c| {
        let near = (c.x - px).powi(2) + (c.y - py).powi(2) <= reach * reach;
        if near {
            picked.push(c.id);
        }
        !near
    });
    for coin in picked {
        if let Some(p) = state.players.get_mut(&input.player) {
            p.score += 1;
        }
        out.push(Outcome::Coin { player: input.player.clone(), coin });
    }
    if dashing {
        let victim = state
            .players
            .iter()
            .find(|(id, p)| {
                **id != input.player
                    && p.stunned_until <= now
                    && (p.x - px).powi(2) + (p.y - py).powi(2) < (2.0 * RADIUS).powi(2)
            })
            .map(|(id, _)| id.clone());
        if let Some(victim) = victim {
            if let Some(v) = state.players.get_mut(&victim) {
                v.score = (v.score - 1).max(0);
                v.stunned_until = now + STUN_MS;
            }
            if let Some(p) = state.players.get_mut(&input.player) {
                p.score += 2;
                p.dash_left = 0.0;
            }
            out.push(Outcome::Tag { by: input.player.clone(), victim });
        }
    }
}

fn finite(v: f64) -> f64 {
    if v.is_finite() {
        v
    } else {
        0.0
    }
}

/// Moves a player by (dx, dy) in steps short enough not to pass through a wall.
pub fn travel(mut x: f64, mut y: f64, dx: f64, dy: f64) -> (f64, f64) {
    let steps = ((dx.abs().max(dy.abs())) / 6.0).ceil().max(1.0) as u32;
    for _ in 0..steps.min(64) {
        x += dx / f64::from(steps);
        y += dy / f64::from(steps);
        (x, y) = collide(x, y);
    }
    (x, y)
}

/// Pushes a circle at (x, y) out of the walls and into the arena.
pub fn collide(mut x: f64, mut y: f64) -> (f64, f64) {
    for &(wx, wy, ww, wh) in &WALLS {
        let cx = x.clamp(wx, wx + ww);
        let cy = y.clamp(wy, wy + wh);
        let (ox, oy) = (x - cx, y - cy);
        let d2 = ox * ox + oy * oy;
        if d2 >= RADIUS * RADIUS {
            continue;
        }
        if d2 > 0.0 {
            let d = d2.sqrt();
            x = cx + ox / d * RADIUS;
            y = cy + oy / d * RADIUS;
        } else {
            // The centre is inside the wall: leave by the nearest side.
            let left = x - wx;
            let right = wx + ww - x;
            let top = y - wy;
            let bottom = wy + wh - y;
            let least = left.min(right).min(top).min(bottom);
            if least == left {
                x = wx - RADIUS;
            } else if least == right {
                x = wx + ww + RADIUS;
            } else if least == top {
                y = wy - RADIUS;
            } else {
                y = wy + wh + RADIUS;
            }
        }
    }
    (x.clamp(RADIUS, WIDTH - RADIUS), y.clamp(RADIUS, HEIGHT - RADIUS))
}

fn next(state: &mut State) -> u64 {
    // splitmix64
    state.rng = state.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = state.rng;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn unit(state: &mut State) -> f64 {
    (next(state) >> 11) as f64 / (1u64 << 53) as f64
}

fn in_wall(x: f64, y: f64, margin: f64) -> bool {
    WALLS
        .iter()
        .any(|&(wx, wy, ww, wh)| x > wx - margin && x < wx + ww + margin && y > wy - margin && y < wy + wh + margin)
}

fn free_spot(state: &mut State) -> (f64, f64) {
    let margin = RADIUS * 2.0;
    let mut spot = (WIDTH / 2.0, RADIUS * 2.0);
    for _ in 0..32 {
        let x = (margin + unit(state) * (WIDTH - 2.0 * margin)).round();
        let y = (margin + unit(state) * (HEIGHT - 2.0 * margin)).round();
        spot = (x, y);
        if !in_wall(x, y, RADIUS) {
            break;
        }
    }
    spot
}

fn spawn_coin(state: &mut State) {
    let (x, y) = free_spot(state);
    let id = state.next_coin;
    state.next_coin += 1;
    state.coins.push(Coin { id, x, y });
}
