//! `hark://` links: what an admin sends to set Hark up for the organisation
//! (`hark://connect?proxy_url=…&supabase_url=…&anon_key=…`), read and checked before the
//! recruiter is asked to confirm them. Nothing in a link takes effect without that.

use serde::Serialize;

use crate::config::check_connection;
use crate::error::{RecorderError, Result};

/// The scheme Hark registers with the operating system.
pub const SCHEME: &str = "hark";

/// What a link asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Link {
    /// Connect to an organisation's project.
    Connect {
        /// The transcription proxy (none: recording without a live transcript).
        proxy_url: Option<String>,
        /// The Supabase project URL.
        supabase_url: String,
        /// Its anon (publishable) key.
        supabase_anon_key: String,
    },
}

/// Reads a `hark://` link; the error says what is wrong with it and what to do.
pub fn parse(link: &str) -> Result<Link> {
    let bad = |problem: &str| {
        RecorderError::Invalid(format!(
            "this link cannot be used: {problem}; ask your admin to send it again"
        ))
    };
    let url =
        url::Url::parse(link.trim()).map_err(|err| bad(&format!("it is not a link ({err})")))?;
    if url.scheme() != SCHEME {
        return Err(bad(&format!(
            "Hark links start with {SCHEME}://, not {}://",
            url.scheme()
        )));
    }
    // `hark://connect?…` puts the action in the host; `hark:connect?…` in the path.
    let action = url
        .host_str()
        .filter(|host| !host.is_empty())
        .unwrap_or_else(|| url.path().trim_matches('/'));
    match action {
        "connect" => {
            let param = |name: &str| {
                url.query_pairs()
                    .find(|(key, _)| key == name)
                    .map(|(_, value)| value.trim().to_string())
                    .filter(|value| !value.is_empty())
            };
            let (proxy_url, supabase_url, supabase_anon_key) =
                (param("proxy_url"), param("supabase_url"), param("anon_key"));
            check_connection(&proxy_url, &supabase_url, &supabase_anon_key)
                .map_err(|err| bad(&err.to_string()))?;
            Ok(Link::Connect {
                proxy_url,
                supabase_url: supabase_url.unwrap_or_default(),
                supabase_anon_key: supabase_anon_key.unwrap_or_default(),
            })
        }
        other => Err(bad(&format!(
            "Hark does not know \"{other}\" links (it knows hark://connect)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connect_link_gives_the_organisations_settings() {
        let link = parse(
            "hark://connect?proxy_url=https%3A%2F%2Fproxy.acme.example%2Fv1&supabase_url=https://abc.supabase.co&anon_key=sb_publishable_123",
        )
        .unwrap();
        assert_eq!(
            link,
            Link::Connect {
                proxy_url: Some("https://proxy.acme.example/v1".into()),
                supabase_url: "https://abc.supabase.co".into(),
                supabase_anon_key: "sb_publishable_123".into(),
            }
        );
        // Without a proxy: synced, but no live transcript.
        let Link::Connect { proxy_url, .. } =
            parse("hark:connect?supabase_url=https://abc.supabase.co&anon_key=k").unwrap();
        assert_eq!(proxy_url, None);
    }

    #[test]
    fn a_bad_link_says_what_is_wrong() {
        let message = |link: &str| parse(link).unwrap_err().to_string();
        assert!(message("not a link").contains("it is not a link"));
        assert!(message("https://abc.supabase.co").contains("start with hark://, not https://"));
        assert!(
            message("hark://delete-everything").contains("does not know \"delete-everything\"")
        );
        let missing = message("hark://connect?proxy_url=https://p.example/v1");
        assert!(
            missing.contains("needs the Supabase URL and its anon key"),
            "{missing}"
        );
        let not_http = message("hark://connect?supabase_url=ftp://x&anon_key=k");
        assert!(not_http.contains("is not an http(s) URL"), "{not_http}");
        assert!(
            not_http.ends_with("ask your admin to send it again"),
            "{not_http}"
        );
    }
}
