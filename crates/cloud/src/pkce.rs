//! Single sign-on for a desktop app (RFC 8252 with PKCE, RFC 7636): a code verifier and its
//! S256 challenge, and a one-shot HTTP listener on a loopback port that receives the browser's
//! redirect (`http://127.0.0.1:<port>/callback?code=…`), which Supabase accepts unlisted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::Html;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

use crate::error::{CloudError, Result};

/// A PKCE code verifier and its S256 challenge.
#[derive(Debug, Clone)]
pub struct Pkce {
    /// Kept here, sent only with the code exchange.
    pub verifier: String,
    /// Sent with the authorize request.
    pub challenge: String,
}

impl Pkce {
    /// A fresh verifier (32 random bytes, 43 characters) and its challenge.
    pub fn new() -> Pkce {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let verifier = URL_SAFE_NO_PAD.encode(bytes);
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        Pkce {
            verifier,
            challenge,
        }
    }
}

impl Default for Pkce {
    fn default() -> Self {
        Pkce::new()
    }
}

type Outcome = std::result::Result<String, String>;

/// A loopback listener waiting for one redirect.
#[derive(Debug)]
pub struct LoopbackRedirect {
    listener: tokio::net::TcpListener,
    /// What to pass as `redirect_to`.
    pub redirect_uri: String,
}

impl LoopbackRedirect {
    /// Listens on a free port of 127.0.0.1.
    pub async fn bind() -> Result<LoopbackRedirect> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|err| CloudError::Browser {
                provider: "single sign-on".into(),
                reason: format!("cannot listen on a loopback port for the browser's answer: {err}"),
            })?;
        let port = listener
            .local_addr()
            .map_err(|err| CloudError::Browser {
                provider: "single sign-on".into(),
                reason: err.to_string(),
            })?
            .port();
        Ok(LoopbackRedirect {
            listener,
            redirect_uri: format!("http://127.0.0.1:{port}/callback"),
        })
    }

    /// Serves until the browser arrives with a code (or an error), or `timeout` passes.
    pub async fn wait(self, provider: &str, timeout: Duration) -> Result<String> {
        self.wait_for(
            provider,
            timeout,
            "start the sign-in again and finish it in the browser window that opens",
        )
        .await
    }

    /// As [`LoopbackRedirect::wait`], with what to do when nothing came (`on_timeout`).
    pub async fn wait_for(
        self,
        provider: &str,
        timeout: Duration,
        on_timeout: &str,
    ) -> Result<String> {
        let (sender, receiver) = oneshot::channel::<Outcome>();
        let sender = Arc::new(Mutex::new(Some(sender)));
        let app = axum::Router::new()
            .route("/callback", get(callback))
            .with_state(sender.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(
            axum::serve(self.listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .into_future(),
        );
        let outcome = tokio::time::timeout(timeout, receiver).await;
        let _ = stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
        let browser = |reason: String| CloudError::Browser {
            provider: provider.into(),
            reason,
        };
        match outcome {
            Err(_) => Err(browser(format!(
                "no answer from the browser within {} s; {on_timeout}",
                timeout.as_secs()
            ))),
            Ok(Err(_)) => Err(browser("the loopback listener stopped".into())),
            Ok(Ok(Err(reason))) => Err(browser(reason)),
            Ok(Ok(Ok(code))) => Ok(code),
        }
    }
}

async fn callback(
    State(sender): State<Arc<Mutex<Option<oneshot::Sender<Outcome>>>>>,
    Query(query): Query<HashMap<String, String>>,
) -> Html<&'static str> {
    let outcome = match (query.get("code"), query.get("error")) {
        (Some(code), _) if !code.is_empty() => Ok(code.clone()),
        (_, Some(_)) if query.get("error_code").map(String::as_str) == Some("otp_expired") => {
            Err("the link has expired or was already used; ask for a new one".into())
        }
        (_, Some(error)) => Err(format!(
            "the provider answered {error}: {}",
            query
                .get("error_description")
                .map(String::as_str)
                .unwrap_or("no description")
        )),
        _ => Err("the browser came back without a code".into()),
    };
    let ok = outcome.is_ok();
    if let Some(sender) = sender.lock().ok().and_then(|mut s| s.take()) {
        let _ = sender.send(outcome);
    }
    Html(if ok {
        "<!doctype html><title>Hark</title><p>Signed in to Hark. You can close this tab."
    } else {
        "<!doctype html><title>Hark</title><p>Sign-in did not finish. Go back to Hark and try again."
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_is_the_s256_of_the_verifier() {
        let pkce = Pkce::new();
        assert_eq!(pkce.verifier.len(), 43);
        assert_eq!(
            URL_SAFE_NO_PAD.decode(&pkce.challenge).unwrap(),
            Sha256::digest(pkce.verifier.as_bytes()).to_vec()
        );
        assert_ne!(Pkce::new().verifier, pkce.verifier);
    }

    #[tokio::test]
    async fn the_redirect_delivers_the_code_or_the_error() {
        let http = crate::http_client().unwrap();
        let loopback = LoopbackRedirect::bind().await.unwrap();
        let url = format!("{}?code=abc-123", loopback.redirect_uri);
        let (code, page) = tokio::join!(loopback.wait("google", Duration::from_secs(5)), async {
            http.get(&url).send().await.unwrap().text().await.unwrap()
        });
        assert_eq!(code.unwrap(), "abc-123");
        assert!(page.contains("Signed in"));

        let loopback = LoopbackRedirect::bind().await.unwrap();
        let url = format!(
            "{}?error=access_denied&error_description=user+cancelled",
            loopback.redirect_uri
        );
        let (code, _) = tokio::join!(loopback.wait("google", Duration::from_secs(5)), async {
            http.get(&url).send().await.unwrap().text().await.unwrap()
        });
        let err = code.unwrap_err().to_string();
        assert!(
            err.contains("access_denied") && err.contains("user cancelled"),
            "{err}"
        );

        let loopback = LoopbackRedirect::bind().await.unwrap();
        let err = loopback
            .wait("google", Duration::from_millis(50))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("no answer from the browser"));
    }
}
