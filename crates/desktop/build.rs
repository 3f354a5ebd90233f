//! Tauri's build step. The app's commands are declared here so that Tauri generates one
//! permission per command (`allow-<command>`); `capabilities/main.json` grants the main window
//! exactly the ones the UI uses.

fn main() {
    let commands: Vec<&'static str> =
        include_str!("commands.txt").lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    // The manifest wants the list for the rest of the build script's life.
    let commands: &'static [&'static str] = Box::leak(commands.into_boxed_slice());
    tauri_build::try_build(
        tauri_build::Attributes::new().app_manifest(tauri_build::AppManifest::new().commands(commands)),
    )
    .expect("tauri build step");
}
