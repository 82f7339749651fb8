//! Where OVH credentials come from: the profile, then `OVH_*` variables and `ovh.conf`
//! files, with the precedence python-ovh uses, so existing setups work unchanged.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::config::{ProfileConfig, Secret, resolve_secret};

use super::endpoint::Endpoint;

/// How requests are authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    /// Application key, application secret and consumer key: signed requests.
    Signed {
        /// Application key (not secret: sent on every call).
        application_key: String,
        /// Application secret.
        application_secret: Secret,
        /// Consumer key.
        consumer_key: Secret,
    },
    /// OAuth2 service account: client-credentials grant, then a Bearer token.
    OAuth2 {
        /// Client id.
        client_id: String,
        /// Client secret.
        client_secret: Secret,
        /// Token URL.
        token_url: String,
    },
}

/// An endpoint with the credentials to use on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// Endpoint.
    pub endpoint: Endpoint,
    /// Authentication.
    pub auth: Auth,
}

/// The environment and `ovh.conf` files to read, passed in so tests need not touch the
/// process environment.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    /// Variables (`OVH_ENDPOINT`, `OVH_APPLICATION_KEY`, …).
    pub env: HashMap<String, String>,
    /// `ovh.conf` files, lowest priority first; missing files are skipped.
    pub files: Vec<PathBuf>,
}

impl Sources {
    /// The process environment and `/etc/ovh.conf`, `~/.ovh.conf`, `./ovh.conf`.
    pub fn system() -> Sources {
        let env = std::env::vars()
            .filter(|(k, _)| k.starts_with("OVH_"))
            .collect();
        let mut files = vec![PathBuf::from("/etc/ovh.conf")];
        if let Some(home) = directories::BaseDirs::new() {
            files.push(home.home_dir().join(".ovh.conf"));
        }
        files.push(PathBuf::from("ovh.conf"));
        Sources { env, files }
    }
}

/// `ovh.conf` contents merged over all files: section → key → value.
#[derive(Debug, Default)]
pub struct OvhConf {
    sections: HashMap<String, HashMap<String, String>>,
}

impl OvhConf {
    /// Read the files in order; later files override earlier ones key by key.
    pub fn read(files: &[PathBuf]) -> OvhConf {
        let mut conf = OvhConf::default();
        for f in files {
            // Absent or unreadable files are skipped, as configparser does.
            if let Ok(text) = std::fs::read_to_string(f) {
                conf.merge(&text);
            }
        }
        conf
    }

    /// Merge one INI text (configparser's RawConfigParser rules, as python-ovh uses).
    pub fn merge(&mut self, text: &str) {
        let mut section: Option<String> = None;
        for raw in text.lines() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = Some(name.trim().to_string());
                continue;
            }
            let Some(sec) = &section else { continue };
            let split = line.find(['=', ':']);
            if let Some(i) = split {
                let key = line[..i].trim().to_lowercase();
                let value = line[i + 1..].trim().to_string();
                self.sections
                    .entry(sec.clone())
                    .or_default()
                    .insert(key, value);
            }
        }
    }

    /// One value.
    pub fn get(&self, section: &str, key: &str) -> Option<&str> {
        self.sections.get(section)?.get(key).map(String::as_str)
    }
}

/// python-ovh's lookup: `OVH_<NAME>` first, then `[section] name` from the files.
fn lookup(src: &Sources, conf: &OvhConf, section: &str, name: &str) -> Option<String> {
    src.env
        .get(&format!("OVH_{}", name.to_uppercase()))
        .cloned()
        .or_else(|| conf.get(section, name).map(String::from))
        .filter(|v| !v.is_empty())
}

