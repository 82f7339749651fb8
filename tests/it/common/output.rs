//! Reading what the real binary printed.

use std::process::Output;

use serde_json::Value;

/// Standard output as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The exit code (the process exited, it was not killed).
pub fn code(o: &Output) -> i32 {
    o.status.code().expect("exited, not killed")
}

/// An expected failure: the exit code and one sentence on stderr, never a backtrace.
pub fn one_sentence(o: &Output, expected_code: i32) -> String {
    let err = stderr(o);
    assert_eq!(code(o), expected_code, "stderr: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one sentence expected, got:\n{err}");
    assert!(lines[0].starts_with("snaptree: "), "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("BACKTRACE"),
        "{err}"
    );
    lines[0].to_string()
}

/// A JSON string holding an RFC 3339 time in UTC (`…Z`).
pub fn is_rfc3339_utc(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|t| t.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(t).is_ok())
}

/// Standard output of a successful run as one JSON document.
pub fn json(o: &Output) -> Value {
    assert_eq!(code(o), 0, "stderr: {}", stderr(o));
    serde_json::from_str(&stdout(o)).expect("stdout is one JSON document")
}
