//! The organisation, as the shell and the CLI see it: the account of the configured project
//! and data folder (restored from the keyring) and its sync engine, or nothing when no project
//! is configured (local-only mode).

use std::sync::Arc;

use hark_cloud::{Account, CloudError, Project, Rest, SyncEngine};

use crate::config::Config;
use crate::error::Result;

/// The signed-in (or not yet) account and its sync engine.
#[derive(Debug, Clone)]
pub struct Cloud {
    /// The account.
    pub account: Arc<Account>,
    /// The sync engine (its own store connection).
    pub sync: Arc<SyncEngine>,
}

impl Cloud {
    /// The project `config` names, or `None` in local-only mode.
    pub fn project(config: &Config) -> Result<Option<Project>> {
        match (&config.supabase_url, &config.supabase_anon_key) {
            (Some(url), Some(key)) => Ok(Some(Project::new(url, key)?)),
            _ => Ok(None),
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
        let sync = Arc::new(SyncEngine::new(
            Rest::new(account.clone()),
            &config.database(),
        )?);
        Ok(Some(Cloud { account, sync }))
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

    /// Picks up the saved sign-in; `Ok(false)` when nobody is signed in.
    pub async fn restore(&self) -> Result<bool> {
        Ok(self.account.restore().await?.is_some())
    }
}
