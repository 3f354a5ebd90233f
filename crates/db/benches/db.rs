//! Plain SQLite versus SQLCipher for the main operations, measured in one run; prints the ratios.
//!
//! Run with `cargo bench -p a2e-db --bench db`. Goal: encrypted/plain <= 1.25 for point reads and
//! single-row writes.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use a2e_db::{Db, KeySource, NewSession, NewUser, OpenOptions, Page};
use criterion::{black_box, Criterion};

const USERS: usize = 10_000;
const T0: i64 = 1_700_000_000_000;

#[path = "../../../xtask/src/report.rs"]
mod report;

/// Mean nanoseconds per iteration, per (operation, mode), gathered while criterion drives the loops.
static MEANS: Mutex<BTreeMap<(String, String), (Duration, u64)>> = Mutex::new(BTreeMap::new());

fn record(op: &str, mode: &str, elapsed: Duration, iters: u64) {
    let mut means = MEANS.lock().unwrap();
    let entry = means.entry((op.to_owned(), mode.to_owned())).or_default();
    entry.0 += elapsed;
    entry.1 += iters;
}

fn seed(db: &Db) -> Vec<String> {
    (0..USERS)
        .map(|i| {
            db.create_user(
                &NewUser {
                    name: format!("user{i}"),
                    email: format!("user{i}@example.com"),
                    password_hash: "h".into(),
                    ..Default::default()
                },
                T0,
            )
            .unwrap()
            .uuid
        })
        .collect()
}

fn bench_mode(c: &mut Criterion, mode: &str, db: &Db) {
    let uuids = seed(db);
    for i in 0..USERS {
        db.kv_set("bench", &format!("key{i}"), b"value", T0).unwrap();
    }
    let mut group = c.benchmark_group(mode);
    let mut n = 0usize;
    group.bench_function("point_read_user", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                n = (n + 7919) % USERS;
                black_box(db.get_user_by_uuid(&uuids[n]).unwrap());
            }
            let elapsed = start.elapsed();
            record("point read: get_user_by_uuid", mode, elapsed, iters);
            elapsed
        })
    });
    group.bench_function("point_read_kv", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                n = (n + 7919) % USERS;
                black_box(db.kv_get("bench", &format!("key{n}")).unwrap());
            }
            let elapsed = start.elapsed();
            record("point read: kv_get", mode, elapsed, iters);
            elapsed
        })
    });
    let mut w = 0u64;
    group.bench_function("write_kv", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                w += 1;
                db.kv_set("bench", &format!("w{}", w % 50_000), b"value-value", T0).unwrap();
            }
            let elapsed = start.elapsed();
            record("single-row write: kv_set", mode, elapsed, iters);
            elapsed
        })
    });
    group.bench_function("write_session", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                w += 1;
                db.create_session(
                    &NewSession {
                        id: format!("{w:064x}"),
                        user_uuid: uuids[w as usize % USERS].clone(),
                        expires_at: T0 + 1,
                    },
                    T0,
                )
                .unwrap();
            }
            let elapsed = start.elapsed();
            record("single-row write: create_session", mode, elapsed, iters);
            elapsed
        })
    });
    group.bench_function("list_kv_prefix_50", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(db.kv_list("bench", "key1", Page { limit: 50, offset: 0 }).unwrap());
            }
            let elapsed = start.elapsed();
            record("range read: kv_list 50", mode, elapsed, iters);
            elapsed
        })
    });
    group.finish();
}

fn main() {
    // Library errors must not capture backtraces while measuring (RUST_BACKTRACE=1 would
    // otherwise double the cost of every Extism call); panics still print theirs.
    std::env::set_var("RUST_LIB_BACKTRACE", "0");
    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    let plain_dir = tempfile::tempdir().unwrap();
    let plain = Db::open_plain(&plain_dir.path().join("plain.db"), OpenOptions::default()).unwrap();
    bench_mode(&mut c, "plain", &plain);
    let enc_dir = tempfile::tempdir().unwrap();
    let encrypted = Db::open(enc_dir.path(), &KeySource::KeyFile(enc_dir.path().join("db.key"))).unwrap();
    bench_mode(&mut c, "encrypted", &encrypted);
    c.final_summary();

    let means = MEANS.lock().unwrap();
    let per_iter = |op: &str, mode: &str| {
        means.get(&(op.to_owned(), mode.to_owned())).map(|(d, n)| d.as_nanos() as f64 / (*n).max(1) as f64)
    };
    println!("\n{:<36} {:>12} {:>12} {:>8}  goal", "operation (mean per call)", "plain", "encrypted", "ratio");
    let ops: Vec<String> =
        means.keys().map(|(op, _)| op.clone()).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    for op in ops {
        if let (Some(p), Some(e)) = (per_iter(&op, "plain"), per_iter(&op, "encrypted")) {
            let goal = if op.starts_with("range") { "-" } else { "<= 1.25" };
            println!("{op:<36} {:>10.2}us {:>10.2}us {:>8.2}  {goal}", p / 1000.0, e / 1000.0, e / p);
            let (value, baseline) = (format!("{:.2} µs", e / 1000.0), format!("{:.2} µs", p / 1000.0));
            report::emit(&if goal == "-" {
                report::plain_row("storage", &op, value, baseline, Some(e / p))
            } else {
                report::ratio_row("storage", &op, value, baseline, e / p, goal)
            });
        }
    }
}
