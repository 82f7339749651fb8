//! OVH API endpoints: the aliases the official clients know, or any base URL (what a
//! profile's `endpoint` may be; the OVH client reads it from here).

/// Aliases and their base URLs, as in python-ovh.
pub const ENDPOINTS: &[(&str, &str)] = &[
    ("ovh-eu", "https://eu.api.ovh.com/1.0"),
    ("ovh-ca", "https://ca.api.ovh.com/1.0"),
    ("ovh-us", "https://api.us.ovhcloud.com/1.0"),
    ("kimsufi-eu", "https://eu.api.kimsufi.com/1.0"),
    ("kimsufi-ca", "https://ca.api.kimsufi.com/1.0"),
    ("soyoustart-eu", "https://eu.api.soyoustart.com/1.0"),
    ("soyoustart-ca", "https://ca.api.soyoustart.com/1.0"),
];

/// OAuth2 token URLs; Kimsufi and So you Start have none.
const OAUTH2_TOKEN_URLS: &[(&str, &str)] = &[
    ("ovh-eu", "https://www.ovh.com/auth/oauth2/token"),
    ("ovh-ca", "https://ca.ovh.com/auth/oauth2/token"),
    ("ovh-us", "https://us.ovhcloud.com/auth/oauth2/token"),
];

/// A resolved endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The alias or URL as configured (also the `ovh.conf` section name).
    pub name: String,
    /// Base URL without a trailing slash, e.g. `https://eu.api.ovh.com/1.0`.
    pub base_url: String,
    /// Where OAuth2 tokens come from, when this endpoint supports service accounts.
    pub token_url: Option<String>,
}

impl Endpoint {
    /// Resolve an alias or a base URL. Plain `http` is accepted only for loopback hosts
    /// (local simulators), so credentials never cross a network in clear.
    pub fn parse(value: &str) -> Result<Endpoint, String> {
        let value = value.trim();
        if let Some((alias, url)) = ENDPOINTS.iter().find(|(a, _)| *a == value) {
            return Ok(Endpoint {
                name: value.to_string(),
                base_url: url.to_string(),
                token_url: OAUTH2_TOKEN_URLS
                    .iter()
                    .find(|(a, _)| a == alias)
                    .map(|(_, u)| u.to_string()),
            });
        }
        let aliases: Vec<&str> = ENDPOINTS.iter().map(|(a, _)| *a).collect();
        let (scheme, rest) = value.split_once("://").ok_or_else(|| {
            format!(
                "unknown OVH endpoint {value:?}: use one of {} or a base URL",
                aliases.join(", ")
            )
        })?;
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.is_empty() {
            return Err(format!("the OVH endpoint URL {value:?} has no host"));
        }
        let host = host_of(authority);
        match scheme {
            "https" => {}
            "http" if is_loopback(host) => {}
            "http" => {
                return Err(format!(
                    "the OVH endpoint {value:?} uses plain http on a non-loopback host; use https"
                ));
            }
            _ => return Err(format!("the OVH endpoint {value:?} must be an http(s) URL")),
        }
        let base_url = value.trim_end_matches('/').to_string();
        // A custom base URL (a simulator) serves its token route on the same origin.
        let token_url = Some(format!("{scheme}://{authority}/auth/oauth2/token"));
        Ok(Endpoint {
            name: value.to_string(),
            base_url,
            token_url,
        })
    }
}

fn host_of(authority: &str) -> &str {
    let no_user = authority.rsplit('@').next().unwrap_or(authority);
    if let Some(rest) = no_user.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    no_user.split(':').next().unwrap_or(no_user)
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_resolve() {
        let e = Endpoint::parse("ovh-eu").unwrap();
        assert_eq!(e.base_url, "https://eu.api.ovh.com/1.0");
        assert_eq!(
            e.token_url.as_deref(),
            Some("https://www.ovh.com/auth/oauth2/token")
        );
        assert_eq!(
            Endpoint::parse("ovh-us").unwrap().base_url,
            "https://api.us.ovhcloud.com/1.0"
        );
        assert_eq!(
            Endpoint::parse("ovh-ca").unwrap().token_url.as_deref(),
            Some("https://ca.ovh.com/auth/oauth2/token")
        );
        let k = Endpoint::parse("kimsufi-ca").unwrap();
        assert_eq!(k.base_url, "https://ca.api.kimsufi.com/1.0");
        assert_eq!(k.token_url, None);
        assert_eq!(
            Endpoint::parse("soyoustart-eu").unwrap().base_url,
            "https://eu.api.soyoustart.com/1.0"
        );
    }

    #[test]
    fn urls_and_refusals() {
        let e = Endpoint::parse("http://127.0.0.1:8080/1.0/").unwrap();
        assert_eq!(e.base_url, "http://127.0.0.1:8080/1.0");
        assert_eq!(
            e.token_url.as_deref(),
            Some("http://127.0.0.1:8080/auth/oauth2/token")
        );
        assert!(Endpoint::parse("http://localhost:1/1.0").is_ok());
        assert!(Endpoint::parse("http://[::1]:9/1.0").is_ok());
        assert!(Endpoint::parse("https://api.example.com/1.0").is_ok());
        let err = Endpoint::parse("http://10.0.0.1/1.0").unwrap_err();
        assert!(err.contains("plain http"), "{err}");
        let err = Endpoint::parse("ovh-mars").unwrap_err();
        assert!(err.contains("ovh-eu"), "{err}");
        assert!(Endpoint::parse("ftp://x/1.0").is_err());
    }
}
