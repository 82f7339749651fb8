//! The OVH API client: signed (or Bearer) requests over `reqwest`, the server clock delta,
//! bounded concurrency, an optional request-rate cap, GET retries, and errors mapped to
//! sentences that name the call and carry the query id.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use reqwest::Method;
use serde::de::DeserializeOwned;

use super::credentials::{Auth, Credentials};
use super::sign::signature;
use crate::config::Secret;
use crate::provider::ProviderError;

/// How a GET is retried on 5xx, 429 and network errors (never POST/PUT/DELETE). A 429's
/// `Retry-After` replaces the backoff; no wait goes past the profile's timeout, counted
/// from the call's first try.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// Delay before the first retry; doubles each time.
    pub base_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_millis(250),
        }
    }
}

/// Client settings beyond the credentials.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Cap on requests started per second.
    pub requests_per_second: Option<f64>,
    /// GET retry policy.
    pub retry: RetryPolicy,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            concurrency: 8,
            requests_per_second: None,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(60),
        }
    }
}

/// How a request is authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Signing {
    /// As the credentials say: signed, or a Bearer token.
    Signed,
    /// Only `X-Ovh-Application` (requesting a consumer key).
    ApplicationKeyOnly,
}

/// What went wrong with one call, before it becomes a `ProviderError`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiErrorKind {
    /// The API answered with an error status.
    Http {
        /// HTTP status.
        status: u16,
        /// `errorCode`, else `class`, from the body.
        code: Option<String>,
        /// `message` from the body (or the status text).
        message: String,
    },
    /// 429: the API refused the call for its request rate; nothing was done.
    RateLimited {
        /// `message` from the body.
        message: String,
        /// How long the API asked to wait (`Retry-After`), when it said.
        retry_after: Option<Duration>,
        /// What was left of the profile's timeout when a read gave up rather than wait
        /// longer than that.
        left: Option<Duration>,
    },
    /// No answer: connection refused or reset.
    Network(String),
    /// No answer within the time limit: a stalled server is not retried (each try would
    /// wait the whole limit again).
    TimedOut(String),
    /// An answer that is not what the schema says.
    Decode(String),
    /// A local problem before anything was sent.
    Local(String),
}

/// A failed call: which one, why, and the API's query id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP method.
    pub method: String,
    /// Path below the base URL, with its query.
    pub path: String,
    /// `X-Ovh-Queryid` of the answer, for support.
    pub query_id: Option<String>,
    /// Why.
    pub kind: Box<ApiErrorKind>,
}

impl ApiError {
    /// True for a 404 answer (the VPS API's way of saying "no snapshot", "no option").
    pub fn is_not_found(&self) -> bool {
        matches!(*self.kind, ApiErrorKind::Http { status: 404, .. })
    }

