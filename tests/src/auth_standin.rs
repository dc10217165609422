//! A stand-in for Supabase Auth (GoTrue): only the endpoints Hark's app and proxy call, with the
//! real API's shapes (`shared/supabase/AUTH-API.md`). It keeps users in `auth.users` of the test
//! database (so foreign keys hold), and sessions, refresh tokens, PKCE flows and one-time codes
//! in memory. Access tokens are ES256 JWTs with a `kid` published at
//! `/.well-known/jwks.json`, with Supabase's claims, so the proxy and postrust verify them as
//! they would a real project's. Test-only extras live under `/_standin/` (the mailbox).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Digest;
use uuid::Uuid;

/// How the stand-in is set up.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Where it listens.
    pub listen: SocketAddr,
    /// `iss` of the tokens: `<SUPABASE_URL>/auth/v1`.
    pub issuer: String,
    /// The test database (for `auth.users`).
    pub database_url: String,
    /// The legacy HS256 secret the anon and service keys are signed with.
    pub jwt_secret: String,
    /// Where a redirect that is not allowed goes instead.
    pub site_url: String,
    /// Access-token lifetime.
    pub access_token_ttl: Duration,
}

/// The project's API keys, as a Supabase dashboard shows them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiKeys {
    /// For clients: role `anon`.
    pub anon_key: String,
    /// For servers: role `service_role`, bypasses RLS.
    pub service_role_key: String,
}

/// Signs the anon and service keys with the legacy secret, as Supabase does.
pub fn api_keys(jwt_secret: &str) -> anyhow::Result<ApiKeys> {
    let key = EncodingKey::from_secret(jwt_secret.as_bytes());
    let sign = |role: &str| {
        let claims = json!({"iss": "supabase", "ref": "hark-local", "role": role,
            "iat": 1_700_000_000u64, "exp": 4_102_444_800u64});
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key)
    };
    Ok(ApiKeys {
        anon_key: sign("anon")?,
        service_role_key: sign("service_role")?,
    })
}

#[derive(Debug, Clone)]
struct User {
    id: Uuid,
    email: String,
    password_sha256: Option<Vec<u8>>,
    provider: String,
    user_metadata: Value,
    created_at: String,
}

#[derive(Debug)]
struct RefreshToken {
    session_id: Uuid,
    user_id: Uuid,
    used: bool,
}

#[derive(Debug)]
struct PkceFlow {
    challenge: String,
    provider: String,
    redirect_to: String,
    user_id: Option<Uuid>,
    created: Instant,
}

struct Signer {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwk: Value,
}

struct AuthState {
    config: AuthConfig,
    keys: ApiKeys,
    signer: Signer,
    db: tokio_postgres::Client,
    access_ttl_secs: AtomicU64,
    /// Access-token lifetime for particular users (email → seconds), for expiry tests that
    /// must not shorten other tests' tokens.
    ttl_by_email: Mutex<HashMap<String, u64>>,
    users: Mutex<HashMap<Uuid, User>>,
    /// Session id → revoked.
    sessions: Mutex<HashMap<Uuid, bool>>,
    refresh_tokens: Mutex<HashMap<String, RefreshToken>>,
    /// PKCE flows by id while at the provider, then by auth code.
    flows: Mutex<HashMap<String, PkceFlow>>,
    /// email → the last email "sent": its one-time code and magic link.
    mailbox: Mutex<HashMap<String, Mail>>,
}

