//! The services the tests need, started under one temporary directory and stopped when the
//! [`Stack`] is dropped (also when a step fails): a private PostgreSQL cluster with Supabase's
//! roles and the project's migrations, the Supabase Auth stand-in, postrust (PostgREST) and an
//! nginx gateway that makes them one `SUPABASE_URL` checking `apikey` as Supabase's does.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::install;

// The test harness's port picker, so the services and the tests draw ports the same way.
#[path = "../../tests/src/ports.rs"]
mod ports;

/// The running services, and the environment that tells tests where they are.
pub struct Stack {
    dir: PathBuf,
    postgres: Option<Postgres>,
    children: Vec<(&'static str, Child)>,
    env: Vec<(String, String)>,
}

struct Postgres {
    bin_dir: PathBuf,
    data_dir: PathBuf,
    port: u16,
    as_postgres_user: bool,
}

impl Postgres {
    /// A command for a PostgreSQL server tool, run as `postgres` when we are root (they refuse root).
    fn server_tool(&self, tool: &str) -> Command {
        let program = self.bin_dir.join(tool);
        if self.as_postgres_user {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    fn psql(&self, database: &str) -> Command {
        let mut command = Command::new(self.bin_dir.join("psql"));
        command
            .args([
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
            ])
            .args(["-p", &self.port.to_string(), "-d", database]);
        command
    }
}

/// The database the tests use.
pub const DATABASE: &str = "hark";

impl Stack {
    /// Starts everything; on error, whatever already started is stopped.
    pub fn start(root: &Path) -> anyhow::Result<Stack> {
        let dir = std::env::temp_dir().join(format!("hark-test-{}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("cannot clear {}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        set_mode(&dir, 0o755)?;
        let mut stack = Stack {
            dir,
            postgres: None,
            children: Vec::new(),
            env: Vec::new(),
        };
        stack.start_pulseaudio()?;
        stack.start_keyring()?;
        stack.start_display()?;
        stack.start_postgres(root)?;
        stack.start_supabase_api()?;
        Ok(stack)
    }

    /// `KEY=value` pairs for the test processes.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// A private PulseAudio server with the tests' virtual microphone (a null sink whose monitor
    /// is remapped into the default source, fed silence by a low-latency keepalive so it never
    /// suspends) and virtual speakers whose monitor is the system-audio source.
    fn start_pulseaudio(&mut self) -> anyhow::Result<()> {
        let runtime = self.dir.join("pulse-runtime");
        std::fs::create_dir_all(&runtime)?;
        set_mode(&runtime, 0o700)?;
        let home = self.dir.join("pulse-home");
        std::fs::create_dir_all(&home)?;
        let socket = runtime.join("pulse/native");
        let mut command = Command::new("pulseaudio");
        command
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("HOME", &home)
            .args([
                "-n",
                "--daemonize=no",
                "--system=false",
                "--exit-idle-time=-1",
                "--disallow-exit=yes",
                "--log-target=stderr",
            ])
            .arg("-L")
            .arg(format!(
                "module-native-protocol-unix auth-anonymous=1 socket={}",
                socket.display()
            ))
            .args([
                "-L",
                "module-null-sink sink_name=hark_speakers rate=48000 channels=2 \
                 sink_properties=device.description=Hark-test-speakers",
                "-L",
                "module-null-sink sink_name=hark_mic_feed rate=48000 channels=1 format=s16le \
                 sink_properties=device.description=Hark-test-microphone-feed",
                "-L",
                "module-remap-source master=hark_mic_feed.monitor source_name=hark_mic \
                 source_properties=device.description=Hark-virtual-microphone",
            ]);
        self.spawn("PulseAudio", command)?;
        wait_for_socket(&socket, Duration::from_secs(10))
            .map_err(|err| anyhow::anyhow!("{err}\n{}", self.log_tail("PulseAudio")))?;
        let server = format!("unix:{}", socket.display());
        for args in [
            ["set-default-source", "hark_mic"],
            ["set-default-sink", "hark_speakers"],
        ] {
            run(
                "pactl",
                Command::new("pactl")
                    .env("PULSE_SERVER", &server)
                    .args(args),
            )?;
        }
        // Null sinks wake slowly from suspend and then deliver in bursts: keep both playing.
        for (name, sink, channels) in [
            ("microphone keepalive", "hark_mic_feed", "1"),
            ("speakers keepalive", "hark_speakers", "2"),
        ] {
            let mut keepalive = Command::new("pacat");
            keepalive
                .env("PULSE_SERVER", &server)
                .args(["--playback", "--latency-msec=10", "--rate=48000"])
                .arg(format!("--device={sink}"))
                .arg(format!("--channels={channels}"))
                .args(["--format=s16le", "/dev/zero"]);
            self.spawn(name, keepalive)?;
        }
        self.env.push(("PULSE_SERVER".into(), server));
        self.env
            .push(("HARK_TEST_VIRTUAL_MIC".into(), "hark_mic".into()));
        self.env
            .push(("HARK_TEST_VIRTUAL_MIC_FEED".into(), "hark_mic_feed".into()));
        self.env
            .push(("HARK_TEST_SPEAKERS".into(), "hark_speakers".into()));
        Ok(())
    }

    /// A private D-Bus session with GNOME Keyring as its Secret Service (login keyring created
    /// and unlocked), so the app's keyring path runs for real without touching the user's.
    fn start_keyring(&mut self) -> anyhow::Result<()> {
        let dir = self.dir.join("keyring");
        let runtime = dir.join("run");
        let home = dir.join("home");
        std::fs::create_dir_all(&runtime)?;
        std::fs::create_dir_all(&home)?;
        set_mode(&runtime, 0o700)?;
        let socket = dir.join("bus");
        let address = format!("unix:path={}", socket.display());
        let mut bus = Command::new("dbus-daemon");
        bus.args(["--session", "--nofork", "--nopidfile"])
            .arg(format!("--address={address}"));
        self.spawn("D-Bus session", bus)?;
        wait_for_socket(&socket, Duration::from_secs(10))
            .map_err(|err| anyhow::anyhow!("{err}\n{}", self.log_tail("D-Bus session")))?;

        let log = std::fs::File::create(self.dir.join("gnome-keyring.log"))?;
        let mut keyring = Command::new("gnome-keyring-daemon");
        keyring
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("HOME", &home)
            .args(["--foreground", "--components=secrets", "--unlock"])
            .stdin(Stdio::piped())
            .stdout(log.try_clone()?)
            .stderr(log);
        let mut child = keyring
            .spawn()
            .context("cannot start gnome-keyring-daemon (install the gnome-keyring package)")?;
        // The login keyring's password, then end of input: it is created and unlocked.
        if let Some(mut stdin) = child.stdin.take() {
            use std::io::Write;
            stdin.write_all(b"hark-test-keyring")?;
        }
        println!("xtask: started GNOME Keyring (pid {})", child.id());
        self.children.push(("GNOME Keyring", child));

        let deadline = Instant::now() + Duration::from_secs(15);
        // Wait until this daemon owns the Secret Service's name before anything asks for it: a
        // call to the name while it has no owner makes D-Bus start a second, locked keyring
        // (the desktop's activation file), which then takes the name from this one.
        loop {
            let owned = Command::new("dbus-send")
                .env("DBUS_SESSION_BUS_ADDRESS", &address)
                .args([
                    "--session",
                    "--print-reply",
                    "--dest=org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus.NameHasOwner",
                    "string:org.freedesktop.secrets",
                ])
                .output()
                .context("cannot run dbus-send (install the dbus-bin package)")?;
            if String::from_utf8_lossy(&owned.stdout).contains("boolean true") {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "GNOME Keyring did not take the Secret Service's D-Bus name\n{}",
                    self.log_tail("gnome-keyring")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        loop {
            let mut probe = Command::new("secret-tool")
                .env("DBUS_SESSION_BUS_ADDRESS", &address)
                .args(["store", "--label=hark probe", "hark-probe", "ready"])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .context("cannot run secret-tool (install the libsecret-tools package)")?;
            if let Some(mut stdin) = probe.stdin.take() {
                use std::io::Write;
                stdin.write_all(b"ok")?;
            }
            let output = probe.wait_with_output()?;
            if output.status.success() {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "the Secret Service did not come up: {}\n{}",
                    String::from_utf8_lossy(&output.stderr),
                    self.log_tail("gnome-keyring")
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        self.env.push(("DBUS_SESSION_BUS_ADDRESS".into(), address));
        Ok(())
    }

    /// A virtual X display (Xvfb) for the desktop app's WebKit window, and the WebDriver server
    /// (`tauri-driver`, which starts Debian's `WebKitWebDriver`) the end-to-end tests drive it with.
    fn start_display(&mut self) -> anyhow::Result<()> {
        use std::io::Read;
        let log = std::fs::File::create(self.dir.join("Xvfb.log"))?;
        // -displayfd: Xvfb picks a free display and writes its number when it is ready.
        let mut child = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1280x900x24",
                "-nolisten",
                "tcp",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .context("cannot start Xvfb (install the xvfb package)")?;
        let mut stdout = child.stdout.take().context("Xvfb has no stdout")?;
        let mut number = String::new();
        let mut byte = [0u8; 1];
        while stdout.read(&mut byte)? == 1 && byte[0] != b'\n' {
            number.push(byte[0] as char);
        }
        println!(
            "xtask: started Xvfb on :{} (pid {})",
            number.trim(),
            child.id()
        );
        self.children.push(("Xvfb", child));
        if number.trim().parse::<u32>().is_err() {
            bail!("Xvfb did not report its display\n{}", self.log_tail("Xvfb"));
        }
        self.env
            .push(("DISPLAY".into(), format!(":{}", number.trim())));
        let driver = install::ensure_cargo_tool("tauri-driver", install::TAURI_DRIVER_VERSION)?;
        self.env.push((
            "HARK_TEST_TAURI_DRIVER".into(),
            driver.display().to_string(),
        ));
        Ok(())
    }

    fn start_postgres(&mut self, root: &Path) -> anyhow::Result<()> {
        let bin_dir = postgres_bin_dir()?;
        let as_postgres_user = install::is_root();
        let pg_dir = self.dir.join("postgres");
        std::fs::create_dir_all(&pg_dir)?;
        if as_postgres_user {
            run(
                "chown postgres",
                Command::new("chown").arg("postgres").arg(&pg_dir),
            )?;
        }
        let postgres = Postgres {
            bin_dir,
            data_dir: pg_dir.join("data"),
            port: free_port()?,
            as_postgres_user,
        };
        run(
            "initdb",
            postgres
                .server_tool("initdb")
                .arg("-D")
                .arg(&postgres.data_dir)
                .args([
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                ]),
        )?;
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            postgres.port,
            pg_dir.display()
        );
        run(
            "pg_ctl start",
            postgres
                .server_tool("pg_ctl")
                .arg("-D")
                .arg(&postgres.data_dir)
                .args(["-o", &options, "-l"])
                .arg(pg_dir.join("server.log"))
                .args(["-w", "-t", "30", "start"]),
        )?;
        self.postgres = Some(postgres);
        let postgres = self.postgres.as_ref().expect("just set");
        run(
            "create database",
            postgres
                .psql("postgres")
                .args(["-c", &format!("create database {DATABASE}")]),
        )?;
        // What the Supabase platform provides, then the project's migrations in file order (as
        // `supabase db push` applies them), then the seed.
        let mut files = vec![root.join("tests/supabase/bootstrap.sql")];
        let mut migrations: Vec<PathBuf> = std::fs::read_dir(root.join("supabase/migrations"))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
            .collect();
        migrations.sort();
        files.extend(migrations);
        files.push(root.join("supabase/seed.sql"));
        for file in files {
            run(
                &format!("apply {}", file.display()),
                postgres.psql(DATABASE).arg("-f").arg(&file),
            )?;
        }
        let url = format!("postgres://postgres@127.0.0.1:{}/{DATABASE}", postgres.port);
        self.env.push(("HARK_TEST_DATABASE_URL".into(), url));
        self.env.push(("PGHOST".into(), "127.0.0.1".into()));
        self.env.push(("PGPORT".into(), postgres.port.to_string()));
        self.env.push(("PGUSER".into(), "postgres".into()));
        self.env.push(("PGDATABASE".into(), DATABASE.into()));
        Ok(())
    }

    fn start_supabase_api(&mut self) -> anyhow::Result<()> {
        let pg_port = self
            .postgres
            .as_ref()
            .context("PostgreSQL is not running")?
            .port;
        let (gateway_port, auth_port, rest_port) = (free_port()?, free_port()?, free_port()?);
        let supabase_url = format!("http://127.0.0.1:{gateway_port}");
        let jwt_secret = random_hex(32)?;
        let database_url = format!("postgres://postgres@127.0.0.1:{pg_port}/{DATABASE}");
        let keys_file = self.dir.join("api-keys.json");
        let standin = target_dir().join("debug/supabase-auth-standin");
        if !standin.is_file() {
            bail!(
                "{} is missing: build it with `cargo build -p hark-tests --bins`",
                standin.display()
            );
        }
        let mut auth = Command::new(&standin);
        auth.args(["--listen", &format!("127.0.0.1:{auth_port}")])
            .args(["--issuer", &format!("{supabase_url}/auth/v1")])
            .args(["--database-url", &database_url, "--jwt-secret", &jwt_secret])
            .arg("--keys-out")
            .arg(&keys_file);
        self.spawn("Supabase Auth stand-in", auth)?;
        wait_for_port(
            "the Supabase Auth stand-in",
            auth_port,
            Duration::from_secs(20),
        )?;
        let keys = wait_for_file(&keys_file, Duration::from_secs(10))?;
        let anon_key = json_field(&keys, "anon_key")?;
        let service_key = json_field(&keys, "service_role_key")?;

        let postrust_bin = install::ensure_postrust()?;
        let db_uri =
            format!("postgres://authenticator:authenticator@127.0.0.1:{pg_port}/{DATABASE}");
        // For tests that stop and restart a project of their own in the middle of a sync.
        self.env.extend([
            (
                "HARK_TEST_POSTRUST_BIN".to_owned(),
                postrust_bin.display().to_string(),
            ),
            ("HARK_TEST_POSTRUST_DB_URI".to_owned(), db_uri.clone()),
            (
                "HARK_TEST_NGINX_BIN".to_owned(),
                install::nginx_binary()?.display().to_string(),
            ),
        ]);
        let mut postrust = Command::new(postrust_bin);
        postrust
            .env("PGRST_DB_URI", db_uri)
            .env("PGRST_DB_SCHEMAS", "public")
            .env("PGRST_DB_ANON_ROLE", "anon")
            .env("PGRST_JWT_SECRET", &jwt_secret)
            .env(
                "PGRST_JWT_JWKS_URL",
                format!("http://127.0.0.1:{auth_port}/.well-known/jwks.json"),
            )
            .env("PGRST_SERVER_HOST", "127.0.0.1")
            .env("PGRST_SERVER_PORT", rest_port.to_string())
            .env("PGRST_COMPAT_MODE", "true")
            .env("PGRST_DB_CHANNEL_ENABLED", "true")
            // PostgREST has no body limit; postrust's default (10 MiB) would answer a large sync
            // before sync_session can say what to do about it.
            .env("PGRST_MAX_BODY_SIZE", (16 * 1024 * 1024).to_string())
            .env("PGRST_LOG_LEVEL", "warn");
        self.spawn("postrust", postrust)?;
        wait_for_http_ok("postrust", rest_port, "/healthz", Duration::from_secs(30))
            .with_context(|| self.log_tail("postrust"))?;

        let nginx_dir = self.dir.join("nginx");
        std::fs::create_dir_all(&nginx_dir)?;
        let conf = nginx_dir.join("nginx.conf");
        std::fs::write(
            &conf,
            gateway_config(
                &nginx_dir,
                gateway_port,
                rest_port,
                auth_port,
                &anon_key,
                &service_key,
            ),
        )?;
        let mut nginx = Command::new(install::nginx_binary()?);
        nginx
            .arg("-p")
            .arg(&nginx_dir)
            .arg("-e")
            .arg(nginx_dir.join("startup.log"))
            .arg("-c")
            .arg(&conf)
            .args(["-g", "daemon off;"]);
        self.spawn("nginx gateway", nginx)?;
        wait_for_port("the nginx gateway", gateway_port, Duration::from_secs(10)).with_context(
            || {
                let startup =
                    std::fs::read_to_string(nginx_dir.join("startup.log")).unwrap_or_default();
                format!("{}\n{startup}", self.log_tail("nginx gateway"))
            },
        )?;

        self.env.extend([
            ("HARK_TEST_SUPABASE_URL".to_owned(), supabase_url),
            ("HARK_TEST_SUPABASE_ANON_KEY".to_owned(), anon_key),
            ("HARK_TEST_SUPABASE_SERVICE_KEY".to_owned(), service_key),
            ("HARK_TEST_JWT_SECRET".to_owned(), jwt_secret),
            (
                "HARK_TEST_POSTRUST_URL".to_owned(),
                format!("http://127.0.0.1:{rest_port}"),
            ),
            (
                "HARK_TEST_AUTH_URL".to_owned(),
                format!("http://127.0.0.1:{auth_port}"),
            ),
        ]);
        Ok(())
    }

    /// The last lines a service wrote, for error messages.
    fn log_tail(&self, name: &str) -> String {
        let text =
            std::fs::read_to_string(self.dir.join(format!("{}.log", name.replace(' ', "-"))))
                .unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "{name} said:\n{}",
            lines[lines.len().saturating_sub(20)..].join("\n")
        )
    }

    /// Starts a service with its output in `<stack dir>/<name>.log`.
    fn spawn(&mut self, name: &'static str, mut command: Command) -> anyhow::Result<()> {
        let log = std::fs::File::create(self.dir.join(format!("{}.log", name.replace(' ', "-"))))?;
        command
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        println!("xtask: started {name} (pid {})", child.id());
        self.children.push((name, child));
        Ok(())
    }

    /// Runs the pgTAP policy and function tests with pg_prove; returns how many passed.
    pub fn pg_prove(&self, root: &Path) -> anyhow::Result<u64> {
        let mut tests: Vec<PathBuf> = std::fs::read_dir(root.join("supabase/tests"))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.to_string_lossy().ends_with(".test.sql"))
            .collect();
        tests.sort();
        let mut command = Command::new("pg_prove");
        command
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .arg("--failures")
            .args(&tests);
        println!("xtask: pg_prove supabase/tests");
        let output = command
            .stderr(Stdio::inherit())
            .output()
            .context("cannot start pg_prove")?;
        let text = String::from_utf8_lossy(&output.stdout);
        print!("{text}");
        if !output.status.success() {
            bail!("pgTAP tests failed ({})", output.status);
        }
        // "Files=2, Tests=497, …": every planned test passed.
        let n_tests = text
            .lines()
            .find_map(|line| {
                line.split("Tests=")
                    .nth(1)?
                    .split(',')
                    .next()?
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap_or(0);
        Ok(n_tests)
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        for (name, child) in self.children.iter_mut().rev() {
            // SIGTERM first, so a service stops its own children (nginx its workers); then
            // SIGKILL whatever is still there after two seconds.
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(2);
            while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
            println!("xtask: stopped {name}");
        }
        if let Some(postgres) = &self.postgres {
            let _ = postgres
                .server_tool("pg_ctl")
                .arg("-D")
                .arg(&postgres.data_dir)
                .args(["-m", "immediate", "-w", "stop"])
                .stdout(Stdio::null())
                .status();
            println!("xtask: stopped PostgreSQL");
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The newest installed PostgreSQL server's binaries.
fn postgres_bin_dir() -> anyhow::Result<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dir| {
            dir.filter_map(|e| e.ok().map(|e| e.path().join("bin")))
                .collect()
        })
        .unwrap_or_default();
    versions.retain(|bin| bin.join("initdb").is_file() && bin.join("pg_ctl").is_file());
    versions.sort();
    versions.pop().context(
        "no PostgreSQL server found under /usr/lib/postgresql: install the `postgresql` package",
    )
}

/// A loopback port for a service to listen on soon (see `tests/src/ports.rs`).
pub fn free_port() -> anyhow::Result<u16> {
    ports::free_port().context("no free port in 15000-24999 for a test service")
}

fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot chmod {}", path.display()))
}

/// Runs a command to completion, showing its output only when it fails.
fn run(name: &str, command: &mut Command) -> anyhow::Result<()> {
    let output = command
        .output()
        .with_context(|| format!("cannot start {name}"))?;
    if !output.status.success() {
        bail!(
            "{name} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// Waits until something accepts TCP connections on `port`.
pub fn wait_for_port(name: &str, port: u16, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("{name} did not listen on port {port} within {timeout:?}")
}

/// Waits until `GET path` on `port` answers 200.
fn wait_for_http_ok(name: &str, port: u16, path: &str, timeout: Duration) -> anyhow::Result<()> {
    use std::io::{Read, Write};
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
            let mut answer = String::new();
            if stream.write_all(request.as_bytes()).is_ok()
                && stream.read_to_string(&mut answer).is_ok()
                && answer
                    .lines()
                    .next()
                    .is_some_and(|status| status.contains(" 200 "))
            {
                return Ok(());
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("{name} was not ready at {path} on port {port} within {timeout:?}")
}

fn wait_for_socket(path: &Path, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if path.exists() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("{} did not appear within {timeout:?}", path.display())
}

fn wait_for_file(path: &Path, timeout: Duration) -> anyhow::Result<String> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(text) = std::fs::read_to_string(path)
            && !text.is_empty()
        {
            return Ok(text);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("{} did not appear within {timeout:?}", path.display())
}

/// Reads one string field of a flat JSON object (xtask has no JSON parser and needs none).
fn json_field(json: &str, field: &str) -> anyhow::Result<String> {
    let key = format!("\"{field}\":\"");
    let start = json
        .find(&key)
        .with_context(|| format!("no {field} in {json}"))?
        + key.len();
    let end = json[start..].find('"').context("unterminated string")? + start;
    Ok(json[start..end].to_owned())
}

fn random_hex(n_bytes: usize) -> anyhow::Result<String> {
    use std::io::Read;
    let mut bytes = vec![0u8; n_bytes];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Where cargo puts build output for this workspace.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")).to_path_buf()
        })
}

/// nginx as Supabase's API gateway: `/rest/v1/` to postrust and `/auth/v1/` to the Auth
/// stand-in, refusing requests without a valid `apikey`; a REST request without a user token
/// is made with the key itself (the anon or service role), as Supabase does.
fn gateway_config(
    dir: &Path,
    port: u16,
    rest_port: u16,
    auth_port: u16,
    anon_key: &str,
    service_key: &str,
) -> String {
    let dir = dir.display();
    let key_checks = r#"
      if ($http_apikey = "") { return 401 '{"message":"No API key found in request","hint":"No `apikey` request header or url param was found."}'; }
      if ($hark_apikey_ok = 0) { return 401 '{"message":"Invalid API key","hint":"Double check your Supabase `anon` or `service_role` API key."}'; }"#;
    format!(
        r#"worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 512; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  client_max_body_size 20m;
  map_hash_bucket_size 512;
  default_type application/json;
  map $http_apikey $hark_apikey_ok {{ "{anon_key}" 1; "{service_key}" 1; default 0; }}
  map $http_authorization $hark_authorization {{ "" "Bearer $http_apikey"; default $http_authorization; }}
  server {{
    listen 127.0.0.1:{port};
    location /rest/v1/ {{{key_checks}
      proxy_set_header Authorization $hark_authorization;
      proxy_pass http://127.0.0.1:{rest_port}/;
    }}
    # The signing keys are public, as on Supabase: verifiers fetch them without a key.
    location = /auth/v1/.well-known/jwks.json {{
      proxy_pass http://127.0.0.1:{auth_port}/.well-known/jwks.json;
    }}
    # The browser reaches the provider hand-off without a key, as on Supabase.
    location /auth/v1/authorize {{
      proxy_pass http://127.0.0.1:{auth_port}/authorize;
    }}
    # So does an email's sign-in link.
    location = /auth/v1/verify {{
      proxy_pass http://127.0.0.1:{auth_port}/verify$is_args$args;
    }}
    location /auth/v1/ {{{key_checks}
      proxy_pass http://127.0.0.1:{auth_port}/;
    }}
  }}
}}
"#
    )
}
