//! The browser end-to-end test: a fresh `a2e serve` on a temp data dir, driven in Debian's
//! Chromium by `frontend/e2e/run.mjs` (playwright-core). Screenshots land in
//! `<target>/e2e-artifacts`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context, Result};

/// Debian packages of the browser the test drives.
const BROWSER_PACKAGES: &[&str] = &["chromium"];

/// Where Chromium is: `A2E_CHROMIUM`, or Debian's /usr/bin/chromium, installed with apt-get when
/// running as root. Without it the test fails and says what to install; it is never skipped.
fn chromium() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("A2E_CHROMIUM") {
        return Ok(PathBuf::from(path));
    }
    let debian = PathBuf::from("/usr/bin/chromium");
    if debian.is_file() {
        return Ok(debian);
    }
    let is_root = Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if is_root && Path::new("/usr/bin/apt-get").exists() {
        super::step(&format!("installing Debian packages for the browser test: {}", BROWSER_PACKAGES.join(" ")));
        let update = Command::new("apt-get").args(["update", "-q"]).status()?;
        let install = Command::new("apt-get").args(["install", "-y", "-q"]).args(BROWSER_PACKAGES).status()?;
        if update.success() && install.success() && debian.is_file() {
            return Ok(debian);
        }
        bail!("apt-get could not install {}", BROWSER_PACKAGES.join(" "));
    }
    bail!(
        "the browser end-to-end test needs Chromium: install it (Debian/Ubuntu: sudo apt-get install {}) or point A2E_CHROMIUM at a Chromium or Chrome binary",
        BROWSER_PACKAGES.join(" ")
    )
}

/// Kills the server when the test ends, however it ends.
pub struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `a2e serve` on a free port of 127.0.0.1 with `data` as its data dir; answers the
/// running server and its URL.
pub fn serve(a2e: &Path, data: &Path, extra: &[&str]) -> Result<(Server, String)> {
    let mut child = Command::new(a2e)
        .args(["--data-dir"])
        .arg(data)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .args(extra)
        .env("RUST_LIB_BACKTRACE", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {} serve", a2e.display()))?;
    let stdout = child.stdout.take().expect("piped");
    let server = Server(child);
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        let Some(line) = lines.next() else {
            bail!("a2e serve ended before it listened");
        };
        let line = line?;
        if let Some(rest) = line.strip_prefix("a2e listening on ") {
            break rest.split_whitespace().next().unwrap_or_default().to_owned();
        }
    };
    // Keep draining the server's output so it never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Ok((server, url))
}

pub fn run(root: &Path, target: &Path) -> Result<()> {
    let browser = chromium()?;
    super::step("browser end-to-end test (Chromium, playwright-core)");
    let a2e = target.join("debug").join("a2e");
    let work = target.join("e2e");
    let _ = std::fs::remove_dir_all(&work);
    let data = work.join("data");
    let template = work.join("template");
    let artifacts = target.join("e2e-artifacts");
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&work)?;

    let built = Command::new(&a2e)
        .args(["plugin", "build", "--out"])
        .arg(&template)
        .arg(root.join("plugins").join("template"))
        .stdout(Stdio::null())
        .status()
        .with_context(|| format!("starting {}", a2e.display()))?;
    if !built.success() {
        bail!("`a2e plugin build plugins/template` failed");
    }

    let (server, url) = serve(&a2e, &data, &[])?;

    // The chat steps talk to a real model server (tools/model_server.py), stopped with the test.
    let python = std::env::var("A2E_PYTHON").unwrap_or_else(|_| "python3".into());
    let mut model = Command::new(&python)
        .arg(root.join("tools").join("model_server.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting the model server with {python}"))?;
    let mut ready = String::new();
    BufReader::new(model.stdout.take().expect("piped")).read_line(&mut ready)?;
    let model = Server(model);
    let openai = ready
        .split_whitespace()
        .find_map(|w| w.strip_prefix("openai="))
        .with_context(|| format!("the model server did not start: {ready:?}"))?
        .to_owned();
    let ollama = ready
        .split_whitespace()
        .find_map(|w| w.strip_prefix("ollama="))
        .with_context(|| format!("the model server did not start: {ready:?}"))?
        .to_owned();

    let status = Command::new("node")
        .arg("e2e/run.mjs")
        .arg(&url)
        .arg(&data)
        .arg(&template)
        .arg(&artifacts)
        .env("A2E_CHROMIUM", &browser)
        .env("A2E_MODEL_OPENAI_URL", &openai)
        .env("A2E_MODEL_OLLAMA_URL", &ollama)
        .current_dir(root.join("frontend"))
        .status()
        .context("starting node")?;
    drop(server);
    drop(model);
    if !status.success() {
        bail!("the browser end-to-end test failed; screenshots are in {}", artifacts.display());
    }
    Ok(())
}
