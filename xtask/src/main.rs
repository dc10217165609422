//! `cargo xtask`: the project's two commands. `run` starts the product, `test` installs what the
//! tests need on a Debian/Ubuntu machine, starts their services and runs every check.

mod install;
mod run;
mod stack;
#[cfg(test)]
mod tidy;

use std::process::ExitCode;

const USAGE: &str = "\
Usage:
  cargo xtask run  [ARGS…]   run Hark (for now: the OpenAI Realtime emulator; ARGS go to it)
  cargo xtask test           install what is missing, then fmt, clippy and every test
  cargo xtask install        only install what is missing (Debian/Ubuntu)
  cargo xtask stack          start the test services, print their environment, stop on Enter
  cargo xtask fuzz [SECS]    fuzz the proxy's offer validation with cargo-fuzz (default 60 s)";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let command = args.next();
    let rest: Vec<String> = args.collect();
    let outcome = match command.as_deref() {
        Some("run") => run::run(&rest),
        Some("test") => run::test(),
        Some("install") => install::ensure_system_packages(),
        Some("stack") => run::stack(),
        Some("fuzz") => run::fuzz(rest.first().map(String::as_str).unwrap_or("60")),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        other => {
            eprintln!("unknown command {other:?}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: {err:#}");
            ExitCode::FAILURE
        }
    }
}
