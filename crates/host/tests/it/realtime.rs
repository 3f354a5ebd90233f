//! Realtime capabilities end to end with the `rooms` test guest: rooms with and without ticks,
//! joins refused and full, the input queue, faults in room calls (trap, error, timeout, slow
//! ticks), hot replace and grant revocation under running rooms, slow clients, events between
//! plugins, calls between plugins and schedules.

use std::sync::Arc;
use std::time::{Duration, Instant};

use a2e_host::rt::{Client, Frame};
use a2e_host::{Host, InstallOptions, SystemClock};
use serde_json::{json, Value};
use tokio::sync::mpsc::Receiver;

use crate::{install_fixture, plugin_dir, test_host, test_host_with, TestHost};

/// Every export of the rooms guest.
const ROOMS_EXPORTS: &[&str] = &[
    "room_tick",
    "room_join",
    "room_leave",
    "room_message",
    "open",
    "close",
    "list",
    "send",
    "kick",
    "call_other",
    "version",
    "on_event",
    "on_event_fail",
    "scheduled",
    "scheduled_slow",
];

fn install_rooms(t: &TestHost, name: &str, grants: &[&str], extra: Value) {
    let mut fields = json!({ "exports": ROOMS_EXPORTS, "grants": grants });
    for (k, v) in extra.as_object().unwrap() {
        fields[k] = v.clone();
    }
    let dir = plugin_dir(t.dir.path(), name, "rooms", fields);
    t.host.install(&dir, &InstallOptions { grant_requested: true, replace: true }).unwrap();
}

fn call(host: &Host, plugin: &str, function: &str, input: Value) -> Value {
    let out = host.call(plugin, function, input.to_string().as_bytes(), &Default::default()).unwrap();
    serde_json::from_slice(&out).unwrap()
}

fn open(host: &Host, plugin: &str, room: Value) -> Value {
    let answer = call(host, plugin, "open", room);
    assert_eq!(answer["success"], true, "{answer}");
    answer["data"].clone()
}

/// A connected client and the frames it receives.
struct Conn {
    client: Arc<Client>,
    frames: Receiver<Frame>,
}

fn connect(host: &Host, user: Option<&str>, queue: usize) -> Conn {
    let (client, frames) = host.realtime().connect(user.map(str::to_owned), Some("tester".into()), queue);
    Conn { client, frames }
}

impl Conn {
    /// The next broadcast that acknowledges this client's message `seq`.
    async fn acked(&mut self, seq: u64) -> Value {
        let id = self.client.id.to_string();
        self.frame(|f| f["data"]["acks"][id.as_str()] == seq).await
    }

    /// The next frame that satisfies `want`, failing after ten seconds.
    async fn frame(&mut self, want: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let frame = tokio::time::timeout_at(deadline, self.frames.recv())
                .await
                .expect("the expected frame arrives within ten seconds")
                .expect("the client's queue is open");
            let value: Value = serde_json::from_str(&frame).unwrap();
            if want(&value) {
                return value;
            }
        }
    }
}

