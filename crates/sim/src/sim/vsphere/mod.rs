//! The vSphere simulator: one vSphere profile of an `Estate` served over HTTPS as the
//! vim25 API, in SOAP at `/sdk` and in VI/JSON at `/sdk/vim25/{release}` (with the release
//! negotiated at `/api/vcenter/system?action=hello`, as on vCenter 8.0U1 and later) — the
//! snapshot surface (create, revert, remove, remove all,
//! consolidate, rename, cancel), sessions, container views, the property collector with
//! paging and `WaitForUpdatesEx`, tasks, an optional read-only account with
//! `HasPrivilegeOnEntity`, and the faults vCenter raises. Its certificate is
//! made at start and exposed, so a client can trust exactly that certificate.

mod collector;
mod inventory;
mod json;
mod service;
mod xml;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::Estate;
use crate::model::ProviderKind;
use xml::Val;

/// How to run the simulator.
#[derive(Clone, Debug)]
pub struct VsphereSimOptions {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// User name accepted by `Login`.
    pub username: String,
    /// Its password.
    pub password: String,
    /// A second account, `(user, password)`, that may read but not change: every change
    /// method answers it `NoPermission`, as vCenter answers a user with a read-only role.
    pub viewer: Option<(String, String)>,
    /// A session unused for this long is gone (`NotAuthenticated`).
    pub idle_timeout: Duration,
    /// Estate profile to serve; default: the first profile whose kind is vsphere.
    pub profile: Option<String>,
    /// Most objects one `RetrievePropertiesEx` page holds, whatever `maxObjects` asks.
    pub max_page: usize,
    /// Host names the certificate is valid for, besides `localhost` and the listen address.
    pub extra_names: Vec<String>,
    /// Serve VI/JSON too (`/api/vcenter/system?action=hello` and `/sdk/vim25/…`), as
    /// vCenter 8.0U1 and later do; off, the server is SOAP-only like an older vCenter.
    pub vi_json: bool,
    /// A hostile server: every `RetrievePropertiesEx` answer (SOAP or VI/JSON) padded with this many
    /// bytes of whitespace after its envelope (0: off), as a server that sends an answer of
    /// hundreds of MB would.
    pub pad_listings: usize,
    /// The session of the listing call after this many (0: never) is ended, once: the call
    /// is refused `NotAuthenticated`, as when a session times out during a listing.
    pub end_session_after_listings: usize,
}

impl Default for VsphereSimOptions {
    fn default() -> Self {
        VsphereSimOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            username: "demo".into(),
            password: "demo".into(),
            viewer: None,
            idle_timeout: Duration::from_secs(30 * 60),
            profile: None,
            max_page: 100,
            extra_names: Vec::new(),
            vi_json: true,
            pad_listings: 0,
            end_session_after_listings: 0,
        }
    }
}

/// A vim25 fault: its type, message (the `faultstring`) and the fields of its type.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Fault {
    kind: &'static str,
    message: String,
    fields: Vec<(&'static str, Val)>,
}

impl Fault {
    fn new(kind: &'static str, message: impl Into<String>) -> Fault {
        Fault {
            kind,
            message: message.into(),
            fields: Vec::new(),
        }
    }

    fn with(mut self, name: &'static str, v: Val) -> Fault {
        self.fields.push((name, v));
        self
    }

    fn invalid_argument(what: &str) -> Fault {
        Fault::new(
            "InvalidArgument",
            format!("A specified parameter was not correct: {what}"),
        )
        .with("invalidProperty", Val::str(what))
    }

    fn invalid_property(path: &str) -> Fault {
        Fault::new("InvalidProperty", format!("Invalid property: {path}"))
            .with("name", Val::str(path))
    }

    fn not_found_object(obj: &(String, String)) -> Fault {
        Fault::new(
            "ManagedObjectNotFound",
            format!(
                "The object '{}:{}' has already been deleted or has not been completely created",
                obj.0, obj.1
            ),
        )
        .with("obj", Val::Mor(obj.0.clone(), obj.1.clone()))
    }

    /// `NoPermission` as vCenter sends it: the object checked, the privilege it needs, and
    /// (since vSphere 7.0.3) the same pair again in `missingPrivileges`.
    fn no_permission(obj: &(String, String), privilege: &str) -> Fault {
        Fault::new(
            "NoPermission",
            "Permission to perform this operation was denied.",
        )
        .with("object", Val::Mor(obj.0.clone(), obj.1.clone()))
        .with("privilegeId", Val::str(privilege))
        .with(
            "missingPrivileges",
            Val::List(
                "NoPermissionEntityPrivileges",
                vec![Val::Obj(
                    "NoPermissionEntityPrivileges",
                    vec![
                        ("entity", Val::Mor(obj.0.clone(), obj.1.clone())),
                        (
                            "privilegeIds",
                            Val::List("string", vec![Val::str(privilege)]),
                        ),
                    ],
                )],
            ),
        )
    }

