//! Supabase Auth (GoTrue) over its REST API: password, email code, PKCE exchange, refresh,
//! current user and sign-out, with GoTrue's error shapes turned into [`CloudError::Auth`].

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::Project;
use crate::error::{CloudError, Result};

/// A signed-in user, as `/user` and token responses describe them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// `auth.users.id`.
    pub id: Uuid,
    /// Their email.
    #[serde(default)]
    pub email: Option<String>,
    /// How they signed in (`email`, `google`, `azure`, …).
    #[serde(default)]
    pub app_metadata: Value,
}

/// What a successful sign-in or refresh returns.
#[derive(Debug, Clone, Deserialize)]
pub struct Tokens {
    /// The JWT for API calls.
    pub access_token: String,
    /// Single-use refresh token (rotates on every refresh).
    pub refresh_token: String,
    /// Seconds the access token lives.
    pub expires_in: u64,
    /// When it expires (Unix seconds).
    #[serde(default)]
    pub expires_at: Option<u64>,
    /// Who.
    pub user: User,
}

/// How far sign-out reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// This device's session only.
    Local,
    /// Every session of the user.
    Global,
}

/// A GoTrue client for one project.
#[derive(Debug, Clone)]
pub struct AuthApi {
    base: String,
    anon_key: String,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct GoTrueError {
    #[serde(default)]
    code: Option<Value>,
    #[serde(default)]
    error_code: Option<String>,
    #[serde(default)]
    msg: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

impl AuthApi {
    /// A client for `project`.
    pub fn new(project: &Project) -> Result<AuthApi> {
        Ok(AuthApi {
            base: format!("{}/auth/v1", project.url),
            anon_key: project.anon_key.clone(),
            http: crate::http_client()?,
        })
    }

    /// `…/auth/v1`.
    pub fn base(&self) -> &str {
        &self.base
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Result<Option<Value>> {
        let url = format!("{}{path}", self.base);
        let mut request = self
            .http
            .request(method, &url)
            .header("apikey", &self.anon_key);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .map_err(|err| CloudError::Unreachable {
                url: self.base.clone(),
                message: crate::transport_message(&err),
            })?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|err| CloudError::Unreachable {
                url: self.base.clone(),
                message: crate::transport_message(&err),
            })?;
        if (200..300).contains(&status) {
            return Ok(if text.trim().is_empty() {
                None
            } else {
                Some(serde_json::from_str(&text).map_err(|err| {
                    CloudError::BadConfig(format!(
                        "{url} did not answer like Supabase Auth ({err}); check the Supabase URL"
                    ))
                })?)
            });
        }
        Err(auth_error(status, &text))
    }

    async fn tokens(&self, path: &str, body: Value) -> Result<Tokens> {
        let value = self
            .call(reqwest::Method::POST, path, None, Some(body))
            .await?
            .unwrap_or(Value::Null);
        serde_json::from_value(value).map_err(|err| {
            CloudError::BadConfig(format!(
                "Supabase Auth answered a sign-in without usable tokens ({err})"
            ))
        })
    }

    /// Email and password.
    pub async fn sign_in_password(&self, email: &str, password: &str) -> Result<Tokens> {
        self.tokens(
            "/token?grant_type=password",
            json!({"email": email.trim(), "password": password}),
        )
        .await
    }

    /// Sends a one-time code (and magic link) to `email`. Accounts are not created here: the
    /// organisation invites its recruiters.
    pub async fn send_email_code(&self, email: &str) -> Result<()> {
        self.call(
            reqwest::Method::POST,
            "/otp",
            None,
            Some(json!({"email": email.trim(), "create_user": false})),
        )
        .await?;
        Ok(())
    }

    /// Emails a sign-in link (with the same one-time code) whose click ends at `redirect_to`
    /// with an auth code for [`AuthApi::exchange_code`] (PKCE with `challenge`).
    pub async fn send_email_link(
        &self,
        email: &str,
        redirect_to: &str,
        challenge: &str,
    ) -> Result<()> {
        let path =
            reqwest::Url::parse_with_params("http://otp/otp", [("redirect_to", redirect_to)])
                .map(|url| format!("/otp?{}", url.query().unwrap_or("")))
                .map_err(|err| CloudError::BadConfig(err.to_string()))?;
        self.call(
            reqwest::Method::POST,
            &path,
            None,
            Some(json!({
                "email": email.trim(),
                "create_user": false,
                "code_challenge": challenge,
                "code_challenge_method": "s256",
            })),
        )
        .await?;
        Ok(())
    }

    /// Signs in with the code from the email.
    pub async fn verify_email_code(&self, email: &str, code: &str) -> Result<Tokens> {
        self.tokens(
            "/verify",
            json!({"type": "email", "email": email.trim(), "token": code.trim()}),
        )
        .await
    }

    /// Where the browser goes for single sign-on with PKCE.
    pub fn authorize_url(
        &self,
        provider: &str,
        redirect_to: &str,
        challenge: &str,
    ) -> Result<String> {
        reqwest::Url::parse_with_params(
            &format!("{}/authorize", self.base),
            [
                ("provider", provider),
                ("redirect_to", redirect_to),
                ("code_challenge", challenge),
                ("code_challenge_method", "s256"),
            ],
        )
        .map(String::from)
        .map_err(|err| CloudError::BadConfig(format!("the Supabase URL is not a URL: {err}")))
    }

    /// Exchanges the code from the redirect for tokens.
    pub async fn exchange_code(&self, auth_code: &str, verifier: &str) -> Result<Tokens> {
        self.tokens(
            "/token?grant_type=pkce",
            json!({"auth_code": auth_code, "code_verifier": verifier}),
        )
        .await
    }

    /// Trades a refresh token for new tokens (the old refresh token is then spent).
    pub async fn refresh(&self, refresh_token: &str) -> Result<Tokens> {
        self.tokens(
            "/token?grant_type=refresh_token",
            json!({"refresh_token": refresh_token}),
        )
        .await
        .map_err(|err| match err {
            CloudError::Auth { code, message, .. }
                if matches!(
                    code.as_str(),
                    "refresh_token_not_found"
                        | "refresh_token_already_used"
                        | "session_not_found"
                        | "session_expired"
                ) =>
            {
                CloudError::SignInEnded {
                    reason: format!("{code}: {message}"),
                }
            }
            other => other,
        })
    }

    /// The user the access token belongs to.
    pub async fn user(&self, access_token: &str) -> Result<User> {
        let value = self
            .call(reqwest::Method::GET, "/user", Some(access_token), None)
            .await?
            .unwrap_or(Value::Null);
        serde_json::from_value(value).map_err(|err| {
            CloudError::BadConfig(format!("Supabase Auth answered /user oddly ({err})"))
        })
    }

    /// Revokes the session's refresh tokens.
    pub async fn sign_out(&self, access_token: &str, scope: Scope) -> Result<()> {
        let path = match scope {
            Scope::Local => "/logout?scope=local",
            Scope::Global => "/logout?scope=global",
        };
        self.call(reqwest::Method::POST, path, Some(access_token), None)
            .await?;
        Ok(())
    }
}

/// Turns a GoTrue (or gateway) error body into an error.
fn auth_error(status: u16, text: &str) -> CloudError {
    let parsed: Option<GoTrueError> = serde_json::from_str(text).ok();
    let (code, message) = match parsed {
        Some(body) => {
            let code = body
                .error_code
                .or(body.error.clone())
                .or_else(|| {
                    body.code
                        .as_ref()
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .unwrap_or_else(|| "unknown".into());
            let message = body
                .msg
                .or(body.message)
                .or(body.error_description)
                .or(body.error)
                .unwrap_or_default();
            (code, message)
        }
        None => ("unknown".into(), text.chars().take(200).collect()),
    };
    if status == 401 && message.contains("API key") {
        return CloudError::BadConfig(format!(
            "the project refused the anon key ({message}); copy the anon (publishable) key from the Supabase dashboard into HARK_SUPABASE_ANON_KEY"
        ));
    }
    CloudError::Auth {
        status,
        code,
        message,
    }
}

/// How long before expiry an access token is refreshed.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(60);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gotrue_errors_keep_their_code() {
        let err = auth_error(
            400,
            r#"{"code":400,"error_code":"invalid_credentials","msg":"Invalid login credentials"}"#,
        );
        assert!(matches!(&err, CloudError::Auth { code, .. } if code == "invalid_credentials"));
        assert!(err.to_string().contains("check the email and password"));
        let err = auth_error(
            400,
            r#"{"error":"invalid_grant","error_description":"bad"}"#,
        );
        assert!(
            matches!(&err, CloudError::Auth { code, message, .. } if code == "invalid_grant" && message == "bad")
        );
        let err = auth_error(401, r#"{"message":"No API key found in request"}"#);
        assert!(matches!(err, CloudError::BadConfig(_)));
    }
}
