//! vSphere faults and transport failures turned into one-sentence `ProviderError`s.

use std::error::Error as _;

use vim_rs::core::client::Error as VimError;
use vim_rs::types::struct_enum::StructType;
use vim_rs::types::structs::MethodFault;

use crate::provider::ProviderError;

/// What the failing call was doing, for the sentence ("taking a snapshot of web-01").
pub(super) fn describe(err: &VimError, doing: &str) -> ProviderError {
    match err {
        VimError::MethodFault(fault) => fault_error(fault, doing),
        VimError::ReqwestError(e) => transport_error(e, doing),
        VimError::ParseError(text) => {
            // SOAP faults without a typed detail arrive here with the server's faultstring.
            if text.contains("NotAuthenticated") || text.contains("session is not authenticated") {
                ProviderError::Auth(format!("the session expired while {doing}; log in again"))
            } else {
                ProviderError::Backend(format!("the server failed while {doing}: {text}"))
            }
        }
        VimError::MissingOrInvalidSessionKey => ProviderError::Auth(format!(
            "the server returned no session while {doing}; check the user name and password"
        )),
        VimError::InvalidObjectType(got, want) => ProviderError::Backend(format!(
            "the server returned a {got} where a {want} was expected while {doing}"
        )),
        VimError::CannotNegotiateAPIRelease(tried) => ProviderError::Unsupported(format!(
            "this server speaks none of the API releases {} (while {doing})",
            tried.join(", ")
        )),
    }
}

/// True when the error means the session is gone and a new login may help.
pub(super) fn is_not_authenticated(err: &VimError) -> bool {
    match err {
        VimError::MethodFault(f) => f.type_ == Some(StructType::NotAuthenticated),
        VimError::ParseError(text) => text.contains("NotAuthenticated"),
        _ => false,
    }
}

/// True when the server does not know the method called (`MethodNotFound`; a SOAP fault
/// without a typed detail that says so): it refused the call before doing anything.
pub(super) fn is_method_not_found(err: &VimError) -> bool {
    match err {
        VimError::MethodFault(f) => f.type_ == Some(StructType::MethodNotFound),
        VimError::ParseError(text) => {
            text.contains("MethodNotFound") || text.contains("does not implement")
        }
        _ => false,
    }
}

/// The name of a fault's type, e.g. `TaskInProgress`.
pub(super) fn fault_name(fault: &MethodFault) -> &'static str {
    fault.type_.map(StructType::as_str).unwrap_or("MethodFault")
}

/// The server's own text for a fault, when it sent one: vCenter's VI/JSON puts it in
/// `faultstring`, some faults carry it in `faultMessage`, older ones in other fields.
pub(super) fn fault_text(fault: &MethodFault) -> Option<String> {
    if let Some(text) = fault.extra_fields_.get("faultstring").and_then(json_text) {
        return Some(text);
    }
    let from_messages = fault.fault_message.as_ref().and_then(|msgs| {
        let texts: Vec<&str> = msgs
            .iter()
            .filter_map(|m| m.message.as_deref())
            .filter(|t| !t.trim().is_empty())
            .collect();
        (!texts.is_empty()).then(|| texts.join("; "))
    });
    from_messages.or_else(|| {
        ["localizedMessage", "msg", "reason"]
            .iter()
            .find_map(|k| fault.extra_fields_.get(*k).and_then(json_text))
    })
}

