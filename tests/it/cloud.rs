//! The cloud crate against the real stack (gateway + postrust + PostgreSQL with RLS + the Auth
//! stand-in) and the real keyring (GNOME Keyring on the test D-Bus session): every sign-in
//! method, refresh, sign-out; a CLI recording synced and read back as its organisation and as
//! an outsider; a project that stops mid-sync; an expiring token; a poison session.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hark_cloud::{Account, CloudError, Rest, SyncEngine, SyncStatus};
use hark_store::{Destination, NewSession, Segment, SegmentStatus, SessionState, Store};
use hark_tests::dtmf::Script;
use hark_tests::supabase::{Project, Session, StoppableProject, send};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{
    PASSWORD, emulator, hark_binary, proxy, run_while_playing, stored_texts, user, write_wav,
};

use crate::audio_support::{VirtualMic, scratch};

fn cloud_project(url: &str) -> hark_cloud::Project {
    hark_cloud::Project::new(url, &Project::from_env().anon_key).unwrap()
}

/// An account of a fresh profile (its own keyring entry).
fn account(url: &str, profile: &str) -> Account {
    Account::new(
        cloud_project(url),
        &format!("{profile}-{}", Uuid::new_v4().simple()),
    )
    .unwrap()
}

/// Follows GoTrue's hand-off like a browser whose user picks `email` at the provider: the
/// authorize page (no API key, as a browser has none), its form, then the redirect to the
/// app's loopback listener.
async fn scripted_browser(url: String, email: String) {
    let http = hark_tests::http();
    let page = http.get(&url).send().await.unwrap().text().await.unwrap();
    let flow = page
        .split("name=flow value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no flow in the provider page: {page}"))
        .to_owned();
    let action = format!("{}/sign-in", url.split('?').next().unwrap());
    let done = http
        .post(action)
        .form(&[("flow", flow.as_str()), ("email", email.as_str())])
        .send()
        .await
        .unwrap();
    assert!(done.status().is_success(), "{:?}", done.status());
    assert!(done.text().await.unwrap().contains("Signed in to Hark"));
}

