//! The desktop app's system packages and its smoke test: the real app under Xvfb renders the
//! login page, round-trips one command through the webview's IPC bridge, and leaves a screenshot
//! in `<target>/e2e-artifacts/desktop.png`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// Debian packages the desktop app (Tauri 2 on WebKitGTK) needs to build, plus Xvfb and
/// ImageMagick for the smoke test.
pub const PACKAGES: &[&str] = &[
    "libwebkit2gtk-4.1-dev",
    "libxdo-dev",
    "libayatana-appindicator3-dev",
    "librsvg2-dev",
    "libdbus-1-dev",
    "xvfb",
    "xauth",
    "imagemagick",
];

fn present() -> bool {
    let pkg = Command::new("pkg-config").args(["--exists", "webkit2gtk-4.1", "dbus-1", "librsvg-2.0"]).status();
    let tools =
        Command::new("sh").args(["-c", "command -v xvfb-run && command -v import"]).stdout(Stdio::null()).status();
    pkg.is_ok_and(|s| s.success()) && tools.is_ok_and(|s| s.success())
}

/// Installs the packages with apt-get when running as root; otherwise fails and says what to
/// install. The desktop crate is part of the workspace, so every check needs them.
pub fn packages() -> Result<()> {
    if present() {
        return Ok(());
    }
    let is_root = Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if is_root && Path::new("/usr/bin/apt-get").exists() {
        super::step(&format!("installing Debian packages for the desktop app: {}", PACKAGES.join(" ")));
        let _ = Command::new("apt-get").args(["update", "-q"]).status()?;
        let install = Command::new("apt-get").args(["install", "-y", "-q"]).args(PACKAGES).status()?;
        if install.success() && present() {
            return Ok(());
        }
        bail!("apt-get could not install the desktop app's packages: {}", PACKAGES.join(" "));
    }
    bail!(
        "THE DESKTOP APP CANNOT BE BUILT: its system packages are missing. Install them first, e.g. on Debian/Ubuntu:\n  sudo apt-get install {}\n(see https://v2.tauri.app/start/prerequisites/ for other systems)",
        PACKAGES.join(" ")
    )
}

/// Runs the desktop app once under Xvfb in smoke mode against a fresh data dir with an
/// administrator, so the login page shows.
pub fn smoke(target: &Path) -> Result<()> {
    super::step("desktop smoke test (Tauri app under Xvfb)");
    let work = target.join("desktop-smoke");
    let _ = std::fs::remove_dir_all(&work);
    let data = work.join("data");
    let artifacts = target.join("e2e-artifacts");
    std::fs::create_dir_all(&artifacts)?;
    let _ = std::fs::remove_file(artifacts.join("desktop-smoke.json"));
    let env = [("A2E_DATA_DIR", data.as_os_str()), ("A2E_DB_KEY", "desktop smoke test secret".as_ref())];

    let a2e = target.join("debug").join("a2e");
    let mut create = Command::new(&a2e)
        .args(["user", "create", "--admin", "--name", "Admin", "--email", "admin@example.com"])
        .envs(env)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", a2e.display()))?;
    use std::io::Write;
    create.stdin.take().expect("piped").write_all(b"correct horse battery staple\n")?;
    if !create.wait()?.success() {
        bail!("creating the administrator for the desktop smoke test failed");
    }

    let app = target.join("debug").join("a2e-desktop");
    let mut child = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1280x900x24"])
        .arg(&app)
        .envs(env)
        .env("A2E_DESKTOP_SMOKE", &artifacts)
        .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
        .spawn()
        .context("starting xvfb-run (package xvfb)")?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > Duration::from_secs(180) {
            let _ = child.kill();
            bail!("the desktop app did not finish its smoke test within 180 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let report = std::fs::read_to_string(artifacts.join("desktop-smoke.json"))
        .with_context(|| format!("the desktop app ({status}) wrote no smoke report"))?;
    let report: serde_json::Value = serde_json::from_str(&report).context("reading the smoke report")?;
    if !status.success() || report["heading"] != "Log in" || report["ipc"]["needs_setup"] != false {
        bail!("desktop smoke test failed ({status}): {report}");
    }
    if !artifacts.join("desktop.png").is_file() {
        bail!("the desktop smoke test took no screenshot");
    }
    println!("desktop: the login page rendered and `setup_status` answered over IPC: {report}");
    println!("screenshot: {}", artifacts.join("desktop.png").display());
    Ok(())
}
