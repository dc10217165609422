//! Installs what building and testing Hark needs, idempotently: Debian packages via apt.
//! On other systems it names exactly what to install instead.

use std::process::Command;

use anyhow::{Context, bail};

/// Debian/Ubuntu packages the build and the tests need, with why.
pub const APT_PACKAGES: &[(&str, &str)] = &[
    (
        "build-essential",
        "C compiler for crates with C parts (ring, libopus)",
    ),
    ("cmake", "builds the bundled libopus (opus crate)"),
    ("pkg-config", "locates system libraries for -sys crates"),
    (
        "postgresql",
        "the real PostgreSQL the Supabase schema is tested on",
    ),
    (
        "libtap-parser-sourcehandler-pgtap-perl",
        "pg_prove, runs the pgTAP policy tests",
    ),
    (
        "nginx-light",
        "the gateway that makes postrust and the Auth stand-in one Supabase URL",
    ),
    ("libasound2-dev", "ALSA headers for cpal (audio capture)"),
    (
        "libpulse-dev",
        "libpulse, Hark's capture client on PulseAudio and PipeWire",
    ),
    (
        "pulseaudio",
        "the sound server behind the tests' virtual microphone",
    ),
    (
        "pulseaudio-utils",
        "pactl, paplay, parec and pacat drive the virtual microphone",
    ),
    ("espeak-ng", "speaks the test utterances"),
    ("sox", "makes DTMF tones and converts test audio"),
    ("opus-tools", "opusenc, the baseline of the audio benchmark"),
    (
        "dbus-daemon",
        "a private D-Bus session for the keyring tests",
    ),
    (
        "dbus-bin",
        "dbus-send, sees when the keyring owns its D-Bus name",
    ),
    (
        "gnome-keyring",
        "a real Secret Service, where the app keeps the refresh token",
    ),
    (
        "libsecret-tools",
        "secret-tool, checks the keyring is ready",
    ),
    (
        "libwebkit2gtk-4.1-dev",
        "WebKitGTK, the desktop app's webview (Tauri 2)",
    ),
    ("libssl-dev", "OpenSSL headers for Tauri's build"),
    (
        "libayatana-appindicator3-dev",
        "the desktop app's tray icon on Linux",
    ),
    ("librsvg2-dev", "SVG icons in the desktop app"),
    (
        "libxdo-dev",
        "keyboard shortcuts in the desktop app's menus",
    ),
    (
        "xvfb",
        "a virtual display for the desktop app's end-to-end tests",
    ),
    ("xauth", "display authorisation for Xvfb"),
    (
        "xdotool",
        "presses the desktop app's global shortcuts in end-to-end tests",
    ),
    (
        "webkit2gtk-driver",
        "WebKitWebDriver, drives the real app window in end-to-end tests",
    ),
    ("chromium", "headless Chromium for the UI's flow tests"),
];

/// The tauri-driver release the end-to-end tests use (WebDriver in front of WebKitWebDriver).
pub const TAURI_DRIVER_VERSION: &str = "2.1.0";

/// Tools that must be on PATH whatever the system.
const TOOLS: &[(&str, &str)] = &[
    ("cc", "a C compiler"),
    ("cmake", "CMake"),
    ("pkg-config", "pkg-config"),
];

/// Makes sure the system packages are present, installing the missing ones with apt.
pub fn ensure_system_packages() -> anyhow::Result<()> {
    if !is_apt_system() {
        let missing: Vec<_> = TOOLS.iter().filter(|(tool, _)| !on_path(tool)).collect();
        if missing.is_empty() {
            return Ok(());
        }
        let names: Vec<_> = missing.iter().map(|(_, what)| *what).collect();
        bail!(
            "missing: {}. This is not a Debian/Ubuntu machine, so install them yourself:\n  \
             macOS:   xcode-select --install && brew install cmake pkg-config\n  \
             Fedora:  sudo dnf install gcc gcc-c++ make cmake pkgconf-pkg-config\n  \
             Arch:    sudo pacman -S base-devel cmake pkgconf\n  \
             Windows: install Visual Studio Build Tools (C++), CMake, and pkg-config (e.g. via winget)\n\
             then run the command again",
            names.join(", ")
        );
    }
    let missing: Vec<&str> = APT_PACKAGES
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| !dpkg_installed(name))
        .collect();
    let sudo = if is_root() { None } else { Some("sudo") };
    if !missing.is_empty() {
        println!("xtask: installing Debian packages: {}", missing.join(" "));
        apt(sudo, &["update", "-qq"])?;
        let mut install = vec!["install", "-y", "-qq", "--no-install-recommends"];
        install.extend(&missing);
        apt(sudo, &install)?;
    }
    // pgTAP is packaged per server version (postgresql-15-pgtap on Debian 12).
    let pgtap = format!("postgresql-{}-pgtap", postgres_major_version()?);
    if !dpkg_installed(&pgtap) {
        println!("xtask: installing Debian package: {pgtap}");
        if apt(
            sudo,
            &["install", "-y", "-qq", "--no-install-recommends", &pgtap],
        )
        .is_err()
        {
            apt(sudo, &["update", "-qq"])?;
            apt(
                sudo,
                &["install", "-y", "-qq", "--no-install-recommends", &pgtap],
            )?;
        }
    }
    Ok(())
}