/// Starts an email-link sign-in for `email` on a fresh account (profile `name`); returns it,
/// waiting for the click, and the link that was mailed.
async fn email_link_sign_in(
    project: &Project,
    name: &str,
    email: &str,
) -> (
    tokio::task::JoinHandle<hark_cloud::Result<hark_cloud::SignedIn>>,
    String,
) {
    let account = account_for(project, name);
    let (sent, was_sent) = tokio::sync::oneshot::channel();
    let address = email.to_owned();
    let signing = tokio::spawn(async move {
        account
            .sign_in_email_link(
                &address,
                move || {
                    let _ = sent.send(());
                },
                Duration::from_secs(20),
            )
            .await
    });
    was_sent.await.unwrap();
    (signing, project.mailed_link(email).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sign_in_method_works_and_the_keyring_keeps_only_the_refresh_token() {
    let project = Project::from_env();
    let (email, _) = user(&project, "signin").await;
    let profile = format!("signin-{}", Uuid::new_v4().simple());
    let account = Account::new(cloud_project(&project.url), &profile).unwrap();
    assert!(account.memory_only().is_none(), "the test keyring is up");

    // Password: wrong, then right.
    let err = account.sign_in_password(&email, "nope").await.unwrap_err();
    assert!(
        matches!(&err, CloudError::Auth { code, .. } if code == "invalid_credentials"),
        "{err}"
    );
    let signed = account.sign_in_password(&email, PASSWORD).await.unwrap();
    assert_eq!(signed.user.email.as_deref(), Some(email.as_str()));
    assert!(signed.memory_only.is_none());

    // The keyring holds the refresh token: a new process (a new Account) is signed in.
    let vault = hark_cloud::vault::Vault::open(&format!("{} {profile}", project.url));
    let saved = vault.load().unwrap().expect("saved in the keyring");
    assert_eq!(saved.user_id, signed.user.id);
    let again = Account::new(cloud_project(&project.url), &profile).unwrap();
    assert_eq!(
        again.restore().await.unwrap().map(|u| u.id),
        Some(signed.user.id)
    );
    // Restoring rotated the refresh token; the keyring followed, the old one is spent.
    let rotated = vault.load().unwrap().unwrap();
    assert_ne!(rotated.refresh_token, saved.refresh_token);
    let reuse = again
        .auth()
        .refresh(&saved.refresh_token)
        .await
        .unwrap_err();
    assert!(matches!(reuse, CloudError::SignInEnded { .. }), "{reuse}");

    // Refresh before expiry: with 2-second tokens every access is within the margin.
    project.set_token_lifetime(&email, 2).await;
    let short = Account::new(cloud_project(&project.url), &profile).unwrap();
    short.restore().await.unwrap();
    let before = short.refresh_count();
    short.access_token().await.unwrap();
    short.access_token().await.unwrap();
    assert_eq!(short.refresh_count(), before + 2, "refreshed before expiry");

    // Email code: a wrong code, then the one from the mailbox.
    let by_code = account_for(&project, "otp");
    by_code.send_email_code(&email).await.unwrap();
    let wrong = by_code
        .verify_email_code(&email, "000000")
        .await
        .unwrap_err();
    assert!(matches!(wrong, CloudError::Auth { .. }), "{wrong}");
    by_code.send_email_code(&email).await.unwrap();
    let code = project.mailed_code(&email).await;
    let signed = by_code.verify_email_code(&email, &code).await.unwrap();
    assert_eq!(signed.user.email.as_deref(), Some(email.as_str()));
    // Unknown addresses are not signed up by the app: the organisation invites.
    let stranger = by_code
        .send_email_code("nobody-invited@example.test")
        .await
        .unwrap_err();
    assert!(stranger.to_string().contains("ask an admin"), "{stranger}");

    // Single sign-on: the browser hands the code to a real loopback listener.
    let sso_email = format!("sso-{}@example.test", Uuid::new_v4().simple());
    let sso = account_for(&project, "sso");
    let browser_email = sso_email.clone();
    let signed = sso
        .sign_in_sso(
            "azure",
            move |url| {
                assert!(url.contains("code_challenge_method=s256"));
                assert!(url.contains("redirect_to=http%3A%2F%2F127.0.0.1%3A"));
                tokio::spawn(scripted_browser(url.to_owned(), browser_email));
                Ok(())
            },
            Duration::from_secs(20),
        )
        .await
        .unwrap();
    assert_eq!(signed.user.email.as_deref(), Some(sso_email.as_str()));
    assert_eq!(signed.user.app_metadata["provider"], "azure");

    // An emailed link, clicked in a browser on this computer: the click comes back to a
    // loopback listener and its code is exchanged with this sign-in's verifier.
    let (signing, link) = email_link_sign_in(&project, "link", &email).await;
    assert!(
        link.contains("redirect_to=http%3A%2F%2F127.0.0.1%3A"),
        "{link}"
    );
    let page = hark_tests::http().get(&link).send().await.unwrap();
    assert!(page.text().await.unwrap().contains("Signed in to Hark"));
    let signed = signing.await.unwrap().unwrap();
    assert_eq!(signed.user.email.as_deref(), Some(email.as_str()));
    // A link that is not (or no longer) valid ends the waiting sign-in with the reason.
    let (signing, link) = email_link_sign_in(&project, "bad-link", &email).await;
    let forged = link.replace("token=", "token=x");
    hark_tests::http().get(&forged).send().await.unwrap();
    let refused = signing.await.unwrap().unwrap_err();
    assert!(
        refused.to_string().contains("expired or was already used"),
        "{refused}"
    );

    // Sign-out revokes the session at the project and clears the keyring.
    let token_before = again.access_token().await.unwrap();
    again.sign_out().await.unwrap();
    assert!(vault.load().unwrap().is_none());
    let revoked = again.auth().user(&token_before).await.unwrap_err();
    assert!(
        matches!(&revoked, CloudError::Auth { code, .. } if code == "session_not_found"),
        "{revoked}"
    );
    let fresh = Account::new(cloud_project(&project.url), &profile).unwrap();
    assert_eq!(fresh.restore().await.unwrap(), None);
    assert!(matches!(
        fresh.access_token().await.unwrap_err(),
        CloudError::NotSignedIn
    ));

    // Without a keyring the CLI says so and keeps nothing.
    let data = scratch("cloud-no-keyring");
    let output = hark(&data, &project.url)
        .args(["login", "--email", &email, "--password-stdin"])
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(format!("{PASSWORD}\n").as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("no OS keyring is available"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_signs_in_with_sso_through_the_system_browser() {
    let project = Project::from_env();
    let dir = scratch("cloud-cli-sso");
    let data = dir.join("data");
    // The "system browser" ($BROWSER, as desktop Linux honours it): loads the provider page,
    // submits its form as the user, and follows the redirect to Hark's loopback listener.
    let browser = dir.join("browser.sh");
    std::fs::write(
        &browser,
        r#"#!/bin/sh
page=$(curl -s "$1")
flow=$(printf '%s' "$page" | sed -n 's/.*name=flow value="\([^"]*\)".*/\1/p')
curl -s -L -o /dev/null --data-urlencode "flow=$flow" --data-urlencode "email=$HARK_TEST_SSO_EMAIL" "${1%%\?*}/sign-in"
"#,
    )
    .unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&browser)
        .status()
        .unwrap();
    let email = format!("sso-cli-{}@example.test", Uuid::new_v4().simple());
    let login = tokio::task::spawn_blocking({
        let (data, url, browser, email) = (
            data.clone(),
            project.url.clone(),
            browser.clone(),
            email.clone(),
        );
        move || {
            hark(&data, &url)
                .args(["login", "--sso", "google"])
                .env("BROWSER", &browser)
                .env("HARK_TEST_SSO_EMAIL", &email)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&login.stderr);
    assert!(login.status.success(), "{stderr}");
    assert!(
        stderr.contains("finish signing in in your browser"),
        "{stderr}"
    );
    let whoami = hark_json(&data, &project.url, &["whoami", "--json"]);
    assert_eq!(whoami["user"]["email"], email.as_str());
    assert_eq!(whoami["user"]["app_metadata"]["provider"], "google");
}

fn account_for(project: &Project, label: &str) -> Account {
    account(&project.url, label)
}

/// The `hark` binary, set up for `url`'s project with its data in `data`.
fn hark(data: &Path, url: &str) -> std::process::Command {
    let mut command = std::process::Command::new(hark_binary());
    command
        .arg("--data-dir")
        .arg(data)
        .arg("--config")
        .arg(data.join("absent.toml"))
        .env("HARK_SUPABASE_URL", url)
        .env("HARK_SUPABASE_ANON_KEY", Project::from_env().anon_key)
        .env_remove("HARK_PROXY_URL")
        .env_remove("HARK_ACCESS_TOKEN")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    command
}

/// Runs `hark` with `args`, which must succeed, and parses what it prints as JSON.
fn hark_json(data: &Path, url: &str, args: &[&str]) -> Value {
    let output = hark(data, url).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "hark {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn run_with_stdin(mut command: std::process::Command, stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = command.stdin(std::process::Stdio::piped()).spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cli_recording_syncs_and_only_its_organisation_can_read_it() {
    let project = Project::from_env();
    let owner = project.new_user("owner").await;
    let (email, recruiter) = user(&project, "recruiter").await;
    let org = project
        .organization(&owner, &[(&recruiter, "recruiter")])
        .await;
    let interview = project.interview(&owner, org).await;
    let outsider = project.new_user("outsider").await;
    project.organization(&outsider, &[]).await;

    let emulator = emulator().await;
    let proxy = proxy(&emulator, Some(&project), &[]).await;
    let dir = scratch("cloud-cli");
    let data = dir.join("data");
    // Two interviews pulled by an older version, which kept no project: one of this
    // organisation's (since deleted there) and one of an organisation in another project.
    std::fs::create_dir_all(&data).unwrap();
    let older = Store::open(&data.join("hark.db")).unwrap();
    let (ours, elsewhere) = (Uuid::new_v4(), Uuid::new_v4());
    cloud_interview(&older, ours, org);
    cloud_interview(&older, elsewhere, Uuid::new_v4());
    drop(older);
    rusqlite::Connection::open(data.join("hark.db"))
        .unwrap()
        .execute(
            "update interviews set project_url = null, job_title = 'Pulled by an older version'",
            [],
        )
        .unwrap();

    let login = run_with_stdin(
        {
            let mut c = hark(&data, &project.url);
            c.args(["login", "--email", &email, "--password-stdin"]);
            c
        },
        &format!("{PASSWORD}\n"),
    );
    let stderr = String::from_utf8_lossy(&login.stderr);
    assert!(login.status.success(), "{stderr}");
    assert!(
        stderr.contains("1 interviews from the organisation"),
        "{stderr}"
    );
    let listed = hark_json(&data, &project.url, &["interviews", "--json"]);
    assert_eq!(listed[0]["id"], interview.to_string());
    assert_eq!(listed[0]["candidate_name"], "Grace Candidate");
    assert_eq!(listed[0]["in_cloud"], true);
    // The pull placed the older ones: this organisation's is offered here, the other not.
    let offered: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["id"].as_str())
        .collect();
    assert_eq!(
        offered,
        [interview.to_string(), ours.to_string()],
        "{listed}"
    );
    // Nor can it be recorded by its id: its organisation would refuse the session.
    let refused = hark(&data, &project.url)
        .args(["record", "--interview", &elsewhere.to_string()])
        .args(["--duration", "1", "--consent-confirmed"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "({elsewhere}) belongs to another project, not to {},",
            project.url
        )) && stderr.contains("`supabase_url` in the config file or HARK_SUPABASE_URL"),
        "{stderr}"
    );
    let whoami = hark_json(&data, &project.url, &["whoami", "--json"]);
    assert_eq!(whoami["user"]["email"], email.as_str());
    assert_eq!(whoami["memberships"][0]["org_id"], org.to_string());
    assert_eq!(whoami["memberships"][0]["role"], "recruiter");

    // Record through the real proxy (which checks this user's token and admits the call).
    let mic = VirtualMic::new("hark_it_cloud", 48_000, 1);
    let script = Script::new()
        .pause(1_500)
        .say("1 3 5")
        .pause(900)
        .say("7 9")
        .pause(900);
    write_wav(&dir.join("script.wav"), script.samples());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut record = hark(&data, &project.url);
    record.args([
        "record",
        "--interview",
        "Platform Engineer",
        "--mic",
        &mic.id(),
        "--duration",
        "7",
        "--proxy-url",
        &proxy,
        "--consent-confirmed",
    ]);
    let pressed_ms = hark_store::now_ms();
    let output = run_while_playing(record, mic, dir.join("script.wav")).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("You: 1 3 5") && stdout.contains("You: 7 9"),
        "{stdout}\n{stderr}"
    );
    assert!(stderr.contains("synced to the organisation"), "{stderr}");

    let sessions = hark_json(&data, &project.url, &["sessions", "--json"]);
    assert_eq!(sessions[0]["sync_state"], "synced");
    let session_id = sessions[0]["session"]["id"].as_str().unwrap().to_owned();

    // Read back through PostgREST as the recruiter: the same transcript.
    let rows = send(
        project
            .rest(Some(&recruiter))
            .from("transcript_segments")
            .select("text,source,speaker_label")
            .eq("session_id", &session_id)
            .order("start_ms"),
    )
    .await;
    let texts: Vec<&str> = rows
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["text"].as_str())
        .collect();
    assert_eq!(texts, ["1 3 5", "7 9"], "{:?}", rows.body);
    let session_row = send(
        project
            .rest(Some(&recruiter))
            .from("recording_sessions")
            .select("interview_id,recorder_id,seconds_recorded,consent_confirmed_by,consent_confirmed_at")
            .eq("id", &session_id),
    )
    .await;
    // The recording notice arrives with who confirmed it (the signed-in recruiter) and when.
    assert_eq!(
        session_row.body[0]["consent_confirmed_by"],
        recruiter.user_id.to_string()
    );
    let local = hark_json(&data, &project.url, &["show", &session_id, "--json"]);
    let at_ms = local["session"]["consent"]["at_ms"].as_i64().unwrap();
    assert!(
        (pressed_ms - 1_000..pressed_ms + 5_000).contains(&at_ms),
        "confirmed at {at_ms}, record pressed at {pressed_ms}"
    );
    assert!(
        session_row.body[0]["consent_confirmed_at"]
            .as_str()
            .is_some_and(|at| at.starts_with("20")),
        "{:?}",
        session_row.body
    );
    assert_eq!(session_row.body[0]["interview_id"], interview.to_string());
    assert_eq!(
        session_row.body[0]["recorder_id"],
        recruiter.user_id.to_string()
    );
    assert!(session_row.body[0]["seconds_recorded"].as_f64().unwrap() > 6.0);

    // Another organisation's user sees nothing of it.
    for table in ["transcript_segments", "recording_sessions"] {
        let column = if table == "recording_sessions" {
            "id"
        } else {
            "session_id"
        };
        let seen = send(
            project
                .rest(Some(&outsider))
                .from(table)
                .select("*")
                .eq(column, &session_id),
        )
        .await;
        assert_eq!(seen.body, json!([]), "{table}");
    }

    // Sign-out ends it for the CLI.
    let logout = hark(&data, &project.url).arg("logout").output().unwrap();
    assert!(
        logout.status.success(),
        "{}",
        String::from_utf8_lossy(&logout.stderr)
    );
    let whoami = hark(&data, &project.url).arg("whoami").output().unwrap();
    assert_eq!(whoami.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&whoami.stderr).contains("hark login"));

    // Recorded while signed out (and without a proxy): kept, waiting in the outbox.
    let offline = hark(&data, &project.url)
        .args([
            "record",
            "--interview",
            "Platform Engineer",
            "--duration",
            "2",
        ])
        .output()
        .unwrap();
    assert!(
        offline.status.success(),
        "{}",
        String::from_utf8_lossy(&offline.stderr)
    );
    let sessions = hark_json(&data, &project.url, &["sessions", "--json"]);
    let waiting = sessions[0]["session"]["id"].as_str().unwrap().to_owned();
    assert_eq!(sessions[0]["sync_state"], "pending");
    let refused = hark(&data, &project.url).arg("sync").output().unwrap();
    assert_eq!(refused.status.code(), Some(5));

    // Signing in again with an emailed code, then `hark sync` sends it.
    let mut login = hark(&data, &project.url);
    login
        .args(["login", "--email", &email, "--otp"])
        .stdin(std::process::Stdio::piped());
    let mut child = login.spawn().unwrap();
    let code = project.mailed_code(&email).await;
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(format!("{code}\n").as_bytes()).unwrap();
    }
    let login = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(
        login.status.success(),
        "{}",
        String::from_utf8_lossy(&login.stderr)
    );
    let sync = hark(&data, &project.url)
        .args(["sync", "--json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&sync.stdout);
    assert!(
        sync.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&sync.stderr)
    );
    let synced: Vec<Value> = stdout
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .filter(|event: &Value| event["state"] == "synced")
        .collect();
    assert_eq!(synced.len(), 1, "{stdout}");
    assert_eq!(synced[0]["session_id"], waiting.as_str());
    let sessions = hark_json(&data, &project.url, &["sessions", "--json"]);
    assert!(
        sessions
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["sync_state"] == "synced"),
        "{sessions:#}"
    );
}