/// Resolve a profile's endpoint and credentials; each value not set in the profile is
/// looked up in the environment, then in `ovh.conf` under the endpoint's section.
pub fn resolve(profile: &str, cfg: &ProfileConfig, src: &Sources) -> Result<Credentials, String> {
    let conf = OvhConf::read(&src.files);
    let endpoint_name = cfg
        .endpoint
        .clone()
        .or_else(|| lookup(src, &conf, "default", "endpoint"))
        .ok_or_else(|| {
            format!(
                "profile {profile}: no OVH endpoint: set endpoint in the profile, OVH_ENDPOINT, \
                 or [default] endpoint= in ovh.conf"
            )
        })?;
    let endpoint =
        Endpoint::parse(&endpoint_name).map_err(|e| format!("profile {profile}: {e}"))?;
    let sec = endpoint.name.as_str();
    let limit = cfg.request_timeout(profile)?;
    let secret =
        |what: &str, plain: &Option<String>, env: &Option<String>, cmd: &Option<String>| {
            resolve_secret(
                profile,
                what,
                plain.as_deref(),
                env.as_deref(),
                cmd.as_deref(),
                limit,
            )
            .map_err(|e| e.to_string())
        };
    let application_key = cfg
        .application_key
        .clone()
        .or_else(|| lookup(src, &conf, sec, "application_key"));
    let application_secret = match secret(
        "application secret",
        &cfg.application_secret,
        &cfg.application_secret_env,
        &cfg.application_secret_command,
    )? {
        Some(s) => Some(s),
        None => lookup(src, &conf, sec, "application_secret").map(Secret::new),
    };
    let consumer_key = cfg
        .consumer_key
        .clone()
        .or_else(|| lookup(src, &conf, sec, "consumer_key"));
    let client_id = cfg
        .client_id
        .clone()
        .or_else(|| lookup(src, &conf, sec, "client_id"));
    let client_secret = match secret(
        "client secret",
        &cfg.client_secret,
        &cfg.client_secret_env,
        &cfg.client_secret_command,
    )? {
        Some(s) => Some(s),
        None => lookup(src, &conf, sec, "client_secret").map(Secret::new),
    };

    let err = |m: &str| Err(format!("profile {profile}: {m}"));
    let signed = application_key.is_some() || application_secret.is_some();
    let oauth = client_id.is_some() || client_secret.is_some();
    if signed && oauth {
        return err(
            "both an application key/secret and an OAuth2 client_id/client_secret are configured; keep one kind",
        );
    }
    if application_key.is_some() != application_secret.is_some() {
        return err(if application_key.is_some() {
            "application_key is set but application_secret is missing"
        } else {
            "application_secret is set but application_key is missing"
        });
    }
    if client_id.is_some() != client_secret.is_some() {
        return err(if client_id.is_some() {
            "client_id is set but client_secret is missing"
        } else {
            "client_secret is set but client_id is missing"
        });
    }
    match (
        application_key,
        application_secret,
        client_id,
        client_secret,
    ) {
        (Some(ak), Some(secret), _, _) => {
            let Some(ck) = consumer_key else {
                return err(&format!(
                    "consumer_key is missing: run `snaptree login {profile}` to request one"
                ));
            };
            Ok(Credentials {
                endpoint,
                auth: Auth::Signed {
                    application_key: ak,
                    application_secret: secret,
                    consumer_key: Secret::new(ck),
                },
            })
        }
        (_, _, Some(id), Some(secret)) => {
            let Some(token_url) = endpoint.token_url.clone() else {
                return err(&format!(
                    "OAuth2 service accounts do not exist on {}; use an application key instead",
                    endpoint.name
                ));
            };
            Ok(Credentials {
                endpoint,
                auth: Auth::OAuth2 {
                    client_id: id,
                    client_secret: secret,
                    token_url,
                },
            })
        }
        _ => err(
            "no OVH credentials: set application_key/application_secret/consumer_key or \
             client_id/client_secret in the profile, OVH_* variables or ovh.conf",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
        let p = dir.path().join(name);
        let mut f = std::fs::File::create(&p).unwrap();
        f.write_all(text.as_bytes()).unwrap();
        p
    }

    fn signed(c: &Credentials) -> (String, String, String) {
        match &c.auth {
            Auth::Signed {
                application_key,
                application_secret,
                consumer_key,
            } => (
                application_key.clone(),
                application_secret.expose().to_string(),
                consumer_key.expose().to_string(),
            ),
            other => panic!("not signed: {other:?}"),
        }
    }

    #[test]
    fn files_in_order_then_env_then_profile() {
        let d = tempfile::tempdir().unwrap();
        let etc = file(
            &d,
            "etc.conf",
            "[default]\nendpoint=ovh-eu\n[ovh-eu]\napplication_key=etc-ak\napplication_secret=etc-as\nconsumer_key=etc-ck\n",
        );
        let home = file(
            &d,
            "home.conf",
            "; user file\n[ovh-eu]\napplication_secret = home-as\n[ovh-ca]\napplication_key=ca-ak\n",
        );
        let local = file(&d, "local.conf", "[ovh-eu]\nconsumer_key: local-ck\n");
        let missing = d.path().join("missing.conf");
        let mut src = Sources {
            env: HashMap::new(),
            files: vec![etc, missing, home, local],
        };
        let cfg = ProfileConfig::default();
        let c = resolve("p", &cfg, &src).unwrap();
        assert_eq!(c.endpoint.base_url, "https://eu.api.ovh.com/1.0");
        assert_eq!(
            signed(&c),
            ("etc-ak".into(), "home-as".into(), "local-ck".into())
        );
        // The environment overrides every file.
        src.env.insert("OVH_CONSUMER_KEY".into(), "env-ck".into());
        assert_eq!(signed(&resolve("p", &cfg, &src).unwrap()).2, "env-ck");
        // The profile overrides the environment.
        let cfg = ProfileConfig {
            consumer_key: Some("profile-ck".into()),
            ..Default::default()
        };
        assert_eq!(signed(&resolve("p", &cfg, &src).unwrap()).2, "profile-ck");
        // OVH_ENDPOINT picks another section.
        src.env.insert("OVH_ENDPOINT".into(), "ovh-ca".into());
        src.env.remove("OVH_CONSUMER_KEY");
        let err = resolve("p", &ProfileConfig::default(), &src).unwrap_err();
        assert!(err.contains("application_secret is missing"), "{err}");
    }

    #[test]
    fn half_pairs_and_mixed_kinds_are_errors() {
        let src = Sources::default();
        let base = ProfileConfig {
            endpoint: Some("ovh-eu".into()),
            ..Default::default()
        };
        let both = ProfileConfig {
            application_key: Some("ak".into()),
            application_secret: Some("as".into()),
            consumer_key: Some("ck".into()),
            client_id: Some("id".into()),
            client_secret: Some("cs".into()),
            ..base.clone()
        };
        assert!(resolve("p", &both, &src).unwrap_err().contains("both"));
        let half = ProfileConfig {
            client_id: Some("id".into()),
            ..base.clone()
        };
        assert!(
            resolve("p", &half, &src)
                .unwrap_err()
                .contains("client_secret is missing")
        );
        let no_ck = ProfileConfig {
            application_key: Some("ak".into()),
            application_secret: Some("as".into()),
            ..base.clone()
        };
        assert!(
            resolve("p", &no_ck, &src)
                .unwrap_err()
                .contains("consumer_key is missing")
        );
        assert!(
            resolve("p", &base, &src)
                .unwrap_err()
                .contains("no OVH credentials")
        );
        assert!(
            resolve("p", &ProfileConfig::default(), &src)
                .unwrap_err()
                .contains("no OVH endpoint")
        );
        // Secrets never show up in the messages.
        let leaky = ProfileConfig {
            application_secret: Some("S3CRET-VALUE".into()),
            ..base.clone()
        };
        let e = resolve("p", &leaky, &src).unwrap_err();
        assert!(
            e.contains("application_key is missing") && !e.contains("S3CRET"),
            "{e}"
        );
    }

    #[test]
    fn oauth2_from_file_and_not_on_kimsufi() {
        let d = tempfile::tempdir().unwrap();
        let f = file(
            &d,
            "ovh.conf",
            "[default]\nendpoint=ovh-eu\n[ovh-eu]\nclient_id=sa-1\nclient_secret=sa-secret\n[kimsufi-eu]\nclient_id=k\nclient_secret=s\n",
        );
        let src = Sources {
            env: HashMap::new(),
            files: vec![f],
        };
        let c = resolve("p", &ProfileConfig::default(), &src).unwrap();
        match c.auth {
            Auth::OAuth2 {
                client_id,
                token_url,
                ..
            } => {
                assert_eq!(client_id, "sa-1");
                assert_eq!(token_url, "https://www.ovh.com/auth/oauth2/token");
            }
            other => panic!("{other:?}"),
        }
        let k = ProfileConfig {
            endpoint: Some("kimsufi-eu".into()),
            ..Default::default()
        };
        assert!(resolve("p", &k, &src).unwrap_err().contains("do not exist"));
    }
}