/// A sign-in email: the code to type, and the link (its token, where it leads, and the PKCE
/// challenge when the app asked for a code exchange).
#[derive(Debug, Clone)]
struct Mail {
    code: String,
    link_token: String,
    redirect_to: String,
    challenge: Option<String>,
    sent: Instant,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running stand-in.
#[derive(Debug)]
pub struct AuthStandin {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its API keys.
    pub keys: ApiKeys,
}

impl AuthStandin {
    /// Connects to the database, generates a signing key, and serves in the background.
    pub async fn start(config: AuthConfig) -> anyhow::Result<AuthStandin> {
        let (db, connection) = tokio_postgres::connect(&config.database_url, tokio_postgres::NoTls)
            .await
            .map_err(|err| {
                anyhow::anyhow!("auth stand-in cannot reach {}: {err}", config.database_url)
            })?;
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::error!(%err, "auth stand-in lost its database connection");
            }
        });
        let keys = api_keys(&config.jwt_secret)?;
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(AuthState {
            access_ttl_secs: AtomicU64::new(config.access_token_ttl.as_secs()),
            ttl_by_email: Mutex::new(HashMap::new()),
            signer: new_signer()?,
            keys: keys.clone(),
            config,
            db,
            users: Mutex::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
            refresh_tokens: Mutex::new(HashMap::new()),
            flows: Mutex::new(HashMap::new()),
            mailbox: Mutex::new(HashMap::new()),
        });
        let app = Router::new()
            .route("/token", post(token))
            .route("/authorize", get(authorize))
            .route("/authorize/sign-in", post(provider_sign_in))
            .route("/otp", post(otp))
            .route("/verify", post(verify).get(verify_link))
            .route("/user", get(current_user))
            .route("/logout", post(logout))
            .route("/.well-known/jwks.json", get(jwks))
            .route("/admin/users", post(admin_create_user))
            .route("/_standin/mailbox/{email}", get(mailbox))
            .route("/_standin/config", put(set_config))
            .route(
                "/health",
                get(|| async {
                    Json(json!({"name": "GoTrue", "description": "Hark test stand-in"}))
                }),
            )
            .with_state(state);
        tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app).await {
                tracing::error!(%err, "auth stand-in stopped");
            }
        });
        Ok(AuthStandin { addr, keys })
    }
}

fn new_signer() -> anyhow::Result<Signer> {
    let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let encoding = EncodingKey::from_ec_pem(key_pair.serialize_pem().as_bytes())?;
    let decoding = DecodingKey::from_ec_pem(key_pair.public_key_pem().as_bytes())?;
    // Uncompressed point: 0x04 ‖ x ‖ y.
    let point = key_pair.public_key_raw();
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let kid = Uuid::new_v4().to_string();
    let jwk = json!({"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "key_ops": ["verify"],
        "kid": kid, "x": b64(&point[1..33]), "y": b64(&point[33..65])});
    Ok(Signer {
        kid,
        encoding,
        decoding,
        jwk,
    })
}

/// GoTrue's error: `{"code", "error_code", "msg"}`.
struct AuthError {
    status: StatusCode,
    error_code: &'static str,
    msg: String,
}

impl AuthError {
    fn new(status: StatusCode, error_code: &'static str, msg: impl Into<String>) -> AuthError {
        AuthError {
            status,
            error_code,
            msg: msg.into(),
        }
    }
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let body =
            json!({"code": self.status.as_u16(), "error_code": self.error_code, "msg": self.msg});
        (self.status, Json(body)).into_response()
    }
}

