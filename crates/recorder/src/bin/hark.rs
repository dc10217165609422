//! `hark`: record interviews with a live transcript from the command line, and list, search,
//! show and export the sessions; sign in to the organisation and sync. Exit codes: 0 done,
//! 1 failure, 2 bad usage or configuration, 3 not found (or ambiguous, or another project's
//! interview), 4 no usable audio device, 5 not signed in (or the sign-in was refused or cannot be
//! kept).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use hark_audio::DeviceChoice;
use hark_audio::engine::Event as AudioEvent;
use hark_cloud::{CloudError, SyncStatus};
use hark_recorder::config::Layer;
use hark_recorder::export::{Format, render, render_bytes, speaker};
use hark_recorder::{Cloud, Config, Recorder, RecorderError, RecorderEvent, StartOptions, Token};
use hark_store::StoreError;

#[derive(Parser)]
#[command(
    name = "hark",
    version,
    about = "Record interviews with a live transcript"
)]
struct Cli {
    /// Config file (default: the OS's config folder, hark/config.toml).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// The proxy's API base (overrides HARK_PROXY_URL and the config file).
    #[arg(long, global = true)]
    proxy_url: Option<String>,
    /// Where the database and recordings live (overrides HARK_DATA_DIR).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Lists microphones and system-audio sources.
    Devices {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Records an interview, printing the transcript as it is finalised.
    Record {
        /// Interview id or title (a new title creates a local interview).
        #[arg(long)]
        interview: String,
        /// Microphone device id (from `hark devices`); if left out, the one in the settings'
        /// `[preferences]`, else the system default.
        #[arg(long)]
        mic: Option<String>,
        /// Also record system audio (the candidate on a call): the default output's loopback or
        /// monitor, or the device id given.
        #[arg(long, num_args = 0..=1, default_missing_value = "default")]
        system_audio: Option<String>,
        /// Stop after this many seconds.
        #[arg(long, conflicts_with = "until_silence")]
        duration: Option<f64>,
        /// Stop after this many seconds without sound on the microphone.
        #[arg(long)]
        until_silence: Option<f64>,
        /// Language hint (ISO-639-1, e.g. `en`); the preferred one if left out.
        #[arg(long)]
        language: Option<String>,
        /// Vocabulary prompt (names, jargon); the preferred one if left out.
        #[arg(long)]
        prompt: Option<String>,
        /// The candidate was told the interview is recorded and agreed: kept with the session,
        /// with the time and (when signed in) who confirmed it.
        #[arg(long)]
        consent_confirmed: bool,
        /// Print every event as a JSON line instead of the transcript.
        #[arg(long)]
        json: bool,
    },
    /// Lists sessions, newest first.
    Sessions {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Shows one session's transcript and notes.
    Show {
        /// Session id (or a unique prefix).
        id: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Searches every transcript.
    Search {
        /// Words to find (all must match; `word*` for a prefix).
        query: String,
        /// At most this many hits.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Signs in to the organisation (email and password unless `--otp` or `--sso`); the
    /// sign-in is kept in the OS keyring.
    Login {
        /// Your email (asked for if left out).
        #[arg(long)]
        email: Option<String>,
        /// Read the password from standard input (one line) instead of asking.
        #[arg(long, conflicts_with_all = ["otp", "sso", "link"])]
        password_stdin: bool,
        /// Sign in with a code sent by email (read from standard input).
        #[arg(long, conflicts_with_all = ["sso", "link"])]
        otp: bool,
        /// Sign in with a link sent by email, opened in a browser on this computer.
        #[arg(long, conflicts_with = "sso")]
        link: bool,
        /// Single sign-on in the browser with this provider (`google`, `azure`, …).
        #[arg(long)]
        sso: Option<String>,
    },
    /// Signs out: revokes this computer's session and forgets the tokens.
    Logout,
    /// Shows who is signed in and their organisations.
    Whoami {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Sends finished sessions to the organisation and pulls its interviews.
    Sync {
        /// Also send again sessions that failed for good (after fixing the cause).
        #[arg(long)]
        retry_failed: bool,
        /// Print every status change as a JSON line.
        #[arg(long)]
        json: bool,
    },
    /// Sends a session recorded local-only (or for another organisation or recruiter) to the
    /// signed-in recruiter's organisation: sessions go only where they were recorded unless you
    /// choose this.
    Share {
        /// Session id (or a unique prefix).
        id: String,
    },
    /// Transcribes through the proxy what live transcripts missed (offline, a dropped call);
    /// the app does it by itself, and `hark record` after each recording.
    Backfill,
    /// Lists the interviews that can be recorded (pulled from the organisation, or local).
    Interviews {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Exports a session to stdout (or a file).
    Export {
        /// Session id (or a unique prefix).
        id: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "md")]
        format: Format,
        /// Write to this file instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// The token the proxy gets: `HARK_ACCESS_TOKEN`, else the saved sign-in's, else none (a
/// `--dev` proxy).
fn token_for(cloud: Option<&Cloud>) -> Token {
    match (std::env::var("HARK_ACCESS_TOKEN").ok(), cloud) {
        (Some(token), _) => Token::Fixed(token),
        (None, Some(cloud)) => Token::Account(cloud.account.clone()),
        (None, None) => Token::None,
    }
}

fn exit_code(err: &anyhow::Error) -> u8 {
    match err.downcast_ref::<RecorderError>() {
        Some(RecorderError::Config(_) | RecorderError::Invalid(_)) => 2,
        Some(RecorderError::Cloud(CloudError::NotConfigured | CloudError::BadConfig(_))) => 2,
        Some(RecorderError::Cloud(
            CloudError::NotSignedIn
            | CloudError::SignInEnded { .. }
            | CloudError::Auth { .. }
            | CloudError::NoKeyring { .. }
            | CloudError::Browser { .. },
        )) => 5,
        Some(RecorderError::Store(
            StoreError::NotFound { .. }
            | StoreError::Ambiguous { .. }
            | StoreError::ElsewhereInterview { .. },
        )) => 3,
        Some(RecorderError::Audio(
            hark_audio::AudioError::NoDevice { .. }
            | hark_audio::AudioError::DeviceGone { .. }
            | hark_audio::AudioError::PermissionDenied { .. }
            | hark_audio::AudioError::DeviceBusy { .. }
            | hark_audio::AudioError::UnsupportedFormat { .. }
            | hark_audio::AudioError::SystemAudioUnavailable { .. },
        )) => 4,
        _ => 1,
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HARK_LOG")
                // The PulseAudio client logs a closed stream as an error; it is not one.
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error,pulseaudio=off")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("hark: {err:#}");
            ExitCode::from(exit_code(&err))
        }
    }
}

fn choice(id: Option<&str>) -> DeviceChoice {
    match id {
        None | Some("default") => DeviceChoice::Default,
        Some(id) => DeviceChoice::Id(id.to_string()),
    }
}

fn clock(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    format!("{}:{:02}", s / 60, s % 60)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let flags = Layer {
        proxy_url: cli.proxy_url,
        data_dir: cli.data_dir,
        ..Layer::default()
    };
    if let Command::Devices { json } = cli.command {
        let devices = hark_audio::list_devices().map_err(RecorderError::from)?;
        for device in devices {
            if json {
                println!("{}", serde_json::to_string(&device)?);
            } else {
                let format = device
                    .default_format
                    .as_ref()
                    .map(|f| format!("{} Hz, {} ch, {}", f.max_rate, f.channels, f.sample_format))
                    .unwrap_or_default();
                println!(
                    "{}{:<10} {:<50} {} ({format})",
                    if device.is_default { "* " } else { "  " },
                    format!("{:?}", device.kind).to_lowercase(),
                    device.id,
                    device.name
                );
            }
        }
        return Ok(());
    }
    let config = Config::load(cli.config.as_deref(), flags)?;
    let recorder = Recorder::open(config.clone())?;
    for cut in recorder.interrupted() {
        eprintln!("note: {} (`hark show {}`)", cut.describe(), cut.session_id);
    }
    let store = recorder.store().clone();
    match cli.command {
        Command::Devices { .. } => unreachable!("handled above"),
        Command::Record {
            interview,
            mic,
            system_audio,
            duration,
            until_silence,
            language,
            prompt,
            consent_confirmed,
            json,
        } => {
            let cloud = signed_in(&config).await;
            let prefs = &config.preferences;
            let consent = if consent_confirmed {
                let by = match &cloud {
                    Some(cloud) => cloud.account.user().await.map(|user| user.id),
                    None => None,
                };
                Some(hark_store::Consent {
                    by,
                    at_ms: hark_store::now_ms(),
                })
            } else {
                None
            };
            let token = token_for(cloud.as_ref());
            let session_id = record(
                &recorder,
                StartOptions {
                    interview,
                    microphone: choice(mic.as_deref().or(prefs.microphone.as_deref())),
                    system_audio: system_audio.as_deref().map(|id| choice(Some(id))),
                    language: language.or_else(|| prefs.language.clone()),
                    prompt: prompt.or_else(|| prefs.prompt.clone()),
                    token: token.clone(),
                    consent,
                },
                duration,
                until_silence,
                json,
            )
            .await?;
            let sync = |cloud: &Cloud| {
                let sync = cloud.sync.clone();
                async move {
                    match tokio::time::timeout(Duration::from_secs(30), sync.sync_one(session_id))
                        .await
                    {
                        Ok(Ok(())) => eprintln!("hark: synced to the organisation"),
                        Ok(Err(err)) => {
                            eprintln!("hark: not synced yet ({err}); `hark sync` sends it later")
                        }
                        Err(_) => eprintln!("hark: sync is slow; `hark sync` sends it later"),
                    }
                }
            };
            // Sent first: the proxy transcribes only for interviews the organisation knows.
            if let Some(cloud) = &cloud {
                sync(cloud).await;
            }
            // Then what the live transcript missed (offline, a dropped call), and the lines it
            // gave are sent after.
            let later = "the app, `hark backfill` or the next `hark record` finishes it";
            // At most five minutes here; what was transcribed by then is kept.
            let deadline = Instant::now() + Duration::from_secs(300);
            let filled = recorder
                .fill_gaps(&token, &|| Instant::now() < deadline)
                .await;
            match filled {
                Ok(filled) => {
                    if !filled.segments.is_empty() {
                        eprintln!(
                            "hark: transcribed what the live transcript had missed: {} more segment(s)",
                            filled.segments.len()
                        );
                        if let Some(cloud) = &cloud {
                            sync(cloud).await;
                        }
                    }
                    if let Some(why) = filled.stopped {
                        eprintln!(
                            "hark: part of what the live transcript missed is not transcribed yet ({why}); {later}"
                        );
                    }
                }
                Err(err) => eprintln!(
                    "hark: what the live transcript missed is not transcribed yet ({err}); {later}"
                ),
            }
        }
        Command::Login {
            email,
            password_stdin,
            otp,
            link,
            sso,
        } => login(&config, email, password_stdin, otp, link, sso).await?,
        Command::Logout => {
            Cloud::require(&config)?
                .account
                .sign_out()
                .await
                .map_err(RecorderError::from)?;
            eprintln!("hark: signed out");
        }
        Command::Whoami { json } => {
            let cloud = Cloud::signed_in(&config).await?;
            let user = cloud
                .account
                .user()
                .await
                .ok_or(RecorderError::from(CloudError::NotSignedIn))?;
            let memberships = hark_cloud::Rest::new(cloud.account.clone())
                .memberships()
                .await
                .map_err(RecorderError::from)?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"user": user, "memberships": memberships, "project": cloud.account.project().url})
                );
            } else {
                println!(
                    "{} ({}) at {}",
                    user.email.as_deref().unwrap_or("(no email)"),
                    user.id,
                    cloud.account.project().url
                );
                for m in memberships {
                    println!("  {} ({}): {}", m.org_name, m.org_id, m.role);
                }
            }
        }
        Command::Backfill => {
            if config.proxy_url.is_none() {
                return Err(RecorderError::Config(
                    "no proxy is configured, so nothing can be transcribed: set `proxy_url` in the settings file, HARK_PROXY_URL or --proxy-url".into(),
                )
                .into());
            }
            let cloud = signed_in(&config).await;
            let filled = recorder
                .fill_gaps(&token_for(cloud.as_ref()), &|| true)
                .await?;
            eprintln!(
                "hark: {} part(s) the live transcript missed transcribed into {} segment(s); {} left",
                filled.gaps,
                filled.segments.len(),
                filled.left
            );
            if let Some(cloud) = &cloud
                && !filled.segments.is_empty()
            {
                sync(cloud, &recorder, false, false).await?;
            }
            if let Some(why) = filled.stopped {
                anyhow::bail!("back-fill stopped: {why}; run `hark backfill` again later");
            }
        }
        Command::Sync { retry_failed, json } => {
            let cloud = Cloud::signed_in(&config).await?;
            sync(&cloud, &recorder, retry_failed, json).await?;
        }
        Command::Share { id } => {
            let cloud = Cloud::signed_in(&config).await?;
            let session_id = store.call(move |s| s.session(&id)).await?.session.id;
            cloud.sync.share(session_id).await?;
            match tokio::time::timeout(Duration::from_secs(30), cloud.sync.sync_one(session_id))
                .await
            {
                Ok(Ok(())) => eprintln!("hark: {session_id} synced to the organisation"),
                Ok(Err(err)) => {
                    eprintln!(
                        "hark: {session_id} is queued but not synced yet ({err}); `hark sync` sends it later"
                    )
                }
                Err(_) => eprintln!("hark: {session_id} is queued; `hark sync` sends it later"),
            }
        }
        Command::Interviews { json } => {
            let project = Cloud::project_url(&config);
            let interviews = store
                .call(move |s| s.interviews(project.as_deref()))
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&interviews)?);
            } else {
                for i in interviews {
                    println!(
                        "{}  {:<40} {:<24} {}",
                        i.id,
                        i.job_title,
                        i.candidate_name.as_deref().unwrap_or("-"),
                        if i.in_cloud {
                            "organisation"
                        } else {
                            "this computer"
                        }
                    );
                }
            }
        }
        Command::Sessions { json } => {
            let (project, user) = viewer(&config).await;
            let mut sessions = store.call(|s| s.sessions()).await?;
            for row in &mut sessions {
                row.held = row.session.destination.held(project.as_deref(), user);
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&sessions)?);
            } else {
                for row in sessions {
                    println!(
                        "{}  {:<32} {:>6}  {:>4} segments  {:?}  {}",
                        row.session.id,
                        row.job_title,
                        clock((row.session.seconds_recorded * 1000.0) as i64),
                        row.segments,
                        row.session.state,
                        match (&row.sync_state, &row.sync_error) {
                            (Some(state), _) if state != "synced" && row.held.is_some() => format!(
                                "not sent: {}{}",
                                row.held.as_deref().unwrap_or_default(),
                                if project.is_some() {
                                    " (`hark share <id>` sends it as yours)"
                                } else {
                                    ""
                                }
                            ),
                            (Some(state), Some(error)) if state != "synced" =>
                                format!("{state}: {error}"),
                            (Some(state), _) => state.clone(),
                            (None, _) => "-".into(),
                        }
                    );
                }
            }
        }
        Command::Show { id, json } => {
            let (project, user) = viewer(&config).await;
            let mut detail = store.call(move |s| s.session(&id)).await?;
            detail.held = detail.session.destination.held(project.as_deref(), user);
            if json {
                println!("{}", serde_json::to_string_pretty(&detail)?);
            } else {
                print!("{}", render(&detail, Format::Txt)?);
            }
        }
        Command::Search { query, limit, json } => {
            let hits = store.call(move |s| s.search(&query, limit)).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&hits)?);
            } else {
                for hit in hits {
                    println!(
                        "{}  [{}] {}: {}",
                        hit.session_id,
                        clock(hit.start_ms),
                        hit.job_title,
                        hit.snippet
                    );
                }
            }
        }
        Command::Export { id, format, out } => {
            let detail = store.call(move |s| s.session(&id)).await?;
            if out.is_none() && !format.is_text() && std::io::stdout().is_terminal() {
                anyhow::bail!(RecorderError::Invalid(format!(
                    "a {} export is a binary document: write it to a file with `--out interview.{}` or redirect the output",
                    format.extension(),
                    format.extension()
                )));
            }
            let bytes = render_bytes(&detail, format)?;
            match out {
                Some(path) => std::fs::write(&path, bytes)
                    .map_err(|err| anyhow::anyhow!("cannot write {}: {err}", path.display()))?,
                None => std::io::stdout().write_all(&bytes)?,
            }
        }
    }
    Ok(())
}

