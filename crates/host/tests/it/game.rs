//! The game's plugins with their shipped manifests: game-logic's determinism and input
//! handling, anticheat's rules on a controlled clock, tick-manager's matches over real rooms
//! (joins, capacity, spectators, reconnects, kicks, results, a trapping game-logic), and the
//! audit trail (verify, tampering, query, export, retention).

use std::sync::Arc;
use std::time::Duration;

use a2e_db::{AuditFilter, Page};
use a2e_host::rt::{Client, Frame};
use a2e_host::{InstallOptions, SystemClock};
use serde_json::{json, Value};
use tokio::sync::mpsc::Receiver;

use crate::{call_json, install_fixture, install_package, test_host, test_host_with, TestHost, T0};

fn ok(answer: Value) -> Value {
    assert_eq!(answer["success"], true, "{answer}");
    answer["data"].clone()
}

fn err(answer: Value) -> Value {
    assert_eq!(answer["success"], false, "{answer}");
    answer["error"].clone()
}

// ---------------------------------------------------------------- game-logic

/// A scripted match: four players, 600 steps of 50 ms with inputs from a fixed generator, one
/// player leaving half way. Returns every step request (the recording) and the final state.
fn play_scripted(t: &TestHost, seed: u64) -> (Vec<Value>, Value) {
    let mut state = ok(call_json(t, "game-logic", "new_match", json!({ "seed": seed, "duration_ms": 60_000 })));
    let mut lcg: u64 = 12345;
    let mut rand = move || {
        lcg = lcg.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (lcg >> 33) as f64 / (1u64 << 31) as f64
    };
    let players = ["p1", "p2", "p3", "p4"];
    let mut recording = Vec::new();
    for step in 0..600u32 {
        let joins = if step == 0 { players.iter().map(|p| json!({ "id": p, "name": p })).collect() } else { vec![] };
        let leaves = if step == 300 { vec![json!("p4")] } else { vec![] };
        let inputs: Vec<Value> = players
            .iter()
            .map(|p| {
                let dir = [rand() * 2.0 - 1.0, rand() * 2.0 - 1.0];
                json!({ "player": p, "dir": dir, "dt": 50, "dash": rand() < 0.05 })
            })
            .collect();
        let req = json!({ "state": state, "dt_ms": 50, "joins": joins, "leaves": leaves, "inputs": inputs });
        let out = ok(call_json(t, "game-logic", "step", req.clone()));
        recording.push(req);
        state = out["state"].clone();
    }
    (recording, state)
}

#[test]
fn game_logic_replays_a_recorded_match_to_the_same_final_state() {
    let t = test_host();
    install_package(&t, "game-logic");
    assert!(t.host.info("game-logic").unwrap().granted.is_empty(), "game-logic holds no grants");
    let (recording, first) = play_scripted(&t, 42);
    assert_eq!(first["time_ms"], 30_000);
    let scores: i64 = first["players"].as_object().unwrap().values().map(|p| p["score"].as_i64().unwrap()).sum();
    assert!(scores > 0, "someone picked up a coin in 30 s: {first}");
    assert!(first["players"].get("p4").is_none(), "p4 left");

    // Replay the recording on a fresh host, starting from the recorded first state.
    let fresh = test_host();
    install_package(&fresh, "game-logic");
    let mut state = recording[0]["state"].clone();
    for req in &recording {
        let mut req = req.clone();
        req["state"] = state;
        state = ok(call_json(&fresh, "game-logic", "step", req))["state"].clone();
    }
    assert_eq!(state, first, "the replay ends in the same state");

    // Another seed is another match.
    let (_, other) = play_scripted(&t, 43);
    assert_ne!(other, first);
}

#[test]
fn game_logic_cuts_bad_inputs_down_to_what_the_rules_allow() {
    let t = test_host();
    install_package(&t, "game-logic");
    let state = ok(call_json(&t, "game-logic", "new_match", json!({ "seed": 7 })));
    let joined =
        ok(call_json(&t, "game-logic", "step", json!({ "state": state, "dt_ms": 0, "joins": [{ "id": "a" }] })))
            ["state"]
            .clone();
    let (x0, y0) = (joined["players"]["a"]["x"].as_f64().unwrap(), joined["players"]["a"]["y"].as_f64().unwrap());
    let step = |inputs: Value| {
        ok(call_json(&t, "game-logic", "step", json!({ "state": joined, "dt_ms": 50, "inputs": inputs })))["state"]
            ["players"]["a"]
            .clone()
    };
    // A huge direction moves no faster than speed x time (the 250 ms cap): 180 * 0.25 = 45.
    let p = step(json!([{ "player": "a", "dir": [1e300, 0], "dt": 1e9 }]));
    let moved = ((p["x"].as_f64().unwrap() - x0).powi(2) + (p["y"].as_f64().unwrap() - y0).powi(2)).sqrt();
    assert!(moved <= 45.0 + 1e-9, "moved {moved}");
    // Negative time moves nothing; an unknown player is ignored.
    let p =
        step(json!([{ "player": "a", "dir": [1, 0], "dt": -500 }, { "player": "nobody", "dir": [1, 0], "dt": 50 }]));
    assert_eq!((p["x"].as_f64().unwrap(), p["y"].as_f64().unwrap()), (x0, y0));
    // Wrong types are an error value, and the caller's state is untouched.
    let e = err(call_json(
        &t,
        "game-logic",
        "step",
        json!({ "state": joined, "dt_ms": 50, "inputs": [{ "player": "a", "dir": "up" }] }),
    ));
    assert_eq!(e["code"], "INVALID_INPUT");
    let e = err(call_json(&t, "game-logic", "step", json!({ "state": 5, "dt_ms": 50 })));
    assert_eq!(e["code"], "INVALID_INPUT");
    // Walls hold: running right for a long time stops at the arena's edge.
    let mut s = joined.clone();
    for _ in 0..200 {
        s = ok(call_json(
            &t,
            "game-logic",
            "step",
            json!({ "state": s, "dt_ms": 50, "inputs": [{ "player": "a", "dir": [1, 0], "dt": 50 }] }),
        ))["state"]
            .clone();
    }
    assert_eq!(s["players"]["a"]["x"], 960.0 - 14.0);
}

