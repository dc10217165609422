//! Hark's link to the organisation's Supabase project: sign-in through Supabase Auth
//! ([`auth`], [`pkce`]), the signed-in [`account::Account`] whose refresh token lives only in
//! the OS keyring ([`vault`]), PostgREST as that user ([`rest`]), and the [`sync`] engine that
//! sends finished sessions once and pulls the organisation's interviews.

pub mod account;
pub mod auth;
mod error;
pub mod pkce;
pub mod rest;
pub mod sync;
pub mod vault;

use std::time::Duration;

pub use account::{Account, SignedIn};
pub use error::{CloudError, Result};
pub use rest::{Membership, Rest};
pub use sync::{SyncEngine, SyncEvent, SyncReport, SyncStatus};

/// An organisation's Supabase project as the app is configured for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// `https://<ref>.supabase.co` (no trailing slash).
    pub url: String,
    /// The anon (publishable) key.
    pub anon_key: String,
}

impl Project {
    /// A project from its URL and anon key, checked for the usual mistakes.
    pub fn new(url: &str, anon_key: &str) -> Result<Project> {
        let url = url.trim().trim_end_matches('/');
        let parsed = reqwest::Url::parse(url).map_err(|err| {
            CloudError::BadConfig(format!(
                "the Supabase URL {url:?} is not a URL ({err}); it looks like https://<project>.supabase.co"
            ))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(CloudError::BadConfig(format!(
                "the Supabase URL {url:?} must start with https:// (or http:// for a local project)"
            )));
        }
        if parsed.path().contains("/rest/v1") || parsed.path().contains("/auth/v1") {
            return Err(CloudError::BadConfig(format!(
                "the Supabase URL {url:?} should be the project's base URL, without /rest/v1 or /auth/v1"
            )));
        }
        let anon_key = anon_key.trim();
        if anon_key.is_empty() {
            return Err(CloudError::BadConfig(
                "the anon key is empty: copy the anon (publishable) key from the Supabase dashboard".into(),
            ));
        }
        Ok(Project {
            url: url.to_owned(),
            anon_key: anon_key.to_owned(),
        })
    }
}

/// The HTTP client for Supabase Auth (rustls with ring).
pub(crate) fn http_client() -> Result<reqwest::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|err| CloudError::BadConfig(format!("cannot build the HTTP client: {err}")))
}

/// A transport error with its causes, on one line.
pub(crate) fn transport_message(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_settings_are_checked() {
        let project = Project::new(" https://abc.supabase.co/ ", "key").unwrap();
        assert_eq!(project.url, "https://abc.supabase.co");
        for (url, needle) in [
            ("abc.supabase.co", "not a URL"),
            ("ftp://abc", "https://"),
            ("https://abc.supabase.co/rest/v1", "base URL"),
        ] {
            let err = Project::new(url, "key").unwrap_err().to_string();
            assert!(err.contains(needle), "{url}: {err}");
        }
        assert!(
            Project::new("https://a.b", " ")
                .unwrap_err()
                .to_string()
                .contains("anon key")
        );
    }
}