/// The organisation's account with the saved sign-in restored, if one is configured and
/// signed in; problems are warnings (recording works without it).
async fn signed_in(config: &Config) -> Option<Cloud> {
    let cloud = match Cloud::open(config) {
        Ok(Some(cloud)) => cloud,
        Ok(None) => return None,
        Err(err) => {
            eprintln!("hark: warning: {err}");
            return None;
        }
    };
    match cloud.restore().await {
        Ok(true) => Some(cloud),
        Ok(false) => None,
        Err(err) => {
            eprintln!("hark: warning: {err}");
            None
        }
    }
}

fn read_line(prompt: &str) -> anyhow::Result<String> {
    eprint!("{prompt}");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let line = line.trim_end_matches(['\r', '\n']).to_owned();
    if line.is_empty() {
        anyhow::bail!(RecorderError::Invalid(format!(
            "nothing was entered for {:?}",
            prompt.trim_end_matches([':', ' '])
        )));
    }
    Ok(line)
}

async fn login(
    config: &Config,
    email: Option<String>,
    password_stdin: bool,
    otp: bool,
    link: bool,
    sso: Option<String>,
) -> anyhow::Result<()> {
    let cloud = Cloud::require(config)?;
    let account = &cloud.account;
    let signed = if let Some(provider) = sso {
        account
            .sign_in_sso(
                &provider,
                |url| {
                    eprintln!("hark: finish signing in in your browser: {url}");
                    if let Err(err) = webbrowser::open(url) {
                        eprintln!(
                            "hark: cannot open a browser ({err}); open the address above by hand"
                        );
                    }
                    Ok(())
                },
                Duration::from_secs(300),
            )
            .await
    } else {
        let email = match email {
            Some(email) => email,
            None => read_line("Email: ")?,
        };
        if link {
            account
                .sign_in_email_link(
                    &email,
                    || eprintln!("hark: a sign-in link was sent to {email}; open it on this computer (waiting up to 10 minutes)"),
                    hark_recorder::cloud::LINK_TIMEOUT,
                )
                .await
        } else if otp {
            account
                .send_email_code(&email)
                .await
                .map_err(RecorderError::from)?;
            let code = read_line(&format!("A code was sent to {email}. Code: "))?;
            account.verify_email_code(&email, &code).await
        } else {
            let password = if password_stdin || !std::io::stdin().is_terminal() {
                read_line("")?
            } else {
                rpassword::prompt_password("Password: ")?
            };
            account.sign_in_password(&email, &password).await
        }
    }
    .map_err(RecorderError::from)?;
    eprintln!(
        "hark: signed in as {}",
        signed
            .user
            .email
            .as_deref()
            .unwrap_or(&signed.user.id.to_string())
    );
    if let Some(reason) = signed.memory_only {
        // A command ends at once: a sign-in that cannot be kept is of no use to it.
        return Err(RecorderError::from(CloudError::NoKeyring { reason }).into());
    }
    match cloud.sync.pull().await {
        Ok(n) => eprintln!("hark: {n} interviews from the organisation are ready to record"),
        Err(err) => eprintln!("hark: warning: cannot pull interviews yet: {err}"),
    }
    Ok(())
}