#[test]
fn game_logic_dashes_tags_and_ends_the_match_with_the_scores() {
    let t = test_host();
    install_package(&t, "game-logic");
    let step = |state: &Value, dt: u64, inputs: Value| -> Value {
        ok(call_json(&t, "game-logic", "step", json!({ "state": state, "dt_ms": dt, "inputs": inputs })))
    };
    let state = ok(call_json(&t, "game-logic", "new_match", json!({ "seed": 11, "duration_ms": 10_000 })));
    let mut s = ok(call_json(
        &t,
        "game-logic",
        "step",
        json!({ "state": state, "dt_ms": 0, "joins": [{ "id": "a", "name": "A" }, { "id": "b", "name": "B" }] }),
    ))["state"]
        .clone();
    let pos = |s: &Value, id: &str| (s["players"][id]["x"].as_f64().unwrap(), s["players"][id]["y"].as_f64().unwrap());
    // A dash covers three times the ground for its 200 ms, then the cooldown holds.
    let (x0, y0) = pos(&s, "a");
    let dir = if x0 < 480.0 { 1.0 } else { -1.0 };
    let out = step(&s, 50, json!([{ "player": "a", "dir": [dir, 0], "dt": 100, "dash": true }]));
    assert!(out["outcomes"].as_array().unwrap().iter().any(|o| o["kind"] == "dash"), "{out}");
    let (x1, _) = pos(&out["state"], "a");
    if (y0 - 150.0).abs() > 60.0 && (y0 - 450.0).abs() > 60.0 && (y0 - 320.0).abs() > 60.0 {
        assert!(((x1 - x0).abs() - 54.0).abs() < 1e-6, "100 ms of dash at 540 u/s: {x0} -> {x1}");
    }
    let again = step(&out["state"], 50, json!([{ "player": "a", "dir": [dir, 0], "dt": 50, "dash": true }]));
    assert!(!again["outcomes"].as_array().unwrap().iter().any(|o| o["kind"] == "dash"), "the cooldown holds");

    // a runs at b and dashes into it: +2 for a, b stunned (b had nothing to lose).
    let mut tagged = None;
    for _ in 0..400 {
        let ((ax, ay), (bx, by)) = (pos(&s, "a"), pos(&s, "b"));
        let (dx, dy) = (bx - ax, by - ay);
        let len = (dx * dx + dy * dy).sqrt().max(1e-9);
        let dash = len < 60.0;
        let out = step(&s, 50, json!([{ "player": "a", "dir": [dx / len, dy / len], "dt": 50, "dash": dash }]));
        s = out["state"].clone();
        if let Some(tag) = out["outcomes"].as_array().unwrap().iter().find(|o| o["kind"] == "tag") {
            tagged = Some(tag.clone());
            break;
        }
    }
    let tag = tagged.expect("a reaches b and tags it");
    assert_eq!((tag["by"].clone(), tag["victim"].clone()), (json!("a"), json!("b")));
    assert!(s["players"]["a"]["score"].as_i64().unwrap() >= 2);
    // A stunned player does not move.
    let before = pos(&s, "b");
    let out = step(&s, 50, json!([{ "player": "b", "dir": [1, 0], "dt": 50 }]));
    assert_eq!(pos(&out["state"], "b"), before);
    // Time runs out: the last step reports the scores, and later steps change nothing.
    let mut end = s.clone();
    let mut ended = None;
    for _ in 0..400 {
        let out = step(&end, 50, json!([]));
        end = out["state"].clone();
        if let Some(e) = out["outcomes"].as_array().unwrap().iter().find(|o| o["kind"] == "ended") {
            ended = Some(e.clone());
            break;
        }
    }
    let ended = ended.expect("the match ends after its duration");
    assert_eq!(ended["scores"]["a"], end["players"]["a"]["score"]);
    assert_eq!(end["ended"], true);
    assert_eq!(step(&end, 50, json!([{ "player": "a", "dir": [1, 0], "dt": 50 }]))["state"], end);
}