type AuthResult<T> = Result<T, AuthError>;
type Shared = Arc<AuthState>;

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn random_token(len: usize) -> String {
    use rand::Rng;
    rand::rng()
        .sample_iter(&rand::distr::Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    sha2::Sha256::digest(bytes).to_vec()
}

fn user_json(user: &User) -> Value {
    json!({
        "id": user.id, "aud": "authenticated", "role": "authenticated", "email": user.email,
        "email_confirmed_at": user.created_at, "phone": "", "confirmed_at": user.created_at,
        "app_metadata": {"provider": user.provider, "providers": [user.provider]},
        "user_metadata": user.user_metadata,
        "identities": [{"id": user.id, "user_id": user.id, "provider": user.provider, "identity_data": {"email": user.email, "sub": user.id}}],
        "created_at": user.created_at, "updated_at": user.created_at, "is_anonymous": false,
    })
}

impl AuthState {
    fn find_user_by_email(&self, email: &str) -> Option<User> {
        lock(&self.users)
            .values()
            .find(|u| u.email.eq_ignore_ascii_case(email))
            .cloned()
    }

    async fn create_user(
        &self,
        email: &str,
        password: Option<&str>,
        provider: &str,
        user_metadata: Value,
    ) -> AuthResult<User> {
        let email = email.trim().to_ascii_lowercase();
        if !email.contains('@') || email.len() > 254 {
            return Err(AuthError::new(
                StatusCode::BAD_REQUEST,
                "validation_failed",
                "Unable to validate email address: invalid format",
            ));
        }
        if self.find_user_by_email(&email).is_some() {
            return Err(AuthError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "email_exists",
                "A user with this email address has already been registered",
            ));
        }
        let id = Uuid::new_v4();
        let row = self
            .db
            .query_one(
                r#"insert into auth.users (id, email) values ($1::text::uuid, $2)
                   returning to_char(created_at at time zone 'utc', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"#,
                &[&id.to_string(), &email],
            )
            .await
            .map_err(|err| AuthError::new(StatusCode::INTERNAL_SERVER_ERROR, "unexpected_failure", format!("Database error saving new user: {err}")))?;
        let created_at: String = row.get(0);
        let user = User {
            id,
            email,
            password_sha256: password.map(|p| sha256(p.as_bytes())),
            provider: provider.to_owned(),
            user_metadata,
            created_at,
        };
        lock(&self.users).insert(id, user.clone());
        Ok(user)
    }

    /// A new session for `user`: access token, rotating refresh token, and the user.
    fn issue_session(
        &self,
        user: &User,
        method: &str,
        session_id: Option<Uuid>,
    ) -> AuthResult<Value> {
        let session_id = session_id.unwrap_or_else(Uuid::new_v4);
        lock(&self.sessions).entry(session_id).or_insert(false);
        let ttl = lock(&self.ttl_by_email)
            .get(&user.email)
            .copied()
            .unwrap_or_else(|| self.access_ttl_secs.load(Ordering::Relaxed));
        let iat = now_secs();
        let claims = json!({
            "iss": self.config.issuer, "sub": user.id, "aud": "authenticated", "exp": iat + ttl, "iat": iat,
            "email": user.email, "phone": "", "role": "authenticated", "aal": "aal1",
            "amr": [{"method": method, "timestamp": iat}], "session_id": session_id, "is_anonymous": false,
            "app_metadata": {"provider": user.provider, "providers": [user.provider]},
            "user_metadata": user.user_metadata,
        });
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.signer.kid.clone());
        let access_token =
            jsonwebtoken::encode(&header, &claims, &self.signer.encoding).map_err(|err| {
                AuthError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "unexpected_failure",
                    err.to_string(),
                )
            })?;
        let refresh_token = random_token(12);
        lock(&self.refresh_tokens).insert(
            refresh_token.clone(),
            RefreshToken {
                session_id,
                user_id: user.id,
                used: false,
            },
        );
        Ok(json!({
            "access_token": access_token, "token_type": "bearer", "expires_in": ttl, "expires_at": iat + ttl,
            "refresh_token": refresh_token, "user": user_json(user),
        }))
    }

    /// Verifies an access token; returns (user, session id).
    fn authenticate(&self, headers: &HeaderMap) -> AuthResult<(User, Uuid)> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| {
                AuthError::new(
                    StatusCode::UNAUTHORIZED,
                    "no_authorization",
                    "This endpoint requires a Bearer token",
                )
            })?;
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(&["authenticated"]);
        validation.set_issuer(&[&self.config.issuer]);
        let claims = jsonwebtoken::decode::<Value>(token, &self.signer.decoding, &validation)
            .map_err(|err| {
                AuthError::new(
                    StatusCode::UNAUTHORIZED,
                    "bad_jwt",
                    format!("invalid JWT: unable to parse or verify signature, {err}"),
                )
            })?
            .claims;
        let user_id = claims["sub"].as_str().and_then(|s| s.parse::<Uuid>().ok());
        let session_id = claims["session_id"]
            .as_str()
            .and_then(|s| s.parse::<Uuid>().ok());
        let (Some(user_id), Some(session_id)) = (user_id, session_id) else {
            return Err(AuthError::new(
                StatusCode::UNAUTHORIZED,
                "bad_jwt",
                "invalid JWT: missing sub or session_id",
            ));
        };
        if lock(&self.sessions)
            .get(&session_id)
            .copied()
            .unwrap_or(true)
        {
            return Err(AuthError::new(
                StatusCode::FORBIDDEN,
                "session_not_found",
                "Session from session_id claim in JWT does not exist",
            ));
        }
        let user = lock(&self.users).get(&user_id).cloned().ok_or_else(|| {
            AuthError::new(
                StatusCode::FORBIDDEN,
                "user_not_found",
                "User from sub claim in JWT does not exist",
            )
        })?;
        Ok((user, session_id))
    }
}