    fn retryable(&self) -> bool {
        match self.kind.as_ref() {
            ApiErrorKind::Http { status, .. } => *status >= 500,
            ApiErrorKind::Network(_) | ApiErrorKind::RateLimited { .. } => true,
            _ => false,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", ProviderError::from(self.clone()))
    }
}

impl From<ApiError> for ProviderError {
    fn from(e: ApiError) -> ProviderError {
        let call = format!("{} {}", e.method, e.path);
        let qid = e
            .query_id
            .as_deref()
            .map(|q| format!(" (query id {q})"))
            .unwrap_or_default();
        let (status, code, message) = match *e.kind {
            ApiErrorKind::Network(m) | ApiErrorKind::TimedOut(m) => {
                return ProviderError::Unreachable(format!("{call} got no answer: {m}"));
            }
            ApiErrorKind::Decode(m) => {
                return ProviderError::Backend(format!(
                    "{call} answered something unexpected: {m}{qid}"
                ));
            }
            ApiErrorKind::Local(m) => return ProviderError::Backend(format!("{call}: {m}")),
            ApiErrorKind::RateLimited {
                message,
                retry_after,
                left,
            } => return rate_limited(&e.method, &call, &message, retry_after, left, &qid),
            ApiErrorKind::Http {
                status,
                code,
                message,
            } => (status, code, message),
        };
        let busy = message.contains("already") && message.contains("task");
        match (status, code.as_deref()) {
            (403, Some("NOT_GRANTED_CALL")) => ProviderError::Permission(format!(
                "the consumer key has no access rule allowing {call} ({message}); \
                 create a consumer key whose rules include it{qid}"
            )),
            (_, Some("INVALID_SIGNATURE")) => ProviderError::Auth(format!(
                "the API refused the signature of {call} ({message}); check the application \
                 secret and the consumer key{qid}"
            )),
            (_, Some("QUERY_TIME_OUT")) => ProviderError::Auth(format!(
                "the API refused the time of {call} ({message}); the clock delta is wrong{qid}"
            )),
            (_, Some("INVALID_CREDENTIAL")) if message.to_lowercase().contains("expired") => {
                ProviderError::Auth(format!(
                    "the consumer key has expired ({message}); create and validate a new one{qid}"
                ))
            }
            (_, Some("INVALID_CREDENTIAL")) => ProviderError::Auth(format!(
                "the consumer key is not known to the API ({message}){qid}"
            )),
            (_, Some("INVALID_KEY")) => {
                ProviderError::Auth(format!("the application key is not valid ({message}){qid}"))
            }
            (_, Some("NOT_CREDENTIAL")) => ProviderError::Auth(format!(
                "the consumer key is not valid: not validated yet, revoked or expired \
                 ({message}){qid}"
            )),
            (401, _) => {
                ProviderError::Auth(format!("{call} needs authentication ({message}){qid}"))
            }
            (403, _) => ProviderError::Permission(format!("{call} is forbidden ({message}){qid}")),
            (404, _) => ProviderError::NotFound(format!("{message} ({call}){qid}")),
            (400..=499, _) if busy => ProviderError::Busy(format!("{message}{qid}")),
            (409, _) => ProviderError::InvalidState(format!("{message}{qid}")),
            (460, _) => ProviderError::InvalidState(format!(
                "the service has expired; renew it in the OVHcloud Manager ({message}){qid}"
            )),
            (429, _) => rate_limited(&e.method, &call, &message, None, None, &qid),
            (500.., _) => ProviderError::Unreachable(format!(
                "the API failed on {call} with HTTP {status} ({message}){qid}"
            )),
            _ => ProviderError::Backend(format!(
                "{call} was refused with HTTP {status}: {message}{qid}"
            )),
        }
    }
}

/// Whole seconds to say, rounded up (a wait of 0.2 s is "1 s", never "0 s").
fn secs_up(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// The sentence of a 429: a change was not sent (and is never retried), a read waited as
/// long as it could. Not `Unreachable`: the server answered, and a change refused this way
/// is known not to have been made.
fn rate_limited(
    method: &str,
    call: &str,
    message: &str,
    retry_after: Option<Duration>,
    left: Option<Duration>,
    qid: &str,
) -> ProviderError {
    let again = retry_after.map_or_else(
        || "try again shortly, or lower requests_per_second or concurrency".to_string(),
        |d| format!("try again in {} s", secs_up(d)),
    );
    if method != "GET" {
        return ProviderError::Backend(format!(
            "rate limited, not sent: the API refused {call} for its request rate ({message}); \
             the change was not made; {again}{qid}"
        ));
    }
    let why = match (retry_after, left) {
        (Some(wait), Some(left)) => format!(
            "the API asks to wait {} s, longer than the {} s left of the profile's timeout",
            secs_up(wait),
            left.as_secs()
        ),
        _ => "still refused after the retries".to_string(),
    };
    ProviderError::Backend(format!(
        "rate limited: the API refused {call} for its request rate ({message}); {why}; \
         {again}{qid}"
    ))
}

/// How long a `Retry-After` asks to wait: delay-seconds, or an HTTP date measured against
/// the server's own clock (`server_now`: its `Date` header, else the local clock moved by
/// the clock delta). `None` when it is neither.
pub fn retry_after(value: &str, server_now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - server_now;
    // A date already past means "now".
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// Spaces requests so no more than a given number start per second.
struct Pace {
    interval: Duration,
    next: Mutex<Instant>,
}

impl Pace {
    /// Book the next start time at or after `now`.
    fn reserve(&self, now: Instant) -> Instant {
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        let at = (*next).max(now);
        *next = at + self.interval;
        at
    }

    async fn wait(&self) {
        let at = self.reserve(Instant::now());
        tokio::time::sleep_until(at.into()).await;
    }
}

/// An OVH API client bound to one endpoint and one set of credentials.
pub struct OvhClient {
    http: reqwest::Client,
    creds: Credentials,
    opts: ClientOptions,
    delta: tokio::sync::OnceCell<i64>,
    token: tokio::sync::Mutex<Option<(Secret, Instant)>>,
    slots: tokio::sync::Semaphore,
    pace: Option<Pace>,
}

impl std::fmt::Debug for OvhClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OvhClient")
            .field("endpoint", &self.creds.endpoint.base_url)
            .finish_non_exhaustive()
    }
}

/// Percent-encode one path segment (service names are plain, but nothing is assumed).
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl OvhClient {
    /// A client for these credentials.
    pub fn new(creds: Credentials, opts: ClientOptions) -> Result<OvhClient, String> {
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(opts.timeout)
            .connect_timeout(Duration::from_secs(15))
            .user_agent(concat!("snaptree/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let pace = opts.requests_per_second.filter(|r| *r > 0.0).map(|r| Pace {
            interval: Duration::from_secs_f64(1.0 / r),
            next: Mutex::new(Instant::now()),
        });
        Ok(OvhClient {
            http,
            slots: tokio::sync::Semaphore::new(opts.concurrency.max(1)),
            creds,
            opts,
            delta: tokio::sync::OnceCell::new(),
            token: tokio::sync::Mutex::new(None),
            pace,
        })
    }

    /// The endpoint's base URL.
    pub fn base_url(&self) -> &str {
        &self.creds.endpoint.base_url
    }

    /// True when requests are signed with an application key (not OAuth2).
    pub fn is_signed(&self) -> bool {
        matches!(self.creds.auth, Auth::Signed { .. })
    }

    /// Server time minus local time, in seconds, read once from `GET /auth/time` (unsigned;
    /// retried as any read).
    pub async fn clock_delta(&self) -> Result<i64, ApiError> {
        self.delta
            .get_or_try_init(|| async {
                let path = "/auth/time";
                let mut before = unix_now();
                let body = self
                    .with_retries(&Method::GET, || {
                        before = unix_now();
                        self.time_once(path)
                    })
                    .await?;
                let server: i64 = serde_json::from_slice(&body).map_err(|e| ApiError {
                    method: "GET".into(),
                    path: path.into(),
                    query_id: None,
                    kind: Box::new(ApiErrorKind::Decode(e.to_string())),
                })?;
                let delta = server - before;
                tracing::debug!(delta, "OVH clock delta");
                Ok(delta)
            })
            .await
            .copied()
    }

    /// One unsigned `GET /auth/time`.
    async fn time_once(&self, path: &str) -> Result<Bytes, ApiError> {
        let err = |query_id, kind| ApiError {
            method: "GET".into(),
            path: path.into(),
            query_id,
            kind: Box::new(kind),
        };
        let mut req = self
            .http
            .get(format!("{}{path}", self.creds.endpoint.base_url));
        if let Auth::Signed {
            application_key, ..
        } = &self.creds.auth
        {
            req = req.header("X-Ovh-Application", application_key);
        }
        let resp = req.send().await.map_err(|e| err(None, network(&e)))?;
        let status = resp.status().as_u16();
        let query_id = header(&resp, "X-Ovh-Queryid");
        let limit = RateHeaders::of(&resp);
        let body = read_capped(resp, SMALL_BODY)
            .await
            .map_err(|k| err(query_id.clone(), k))?;
        if !(200..300).contains(&status) {
            return Err(err(query_id, self.error_kind(status, &body, limit)));
        }
        Ok(body)
    }

    /// GET and decode.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        let body = self.call(Method::GET, path, None).await?;
        decode("GET", path, &body)
    }