/// The configured project and whose sessions this computer sends, for saying why a session
/// is not sent.
async fn viewer(config: &Config) -> (Option<String>, Option<uuid::Uuid>) {
    Cloud::viewer(Cloud::open(config).ok().flatten().as_ref()).await
}

async fn sync(
    cloud: &Cloud,
    recorder: &Recorder,
    retry_failed: bool,
    json: bool,
) -> anyhow::Result<()> {
    let store = recorder.store().clone();
    if retry_failed {
        store.call(|s| s.retry_sync_now()).await?;
    }
    match cloud.sync.pull().await {
        Ok(n) => eprintln!("hark: pulled {n} interviews"),
        Err(err) => eprintln!("hark: warning: cannot pull interviews: {err}"),
    }
    let mut events = cloud.sync.subscribe();
    let printer = tokio::spawn(async move {
        while let Ok(event) = events.recv().await {
            if json {
                println!("{}", serde_json::to_string(&event).unwrap_or_default());
            } else {
                match &event.status {
                    SyncStatus::Synced { segments } => {
                        println!("{}  synced ({segments} segments)", event.session_id)
                    }
                    SyncStatus::Failed {
                        reason,
                        retry_at_ms,
                    } => println!(
                        "{}  {}: {reason}",
                        event.session_id,
                        if retry_at_ms.is_some() {
                            "will retry"
                        } else {
                            "failed"
                        }
                    ),
                    _ => {}
                }
            }
        }
    });
    let report = cloud.sync.sync_due().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    printer.abort();
    let report = report.map_err(RecorderError::from)?;
    let sender = cloud.sync.sender().await?;
    let retrying: Vec<uuid::Uuid> = report.retrying.iter().map(|(id, _)| *id).collect();
    let (waiting, held) = store
        .call(move |s| {
            let mut waiting = 0;
            let mut held = 0;
            for entry in s.outbox()? {
                if entry.state != "pending" {
                    continue;
                }
                if !s.destination(entry.session_id)?.sent_by(&sender) {
                    held += 1;
                } else if !retrying.contains(&entry.session_id) {
                    waiting += 1;
                }
            }
            Ok((waiting, held))
        })
        .await?;
    eprintln!(
        "hark: {} synced, {} to retry, {} failed{}{}",
        report.synced.len(),
        report.retrying.len(),
        report.failed.len(),
        if waiting > 0 {
            format!(", {waiting} waiting for their retry time")
        } else {
            String::new()
        },
        if held > 0 {
            format!(
                ", {held} not sent (recorded local-only or for another organisation or account: `hark sessions` says which; `hark share <id>` sends one)"
            )
        } else {
            String::new()
        }
    );
    if !report.failed.is_empty() || !report.retrying.is_empty() {
        anyhow::bail!(
            "{} sessions were not synced; `hark sessions` shows them, `hark sync --retry-failed` sends them again",
            report.failed.len() + report.retrying.len()
        );
    }
    Ok(())
}