fn json_text(v: &miniserde::json::Value) -> Option<String> {
    match v {
        miniserde::json::Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// A fault as a sentence. `localized` is the server's message when the caller has it
/// (task errors carry one); it is appended so the user sees the server's own words.
pub(super) fn fault_error(fault: &MethodFault, doing: &str) -> ProviderError {
    fault_error_with(fault, doing, None)
}

/// Like [`fault_error`], with the server's localized message when known.
pub(super) fn fault_error_with(
    fault: &MethodFault,
    doing: &str,
    localized: Option<&str>,
) -> ProviderError {
    let name = fault_name(fault);
    let server = localized
        .map(str::to_string)
        .filter(|s| !s.trim().is_empty())
        .or_else(|| fault_text(fault));
    let said = |s: String| match &server {
        Some(text) => format!("{s} (the server said: {text})"),
        None => s,
    };
    let Some(kind) = fault.type_ else {
        return ProviderError::Backend(said(format!("the server refused {doing}")));
    };
    let is = |t: StructType| kind == t || kind.child_of(t);
    if is(StructType::NotAuthenticated) {
        ProviderError::Auth(said(format!(
            "the session expired or was closed while {doing}; log in again"
        )))
    } else if is(StructType::InvalidLogin) {
        ProviderError::Auth(said(
            "the server refused the user name or password".to_string(),
        ))
    } else if is(StructType::NoPermission) {
        let privilege = fault
            .extra_fields_
            .get("privilegeId")
            .and_then(json_text)
            .unwrap_or_else(|| "a privilege this user lacks".to_string());
        ProviderError::Permission(said(format!(
            "{doing} needs the privilege {privilege}, which this user does not have"
        )))
    } else if is(StructType::MethodNotFound) {
        ProviderError::Unsupported(format!("this server does not support {doing}"))
    } else if is(StructType::TaskInProgress) {
        ProviderError::Busy(said(format!(
            "the VM is busy with another task, so {doing} cannot start now"
        )))
    } else if is(StructType::TooManySnapshotLevels) {
        ProviderError::InvalidState(said(format!(
            "{doing} would exceed the maximum snapshot chain of 32 levels; delete or consolidate snapshots first"
        )))
    } else if is(StructType::ApplicationQuiesceFault) || is(StructType::FilesystemQuiesceFault) {
        ProviderError::InvalidState(said(format!(
            "the guest could not be quiesced while {doing}; retry without quiesce or check VMware Tools and the guest's VSS/freeze scripts"
        )))
    } else if is(StructType::SnapshotLocked) {
        ProviderError::InvalidState(said(format!(
            "the snapshot is locked, so {doing} is not possible now"
        )))
    } else if is(StructType::SnapshotDisabled) || is(StructType::MultipleSnapshotsNotSupported) {
        ProviderError::InvalidState(said(format!(
            "snapshots are disabled or limited on this VM, so {doing} is not possible"
        )))
    } else if is(StructType::NoDiskSpace) {
        ProviderError::InvalidState(said(format!(
            "the datastore is out of space, so {doing} failed; free space on it first"
        )))
    } else if is(StructType::InvalidPowerState) {
        ProviderError::InvalidState(said(format!("the VM's power state does not allow {doing}")))
    } else if is(StructType::InvalidState) {
        ProviderError::InvalidState(said(format!(
            "the VM's current state does not allow {doing}"
        )))
    } else if is(StructType::ManagedObjectNotFound) || is(StructType::NotFound) {
        ProviderError::NotFound(said(format!(
            "the object of {doing} no longer exists on the server"
        )))
    } else if is(StructType::NotSupported) {
        ProviderError::Unsupported(said(format!("the server does not allow {doing}")))
    } else if is(StructType::RequestCanceled) {
        ProviderError::Backend(format!("{doing} was cancelled"))
    } else {
        ProviderError::Backend(said(format!("{doing} failed with {name}")))
    }
}

/// What to do about a fault that ended a task, when there is something to say; the task's
/// own message (the server's words) comes first, this follows it.
pub(super) fn task_advice(fault: &MethodFault) -> Option<String> {
    let kind = fault.type_?;
    let is = |t: StructType| kind == t || kind.child_of(t);
    let advice = if is(StructType::NoPermission) {
        let privilege = fault
            .extra_fields_
            .get("privilegeId")
            .and_then(json_text)
            .unwrap_or_else(|| "a privilege".to_string());
        format!("this user lacks {privilege}")
    } else if is(StructType::NoDiskSpace) {
        "the datastore is out of space; free space on it, then try again".to_string()
    } else if is(StructType::TooManySnapshotLevels) {
        "32 levels is the maximum chain; delete or consolidate snapshots first".to_string()
    } else if is(StructType::ApplicationQuiesceFault) || is(StructType::FilesystemQuiesceFault) {
        "the guest could not be quiesced; retry without quiesce, or check VMware Tools and the guest's VSS/freeze scripts".to_string()
    } else if is(StructType::SnapshotLocked) {
        "the snapshot is locked by another operation; try again once it ends".to_string()
    } else if is(StructType::TaskInProgress) {
        "another task is already in progress on the VM".to_string()
    } else if is(StructType::InvalidPowerState) {
        "the VM's power state does not allow it".to_string()
    } else if is(StructType::MethodNotFound) {
        "this server does not support it".to_string()
    } else {
        return None;
    };
    Some(advice)
}

/// The message of a task that ended with `fault`: the server's words when it sent any, the
/// fault's name, and what to do about it.
pub(super) fn task_failure(fault: &MethodFault, localized: Option<&str>) -> String {
    let name = fault_name(fault);
    let text = localized
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .or_else(|| fault_text(fault));
    match (text, task_advice(fault)) {
        (Some(text), Some(advice)) => format!("{text} ({name}: {advice})"),
        (Some(text), None) => format!("{text} ({name})"),
        (None, Some(advice)) => format!("the task failed with {name}: {advice}"),
        (None, None) => format!("the task failed with {name}"),
    }
}

/// A transport failure: unreachable server, refused connection, untrusted certificate.
fn transport_error(e: &reqwest_vim::Error, doing: &str) -> ProviderError {
    let refused = || {
        ProviderError::Unreachable(format!(
            "the connection was refused while {doing}; is the server running and the port right?"
        ))
    };
    let chain = error_chain(e);
    if is_certificate_error(e) {
        return ProviderError::Unreachable(format!(
            "the server's certificate is not trusted ({chain}) while {doing}"
        ));
    }
    // What the answer bound's tunnel broke, or met on the way to the server.
    match e.url().and_then(super::limit::broken) {
        Some(super::limit::Broken::TooLarge(mb)) => {
            return ProviderError::Backend(format!(
                "the server's answer while {doing} was larger than {mb} MiB, so snaptree stopped reading it (raise max_answer_mb in the profile if the estate needs it)"
            ));
        }
        Some(super::limit::Broken::Unreachable(std::io::ErrorKind::ConnectionRefused, _)) => {
            return refused();
        }
        Some(super::limit::Broken::Unreachable(_, text)) => {
            return ProviderError::Unreachable(format!(
                "the connection failed while {doing}: {text}"
            ));
        }
        None => {}
    }
    if chain.contains("Connection refused") || chain.contains("connection refused") {
        return refused();
    }
    if e.is_timeout() {
        return ProviderError::Unreachable(format!(
            "the server did not answer in time while {doing}"
        ));
    }
    if let Some(status) = e.status() {
        return ProviderError::Backend(format!("the server answered HTTP {status} while {doing}"));
    }
    ProviderError::Unreachable(format!("the connection failed while {doing}: {chain}"))
}

/// True when a request failed because the certificate was not accepted.
pub(crate) fn is_certificate_error(e: &reqwest_vim::Error) -> bool {
    certificate_refusal(e).is_some() || error_chain(e).contains("invalid peer certificate")
}

/// Why rustls refused the server's certificate, when that is why a request failed.
pub(crate) fn certificate_refusal(e: &reqwest_vim::Error) -> Option<rustls::CertificateError> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = e.source();
    while let Some(s) = source {
        if let Some(rustls::Error::InvalidCertificate(cause)) = s.downcast_ref::<rustls::Error>() {
            return Some(cause.clone());
        }
        // hyper wraps rustls's error in an io::Error, sometimes twice; io::Error's source()
        // skips the wrapped error itself, so it is stepped into here.
        source = match s
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => s.source(),
        };
    }
    None
}