    /// GET and decode; a 404 is `None`.
    pub async fn get_opt<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>, ApiError> {
        match self.get(path).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A call with an optional JSON body; returns the raw answer. Only GETs are retried.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Bytes, ApiError> {
        // Serialised once: these exact bytes are signed and sent.
        let body = body.map(|v| v.to_string().into_bytes());
        self.with_retries(&method, || {
            self.send_once(method.clone(), path, body.clone(), Signing::Signed)
        })
        .await
    }

    /// Run `send` once for a change, or as the retry policy says for a GET: a 429's
    /// `Retry-After` replaces the backoff, and no wait outlasts the profile's timeout,
    /// counted from the first try (then the call fails at once, saying so).
    async fn with_retries<F, Fut>(&self, method: &Method, mut send: F) -> Result<Bytes, ApiError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Bytes, ApiError>>,
    {
        let retry = if *method == Method::GET {
            self.opts.retry
        } else {
            RetryPolicy {
                attempts: 1,
                base_delay: Duration::ZERO,
            }
        };
        let deadline = Instant::now() + self.opts.timeout;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match send().await {
                Err(mut e) if e.retryable() && attempt < retry.attempts => {
                    let backoff = retry.base_delay * 2u32.saturating_pow(attempt - 1);
                    let wait = match e.kind.as_ref() {
                        ApiErrorKind::RateLimited {
                            retry_after: Some(asked),
                            ..
                        } => *asked,
                        _ => backoff,
                    };
                    let left = deadline.saturating_duration_since(Instant::now());
                    if wait > left {
                        if let ApiErrorKind::RateLimited { left: l, .. } = e.kind.as_mut() {
                            *l = Some(left);
                        }
                        return Err(e);
                    }
                    tracing::debug!(%method, path = e.path, attempt, ?wait, "retrying OVH GET");
                    tokio::time::sleep(wait).await;
                }
                other => return other,
            }
        }
    }

