//! What the shell keeps for the window: the studio (recorder and its one recording), the
//! settings in force and where they are saved.

use std::path::PathBuf;
use std::sync::Mutex;

use hark_recorder::config::Preferences;
use hark_recorder::data_folder::Moved;
use hark_recorder::{Cloud, Config, Recorder, Studio};
use serde::Serialize;

use crate::error::Result;
use crate::links::OpenedLink;
use crate::shortcuts::ShortcutInfo;

/// The value behind `mutex`, also after a panic elsewhere (these hold plain data).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The app's managed state.
#[derive(Debug)]
pub struct Shell {
    /// Recorder and current recording.
    pub studio: Studio,
    /// The config file the app reads and writes (the CLI's too).
    pub config_file: Option<PathBuf>,
    /// Why the settings could not be used (the app then runs local-only in the standard folder).
    pub config_error: Option<String>,
    /// The recruiter's preferences as last saved.
    preferences: Mutex<Preferences>,
    /// The global shortcuts and what failed, once registered.
    shortcuts: Mutex<Vec<ShortcutInfo>>,
    /// Whether grabbing the shortcuts has begun.
    shortcuts_claimed: std::sync::atomic::AtomicBool,
    /// The last `hark://` link opened, until the window takes it.
    link: Mutex<Option<OpenedLink>>,
    /// Whether the window shows level meters (levels are sent only then).
    pub meters: crate::events::MetersShown,
}

/// The log file's name in [`Shell::log_dir`] (`hark.log`).
pub const LOG_NAME: &str = "hark";

/// WebKitGTK's switch for its DMA-BUF renderer, which `main.rs` turns off without a GPU.
pub const DMABUF_RENDERER_VAR: &str = "WEBKIT_DISABLE_DMABUF_RENDERER";
/// JavaScriptCore's switch for its optimising compilers, which `main.rs` turns off.
pub const DFG_JIT_VAR: &str = "JSC_useDFGJIT";

/// Restarts the app (new settings take effect); set up with the app's handle.
pub struct Restart(pub Box<dyn Fn() + Send + Sync>);

impl std::fmt::Debug for Restart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Restart")
    }
}

/// Lets go of the global shortcuts and grabs the ones `Preferences` name; set up with the
/// app's handle.
pub struct Regrab(pub std::sync::Arc<GrabShortcuts>);

/// What [`Regrab`] runs: grab the shortcuts `Preferences` name; what works and what does not.
pub type GrabShortcuts = dyn Fn(&Preferences) -> Vec<ShortcutInfo> + Send + Sync;

impl std::fmt::Debug for Regrab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Regrab")
    }
}

/// The question the save dialog asks: a suggested file name and the format to save.
pub type AskWhereToSave =
    dyn Fn(&str, hark_recorder::export::Format) -> Result<Option<PathBuf>> + Send + Sync;

/// Asks where to save a file in the system's save dialog (`None` when cancelled); set up with
/// the app's handle.
pub struct SaveDialog(pub std::sync::Arc<AskWhereToSave>);

impl std::fmt::Debug for SaveDialog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SaveDialog")
    }
}

/// Asks for a folder in the system's folder dialog, titled with the question (`None` when
/// cancelled); set up with the app's handle.
pub struct PickFolder(pub std::sync::Arc<AskForFolder>);

/// The question the folder dialog asks: its title.
pub type AskForFolder = dyn Fn(&str) -> Result<Option<PathBuf>> + Send + Sync;

impl std::fmt::Debug for PickFolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PickFolder")
    }
}

/// What the UI needs to know about the app at start.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct AppInfo {
    /// The app's version.
    pub version: String,
    /// No settings saved yet: show the first-run screen.
    pub first_run: bool,
    /// Whether an organisation's project is configured (else local-only); who is signed in
    /// comes from `account_status`.
    pub organisation: bool,
    /// The transcription proxy, if one is configured (else no live transcript).
    pub proxy_url: Option<String>,
    /// Where sessions and recordings are kept.
    pub data_dir: String,
    /// The settings file.
    pub config_file: Option<String>,
    /// The settings are broken: what is wrong and how to fix it (running local-only meanwhile).
    pub config_error: Option<String>,
    /// Devices, language, vocabulary and theme the recruiter chose.
    pub preferences: Preferences,
    /// The global shortcuts, with why any does not work.
    pub shortcuts: Vec<ShortcutInfo>,
    /// Sessions a crash had cut short, found at this start: the window says what was kept.
    pub interrupted: Vec<hark_recorder::Interrupted>,
}