/// A finished session of `segments` segments (one per 2 s) for `interview`.
fn seed_session(store: &mut Store, interview: Uuid, segments: usize) -> Uuid {
    seed_session_for(store, interview, segments, Destination::Unclaimed)
}

/// A finished session of `segments` lines and a bookmark, recorded for `destination`.
fn seed_session_for(
    store: &mut Store,
    interview: Uuid,
    segments: usize,
    destination: Destination,
) -> Uuid {
    let session = store
        .start_session(&NewSession {
            interview_id: interview,
            sources: vec!["microphone".into()],
            destination,
            ..NewSession::default()
        })
        .unwrap();
    for i in 0..segments {
        store
            .save_segment(&Segment {
                id: Uuid::new_v4(),
                session_id: session.id,
                item_id: Some(format!("item_{i}")),
                source: "microphone".into(),
                speaker_label: None,
                start_ms: i as i64 * 2000,
                end_ms: i as i64 * 2000 + 1500,
                text: format!("segment {i} of a long interview"),
                status: SegmentStatus::Final,
            })
            .unwrap();
    }
    store
        .add_note(session.id, hark_store::NoteKind::Bookmark, 1000, "good")
        .unwrap();
    store
        .finish_session(session.id, segments as f64 * 2.0, SessionState::Completed)
        .unwrap();
    session.id
}

