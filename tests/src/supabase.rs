//! The tests' view of the local Supabase stack that `cargo xtask test` starts (PostgreSQL with
//! the project's migrations, postrust, the Auth stand-in, and the apikey-checking gateway): a
//! project URL and keys, users that sign in through GoTrue's API, and a PostgREST client.

use serde_json::{Value, json};
use uuid::Uuid;

/// A Supabase project as a client is configured for it.
#[derive(Debug, Clone)]
pub struct Project {
    /// `SUPABASE_URL`.
    pub url: String,
    /// The anon (publishable) key.
    pub anon_key: String,
    /// The service-role key (server side only).
    pub service_key: String,
}

/// A signed-in user.
#[derive(Debug, Clone)]
pub struct Session {
    /// `auth.users.id`.
    pub user_id: Uuid,
    /// The ES256 access token.
    pub access_token: String,
    /// The rotating refresh token.
    pub refresh_token: String,
    /// The whole token response.
    pub response: Value,
}

/// Status and JSON body of an HTTP answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Parsed body (`Null` when empty, a string when not JSON).
    pub body: Value,
}

impl Reply {
    /// PostgREST's error `code` (a SQLSTATE), if the body is an error.
    pub fn code(&self) -> Option<&str> {
        self.body.get("code").and_then(Value::as_str)
    }

    /// The error message, if any.
    pub fn message(&self) -> &str {
        self.body
            .get("message")
            .or_else(|| self.body.get("msg"))
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

fn parse(status: u16, text: &str) -> Reply {
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(text).unwrap_or(Value::String(text.to_owned()))
    };
    Reply { status, body }
}

/// Runs a PostgREST request and reads its answer.
pub async fn send(builder: postgrest::Builder) -> Reply {
    let response = builder.execute().await.expect("the gateway answers");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    parse(status, &text)
}

impl Project {
    /// The stack `cargo xtask test` (or `cargo xtask stack`) started, from its environment.
    ///
    /// # Panics
    /// When the stack is not running, with the command that starts it.
    pub fn from_env() -> Project {
        let var = |name: &str| {
            std::env::var(name).unwrap_or_else(|_| {
                panic!("{name} is not set: the Supabase test stack is not running. Run the tests with `cargo xtask test`, or start the stack with `cargo xtask stack` and export what it prints")
            })
        };
        Project {
            url: var("HARK_TEST_SUPABASE_URL"),
            anon_key: var("HARK_TEST_SUPABASE_ANON_KEY"),
            service_key: var("HARK_TEST_SUPABASE_SERVICE_KEY"),
        }
    }

    /// A PostgREST client as a signed-in user (or anon with `None`).
    pub fn rest(&self, session: Option<&Session>) -> postgrest::Postgrest {
        let client = postgrest::Postgrest::new(format!("{}/rest/v1", self.url))
            .insert_header("apikey", &self.anon_key);
        match session {
            Some(session) => {
                client.insert_header("Authorization", format!("Bearer {}", session.access_token))
            }
            None => client,
        }
    }

    /// Calls a GoTrue endpoint (`path` after `/auth/v1`) with the anon key.
    pub async fn auth(
        &self,
        method: reqwest::Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = crate::http()
            .request(method, format!("{}/auth/v1{path}", self.url))
            .header("apikey", &self.anon_key);
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the gateway answers");
        let status = response.status().as_u16();
        parse(status, &response.text().await.unwrap_or_default())
    }

