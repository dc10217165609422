//! Updates: Hark asks its release feed for a newer version, downloads it, checks it against the
//! release key built into the app (tauri-plugin-updater, minisign), installs it over itself and
//! restarts. A download that is not signed with that key, or signed for another version, is
//! never installed.

use std::sync::Arc;

use serde::Serialize;
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_updater::{Update, Updater, UpdaterExt};
use tauri_specta::Event;

use crate::error::{Result, UiError};

/// Where updates come from: the key and the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The release key (base64 minisign public key).
    pub key: String,
    /// The release feed.
    pub feed: tauri::Url,
}

/// The release key and feed of this copy: `plugins.updater.pubkey` and the first of its
/// `endpoints`, which a release build merges into `tauri.conf.json` (see `RELEASING.md`; the
/// bundler refuses to sign with a private key that does not match). A debug build also takes
/// `HARK_UPDATER_PUBKEY` and `HARK_UPDATER_URL` from its environment (the tests publish their
/// own releases); a release build trusts only what it was built with.
pub fn source(config: &tauri::Config) -> std::result::Result<Source, String> {
    let runtime = |name: &str| {
        cfg!(debug_assertions)
            .then(|| std::env::var(name).ok())
            .flatten()
    };
    let updater = config.plugins.0.get("updater");
    let built_in = |field: &str| {
        let value = updater.and_then(|updater| updater.get(field));
        match value {
            Some(serde_json::Value::Array(items)) => items.first().and_then(|v| v.as_str()),
            Some(value) => value.as_str(),
            None => None,
        }
        .map(str::to_owned)
    };
    resolve(
        runtime("HARK_UPDATER_PUBKEY").or_else(|| built_in("pubkey")),
        runtime("HARK_UPDATER_URL").or_else(|| built_in("endpoints")),
    )
}

/// The source from a key and a feed, or why there is none.
fn resolve(key: Option<String>, feed: Option<String>) -> std::result::Result<Source, String> {
    let given = |value: Option<String>| value.filter(|value| !value.trim().is_empty());
    let (Some(key), Some(feed)) = (given(key), given(feed)) else {
        return Err(
            "this copy of Hark was built without a release feed, so it cannot update itself; new versions come with your organisation's installer"
                .into(),
        );
    };
    let feed = tauri::Url::parse(feed.trim()).map_err(|err| {
        format!("this copy of Hark was built with a release feed that is not a URL ({err}); new versions come with your organisation's installer")
    })?;
    Ok(Source {
        key: key.trim().to_owned(),
        feed,
    })
}

/// Adds the updater plugin, trusting the release key, when this copy (built with `config`) has
/// an update source.
pub fn add_plugin<R: Runtime>(
    builder: tauri::Builder<R>,
    config: &tauri::Config,
) -> tauri::Builder<R> {
    match source(config) {
        Ok(source) => builder
            .plugin(
                tauri_plugin_updater::Builder::new()
                    .pubkey(source.key)
                    .build(),
            )
            .manage(PluginAdded),
        Err(_) => builder,
    }
}

/// Managed once [`add_plugin`] added the plugin (whose state is private).
#[derive(Debug)]
struct PluginAdded;

/// A newer version on the release feed.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct AvailableUpdate {
    /// Its version.
    pub version: String,
    /// What is new, as the release notes say.
    pub notes: Option<String>,
    /// When it was published (RFC 3339).
    pub published: Option<String>,
}

/// What checking for updates found.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct UpdateCheck {
    /// This copy's version.
    pub current: String,
    /// A newer version, if there is one.
    pub available: Option<AvailableUpdate>,
}

/// How much of an update has been downloaded.
#[derive(Debug, Clone, Serialize, specta::Type, tauri_specta::Event)]
pub struct UpdateProgress {
    /// Bytes received so far.
    pub received: u64,
    /// The download's size, when the feed's server says.
    pub total: Option<u64>,
}