/// The organisation's interview, as a pull would store it.
fn cloud_interview(store: &Store, interview: Uuid, org: Uuid) {
    store
        .upsert_cloud_interview(
            &hark_store::Interview {
                id: interview,
                org_id: Some(org),
                candidate_id: None,
                candidate_name: None,
                job_title: "Platform Engineer".into(),
                created_at_ms: 0,
                in_cloud: true,
            },
            &cloud_project(&Project::from_env().url).url,
        )
        .unwrap();
}

/// Rows per session in the database itself (as the superuser, past RLS).
async fn stored_counts(sessions: &[Uuid]) -> Vec<(i64, i64, i64)> {
    let url = std::env::var("HARK_TEST_DATABASE_URL").unwrap();
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let mut counts = Vec::new();
    for id in sessions {
        let row = client
            .query_one(
                "select (select count(*) from public.recording_sessions where id = $1::text::uuid), \
                   (select count(*) from public.transcript_segments where session_id = $1::text::uuid), \
                   (select count(*) from public.session_notes where session_id = $1::text::uuid)",
                &[&id.to_string()],
            )
            .await
            .unwrap();
        counts.push((row.get(0), row.get(1), row.get(2)));
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_only_recording_goes_to_the_organisation_only_when_shared_and_is_then_transcribed()
{
    let project = Project::from_env();
    let owner = project.new_user("share-owner").await;
    let (email, recruiter) = user(&project, "share").await;
    let org = project
        .organization(&owner, &[(&recruiter, "recruiter")])
        .await;
    let emulator = emulator().await;
    let proxy = proxy(&emulator, Some(&project), &[]).await;
    let dir = scratch("cloud-share");
    let data = dir.join("data");
    let local = |args: &[&str]| {
        let mut command = hark(&data, &project.url);
        command
            .env_remove("HARK_SUPABASE_URL")
            .env_remove("HARK_SUPABASE_ANON_KEY")
            .args(args);
        command
    };

    // Recorded with no organisation and no transcription service: audio only.
    let mic = VirtualMic::new("hark_it_share", 48_000, 1);
    let script = Script::new()
        .pause(1_200)
        .say("4 4 2")
        .pause(900)
        .say("6 1")
        .pause(900);
    write_wav(&dir.join("script.wav"), script.samples());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let id = mic.id();
    let record = local(&[
        "record",
        "--interview",
        "Screening call",
        "--mic",
        &id,
        "--duration",
        "7",
    ]);
    let output = run_while_playing(record, mic, dir.join("script.wav")).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let listed = hark_json(&data, &project.url, &["sessions", "--json"]);
    let session: Uuid = listed[0]["session"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(listed[0]["session"]["destination"]["kind"], "local_only");
    assert_eq!(listed[0]["segments"], 0);

    // Connected and signed in: syncing leaves it alone and says so.
    let login = run_with_stdin(
        {
            let mut c = hark(&data, &project.url);
            c.args(["login", "--email", &email, "--password-stdin"]);
            c
        },
        &format!("{PASSWORD}\n"),
    );
    assert!(
        login.status.success(),
        "{}",
        String::from_utf8_lossy(&login.stderr)
    );
    let sync = hark(&data, &project.url).arg("sync").output().unwrap();
    let stderr = String::from_utf8_lossy(&sync.stderr);
    assert!(sync.status.success(), "{stderr}");
    assert!(
        stderr.contains("0 synced") && stderr.contains("1 not sent (recorded local-only"),
        "{stderr}"
    );
    assert_eq!(stored_counts(&[session]).await, vec![(0, 0, 0)]);
    let listed = hark_json(&data, &project.url, &["sessions", "--json"]);
    assert!(
        listed[0]["held"]
            .as_str()
            .unwrap()
            .contains("recorded on this computer only"),
        "{listed}"
    );

    // Shared: it goes to the organisation (with its interview), as this recruiter's.
    let share = hark(&data, &project.url)
        .args(["share", &session.to_string()[..8]])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&share.stderr);
    assert!(share.status.success(), "{stderr}");
    assert!(stderr.contains("synced to the organisation"), "{stderr}");
    assert_eq!(stored_counts(&[session]).await, vec![(1, 0, 0)]);
    assert_eq!(recorders(&[session]).await, vec![Some(recruiter.user_id)]);
    let interviews = send(
        project
            .rest(Some(&recruiter))
            .from("interviews")
            .select("job_title")
            .eq("org_id", org.to_string()),
    )
    .await;
    assert_eq!(interviews.body[0]["job_title"], "Screening call");

    // Its recording is transcribed afterwards through the organisation's proxy, and synced.
    let backfill = hark(&data, &project.url)
        .args(["backfill", "--proxy-url", &proxy])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&backfill.stderr);
    assert!(backfill.status.success(), "{stderr}");
    let shown = hark_json(
        &data,
        &project.url,
        &["show", &session.to_string(), "--json"],
    );
    let texts: Vec<(&str, &str)> = shown["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["status"].as_str().unwrap(), s["text"].as_str().unwrap()))
        .collect();
    assert_eq!(
        texts,
        vec![("backfilled", "4 4 2"), ("backfilled", "6 1")],
        "{stderr}"
    );
    let sync = hark(&data, &project.url).arg("sync").output().unwrap();
    assert!(
        sync.status.success(),
        "{}",
        String::from_utf8_lossy(&sync.stderr)
    );
    assert_eq!(stored_counts(&[session]).await, vec![(1, 2, 0)]);
}

/// Who the project stores as each session's recorder (`None` for a session it does not have).
async fn recorders(sessions: &[Uuid]) -> Vec<Option<Uuid>> {
    let url = std::env::var("HARK_TEST_DATABASE_URL").unwrap();
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let mut found = Vec::new();
    for id in sessions {
        let row = client
            .query_opt(
                "select recorder_id::text from public.recording_sessions where id = $1::text::uuid",
                &[&id.to_string()],
            )
            .await
            .unwrap();
        found.push(row.map(|row| row.get::<_, String>(0).parse().unwrap()));
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_sync_only_as_the_recruiter_and_project_they_were_recorded_for() {
    let project = Project::from_env();
    let (email_a, a) = user(&project, "dest-a").await;
    let (email_b, b) = user(&project, "dest-b").await;
    let org = project.organization(&a, &[(&b, "recruiter")]).await;
    let interview = project.interview(&a, org).await;
    let database = scratch("cloud-destinations").join("hark.db");
    let mut store = Store::open(&database).unwrap();
    cloud_interview(&store, interview, org);
    let url = cloud_project(&project.url).url;
    let recorded_by = |who: &Session, email: &str, url: &str| Destination::Organisation {
        project_url: Some(url.to_string()),
        user_id: Some(who.user_id),
        email: Some(email.to_string()),
    };
    // Recorded local-only on this computer; by B on it; by A; by A for another project.
    let local = seed_session_for(&mut store, interview, 3, Destination::LocalOnly);
    let bs = seed_session_for(&mut store, interview, 4, recorded_by(&b, &email_b, &url));
    let mine = seed_session_for(&mut store, interview, 5, recorded_by(&a, &email_a, &url));
    let elsewhere = seed_session_for(
        &mut store,
        interview,
        6,
        recorded_by(&a, &email_a, "https://another-project.example"),
    );

    // A session of an interview from an organisation A does not record in (pulled elsewhere).
    let (_, outsider) = user(&project, "dest-outsider").await;
    let other_org = project.organization(&outsider, &[]).await;
    let other_interview = project.interview(&outsider, other_org).await;
    cloud_interview(&store, other_interview, other_org);
    let foreign = seed_session_for(
        &mut store,
        other_interview,
        2,
        recorded_by(&a, &email_a, "https://another-project.example"),
    );

    // A signs in: only A's session of this project goes.
    let profile = format!("dest-a-{}", Uuid::new_v4().simple());
    let account = Arc::new(Account::new(cloud_project(&project.url), &profile).unwrap());
    account.sign_in_password(&email_a, PASSWORD).await.unwrap();
    // Whose sessions this computer records: known from the keyring before any network call
    // (a start while offline stamps them as A's, not as whoever signs in next).
    let later = Account::new(cloud_project(&project.url), &profile).unwrap();
    assert_eq!(later.sender().await, None);
    let owner = later.owner().await.unwrap();
    assert_eq!(
        (owner.user_id, owner.email.as_deref()),
        (a.user_id, Some(email_a.as_str()))
    );
    let engine = SyncEngine::new(Rest::new(account), &database).unwrap();
    let report = engine.sync_due().await.unwrap();
    assert_eq!(report.synced, vec![mine], "{report:?}");
    assert!(
        report.retrying.is_empty() && report.failed.is_empty(),
        "{report:?}"
    );
    assert_eq!(
        stored_counts(&[local, bs, mine, elsewhere]).await,
        vec![(0, 0, 0), (0, 0, 0), (1, 5, 1), (0, 0, 0)]
    );
    // Asking for one by name is refused with whose it is, and sends nothing.
    let refused = engine.sync_one(local).await.unwrap_err().to_string();
    assert!(refused.contains("on this computer only"), "{refused}");
    let refused = engine.sync_one(bs).await.unwrap_err().to_string();
    assert!(
        refused.contains(&format!("recorded by {email_b}")),
        "{refused}"
    );
    assert_eq!(stored_counts(&[local, bs]).await, vec![(0, 0, 0); 2]);

    // A chooses to send the local-only one: it goes, as A's.
    let mut events = engine.subscribe();
    engine.share(local).await.unwrap();
    assert_eq!(events.recv().await.unwrap().status, SyncStatus::Pending);
    let report = engine.sync_due().await.unwrap();
    assert_eq!(report.synced, vec![local], "{report:?}");
    assert_eq!(stored_counts(&[local]).await, vec![(1, 3, 1)]);
    assert_eq!(recorders(&[local, mine]).await, vec![Some(a.user_id); 2]);
    assert_eq!(
        store.destination(local).unwrap(),
        recorded_by(&a, &email_a, &url)
    );
    // One whose interview is another organisation's is refused before anything changes: the
    // project would refuse it for good.
    let refused = engine.share(foreign).await.unwrap_err().to_string();
    assert!(
        refused.contains("belongs to an organisation you do not record in"),
        "{refused}"
    );
    assert!(
        !store
            .destination(foreign)
            .unwrap()
            .sent_by(&engine.sender().await.unwrap())
    );

    // B signs in on this computer: B's session goes, as B's; nothing of A's goes again.
    let account = Arc::new(account_for(&project, "dest-b"));
    account.sign_in_password(&email_b, PASSWORD).await.unwrap();
    let engine = SyncEngine::new(Rest::new(account), &database).unwrap();
    let report = engine.sync_due().await.unwrap();
    assert_eq!(report.synced, vec![bs], "{report:?}");
    assert_eq!(recorders(&[bs]).await, vec![Some(b.user_id)]);
    // A's session, once the project took it, is not sent again as B's.
    let refused = engine.share(mine).await.unwrap_err().to_string();
    assert!(
        refused.contains(&format!(
            "already been sent to the organisation at {url} as {email_a}"
        )),
        "{refused}"
    );
    assert_eq!(recorders(&[mine]).await, vec![Some(a.user_id)]);
    // The other project's session waits for it, untouched.
    assert_eq!(stored_counts(&[elsewhere]).await, vec![(0, 0, 0)]);
    let entry = store.outbox_entry(elsewhere).unwrap().unwrap();
    assert_eq!((entry.state.as_str(), entry.attempts), ("pending", 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_stopping_mid_sync_and_an_app_restart_lose_and_duplicate_nothing() {
    let shared = Project::from_env();
    let (email, recruiter) = user(&shared, "outage").await;
    let org = shared.organization(&recruiter, &[]).await;
    let interview = shared.interview(&recruiter, org).await;
    let mut project = StoppableProject::start("outage");

    let dir = scratch("cloud-outage");
    let database = dir.join("hark.db");
    let mut store = Store::open(&database).unwrap();
    cloud_interview(&store, interview, org);
    // The second is long (3,000 segments, 300 calls of 10): PostgREST stops in its middle.
    let sizes = [300, 3000, 300, 300];
    let sessions: Vec<Uuid> = sizes
        .iter()
        .map(|n| seed_session(&mut store, interview, *n))
        .collect();

    let profile = format!("outage-{}", Uuid::new_v4().simple());
    let account = Arc::new(Account::new(cloud_project(&project.url), &profile).unwrap());
    account.sign_in_password(&email, PASSWORD).await.unwrap();
    let engine = SyncEngine::new(Rest::new(account.clone()), &database)
        .unwrap()
        .with_max_segments(10);
    let mut events = engine.subscribe();

    // Stop PostgREST while the second session is half sent.
    let second = sessions[1];
    let pass = tokio::spawn({
        let engine = Arc::new(engine);
        let handle = engine.clone();
        async move { (handle.sync_due().await, engine) }
    });
    loop {
        let event = tokio::time::timeout(Duration::from_secs(30), events.recv())
            .await
            .expect("sync events")
            .unwrap();
        if event.session_id == second
            && matches!(event.status, SyncStatus::Syncing { sent, .. } if sent >= 100)
        {
            break;
        }
    }
    project.stop_rest();
    let (report, engine) = pass.await.unwrap();
    let report = report.unwrap();
    assert_eq!(report.synced, vec![sessions[0]]);
    assert_eq!(report.retrying.len(), 3, "{report:?}");
    assert!(report.retrying[0].1.contains("502"), "{report:?}");

    // Now the gateway too: the pass stops at the first refusal to connect.
    project.stop_gateway();
    store.retry_sync_now().unwrap();
    let err = engine.sync_due().await.unwrap_err();
    assert!(matches!(err, CloudError::Unreachable { .. }), "{err}");
    let entry = store.outbox_entry(sessions[1]).unwrap().unwrap();
    assert_eq!(entry.state, "pending");
    assert!(entry.next_attempt_at_ms.unwrap() > hark_store::now_ms());

    // Hark quits; later the project is back and Hark starts again (a new account restores
    // the sign-in from the keyring, a new engine reads the outbox).
    drop(engine);
    drop(account);
    project.start_rest();
    project.start_gateway();
    store.retry_sync_now().unwrap();
    let account = Arc::new(Account::new(cloud_project(&project.url), &profile).unwrap());
    assert!(account.restore().await.unwrap().is_some());
    let engine = SyncEngine::new(Rest::new(account.clone()), &database).unwrap();
    let report = engine.sync_due().await.unwrap();
    assert_eq!(report.synced, sessions[1..].to_vec(), "{report:?}");
    assert!(store.outbox().unwrap().is_empty());

    // Everything arrived once: exactly the local rows, no more.
    let expected: Vec<(i64, i64, i64)> = sizes.iter().map(|n| (1, *n as i64, 1)).collect();
    assert_eq!(stored_counts(&sessions).await, expected);
    // And sending again changes nothing.
    engine.sync_one(sessions[0]).await.unwrap();
    assert_eq!(stored_counts(&sessions[..1]).await, vec![(1, 300, 1)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_tokens_are_refreshed_and_a_poison_session_fails_alone() {
    let project = Project::from_env();
    let (email, recruiter) = user(&project, "poison").await;
    let org = project.organization(&recruiter, &[]).await;
    let interview = project.interview(&recruiter, org).await;
    project.set_token_lifetime(&email, 1).await;

    let dir = scratch("cloud-poison");
    let database = dir.join("hark.db");
    let mut store = Store::open(&database).unwrap();
    cloud_interview(&store, interview, org);
    let good = seed_session(&mut store, interview, 20);
    let poison = seed_session(&mut store, interview, 20);
    // A local-only interview with a candidate: pushed to the organisation first.
    let local = store
        .create_interview("Data Engineer", Some("Ada Local"))
        .unwrap();
    let local_session = seed_session(&mut store, local.id, 5);
    // A session for another organisation's interview: refused (PostgREST answers such
    // refusals with 401 or 403 too; only the code says it is not an expired token).
    let stranger = project.new_user("stranger").await;
    let other_org = project.organization(&stranger, &[]).await;
    let foreign = project.interview(&stranger, other_org).await;
    cloud_interview(&store, foreign, other_org);
    let forbidden = seed_session(&mut store, foreign, 3);
    // Corrupt one session in the file, as a bug or a disk error might.
    rusqlite::Connection::open(&database)
        .unwrap()
        .execute(
            "update recording_sessions set device_names = '[1]' where id = ?1",
            [poison.to_string()],
        )
        .unwrap();

    let account = Arc::new(account(&project.url, "poison").with_refresh_margin(Duration::ZERO));
    account.sign_in_password(&email, PASSWORD).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // The token has expired while idle; the refreshed one lasts the whole pass, however slow
    // the machine, so exactly one refresh is expected.
    project.set_token_lifetime(&email, 3600).await;
    let engine = SyncEngine::new(Rest::new(account.clone()), &database).unwrap();
    let mut report = engine.sync_due().await.unwrap();
    report.synced.sort();
    let mut expected = vec![good, local_session];
    expected.sort();
    assert_eq!(report.synced, expected, "{report:?}");
    assert_eq!(report.failed.len(), 2, "{report:?}");
    let reason = |id: Uuid| {
        report
            .failed
            .iter()
            .find(|(s, _)| *s == id)
            .map(|(_, r)| r.clone())
            .unwrap()
    };
    assert!(reason(poison).contains("device_names"), "{report:?}");
    assert!(
        reason(forbidden).contains("42501")
            && reason(forbidden).contains("not in any organisation"),
        "{report:?}"
    );
    // One refresh for the token that expired while idle; none for the refusal.
    assert_eq!(account.refresh_count(), 1, "{report:?}");
    assert_eq!(
        stored_counts(&[good, poison, local_session]).await,
        vec![(1, 20, 1), (0, 0, 0), (1, 5, 1)]
    );

    // The poison is not retried by itself; the reason stays for the user.
    let report = engine.sync_due().await.unwrap();
    assert!(report.synced.is_empty() && report.failed.is_empty());
    let entry = store.outbox_entry(poison).unwrap().unwrap();
    assert_eq!(entry.state, "failed");
    assert!(entry.last_error.unwrap().contains("device_names"));
    let listed = store.sessions().unwrap();
    let row = listed.iter().find(|r| r.session.id == poison).unwrap();
    assert_eq!(row.sync_state.as_deref(), Some("failed"));
    assert!(row.sync_error.as_deref().unwrap().contains("device_names"));

    // In the background the engine sends a session as soon as it is woken (a recording
    // stopped), without anyone running a sync.
    let engine = Arc::new(engine);
    let mut events = engine.subscribe();
    let background = tokio::spawn(engine.clone().run());
    let late = seed_session(&mut store, interview, 7);
    engine.wake();
    let synced = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let event = events.recv().await.unwrap();
            if event.session_id == late && matches!(event.status, SyncStatus::Synced { .. }) {
                return event;
            }
        }
    })
    .await
    .expect("the background sync sent the new session");
    assert_eq!(synced.status, SyncStatus::Synced { segments: 7 });
    background.abort();

    // The local interview now lives in the organisation, with its candidate.
    let pushed = send(
        project
            .rest(Some(&recruiter))
            .from("interviews")
            .select("job_title,org_id,candidate_id")
            .eq("id", local.id.to_string()),
    )
    .await;
    assert_eq!(
        pushed.body[0]["job_title"], "Data Engineer",
        "{:?}",
        pushed.body
    );
    assert_eq!(pushed.body[0]["org_id"], org.to_string());
    let candidate = send(
        project
            .rest(Some(&recruiter))
            .from("candidates")
            .select("full_name")
            .eq("id", pushed.body[0]["candidate_id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(candidate.body[0]["full_name"], "Ada Local");
    assert!(store.interview(local.id).unwrap().in_cloud);
}

/// The proxy hangs calls up at the organisation's maximum length (a minute here, the shortest
/// it allows) and the recorder redials; by then the access token the recording began with has
/// expired (20 s here, an hour in production). The recorder asks the account for a token at
/// every dial, so the redial is admitted and the transcript goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_outliving_its_access_token_redials_with_a_fresh_one() {
    let project = Project::from_env();
    let (email, recruiter) = user(&project, "long").await;
    let org = project.organization(&recruiter, &[]).await;
    let interview = project.interview(&recruiter, org).await;
    project.set_token_lifetime(&email, 20).await;
    // The organisation's admin sets the shortest call the proxy allows.
    let url = std::env::var("HARK_TEST_DATABASE_URL").unwrap();
    let (db, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    db.execute(
        "update public.org_settings set max_session_minutes = 1 where org_id = $1::text::uuid",
        &[&org.to_string()],
    )
    .await
    .unwrap();
    let emulator = emulator().await;
    let proxy = proxy(&emulator, Some(&project), &[]).await;
    let account = Arc::new(account_for(&project, "long"));
    account.sign_in_password(&email, PASSWORD).await.unwrap();

    let dir = scratch("cloud-long");
    let flags = hark_recorder::config::Layer {
        proxy_url: Some(proxy),
        data_dir: Some(dir.join("data")),
        ..Default::default()
    };
    let config =
        hark_recorder::Config::load_with(Some(&dir.join("none.toml")), flags, |_| None).unwrap();
    let recorder = hark_recorder::Recorder::open(config).unwrap();
    recorder
        .store()
        .call(move |store| {
            cloud_interview(store, interview, org);
            Ok(())
        })
        .await
        .unwrap();
    let mic = VirtualMic::new("hark_it_cloud_long", 48_000, 1);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let recording = recorder
        .start(hark_recorder::StartOptions {
            interview: interview.to_string(),
            microphone: hark_audio::DeviceChoice::Id(mic.id()),
            system_audio: None,
            language: Some("en".into()),
            prompt: None,
            token: hark_recorder::Token::Account(account.clone()),
            consent: None,
        })
        .await
        .unwrap();
    let mut events = recording.subscribe();

    // Connected, hung up at the minute, connected again: the first token has expired by then.
    let mut connected = 0;
    let mut warnings = Vec::new();
    tokio::time::timeout(Duration::from_secs(110), async {
        while connected < 2 {
            match events.recv().await {
                Ok(hark_recorder::RecorderEvent::Connection { state, .. })
                    if state == "connected" =>
                {
                    connected += 1
                }
                Ok(hark_recorder::RecorderEvent::Warning { message, .. }) => warnings.push(message),
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(err) => panic!("recorder events: {err}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("connected {connected} times; warnings: {warnings:?}"));
    assert!(
        warnings.iter().all(|w| !w.contains("401")),
        "a redial was refused: {warnings:?}"
    );

    // The redialled call transcribes.
    let script = Script::new().pause(600).say("4 2").pause(900);
    let wav = dir.join("script.wav");
    write_wav(&wav, script.samples());
    let mic = tokio::task::spawn_blocking(move || {
        mic.play(&wav);
        mic
    })
    .await
    .unwrap();
    let summary = recording.stop().await.unwrap();
    drop(mic);
    assert_eq!(
        stored_texts(&recorder, summary.session_id).await,
        ["4 2"],
        "warnings: {warnings:?}"
    );
}
