//! The Supabase Auth stand-in through the gateway: GoTrue's token grants, user, logout, JWKS,
//! and the shapes of its answers and tokens.

use base64::Engine;
use hark_tests::supabase::{Project, session_from};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Digest;
use uuid::Uuid;

fn token_parts(token: &str) -> (Value, Value) {
    let part = |i: usize| -> Value {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').nth(i).unwrap())
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    };
    (part(0), part(1))
}

#[tokio::test]
async fn password_sign_in_refresh_rotation_and_logout() {
    let project = Project::from_env();
    let email = format!("erin-{}@example.test", Uuid::new_v4().simple());
    project.create_user(&email, "s3cret-enough").await;

    let wrong = project
        .auth(
            Method::POST,
            "/token?grant_type=password",
            None,
            Some(json!({"email": email, "password": "nope"})),
        )
        .await;
    assert_eq!(
        (wrong.status, wrong.body["error_code"].as_str()),
        (400, Some("invalid_credentials")),
        "{wrong:?}"
    );

    let session = project.sign_in(&email, "s3cret-enough").await;
    let body = &session.response;
    assert_eq!(body["token_type"], "bearer");
    assert!(
        body["expires_in"].as_u64().is_some_and(|s| s > 0) && body["expires_at"].as_u64().is_some()
    );
    let (header, claims) = token_parts(&session.access_token);
    assert_eq!(header["alg"], "ES256");
    assert_eq!(claims["iss"], format!("{}/auth/v1", project.url));
    assert_eq!(
        (claims["aud"].as_str(), claims["role"].as_str()),
        (Some("authenticated"), Some("authenticated"))
    );
    assert_eq!(claims["sub"], json!(session.user_id));
    assert_eq!(claims["email"], json!(email));
    assert!(claims["session_id"].is_string() && claims["exp"].is_u64());
    // The signing key is published under the token's kid.
    let jwks = project
        .auth(Method::GET, "/.well-known/jwks.json", None, None)
        .await;
    let kids: Vec<&Value> = jwks.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| &k["kid"])
        .collect();
    assert!(kids.contains(&&header["kid"]), "{jwks:?}");

    let user = project
        .auth(Method::GET, "/user", Some(&session.access_token), None)
        .await;
    assert_eq!(
        (user.status, user.body["email"].as_str()),
        (200, Some(email.as_str()))
    );

    // Refresh tokens rotate: the old one is single use.
    let refreshed = project
        .auth(
            Method::POST,
            "/token?grant_type=refresh_token",
            None,
            Some(json!({"refresh_token": session.refresh_token})),
        )
        .await;
    assert_eq!(refreshed.status, 200, "{refreshed:?}");
    let refreshed = session_from(refreshed.body);
    assert_ne!(refreshed.refresh_token, session.refresh_token);
    assert_eq!(
        token_parts(&refreshed.access_token).1["session_id"],
        claims["session_id"],
        "same session"
    );
    let reused = project
        .auth(
            Method::POST,
            "/token?grant_type=refresh_token",
            None,
            Some(json!({"refresh_token": session.refresh_token})),
        )
        .await;
    assert_eq!(reused.status, 400);
    assert!(
        reused.body["error_code"]
            .as_str()
            .is_some_and(|c| c.starts_with("refresh_token_")),
        "{reused:?}"
    );

    // Sign-out revokes the session: its refresh token and /user stop working.
    let logout = project
        .auth(
            Method::POST,
            "/logout?scope=global",
            Some(&refreshed.access_token),
            None,
        )
        .await;
    assert_eq!(logout.status, 204);
    let after = project
        .auth(Method::GET, "/user", Some(&refreshed.access_token), None)
        .await;
    assert_eq!(
        (after.status, after.body["error_code"].as_str()),
        (403, Some("session_not_found"))
    );
    let refresh_after = project
        .auth(
            Method::POST,
            "/token?grant_type=refresh_token",
            None,
            Some(json!({"refresh_token": refreshed.refresh_token})),
        )
        .await;
    assert_eq!(refresh_after.status, 400);
}

#[tokio::test]
async fn email_one_time_code() {
    let project = Project::from_env();
    let email = format!("otp-{}@example.test", Uuid::new_v4().simple());
    let refused = project
        .auth(
            Method::POST,
            "/otp",
            None,
            Some(json!({"email": email, "create_user": false})),
        )
        .await;
    assert_eq!(
        (refused.status, refused.body["error_code"].as_str()),
        (422, Some("otp_disabled"))
    );
    let sent = project
        .auth(
            Method::POST,
            "/otp",
            None,
            Some(json!({"email": email, "create_user": true})),
        )
        .await;
    assert_eq!((sent.status, sent.body.clone()), (200, json!({})));
    let code = project.mailed_code(&email).await;
    let wrong = project
        .auth(
            Method::POST,
            "/verify",
            None,
            Some(json!({"type": "email", "email": email, "token": "000000x"})),
        )
        .await;
    assert_eq!(
        (wrong.status, wrong.body["error_code"].as_str()),
        (403, Some("otp_expired"))
    );
    let verified = project
        .auth(
            Method::POST,
            "/verify",
            None,
            Some(json!({"type": "email", "email": email, "token": code})),
        )
        .await;
    assert_eq!(verified.status, 200, "{verified:?}");
    assert_eq!(
        token_parts(&session_from(verified.body).access_token).1["amr"][0]["method"],
        "otp"
    );
}

#[tokio::test]
async fn oauth_with_pkce_on_a_loopback_redirect() {
    let project = Project::from_env();
    let verifier = "a-verifier-of-more-than-43-characters-0123456789abcdef";
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    let redirect = "http://127.0.0.1:53682/callback";
    let browser = hark_tests::http_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let authorize = format!(
        "{}/auth/v1/authorize?provider=google&redirect_to={}&code_challenge={challenge}&code_challenge_method=s256",
        project.url,
        redirect.replace(':', "%3A").replace('/', "%2F")
    );
    let page = browser
        .get(&authorize)
        .header("apikey", &project.anon_key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let flow = page
        .split("name=flow value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("sign-in form")
        .to_owned();
    let email = format!("sso-{}@example.test", Uuid::new_v4().simple());
    let signed_in = browser
        .post(format!("{}/auth/v1/authorize/sign-in", project.url))
        .header("apikey", &project.anon_key)
        .form(&[("flow", flow.as_str()), ("email", email.as_str())])
        .send()
        .await
        .unwrap();
    assert!(signed_in.status().is_redirection());
    let location = signed_in.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!("{redirect}?code=")),
        "{location}"
    );
    let code = location.split("code=").nth(1).unwrap().to_owned();

    let bad = project
        .auth(
            Method::POST,
            "/token?grant_type=pkce",
            None,
            Some(json!({"auth_code": code, "code_verifier": "wrong"})),
        )
        .await;
    assert_eq!(
        (bad.status, bad.body["error_code"].as_str()),
        (400, Some("bad_code_verifier"))
    );
    // A failed exchange consumes the flow, as GoTrue does: start again.
    let unknown = project
        .auth(
            Method::POST,
            "/token?grant_type=pkce",
            None,
            Some(json!({"auth_code": code, "code_verifier": verifier})),
        )
        .await;
    assert_eq!(
        (unknown.status, unknown.body["error_code"].as_str()),
        (404, Some("flow_state_not_found"))
    );
}