#[derive(Deserialize)]
struct GrantQuery {
    grant_type: Option<String>,
}

async fn token(
    State(state): State<Shared>,
    Query(query): Query<GrantQuery>,
    Json(body): Json<Value>,
) -> AuthResult<Json<Value>> {
    match query.grant_type.as_deref() {
        Some("password") => {
            let (email, password) = (
                body["email"].as_str().unwrap_or(""),
                body["password"].as_str().unwrap_or(""),
            );
            let user = state
                .find_user_by_email(email)
                .filter(|u| u.password_sha256.as_deref() == Some(&sha256(password.as_bytes())[..]));
            let user = user.ok_or_else(|| {
                AuthError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_credentials",
                    "Invalid login credentials",
                )
            })?;
            state.issue_session(&user, "password", None).map(Json)
        }
        Some("refresh_token") => {
            let presented = body["refresh_token"].as_str().unwrap_or("");
            let (session_id, user_id) = {
                let mut tokens = lock(&state.refresh_tokens);
                match tokens.get_mut(presented) {
                    Some(token) if !token.used => {
                        token.used = true;
                        (token.session_id, token.user_id)
                    }
                    Some(_) => {
                        return Err(AuthError::new(
                            StatusCode::BAD_REQUEST,
                            "refresh_token_already_used",
                            "Invalid Refresh Token: Already Used",
                        ));
                    }
                    None => {
                        return Err(AuthError::new(
                            StatusCode::BAD_REQUEST,
                            "refresh_token_not_found",
                            "Invalid Refresh Token: Refresh Token Not Found",
                        ));
                    }
                }
            };
            if lock(&state.sessions)
                .get(&session_id)
                .copied()
                .unwrap_or(true)
            {
                return Err(AuthError::new(
                    StatusCode::BAD_REQUEST,
                    "refresh_token_not_found",
                    "Invalid Refresh Token: Refresh Token Not Found",
                ));
            }
            let user = lock(&state.users).get(&user_id).cloned();
            let user = user.ok_or_else(|| {
                AuthError::new(StatusCode::BAD_REQUEST, "user_not_found", "User not found")
            })?;
            state
                .issue_session(&user, "token_refresh", Some(session_id))
                .map(Json)
        }
        Some("pkce") => {
            let (code, verifier) = (
                body["auth_code"].as_str().unwrap_or(""),
                body["code_verifier"].as_str().unwrap_or(""),
            );
            let flow = lock(&state.flows).remove(code);
            let flow = flow.ok_or_else(|| {
                AuthError::new(
                    StatusCode::NOT_FOUND,
                    "flow_state_not_found",
                    "invalid flow state, no valid flow state found",
                )
            })?;
            if flow.created.elapsed() > Duration::from_secs(300) {
                return Err(AuthError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "flow_state_expired",
                    "invalid flow state, flow state has expired",
                ));
            }
            let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(sha256(verifier.as_bytes()));
            if challenge != flow.challenge {
                return Err(AuthError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_code_verifier",
                    "code challenge does not match previously saved code verifier",
                ));
            }
            let user = flow
                .user_id
                .and_then(|id| lock(&state.users).get(&id).cloned());
            let user = user.ok_or_else(|| {
                AuthError::new(
                    StatusCode::NOT_FOUND,
                    "flow_state_not_found",
                    "invalid flow state, no valid flow state found",
                )
            })?;
            if flow.provider == "email" {
                return Ok(Json(state.issue_session(&user, "otp", None)?));
            }
            let mut session = state.issue_session(&user, "oauth", None)?;
            session["provider_token"] = json!(format!("{}-provider-token", flow.provider));
            session["provider_refresh_token"] = json!(null);
            Ok(Json(session))
        }
        other => Err(AuthError::new(
            StatusCode::BAD_REQUEST,
            "validation_failed",
            format!("unsupported_grant_type: {}", other.unwrap_or("(none)")),
        )),
    }
}