// ---------------------------------------------------------------- anticheat

struct Ac<'a> {
    t: &'a TestHost,
    state: Value,
    seq: u64,
}

impl<'a> Ac<'a> {
    fn new(t: &'a TestHost, players: &[&str], now: i64) -> Self {
        let joins: Vec<Value> = players.iter().map(|p| json!({ "id": p, "name": p })).collect();
        let out = ok(call_json(
            t,
            "anticheat",
            "check",
            json!({ "match": "m-1", "now_ms": now, "joins": joins, "nonces": [1] }),
        ));
        Ac { t, state: out["state"].clone(), seq: 0 }
    }

    fn check(&mut self, now: i64, inputs: Vec<(&str, Value)>) -> Value {
        let inputs: Vec<Value> = inputs.into_iter().map(|(p, i)| json!({ "player": p, "input": i })).collect();
        let out = ok(call_json(
            self.t,
            "anticheat",
            "check",
            json!({ "state": self.state, "match": "m-1", "now_ms": now, "inputs": inputs, "nonces": [1] }),
        ));
        self.state = out["state"].clone();
        out
    }

    fn input(&mut self, dir: [f64; 2], dt: f64) -> Value {
        self.seq += 1;
        json!({ "seq": self.seq, "dir": dir, "dt": dt, "echo": 1 })
    }
}

