//! The organisation's data over PostgREST (the `postgrest` crate) as the signed-in user: every
//! call carries a fresh token and is repeated once after a refresh when the API says the token
//! expired; PostgREST's error bodies become [`CloudError::Rest`].

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::account::Account;
use crate::error::{CloudError, Result};

/// A membership of the signed-in user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Membership {
    /// The organisation.
    pub org_id: Uuid,
    /// Its name.
    pub org_name: String,
    /// `owner`, `admin`, `recruiter` or `viewer`.
    pub role: String,
}

impl Membership {
    /// Whether this role may store recordings.
    pub fn can_record(&self) -> bool {
        matches!(self.role.as_str(), "owner" | "admin" | "recruiter")
    }
}

/// PostgREST as the account's user.
#[derive(Clone)]
pub struct Rest {
    account: Arc<Account>,
    client: postgrest::Postgrest,
}

impl std::fmt::Debug for Rest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rest")
            .field("project", &self.account.project().url)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct RestErrorBody {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    hint: Option<String>,
}

impl Rest {
    /// PostgREST of the account's project.
    pub fn new(account: Arc<Account>) -> Rest {
        let project = account.project();
        let client = postgrest::Postgrest::new(format!("{}/rest/v1", project.url))
            .insert_header("apikey", &project.anon_key);
        Rest { account, client }
    }

    /// The account.
    pub fn account(&self) -> &Arc<Account> {
        &self.account
    }

    /// Runs the request `build` makes, as the user; returns the JSON answer (`Null` if empty).
    pub async fn call(
        &self,
        build: impl Fn(&postgrest::Postgrest) -> postgrest::Builder,
    ) -> Result<Value> {
        let token = self.account.access_token().await?;
        match self.send(build(&self.client).auth(&token)).await {
            Err(err) if err.is_expired_token() => {
                let token = self.account.refresh_after(&token).await?;
                self.send(build(&self.client).auth(&token)).await
            }
            other => other,
        }
    }

    async fn send(&self, builder: postgrest::Builder) -> Result<Value> {
        let url = format!("{}/rest/v1", self.account.project().url);
        let response = builder
            .execute()
            .await
            .map_err(|err| CloudError::Unreachable {
                url: url.clone(),
                message: crate::transport_message(&err),
            })?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = response
            .text()
            .await
            .map_err(|err| CloudError::Unreachable {
                url: url.clone(),
                message: crate::transport_message(&err),
            })?;
        if (200..300).contains(&status) {
            return Ok(if text.trim().is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).unwrap_or(Value::String(text))
            });
        }
        let body: Option<RestErrorBody> = serde_json::from_str(&text).ok();
        let (code, message, hint) = match body {
            Some(body) => (
                body.code.unwrap_or_else(|| "unknown".into()),
                body.message.unwrap_or_default(),
                body.hint,
            ),
            None => (
                "unknown".into(),
                text.chars().filter(|c| !c.is_control()).take(160).collect(),
                None,
            ),
        };
        if status == 401 && message.contains("API key") {
            return Err(CloudError::BadConfig(format!(
                "the project refused the anon key ({message}); copy the anon (publishable) key from the Supabase dashboard into HARK_SUPABASE_ANON_KEY"
            )));
        }
        Err(CloudError::Rest {
            status,
            code,
            message,
            hint,
            retry_after,
        })
    }

    /// The signed-in user's organisations and roles.
    pub async fn memberships(&self) -> Result<Vec<Membership>> {
        let user = self.account.user().await.ok_or(CloudError::NotSignedIn)?;
        let rows = self
            .call(|c| {
                c.from("memberships")
                    .select("org_id,role")
                    .eq("user_id", user.id.to_string())
            })
            .await?;
        let rows: Vec<Value> = serde_json::from_value(rows).unwrap_or_default();
        let orgs = self
            .call(|c| c.from("organizations").select("id,name"))
            .await?;
        let orgs: Vec<Value> = serde_json::from_value(orgs).unwrap_or_default();
        Ok(rows
            .iter()
            .filter_map(|row| {
                let org_id: Uuid = row["org_id"].as_str()?.parse().ok()?;
                let org_name = orgs
                    .iter()
                    .find(|o| o["id"].as_str() == Some(&org_id.to_string()))
                    .and_then(|o| o["name"].as_str())
                    .unwrap_or("")
                    .to_owned();
                Some(Membership {
                    org_id,
                    org_name,
                    role: row["role"].as_str()?.to_owned(),
                })
            })
            .collect())
    }
}