impl Shell {
    /// Loads the settings (file, then `HARK_*` overrides) and opens the local store. Broken
    /// settings do not stop the app: it runs local-only and the UI says what to fix.
    pub fn open() -> Result<Shell> {
        let config_file = hark_recorder::config::default_file();
        let loaded = Config::load(config_file.as_deref(), Default::default())
            .and_then(|config| Ok((Cloud::open(&config)?, config)));
        let (cloud, config, config_error) = match loaded {
            Ok((cloud, config)) => (cloud, config, None),
            Err(err) => (None, Config::fallback(), Some(err.to_string())),
        };
        Ok(Shell {
            preferences: Mutex::new(config.preferences.clone()),
            shortcuts: Mutex::default(),
            shortcuts_claimed: Default::default(),
            link: Mutex::default(),
            meters: Default::default(),
            studio: Studio::new(Recorder::open(config)?, cloud),
            config_file,
            config_error,
        })
    }

    /// An error while recording: "stop the recording first: `why`".
    pub fn refuse_while_recording(&self, why: &str) -> Result<()> {
        if self.studio.is_recording() {
            return Err(crate::error::UiError::Invalid {
                message: format!("stop the recording first: {why}"),
            });
        }
        Ok(())
    }

    /// Saves the organisation's settings; refused while recording (the restart would stop it).
    pub async fn save_connection(&self, connection: &crate::commands::Connection) -> Result<()> {
        self.refuse_while_recording("connecting restarts Hark")?;
        let file = self.settings_file()?;
        hark_recorder::config::save_connection(
            file,
            &connection.proxy_url,
            &connection.supabase_url,
            &connection.supabase_anon_key,
        )?;
        Ok(())
    }

    /// Saves the recruiter's preferences in the settings file; they apply from now on.
    pub fn save_preferences(&self, preferences: Preferences) -> Result<()> {
        let file = self.settings_file()?;
        let saved = hark_recorder::config::save_preferences(file, preferences)?;
        *lock(&self.preferences) = saved;
        Ok(())
    }

    /// `true` the first time only: the shortcuts are grabbed once, however often the page
    /// loads.
    pub fn claim_shortcuts(&self) -> bool {
        !self
            .shortcuts_claimed
            .swap(true, std::sync::atomic::Ordering::SeqCst)
    }

    /// Keeps the global shortcuts' state for [`Shell::info`].
    pub fn set_shortcuts(&self, shortcuts: Vec<ShortcutInfo>) {
        *lock(&self.shortcuts) = shortcuts;
    }

    /// The recruiter's preferences as last saved.
    pub fn preferences(&self) -> Preferences {
        lock(&self.preferences).clone()
    }

    /// Changes the global shortcuts: checked, saved with the preferences, then grabbed
    /// (`regrab`); what does not work is in the shortcuts' `problem`.
    pub async fn save_shortcuts(
        &self,
        record: &str,
        bookmark: &str,
        regrab: &Regrab,
    ) -> Result<()> {
        use crate::shortcuts::{SHORTCUTS, check};
        let (record, bookmark) = (record.trim().to_string(), bookmark.trim().to_string());
        check(&record, &bookmark).map_err(|message| crate::error::UiError::Invalid { message })?;
        let mut preferences = self.preferences();
        preferences.record_shortcut = (record != SHORTCUTS[0].0).then_some(record);
        preferences.bookmark_shortcut = (bookmark != SHORTCUTS[1].0).then_some(bookmark);
        self.save_preferences(preferences.clone())?;
        let grab = regrab.0.clone();
        let registered = tokio::task::spawn_blocking(move || grab(&preferences))
            .await
            .map_err(|err| crate::error::UiError::Invalid {
                message: format!("grabbing the shortcuts failed ({err}); restart Hark"),
            })?;
        self.set_shortcuts(registered);
        Ok(())
    }

    /// Keeps a link the operating system opened until the window takes it.
    pub fn set_link(&self, link: OpenedLink) {
        *lock(&self.link) = Some(link);
    }

    /// The link opened since the window last asked, if any.
    pub fn take_link(&self) -> Option<OpenedLink> {
        lock(&self.link).take()
    }

    fn settings_file(&self) -> Result<&std::path::Path> {
        self.config_file
            .as_deref()
            .ok_or_else(|| crate::error::UiError::Config {
                message: "this system has no settings folder; set the HARK_* variables instead"
                    .into(),
            })
    }

