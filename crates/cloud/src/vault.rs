//! Where the sign-in survives a restart: the refresh token in the OS keyring (Keychain,
//! Credential Manager, Secret Service) through `keyring`, and nowhere else. Without a usable
//! keyring the vault says why and keeps nothing: the sign-in then lives in memory only.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{CloudError, Result};

/// The keyring's service name for Hark's entries.
pub const SERVICE: &str = "dev.hark.app";

/// What the keyring holds for one profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Saved {
    /// The current (single-use) refresh token.
    pub refresh_token: String,
    /// Whose it is.
    pub user_id: Uuid,
    /// Their email, to show before the first refresh.
    pub email: Option<String>,
}

/// The keyring entry of one profile (a project URL and a data folder).
#[derive(Debug)]
pub struct Vault {
    account: String,
    unavailable: Option<String>,
}

fn keyring_error(action: &'static str, err: keyring::Error) -> CloudError {
    match err {
        keyring::Error::NoDefaultStore | keyring::Error::NoStorageAccess(_) => {
            CloudError::NoKeyring {
                reason: err.to_string(),
            }
        }
        other => CloudError::Keyring {
            action,
            reason: other.to_string(),
        },
    }
}

impl Vault {
    /// The entry for `profile` (usually `<project URL> <data folder>`). Checks once whether a
    /// keyring is reachable; see [`Vault::unavailable`].
    pub fn open(profile: &str) -> Vault {
        let unavailable = match keyring::Entry::store_status() {
            Ok(()) => None,
            Err(err) => Some(match err {
                keyring::Error::NoDefaultStore => {
                    "no Secret Service answers on the D-Bus session (or no session bus)".to_string()
                }
                other => other.to_string(),
            }),
        };
        Vault {
            account: profile.to_owned(),
            unavailable,
        }
    }

    /// Why the keyring cannot be used, if it cannot.
    pub fn unavailable(&self) -> Option<&str> {
        self.unavailable.as_deref()
    }

    fn entry(&self) -> Result<keyring::Entry> {
        if let Some(reason) = &self.unavailable {
            return Err(CloudError::NoKeyring {
                reason: reason.clone(),
            });
        }
        keyring::Entry::new(SERVICE, &self.account)
            .map_err(|err| keyring_error("open an entry", err))
    }

    /// What was saved, if anything. Blocking (a D-Bus round trip): call off the async threads.
    pub fn load(&self) -> Result<Option<Saved>> {
        let entry = self.entry()?;
        match entry.get_password() {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|err| CloudError::Keyring {
                    action: "read the saved sign-in",
                    reason: format!("the entry is not Hark's ({err}); sign in again to replace it"),
                }),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(err) => Err(keyring_error("read the saved sign-in", err)),
        }
    }

    /// Saves (replacing) the sign-in. Blocking.
    pub fn save(&self, saved: &Saved) -> Result<()> {
        let text = serde_json::to_string(saved).map_err(|err| CloudError::Keyring {
            action: "save the sign-in",
            reason: err.to_string(),
        })?;
        self.entry()?
            .set_password(&text)
            .map_err(|err| keyring_error("save the sign-in", err))
    }

    /// Forgets the sign-in. Blocking; nothing saved is not an error.
    pub fn clear(&self) -> Result<()> {
        if self.unavailable.is_some() {
            return Ok(());
        }
        match self.entry()?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(err) => Err(keyring_error("forget the sign-in", err)),
        }
    }
}
