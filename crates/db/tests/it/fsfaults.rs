//! A full disk and a read-only data dir, on a small tmpfs the test mounts for itself (so it runs
//! as root, as the README's test command does): clear errors, nothing acknowledged is lost, and
//! the database passes its integrity checks afterwards.

use std::path::{Path, PathBuf};
use std::process::Command;

use a2e_db::{Db, Error, KeySource};

/// A tmpfs mounted on a temp dir, unmounted on drop.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    fn mount(size_kib: u64) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap().keep();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_kib}k"), "tmpfs"])
            .arg(&dir)
            .output()
            .expect("running mount");
        assert!(
            out.status.success(),
            "this test mounts a small tmpfs to fill it and make it read-only; run it as root (`cargo xtask test` as root does): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { dir }
    }

    fn remount(&self, read_only: bool) {
        let mode = if read_only { "remount,ro" } else { "remount,rw" };
        let status = Command::new("mount").args(["-o", mode]).arg(&self.dir).status().unwrap();
        assert!(status.success(), "mount -o {mode} failed");
    }

    fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
        let _ = std::fs::remove_dir(&self.dir);
    }
}

fn source(dir: &Path) -> KeySource {
    KeySource::KeyFile(dir.join(a2e_db::keys::KEY_FILE))
}

#[test]
fn a_full_disk_gives_a_clear_error_and_loses_no_acknowledged_write() {
    let fs = Tmpfs::mount(6 * 1024);
    let data = fs.path().join("data");
    let db = Db::open(&data, &source(&data)).unwrap();
    // Room to recover with later.
    std::fs::write(fs.path().join("ballast"), vec![0u8; 2 * 1024 * 1024]).unwrap();
    let value: Vec<u8> = (0..8 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    let mut acked = Vec::new();
    let err = loop {
        let key = format!("k{}", acked.len());
        match db.kv_set("filler", &key, &value, crate::T0) {
            Ok(()) => acked.push(key),
            Err(err) => break err,
        }
        assert!(acked.len() < 10_000, "a 6 MiB file system never filled up");
    };
    assert!(matches!(err, Error::DiskFull(_)), "{err:?}");
    assert!(err.to_string().contains("disk is full"), "{err}");
    assert!(acked.len() > 10, "only {} writes fitted", acked.len());
    // Reads go on while the disk is full.
    assert!(db.kv_get("filler", &acked[0]).unwrap().is_some());
    drop(db);
    // Reopening on the full disk either works or says the disk is full (replaying the log may
    // need room).
    match Db::open(&data, &source(&data)) {
        Ok(db) => assert!(db.kv_get("filler", &acked[0]).unwrap().is_some()),
        Err(err) => assert!(matches!(err, Error::DiskFull(_)), "{err:?}"),
    }

    std::fs::remove_file(fs.path().join("ballast")).unwrap();
    let db = Db::open(&data, &source(&data)).unwrap();
    let report = db.integrity_check().unwrap();
    assert!(report.ok, "{report:?}");
    for key in &acked {
        assert_eq!(db.kv_get("filler", key).unwrap().unwrap().value, value, "{key} lost");
    }
    // And it accepts writes again.
    db.kv_set("filler", "after", b"x", crate::T0).unwrap();
}

#[test]
fn a_read_only_data_dir_gives_a_clear_error_and_keeps_the_data() {
    let fs = Tmpfs::mount(8 * 1024);
    let data = fs.path().join("data");
    let db = Db::open(&data, &source(&data)).unwrap();
    for i in 0..20 {
        db.kv_set("p", &format!("k{i}"), b"kept", crate::T0).unwrap();
    }
    drop(db);

    fs.remount(true);
    match Db::open(&data, &source(&data)) {
        Err(err) => {
            let text = err.to_string();
            assert!(text.contains("read-only") || text.contains("Read-only"), "{err:?}");
        }
        Ok(db) => {
            let err = db.kv_set("p", "new", b"x", crate::T0).unwrap_err();
            assert!(matches!(err, Error::ReadOnly(_)), "{err:?}");
            assert_eq!(db.kv_get("p", "k3").unwrap().unwrap().value, b"kept");
        }
    }

    fs.remount(false);
    let db = Db::open(&data, &source(&data)).unwrap();
    assert!(db.integrity_check().unwrap().ok);
    for i in 0..20 {
        assert_eq!(db.kv_get("p", &format!("k{i}")).unwrap().unwrap().value, b"kept");
    }
}
