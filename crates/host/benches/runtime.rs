//! The cost of a2e's layer over Extism, measured side by side in one run; prints ratio tables.
//!
//! Run with `cargo xtask bench` (it builds the test guests first) or
//! `cargo bench -p a2e-host --bench runtime`. Goals: empty call a2e/raw <= 1.10; host-function
//! database read a2e/raw <= 1.2.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use a2e_abi::{ByUuid, Envelope, HOST_NAMESPACE};
use a2e_db::{Db, KeySource, NewUser};
use a2e_host::{CallOptions, Host, HostConfig, InstallOptions};
use criterion::{black_box, Criterion};
use extism::{CompiledPlugin, Function, Plugin, PluginBuilder, UserData, PTR};

#[path = "../../../xtask/src/report.rs"]
mod report;

static MEANS: Mutex<BTreeMap<String, (Duration, u64)>> = Mutex::new(BTreeMap::new());

fn timed(name: &str, iters: u64, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    let elapsed = start.elapsed();
    let mut means = MEANS.lock().unwrap();
    let e = means.entry(name.to_owned()).or_default();
    e.0 += elapsed;
    e.1 += iters;
    elapsed
}

fn mean_us(name: &str) -> f64 {
    let means = MEANS.lock().unwrap();
    let (d, n) = means.get(name).copied().unwrap_or_default();
    d.as_secs_f64() * 1e6 / n.max(1) as f64
}

fn fixture_wasm() -> Vec<u8> {
    let exe = std::env::current_exe().unwrap();
    let path = exe.ancestors().nth(3).unwrap().join("wasm32-unknown-unknown/release/fixture.wasm");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}; run `cargo xtask bench`", path.display()))
}

/// A raw Extism host function doing what a2e's db_get_user_by_uuid does, minus a2e's layer
/// (grant check, call context, panic guard).
fn raw_get_user(db: Db) -> Function {
    Function::new("db_get_user_by_uuid", [PTR], [PTR], UserData::new(db), |plugin, inputs, outputs, data| {
        let input = plugin.memory_get_val::<&[u8]>(&inputs[0])?.to_vec();
        let req: ByUuid = serde_json::from_slice(&input)?;
        let db = data.get()?.lock().unwrap().clone();
        let user = db.get_user_by_uuid(&req.uuid)?;
        let out = serde_json::to_vec(&Envelope::ok(user))?;
        plugin.memory_set_val(&mut outputs[0], out.as_slice())?;
        Ok(())
    })
    .with_namespace(HOST_NAMESPACE)
}