/// The error and its causes on one line, without repeats, and without the request's path:
/// vim_rs's URLs name session objects (`…/PropertyCollector/session[…]…`), whose key is a
/// live session id. Only the server's origin is kept.
fn error_chain(e: &reqwest_vim::Error) -> String {
    let redact = |text: String| match e.url() {
        Some(url) => text.replace(
            url.as_str(),
            &format!("{}/…", url.origin().ascii_serialization()),
        ),
        None => text,
    };
    let mut parts: Vec<String> = vec![redact(e.to_string())];
    let mut source = e.source();
    while let Some(s) = source {
        let text = redact(s.to_string());
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A VI/JSON fault as vCenter sends it (HTTP 500, the fault object as the body), decoded
    /// as vim_rs decodes error answers: its words are in `faultstring`.
    #[test]
    fn a_vcenter_fault_says_its_faultstring() {
        let body = r#"{"_typeName": "InvalidArgument", "faultstring": "A specified parameter was not correct: snapshot", "invalidProperty": "snapshot"}"#;
        let fault: MethodFault = miniserde::json::from_str(body).expect("a MethodFault");
        assert_eq!(fault.type_, Some(StructType::InvalidArgument));
        assert_eq!(
            fault_text(&fault).as_deref(),
            Some("A specified parameter was not correct: snapshot")
        );
        let said = fault_error(&fault, "reverting").to_string();
        assert!(
            said.contains("A specified parameter was not correct"),
            "{said}"
        );
    }

    /// A failed call's message keeps the server's origin and drops the path, where vim_rs
    /// puts session objects and their keys.
    #[tokio::test]
    async fn transport_errors_never_carry_the_session_path() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let url = format!(
            "http://127.0.0.1:{port}/sdk/vim25/8.0.3.0/PropertyCollector/session[52e1a2b3-live-key]52aa/WaitForUpdatesEx"
        );
        let client = super::super::tls::http_client(
            &super::super::tls::TlsPolicy::Insecure,
            std::time::Duration::from_secs(5),
            None,
        )
        .unwrap();
        let e = client.post(&url).send().await.unwrap_err();
        let text = error_chain(&e);
        assert!(!text.contains("session["), "{text}");
        assert!(!text.contains("52e1a2b3"), "{text}");
        let said = transport_error(&e, "watching for changes").to_string();
        assert!(!said.contains("session["), "{said}");
    }

    fn fault(kind: StructType, extra: &[(&str, &str)]) -> MethodFault {
        let mut extra_fields_ = HashMap::new();
        for (k, v) in extra {
            extra_fields_.insert(
                (*k).to_string(),
                miniserde::json::Value::String((*v).to_string()),
            );
        }
        MethodFault {
            fault_cause: None,
            fault_message: None,
            type_: Some(kind),
            extra_fields_,
        }
    }

    #[test]
    fn faults_become_sentences() {
        let e = fault_error(
            &fault(
                StructType::NoPermission,
                &[("privilegeId", "VirtualMachine.State.CreateSnapshot")],
            ),
            "taking a snapshot of web-01",
        );
        assert!(matches!(e, ProviderError::Permission(_)));
        assert!(
            e.to_string()
                .contains("VirtualMachine.State.CreateSnapshot"),
            "{e}"
        );

        let e = fault_error(
            &fault(StructType::MethodNotFound, &[]),
            "renaming a snapshot",
        );
        assert_eq!(
            e.to_string(),
            "not supported: this server does not support renaming a snapshot"
        );

        let e = fault_error(&fault(StructType::TaskInProgress, &[]), "reverting web-01");
        assert!(matches!(e, ProviderError::Busy(_)));
        let e = fault_error(
            &fault(StructType::TooManySnapshotLevels, &[]),
            "taking a snapshot",
        );
        assert!(e.to_string().contains("32"), "{e}");
        let e = fault_error(
            &fault(StructType::InvalidPowerState, &[]),
            "taking a snapshot",
        );
        assert!(matches!(e, ProviderError::InvalidState(_)));
        let e = fault_error_with(
            &fault(StructType::NoDiskSpace, &[]),
            "taking a snapshot",
            Some("Insufficient disk space on datastore 'ds1'."),
        );
        assert!(e.to_string().contains("ds1"), "{e}");
        let e = fault_error(
            &fault(StructType::ApplicationQuiesceFault, &[]),
            "taking a snapshot",
        );
        assert!(e.to_string().contains("quiesce"), "{e}");
        let e = fault_error(&fault(StructType::InvalidLogin, &[]), "logging in");
        assert!(matches!(e, ProviderError::Auth(_)));
        // A task's failure: the server's words, the fault, what to do.
        assert_eq!(
            task_failure(
                &fault(StructType::NoDiskSpace, &[]),
                Some("There is not enough space on datastore1.")
            ),
            "There is not enough space on datastore1. (NoDiskSpace: the datastore is out of \
             space; free space on it, then try again)"
        );
        assert_eq!(
            task_failure(&fault(StructType::TooManySnapshotLevels, &[]), None),
            "the task failed with TooManySnapshotLevels: 32 levels is the maximum chain; \
             delete or consolidate snapshots first"
        );
        assert_eq!(
            task_failure(
                &fault(StructType::SystemError, &[("reason", "disk busy")]),
                None
            ),
            "disk busy (SystemError)"
        );
        assert!(is_not_authenticated(&VimError::MethodFault(
            std::sync::Arc::new(fault(StructType::NotAuthenticated, &[]))
        )));
    }
}
