//! The one place read-only mode is enforced. Every change passes through `ensure_writable`,
//! whether it comes from the TUI (before a dialog opens) or the engine (before a call).

use crate::model::Operation;

/// Refuse `op` when the profile or the whole session is read-only.
pub fn ensure_writable(read_only: bool, profile: &str, op: &Operation) -> Result<(), String> {
    if read_only {
        Err(format!(
            "{} refused: {}",
            op.name(),
            read_only_reason(profile)
        ))
    } else {
        Ok(())
    }
}

/// Why nothing can change on `profile` (the TUI says it before a dialog could open).
pub fn read_only_reason(profile: &str) -> String {
    format!(
        "profile {profile} is read-only (remove --read-only or read_only = true to allow changes)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_refuses_every_change() {
        for op in [
            Operation::DeleteAll,
            Operation::Consolidate,
            Operation::Cancel { task: "t".into() },
            Operation::Rename {
                snapshot: "s".into(),
                name: None,
                description: None,
            },
        ] {
            let e = ensure_writable(true, "lab", &op).unwrap_err();
            assert!(e.contains("read-only") && e.contains(op.name()), "{e}");
            assert!(ensure_writable(false, "lab", &op).is_ok());
        }
    }
}