#[derive(Deserialize)]
struct AuthorizeQuery {
    provider: Option<String>,
    redirect_to: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

/// Whether GoTrue would redirect there without configuration: a loopback IP literal.
fn loopback_redirect(url: &str) -> bool {
    let rest = url.strip_prefix("http://").unwrap_or("");
    rest.starts_with("127.0.0.1:") || rest.starts_with("127.0.0.1/") || rest.starts_with("[::1]:")
}

/// The provider's sign-in page, reached after GoTrue's redirect: a form a scripted browser fills.
async fn authorize(
    State(state): State<Shared>,
    Query(query): Query<AuthorizeQuery>,
) -> AuthResult<Html<String>> {
    let provider = query.provider.unwrap_or_default();
    if !["google", "azure", "github"].contains(&provider.as_str()) {
        return Err(AuthError::new(
            StatusCode::BAD_REQUEST,
            "validation_failed",
            "Unsupported provider: provider is not enabled",
        ));
    }
    let challenge = query.code_challenge.unwrap_or_default();
    if query
        .code_challenge_method
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
        != Some("s256")
        || challenge.len() < 43
    {
        return Err(AuthError::new(
            StatusCode::BAD_REQUEST,
            "validation_failed",
            "PKCE flow requires code_challenge and code_challenge_method=s256",
        ));
    }
    let redirect_to = query
        .redirect_to
        .filter(|url| loopback_redirect(url))
        .unwrap_or_else(|| state.config.site_url.clone());
    let flow_id = random_token(24);
    lock(&state.flows).insert(
        flow_id.clone(),
        PkceFlow {
            challenge,
            provider: provider.clone(),
            redirect_to,
            user_id: None,
            created: Instant::now(),
        },
    );
    Ok(Html(format!(
        "<!doctype html><title>Sign in with {provider}</title><form method=post action=\"sign-in\">\
         <input type=hidden name=flow value=\"{flow_id}\"><label>Email <input name=email type=email></label>\
         <button type=submit>Continue</button></form>"
    )))
}

#[derive(Deserialize)]
struct SignInForm {
    flow: String,
    email: String,
}

/// The provider accepted the user: back to `redirect_to` with an auth code.
async fn provider_sign_in(
    State(state): State<Shared>,
    Form(form): Form<SignInForm>,
) -> AuthResult<Redirect> {
    let flow = lock(&state.flows).remove(&form.flow);
    let mut flow = flow.ok_or_else(|| {
        AuthError::new(
            StatusCode::NOT_FOUND,
            "flow_state_not_found",
            "invalid flow state, no valid flow state found",
        )
    })?;
    let user = match state.find_user_by_email(&form.email) {
        Some(user) => user,
        None => {
            state
                .create_user(&form.email, None, &flow.provider, json!({}))
                .await?
        }
    };
    flow.user_id = Some(user.id);
    let code = Uuid::new_v4().to_string();
    let separator = if flow.redirect_to.contains('?') {
        '&'
    } else {
        '?'
    };
    let location = format!("{}{separator}code={code}", flow.redirect_to);
    lock(&state.flows).insert(code, flow);
    Ok(Redirect::to(&location))
}

#[derive(Deserialize)]
struct RedirectQuery {
    redirect_to: Option<String>,
}

async fn otp(
    State(state): State<Shared>,
    Query(query): Query<RedirectQuery>,
    Json(body): Json<Value>,
) -> AuthResult<Json<Value>> {
    let email = body["email"]
        .as_str()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let create_user = body["create_user"].as_bool().unwrap_or(true);
    if state.find_user_by_email(&email).is_none() {
        if !create_user {
            return Err(AuthError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "otp_disabled",
                "Signups not allowed for otp",
            ));
        }
        state.create_user(&email, None, "email", json!({})).await?;
    }
    // With a challenge the link ends in a PKCE code exchange (GoTrue's `flow_type=pkce`).
    let challenge = match (
        body["code_challenge"].as_str(),
        body["code_challenge_method"].as_str(),
    ) {
        (Some(challenge), Some(method)) if method.eq_ignore_ascii_case("s256") => {
            Some(challenge.to_string())
        }
        (None, None) => None,
        _ => {
            return Err(AuthError::new(
                StatusCode::BAD_REQUEST,
                "validation_failed",
                "PKCE flow requires code_challenge and code_challenge_method=s256",
            ));
        }
    };
    let mail = Mail {
        code: format!("{:06}", rand::random::<u32>() % 1_000_000),
        link_token: random_token(28),
        redirect_to: query
            .redirect_to
            .filter(|url| loopback_redirect(url))
            .unwrap_or_else(|| state.config.site_url.clone()),
        challenge,
        sent: Instant::now(),
    };
    lock(&state.mailbox).insert(email, mail);
    Ok(Json(json!({})))
}