    /// POST with a JSON body and decode.
    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<T, ApiError> {
        let b = self.call(Method::POST, path, body).await?;
        decode("POST", path, &b)
    }

    /// An unsigned POST carrying only the application key: `POST /auth/credential`, the
    /// one call made before a consumer key exists. Not retried, as no POST is.
    pub async fn post_unsigned<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T, ApiError> {
        let body = Some(body.to_string().into_bytes());
        let b = self
            .send_once(Method::POST, path, body, Signing::ApplicationKeyOnly)
            .await?;
        decode("POST", path, &b)
    }

    async fn send_once(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        signing: Signing,
    ) -> Result<Bytes, ApiError> {
        let err = |query_id: Option<String>, kind| ApiError {
            method: method.to_string(),
            path: path.to_string(),
            query_id,
            kind: Box::new(kind),
        };
        let full = format!("{}{}", self.creds.endpoint.base_url, path);
        let url = reqwest::Url::parse(&full)
            .map_err(|e| err(None, ApiErrorKind::Local(format!("invalid URL: {e}"))))?;
        if url.as_str() != full {
            // The signature covers the URL string: refuse to send one that would be rewritten.
            return Err(err(
                None,
                ApiErrorKind::Local("the URL is not in canonical form".into()),
            ));
        }
        let mut req = self.http.request(method.clone(), url);
        let body_bytes = body.unwrap_or_default();
        if !body_bytes.is_empty() {
            req = req.header("Content-Type", "application/json");
        }
        // Wait for a slot before signing, so a queued request never carries a stale time.
        if let Some(p) = &self.pace {
            p.wait().await;
        }
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| err(None, ApiErrorKind::Local("client closed".into())))?;
        match &self.creds.auth {
            Auth::Signed {
                application_key, ..
            } if signing == Signing::ApplicationKeyOnly => {
                req = req.header("X-Ovh-Application", application_key);
            }
            Auth::Signed {
                application_key,
                application_secret,
                consumer_key,
            } => {
                let ts = unix_now() + self.clock_delta().await?;
                let sig = signature(
                    application_secret.expose(),
                    consumer_key.expose(),
                    method.as_str(),
                    &full,
                    &body_bytes,
                    ts,
                );
                req = req
                    .header("X-Ovh-Application", application_key)
                    .header("X-Ovh-Consumer", consumer_key.expose())
                    .header("X-Ovh-Timestamp", ts.to_string())
                    .header("X-Ovh-Signature", sig);
            }
            Auth::OAuth2 { .. } => {
                let token = self.bearer().await.map_err(|k| err(None, k))?;
                req = req.bearer_auth(token.expose());
            }
        }
        if !body_bytes.is_empty() {
            req = req.body(body_bytes);
        }
        let started = Instant::now();
        let resp = req.send().await.map_err(|e| err(None, network(&e)))?;
        let status = resp.status().as_u16();
        let query_id = header(&resp, "X-Ovh-Queryid");
        let limit = RateHeaders::of(&resp);
        let bytes = read_capped(resp, MAX_BODY)
            .await
            .map_err(|k| err(query_id.clone(), k))?;
        tracing::debug!(
            %method, path, status, query_id = query_id.as_deref().unwrap_or("-"),
            ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX), "OVH call"
        );
        if (200..300).contains(&status) {
            return Ok(bytes);
        }
        let kind = self.error_kind(status, &bytes, limit);
        Err(err(query_id, kind))
    }

    /// The error of a non-2xx answer; a 429 with how long it asks to wait, measured on the
    /// server's clock (its `Date`, else the local clock moved by the known delta).
    fn error_kind(&self, status: u16, body: &[u8], limit: RateHeaders) -> ApiErrorKind {
        let kind = http_error(status, body);
        let ApiErrorKind::Http {
            status: 429,
            message,
            ..
        } = kind
        else {
            return kind;
        };
        let server_now = limit
            .date
            .and_then(|d| chrono::DateTime::parse_from_rfc2822(&d).ok())
            .map(|d| d.with_timezone(&chrono::Utc))
            .unwrap_or_else(|| {
                let delta = self.delta.get().copied().unwrap_or(0);
                chrono::Utc::now() + chrono::Duration::seconds(delta)
            });
        ApiErrorKind::RateLimited {
            message,
            retry_after: limit.retry_after.and_then(|v| retry_after(&v, server_now)),
            left: None,
        }
    }

    /// A valid Bearer token, fetched or refreshed shortly before expiry.
    async fn bearer(&self) -> Result<Secret, ApiErrorKind> {
        let Auth::OAuth2 {
            client_id,
            client_secret,
            token_url,
        } = &self.creds.auth
        else {
            return Err(ApiErrorKind::Local("not an OAuth2 profile".into()));
        };
        let mut cached = self.token.lock().await;
        if let Some((t, until)) = cached.as_ref()
            && Instant::now() + Duration::from_secs(60) < *until
        {
            return Ok(t.clone());
        }
        let resp = self
            .http
            .post(token_url)
            .basic_auth(client_id, Some(client_secret.expose()))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials&scope=all")
            .send()
            .await
            .map_err(|e| network(&e))?;
        let status = resp.status().as_u16();
        let body = read_capped(resp, SMALL_BODY).await?;
        if !(200..300).contains(&status) {
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let why = v
                .get("error_description")
                .or_else(|| v.get("error"))
                .and_then(|m| m.as_str())
                .unwrap_or("refused");
            return Err(ApiErrorKind::Http {
                status: if status == 400 { 401 } else { status },
                code: Some("OAUTH2".into()),
                message: format!("the OAuth2 service account {client_id} was refused: {why}"),
            });
        }
        #[derive(serde::Deserialize)]
        struct Token {
            access_token: String,
            #[serde(default)]
            expires_in: Option<u64>,
        }
        let t: Token = serde_json::from_slice(&body)
            .map_err(|e| ApiErrorKind::Decode(format!("OAuth2 token answer: {e}")))?;
        let token = Secret::new(t.access_token);
        let until = Instant::now() + Duration::from_secs(t.expires_in.unwrap_or(3600));
        *cached = Some((token.clone(), until));
        Ok(token)
    }
}

