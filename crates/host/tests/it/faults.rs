use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use a2e_host::{CallFailure, HostError};
use serde_json::json;

use crate::{install_fixture, test_host, TestHost};

fn limited() -> serde_json::Value {
    json!({ "limits": { "memory_pages": 256, "timeout_ms": 1000, "max_instances": 8 } })
}

fn fail(t: &TestHost, function: &str, input: &str) -> CallFailure {
    match t.host.call("fx", function, input.as_bytes(), &Default::default()) {
        Err(HostError::CallFailed { plugin, function: f, failure }) => {
            assert_eq!((plugin.as_str(), f.as_str()), ("fx", function));
            failure
        }
        other => panic!("{function}: expected a failed call, got {other:?}"),
    }
}

fn echo_works(t: &TestHost) {
    assert_eq!(t.host.call("fx", "echo", b"still here", &Default::default()).unwrap(), b"still here");
}

#[test]
fn each_fault_is_a_clear_error_and_the_plugin_keeps_serving() {
    let t = test_host();
    install_fixture(&t, "fx", &[], limited());
    install_fixture(&t, "other", &[], limited());
    // The trap's own description is kept, not cut at "error while executing at wasm backtrace".
    let trap = fail(&t, "trap", "");
    assert!(matches!(&trap, CallFailure::Trap { trap, .. } if trap.contains("unreachable")), "{trap:?}");
    assert_eq!(trap.code(), a2e_abi::ErrorCode::PluginTrapped);
    echo_works(&t);
    let panic = fail(&t, "panic", "");
    assert!(matches!(panic, CallFailure::Trap { .. } | CallFailure::Reported(_)), "{panic:?}");
    assert!(!panic.to_string().ends_with("backtrace:"), "{panic}");
    echo_works(&t);
    let spin = fail(&t, "spin", "");
    assert_eq!(spin, CallFailure::Timeout { limit_ms: 1000 });
    assert_eq!(spin.to_string(), "timed out after 1000 ms");
    assert_eq!(spin.code().http_status(), 504);
    echo_works(&t);
    assert_eq!(fail(&t, "alloc", "64"), CallFailure::OutOfMemory { limit_pages: 256 });
    echo_works(&t);
    let big = fail(&t, "big_output", &(100 << 20).to_string());
    assert!(matches!(big, CallFailure::OutOfMemory { .. } | CallFailure::OutputTooLarge { .. }), "{big:?}");
    echo_works(&t);
    // Another plugin is unaffected throughout.
    assert_eq!(t.host.call("other", "echo", b"x", &Default::default()).unwrap(), b"x");
}

#[test]
fn output_over_the_host_cap_is_refused() {
    let t = crate::test_host_with(|config| config.caps.max_output_bytes = 1000);
    install_fixture(&t, "fx", &[], json!({}));
    assert_eq!(t.host.call("fx", "big_output", b"1000", &Default::default()).unwrap().len(), 1000);
    let big = fail(&t, "big_output", "1001");
    assert_eq!(big, CallFailure::OutputTooLarge { bytes: 1001, limit: 1000 });
    assert!(big.to_string().contains("exceeds the 1000-byte limit"));
    echo_works(&t);
}

#[test]
fn fuel_limit_stops_a_runaway_call() {
    let t = test_host();
    install_fixture(&t, "fx", &[], json!({ "limits": { "fuel": 5_000_000, "timeout_ms": 30_000 } }));
    assert_eq!(fail(&t, "spin", ""), CallFailure::OutOfFuel { limit: 5_000_000 });
    echo_works(&t);
}

#[test]
fn a_timeout_does_not_fail_concurrent_calls_to_the_same_plugin() {
    let t = Arc::new(test_host());
    install_fixture(&t, "fx", &[], limited());
    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let (t, stop, calls) = (t.clone(), stop.clone(), calls.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let out = t.host.call("fx", "work", b"", &Default::default());
                    assert!(out.is_ok(), "a healthy call failed while another timed out: {out:?}");
                    calls.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for _ in 0..3 {
        assert_eq!(fail(&t, "spin", ""), CallFailure::Timeout { limit_ms: 1000 });
    }
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.join().unwrap();
    }
    assert!(calls.load(Ordering::SeqCst) > 0);
}

#[test]
fn eight_threads_times_a_thousand_calls() {
    let t = Arc::new(test_host());
    install_fixture(&t, "fx", &["kv"], json!({ "limits": { "max_instances": 8 } }));
    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let (t, barrier) = (t.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                for n in 0..1000 {
                    let input = format!("{i}-{n}");
                    let out = t.host.call("fx", "echo", input.as_bytes(), &Default::default()).unwrap();
                    assert_eq!(out, input.as_bytes());
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let info = t.host.info("fx").unwrap();
    assert!(info.instances >= 1 && info.instances <= 8, "{}", info.instances);
}

#[test]
fn a_busy_pool_reports_busy_after_the_checkout_timeout() {
    let t = Arc::new(crate::test_host_with(|config| config.checkout_timeout = std::time::Duration::from_millis(50)));
    install_fixture(&t, "fx", &[], json!({ "limits": { "max_instances": 1, "timeout_ms": 2000 } }));
    // Once a spinner holds the only instance, a call waits 50 ms and reports Busy. (If the
    // spinner itself loses the race for the instance, it gets Busy and is started again.)
    let mut saw_busy = false;
    for _ in 0..20 {
        let spinner = {
            let t = t.clone();
            thread::spawn(move || t.host.call("fx", "spin", b"", &Default::default()))
        };
        while !spinner.is_finished() {
            match t.host.call("fx", "echo", b"", &Default::default()) {
                Err(HostError::Busy(name)) => {
                    assert_eq!(name, "fx");
                    saw_busy = true;
                    break;
                }
                Ok(_) => thread::yield_now(),
                Err(other) => panic!("unexpected {other}"),
            }
        }
        assert!(spinner.join().unwrap().is_err(), "the spinner times out or is refused");
        if saw_busy {
            break;
        }
    }
    assert!(saw_busy);
    echo_works(&t);
}