    /// The fault as a SOAP `Fault` element.
    fn soap(&self) -> String {
        let mut out =
            String::from("<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>");
        out.push_str(&xml::escape(&self.message));
        out.push_str("</faultstring><detail>");
        let mut inner = String::new();
        for (n, v) in &self.fields {
            v.write(&mut inner, n, false);
        }
        out.push_str(&format!(
            "<{k}Fault xmlns=\"urn:vim25\" xsi:type=\"{k}\">{inner}</{k}Fault>",
            k = self.kind
        ));
        out.push_str("</detail></soapenv:Fault>");
        out
    }

    /// The fault as a `LocalizedMethodFault` (a task's `info.error`).
    fn localized(&self) -> Val {
        Val::Obj(
            "LocalizedMethodFault",
            vec![
                (
                    "fault",
                    Val::Any(Box::new(Val::Obj(self.kind, self.fields.clone()))),
                ),
                ("localizedMessage", Val::str(&self.message)),
            ],
        )
    }
}

/// A running simulator; dropping it stops the server.
pub struct VsphereSimHandle {
    url: String,
    addr: SocketAddr,
    certificate_pem: String,
    thumbprint: String,
    service: Arc<service::Service>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl VsphereSimHandle {
    /// The SDK endpoint, e.g. `https://127.0.0.1:40123/sdk`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's certificate (self-signed, made at start) in PEM.
    pub fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }

    /// SHA-256 of the certificate's DER, as `SHA256:` and lower-case hex.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// The estate profile served.
    pub fn profile(&self) -> &str {
        self.service.profile()
    }

    /// Names of the SOAP methods called so far, in order (the most recent few thousand).
    pub fn calls(&self) -> Vec<String> {
        self.service.calls()
    }

    /// What `snaptree sim vsphere` prints: endpoint, credentials (demo values, not
    /// secrets), the certificate's thumbprint and a configuration snippet.
    pub fn describe(&self) -> String {
        let o = self.service.options();
        let viewer = match &o.viewer {
            Some((user, password)) => {
                format!("read-only user: {user}  password: {password}\n")
            }
            None => String::new(),
        };
        format!(
            "vSphere simulator (vim25 {protocols}) serving profile {profile} at {url}\n\
             user: {user}  password: {password}\n\
             {viewer}\
             certificate: {thumb}\n\n\
             # snaptree configuration\n\
             [profiles.{profile}]\nkind = \"vsphere\"\nurl = \"https://{host}\"\n\
             username = \"{user}\"\npassword = \"{password}\"\nthumbprint = \"{thumb}\"\n\n\
             # pyVmomi\n\
             SmartConnect(host=\"{ip}\", port={port}, user=\"{user}\", pwd=\"{password}\", \
             disableSslCertValidation=True)\n",
            protocols = if o.vi_json {
                "SOAP and VI/JSON"
            } else {
                "SOAP"
            },
            profile = self.profile(),
            url = self.url,
            user = o.username,
            password = o.password,
            thumb = self.thumbprint,
            host = self.addr,
            ip = self.addr.ip(),
            port = self.addr.port(),
        )
    }

    /// Stop the server now (also done on drop).
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

impl Drop for VsphereSimHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A self-signed certificate for the listen address: `(cert PEM, cert DER, key DER)`.
/// Serve `opts.profile` (default: the first vSphere profile) of `estate` until the handle
/// drops.
pub async fn serve(
    opts: VsphereSimOptions,
    estate: Arc<Estate>,
) -> std::io::Result<VsphereSimHandle> {
    let profile = match &opts.profile {
        Some(p) => {
            let kind = estate
                .profiles()
                .into_iter()
                .find(|(n, _)| n == p)
                .map(|(_, k)| k);
            match kind {
                Some(ProviderKind::Vsphere) => p.clone(),
                Some(_) => {
                    return Err(std::io::Error::other(format!(
                        "profile {p} is not a vSphere profile"
                    )));
                }
                None => return Err(std::io::Error::other(format!("no profile {p}"))),
            }
        }
        None => estate
            .profiles()
            .into_iter()
            .find(|(_, k)| *k == ProviderKind::Vsphere)
            .map(|(n, _)| n)
            .ok_or_else(|| std::io::Error::other("the estate has no vSphere profile to serve"))?,
    };
    let listener = tokio::net::TcpListener::bind(opts.listen).await?;
    let addr = listener.local_addr()?;
    let tls = crate::sim::server::tls(addr, &opts.extra_names)?;
    let service = Arc::new(service::Service::new(opts, profile, estate));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let svc = service.clone();
    crate::sim::server::spawn(listener, Some(tls.acceptor), stopped, move |req, peer| {
        let svc = svc.clone();
        async move { svc.handle(req, peer).await }
    });
    let (certificate_pem, thumbprint) = (tls.certificate_pem, tls.thumbprint);
    Ok(VsphereSimHandle {
        url: format!("https://{addr}/sdk"),
        addr,
        certificate_pem,
        thumbprint,
        service,
        stop,
    })
}