/// One header of an answer, as text.
fn header(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(String::from)
}

/// The headers a 429 is read with.
struct RateHeaders {
    retry_after: Option<String>,
    date: Option<String>,
}

impl RateHeaders {
    fn of(resp: &reqwest::Response) -> RateHeaders {
        RateHeaders {
            retry_after: header(resp, "Retry-After"),
            date: header(resp, "Date"),
        }
    }
}

/// The error of an answer with a non-2xx status: `message` and `errorCode` or `class`.
fn http_error(status: u16, body: &[u8]) -> ApiErrorKind {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let s = |k: &str| v.get(k).and_then(|m| m.as_str()).map(String::from);
    let message = s("message")
        .map(|m| crate::safe::capped(&m, QUOTED).into_owned())
        .unwrap_or_else(|| {
            reqwest::StatusCode::from_u16(status)
                .ok()
                .and_then(|c| c.canonical_reason())
                .unwrap_or("no message")
                .to_string()
        });
    ApiErrorKind::Http {
        status,
        code: s("errorCode").or_else(|| s("class")),
        message,
    }
}

fn decode<T: DeserializeOwned>(method: &str, path: &str, body: &[u8]) -> Result<T, ApiError> {
    // A `void` answer is an empty body; read it as JSON null.
    let body: &[u8] = if body.is_empty() { b"null" } else { body };
    serde_json::from_slice(body).map_err(|e| ApiError {
        method: method.into(),
        path: path.into(),
        query_id: None,
        kind: Box::new(ApiErrorKind::Decode(
            crate::safe::capped(&e.to_string(), QUOTED).into_owned(),
        )),
    })
}

