//! The services the tests need, started under one temporary directory and stopped when the
//! [`Stack`] is dropped (also when a step fails): a private PostgreSQL cluster with Supabase's
//! roles and the project's migrations.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::install;

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
        stack.start_postgres(root)?;
        Ok(stack)
    }

    /// `KEY=value` pairs for the test processes.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
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

    /// Runs the pgTAP policy and function tests with pg_prove.
    pub fn pg_prove(&self, root: &Path) -> anyhow::Result<()> {
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
        let status = command.status().context("cannot start pg_prove")?;
        if !status.success() {
            bail!("pgTAP tests failed ({status})");
        }
        Ok(())
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        for (name, child) in self.children.iter_mut().rev() {
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

/// A TCP port nothing listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
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
#[allow(dead_code, reason = "used by the services the next steps start")]
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
