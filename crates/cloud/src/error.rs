//! The cloud crate's one error type: every failure names the problem and what fixes it, and
//! says whether trying again later can help.

use std::time::Duration;

/// Result alias for this crate.
pub type Result<T, E = CloudError> = std::result::Result<T, E>;

/// What can go wrong between Hark and the organisation's Supabase project.
#[derive(Debug, thiserror::Error)]
pub enum CloudError {
    /// No project is configured.
    #[error(
        "no organisation is configured: set HARK_SUPABASE_URL and HARK_SUPABASE_ANON_KEY (or supabase_url and supabase_anon_key in the config file); recording works without one"
    )]
    NotConfigured,
    /// The configuration is unusable.
    #[error("the organisation's settings are not usable: {0}")]
    BadConfig(String),
    /// Nobody is signed in.
    #[error("not signed in to the organisation: run `hark login` (or sign in from the app)")]
    NotSignedIn,
    /// The sign-in ended elsewhere: refresh token revoked, reused or expired.
    #[error(
        "your sign-in has ended ({reason}): sign in again (in the app, or with `hark login`); recordings stay on this computer until then"
    )]
    SignInEnded {
        /// What the server said.
        reason: String,
    },
    /// The project could not be reached.
    #[error(
        "cannot reach the organisation's project at {url}: {message}; check the network (recordings are kept and sent later)"
    )]
    Unreachable {
        /// What was called.
        url: String,
        /// The transport error.
        message: String,
    },
    /// Supabase Auth refused a request.
    #[error("{}", auth_message(*status, code, message))]
    Auth {
        /// HTTP status.
        status: u16,
        /// GoTrue's `error_code`.
        code: String,
        /// GoTrue's message.
        message: String,
    },
    /// The REST API (PostgREST) refused or failed a request.
    #[error("{}", rest_message(*status, code, message, hint.as_deref()))]
    Rest {
        /// HTTP status.
        status: u16,
        /// PostgREST's `code` (a SQLSTATE or `PGRST…`).
        code: String,
        /// The message.
        message: String,
        /// The hint, when the server gave one.
        hint: Option<String>,
        /// `Retry-After`, when the server gave one.
        retry_after: Option<Duration>,
    },
    /// No OS keyring could be used.
    #[error(
        "no OS keyring is available ({reason}), so the sign-in is kept in memory only and ends when Hark quits. On Linux start a Secret Service (GNOME Keyring or KeePassXC) in your desktop session; on macOS and Windows the system keychain is used"
    )]
    NoKeyring {
        /// Why not.
        reason: String,
    },
    /// The keyring refused an operation.
    #[error(
        "the OS keyring refused to {action}: {reason}; unlock the keyring (or allow Hark in it) and try again"
    )]
    Keyring {
        /// What was tried.
        action: &'static str,
        /// The keyring's error.
        reason: String,
    },
    /// Single sign-on through the browser failed.
    #[error("sign-in with {provider} did not finish: {reason}")]
    Browser {
        /// The provider.
        provider: String,
        /// What went wrong.
        reason: String,
    },
    /// A value given is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] hark_store::StoreError),
}

fn auth_message(status: u16, code: &str, message: &str) -> String {
    let fix = match code {
        // The CLI and the app both show these, so the fixes name neither's controls.
        "invalid_credentials" => {
            "check the email and password, or sign in with a code sent by email instead"
        }
        "otp_expired" | "invalid_otp" => "ask for a new code and enter it within a few minutes",
        "otp_disabled" | "signup_disabled" => {
            "this email has no account in the organisation: ask an admin to invite you"
        }
        "bad_code_verifier" | "flow_state_not_found" | "flow_state_expired" => {
            "start the single sign-on again"
        }
        "email_not_confirmed" => "confirm the email address first (see the invitation email)",
        "over_request_rate_limit" | "over_email_send_rate_limit" => "wait a minute and try again",
        "session_not_found" | "refresh_token_not_found" | "refresh_token_already_used" => {
            "sign in again"
        }
        "validation_failed" => "check what was entered",
        _ => "try again; if it keeps failing, send this message to your admin",
    };
    format!("sign-in refused ({status} {code}): {message}; {fix}")
}

fn rest_message(status: u16, code: &str, message: &str, hint: Option<&str>) -> String {
    let hint = hint.map(|h| format!(" ({h})")).unwrap_or_default();
    let fix = match (status, code) {
        (_, "42501") => "; ask an admin of the organisation for access",
        (_, "22023") => {
            "; this session cannot be sent as it is: report it (it stays on this computer)"
        }
        (_, "54000") => "",
        (s, _) if s >= 500 => "; the project has a problem: it is retried automatically",
        _ => "",
    };
    format!("the organisation's project refused ({status} {code}): {message}{hint}{fix}")
}

impl CloudError {
    /// Whether the same request may succeed later without anyone changing anything.
    pub fn is_retryable(&self) -> bool {
        match self {
            CloudError::Unreachable { .. } => true,
            CloudError::Rest { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            CloudError::Auth { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }

    /// Whether the request failed because the access token expired (refresh, then repeat).
    /// PostgREST answers refusals by row-level security with 401 too; only the code tells.
    pub fn is_expired_token(&self) -> bool {
        match self {
            CloudError::Rest {
                status: 401,
                code,
                message,
                ..
            } => {
                code == "PGRST303"
                    || (code == "PGRST301" && message.to_ascii_lowercase().contains("expired"))
            }
            _ => false,
        }
    }

    /// How long the server asked us to wait, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            CloudError::Rest { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rest(status: u16, code: &str, message: &str) -> CloudError {
        CloudError::Rest {
            status,
            code: code.into(),
            message: message.into(),
            hint: None,
            retry_after: None,
        }
    }

    #[test]
    fn only_an_expired_token_is_refreshed_and_only_transient_failures_are_retried() {
        // What postrust answers for an expired JWT.
        assert!(rest(401, "PGRST303", "JWT expired").is_expired_token());
        // Refusals by row-level security or a function also come as 401/403: not a refresh.
        assert!(!rest(401, "42501", "permission denied for table interviews").is_expired_token());
        assert!(
            !rest(403, "42501", "new row violates row-level security policy").is_expired_token()
        );
        assert!(!rest(401, "PGRST301", "JWSError JWSInvalidSignature").is_expired_token());
        assert!(rest(502, "unknown", "Bad Gateway").is_retryable());
        assert!(rest(429, "unknown", "slow down").is_retryable());
        assert!(
            !rest(
                400,
                "22023",
                "sync_session: session.device_names must be an object"
            )
            .is_retryable()
        );
        assert!(!rest(401, "42501", "nope").is_retryable());
        assert!(
            CloudError::Unreachable {
                url: "u".into(),
                message: "refused".into()
            }
            .is_retryable()
        );
        assert!(rest(403, "42501", "x").to_string().contains("ask an admin"));
    }
}
