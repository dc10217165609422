//! A minimal Tauri 2 app: one window with a static page and no commands, for comparing the
//! desktop app's cold start and memory with what any Tauri 2 window costs (`--bench desktop`).

fn main() {
    if let Err(err) = tauri::Builder::default().run(tauri::generate_context!()) {
        eprintln!("baseline: {err}");
        std::process::exit(1);
    }
}
