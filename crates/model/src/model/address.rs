//! Address resolution (docs/addressing.md): machines as `PROFILE/NAME` or `PROFILE/ID`,
//! snapshots by id, by path of names from the root, or by a unique name. Never a guess.

use super::machine::Machine;

/// One candidate listed in an error: an id and a human path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The id to use to address it unambiguously.
    pub id: String,
    /// Where it is (`profile/name` for machines, name path for snapshots).
    pub path: String,
    /// What tells it apart when paths are alike: a snapshot's creation time and
    /// description; empty for machines.
    pub detail: String,
}

/// Why an address did not resolve to exactly one thing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// No profile has that name.
    #[error("no profile is named \"{0}\"")]
    UnknownProfile(String),
    /// Nothing matches.
    #[error("no {what} matches \"{address}\"{}", list_hint(.candidates))]
    NotFound {
        /// "machine" or "snapshot on PROFILE/NAME".
        what: String,
        /// What the user typed.
        address: String,
        /// A few things that exist, to help.
        candidates: Vec<Candidate>,
    },
    /// More than one thing matches.
    #[error("{what} \"{address}\" is ambiguous; use one of: {}", list(.candidates))]
    Ambiguous {
        /// "machine" or "snapshot on PROFILE/NAME".
        what: String,
        /// What the user typed.
        address: String,
        /// Every match, with its id and path.
        candidates: Vec<Candidate>,
    },
}

