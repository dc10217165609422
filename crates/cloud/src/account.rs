//! The signed-in user of one profile: signs in (password, email code, SSO with PKCE), keeps the
//! access token fresh (before expiry, and once more when the API says it expired), saves each
//! rotated refresh token in the keyring, and signs out (revoking the session, clearing tokens).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Mutex;

use crate::Project;
use crate::auth::{AuthApi, REFRESH_MARGIN, Scope, Tokens, User};
use crate::error::{CloudError, Result};
use crate::vault::{Saved, Vault};

/// The outcome of a sign-in.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// Who.
    pub user: User,
    /// Why the sign-in is kept in memory only (no keyring), if it is.
    pub memory_only: Option<String>,
}

#[derive(Debug, Clone)]
struct Live {
    access_token: String,
    refresh_token: String,
    expires_at: u64,
    user: User,
}

/// One profile's sign-in.
#[derive(Debug)]
pub struct Account {
    project: Project,
    api: AuthApi,
    vault: Arc<Vault>,
    live: Mutex<Option<Live>>,
    margin: Duration,
    refreshes: AtomicU32,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Account {
    /// The account of `profile` in `project` (nobody signed in until [`Account::restore`] or a
    /// sign-in).
    pub fn new(project: Project, profile: &str) -> Result<Account> {
        let api = AuthApi::new(&project)?;
        let vault = Vault::open(&format!("{} {profile}", project.url));
        Ok(Account {
            project,
            api,
            vault: Arc::new(vault),
            live: Mutex::new(None),
            margin: REFRESH_MARGIN,
            refreshes: AtomicU32::new(0),
        })
    }

    /// Refreshes only this close to expiry (default one minute).
    pub fn with_refresh_margin(mut self, margin: Duration) -> Account {
        self.margin = margin;
        self
    }

    /// The project.
    pub fn project(&self) -> &Project {
        &self.project
    }

    /// The Auth API.
    pub fn auth(&self) -> &AuthApi {
        &self.api
    }

    /// Why sign-ins are kept in memory only, if they are.
    pub fn memory_only(&self) -> Option<String> {
        self.vault.unavailable().map(str::to_owned)
    }

    /// How many times the access token was refreshed.
    pub fn refresh_count(&self) -> u32 {
        self.refreshes.load(Ordering::Relaxed)
    }

    async fn vault<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Vault) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let vault = self.vault.clone();
        tokio::task::spawn_blocking(move || work(&vault))
            .await
            .map_err(|err| CloudError::Keyring {
                action: "reach the keyring",
                reason: err.to_string(),
            })?
    }

    /// Makes `tokens` the live sign-in and saves the refresh token.
    async fn adopt(&self, tokens: Tokens) -> Result<SignedIn> {
        let live = Live {
            expires_at: tokens
                .expires_at
                .unwrap_or_else(|| now_secs() + tokens.expires_in),
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            user: tokens.user,
        };
        let saved = Saved {
            refresh_token: live.refresh_token.clone(),
            user_id: live.user.id,
            email: live.user.email.clone(),
        };
        let user = live.user.clone();
        *self.live.lock().await = Some(live);
        let memory_only = match self.vault(move |vault| vault.save(&saved)).await {
            Ok(()) => None,
            Err(CloudError::NoKeyring { reason }) => {
                tracing::warn!("no OS keyring ({reason}): the sign-in is kept in memory only");
                Some(reason)
            }
            Err(err) => return Err(err),
        };
        Ok(SignedIn { user, memory_only })
    }

    /// Signs in with email and password.
    pub async fn sign_in_password(&self, email: &str, password: &str) -> Result<SignedIn> {
        let tokens = self.api.sign_in_password(email, password).await?;
        self.adopt(tokens).await
    }

    /// Emails a one-time code.
    pub async fn send_email_code(&self, email: &str) -> Result<()> {
        self.api.send_email_code(email).await
    }

    /// Signs in with the emailed code.
    pub async fn verify_email_code(&self, email: &str, code: &str) -> Result<SignedIn> {
        let tokens = self.api.verify_email_code(email, code).await?;
        self.adopt(tokens).await
    }

    /// Signs in with the link emailed to `email`: `sent` is called once it is on its way; the
    /// click (in a browser on this computer) comes back to a loopback listener within
    /// `timeout`, and its code is exchanged with this sign-in's PKCE verifier.
    pub async fn sign_in_email_link(
        &self,
        email: &str,
        sent: impl FnOnce(),
        timeout: Duration,
    ) -> Result<SignedIn> {
        let pkce = crate::pkce::Pkce::new();
        let loopback = crate::pkce::LoopbackRedirect::bind().await?;
        self.api
            .send_email_link(email, &loopback.redirect_uri, &pkce.challenge)
            .await?;
        sent();
        let code = loopback
            .wait_for(
                "the emailed link",
                timeout,
                "ask for a new link and open it on this computer while Hark waits",
            )
            .await?;
        let tokens = self.api.exchange_code(&code, &pkce.verifier).await?;
        self.adopt(tokens).await
    }

    /// Single sign-on with `provider` (`google`, `azure`, …): `open` shows the URL in the
    /// system browser; the answer comes back to a loopback listener within `timeout`.
    pub async fn sign_in_sso(
        &self,
        provider: &str,
        open: impl FnOnce(&str) -> Result<()>,
        timeout: Duration,
    ) -> Result<SignedIn> {
        let pkce = crate::pkce::Pkce::new();
        let loopback = crate::pkce::LoopbackRedirect::bind().await?;
        let url = self
            .api
            .authorize_url(provider, &loopback.redirect_uri, &pkce.challenge)?;
        open(&url)?;
        let code = loopback.wait(provider, timeout).await?;
        let tokens = self.api.exchange_code(&code, &pkce.verifier).await?;
        self.adopt(tokens).await
    }

    /// Picks up the sign-in saved in the keyring (refreshing it); `None` if there is none.
    pub async fn restore(&self) -> Result<Option<User>> {
        if self.live.lock().await.is_some() {
            return Ok(self.user().await);
        }
        let saved = match self.vault(|vault| vault.load()).await {
            Ok(saved) => saved,
            Err(CloudError::NoKeyring { .. }) => None,
            Err(err) => return Err(err),
        };
        let Some(saved) = saved else {
            return Ok(None);
        };
        match self.refresh_with(&saved.refresh_token).await {
            Ok(user) => Ok(Some(user)),
            Err(err @ CloudError::SignInEnded { .. }) => {
                self.vault(|vault| vault.clear()).await?;
                Err(err)
            }
            Err(err) => Err(err),
        }
    }

    async fn refresh_with(&self, refresh_token: &str) -> Result<User> {
        let tokens = match self.api.refresh(refresh_token).await {
            Ok(tokens) => tokens,
            Err(CloudError::SignInEnded { reason }) => {
                // Another Hark process (the app beside the CLI) may have rotated the token
                // first: the keyring then holds its successor.
                let saved = self.vault(|vault| vault.load()).await.ok().flatten();
                match saved {
                    Some(saved) if saved.refresh_token != refresh_token => {
                        self.api.refresh(&saved.refresh_token).await?
                    }
                    _ => return Err(CloudError::SignInEnded { reason }),
                }
            }
            Err(err) => return Err(err),
        };
        self.refreshes.fetch_add(1, Ordering::Relaxed);
        Ok(self.adopt(tokens).await?.user)
    }

    async fn live(&self) -> Result<Live> {
        self.live
            .lock()
            .await
            .clone()
            .ok_or(CloudError::NotSignedIn)
    }

    /// The signed-in user, if any.
    pub async fn user(&self) -> Option<User> {
        self.live
            .lock()
            .await
            .as_ref()
            .map(|live| live.user.clone())
    }

    /// Who sessions are sent as: this project and the signed-in user, if anyone is.
    pub async fn sender(&self) -> Option<hark_store::Sender> {
        self.user().await.map(|user| hark_store::Sender {
            project_url: self.project().url.clone(),
            user_id: user.id,
            email: user.email,
        })
    }

    /// Whose this computer's sessions are: the signed-in user, else the one whose sign-in the
    /// keyring keeps (not restored yet: offline at start, say). Reads no network.
    pub async fn owner(&self) -> Option<hark_store::Sender> {
        if let Some(sender) = self.sender().await {
            return Some(sender);
        }
        let saved = self.vault(|vault| vault.load()).await.ok().flatten()?;
        Some(hark_store::Sender {
            project_url: self.project().url.clone(),
            user_id: saved.user_id,
            email: saved.email,
        })
    }

    /// A usable access token, refreshed first when it is about to expire.
    pub async fn access_token(&self) -> Result<String> {
        let live = self.live().await?;
        if live.expires_at > now_secs() + self.margin.as_secs() {
            return Ok(live.access_token);
        }
        self.refresh_after(&live.access_token).await
    }

    /// Refreshes because `stale` was refused as expired; if another task already replaced it,
    /// returns the newer token instead of refreshing twice.
    pub async fn refresh_after(&self, stale: &str) -> Result<String> {
        let live = self.live().await?;
        if live.access_token != stale {
            return Ok(live.access_token);
        }
        self.refresh_with(&live.refresh_token).await?;
        self.live
            .lock()
            .await
            .as_ref()
            .map(|live| live.access_token.clone())
            .ok_or(CloudError::NotSignedIn)
    }

    /// Signs out: revokes this device's session at the project and forgets the tokens here
    /// (even when the project cannot be reached; the error then says the revocation is owed).
    pub async fn sign_out(&self) -> Result<()> {
        let live = self.live.lock().await.take();
        let saved = self.vault(|vault| vault.load()).await.ok().flatten();
        self.vault(|vault| vault.clear()).await?;
        let token = match (&live, saved) {
            (Some(live), _) => Some(live.access_token.clone()),
            // Not restored in this process: a refresh yields a token to revoke with.
            (None, Some(saved)) => self
                .api
                .refresh(&saved.refresh_token)
                .await
                .ok()
                .map(|t| t.access_token),
            (None, None) => None,
        };
        match token {
            Some(token) => match self.api.sign_out(&token, Scope::Local).await {
                Ok(()) => Ok(()),
                // Already revoked elsewhere: nothing left to do.
                Err(CloudError::Auth {
                    status: 401 | 403 | 404,
                    ..
                }) => Ok(()),
                Err(err) => Err(err),
            },
            None => Ok(()),
        }
    }
}