async fn record(
    recorder: &Recorder,
    options: StartOptions,
    duration: Option<f64>,
    until_silence: Option<f64>,
    json: bool,
) -> anyhow::Result<uuid::Uuid> {
    let recording = recorder.start(options).await?;
    let mut events = recording.subscribe();
    eprintln!(
        "hark: recording {} (session {}); Ctrl-C stops",
        recording.interview.job_title, recording.session.id
    );
    let started = Instant::now();
    let deadline = duration.map(|s| started + Duration::from_secs_f64(s));
    let mut last_sound = Instant::now();
    let mut heard = false;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let until_deadline = deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::from_secs(3600));
        tokio::select! {
            _ = &mut ctrl_c => break,
            _ = tokio::time::sleep(until_deadline), if deadline.is_some() => break,
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            event = events.recv() => match event {
                Ok(event) => {
                    if let RecorderEvent::Audio { event: AudioEvent::Level { source: 0, peak_dbfs, .. } } = &event
                        && *peak_dbfs > -50.0
                    {
                        last_sound = Instant::now();
                        heard = true;
                    }
                    print_event(&event, json);
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => break,
            },
        }
        if let Some(seconds) = until_silence
            && heard
            && last_sound.elapsed() >= Duration::from_secs_f64(seconds)
        {
            break;
        }
    }
    eprintln!("hark: stopping…");
    let stopping = tokio::spawn(recording.stop());
    // Events of the tail (last segments) still print while stopping.
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(event) => print_event(&event, json),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => break,
            },
            _ = tokio::time::sleep(Duration::from_millis(100)) => if stopping.is_finished() { break },
        }
    }
    let summary = stopping.await??;
    while let Ok(event) = events.try_recv() {
        print_event(&event, json);
    }
    if json {
        println!(
            "{}",
            serde_json::json!({"type": "stopped", "summary": summary})
        );
    }
    eprintln!(
        "hark: saved session {} ({:.1} s, {} segments)",
        summary.session_id, summary.seconds, summary.segments
    );
    Ok(summary.session_id)
}

fn print_event(event: &RecorderEvent, json: bool) {
    if json {
        if !matches!(
            event,
            RecorderEvent::Audio {
                event: AudioEvent::Level { .. }
            }
        ) {
            println!("{}", serde_json::to_string(event).unwrap_or_default());
        }
        return;
    }
    match event {
        RecorderEvent::Final { segment, .. } => println!(
            "[{}] {}: {}",
            clock(segment.start_ms),
            speaker(&segment.source, segment.speaker_label.as_deref()),
            segment.text
        ),
        RecorderEvent::Warning { message, .. } => eprintln!("hark: warning: {message}"),
        RecorderEvent::Audio {
            event: AudioEvent::Warning { warning, .. },
        } => eprintln!("hark: audio: {warning:?}"),
        RecorderEvent::Audio {
            event: AudioEvent::Switched {
                from, to, reason, ..
            },
        } => eprintln!("hark: audio: switched from {from} to {to} ({reason:?})"),
        _ => {}
    }
}
