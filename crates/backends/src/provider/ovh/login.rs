//! `snaptree login`: a consumer key with exactly the access rules snaptree needs, requested
//! with `POST /auth/credential` and approved by the account owner at its validation URL.

use std::time::Duration;

use serde::Deserialize;

use super::client::{ApiErrorKind, ClientOptions, OvhClient};
use super::credentials::{self, Auth, Credentials, Sources};
use super::{SNAPSHOT_CALLS, WireCredential};
use crate::config::{ProfileConfig, Secret};
use crate::provider::ProviderError;

/// The access rules of a consumer key for snaptree: every call of [`SNAPSHOT_CALLS`], with
/// `{serviceName}` as the wildcard, and every GET under `/vps/` (VPS, option, tasks,
/// download link); with `order` (never read-only), the order API's too ([`ORDER_RULES`]).
pub fn access_rules(read_only: bool, order: bool) -> Vec<(&'static str, String)> {
    let mut rules = vec![("GET", "/vps".to_string()), ("GET", "/vps/*".to_string())];
    if !read_only {
        rules.extend(
            SNAPSHOT_CALLS
                .iter()
                .filter(|(method, _)| *method != "GET")
                .map(|(method, path)| (*method, path.replace("{serviceName}", "*"))),
        );
        if order {
            rules.extend(ORDER_RULES.iter().map(|(m, p)| (*m, (*p).to_string())));
        }
    }
    rules
}

/// The rules ordering an option needs: the order API's routes (the per-option one and the
/// cart), and `GET /me` (the account's subsidiary, which a cart is made for).
pub const ORDER_RULES: &[(&str, &str)] =
    &[("GET", "/order/*"), ("POST", "/order/*"), ("GET", "/me")];

/// A consumer key requested and waiting for its owner's approval.
#[derive(Debug)]
pub struct Requested {
    /// The key (a secret: printed once, for the profile).
    pub consumer_key: Secret,
    /// Where the account owner approves it.
    pub validation_url: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireRequested {
    consumer_key: String,
    validation_url: String,
}

/// A profile's endpoint and application, able to request a key and to see it approved.
pub struct Login {
    endpoint: super::endpoint::Endpoint,
    application_key: String,
    application_secret: Secret,
    options: ClientOptions,
    client: OvhClient,
}

impl Login {
    /// The application of an OVH profile (its consumer key, if any, is not needed).
    pub fn for_profile(name: &str, cfg: &ProfileConfig) -> Result<Login, String> {
        Self::for_profile_with(name, cfg, &Sources::system())
    }

    /// As [`Login::for_profile`], with the environment and `ovh.conf` files given.
    pub fn for_profile_with(
        name: &str,
        cfg: &ProfileConfig,
        sources: &Sources,
    ) -> Result<Login, String> {
        let mut without_key = cfg.clone();
        // A placeholder: the key being requested is the one that is missing.
        without_key.consumer_key = Some(String::new());
        let creds = credentials::resolve(name, &without_key, sources)?;
        let Auth::Signed {
            application_key,
            application_secret,
            ..
        } = creds.auth.clone()
        else {
            return Err(format!(
                "profile {name} uses an OAuth2 service account, which needs no consumer key; \
                 snaptree login is for application keys"
            ));
        };
        let options = ClientOptions {
            timeout: cfg.request_timeout(name)?,
            ..ClientOptions::default()
        };
        let client = OvhClient::new(creds.clone(), options.clone())?;
        Ok(Login {
            endpoint: creds.endpoint,
            application_key,
            application_secret,
            options,
            client,
        })
    }

    /// The endpoint's base URL.
    pub fn base_url(&self) -> &str {
        &self.endpoint.base_url
    }

    /// `POST /auth/credential` with these rules.
    pub async fn request(
        &self,
        rules: &[(&'static str, String)],
    ) -> Result<Requested, ProviderError> {
        let rules: Vec<serde_json::Value> = rules
            .iter()
            .map(|(method, path)| serde_json::json!({"method": method, "path": path}))
            .collect();
        let body = serde_json::json!({ "accessRules": rules });
        let r: WireRequested = self.client.post_unsigned("/auth/credential", &body).await?;
        Ok(Requested {
            consumer_key: Secret::new(r.consumer_key),
            validation_url: r.validation_url,
        })
    }

    /// A client signing with the requested `key`, to watch for its approval: one for the
    /// whole wait, so the server's clock is read once.
    pub fn watch(&self, key: &Secret) -> Result<Approval, ProviderError> {
        let creds = Credentials {
            endpoint: self.endpoint.clone(),
            auth: Auth::Signed {
                application_key: self.application_key.clone(),
                application_secret: self.application_secret.clone(),
                consumer_key: key.clone(),
            },
        };
        OvhClient::new(creds, self.options.clone())
            .map(|client| Approval { client })
            .map_err(ProviderError::Backend)
    }
}

/// Watches one requested key (see [`Login::watch`]).
pub struct Approval {
    client: OvhClient,
}

impl Approval {
    /// One look at the key: `Ok(true)` once approved, `Ok(false)` while it waits.
    pub async fn approved(&self) -> Result<bool, ProviderError> {
        match self
            .client
            .get::<WireCredential>("/auth/currentCredential")
            .await
        {
            Ok(c) => Ok(c.status.as_deref().is_none_or(|s| s == "validated")),
            Err(e) if matches!(&*e.kind, ApiErrorKind::Http { code: Some(code), .. } if code == "NOT_CREDENTIAL") => {
                Ok(false)
            }
            // Polled too often for the API: look again at the next poll.
            Err(e) if matches!(&*e.kind, ApiErrorKind::RateLimited { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

/// How often a waiting login looks at its key.
pub const POLL: Duration = Duration::from_secs(2);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_are_the_snapshot_calls_and_gets_only_when_read_only() {
        let full = access_rules(false, false);
        assert_eq!(full.len(), 10);
        assert!(full.contains(&("POST", "/vps/*/automatedBackup/restore".into())));
        assert!(full.contains(&("POST", "/vps/*/createSnapshot".into())));
        assert!(full.contains(&("DELETE", "/vps/*/snapshot".into())));
        let ro = access_rules(true, true);
        assert_eq!(ro, vec![("GET", "/vps".into()), ("GET", "/vps/*".into())]);
        let order = access_rules(false, true);
        assert_eq!(order.len(), 13);
        assert!(order.contains(&("POST", "/order/*".into())));
    }
}
