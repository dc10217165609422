//! The organisation, as the shell and the CLI see it: the account of the configured project
//! and data folder (restored from the keyring) and its sync engine, or nothing when no project
//! is configured (local-only mode).

use std::sync::Arc;

use std::time::Duration;

use hark_cloud::{Account, CloudError, Membership, Project, Rest, SyncEngine};
use serde::Serialize;

use crate::config::Config;
use crate::error::Result;

/// Who is signed in, for the UI.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct AccountStatus {
    /// The organisation's project URL.
    pub project_url: String,
    /// Whether someone is signed in.
    pub signed_in: bool,
    /// Their email.
    pub email: Option<String>,
    /// Their organisations and roles (empty while they cannot be fetched).
    pub organisations: Vec<Membership>,
    /// Something the user should know (offline, no keyring), with what to do.
    pub problem: Option<String>,
}

/// How long single sign-on waits for the browser.
pub const SSO_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a sign-in waits for the emailed link to be opened.
pub const LINK_TIMEOUT: Duration = Duration::from_secs(600);

/// Opens `url` in the system browser (`$BROWSER` first on Linux).
pub fn open_in_browser(url: &str) -> Result<()> {
    webbrowser::open(url).map_err(|err| {
        CloudError::BadConfig(format!(
            "cannot open a browser ({err}); open this address by hand: {url}"
        ))
        .into()
    })
}

/// The signed-in (or not yet) account and its sync engine.
#[derive(Debug, Clone)]
pub struct Cloud {
    /// The account.
    pub account: Arc<Account>,
    /// The sync engine (its own store connection).
    pub sync: Arc<SyncEngine>,
    /// PostgREST as the user.
    pub rest: Rest,
}

impl Cloud {
    /// The project `config` names, or `None` in local-only mode.
    pub fn project(config: &Config) -> Result<Option<Project>> {
        match (&config.supabase_url, &config.supabase_anon_key) {
            (Some(url), Some(key)) => Ok(Some(Project::new(url, key)?)),
            _ => Ok(None),
        }
    }

    /// The URL of the project `config` names (as the account and the store keep it), or `None`
    /// in local-only mode or when the settings cannot name one.
    pub fn project_url(config: &Config) -> Option<String> {
        Cloud::project(config)
            .ok()
            .flatten()
            .map(|project| project.url)
    }

    /// The project `cloud` connects (none: local-only) and whose sessions this computer sends:
    /// the signed-in user, or the one whose sign-in the keyring keeps while it is not restored
    /// yet. Reads no network. What [`hark_store::Destination::held`] is asked about.
    pub async fn viewer(cloud: Option<&Cloud>) -> (Option<String>, Option<uuid::Uuid>) {
        match cloud {
            Some(cloud) => (
                Some(cloud.account.project().url.clone()),
                cloud.account.owner().await.map(|owner| owner.user_id),
            ),
            None => (None, None),
        }
    }

    /// The account and engine of `config`'s project and data folder, or `None` in local-only
    /// mode. Nobody is signed in until [`Cloud::restore`] or a sign-in.
    pub fn open(config: &Config) -> Result<Option<Cloud>> {
        let Some(project) = Cloud::project(config)? else {
            return Ok(None);
        };
        let account = Arc::new(Account::new(
            project,
            &config.data_dir.display().to_string(),
        )?);
        let rest = Rest::new(account.clone());
        let sync = Arc::new(SyncEngine::new(rest.clone(), &config.database())?);
        Ok(Some(Cloud {
            account,
            sync,
            rest,
        }))
    }

    /// [`Cloud::open`], failing with a clear error in local-only mode.
    pub fn require(config: &Config) -> Result<Cloud> {
        Cloud::open(config)?.ok_or_else(|| CloudError::NotConfigured.into())
    }

    /// [`Cloud::require`] with the saved sign-in restored, failing with
    /// [`CloudError::NotSignedIn`] when there is none.
    pub async fn signed_in(config: &Config) -> Result<Cloud> {
        let cloud = Cloud::require(config)?;
        if !cloud.restore().await? {
            return Err(CloudError::NotSignedIn.into());
        }
        Ok(cloud)
    }

    /// Who is signed in and to which organisations.
    pub async fn status(&self) -> AccountStatus {
        let user = self.account.user().await;
        let (organisations, problem) = match &user {
            Some(_) => match self.rest.memberships().await {
                Ok(found) => (found, None),
                Err(err) => (Vec::new(), Some(err.to_string())),
            },
            None => (Vec::new(), None),
        };
        let problem = problem.or_else(|| {
            self.account.memory_only().map(|reason| {
                format!(
                    "no OS keyring ({reason}): you will need to sign in again after restarting Hark"
                )
            })
        });
        AccountStatus {
            project_url: self.account.project().url.clone(),
            signed_in: user.is_some(),
            email: user.and_then(|u| u.email),
            organisations,
            problem,
        }
    }

    /// After a sign-in: the organisation's interviews are copied here and waiting sessions are
    /// sent. A failed copy is only reported (it is tried again at the next sign-in or start).
    pub async fn signed_in_now(&self) -> AccountStatus {
        if let Err(err) = self.sync.pull().await {
            tracing::warn!("cannot copy the organisation's interviews: {err}");
        }
        self.sync.wake();
        self.status().await
    }

    /// Picks up the saved sign-in; `Ok(false)` when nobody is signed in.
    pub async fn restore(&self) -> Result<bool> {
        Ok(self.account.restore().await?.is_some())
    }
}