/// The major version of the newest installed PostgreSQL server.
fn postgres_major_version() -> anyhow::Result<u32> {
    std::fs::read_dir("/usr/lib/postgresql")
        .context("no PostgreSQL server under /usr/lib/postgresql")?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .max()
        .context("no PostgreSQL server version under /usr/lib/postgresql")
}

fn apt(sudo: Option<&str>, args: &[&str]) -> anyhow::Result<()> {
    let mut command = match sudo {
        Some(sudo) => {
            let mut command = Command::new(sudo);
            command.arg("apt-get");
            command
        }
        None => Command::new("apt-get"),
    };
    command.args(args).env("DEBIAN_FRONTEND", "noninteractive");
    let status = command.status().context("cannot run apt-get")?;
    if !status.success() {
        bail!(
            "apt-get {} failed ({status}); run it by hand to see why",
            args.join(" ")
        );
    }
    Ok(())
}

fn is_apt_system() -> bool {
    let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let debian_like = os_release.lines().any(|line| {
        (line.starts_with("ID=") || line.starts_with("ID_LIKE="))
            && (line.contains("debian") || line.contains("ubuntu"))
    });
    debian_like && on_path("apt-get") && on_path("dpkg-query")
}

fn dpkg_installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

/// Whether we run as root (apt without sudo; PostgreSQL tools run as `postgres`).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Whether `tool` is an executable on PATH.
pub fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
        .unwrap_or(false)
}

/// The postrust-server version the tests run (a PostgREST-compatible server).
const POSTRUST_VERSION: &str = "3.1.0";

/// The postrust binary, installed with cargo into a cache outside the clone if missing
/// (≈8 minutes on 2 cores the first time; later runs reuse it).
pub fn ensure_postrust() -> anyhow::Result<std::path::PathBuf> {
    if let Some(path) = std::env::var_os("HARK_POSTRUST") {
        return Ok(path.into());
    }
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    let root = std::path::Path::new(&home).join(".cache/hark/tools");
    let binary = root.join("bin/postrust");
    // cargo install records what it installed; the binary itself has no --version.
    let record = std::fs::read_to_string(root.join(".crates.toml")).unwrap_or_default();
    let installed =
        binary.is_file() && record.contains(&format!("postrust-server {POSTRUST_VERSION}"));
    if !installed {
        println!(
            "xtask: installing postrust-server {POSTRUST_VERSION} into {} (takes minutes, once)",
            root.display()
        );
        // Not --locked: one locked dependency is missing from our registry mirror.
        let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .args([
                "install",
                "--quiet",
                "postrust-server",
                "--version",
                POSTRUST_VERSION,
                "--root",
            ])
            .arg(&root)
            .status()
            .context("cannot run cargo install")?;
        if !status.success() {
            bail!("cargo install postrust-server {POSTRUST_VERSION} failed ({status})");
        }
    }
    Ok(binary)
}

/// The nginx binary (Debian installs it in /usr/sbin, which a non-root PATH may lack).
pub fn nginx_binary() -> anyhow::Result<std::path::PathBuf> {
    [
        "/usr/sbin/nginx",
        "/usr/bin/nginx",
        "/usr/local/sbin/nginx",
        "/opt/homebrew/bin/nginx",
    ]
    .iter()
    .map(std::path::PathBuf::from)
    .find(|path| path.is_file())
    .context("nginx is not installed: install the nginx-light package")
}

/// A cargo-installed tool in the cache outside the clone, installed if missing.
pub fn ensure_cargo_tool(name: &str, version: &str) -> anyhow::Result<std::path::PathBuf> {
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    let root = std::path::Path::new(&home).join(".cache/hark/tools");
    let binary = root.join("bin").join(name);
    let record = std::fs::read_to_string(root.join(".crates.toml")).unwrap_or_default();
    if !(binary.is_file() && record.contains(&format!("{name} {version}"))) {
        println!("xtask: installing {name} {version} into {}", root.display());
        let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .args([
                "install",
                "--quiet",
                "--locked",
                name,
                "--version",
                version,
                "--root",
            ])
            .arg(&root)
            .status()
            .context("cannot run cargo install")?;
        if !status.success() {
            bail!("cargo install {name} {version} failed ({status})");
        }
    }
    Ok(binary)
}
