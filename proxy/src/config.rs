//! The proxy's one typed configuration, read from the environment once at start-up; every
//! error names the variable and what it should hold.

use std::net::IpAddr;
use std::time::Duration;

use hark_wire::realtime::TRANSCRIPTION_MODELS;

use crate::error::{AppError, Result};

/// A secret: usable, but never printed.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How the proxy creates a call at OpenAI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallForm {
    /// The documented way for a transcription session: mint an ephemeral key bound to the
    /// session (`POST /realtime/client_secrets`), then post the offer with it.
    ClientSecret,
    /// One step: multipart `sdp` + `session` with the standard key (undocumented for
    /// transcription sessions; for providers that accept it).
    Multipart,
}

/// Where the organisation's Supabase project is.
#[derive(Debug, Clone)]
pub struct SupabaseConfig {
    /// `SUPABASE_URL`.
    pub url: String,
    /// `SUPABASE_ANON_KEY`, sent as `apikey`.
    pub anon_key: String,
    /// Where the token signing keys are published.
    pub jwks_url: String,
    /// Expected `iss` of user tokens.
    pub issuer: String,
    /// Legacy HS256 secret, only if the project still signs with it.
    pub jwt_secret: Option<Secret>,
}

/// The call policy used with `--dev` (no Supabase).
#[derive(Debug, Clone)]
pub struct DevPolicy {
    /// Transcription model.
    pub model: String,
    /// Language, if fixed.
    pub language: Option<String>,
    /// Maximum call length.
    pub max_minutes: u32,
}

/// Everything the proxy needs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to bind.
    pub bind: IpAddr,
    /// `PORT`.
    pub port: u16,
    /// `OPENAI_API_KEY`.
    pub openai_api_key: Secret,
    /// `OPENAI_BASE_URL`, e.g. `https://api.openai.com/v1` or an Azure `…/openai/v1`.
    pub openai_base_url: String,
    /// `OPENAI_CALL_FORM`.
    pub call_form: CallForm,
    /// Supabase; `None` in dev mode.
    pub supabase: Option<SupabaseConfig>,
    /// Used in dev mode.
    pub dev_policy: DevPolicy,
    /// Dev mode only: check HS256 tokens signed with this (`SUPABASE_JWT_SECRET`) when set.
    pub dev_jwt_secret: Option<Secret>,
    /// Dev mode only: their expected issuer (`SUPABASE_JWT_ISSUER`, default `hark-dev`).
    pub dev_jwt_issuer: String,
    /// Per-user session requests per minute.
    pub rate_limit_per_user: u32,
    /// Per-organisation requests per minute (by the interview's organisation, once known).
    pub rate_limit_per_org: u32,
    /// Requests per minute for the whole machine.
    pub rate_limit_global: u32,
    /// Timeout of each upstream request.
    pub upstream_timeout: Duration,
}

fn missing(name: &str, what: &str) -> AppError {
    AppError::Config(format!("{name} is not set: {what}"))
}

fn bad(name: &str, value: &str, what: &str) -> AppError {
    AppError::Config(format!("{name}={value:?} is not valid: {what}"))
}