/// The largest answer read (an inventory of thousands of VPSs is well under 1 MiB); a
/// larger one is refused instead of filling memory.
const MAX_BODY: usize = 16 << 20;
/// The largest answer of the small calls (`/auth/time`, a token).
const SMALL_BODY: usize = 64 << 10;
/// The most characters of a server's text quoted in an error.
const QUOTED: usize = 300;

/// The body of `resp`, read chunk by chunk up to `cap` bytes.
async fn read_capped(
    mut resp: reqwest::Response,
    cap: usize,
) -> Result<bytes::Bytes, ApiErrorKind> {
    if resp.content_length().is_some_and(|n| n > cap as u64) {
        return Err(too_large(cap));
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| network(&e))? {
        if body.len() + chunk.len() > cap {
            return Err(too_large(cap));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn too_large(cap: usize) -> ApiErrorKind {
    ApiErrorKind::Decode(format!(
        "the answer is larger than {}; snaptree stops reading there",
        crate::model::health::human_size(cap as u64)
    ))
}

/// A network failure as its kind: timed out, or another failure.
fn network(e: &reqwest::Error) -> ApiErrorKind {
    if e.is_timeout() {
        ApiErrorKind::TimedOut(network_reason(e))
    } else {
        ApiErrorKind::Network(network_reason(e))
    }
}

/// A network error without the URL (which reqwest appends) repeated.
fn network_reason(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut cause = String::new();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        cause = s.to_string();
        src = s.source();
    }
    if cause.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {cause}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(status: u16, code: Option<&str>, message: &str) -> ProviderError {
        ApiError {
            method: "POST".into(),
            path: "/vps/vps-1.vps.ovh.net/createSnapshot".into(),
            query_id: Some("EU.ext-1.abc".into()),
            kind: Box::new(ApiErrorKind::Http {
                status,
                code: code.map(String::from),
                message: message.into(),
            }),
        }
        .into()
    }

    #[test]
    fn error_mapping() {
        let e = http(
            403,
            Some("NOT_GRANTED_CALL"),
            "This call has not been granted",
        );
        assert!(matches!(&e, ProviderError::Permission(m)
            if m.contains("POST /vps/vps-1.vps.ovh.net/createSnapshot") && m.contains("EU.ext-1.abc")));
        assert!(
            matches!(http(400, Some("INVALID_SIGNATURE"), "Invalid signature"), ProviderError::Auth(m) if m.contains("signature"))
        );
        assert!(
            matches!(http(403, Some("INVALID_CREDENTIAL"), "This credential does not exist"), ProviderError::Auth(m) if m.contains("not known"))
        );
        assert!(
            matches!(http(403, Some("INVALID_CREDENTIAL"), "This credential has expired"), ProviderError::Auth(m) if m.contains("expired"))
        );
        assert!(
            matches!(http(403, Some("INVALID_KEY"), "Invalid application key"), ProviderError::Auth(m) if m.contains("application key"))
        );
        assert!(
            matches!(http(403, Some("NOT_CREDENTIAL"), "This credential is not valid"), ProviderError::Auth(m) if m.contains("not validated"))
        );
        assert!(matches!(
            http(403, Some("FORBIDDEN"), "no"),
            ProviderError::Permission(_)
        ));
        assert!(
            matches!(http(404, None, "The requested object (snapshot) does not exist"), ProviderError::NotFound(m) if m.contains("(snapshot)"))
        );
        assert!(
            matches!(http(409, None, "There is already 1 task(s) occuring on vps-1"), ProviderError::Busy(m) if m.contains("occuring"))
        );
        assert!(matches!(
            http(409, None, "Conflict"),
            ProviderError::InvalidState(_)
        ));
        assert!(
            matches!(http(460, None, "Service expired"), ProviderError::InvalidState(m) if m.contains("expired"))
        );
        assert!(
            matches!(http(503, None, "down"), ProviderError::Unreachable(m) if m.contains("HTTP 503"))
        );
        assert!(
            matches!(http(429, None, "slow down"), ProviderError::Backend(m) if m.starts_with("rate limited, not sent"))
        );
        assert!(
            matches!(http(400, Some("Client::BadRequest"), "bad"), ProviderError::Backend(m) if m.contains("HTTP 400"))
        );
        let net: ProviderError = ApiError {
            method: "GET".into(),
            path: "/vps".into(),
            query_id: None,
            kind: Box::new(ApiErrorKind::Network("connection failed".into())),
        }
        .into();
        assert!(matches!(net, ProviderError::Unreachable(m) if m.contains("GET /vps")));
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date_on_the_server_clock() {
        let server_now = chrono::DateTime::parse_from_rfc3339("2015-10-21T07:27:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(retry_after(" 3 ", server_now), Some(Duration::from_secs(3)));
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:00 GMT", server_now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:00:00 GMT", server_now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon", server_now), None);
        let read = |retry_after, left| -> ProviderError {
            ApiError {
                method: "GET".into(),
                path: "/vps".into(),
                query_id: None,
                kind: Box::new(ApiErrorKind::RateLimited {
                    message: "Too many requests".into(),
                    retry_after,
                    left,
                }),
            }
            .into()
        };
        let e = read(
            Some(Duration::from_secs(60)),
            Some(Duration::from_millis(4900)),
        )
        .to_string();
        assert!(
            e.starts_with("rate limited: ") && e.contains("wait 60 s, longer than the 4 s left"),
            "{e}"
        );
        assert!(read(None, None).to_string().contains("after the retries"));
    }

    #[test]
    fn pace_spaces_requests_evenly() {
        let t0 = Instant::now();
        let pace = Pace {
            interval: Duration::from_millis(100),
            next: Mutex::new(t0),
        };
        let slots: Vec<Duration> = (0..4).map(|_| pace.reserve(t0) - t0).collect();
        assert_eq!(slots, [0, 100, 200, 300].map(Duration::from_millis));
        // After a quiet spell the next request goes at once.
        let later = t0 + Duration::from_secs(5);
        assert_eq!(pace.reserve(later), later);
    }

    #[test]
    fn error_bodies_and_segments() {
        assert_eq!(
            http_error(403, br#"{"errorCode":"NOT_GRANTED_CALL","message":"m"}"#),
            ApiErrorKind::Http {
                status: 403,
                code: Some("NOT_GRANTED_CALL".into()),
                message: "m".into()
            }
        );
        assert_eq!(
            http_error(404, br#"{"class":"Client::NotFound","message":"x"}"#),
            ApiErrorKind::Http {
                status: 404,
                code: Some("Client::NotFound".into()),
                message: "x".into()
            }
        );
        assert!(
            matches!(http_error(502, b"<html>"), ApiErrorKind::Http { message, .. } if message == "Bad Gateway")
        );
        assert_eq!(seg("vps-1a2b.vps.ovh.net"), "vps-1a2b.vps.ovh.net");
        assert_eq!(seg("a b/c"), "a%20b%2Fc");
    }
}