fn list(c: &[Candidate]) -> String {
    c.iter()
        .map(|c| {
            if c.detail.is_empty() {
                format!("{} ({})", c.id, c.path)
            } else {
                format!("{} ({}, {})", c.id, c.path, c.detail)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn list_hint(c: &[Candidate]) -> String {
    if c.is_empty() {
        String::new()
    } else {
        format!("; did you mean: {}", list(c))
    }
}

/// The most machines an address that matches none lists as candidates.
const CANDIDATES: usize = 10;

/// Resolve a machine address among `machines`: `[PROFILE/]ID`, `[PROFILE/]NAME`, the
/// inventory path (`/Paris-DC1/vm/prod/web-01`), or a glob (`*`, `?`) on the name or the path
/// (`web-0*`) that selects exactly one. `profiles` are the known profile names.
pub fn resolve_machine<'a>(
    machines: &'a [Machine],
    profiles: &[String],
    address: &str,
) -> Result<&'a Machine, AddressError> {
    let (profile, rest) = match address.split_once('/') {
        Some((p, rest)) if profiles.iter().any(|x| x == p) => (Some(p), rest),
        _ => (None, address),
    };
    let pool: Vec<&Machine> = machines
        .iter()
        .filter(|m| profile.is_none_or(|p| m.profile == p))
        .collect();
    // By id, then by name, then by inventory path (as `ls --json` prints it, with or
    // without its leading `/`), then by a glob on the name or the path: the first reading
    // that finds any is the one, and it must find exactly one.
    let glob = rest.contains(['*', '?']);
    let path = rest.trim_start_matches('/');
    // Prepared once: a glob is matched against every machine of the estate.
    let (name_glob, path_glob) = (
        super::cleanup::Glob::new(rest),
        super::cleanup::Glob::new(path),
    );
    let readings: [&dyn Fn(&Machine) -> bool; 4] = [
        &|m| m.id == rest,
        &|m| m.name == rest,
        &|m| !path.is_empty() && m.path.trim_start_matches('/') == path,
        &|m| {
            glob && (name_glob.matches(&m.name)
                || path_glob.matches(m.path.trim_start_matches('/')))
        },
    ];
    let hits: Vec<&Machine> = readings
        .iter()
        .map(|reads| {
            pool.iter()
                .copied()
                .filter(|m| reads(m))
                .collect::<Vec<_>>()
        })
        .find(|hits| !hits.is_empty())
        .unwrap_or_default();
    let candidate = |m: &Machine| Candidate {
        id: format!("{}/{}", m.profile, m.id),
        path: format!("{}/{}", m.profile, m.name),
        detail: String::new(),
    };
    match hits.as_slice() {
        [one] => Ok(one),
        [] => {
            if profile.is_none() && address.contains('/') && !address.starts_with('/') && !glob {
                let p = address.split('/').next().unwrap_or_default();
                if !p.is_empty() && machines.iter().all(|m| m.name != address) {
                    return Err(AddressError::UnknownProfile(p.to_string()));
                }
            }
            // What a filter of the same words selects, to choose from (never chosen).
            let rule = super::filter::Filter::new(rest);
            let near: Vec<Candidate> = pool
                .iter()
                .filter(|m| !rest.is_empty() && rule.matches(m))
                .take(CANDIDATES)
                .map(|m| candidate(m))
                .collect();
            Err(AddressError::NotFound {
                what: "machine".into(),
                address: address.into(),
                candidates: near,
            })
        }
        many => Err(AddressError::Ambiguous {
            what: "machine".into(),
            address: address.into(),
            candidates: many.iter().map(|m| candidate(m)).collect(),
        }),
    }
}

/// Resolve a snapshot address on `machine`: id, then path of names, then unique name.
pub fn resolve_snapshot(machine: &Machine, address: &str) -> Result<String, AddressError> {
    let what = format!("snapshot on {}/{}", machine.profile, machine.name);
    let all = machine.walk();
    if all.iter().any(|(_, s)| s.id == address) {
        return Ok(address.to_string());
    }
    let candidate = |id: &str| Candidate {
        id: id.to_string(),
        path: machine.name_path(id).unwrap_or_default(),
        detail: machine
            .find(id)
            .map(|s| {
                let taken = s.created.format("%Y-%m-%d %H:%M UTC");
                if s.description.is_empty() {
                    format!("taken {taken}")
                } else {
                    // Debug-quoted: a description is foreign text, its control
                    // characters are shown escaped, never sent to the terminal.
                    format!("taken {taken}, {:?}", s.description)
                }
            })
            .unwrap_or_default(),
    };
    // A name may hold `/` (`a/b`), so an address with one can be both a path of names
    // and a snapshot's own name: each reading is gathered, and two readings that differ
    // are refused as duplicate names are, never a guess between them.
    let mut hits: Vec<String> = Vec::new();
    if address.contains('/') {
        let parts: Vec<&str> = address.split('/').collect();
        let mut level: Vec<&super::Snapshot> = machine.snapshots.iter().collect();
        let mut matched: Vec<&super::Snapshot> = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            matched = level.iter().copied().filter(|s| s.name == *part).collect();
            if i + 1 < parts.len() {
                level = matched.iter().flat_map(|s| s.children.iter()).collect();
            }
        }
        hits = matched.iter().map(|s| s.id.clone()).collect();
    }
    for (_, s) in all.iter().filter(|(_, s)| s.name == address) {
        if !hits.contains(&s.id) {
            hits.push(s.id.clone());
        }
    }
    match hits.len() {
        1 => Ok(hits.remove(0)),
        0 => Err(AddressError::NotFound {
            what,
            address: address.into(),
            candidates: Vec::new(),
        }),
        _ => Err(AddressError::Ambiguous {
            what,
            address: address.into(),
            candidates: hits.iter().map(|id| candidate(id)).collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::machine::tests::{snap, vm};

    fn estate() -> (Vec<Machine>, Vec<String>) {
        let tree = vec![snap(
            "snapshot-1",
            "base",
            vec![
                snap(
                    "snapshot-2",
                    "before-upgrade",
                    vec![snap("snapshot-3", "after-patch", vec![])],
                ),
                snap(
                    "snapshot-4",
                    "before-upgrade",
                    vec![snap("snapshot-5", "base", vec![])],
                ),
            ],
        )];
        let machines = vec![
            vm("lab", "vm-1", "web-01", tree),
            vm("lab", "vm-2", "db-01", vec![]),
            vm("prod", "vm-1", "web-01", vec![]),
            vm("prod", "vm-7", "cache", vec![]),
        ];
        (machines, vec!["lab".into(), "prod".into()])
    }

    #[test]
    fn machine_by_profile_and_name_or_id() {
        let (m, p) = estate();
        assert_eq!(resolve_machine(&m, &p, "lab/web-01").unwrap().id, "vm-1");
        assert_eq!(resolve_machine(&m, &p, "prod/vm-7").unwrap().name, "cache");
        assert_eq!(resolve_machine(&m, &p, "db-01").unwrap().profile, "lab");
        assert_eq!(resolve_machine(&m, &p, "vm-7").unwrap().profile, "prod");
    }

    /// The inventory path `ls --json` prints, and globs that select one machine, are
    /// addresses too; a word that matches none lists what a filter of it selects.
    #[test]
    fn machine_by_inventory_path_or_glob_and_candidates_on_a_miss() {
        let (m, p) = estate();
        // `vm` puts each machine at /DC0/vm/NAME.
        assert_eq!(resolve_machine(&m, &p, "/DC0/vm/db-01").unwrap().id, "vm-2");
        assert_eq!(
            resolve_machine(&m, &p, "lab/DC0/vm/db-01").unwrap().id,
            "vm-2"
        );
        assert_eq!(
            resolve_machine(&m, &p, "prod/DC0/vm/web-01")
                .unwrap()
                .profile,
            "prod"
        );
        assert_eq!(resolve_machine(&m, &p, "ca*").unwrap().id, "vm-7");
        assert_eq!(resolve_machine(&m, &p, "lab/*/db-0?").unwrap().id, "vm-2");
        // A glob that selects two: both listed, nothing chosen.
        let err = resolve_machine(&m, &p, "lab/*").unwrap_err();
        assert!(
            matches!(&err, AddressError::Ambiguous { candidates, .. } if candidates.len() == 2),
            "{err}"
        );
        // A word that is no address: what it would filter, to choose from.
        let err = resolve_machine(&m, &p, "web").unwrap_err();
        assert!(
            matches!(&err, AddressError::NotFound { candidates, .. } if candidates.len() == 2),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("did you mean: lab/vm-1 (lab/web-01), prod/vm-1 (prod/web-01)"),
            "{err}"
        );
        assert!(
            matches!(resolve_machine(&m, &p, "zzz"), Err(AddressError::NotFound { candidates, .. }) if candidates.is_empty())
        );
    }

    #[test]
    fn machine_ambiguous_without_profile_lists_candidates() {
        let (m, p) = estate();
        let err = resolve_machine(&m, &p, "web-01").unwrap_err();
        match &err {
            AddressError::Ambiguous { candidates, .. } => {
                assert_eq!(candidates.len(), 2);
                assert_eq!(candidates[0].id, "lab/vm-1");
                assert_eq!(candidates[1].id, "prod/vm-1");
            }
            other => panic!("expected ambiguous, got {other:?}"),
        }
        assert!(err.to_string().contains("lab/vm-1 (lab/web-01)"));
    }

    #[test]
    fn machine_unknown_and_unknown_profile() {
        let (m, p) = estate();
        assert!(matches!(
            resolve_machine(&m, &p, "nope"),
            Err(AddressError::NotFound { .. })
        ));
        assert_eq!(
            resolve_machine(&m, &p, "staging/web-01").unwrap_err(),
            AddressError::UnknownProfile("staging".into())
        );
        assert!(matches!(
            resolve_machine(&m, &p, "lab/cache"),
            Err(AddressError::NotFound { .. })
        ));
    }

    #[test]
    fn id_wins_over_name() {
        let (mut m, p) = estate();
        m[1].name = "vm-1".into(); // a VM named like another's id in the same profile
        assert_eq!(resolve_machine(&m, &p, "lab/vm-1").unwrap().name, "web-01");
    }

    #[test]
    fn snapshot_by_id_path_and_unique_name() {
        let (m, _) = estate();
        let web = &m[0];
        assert_eq!(resolve_snapshot(web, "snapshot-4").unwrap(), "snapshot-4");
        assert_eq!(resolve_snapshot(web, "after-patch").unwrap(), "snapshot-3");
        assert_eq!(
            resolve_snapshot(web, "base/before-upgrade/after-patch").unwrap(),
            "snapshot-3"
        );
        assert_eq!(
            resolve_snapshot(web, "base/before-upgrade/base").unwrap(),
            "snapshot-5"
        );
    }

    #[test]
    fn duplicate_snapshot_names_are_refused_with_ids_and_paths() {
        let (m, _) = estate();
        let web = &m[0];
        let err = resolve_snapshot(web, "before-upgrade").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("snapshot-2 (base/before-upgrade, taken "),
            "{text}"
        );
        assert!(
            text.contains("snapshot-4 (base/before-upgrade, taken "),
            "{text}"
        );
        let err = resolve_snapshot(web, "base").unwrap_err();
        assert!(
            err.to_string()
                .contains("snapshot-5 (base/before-upgrade/base, taken ")
        );
        // An ambiguous path is refused too.
        assert!(matches!(
            resolve_snapshot(web, "base/before-upgrade"),
            Err(AddressError::Ambiguous { .. })
        ));
    }

    #[test]
    fn snapshot_unknown() {
        let (m, _) = estate();
        let err = resolve_snapshot(&m[0], "nope").unwrap_err();
        assert_eq!(
            err.to_string(),
            "no snapshot on lab/web-01 matches \"nope\""
        );
        assert!(resolve_snapshot(&m[0], "base/nope").is_err());
    }

    /// `a` → `b` → a snapshot named `a/b`: `a/b` is the path to `b` and the name of the
    /// third; refused with both ids, never a guess. Each id still addresses its own.
    #[test]
    fn a_name_that_reads_as_a_path_is_ambiguous() {
        let m = vm(
            "lab",
            "vm-1",
            "web",
            vec![snap(
                "snapshot-1",
                "a",
                vec![snap(
                    "snapshot-2",
                    "b",
                    vec![snap("snapshot-3", "a/b", vec![])],
                )],
            )],
        );
        match resolve_snapshot(&m, "a/b") {
            Err(AddressError::Ambiguous { candidates, .. }) => {
                let ids: Vec<&str> = candidates.iter().map(|c| c.id.as_str()).collect();
                assert_eq!(ids, ["snapshot-2", "snapshot-3"]);
            }
            other => panic!("expected ambiguous, got {other:?}"),
        }
        assert_eq!(resolve_snapshot(&m, "snapshot-3").unwrap(), "snapshot-3");
        // A name with `/` that is no path resolves as the name.
        let mut lone = m.clone();
        lone.snapshots[0].children[0].name = "c".into();
        assert_eq!(resolve_snapshot(&lone, "a/b").unwrap(), "snapshot-3");
    }
}