async fn verify(State(state): State<Shared>, Json(body): Json<Value>) -> AuthResult<Json<Value>> {
    let email = body["email"]
        .as_str()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let token = body["token"].as_str().unwrap_or("");
    if !matches!(body["type"].as_str(), Some("email" | "magiclink")) {
        return Err(AuthError::new(
            StatusCode::BAD_REQUEST,
            "validation_failed",
            "Verify requires a verification type",
        ));
    }
    let expected = lock(&state.mailbox)
        .get(&email)
        .map(|mail| mail.code.clone());
    if expected.as_deref() != Some(token) || token.is_empty() {
        return Err(AuthError::new(
            StatusCode::FORBIDDEN,
            "otp_expired",
            "Token has expired or is invalid",
        ));
    }
    lock(&state.mailbox).remove(&email);
    let user = state.find_user_by_email(&email).ok_or_else(|| {
        AuthError::new(
            StatusCode::FORBIDDEN,
            "otp_expired",
            "Token has expired or is invalid",
        )
    })?;
    state.issue_session(&user, "otp", None).map(Json)
}

#[derive(Deserialize)]
struct LinkQuery {
    token: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    redirect_to: Option<String>,
}

/// The link in the email, opened in a browser: on to `redirect_to` with an auth code for the
/// PKCE exchange (or the session in the fragment, without PKCE); a used, unknown or expired
/// link goes there with GoTrue's error instead.
async fn verify_link(State(state): State<Shared>, Query(query): Query<LinkQuery>) -> Redirect {
    let token = query.token.unwrap_or_default();
    let found = {
        let mut mailbox = lock(&state.mailbox);
        let email = mailbox
            .iter()
            .find(|(_, mail)| !token.is_empty() && mail.link_token == token)
            .map(|(email, _)| email.clone());
        email.and_then(|email| mailbox.remove(&email).map(|mail| (email, mail)))
    };
    let with = |url: &str, separator_query: bool, params: String| {
        let separator = if !separator_query {
            '#'
        } else if url.contains('?') {
            '&'
        } else {
            '?'
        };
        Redirect::to(&format!("{url}{separator}{params}"))
    };
    let Some((email, mail)) = found.filter(|(_, mail)| {
        query.kind.as_deref() == Some("magiclink")
            && mail.sent.elapsed() < Duration::from_secs(3600)
    }) else {
        let back = query
            .redirect_to
            .filter(|url| loopback_redirect(url))
            .unwrap_or_else(|| state.config.site_url.clone());
        return with(
            &back,
            true,
            "error=access_denied&error_code=otp_expired&error_description=Email+link+is+invalid+or+has+expired".into(),
        );
    };
    let Some(user) = state.find_user_by_email(&email) else {
        return with(
            &mail.redirect_to,
            true,
            "error=access_denied&error_code=user_not_found&error_description=User+not+found".into(),
        );
    };
    match mail.challenge {
        Some(challenge) => {
            let code = Uuid::new_v4().to_string();
            let location = mail.redirect_to.clone();
            lock(&state.flows).insert(
                code.clone(),
                PkceFlow {
                    challenge,
                    provider: "email".into(),
                    redirect_to: mail.redirect_to,
                    user_id: Some(user.id),
                    created: Instant::now(),
                },
            );
            with(&location, true, format!("code={code}"))
        }
        None => match state.issue_session(&user, "otp", None) {
            Ok(session) => with(
                &mail.redirect_to,
                false,
                format!(
                    "access_token={}&refresh_token={}&expires_in={}&token_type=bearer&type=magiclink",
                    session["access_token"].as_str().unwrap_or(""),
                    session["refresh_token"].as_str().unwrap_or(""),
                    session["expires_in"]
                ),
            ),
            Err(_) => with(&mail.redirect_to, true, "error=server_error".into()),
        },
    }
}