    /// Creates a user with a password (GoTrue's admin API, as a project admin would).
    pub async fn create_user(&self, email: &str, password: &str) -> Uuid {
        let reply = self
            .auth(
                reqwest::Method::POST,
                "/admin/users",
                Some(&self.service_key),
                Some(json!({"email": email, "password": password, "email_confirm": true})),
            )
            .await;
        assert_eq!(reply.status, 200, "create user {email}: {:?}", reply.body);
        reply.body["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .expect("user id")
    }

    /// Signs in with a password.
    pub async fn sign_in(&self, email: &str, password: &str) -> Session {
        let reply = self
            .auth(
                reqwest::Method::POST,
                "/token?grant_type=password",
                None,
                Some(json!({"email": email, "password": password})),
            )
            .await;
        assert_eq!(reply.status, 200, "sign in {email}: {:?}", reply.body);
        session_from(reply.body)
    }

    /// The last one-time code the Auth stand-in "mailed" to `email` (waiting up to 10 s for it).
    pub async fn mailed_code(&self, email: &str) -> String {
        self.mailed(email, "code").await
    }

    /// The sign-in link in the last email to `email` (what the recruiter clicks).
    pub async fn mailed_link(&self, email: &str) -> String {
        let path = self.mailed(email, "link_path").await;
        format!("{}/auth/v1{path}", self.url)
    }

    /// `field` of the last email to `email`; the sender may be another process, so the mail
    /// is waited for (up to 10 s).
    async fn mailed(&self, email: &str, field: &str) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let mail = self
                .auth(
                    reqwest::Method::GET,
                    &format!("/_standin/mailbox/{email}"),
                    None,
                    None,
                )
                .await;
            if let Some(value) = mail.body[field].as_str() {
                return value.to_owned();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no {field} was mailed to {email}: {:?}",
                mail.body
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Makes the Auth stand-in issue `email`'s access tokens for `seconds` only.
    pub async fn set_token_lifetime(&self, email: &str, seconds: u64) {
        let reply = self
            .auth(
                reqwest::Method::PUT,
                "/_standin/config",
                None,
                Some(json!({"email": email, "access_token_ttl_secs": seconds})),
            )
            .await;
        assert_eq!(reply.status, 204, "{:?}", reply.body);
    }

    /// A new user with a unique address, signed in.
    pub async fn new_user(&self, label: &str) -> Session {
        let email = format!("{label}-{}@example.test", Uuid::new_v4().simple());
        self.create_user(&email, "correct horse battery").await;
        self.sign_in(&email, "correct horse battery").await
    }

    /// Calls an RPC function as `session`.
    pub async fn rpc(&self, session: &Session, function: &str, params: Value) -> Reply {
        send(self.rest(Some(session)).rpc(function, params.to_string())).await
    }

    /// A new organisation owned by `owner`, with `members` added at their roles; returns its id.
    pub async fn organization(&self, owner: &Session, members: &[(&Session, &str)]) -> Uuid {
        let reply = self
            .rpc(
                owner,
                "create_organization",
                json!({"name": format!("Org {}", Uuid::new_v4().simple())}),
            )
            .await;
        assert_eq!(reply.status, 200, "create_organization: {:?}", reply.body);
        let org: Uuid = reply
            .body
            .as_str()
            .and_then(|id| id.parse().ok())
            .expect("org id");
        for (member, role) in members {
            let row = json!({"org_id": org, "user_id": member.user_id, "role": role});
            let reply = send(
                self.rest(Some(owner))
                    .from("memberships")
                    .insert(row.to_string()),
            )
            .await;
            assert_eq!(reply.status, 201, "add member: {:?}", reply.body);
        }
        org
    }

    /// A candidate and an interview in `org`, created by `by`; returns the interview id.
    pub async fn interview(&self, by: &Session, org: Uuid) -> Uuid {
        let candidate = send(
            self.rest(Some(by))
                .from("candidates")
                .insert(json!({"org_id": org, "full_name": "Grace Candidate"}).to_string()),
        )
        .await;
        assert_eq!(candidate.status, 201, "candidate: {:?}", candidate.body);
        let interview = json!({"org_id": org, "candidate_id": candidate.body[0]["id"], "job_title": "Platform Engineer"});
        let interview = send(
            self.rest(Some(by))
                .from("interviews")
                .insert(interview.to_string()),
        )
        .await;
        assert_eq!(interview.status, 201, "interview: {:?}", interview.body);
        interview.body[0]["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .expect("interview id")
    }
}

/// Reads a GoTrue token response.
pub fn session_from(body: Value) -> Session {
    Session {
        user_id: body["user"]["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .expect("user id in token response"),
        access_token: body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned(),
        refresh_token: body["refresh_token"]
            .as_str()
            .expect("refresh_token")
            .to_owned(),
        response: body,
    }
}

/// A `sync_session` payload for `interview` with `n_segments` alternating microphone/system
/// segments, one per second, and one bookmark.
pub fn session_payload(session_id: Uuid, interview: Uuid, n_segments: usize) -> Value {
    let segments: Vec<Value> = (0..n_segments)
        .map(|i| {
            json!({"id": Uuid::new_v4(), "source": if i % 2 == 0 { "microphone" } else { "system" },
                "speaker_label": if i % 2 == 0 { "You" } else { "Candidate" },
                "start_ms": i * 4800, "end_ms": i * 4800 + 4500,
                "text": format!("Segment {i}: tell me about a system you designed and what you would change."),
                "confidence": 0.93, "status": "final"})
        })
        .collect();
    json!({
        "session": {"id": session_id, "interview_id": interview, "sources": ["microphone", "system"],
            "device_names": {"microphone": "USB Mic", "system": "Monitor of Speakers"}, "model": "gpt-4o-transcribe",
            "started_at": "2026-11-28T09:00:00Z", "ended_at": "2026-11-28T11:00:00Z", "seconds_recorded": 7200},
        "segments": segments,
        "notes": [{"id": Uuid::new_v4(), "kind": "bookmark", "at_ms": 60000, "body": "strong answer"}],
    })
}

/// A second gateway and PostgREST (postrust) over the same database and Auth stand-in, which a
/// test may stop and start again (the shared ones serve every other test).
#[derive(Debug)]
pub struct StoppableProject {
    /// Its `SUPABASE_URL`.
    pub url: String,
    dir: std::path::PathBuf,
    gateway_port: u16,
    rest_port: u16,
    rest: Option<std::process::Child>,
    gateway: Option<std::process::Child>,
}

fn wait_for_port(port: u16, up: bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() == up {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!(
        "port {port} did not come {}",
        if up { "up" } else { "down" }
    );
}

/// SIGTERM (nginx then takes its workers with it), then waits.
fn terminate(mut child: std::process::Child) {
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
}

impl StoppableProject {
    /// Starts both (see [`StoppableProject::start_rest`], [`StoppableProject::start_gateway`]).
    pub fn start(name: &str) -> StoppableProject {
        let dir =
            std::env::temp_dir().join(format!("hark-it-project-{name}-{}", std::process::id()));
        // Not what an earlier run with the same process id left.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("project dir");
        let mut project = StoppableProject {
            url: String::new(),
            dir,
            gateway_port: crate::free_port(),
            rest_port: crate::free_port(),
            rest: None,
            gateway: None,
        };
        project.url = format!("http://127.0.0.1:{}", project.gateway_port);
        project.start_rest();
        project.start_gateway();
        project
    }

    /// Starts postrust on its port (again), configured as the shared one.
    pub fn start_rest(&mut self) {
        let var = |name: &str| {
            std::env::var(name)
                .unwrap_or_else(|_| panic!("{name} is not set: run with `cargo xtask test`"))
        };
        let auth = var("HARK_TEST_AUTH_URL");
        let child = std::process::Command::new(var("HARK_TEST_POSTRUST_BIN"))
            .env("PGRST_DB_URI", var("HARK_TEST_POSTRUST_DB_URI"))
            .env("PGRST_DB_SCHEMAS", "public")
            .env("PGRST_DB_ANON_ROLE", "anon")
            .env("PGRST_JWT_SECRET", var("HARK_TEST_JWT_SECRET"))
            .env(
                "PGRST_JWT_JWKS_URL",
                format!("{auth}/.well-known/jwks.json"),
            )
            .env("PGRST_SERVER_HOST", "127.0.0.1")
            .env("PGRST_SERVER_PORT", self.rest_port.to_string())
            .env("PGRST_COMPAT_MODE", "true")
            .env("PGRST_MAX_BODY_SIZE", (16 * 1024 * 1024).to_string())
            .env("PGRST_LOG_LEVEL", "error")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("postrust starts");
        self.rest = Some(child);
        wait_for_port(self.rest_port, true);
    }

    /// Kills postrust: the gateway answers 502 until it is back.
    pub fn stop_rest(&mut self) {
        if let Some(child) = self.rest.take() {
            terminate(child);
        }
        wait_for_port(self.rest_port, false);
    }

    /// Starts the nginx gateway (`/rest/v1/` → this postrust, `/auth/v1/` → the Auth stand-in).
    pub fn start_gateway(&mut self) {
        let var = |name: &str| {
            std::env::var(name)
                .unwrap_or_else(|_| panic!("{name} is not set: run with `cargo xtask test`"))
        };
        let auth = var("HARK_TEST_AUTH_URL");
        let dir = self.dir.display();
        let conf = format!(
            r#"worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log crit;
events {{ worker_connections 128; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  client_max_body_size 20m;
  server {{
    listen 127.0.0.1:{port};
    location /rest/v1/ {{ proxy_pass http://127.0.0.1:{rest}/; }}
    location /auth/v1/ {{ proxy_pass {auth}/; }}
  }}
}}
"#,
            port = self.gateway_port,
            rest = self.rest_port,
        );
        let path = self.dir.join("nginx.conf");
        std::fs::write(&path, conf).expect("nginx.conf");
        let child = std::process::Command::new(var("HARK_TEST_NGINX_BIN"))
            .arg("-p")
            .arg(&self.dir)
            .arg("-e")
            .arg(self.dir.join("startup.log"))
            .arg("-c")
            .arg(&path)
            .args(["-g", "daemon off;"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nginx starts");
        self.gateway = Some(child);
        wait_for_port(self.gateway_port, true);
    }

    /// Stops the gateway: connections are refused until it is back.
    pub fn stop_gateway(&mut self) {
        if let Some(child) = self.gateway.take() {
            terminate(child);
        }
        wait_for_port(self.gateway_port, false);
    }
}

impl Drop for StoppableProject {
    fn drop(&mut self) {
        self.stop_gateway();
        self.stop_rest();
    }
}