/// Checks, downloads and installs updates for the window (managed state).
pub struct Updates {
    /// The updater, or why this copy cannot update itself.
    updater: std::result::Result<Updater, String>,
    /// Where the feed is (named in errors).
    feed: Option<tauri::Url>,
    /// The update the last check found, until it is installed.
    found: tokio::sync::Mutex<Option<Update>>,
    /// Why installing over this copy cannot work, if it cannot (not installed by an installer).
    not_installed: Option<String>,
    /// Tells the window how the download goes.
    progress: Arc<dyn Fn(UpdateProgress) + Send + Sync>,
}

impl std::fmt::Debug for Updates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Updates")
            .field("feed", &self.feed)
            .field("available", &self.updater.is_ok())
            .finish_non_exhaustive()
    }
}

impl Updates {
    /// The app's updater (after [`add_plugin`] added the plugin, when there is a source).
    pub fn new<R: Runtime>(app: &AppHandle<R>) -> Updates {
        let source = source(app.config());
        let feed = source.as_ref().ok().map(|source| source.feed.clone());
        let updater = source.and_then(|source| {
            if app.try_state::<PluginAdded>().is_none() {
                return Err("this window was started without the updater".into());
            }
            app.updater_builder()
                .endpoints(vec![source.feed.clone()])
                .and_then(|builder| builder.build())
                .map_err(|err| format!("the release feed {} cannot be used: {err}", source.feed))
        });
        let emitter = app.clone();
        Updates {
            updater,
            feed,
            found: Default::default(),
            not_installed: not_installed(app),
            progress: Arc::new(move |progress: UpdateProgress| {
                if let Err(err) = progress.emit(&emitter) {
                    tracing::warn!("cannot tell the window how the update download goes: {err}");
                }
            }),
        }
    }

    /// Asks the release feed whether there is a newer version.
    pub async fn check(&self) -> Result<UpdateCheck> {
        let updater = self.updater.as_ref().map_err(|reason| UiError::Update {
            message: reason.clone(),
        })?;
        let found = updater
            .check()
            .await
            .map_err(|err| self.failed(err, None))?;
        let available = found.as_ref().map(|update| AvailableUpdate {
            version: update.version.clone(),
            notes: update.body.clone().filter(|notes| !notes.trim().is_empty()),
            published: update.raw_json["pub_date"].as_str().map(str::to_owned),
        });
        *self.found.lock().await = found;
        Ok(UpdateCheck {
            current: env!("CARGO_PKG_VERSION").into(),
            available,
        })
    }

    /// Downloads the update the last check found, verifies it against the release key and
    /// installs it over this copy; returns its version (restart to run it).
    pub async fn install(&self) -> Result<String> {
        if let Some(reason) = &self.not_installed {
            return Err(UiError::Update {
                message: reason.clone(),
            });
        }
        let mut found = self.found.lock().await;
        let Some(update) = found.as_ref() else {
            return Err(UiError::Invalid {
                message: "there is no update to install: check for updates first".into(),
            });
        };
        let version = update.version.clone();
        let progress = self.progress.clone();
        let mut received = 0_u64;
        let bytes = update
            .download(
                |chunk, total| {
                    received += chunk as u64;
                    progress(UpdateProgress { received, total });
                },
                || {},
            )
            .await
            .map_err(|err| self.failed(err, Some(&version)))?;
        let update = found.take().expect("checked above");
        tauri::async_runtime::spawn_blocking(move || update.install(bytes))
            .await
            .map_err(|err| UiError::Update {
                message: format!("installing Hark {version} stopped unexpectedly ({err}); your version is unchanged"),
            })?
            .map_err(|err| UiError::Update {
                message: format!(
                    "Hark {version} could not be installed ({err}); your version is unchanged. Install it with your organisation's installer"
                ),
            })?;
        tracing::info!("installed Hark {version}; it runs after the restart");
        Ok(version)
    }