async fn current_user(State(state): State<Shared>, headers: HeaderMap) -> AuthResult<Json<Value>> {
    let (user, _) = state.authenticate(&headers)?;
    Ok(Json(user_json(&user)))
}

#[derive(Deserialize)]
struct LogoutQuery {
    scope: Option<String>,
}

async fn logout(
    State(state): State<Shared>,
    Query(query): Query<LogoutQuery>,
    headers: HeaderMap,
) -> AuthResult<StatusCode> {
    let (user, session_id) = state.authenticate(&headers)?;
    let scope = query.scope.unwrap_or_else(|| "global".to_owned());
    let user_sessions: Vec<Uuid> = lock(&state.refresh_tokens)
        .values()
        .filter(|t| t.user_id == user.id)
        .map(|t| t.session_id)
        .collect();
    let mut sessions = lock(&state.sessions);
    match scope.as_str() {
        "local" => {
            sessions.insert(session_id, true);
        }
        "global" | "others" => {
            for id in user_sessions {
                if scope == "global" || id != session_id {
                    sessions.insert(id, true);
                }
            }
            if scope == "global" {
                sessions.insert(session_id, true);
            }
        }
        _ => {
            return Err(AuthError::new(
                StatusCode::BAD_REQUEST,
                "validation_failed",
                "Unsupported logout scope",
            ));
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn jwks(State(state): State<Shared>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=600")],
        Json(json!({"keys": [state.signer.jwk]})),
    )
}

async fn admin_create_user(
    State(state): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> AuthResult<Json<Value>> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if bearer != Some(state.keys.service_role_key.as_str()) {
        return Err(AuthError::new(
            StatusCode::FORBIDDEN,
            "not_admin",
            "User not allowed",
        ));
    }
    let email = body["email"].as_str().unwrap_or("");
    let user = state
        .create_user(
            email,
            body["password"].as_str(),
            "email",
            body.get("user_metadata").cloned().unwrap_or(json!({})),
        )
        .await?;
    Ok(Json(user_json(&user)))
}

async fn mailbox(
    State(state): State<Shared>,
    Path(email): Path<String>,
) -> AuthResult<Json<Value>> {
    let mail = lock(&state.mailbox)
        .get(&email.to_ascii_lowercase())
        .cloned();
    mail.map(|mail| {
        let link = reqwest::Url::parse_with_params(
            "http://auth/verify",
            [
                ("token", mail.link_token.as_str()),
                ("type", "magiclink"),
                ("redirect_to", mail.redirect_to.as_str()),
            ],
        )
        .map(|url| format!("/verify?{}", url.query().unwrap_or("")))
        .unwrap_or_default();
        // The link's path under the project's Auth URL, as in the email's template.
        Json(json!({"email": email, "code": mail.code, "link_path": link}))
    })
    .ok_or_else(|| {
        AuthError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no mail for this address",
        )
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StandinConfig {
    access_token_ttl_secs: u64,
    /// Only for this user (otherwise for everyone).
    #[serde(default)]
    email: Option<String>,
}

async fn set_config(State(state): State<Shared>, Json(config): Json<StandinConfig>) -> StatusCode {
    match config.email {
        Some(email) => {
            lock(&state.ttl_by_email).insert(
                email.trim().to_ascii_lowercase(),
                config.access_token_ttl_secs,
            );
        }
        None => state
            .access_ttl_secs
            .store(config.access_token_ttl_secs, Ordering::Relaxed),
    }
    StatusCode::NO_CONTENT
}