async fn join(host: &Host, conn: &Conn, plugin: &str, room: &str, data: Value) -> Result<(), a2e_host::rt::RtError> {
    host.realtime().join(plugin, room, &conn.client, data, Some(json!(7))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_without_ticks_runs_each_message_and_sends_to_every_member() {
    let t = test_host();
    install_rooms(&t, "rooms", &["rooms"], json!({}));
    let info = open(&t.host, "rooms", json!({ "room": "lobby" }));
    assert_eq!((info["room"].clone(), info["tick_hz"].clone()), (json!("lobby"), json!(0)));
    let (mut a, mut b) = (connect(&t.host, Some("u-a"), 64), connect(&t.host, Some("u-b"), 64));
    join(&t.host, &a, "rooms", "lobby", json!({})).await.unwrap();
    let joined = a.frame(|f| f["type"] == "joined").await;
    assert_eq!((joined["room"].clone(), joined["ref"].clone()), (json!("lobby"), json!(7)));
    let welcome = a.frame(|f| f["type"] == "message").await;
    assert_eq!(welcome["data"]["welcome"], a.client.id.as_ref());
    join(&t.host, &b, "rooms", "lobby", json!({})).await.unwrap();
    t.host.realtime().message("rooms", "lobby", &a.client, json!({ "text": "hi" })).unwrap();
    let sender = a.client.id.to_string();
    for conn in [&mut a, &mut b] {
        let echo = conn.frame(|f| f["data"]["echo"].is_object()).await;
        assert_eq!(echo["data"]["echo"]["text"], "hi");
        assert_eq!(echo["data"]["from"], sender.as_str());
    }
    let rooms = call(&t.host, "rooms", "list", json!({}));
    assert_eq!(rooms["data"][0]["clients"], 2);
    assert_eq!(rooms["data"][0]["stats"]["messages_in"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_are_refused_with_the_reason_the_client_sees() {
    let t = test_host();
    install_rooms(&t, "rooms", &["rooms"], json!({}));
    open(&t.host, "rooms", json!({ "room": "r", "max_clients": 1 }));
    let (a, b) = (connect(&t.host, Some("u-a"), 64), connect(&t.host, Some("u-b"), 64));
    let refused = join(&t.host, &a, "rooms", "r", json!({ "refuse": "invite only" })).await.unwrap_err();
    assert_eq!((refused.code, refused.message.as_str()), ("REFUSED", "invite only"));
    let unknown = join(&t.host, &a, "rooms", "nope", json!({})).await.unwrap_err();
    assert_eq!(unknown.code, "NOT_FOUND");
    assert!(unknown.message.contains("nope"), "{unknown}");
    let not_joined = t.host.realtime().message("rooms", "r", &a.client, json!({})).unwrap_err();
    assert_eq!(not_joined.code, "NOT_JOINED");
    join(&t.host, &a, "rooms", "r", json!({})).await.unwrap();
    let again = join(&t.host, &a, "rooms", "r", json!({})).await.unwrap_err();
    assert_eq!(again.code, "CONFLICT");
    let full = join(&t.host, &b, "rooms", "r", json!({})).await.unwrap_err();
    assert_eq!(full.code, "ROOM_FULL");
    // A join that traps is refused, and the room keeps working.
    let c = connect(&t.host, Some("u-c"), 64);
    t.host.realtime().leave("rooms", "r", &a.client).unwrap();
    let trapped = join(&t.host, &c, "rooms", "r", json!({ "trap": true })).await.unwrap_err();
    assert_eq!(trapped.code, "UNAVAILABLE");
    join(&t.host, &b, "rooms", "r", json!({})).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_clients_join_only_rooms_of_plugins_that_allow_them() {
    let t = test_host();
    install_rooms(&t, "closed", &["rooms"], json!({}));
    install_rooms(&t, "open-door", &["rooms"], json!({ "rooms": { "anonymous": true } }));
    open(&t.host, "closed", json!({ "room": "r" }));
    open(&t.host, "open-door", json!({ "room": "r" }));
    let anon = connect(&t.host, None, 64);
    let err = join(&t.host, &anon, "closed", "r", json!({})).await.unwrap_err();
    assert_eq!(err.code, "UNAUTHENTICATED");
    join(&t.host, &anon, "open-door", "r", json!({})).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticking_room_batches_inputs_per_tick_with_joins_and_acknowledgements() {
    let t = test_host();
    install_rooms(&t, "rooms", &["rooms"], json!({}));
    open(&t.host, "rooms", json!({ "room": "game", "tick_hz": 50 }));
    let mut a = connect(&t.host, Some("u-a"), 256);
    join(&t.host, &a, "rooms", "game", json!({})).await.unwrap();
    let first = a.frame(|f| f["data"]["joins"] == 1).await;
    let first_tick = first["data"]["tick"].as_u64().unwrap();
    for seq in 1..=3 {
        t.host.realtime().message("rooms", "game", &a.client, json!({ "seq": seq, "move": [1, 0] })).unwrap();
    }
    let mut seen = 0;
    let mut last_ack = 0;
    while seen < 3 {
        let update = a.frame(|f| f["data"]["inputs"].as_u64().unwrap_or(0) > 0).await;
        assert!(update["data"]["tick"].as_u64().unwrap() > first_tick);
        seen += update["data"]["inputs"].as_u64().unwrap();
        last_ack = update["data"]["acks"][a.client.id.as_ref()].as_u64().unwrap();
    }
    assert_eq!((seen, last_ack), (3, 3));
    let info = &call(&t.host, "rooms", "list", json!({}))["data"][0];
    assert!(info["stats"]["ticks"].as_u64().unwrap() >= 2, "{info}");
    assert_eq!(info["stats"]["failed"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_input_queue_drops_the_oldest_and_the_tick_is_told_how_many() {
    let t = test_host();
    install_rooms(&t, "rooms", &["rooms"], json!({}));
    open(&t.host, "rooms", json!({ "room": "slow", "tick_hz": 1, "input_queue": 4 }));
    let mut a = connect(&t.host, Some("u-a"), 256);
    join(&t.host, &a, "rooms", "slow", json!({})).await.unwrap();
    a.frame(|f| f["data"]["joins"] == 1).await;
    for seq in 1..=10 {
        t.host.realtime().message("rooms", "slow", &a.client, json!({ "seq": seq })).unwrap();
    }
    let update = a.frame(|f| f["data"]["inputs"].as_u64().unwrap_or(0) > 0).await;
    assert_eq!((update["data"]["inputs"].clone(), update["data"]["dropped"].clone()), (json!(4), json!(6)));
    // The newest were kept.
    assert_eq!(update["data"]["acks"][a.client.id.as_ref()], 10);
    let info = &call(&t.host, "rooms", "list", json!({}))["data"][0];
    assert_eq!(info["stats"]["dropped_inputs"], 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trapping_or_failing_tick_keeps_the_last_good_state_and_the_next_tick_runs() {
    let t = test_host();
    install_rooms(&t, "rooms", &["rooms"], json!({}));
    open(&t.host, "rooms", json!({ "room": "g", "tick_hz": 20 }));
    let mut a = connect(&t.host, Some("u-a"), 256);
    join(&t.host, &a, "rooms", "g", json!({})).await.unwrap();
    a.frame(|f| f["data"]["joins"] == 1).await;
    let rt = t.host.realtime();
    rt.message("rooms", "g", &a.client, json!({ "seq": 1 })).unwrap();
    a.acked(1).await;
    for bad in [json!({ "cmd": "trap" }), json!({ "cmd": "fail" })] {
        rt.message("rooms", "g", &a.client, bad).unwrap();
        // The failed tick broadcasts nothing; wait until the room has counted it.
        let deadline = Instant::now() + Duration::from_secs(10);
        let failed_before = rt.rooms_of("rooms")[0].stats.failed;
        while rt.rooms_of("rooms")[0].stats.failed == failed_before {
            assert!(Instant::now() < deadline, "the failure was never counted");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    rt.message("rooms", "g", &a.client, json!({ "seq": 2 })).unwrap();
    a.acked(2).await;
    let info = &rt.rooms_of("rooms")[0];
    assert_eq!(info.stats.failed, 2);
    assert_eq!(info.clients, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_closes_after_too_many_failures_in_a_row_and_tells_its_clients_why() {
    let t = test_host();
    install_rooms(&t, "rooms", &["rooms"], json!({}));
    open(&t.host, "rooms", json!({ "room": "fragile", "max_failures": 2 }));
    let mut a = connect(&t.host, Some("u-a"), 256);
    join(&t.host, &a, "rooms", "fragile", json!({})).await.unwrap();
    let rt = t.host.realtime();
    rt.message("rooms", "fragile", &a.client, json!({ "cmd": "trap" })).unwrap();
    rt.message("rooms", "fragile", &a.client, json!({ "cmd": "trap" })).unwrap();
    let closed = a.frame(|f| f["type"] == "closed").await;
    let reason = closed["reason"].as_str().unwrap();
    assert!(reason.contains("2 failed calls in a row") && reason.contains("room_message"), "{reason}");
    assert!(rt.rooms_of("rooms").is_empty());
    assert!(a.client.rooms().is_empty());
    let gone = rt.message("rooms", "fragile", &a.client, json!({})).unwrap_err();
    assert_eq!(gone.code, "NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tick_that_never_returns_times_out_and_the_room_carries_on() {
    let t = test_host();
    install_rooms(&t, "rooms", &["rooms"], json!({ "limits": { "timeout_ms": 300 } }));
    open(&t.host, "rooms", json!({ "room": "g", "tick_hz": 10 }));
    let mut a = connect(&t.host, Some("u-a"), 256);
    join(&t.host, &a, "rooms", "g", json!({})).await.unwrap();
    let rt = t.host.realtime();
    rt.message("rooms", "g", &a.client, json!({ "cmd": "spin" })).unwrap();
    rt.message("rooms", "g", &a.client, json!({ "seq": 5 })).unwrap();
    // Both messages went to the tick that timed out; a later one is acknowledged.
    tokio::time::sleep(Duration::from_millis(400)).await;
    rt.message("rooms", "g", &a.client, json!({ "seq": 6 })).unwrap();
    a.acked(6).await;
    let info = &rt.rooms_of("rooms")[0];
    assert!(info.stats.failed >= 1 && info.stats.skipped >= 1, "{info:?}");
}

/// A host on the system clock with room `g` ticking at 20 Hz, a member, and a tick asked to be
/// busy for `ms`.
async fn busy_tick(ms: u64) -> (TestHost, Conn) {
    let t = test_host_with(|c| c.clock = Arc::new(SystemClock));
    install_rooms(&t, "rooms", &["rooms", "time"], json!({}));
    open(&t.host, "rooms", json!({ "room": "g", "tick_hz": 20, "state": { "every_tick": true } }));
    let a = connect(&t.host, Some("u-a"), 1024);
    join(&t.host, &a, "rooms", "g", json!({})).await.unwrap();
    t.host.realtime().message("rooms", "g", &a.client, json!({ "cmd": "busy_ms", "ms": ms, "seq": 1 })).unwrap();
    (t, a)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticks_that_cannot_start_in_time_are_skipped_never_run_late_in_a_burst() {
    let (t, mut a) = busy_tick(300).await;
    let rt = t.host.realtime();
    let slow = a.acked(1).await;
    let slow_tick = slow["data"]["tick"].as_u64().unwrap();
    let next = a.frame(|f| f["data"]["tick"].as_u64().is_some_and(|n| n > slow_tick)).await;
    let after = next["data"]["tick"].as_u64().unwrap();
    // About six 50 ms periods passed during the slow tick: the next tick is a later one, not
    // the one right after it run late.
    assert!(after >= slow_tick + 4, "tick {after} followed tick {slow_tick}");
    let info = &rt.rooms_of("rooms")[0];
    assert!(info.stats.skipped >= 3, "{info:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_replace_keeps_rooms_state_and_clients_and_the_next_tick_runs_the_new_version() {
    let t = test_host();
    install_rooms(&t, "rooms", &["rooms", "config"], json!({ "config": { "version": "1" } }));
    open(&t.host, "rooms", json!({ "room": "g", "tick_hz": 20 }));
    let mut a = connect(&t.host, Some("u-a"), 256);
    join(&t.host, &a, "rooms", "g", json!({})).await.unwrap();
    let rt = t.host.realtime();
    rt.message("rooms", "g", &a.client, json!({ "cmd": "version", "seq": 1 })).unwrap();
    let v1 = a.acked(1).await;
    assert_eq!(v1["data"]["version"], "1");
    install_rooms(&t, "rooms", &["rooms", "config"], json!({ "config": { "version": "2" } }));
    rt.message("rooms", "g", &a.client, json!({ "cmd": "version", "seq": 2 })).unwrap();
    let v2 = a.acked(2).await;
    assert_eq!(v2["data"]["version"], "2");
    assert_eq!(rt.rooms_of("rooms")[0].clients, 1);
    assert_eq!(a.client.rooms(), vec![("rooms".to_owned(), "g".to_owned())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_grant_denies_the_next_host_call_while_the_room_keeps_running() {
    let t = test_host();
    install_rooms(&t, "rooms", &["rooms", "time"], json!({}));
    open(&t.host, "rooms", json!({ "room": "g", "tick_hz": 20 }));
    let mut a = connect(&t.host, Some("u-a"), 256);
    join(&t.host, &a, "rooms", "g", json!({})).await.unwrap();
    let rt = t.host.realtime();
    rt.message("rooms", "g", &a.client, json!({ "cmd": "now", "seq": 1 })).unwrap();
    assert_eq!(a.acked(1).await["data"]["denied"], 0);
    assert!(t.host.revoke("rooms", a2e_abi::Grant::Time).unwrap());
    rt.message("rooms", "g", &a.client, json!({ "cmd": "now", "seq": 2 })).unwrap();
    assert_eq!(a.acked(2).await["data"]["denied"], 1);
    assert_eq!(rt.rooms_of("rooms")[0].stats.failed, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_overflows_its_queue_and_others_are_unaffected() {
    let t = test_host();
    install_rooms(&t, "rooms", &["rooms"], json!({}));
    open(&t.host, "rooms", json!({ "room": "g", "tick_hz": 50, "state": { "every_tick": true } }));
    let sleeper = connect(&t.host, Some("u-s"), 4);
    let mut reader = connect(&t.host, Some("u-r"), 1024);
    join(&t.host, &sleeper, "rooms", "g", json!({})).await.unwrap();
    join(&t.host, &reader, "rooms", "g", json!({})).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), sleeper.client.overflowed()).await.expect("the sleeper overflows");
    assert!(sleeper.client.has_overflowed() && !reader.client.has_overflowed());
    let before = reader.frame(|f| f["data"]["tick"].is_u64()).await["data"]["tick"].as_u64().unwrap();
    reader.frame(|f| f["data"]["tick"].as_u64().is_some_and(|n| n > before + 5)).await;
    // The front end then disconnects it; the room sees it leave.
    t.host.realtime().disconnect(&sleeper.client);
    let left = reader.frame(|f| f["data"]["leaves"] == 1).await;
    assert_eq!(left["type"], "message");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_disconnecting_and_kicking_reach_the_plugin_and_the_client() {
    let t = test_host();
    install_rooms(&t, "rooms", &["rooms"], json!({}));
    open(&t.host, "rooms", json!({ "room": "r" }));
    let (mut a, mut b, c) =
        (connect(&t.host, Some("u-a"), 64), connect(&t.host, Some("u-b"), 64), connect(&t.host, Some("u-c"), 64));
    for conn in [&a, &b, &c] {
        join(&t.host, conn, "rooms", "r", json!({})).await.unwrap();
    }
    let rt = t.host.realtime();
    rt.disconnect(&c.client);
    let left = a.frame(|f| f["data"]["left"] == c.client.id.as_ref()).await;
    assert_eq!(left["data"]["reason"], "disconnected");
    let kicked =
        call(&t.host, "rooms", "kick", json!({ "room": "r", "client": b.client.id.as_ref(), "reason": "cheating" }));
    assert_eq!(kicked["data"]["deleted"], true);
    let notice = b.frame(|f| f["type"] == "left").await;
    assert_eq!(notice["reason"], "cheating");
    a.frame(|f| f["data"]["left"] == b.client.id.as_ref() && f["data"]["reason"] == "kicked").await;
    rt.leave("rooms", "r", &a.client).unwrap();
    assert_eq!(a.frame(|f| f["type"] == "left").await["reason"], "left");
    assert_eq!(rt.leave("rooms", "r", &a.client).unwrap_err().code, "NOT_JOINED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_or_disabling_a_plugin_closes_its_rooms_with_a_reason() {
    let t = test_host();
    install_rooms(&t, "rooms", &["rooms"], json!({}));
    open(&t.host, "rooms", json!({ "room": "r", "tick_hz": 5 }));
    let mut a = connect(&t.host, Some("u-a"), 64);
    join(&t.host, &a, "rooms", "r", json!({})).await.unwrap();
    t.host.set_enabled("rooms", false).unwrap();
    assert_eq!(a.frame(|f| f["type"] == "closed").await["reason"], "the plugin was disabled");
    t.host.set_enabled("rooms", true).unwrap();
    open(&t.host, "rooms", json!({ "room": "r2" }));
    join(&t.host, &a, "rooms", "r2", json!({})).await.unwrap();
    t.host.remove("rooms", false).unwrap();
    assert_eq!(a.frame(|f| f["type"] == "closed").await["reason"], "the plugin was removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tick_sees_the_clients_waiting_to_join_and_the_messages_not_yet_handed_over() {
    let t = test_host_with(|c| c.clock = Arc::new(SystemClock));
    install_rooms(&t, "rooms", &["rooms", "time"], json!({}));
    open(&t.host, "rooms", json!({ "room": "g", "tick_hz": 20 }));
    let mut a = connect(&t.host, Some("u-a"), 1024);
    join(&t.host, &a, "rooms", "g", json!({})).await.unwrap();
    let rt = t.host.realtime();
    rt.message("rooms", "g", &a.client, json!({ "cmd": "wait_join", "seq": 1 })).unwrap();
    a.frame(|f| f["data"]["waiting"] == true).await;
    // The tick is running: a message waits for the next one, a join for the tick to return.
    rt.message("rooms", "g", &a.client, json!({ "seq": 2 })).unwrap();
    let b = connect(&t.host, Some("u-b"), 64);
    let host = t.host.clone();
    let joining = tokio::spawn(async move { join(&host, &b, "rooms", "g", json!({})).await });
    let seen = a.acked(1).await;
    assert_eq!(seen["data"]["pending"], json!({ "joins": 1, "messages": 1 }), "{seen}");
    joining.await.unwrap().unwrap();
    a.acked(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutting_the_host_down_closes_rooms_waits_for_calls_in_flight_and_refuses_new_rooms() {
    let (t, mut a) = busy_tick(200).await;
    let rt = t.host.realtime();
    let host = t.host.clone();
    let stopped = tokio::task::spawn_blocking(move || host.shutdown(Duration::from_secs(10))).await.unwrap();
    assert!(stopped, "every call in flight returned within the grace");
    assert_eq!(a.frame(|f| f["type"] == "closed").await["reason"], "the server is stopping");
    assert!(rt.rooms_of("rooms").is_empty() && a.client.rooms().is_empty());
    let refused = call(&t.host, "rooms", "open", json!({ "room": "h" }));
    assert_eq!(refused["error"]["code"], "UNAVAILABLE", "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("stopping"), "{refused}");
    // Calls made directly still work, and a second shutdown has nothing left to do.
    let listed = call(&t.host, "rooms", "list", json!({}));
    assert_eq!((&listed["success"], &listed["data"]), (&json!(true), &json!([])), "{listed}");
    assert!(t.host.shutdown(Duration::from_secs(1)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_host_functions_refuse_bad_requests_with_clear_errors() {
    let t = test_host();
    install_rooms(&t, "rooms", &["rooms"], json!({}));
    install_rooms(&t, "other", &["rooms"], json!({}));
    open(&t.host, "rooms", json!({ "room": "mine" }));
    for (req, code, words) in [
        (json!({ "room": "x", "tick_hz": 61 }), "INVALID_INPUT", "1 to 60"),
        (json!({ "room": "bad id!" }), "INVALID_INPUT", "room ids"),
        (json!({ "room": "x", "max_clients": 5000 }), "INVALID_INPUT", "max_clients"),
        (json!({ "room": "mine" }), "ALREADY_EXISTS", "mine"),
    ] {
        let answer = call(&t.host, "rooms", "open", req);
        assert_eq!(answer["error"]["code"], code, "{answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains(words), "{answer}");
    }
    // Plugins reach only their own rooms.
    let send = call(&t.host, "other", "send", json!({ "room": "mine", "data": 1 }));
    assert_eq!(send["error"]["code"], "NOT_FOUND");
    let close = call(&t.host, "other", "close", json!({ "room": "mine" }));
    assert_eq!(close["data"]["deleted"], false);
    assert_eq!(call(&t.host, "other", "list", json!({}))["data"], json!([]));
    // A plugin without room exports cannot open rooms, nor look into another plugin's.
    install_fixture(&t, "fx", &["rooms"], json!({ "exports": ["call_host"] }));
    let env = crate::host_fn(&t, "fx", "room_pending", json!({ "room": "mine" }));
    assert_eq!(env["error"]["code"], "NOT_FOUND", "{env}");
    let env = crate::host_fn(&t, "fx", "room_create", json!({ "tick_hz": 10 }));
    assert_eq!(env["error"]["code"], "INVALID_INPUT", "{env}");
    assert!(env["error"]["message"].as_str().unwrap().contains("room_tick"), "{env}");
}

fn recorded(t: &TestHost, plugin: &str, prefix: &str) -> Vec<Value> {
    let page = a2e_db::Page { limit: 1000, offset: 0 };
    t.host
        .db()
        .kv_list(plugin, prefix, page)
        .unwrap()
        .into_iter()
        .filter(|e| !e.key.ends_with("count"))
        .map(|e| serde_json::from_slice(&e.value).unwrap())
        .collect()
}

fn emit(t: &TestHost, kind: &str, data: Value) {
    let event = a2e_db::NewAuditEvent { kind: kind.into(), data, ..Default::default() };
    t.host.record_event(&event).unwrap();
}

#[test]
fn subscribers_receive_the_kinds_they_are_granted_in_order() {
    let t = test_host();
    let subscription = json!({ "subscriptions": [{ "export": "on_event", "kinds": ["game.", "host.restart"] }] });
    install_rooms(&t, "audit", &["kv", "subscribe:game.", "subscribe:host.restart"], subscription);
    for i in 0..20 {
        emit(&t, "game.scored", json!({ "i": i }));
    }
    emit(&t, "host.restart", json!({}));
    emit(&t, "auth.login", json!({}));
    emit(&t, "gamer.x", json!({}));
    assert!(t.host.flush_events(Duration::from_secs(20)));
    let got = recorded(&t, "audit", "ev:");
    let kinds: Vec<&str> = got.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.len(), 21, "{kinds:?}");
    assert_eq!(kinds[20], "host.restart");
    let order: Vec<i64> = got[..20].iter().map(|e| e["data"]["i"].as_i64().unwrap()).collect();
    assert_eq!(order, (0..20).collect::<Vec<_>>());
    assert!(got.iter().all(|e| e["id"].as_i64().unwrap() > 0 && e["dropped"] == 0));
    // Revoking the grant stops delivery with the next event.
    t.host.revoke("audit", a2e_abi::GrantSpec::Subscribe("game.".into())).unwrap();
    emit(&t, "game.scored", json!({ "i": 99 }));
    emit(&t, "host.restart", json!({}));
    assert!(t.host.flush_events(Duration::from_secs(20)));
    let kinds: Vec<String> = recorded(&t, "audit", "ev:").iter().map(|e| e["kind"].as_str().unwrap().into()).collect();
    assert_eq!(kinds.len(), 22);
    assert_eq!(kinds[21], "host.restart");
}

#[test]
fn a_subscription_needs_its_grant_in_the_manifest() {
    let t = test_host();
    let dir = plugin_dir(
        t.dir.path(),
        "nosub",
        "rooms",
        json!({ "exports": ROOMS_EXPORTS, "grants": ["kv"], "subscriptions": [{ "export": "on_event", "kinds": ["auth."] }] }),
    );
    let err = t.host.install(&dir, &InstallOptions::default()).unwrap_err().to_string();
    assert!(err.contains("subscribe:auth."), "{err}");
    for (subs, words) in [
        (json!([{ "export": "missing", "kinds": ["a."] }]), "not in exports"),
        (json!([{ "export": "on_event", "kinds": [] }]), "at least one kind"),
        (json!([{ "export": "on_event", "kinds": ["Bad Kind"] }]), "subscribe:Bad Kind"),
    ] {
        let dir = plugin_dir(
            t.dir.path(),
            "nosub",
            "rooms",
            json!({ "exports": ROOMS_EXPORTS, "grants": ["subscribe:a."], "subscriptions": subs }),
        );
        let err = t.host.install(&dir, &InstallOptions::default()).unwrap_err().to_string();
        assert!(err.contains(words), "{err}");
    }
}

#[test]
fn a_failing_subscriber_is_counted_and_never_holds_up_the_emitter_or_other_subscribers() {
    let t = test_host();
    install_rooms(
        &t,
        "broken",
        &["subscribe:*"],
        json!({ "subscriptions": [{ "export": "on_event_fail", "kinds": ["*"] }] }),
    );
    install_rooms(
        &t,
        "good",
        &["kv", "subscribe:x."],
        json!({ "subscriptions": [{ "export": "on_event", "kinds": ["x."] }] }),
    );
    for i in 0..10 {
        emit(&t, "x.y", json!({ "i": i }));
    }
    assert!(t.host.flush_events(Duration::from_secs(20)));
    assert_eq!(recorded(&t, "good", "ev:").len(), 10);
    let broken = t.host.info("broken").unwrap().realtime;
    assert_eq!((broken.events_failed, broken.events_delivered), (10, 0));
    assert_eq!(t.host.info("good").unwrap().realtime.events_delivered, 10);
}

#[test]
fn a_subscriber_that_falls_behind_loses_events_counted_and_the_emitter_never_waits() {
    let t = test_host_with(|c| c.clock = Arc::new(SystemClock));
    install_rooms(
        &t,
        "slowpoke",
        &["kv", "time", "subscribe:slow."],
        json!({ "subscriptions": [{ "export": "on_event", "kinds": ["slow."] }] }),
    );
    let started = Instant::now();
    for i in 0..400 {
        emit(&t, "slow.tick", json!({ "i": i, "busy_ms": 20 }));
    }
    let emitting = started.elapsed();
    // 400 deliveries of 20 ms each would take 8 s; emitting did not wait for them.
    assert!(emitting < Duration::from_secs(8), "emitting took {emitting:?}");
    assert!(t.host.flush_events(Duration::from_secs(60)));
    // The next delivery tells the subscriber how many it missed.
    emit(&t, "slow.tick", json!({ "i": 400 }));
    assert!(t.host.flush_events(Duration::from_secs(10)));
    let counters = t.host.info("slowpoke").unwrap().realtime;
    assert!(counters.events_dropped > 0, "{counters:?}");
    assert_eq!(counters.events_delivered + counters.events_dropped, 401, "{counters:?}");
    let last = recorded(&t, "slowpoke", "ev:").pop().unwrap();
    assert_eq!(last["data"]["i"], 400);
    assert_eq!(last["dropped"].as_u64(), Some(counters.events_dropped), "{last}");
}

#[test]
fn a_plugin_calls_another_under_a_call_grant_and_the_callee_keeps_its_own_grants() {
    let t = test_host();
    install_rooms(&t, "caller", &["call:callee"], json!({}));
    install_fixture(&t, "callee", &["time"], json!({}));
    let ok = call(
        &t.host,
        "caller",
        "call_other",
        json!({ "plugin": "callee", "function": "call_host", "input": { "function": "time_now", "request": {} } }),
    );
    assert_eq!(ok["data"]["unix_ms"], crate::T0, "{ok}");
    // The callee's grants apply, not the caller's.
    let denied = call(
        &t.host,
        "caller",
        "call_other",
        json!({ "plugin": "callee", "function": "call_host", "input": { "function": "kv_get", "request": { "key": "k" } } }),
    );
    assert_eq!(denied["error"]["code"], "PERMISSION_DENIED", "{denied}");
    assert!(denied["error"]["message"].as_str().unwrap().contains("`callee` lacks the `kv` grant"), "{denied}");
    // Without a grant naming it, another plugin cannot be called.
    install_fixture(&t, "stranger", &[], json!({}));
    let refused = call(&t.host, "caller", "call_other", json!({ "plugin": "stranger", "function": "echo" }));
    assert_eq!(refused["error"]["code"], "PERMISSION_DENIED");
    assert!(refused["error"]["message"].as_str().unwrap().contains("call:stranger"), "{refused}");
}

#[test]
fn call_cycles_depth_disabled_and_missing_callees_are_error_values() {
    let t = test_host();
    install_rooms(&t, "a", &["call:b"], json!({}));
    install_rooms(&t, "b", &["call:a", "call:c", "call:gone"], json!({}));
    install_rooms(&t, "c", &["call:d"], json!({}));
    install_rooms(&t, "d", &["call:e"], json!({}));
    let cycle = call(
        &t.host,
        "a",
        "call_other",
        json!({ "plugin": "b", "function": "call_other", "input": { "plugin": "a", "function": "version" } }),
    );
    assert_eq!(cycle["error"]["code"], "CONFLICT", "{cycle}");
    assert!(cycle["error"]["message"].as_str().unwrap().contains("a -> b -> a"), "{cycle}");
    let deep = json!({ "plugin": "b", "function": "call_other", "input": { "plugin": "c", "function": "call_other",
        "input": { "plugin": "d", "function": "call_other", "input": { "plugin": "e", "function": "version" } } } });
    let deep = call(&t.host, "a", "call_other", deep);
    assert_eq!(deep["error"]["code"], "CONFLICT", "{deep}");
    assert!(deep["error"]["message"].as_str().unwrap().contains("depth"), "{deep}");
    let gone = call(&t.host, "b", "call_other", json!({ "plugin": "gone", "function": "version" }));
    assert_eq!(gone["error"]["code"], "NOT_FOUND", "{gone}");
    t.host.set_enabled("a", false).unwrap();
    let disabled = call(&t.host, "b", "call_other", json!({ "plugin": "a", "function": "version" }));
    assert_eq!(disabled["error"]["code"], "UNAVAILABLE", "{disabled}");
    assert!(disabled["error"]["message"].as_str().unwrap().contains("disabled"), "{disabled}");
    let missing = call(&t.host, "b", "call_other", json!({ "plugin": "c", "function": "nope" }));
    assert_eq!(missing["error"]["code"], "NOT_FOUND", "{missing}");
}

#[test]
fn a_call_to_a_busy_callee_waits_up_to_its_timeout_then_fails_without_deadlock() {
    let t = test_host();
    install_rooms(&t, "caller", &["call:busy"], json!({}));
    install_fixture(&t, "busy", &[], json!({ "limits": { "max_instances": 1, "timeout_ms": 3000 } }));
    let host = t.host.clone();
    let spinner = std::thread::spawn(move || host.call("busy", "spin", b"{}", &Default::default()));
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let answer = call(
        &t.host,
        "caller",
        "call_other",
        json!({ "plugin": "busy", "function": "echo", "input": {}, "timeout_ms": 200 }),
    );
    assert_eq!(answer["error"]["code"], "UNAVAILABLE", "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("busy"), "{answer}");
    assert!(started.elapsed() < Duration::from_millis(2500));
    assert!(spinner.join().unwrap().is_err());
}

#[test]
fn a_trapping_callee_is_call_failed_for_the_caller_which_keeps_running() {
    let t = test_host();
    install_rooms(&t, "caller", &["call:fx"], json!({}));
    install_fixture(&t, "fx", &[], json!({}));
    let answer = call(&t.host, "caller", "call_other", json!({ "plugin": "fx", "function": "trap" }));
    assert_eq!(answer["error"]["code"], "CALL_FAILED", "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("`fx` failed in `trap`"), "{answer}");
    let echo =
        call(&t.host, "caller", "call_other", json!({ "plugin": "fx", "function": "echo", "input": { "k": 1 } }));
    assert_eq!(echo["data"], json!({ "k": 1 }));
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn schedules_run_once_the_host_starts_background_work_and_never_overlap() {
    let t = test_host_with(|c| c.clock = Arc::new(SystemClock));
    let schedules = json!({ "schedules": [
        { "export": "scheduled", "every_secs": 1 },
        { "export": "scheduled_slow", "every_secs": 1 }
    ] });
    install_rooms(&t, "cron", &["kv", "time"], schedules);
    std::thread::sleep(Duration::from_millis(1300));
    assert!(recorded(&t, "cron", "sched:").is_empty(), "schedules ran before start_background");
    t.host.start_background();
    wait_for("two scheduled runs", || recorded(&t, "cron", "sched:").len() >= 2);
    let runs = recorded(&t, "cron", "sched:");
    assert_eq!((runs[0]["run"].clone(), runs[1]["run"].clone()), (json!(0), json!(1)));
    assert_eq!(runs[1]["intended_ms"].as_i64().unwrap() - runs[0]["intended_ms"].as_i64().unwrap(), 1000);
    // The slow one takes 2.5 s every second: the runs it could not start are skipped and counted.
    wait_for("a skipped slow run", || recorded(&t, "cron", "slow:").iter().any(|r| r["skipped"].as_u64() > Some(0)));
    assert!(t.host.info("cron").unwrap().realtime.schedule_skipped > 0);
    // Removing the plugin stops its schedules.
    t.host.remove("cron", false).unwrap();
}

#[test]
fn schedules_are_validated_at_install() {
    let t = test_host();
    for (schedule, words) in [
        (json!({ "export": "scheduled" }), "exactly one of every_secs and cron"),
        (json!({ "export": "scheduled", "every_secs": 1, "cron": "* * * * *" }), "exactly one"),
        (json!({ "export": "scheduled", "every_secs": 0 }), "every_secs must be 1 to 604800"),
        (json!({ "export": "scheduled", "cron": "61 * * * *" }), "cron expression `61 * * * *`"),
        (json!({ "export": "scheduled", "cron": "* *" }), "has 2 fields"),
        (json!({ "export": "nope", "every_secs": 5 }), "not in exports"),
    ] {
        let dir =
            plugin_dir(t.dir.path(), "sched", "rooms", json!({ "exports": ROOMS_EXPORTS, "schedules": [schedule] }));
        let err = t.host.install(&dir, &InstallOptions::default()).unwrap_err().to_string();
        assert!(err.contains(words), "{err}");
    }
    let ok = json!({ "exports": ROOMS_EXPORTS, "schedules": [{ "export": "scheduled", "cron": "*/5 * * * *" }] });
    t.host.install(&plugin_dir(t.dir.path(), "sched", "rooms", ok), &InstallOptions::default()).unwrap();
}