    /// Copies the sessions, recordings and logs to `folder` and points the settings at it (the
    /// app then restarts from there). Refused while recording, and while `HARK_DATA_DIR`
    /// chooses the folder (the move would not last).
    pub async fn move_data_folder(&self, folder: String) -> Result<Moved> {
        self.refuse_while_recording("moving the data folder restarts Hark")?;
        if let Some(chosen) = std::env::var_os("HARK_DATA_DIR").filter(|v| !v.is_empty()) {
            return Err(crate::error::UiError::Invalid {
                message: format!(
                    "HARK_DATA_DIR ({}) chooses the data folder for this run, so a move would not last: unset it first, or move the folder by hand and point HARK_DATA_DIR at it",
                    PathBuf::from(chosen).display()
                ),
            });
        }
        let settings = self.settings_file()?.to_path_buf();
        let moved = self
            .studio
            .move_data_folder(PathBuf::from(folder.trim()), settings)
            .await?;
        tracing::info!(
            "copied the data folder to {} ({} files, {} bytes); restarting from there",
            moved.to,
            moved.files,
            moved.bytes
        );
        Ok(moved)
    }

    /// Where the app's log files are (`<data folder>/logs`).
    pub fn log_dir(&self) -> PathBuf {
        self.studio.recorder().config().data_dir.join("logs")
    }

    /// What support needs to help: version, system, settings (no keys or tokens), folders,
    /// who is signed in, and the end of the log.
    pub async fn diagnostics(&self) -> String {
        let config = self.studio.recorder().config();
        let account = match self.studio.cloud() {
            Some(cloud) => {
                let status = cloud.status().await;
                format!(
                    "organisation {} — {}{}",
                    status.project_url,
                    status.email.as_deref().unwrap_or("not signed in"),
                    status
                        .problem
                        .map(|p| format!(" ({p})"))
                        .unwrap_or_default()
                )
            }
            None => "local-only".into(),
        };
        let log = self.log_dir().join(format!("{LOG_NAME}.log"));
        let tail = std::fs::read_to_string(&log)
            .map(|text| {
                let lines: Vec<&str> = text.lines().collect();
                lines[lines.len().saturating_sub(200)..].join("\n")
            })
            .unwrap_or_else(|err| format!("(cannot read {}: {err})", log.display()));
        format!(
            "Hark {} on {} {}\nsettings: {}{}\nproxy: {}\naccount: {account}\ndata folder: {}\nlog: {}\nrecording now: {}\n{}\n--- last log lines ---\n{tail}\n",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            std::env::consts::ARCH,
            self.config_file
                .as_ref()
                .map(|f| f.display().to_string())
                .unwrap_or_else(|| "none".into()),
            self.config_error
                .as_ref()
                .map(|e| format!(" (broken: {e})"))
                .unwrap_or_default(),
            config.proxy_url.as_deref().unwrap_or("none"),
            config.data_dir.display(),
            log.display(),
            self.studio.is_recording(),
            // What `main.rs` chose for WebKit (or the user set).
            [DMABUF_RENDERER_VAR, DFG_JIT_VAR]
                .map(|var| format!(
                    "{var}: {}\n",
                    std::env::var(var).unwrap_or_else(|_| "unset".into())
                ))
                .concat(),
        )
    }

    /// The organisation's account and sync, or an error saying the app is local-only.
    pub fn cloud(&self) -> Result<&Cloud> {
        self.studio.cloud().ok_or_else(|| {
            hark_recorder::RecorderError::from(hark_cloud::CloudError::NotConfigured).into()
        })
    }

    /// The app's facts for the UI.
    pub fn info(&self) -> AppInfo {
        let config = self.studio.recorder().config();
        AppInfo {
            version: env!("CARGO_PKG_VERSION").into(),
            first_run: self.config_file.as_ref().is_some_and(|file| !file.exists()),
            organisation: self.studio.cloud().is_some(),
            proxy_url: config.proxy_url.clone(),
            data_dir: config.data_dir.display().to_string(),
            config_file: self.config_file.as_ref().map(|f| f.display().to_string()),
            config_error: self.config_error.clone(),
            preferences: lock(&self.preferences).clone(),
            shortcuts: lock(&self.shortcuts).clone(),
            interrupted: self.studio.recorder().interrupted().to_vec(),
        }
    }
}