    /// The error for the window: what went wrong with the feed or the download, and what to do.
    fn failed(&self, err: tauri_plugin_updater::Error, version: Option<&str>) -> UiError {
        use tauri_plugin_updater::Error as E;
        let feed = self
            .feed
            .as_ref()
            .map_or_else(String::new, |feed| feed.to_string());
        let what = version.map_or_else(|| "the update".to_owned(), |v| format!("Hark {v}"));
        let message = match err {
            E::Minisign(_)
            | E::Base64(_)
            | E::SignatureUtf8(_)
            | E::SignedVersionMismatch { .. }
            | E::MissingSignedVersion => format!(
                "the download of {what} is not signed with Hark's release key, so it was not installed and your version is unchanged; tell your admin, the release feed ({feed}) may have been tampered with ({err})"
            ),
            E::Reqwest(_) | E::Network(_) => format!(
                "the release feed ({feed}) cannot be reached ({err}); check the internet connection and try again"
            ),
            E::ReleaseNotFound | E::Serialization(_) | E::Semver(_) | E::UrlParse(_) => format!(
                "the release feed ({feed}) did not answer with a release Hark can read ({err}); tell your admin"
            ),
            E::TargetNotFound(_) | E::TargetsNotFound(_) => format!(
                "the release feed ({feed}) has no Hark for this system ({err}); tell your admin"
            ),
            other => format!("{what} cannot be installed ({other}); your version is unchanged"),
        };
        UiError::Update { message }
    }
}

/// Why installing over this copy would not work: on Linux a copy that neither runs as an
/// AppImage nor came as a package is a developer's build, and installing would overwrite it.
fn not_installed<R: Runtime>(app: &AppHandle<R>) -> Option<String> {
    if !cfg!(target_os = "linux") || tauri::utils::platform::bundle_type().is_some() {
        return None;
    }
    #[cfg(target_os = "linux")]
    if app.env().appimage.is_some() {
        return None;
    }
    let _ = app;
    let exe = tauri::utils::platform::current_exe()
        .map(|path| path.display().to_string())
        .unwrap_or_else(|_| "an unknown place".into());
    Some(format!(
        "this copy of Hark runs from {exe}, not from an AppImage or a package, so it cannot replace itself; install the new version with your organisation's installer"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_without_key_or_feed_says_it_cannot_update_itself() {
        let none = "this copy of Hark was built without a release feed";
        for (key, feed) in [
            (None, Some("https://releases.example/latest.json")),
            (Some("a2V5"), None),
            (Some("  "), Some("https://releases.example/latest.json")),
        ] {
            let err = resolve(key.map(Into::into), feed.map(Into::into)).unwrap_err();
            assert!(err.starts_with(none), "{err}");
        }
        let err = resolve(Some("a2V5".into()), Some("releases/latest.json".into())).unwrap_err();
        assert!(err.contains("not a URL"), "{err}");
        let source = resolve(
            Some(" a2V5\n".into()),
            Some("https://releases.example/{{target}}/latest.json".into()),
        )
        .unwrap();
        assert_eq!(source.key, "a2V5");
        assert_eq!(source.feed.host_str(), Some("releases.example"));
    }

    #[test]
    fn a_build_that_no_installer_put_here_is_not_overwritten() {
        let app = tauri::test::mock_app();
        let updates = Updates::new(app.handle());
        let reason = updates.not_installed.clone();
        if cfg!(target_os = "linux") && std::env::var_os("APPIMAGE").is_none() {
            let reason = reason.expect("a reason");
            assert!(reason.contains("cannot replace itself"), "{reason}");
            let err = tauri::async_runtime::block_on(updates.install()).unwrap_err();
            assert_eq!(err.to_string(), reason);
        }
        // Without the plugin, checking says why instead of failing later.
        let err = tauri::async_runtime::block_on(updates.check()).unwrap_err();
        assert!(matches!(err, UiError::Update { .. }), "{err}");
    }
}