fn violations(out: &Value, player: &str) -> Vec<String> {
    out["violations"][player]
        .as_array()
        .map(|a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

#[test]
fn anticheat_accepts_an_honest_player_with_jitter_and_flags_each_kind_of_cheat() {
    let t = test_host();
    install_package(&t, "anticheat");
    // Honest: an input every 50 ms of its own clock, delivered in bursts up to 200 ms late.
    let mut ac = Ac::new(&t, &["honest"], T0);
    let mut now = T0;
    let mut pending = Vec::new();
    for i in 0..1200 {
        pending.push(ac.input([0.6, 0.8], 50.0));
        now += 50;
        // Deliver every 4th tick in a burst (200 ms of jitter), otherwise at once.
        if i % 4 == 3 || i % 7 != 0 {
            let batch: Vec<(&str, Value)> = pending.drain(..).map(|i| ("honest", i)).collect();
            let out = ac.check(now, batch);
            assert!(out["violations"].as_object().unwrap().is_empty(), "tick {i}: {out}");
        }
    }

    let kinds = [
        ("speed", json!({ "dir": [2.0, 0.0], "dt": 50 })),
        ("teleport", json!({ "dir": [1.0, 0.0], "dt": 5000 })),
        ("malformed", json!({ "dir": [1.0, 0.0], "dt": 50, "pos": [10, 10] })),
        ("malformed", json!({ "dir": "left", "dt": 50 })),
        ("malformed", json!({ "dir": [1.0, 0.0], "dt": -5 })),
        ("malformed", json!({ "dir": [1.0, 0.0], "dt": 50, "dash": "yes" })),
    ];
    for (kind, body) in kinds {
        let mut ac = Ac::new(&t, &["c"], T0);
        let mut input = ac.input([0.0, 0.0], 0.0);
        for (k, v) in body.as_object().unwrap() {
            input[k] = v.clone();
        }
        if body.get("pos").is_some() {
            input["pos"] = body["pos"].clone();
        }
        let out = ac.check(T0 + 50, vec![("c", input)]);
        assert_eq!(violations(&out, "c"), vec![kind.to_owned()], "{body}: {out}");
        assert!(out["accepted"].as_array().unwrap().is_empty(), "a violating input is ignored");
        let moves = matches!(kind, "speed" | "teleport");
        assert_eq!(out["setbacks"] == json!(["c"]), moves, "{kind}: movement violations set back");
    }

    // Replayed and out-of-order sequence numbers.
    let mut ac = Ac::new(&t, &["r"], T0);
    let a = ac.input([0.0, 0.0], 50.0);
    assert!(violations(&ac.check(T0 + 50, vec![("r", a.clone())]), "r").is_empty());
    assert_eq!(violations(&ac.check(T0 + 100, vec![("r", a)]), "r"), vec!["replay"]);

    // Timer: inputs claiming 50 ms each, sent every 25 ms (a clock running twice as fast).
    let mut ac = Ac::new(&t, &["fast"], T0);
    let mut flagged_at = None;
    for i in 1..200 {
        let input = ac.input([1.0, 0.0], 50.0);
        let out = ac.check(T0 + i * 25, vec![("fast", input)]);
        if violations(&out, "fast").contains(&"timer".to_owned()) {
            flagged_at = Some(i * 25);
            break;
        }
    }
    let at = flagged_at.expect("the fast clock is flagged");
    assert!(at <= 2_000, "flagged after {at} ms");

    // A connection that stalls for 2 s and then delivers its 40 inputs at once is not a flood.
    let mut ac = Ac::new(&t, &["stalled"], T0);
    let late: Vec<(&str, Value)> = (0..40).map(|_| ("stalled", ac.input([1.0, 0.0], 50.0))).collect();
    let out = ac.check(T0 + 2_050, late);
    assert!(out["violations"].as_object().unwrap().is_empty(), "{out}");
    assert_eq!(out["accepted"].as_array().unwrap().len(), 40);

    // Flood: 150 inputs in one tick.
    let mut ac = Ac::new(&t, &["flood"], T0);
    let burst: Vec<(&str, Value)> = (0..150).map(|_| ("flood", ac.input([0.0, 0.0], 0.0))).collect();
    let out = ac.check(T0 + 50, burst);
    assert!(violations(&out, "flood").iter().any(|v| v == "flood"), "{out}");

    // Heartbeat: inputs that never echo a nonce are flagged after the heartbeat window.
    let mut ac = Ac::new(&t, &["deaf"], T0);
    let mut flagged = false;
    for i in 1..=200 {
        ac.seq += 1;
        let input = json!({ "seq": ac.seq, "dir": [0, 0], "dt": 50 });
        flagged |= violations(&ac.check(T0 + i * 50, vec![("deaf", input)]), "deaf").contains(&"heartbeat".to_owned());
    }
    assert!(flagged, "a client that never echoes the nonce is flagged");
}

#[test]
fn anticheat_escalates_to_kick_and_ban_and_an_administrator_lifts_the_ban() {
    let t = test_host();
    install_package(&t, "anticheat");
    let mut ac = Ac::new(&t, &["cheater"], T0);
    let mut kicked = None;
    for i in 1..20 {
        let input = ac.input([1.0, 0.0], 5000.0);
        let out = ac.check(T0 + i * 50, vec![("cheater", input)]);
        if let Some(kick) = out["kicks"].as_array().unwrap().first() {
            kicked = Some((i, kick.clone()));
            break;
        }
    }
    let (i, kick) = kicked.expect("a repeat teleporter is kicked");
    assert_eq!(i, 2, "two teleports (5 each) reach the kick score of 8");
    assert_eq!(kick["ban"], false);
    assert!(kick["reason"].as_str().unwrap().contains("teleport"));
    // Sanctions are events.
    let events = t
        .host
        .db()
        .list_audit_events(
            &AuditFilter { kind: Some("anticheat.sanction".into()), ..Default::default() },
            Page { limit: 50, offset: 0 },
        )
        .unwrap();
    let sanctions: Vec<&str> = events.iter().map(|e| e.data["sanction"].as_str().unwrap()).collect();
    assert!(sanctions.contains(&"setback") && sanctions.contains(&"kick"), "{sanctions:?}");

    // Back in another match soon after: kicked again means banned.
    let mut ac = Ac::new(&t, &["cheater"], T0 + 2_000);
    let mut banned = false;
    for i in 1..10 {
        let input = ac.input([1.0, 0.0], 5000.0);
        let out = ac.check(T0 + 2_000 + i * 50, vec![("cheater", input)]);
        if out["kicks"].as_array().unwrap().iter().any(|k| k["ban"] == true) {
            banned = true;
            break;
        }
    }
    assert!(banned, "the score carried over and reached the ban score");
    // The ban is in force now (host clock T0), for ban_minutes.
    let admit = ok(call_json(&t, "anticheat", "admit", json!({ "player": "cheater" })));
    assert_eq!(admit["allowed"], false, "{admit}");
    let players = ok(call_json(&t, "anticheat", "players", json!({})));
    assert_eq!(players[0]["player"], "cheater");
    assert!(players[0]["banned_until"].as_i64().unwrap() > T0);
    // Lifting: allowed again, score cleared, an event.
    let lifted = ok(call_json(&t, "anticheat", "lift_ban", json!({ "player": "cheater" })));
    assert_eq!(lifted["lifted"], true);
    assert_eq!(ok(call_json(&t, "anticheat", "admit", json!({ "player": "cheater" })))["allowed"], true);
    let e = err(call_json(&t, "anticheat", "lift_ban", json!({ "player": "nobody" })));
    assert_eq!(e["code"], "NOT_FOUND");
    // The trust score decays: half-life 20 s.
    let mut ac = Ac::new(&t, &["once"], T0);
    let input = ac.input([3.0, 0.0], 50.0);
    ac.check(T0 + 50, vec![("once", input)]);
    let score = |ac: &Ac| ac.state["players"]["once"]["score"].as_f64().unwrap();
    assert!((score(&ac) - 3.0).abs() < 0.01);
    ac.check(T0 + 50 + 20_000, vec![]);
    assert!((score(&ac) - 1.5).abs() < 0.01, "{}", score(&ac));
}

// ---------------------------------------------------------------- tick-manager over real rooms

fn game_host() -> TestHost {
    let t = test_host_with(|c| c.clock = Arc::new(SystemClock));
    for p in ["game-logic", "anticheat", "tick-manager"] {
        install_package(&t, p);
    }
    t
}

struct Player {
    client: Arc<Client>,
    frames: Receiver<Frame>,
    seq: u64,
    nonce: Option<u64>,
}

impl Player {
    fn new(t: &TestHost, user: &str) -> Self {
        let (client, frames) = t.host.realtime().connect(Some(user.into()), Some(user.into()), 256);
        Player { client, frames, seq: 0, nonce: None }
    }

    async fn join(&mut self, t: &TestHost, room: &str, data: Value) -> Result<Value, a2e_host::rt::RtError> {
        t.host.realtime().join("tick-manager", room, &self.client, data, None).await?;
        Ok(self.next(|f| f["data"]["snap"].is_object()).await["data"]["snap"].clone())
    }

    fn send(&mut self, t: &TestHost, room: &str, input: Value) {
        t.host.realtime().message("tick-manager", room, &self.client, json!({ "input": input })).unwrap();
    }

    fn step(&mut self, t: &TestHost, room: &str, dir: [f64; 2]) {
        self.seq += 1;
        let input = json!({ "seq": self.seq, "dir": dir, "dt": 50, "echo": self.nonce.unwrap_or(0) });
        self.send(t, room, input);
    }

    /// The next frame that satisfies `want` within ten seconds (remembering nonces on the way).
    async fn next(&mut self, want: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let frame =
                tokio::time::timeout_at(deadline, self.frames.recv()).await.expect("a frame in time").expect("open");
            let value: Value = serde_json::from_str(&frame).unwrap();
            if let Some(n) = value["data"]["u"]["n"].as_u64().or(value["data"]["snap"]["nonce"].as_u64()) {
                self.nonce = Some(n);
            }
            if want(&value) {
                return value;
            }
        }
    }
}

fn create(t: &TestHost, input: Value) -> Value {
    ok(call_json(t, "tick-manager", "create_match", input))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_match_runs_two_players_who_see_each_other_move_and_ends_with_a_stored_result() {
    let t = game_host();
    let m = create(&t, json!({ "name": "Test arena", "capacity": 2, "duration_s": 10 }));
    let room = m["id"].as_str().unwrap().to_owned();
    assert_eq!((m["status"].clone(), m["capacity"].clone()), (json!("waiting"), json!(2)));
    let (mut a, mut b) = (Player::new(&t, "alice"), Player::new(&t, "bob"));
    let snap_a = a.join(&t, &room, json!({})).await.unwrap();
    assert_eq!(snap_a["match"], room.as_str());
    let snap_b = b.join(&t, &room, json!({})).await.unwrap();
    assert_eq!(snap_b["name"], "Test arena");
    // A third player is refused: the match is full. A spectator is welcome.
    let mut c = Player::new(&t, "carol");
    let refused = c.join(&t, &room, json!({})).await.unwrap_err();
    assert!(refused.to_string().contains("full"), "{refused}");
    let mut s = Player::new(&t, "sam");
    s.join(&t, &room, json!({ "spectate": true })).await.unwrap();
    let listed = ok(call_json(&t, "tick-manager", "list_matches", json!({})));
    let entry = listed.as_array().unwrap().iter().find(|l| l["id"] == room.as_str()).unwrap().clone();
    assert_eq!(
        (entry["players"].clone(), entry["spectators"].clone(), entry["status"].clone()),
        (json!(2), json!(1), json!("playing"))
    );

    // Alice moves right; Bob and the spectator see her player's position change.
    let a_n = a.next(|f| f["data"]["u"]["names"].is_array() || f["data"]["u"]["p"].is_array()).await;
    let _ = a_n;
    let first_x = |snap: &Value, who: &str| -> (u64, i64) {
        let p = snap["players"].as_array().unwrap().iter().find(|p| p["id"] == who).unwrap().clone();
        (p["n"].as_u64().unwrap(), p["x"].as_i64().unwrap())
    };
    let snap = ok(call_json(&t, "tick-manager", "list_matches", json!({})));
    let _ = snap;
    let mut moved = false;
    for _ in 0..20 {
        a.step(&t, &room, [1.0, 0.0]);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Bob asks for a snapshot and finds alice elsewhere than where she started.
    t.host.realtime().message("tick-manager", &room, &b.client, json!({ "snapshot": true })).unwrap();
    let later = b.next(|f| f["data"]["snap"].is_object()).await["data"]["snap"].clone();
    let (n, x_before) = first_x(&snap_b, "alice");
    let (n2, x_after) = first_x(&later, "alice");
    assert_eq!(n, n2);
    if x_after > x_before {
        moved = true;
    }
    assert!(moved, "alice moved right: {x_before} -> {x_after}");
    let seen = s.next(|f| f["data"]["u"]["p"].as_array().is_some_and(|p| p.iter().any(|r| r[0] == n))).await;
    assert!(seen["data"]["u"]["p"].is_array());
    // Acknowledged inputs, for reconciliation.
    let acked = a.next(|f| f["data"]["u"]["k"].as_array().is_some_and(|k| k.iter().any(|r| r[0] == n))).await;
    assert!(acked["data"]["u"]["k"][0][1].as_u64().unwrap() >= 1);

    // The match ends after 10 s of game time: everyone gets the scoreboard, the result is stored.
    let ended = b.next(|f| f["data"]["ended"].is_object()).await["data"]["ended"].clone();
    assert_eq!(ended["match"], room.as_str());
    assert_eq!(ended["scores"].as_array().unwrap().len(), 2);
    let results = ok(call_json(&t, "tick-manager", "results", json!({ "limit": 5 })));
    assert_eq!(results[0]["match"], room.as_str());
    let events = t
        .host
        .db()
        .list_audit_events(
            &AuditFilter { kind: Some("game.match_ended".into()), ..Default::default() },
            Page { limit: 5, offset: 0 },
        )
        .unwrap();
    assert_eq!(events.len(), 1);
    // An ended match refuses joins.
    let mut late = Player::new(&t, "dave");
    let refused = late.join(&t, &room, json!({})).await.unwrap_err();
    assert!(refused.to_string().contains("ended"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_player_who_reconnects_within_the_grace_period_gets_their_player_back() {
    let t = game_host();
    let room = create(&t, json!({ "capacity": 2 }))["id"].as_str().unwrap().to_owned();
    let mut a = Player::new(&t, "alice");
    let snap = a.join(&t, &room, json!({})).await.unwrap();
    let n = snap["players"].as_array().unwrap().iter().find(|p| p["id"] == "alice").map(|p| p["n"].clone());
    let n = match n {
        Some(n) => n,
        None => a.next(|f| f["data"]["u"]["names"].is_array()).await["data"]["u"]["names"][0][0].clone(),
    };
    for _ in 0..5 {
        a.step(&t, &room, [0.0, 1.0]);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    t.host.realtime().disconnect(&a.client);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // While alice is away, her place is kept: bob fills the second one, a third is refused.
    let mut b = Player::new(&t, "bob");
    b.join(&t, &room, json!({})).await.unwrap();
    let mut c = Player::new(&t, "carol");
    assert!(c.join(&t, &room, json!({})).await.unwrap_err().to_string().contains("full"));
    // Alice comes back on a new connection: the same player.
    let mut again = Player::new(&t, "alice");
    let snap = again.join(&t, &room, json!({})).await.unwrap();
    let mine =
        snap["players"].as_array().unwrap().iter().find(|p| p["id"] == "alice").cloned().expect("alice is still in");
    assert_eq!(mine["n"], n);
    assert!(mine["ack"].as_u64().unwrap() >= 5, "her acknowledged inputs survive: {mine}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cheating_client_is_set_back_then_kicked_and_the_match_goes_on() {
    let t = game_host();
    let room = create(&t, json!({ "capacity": 4 }))["id"].as_str().unwrap().to_owned();
    let (mut honest, mut cheat) = (Player::new(&t, "honest"), Player::new(&t, "cheat"));
    honest.join(&t, &room, json!({})).await.unwrap();
    cheat.join(&t, &room, json!({})).await.unwrap();
    cheat.seq += 1;
    let teleport = json!({ "seq": cheat.seq, "dir": [1, 0], "dt": 10_000, "echo": 0 });
    cheat.send(&t, &room, teleport);
    let setback = cheat.next(|f| f["data"]["notice"]["kind"] == "setback").await;
    assert!(setback["data"]["notice"]["message"].as_str().unwrap().contains("set you back"));
    cheat.seq += 1;
    let again = json!({ "seq": cheat.seq, "dir": [1, 0], "dt": 10_000, "echo": 0 });
    cheat.send(&t, &room, again);
    let kicked = cheat.next(|f| f["type"] == "left").await;
    assert!(kicked["reason"].as_str().unwrap().contains("cheating"), "{kicked}");
    // It may not come back to this match.
    let mut back = Player::new(&t, "cheat");
    let refused = back.join(&t, &room, json!({})).await.unwrap_err();
    assert!(refused.to_string().contains("removed"), "{refused}");
    // The honest player keeps playing.
    honest.step(&t, &room, [1.0, 0.0]);
    honest.next(|f| f["data"]["u"]["k"].is_array()).await;
    // Bad messages never reach the simulation and never stop the room.
    for bad in [json!("text"), json!({ "input": 5 }), json!({ "input": { "seq": "x" } }), json!({ "other": 1 })] {
        t.host.realtime().message("tick-manager", &room, &honest.client, bad).unwrap();
    }
    honest.step(&t, &room, [0.0, 1.0]);
    let seq = honest.seq;
    honest.next(|f| f["data"]["u"]["k"].as_array().is_some_and(|k| k.iter().any(|r| r[1] == seq))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_in_game_logic_leaves_the_match_at_its_last_good_state() {
    let t = game_host();
    let room = create(&t, json!({ "capacity": 2 }))["id"].as_str().unwrap().to_owned();
    let mut a = Player::new(&t, "alice");
    a.join(&t, &room, json!({})).await.unwrap();
    for _ in 0..10 {
        a.step(&t, &room, [1.0, 0.0]);
    }
    let seq = a.seq;
    a.next(|f| f["data"]["u"]["k"].as_array().is_some_and(|k| k.iter().any(|r| r[1] == seq))).await;
    t.host.realtime().message("tick-manager", &room, &a.client, json!({ "snapshot": true })).unwrap();
    let before = a.next(|f| f["data"]["snap"].is_object()).await["data"]["snap"].clone();

    // game-logic is replaced by a module whose `step` traps.
    let trap = wat::parse_str(
        r#"(module (memory (export "memory") 1)
             (func (export "step") (result i32) unreachable)
             (func (export "new_match") (result i32) unreachable)
             (func (export "rules") (result i32) unreachable))"#,
    )
    .unwrap();
    let dir = t.dir.path().join("trap-src");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("trap.wasm"), &trap).unwrap();
    let manifest = json!({ "name": "game-logic", "version": "9.9.9", "abi_version": 1,
        "wasm": { "file": "trap.wasm", "sha256": a2e_host::manifest::sha256_hex(&trap) },
        "exports": ["step", "new_match", "rules"] });
    std::fs::write(dir.join("plugin.json"), manifest.to_string()).unwrap();
    t.host.install(&dir, &InstallOptions { grant_requested: true, replace: true }).unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let info = t.host.realtime().rooms_of("tick-manager");
    let r = info.iter().find(|r| r.room == room).expect("the room is still open");
    assert!(r.stats.failed >= 3, "ticks failed while game-logic trapped: {:?}", r.stats);

    // The real game-logic comes back: the match continues from where it was.
    install_package(&t, "game-logic");
    t.host.realtime().message("tick-manager", &room, &a.client, json!({ "snapshot": true })).unwrap();
    let after = a.next(|f| f["data"]["snap"].is_object()).await["data"]["snap"].clone();
    let pos = |s: &Value| s["players"][0].clone();
    assert_eq!(pos(&after)["x"], pos(&before)["x"], "nothing moved while the ticks failed");
    assert_eq!(after["players"][0]["ack"], before["players"][0]["ack"]);
    a.step(&t, &room, [0.0, 1.0]);
    let seq = a.seq;
    a.next(|f| f["data"]["u"]["k"].as_array().is_some_and(|k| k.iter().any(|r| r[1] == seq))).await;
}

#[test]
fn lobby_requests_out_of_bounds_get_clear_errors() {
    let t = game_host();
    for (input, words) in [
        (json!({ "capacity": 1 }), "capacity"),
        (json!({ "capacity": 99 }), "capacity"),
        (json!({ "duration_s": 5 }), "duration_s"),
        (json!({ "name": "x".repeat(41) }), "40 characters"),
        (json!({ "colour": "red" }), "unknown field"),
    ] {
        let e = err(call_json(&t, "tick-manager", "create_match", input.clone()));
        assert_eq!(e["code"], "INVALID_INPUT");
        assert!(e["message"].as_str().unwrap().contains(words), "{input}: {e}");
    }
    let e = err(call_json(&t, "tick-manager", "results", json!({ "limit": 0 })));
    assert_eq!(e["code"], "INVALID_INPUT");
    // Matchmaking opens a match when none has room, then puts the next player in it.
    let first = ok(call_json(&t, "tick-manager", "matchmake", json!({})));
    let second = ok(call_json(&t, "tick-manager", "matchmake", json!({})));
    assert_eq!(first["id"], second["id"]);
}

// ---------------------------------------------------------------- audit

fn audit_host() -> TestHost {
    let t = test_host();
    install_package(&t, "audit");
    install_fixture(&t, "fx", &["events"], json!({}));
    t
}

fn emit(t: &TestHost, kind: &str, user: &str) {
    let req = json!({ "function": "event_emit", "request": { "kind": kind, "user_uuid": user, "data": { "n": 1 } } });
    let out = call_json(t, "fx", "call_host", req);
    assert_eq!(out["success"], true, "{out}");
}

#[test]
fn the_audit_trail_records_every_event_and_verify_names_a_changed_or_deleted_record() {
    let t = audit_host();
    for i in 0..30 {
        emit(&t, if i % 3 == 0 { "auth.login" } else { "game.thing" }, &format!("u{}", i % 5));
        t.clock.advance(1000);
    }
    t.host
        .record_event(&a2e_db::NewAuditEvent {
            kind: "plugin.installed".into(),
            plugin: None,
            user_uuid: None,
            client_addr: None,
            data: json!({ "plugin": "x" }),
        })
        .unwrap();
    assert!(t.host.flush_events(Duration::from_secs(10)));
    let v = ok(call_json(&t, "audit", "verify", json!({})));
    assert_eq!(
        (v["ok"].clone(), v["done"].clone(), v["checked"].clone(), v["last"].clone()),
        (json!(true), json!(true), json!(31), json!(31)),
        "{v}"
    );

    // Query by kind prefix, user, plugin ("host" for the host's own) and time.
    let q = ok(call_json(&t, "audit", "query", json!({ "kind": "auth." })));
    assert_eq!(q["records"].as_array().unwrap().len(), 10);
    let q = ok(call_json(&t, "audit", "query", json!({ "user": "u0", "limit": 2 })));
    assert_eq!(q["records"].as_array().unwrap().len(), 2);
    assert!(q["records"][0]["seq"].as_u64() > q["records"][1]["seq"].as_u64(), "newest first");
    let next = q["next"].as_u64().unwrap();
    let q2 = ok(call_json(&t, "audit", "query", json!({ "user": "u0", "limit": 50, "before": next })));
    assert_eq!(q2["records"].as_array().unwrap().len(), 4, "6 records of u0 in all");
    let q = ok(call_json(&t, "audit", "query", json!({ "plugin": "host" })));
    assert_eq!(q["records"][0]["kind"], "plugin.installed");
    let q = ok(call_json(&t, "audit", "query", json!({ "since": crate::T0 + 10_000, "until": crate::T0 + 20_000 })));
    assert_eq!(q["records"].as_array().unwrap().len(), 10);
    assert_eq!(err(call_json(&t, "audit", "query", json!({ "limit": 0 })))["code"], "INVALID_INPUT");
    assert_eq!(err(call_json(&t, "audit", "query", json!({ "colour": 1 })))["code"], "INVALID_INPUT");

    // Export: JSON lines in order, in parts.
    let part = ok(call_json(&t, "audit", "export", json!({ "limit": 20 })));
    assert_eq!(part["count"], 20);
    let rest = ok(call_json(&t, "audit", "export", json!({ "after": part["next"] })));
    assert_eq!(rest["count"], 11);
    assert_eq!(rest["next"], Value::Null);
    let lines: Vec<Value> = format!("{}{}", part["lines"].as_str().unwrap(), rest["lines"].as_str().unwrap())
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.iter().map(|l| l["seq"].as_u64().unwrap()).collect::<Vec<_>>(), (1..=31).collect::<Vec<_>>());

    // Verify in parts gives the same answer.
    let p1 = ok(call_json(&t, "audit", "verify", json!({ "max": 10 })));
    assert_eq!((p1["done"].clone(), p1["checked"].clone()), (json!(false), json!(10)));
    let p2 = ok(call_json(
        &t,
        "audit",
        "verify",
        json!({ "from": p1["next"]["from"], "prev": p1["next"]["prev"], "max": 100 }),
    ));
    assert_eq!((p2["ok"].clone(), p2["done"].clone(), p2["checked"].clone()), (json!(true), json!(true), json!(21)));

    // Tampering with record 12's data: verify names record 12.
    let db = t.host.db();
    let key = "r:000000000012";
    let original = db.kv_get("audit", key).unwrap().unwrap().value;
    let mut record: Value = serde_json::from_slice(&original).unwrap();
    record["data"]["n"] = json!(2);
    db.kv_set("audit", key, record.to_string().as_bytes(), crate::T0).unwrap();
    let v = ok(call_json(&t, "audit", "verify", json!({})));
    assert_eq!((v["ok"].clone(), v["broken"]["seq"].clone()), (json!(false), json!(12)), "{v}");
    assert!(v["broken"]["reason"].as_str().unwrap().contains("changed"));
    // Recomputing its hash does not help: the next record's link breaks.
    db.kv_set("audit", key, &original, crate::T0).unwrap();
    assert_eq!(ok(call_json(&t, "audit", "verify", json!({})))["ok"], true);
    // Deleting record 20: verify names it.
    db.kv_delete("audit", "r:000000000020").unwrap();
    let v = ok(call_json(&t, "audit", "verify", json!({})));
    assert_eq!((v["ok"].clone(), v["broken"]["seq"].clone()), (json!(false), json!(20)), "{v}");
    assert!(v["broken"]["reason"].as_str().unwrap().contains("missing"));
}

#[test]
fn retention_prunes_old_records_and_the_chain_still_verifies() {
    let t = audit_host();
    for _ in 0..12 {
        emit(&t, "game.old", "u");
    }
    assert!(t.host.flush_events(Duration::from_secs(10)));
    t.clock.advance(10 * 86_400_000);
    for _ in 0..5 {
        emit(&t, "game.new", "u");
    }
    assert!(t.host.flush_events(Duration::from_secs(10)));
    let pruned = ok(call_json(&t, "audit", "prune", json!({ "older_than_days": 5 })));
    assert_eq!((pruned["pruned"].clone(), pruned["first"].clone()), (json!(12), json!(13)));
    let v = ok(call_json(&t, "audit", "verify", json!({})));
    assert_eq!((v["ok"].clone(), v["checked"].clone(), v["first"].clone()), (json!(true), json!(5), json!(13)), "{v}");
    // New records keep chaining after a prune.
    emit(&t, "game.newer", "u");
    assert!(t.host.flush_events(Duration::from_secs(10)));
    assert_eq!(ok(call_json(&t, "audit", "verify", json!({})))["checked"], 6);
    assert_eq!(err(call_json(&t, "audit", "prune", json!({ "older_than_days": 0 })))["code"], "INVALID_INPUT");
}
