//! Verifies Supabase user tokens: asymmetric keys from the project's JWKS (cached ≈10 minutes,
//! refetched on an unknown `kid`), the legacy HS256 secret only when configured. The algorithm
//! comes from the key, never from the token, so `alg: none` and algorithm confusion fail.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::sync::RwLock;
use uuid::Uuid;

use crate::config::SupabaseConfig;
use crate::error::{AppError, Result};

/// How long fetched keys are trusted before a refetch.
const JWKS_TTL: Duration = Duration::from_secs(600);
/// The least time between refetches prompted by unknown `kid`s (a flood of bad tokens must not
/// become a flood of requests to Supabase).
const UNKNOWN_KID_REFETCH: Duration = Duration::from_secs(30);
/// Clock skew tolerated on `exp` / `nbf`.
const LEEWAY_SECS: u64 = 5;

/// A verified user.
#[derive(Debug, Clone)]
pub struct User {
    /// `sub`.
    pub id: Uuid,
    /// The token itself, to act as the user towards PostgREST. Never logged.
    pub token: String,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
}

struct Keys {
    by_kid: HashMap<String, (DecodingKey, Algorithm)>,
    fetched_at: Option<Instant>,
    last_attempt: Option<Instant>,
}

/// Token verification for one Supabase project.
pub struct Verifier {
    http: reqwest::Client,
    jwks_url: String,
    issuer: String,
    hs256: Option<DecodingKey>,
    keys: RwLock<Keys>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("jwks_url", &self.jwks_url)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

fn unauthenticated(message: impl Into<String>) -> AppError {
    AppError::Unauthenticated(message.into())
}

impl Verifier {
    /// A verifier for `config`'s project.
    pub fn new(http: reqwest::Client, config: &SupabaseConfig) -> Verifier {
        Verifier {
            http,
            jwks_url: config.jwks_url.clone(),
            issuer: config.issuer.clone(),
            hs256: config
                .jwt_secret
                .as_ref()
                .map(|secret| DecodingKey::from_secret(secret.expose().as_bytes())),
            keys: RwLock::new(Keys {
                by_kid: HashMap::new(),
                fetched_at: None,
                last_attempt: None,
            }),
        }
    }

    /// Whether keys have been fetched (readiness).
    pub async fn has_keys(&self) -> bool {
        self.hs256.is_some() || self.keys.read().await.fetched_at.is_some()
    }

    /// Fetches the JWKS now.
    pub async fn refresh(&self) -> Result<()> {
        let mut keys = self.keys.write().await;
        keys.last_attempt = Some(Instant::now());
        // Verification waits on this fetch: never for long.
        let response = self
            .http
            .get(&self.jwks_url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|err| {
                AppError::DatabaseUnavailable(format!(
                    "cannot fetch the signing keys: {}",
                    err.without_url()
                ))
            })?;
        if !response.status().is_success() {
            return Err(AppError::DatabaseUnavailable(format!(
                "the signing keys answered HTTP {}",
                response.status()
            )));
        }
        let set: JwkSet = response.json().await.map_err(|err| {
            AppError::DatabaseUnavailable(format!(
                "the signing keys are not a JWKS: {}",
                err.without_url()
            ))
        })?;
        let mut by_kid = HashMap::new();
        for jwk in &set.keys {
            let Some(kid) = jwk.common.key_id.clone() else {
                continue;
            };
            let algorithm = match (&jwk.common.key_algorithm, &jwk.algorithm) {
                (Some(KeyAlgorithm::ES256), _) => Algorithm::ES256,
                (Some(KeyAlgorithm::RS256), _) => Algorithm::RS256,
                (None, AlgorithmParameters::EllipticCurve(_)) => Algorithm::ES256,
                (None, AlgorithmParameters::RSA(_)) => Algorithm::RS256,
                // HMAC keys are never published; anything else is not Supabase's.
                _ => continue,
            };
            if let Ok(key) = DecodingKey::from_jwk(jwk) {
                by_kid.insert(kid, (key, algorithm));
            }
        }
        tracing::info!(n_keys = by_kid.len(), "fetched the project's signing keys");
        keys.by_kid = by_kid;
        keys.fetched_at = Some(Instant::now());
        Ok(())
    }

    async fn key_for(&self, kid: &str) -> Result<Option<(DecodingKey, Algorithm)>> {
        {
            let keys = self.keys.read().await;
            let fresh = keys.fetched_at.is_some_and(|at| at.elapsed() < JWKS_TTL);
            if let Some(found) = keys.by_kid.get(kid)
                && fresh
            {
                return Ok(Some(found.clone()));
            }
            let recently_tried = keys
                .last_attempt
                .is_some_and(|at| at.elapsed() < UNKNOWN_KID_REFETCH);
            if fresh && recently_tried {
                return Ok(None);
            }
        }
        self.refresh().await?;
        Ok(self.keys.read().await.by_kid.get(kid).cloned())
    }

    /// Verifies `token` (signature, `exp`, `nbf`, `iss`, `aud = authenticated`).
    pub async fn verify(&self, token: &str) -> Result<User> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| {
            unauthenticated(
                "the access token is malformed: send the Supabase session's access_token",
            )
        })?;
        let (key, algorithm) = match header.alg {
            Algorithm::HS256 => match &self.hs256 {
                Some(key) => (key.clone(), Algorithm::HS256),
                None => {
                    return Err(unauthenticated(
                        "HS256 tokens are not accepted here: sign in again to get a token from the project's signing keys",
                    ));
                }
            },
            _ => {
                let kid = header.kid.as_deref().ok_or_else(|| {
                    unauthenticated("the access token names no signing key (kid)")
                })?;
                let (key, algorithm) = self.key_for(kid).await?.ok_or_else(|| {
                    unauthenticated(
                        "the access token was signed by a key this project does not publish",
                    )
                })?;
                if header.alg != algorithm {
                    return Err(unauthenticated(
                        "the access token's algorithm does not match its key",
                    ));
                }
                (key, algorithm)
            }
        };
        let mut validation = Validation::new(algorithm);
        validation.set_audience(&["authenticated"]);
        validation.set_issuer(&[&self.issuer]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        validation.set_required_spec_claims(&["exp", "sub", "aud", "iss"]);
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|err| {
            use jsonwebtoken::errors::ErrorKind;
            let why = match err.kind() {
                ErrorKind::ExpiredSignature => {
                    "the access token has expired: refresh the session and retry"
                }
                ErrorKind::ImmatureSignature => {
                    "the access token is not valid yet (nbf): check the device clock"
                }
                ErrorKind::InvalidAudience => "the access token is not for signed-in users (aud)",
                ErrorKind::InvalidIssuer => "the access token is from another project (iss)",
                ErrorKind::InvalidSignature => "the access token's signature is invalid",
                ErrorKind::MissingRequiredClaim(_) => "the access token lacks a required claim",
                _ => "the access token cannot be verified",
            };
            unauthenticated(why)
        })?;
        let id = data
            .claims
            .sub
            .parse()
            .map_err(|_| unauthenticated("the access token's subject is not a user id"))?;
        Ok(User {
            id,
            token: token.to_owned(),
        })
    }
}