fn main() {
    // Library errors must not capture backtraces while measuring (RUST_BACKTRACE=1 would
    // otherwise double the cost of every Extism call); panics still print theirs.
    std::env::set_var("RUST_LIB_BACKTRACE", "0");
    let wasm = fixture_wasm();
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), &KeySource::KeyFile(dir.path().join("db.key"))).unwrap();
    let host = Host::open(db.clone(), HostConfig::new(dir.path())).unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("fixture.wasm"), &wasm).unwrap();
    let manifest = serde_json::json!({
        "name": "fx", "version": "1", "abi_version": 1,
        "wasm": { "file": "fixture.wasm", "sha256": a2e_host::manifest::sha256_hex(&wasm) },
        "exports": ["noop", "read_user", "argon2_in_wasm"],
        "grants": ["db:users"],
        "limits": { "max_instances": 2, "timeout_ms": 30000, "memory_pages": 1024 },
    });
    std::fs::write(src.join("plugin.json"), manifest.to_string()).unwrap();
    host.install(&src, &InstallOptions { grant_requested: true, replace: false }).unwrap();
    let uuid = db
        .create_user(
            &NewUser { name: "b".into(), email: "b@x.com".into(), password_hash: "h".into(), ..Default::default() },
            0,
        )
        .unwrap()
        .uuid;
    let read_input = serde_json::to_vec(&ByUuid { uuid: uuid.clone() }).unwrap();

    let mut raw = Plugin::new(&wasm, a2e_host::host_fns::extism_functions(), false).unwrap();
    // The same module with the limits a2e applies (timeout, memory cap): what Extism itself
    // charges for enforcing them.
    let limited = extism::Manifest::new([extism::Wasm::data(wasm.clone())])
        .with_timeout(Duration::from_secs(30))
        .with_memory_max(1024);
    let mut raw_limited = Plugin::new(&limited, a2e_host::host_fns::extism_functions(), false).unwrap();
    let raw_functions: Vec<Function> = a2e_host::host_fns::extism_functions()
        .into_iter()
        .filter(|f| f.name() != "db_get_user_by_uuid")
        .chain([raw_get_user(db.clone())])
        .collect();
    let mut raw_db = Plugin::new(&limited, raw_functions, false).unwrap();
    let opts = CallOptions::default();

    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    let mut g = c.benchmark_group("call");
    g.bench_function("a2e_empty", |b| {
        b.iter_custom(|n| {
            timed("empty call: a2e", n, || {
                black_box(host.call("fx", "noop", b"", &opts).unwrap());
            })
        })
    });
    g.bench_function("raw_empty", |b| {
        b.iter_custom(|n| {
            timed("empty call: raw extism", n, || {
                black_box(raw.call::<&[u8], Vec<u8>>("noop", b"").unwrap());
            })
        })
    });
    g.bench_function("raw_limited_empty", |b| {
        b.iter_custom(|n| {
            timed("empty call: raw extism, same limits", n, || {
                black_box(raw_limited.call::<&[u8], Vec<u8>>("noop", b"").unwrap());
            })
        })
    });
    g.bench_function("a2e_db_read", |b| {
        b.iter_custom(|n| {
            timed("db read via host fn: a2e", n, || {
                black_box(host.call("fx", "read_user", &read_input, &opts).unwrap());
            })
        })
    });
    g.bench_function("raw_db_read", |b| {
        b.iter_custom(|n| {
            timed("db read via host fn: raw extism, same limits", n, || {
                black_box(raw_db.call::<&[u8], Vec<u8>>("read_user", &read_input).unwrap());
            })
        })
    });
    g.bench_function("native_db_read", |b| {
        b.iter_custom(|n| {
            timed("db read: native a2e-db (reference)", n, || {
                black_box(db.get_user_by_uuid(&uuid).unwrap());
            })
        })
    });
    g.finish();

    let compiled = CompiledPlugin::new(
        PluginBuilder::new(wasm.as_slice())
            .with_functions(a2e_host::host_fns::extism_functions())
            .with_cache_disabled(),
    )
    .unwrap();
    let cache_config = dir.path().join("cache/wasmtime.toml");
    let mut g = c.benchmark_group("instantiate");
    g.sample_size(10);
    g.bench_function("warm_instance", |b| {
        b.iter_custom(|n| {
            timed("instantiate from a compiled module", n, || {
                black_box(Plugin::new_from_compiled(&compiled).unwrap());
            })
        })
    });
    g.bench_function("compile_from_cache", |b| {
        b.iter_custom(|n| {
            timed("new engine + module from the disk cache", n, || {
                let builder = PluginBuilder::new(wasm.as_slice())
                    .with_functions(a2e_host::host_fns::extism_functions())
                    .with_cache_config(&cache_config);
                black_box(CompiledPlugin::new(builder).unwrap());
            })
        })
    });
    g.finish();
    let mut g = c.benchmark_group("argon2");
    g.sample_size(10);
    g.bench_function("wasm", |b| {
        b.iter_custom(|n| {
            timed("argon2id m=19456 t=2: in wasm", n, || {
                black_box(host.call("fx", "argon2_in_wasm", b"correct horse", &opts).unwrap());
            })
        })
    });
    g.bench_function("native", |b| {
        b.iter_custom(|n| {
            timed("argon2id m=19456 t=2: native", n, || {
                let params = argon2::Params::new(19_456, 2, 1, Some(32)).unwrap();
                let mut out = [0u8; 32];
                argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
                    .hash_password_into(b"correct horse", b"a2e-benchmark-salt", &mut out)
                    .unwrap();
                black_box(out);
            })
        })
    });
    g.finish();
    c.final_summary();

    // Throughput: a fixed number of calls on 1 and on 2 threads.
    let host = Arc::new(host);
    let throughput = |threads: usize, function: &'static str, input: Vec<u8>| -> f64 {
        let per_thread = 20_000 / threads;
        let start = Instant::now();
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (host, input) = (host.clone(), input.clone());
                std::thread::spawn(move || {
                    for _ in 0..per_thread {
                        host.call("fx", function, &input, &CallOptions::default()).unwrap();
                    }
                })
            })
            .collect();
        handles.into_iter().for_each(|h| h.join().unwrap());
        (per_thread * threads) as f64 / start.elapsed().as_secs_f64()
    };
    let (e1, e2) = (throughput(1, "noop", Vec::new()), throughput(2, "noop", Vec::new()));
    let (r1, r2) = (throughput(1, "read_user", read_input.clone()), throughput(2, "read_user", read_input));

    let row = |label: &str, a: &str, b: &str, goal: &str| {
        let (x, y) = (mean_us(a), mean_us(b));
        println!("{label:<44} {x:>10.2}us {y:>10.2}us {:>8.2}  {goal}", x / y);
        let unit = |us: f64| if us >= 1000.0 { format!("{:.1} ms", us / 1000.0) } else { format!("{us:.2} µs") };
        report::emit(&if goal.starts_with('<') || goal.starts_with('>') {
            report::ratio_row("runtime", label, unit(x), unit(y), x / y, goal)
        } else {
            report::plain_row("runtime", &format!("{label} ({goal})"), unit(x), unit(y), Some(x / y))
        });
    };
    println!("\n{:<44} {:>12} {:>12} {:>8}  goal", "ratio (mean per call)", "a2e / wasm", "baseline", "ratio");
    row("empty call: a2e / raw Extism", "empty call: a2e", "empty call: raw extism", "<= 1.10");
    row(
        "empty call: a2e / raw Extism with a2e's limits",
        "empty call: a2e",
        "empty call: raw extism, same limits",
        "<= 1.10",
    );
    row(
        "db read via host fn: a2e / raw Extism (same limits)",
        "db read via host fn: a2e",
        "db read via host fn: raw extism, same limits",
        "<= 1.2",
    );
    row(
        "db read via host fn: a2e / native a2e-db",
        "db read via host fn: a2e",
        "db read: native a2e-db (reference)",
        "reference",
    );
    row("argon2id: in wasm / native", "argon2id m=19456 t=2: in wasm", "argon2id m=19456 t=2: native", "recorded");
    println!(
        "\n{:<44} {:>10.2}us",
        "instantiate from a compiled module",
        mean_us("instantiate from a compiled module")
    );
    println!(
        "{:<44} {:>10.2}us",
        "new engine + module from the disk cache",
        mean_us("new engine + module from the disk cache")
    );
    println!("\n{:<44} {:>12} {:>12} {:>8}", "throughput (calls/s)", "1 thread", "2 threads", "2t/1t");
    println!("{:<44} {e1:>12.0} {e2:>12.0} {:>8.2}", "empty call", e2 / e1);
    println!("{:<44} {r1:>12.0} {r2:>12.0} {:>8.2}", "db read via host fn", r2 / r1);
    for (label, key) in [
        ("instantiate from a compiled module (warm instance)", "instantiate from a compiled module"),
        (
            "new engine + module from the on-disk cache (once per pooled instance)",
            "new engine + module from the disk cache",
        ),
    ] {
        report::emit(&report::plain_row("runtime", label, format!("{:.0} µs", mean_us(key)), String::new(), None));
    }
    for (label, one, two) in [("empty call", e1, e2), ("host-function DB read", r1, r2)] {
        report::emit(&report::plain_row(
            "runtime",
            &format!("{label}: calls/s, 2 threads (baseline: 1 thread)"),
            format!("{two:.0}/s"),
            format!("{one:.0}/s"),
            Some(two / one),
        ));
    }
}