impl Config {
    /// Reads the configuration from `var` (the environment in production, a map in tests).
    /// `dev` skips Supabase and allows only a loopback bind address.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>, dev: bool) -> Result<Config> {
        let get = |name: &str| {
            var(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let number = |name: &str, default: u64| -> Result<u64> {
            match get(name) {
                Some(value) => value
                    .parse()
                    .map_err(|_| bad(name, &value, "expected a whole number")),
                None => Ok(default),
            }
        };
        let port = number("PORT", 8080)?;
        let port = u16::try_from(port)
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| bad("PORT", &port.to_string(), "expected 1–65535"))?;
        let default_bind = if dev { "127.0.0.1" } else { "0.0.0.0" };
        let bind_text = get("BIND_ADDRESS").unwrap_or_else(|| default_bind.to_owned());
        let bind: IpAddr = bind_text
            .parse()
            .map_err(|_| bad("BIND_ADDRESS", &bind_text, "expected an IP address"))?;
        if dev && !bind.is_loopback() {
            return Err(bad(
                "BIND_ADDRESS",
                &bind_text,
                "--dev serves without authentication, so it binds only to loopback (127.0.0.1 or ::1)",
            ));
        }
        let openai_api_key = get("OPENAI_API_KEY").ok_or_else(|| {
            missing(
                "OPENAI_API_KEY",
                "set the OpenAI API key with `fly secrets set OPENAI_API_KEY=sk-…`",
            )
        })?;
        let openai_base_url =
            get("OPENAI_BASE_URL").unwrap_or_else(|| "https://api.openai.com/v1".to_owned());
        if !(openai_base_url.starts_with("https://")
            || openai_base_url.starts_with("http://127.")
            || openai_base_url.starts_with("http://localhost"))
        {
            return Err(bad(
                "OPENAI_BASE_URL",
                &openai_base_url,
                "expected an https:// URL (plain http only on loopback)",
            ));
        }
        let call_form = match get("OPENAI_CALL_FORM").as_deref() {
            None | Some("client_secret") => CallForm::ClientSecret,
            Some("multipart") => CallForm::Multipart,
            Some(other) => {
                return Err(bad(
                    "OPENAI_CALL_FORM",
                    other,
                    "expected client_secret (default) or multipart",
                ));
            }
        };
        let model = get("TRANSCRIBE_MODEL").unwrap_or_else(|| "gpt-4o-transcribe".to_owned());
        if !TRANSCRIPTION_MODELS.contains(&model.as_str()) {
            return Err(bad(
                "TRANSCRIBE_MODEL",
                &model,
                &format!("expected one of {}", TRANSCRIPTION_MODELS.join(", ")),
            ));
        }
        let supabase = if dev {
            None
        } else {
            let url = get("SUPABASE_URL").ok_or_else(|| {
                missing(
                    "SUPABASE_URL",
                    "the project URL, https://<ref>.supabase.co (or run with --dev locally)",
                )
            })?;
            let url = url.trim_end_matches('/').to_owned();
            if !(url.starts_with("https://")
                || url.starts_with("http://127.")
                || url.starts_with("http://localhost"))
            {
                return Err(bad(
                    "SUPABASE_URL",
                    &url,
                    "expected an https:// URL (plain http only on loopback)",
                ));
            }
            let anon_key = get("SUPABASE_ANON_KEY").ok_or_else(|| {
                missing("SUPABASE_ANON_KEY", "the project's anon (publishable) key")
            })?;
            Some(SupabaseConfig {
                jwks_url: get("SUPABASE_JWKS_URL")
                    .unwrap_or_else(|| format!("{url}/auth/v1/.well-known/jwks.json")),
                issuer: get("SUPABASE_JWT_ISSUER").unwrap_or_else(|| format!("{url}/auth/v1")),
                jwt_secret: get("SUPABASE_JWT_SECRET").map(Secret),
                url,
                anon_key,
            })
        };
        Ok(Config {
            bind,
            port,
            openai_api_key: Secret(openai_api_key),
            openai_base_url: openai_base_url.trim_end_matches('/').to_owned(),
            call_form,
            supabase,
            dev_policy: DevPolicy {
                model,
                language: get("TRANSCRIBE_LANGUAGE"),
                max_minutes: u32::try_from(number("MAX_SESSION_MINUTES", 60)?)
                    .unwrap_or(60)
                    .clamp(1, 240),
            },
            dev_jwt_secret: if dev {
                get("SUPABASE_JWT_SECRET").map(Secret)
            } else {
                None
            },
            dev_jwt_issuer: get("SUPABASE_JWT_ISSUER").unwrap_or_else(|| "hark-dev".to_owned()),
            rate_limit_per_user: u32::try_from(number("RATE_LIMIT_PER_USER_PER_MINUTE", 30)?)
                .unwrap_or(30)
                .max(1),
            rate_limit_per_org: u32::try_from(number("RATE_LIMIT_PER_ORG_PER_MINUTE", 300)?)
                .unwrap_or(300)
                .max(1),
            rate_limit_global: u32::try_from(number("RATE_LIMIT_PER_MINUTE", 3000)?)
                .unwrap_or(3000)
                .max(1),
            upstream_timeout: Duration::from_secs(
                number("UPSTREAM_TIMEOUT_SECS", 10)?.clamp(1, 120),
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn load(pairs: &[(&str, &str)], dev: bool) -> Result<Config> {
        let vars: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_vars(|name| vars.get(name).cloned(), dev)
    }

    const BASE: &[(&str, &str)] = &[
        ("OPENAI_API_KEY", "sk-live"),
        ("SUPABASE_URL", "https://abc.supabase.co"),
        ("SUPABASE_ANON_KEY", "anon"),
    ];

    #[test]
    fn defaults_are_derived_from_the_project_url() {
        let config = load(BASE, false).unwrap();
        let supabase = config.supabase.unwrap();
        assert_eq!(
            supabase.jwks_url,
            "https://abc.supabase.co/auth/v1/.well-known/jwks.json"
        );
        assert_eq!(supabase.issuer, "https://abc.supabase.co/auth/v1");
        assert_eq!(
            (config.port, config.openai_base_url.as_str()),
            (8080, "https://api.openai.com/v1")
        );
        assert_eq!(format!("{:?}", config.openai_api_key), "Secret(***)");
    }

    #[test]
    fn every_error_names_its_variable() {
        let check = |pairs: &[(&str, &str)], dev: bool, name: &str| {
            let err = load(pairs, dev).unwrap_err().to_string();
            assert!(err.starts_with(name), "{err} should name {name}");
        };
        check(&[], false, "OPENAI_API_KEY");
        check(&BASE[..1], false, "SUPABASE_URL");
        check(&BASE[..2], false, "SUPABASE_ANON_KEY");
        check(
            &[BASE[0], BASE[1], BASE[2], ("PORT", "eighty")],
            false,
            "PORT",
        );
        check(
            &[BASE[0], BASE[1], BASE[2], ("TRANSCRIBE_MODEL", "gpt-9")],
            false,
            "TRANSCRIBE_MODEL",
        );
        check(
            &[BASE[0], ("SUPABASE_URL", "http://abc.supabase.co"), BASE[2]],
            false,
            "SUPABASE_URL",
        );
        check(
            &[BASE[0], BASE[1], BASE[2], ("OPENAI_CALL_FORM", "websocket")],
            false,
            "OPENAI_CALL_FORM",
        );
        check(
            &[BASE[0], ("BIND_ADDRESS", "0.0.0.0")],
            true,
            "BIND_ADDRESS",
        );
    }

    #[test]
    fn dev_mode_needs_no_supabase_and_binds_loopback() {
        let config = load(&BASE[..1], true).unwrap();
        assert!(config.supabase.is_none());
        assert!(config.bind.is_loopback());
    }
}
