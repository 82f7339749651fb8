//! Scenario files (TOML under the crate's `assets/`): the machines and trees an estate starts with.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::model::backups::{Attached, Backups, RestorePoint, RestoreState};
use crate::model::storage::{Datastore, PhantomDelta, Storage};
use crate::model::{
    Capabilities, GuestTools, Machine, PowerState, ProviderKind, Snapshot, parse_duration,
};

/// The demo estate (docs/cli.md, "Demo").
pub const DEMO: &str = concat!(
    include_str!("../../assets/demo.toml"),
    include_str!("../../assets/proxmox.toml")
);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    #[serde(default = "default_task_seconds")]
    task_seconds: f64,
    #[serde(default)]
    profile: Vec<ProfileEntry>,
}

fn default_task_seconds() -> f64 {
    3.0
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileEntry {
    name: String,
    kind: ProviderKind,
    /// vSphere: datastores other than the default one, with their space.
    #[serde(default)]
    datastore: Vec<DatastoreEntry>,
    #[serde(default)]
    machine: Vec<MachineEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BackupsEntry {
    /// The daily time, UTC (`22:00:00`).
    schedule: String,
    /// Restore points kept: one a day at the daily time, the newest the last one passed.
    restore_points: usize,
    /// The newest this many restore points are mounted (restored as files).
    #[serde(default)]
    mounted: usize,
}

/// The restore point at `t` of VPS `sn`, mounted: where its files are reached.
pub fn mounted(sn: &str, t: DateTime<Utc>) -> Attached {
    let day = t.format("%Y%m%d");
    Attached {
        time: t,
        nfs: Some(format!("10.20.30.40:/backup/{sn}/{day}")),
        smb: Some(format!("\\\\10.20.30.40\\backup-{day}")),
    }
}

/// A VPS's automated backup as its scenario says, its restore points counted back from `now`.
fn backups(sn: &str, b: &BackupsEntry, now: DateTime<Utc>) -> Result<Backups, String> {
    let time = chrono::NaiveTime::parse_from_str(&b.schedule, "%H:%M:%S")
        .map_err(|e| format!("machine {sn}: backups.schedule {:?}: {e}", b.schedule))?;
    let today = now.date_naive().and_time(time).and_utc();
    let newest = if today <= now {
        today
    } else {
        today - chrono::Duration::days(1)
    };
    let times: Vec<DateTime<Utc>> = (0..b.restore_points)
        .map(|d| newest - chrono::Duration::days(i64::try_from(d).unwrap_or(0)))
        .collect();
    let restore_points = times
        .iter()
        .enumerate()
        .map(|(i, t)| RestorePoint {
            time: *t,
            state: if i < b.mounted {
                RestoreState::Restored
            } else {
                RestoreState::Available
            },
        })
        .collect();
    let attached = times
        .iter()
        .take(b.mounted)
        .map(|t| mounted(sn, *t))
        .collect();
    Ok(Backups {
        subscribed: true,
        state: "enabled".into(),
        schedule: Some(b.schedule.clone()),
        restore_points,
        attached,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DatastoreEntry {
    name: String,
    capacity_gb: u64,
    free_gb: u64,
}

/// The datastore a simulated VM's files are on unless its scenario names another.
pub const DEFAULT_DATASTORE: &str = "datastore1";
/// The default datastore's capacity and free space, in GiB.
const DEFAULT_DATASTORE_GB: (u64, u64) = (4096, 1536);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MachineEntry {
    id: String,
    name: String,
    /// vSphere: folder path such as `/Paris/vm/web`; VPS: zone.
    folder: String,
    #[serde(default = "powered_on")]
    power: PowerState,
    #[serde(default)]
    tools: bool,
    #[serde(default)]
    consolidation_needed: bool,
    /// vSphere: the datastore its files are on (one of the profile's, or the default).
    #[serde(default)]
    datastore: Option<String>,
    /// vSphere: delta disk files it runs on that no snapshot owns (`vm-000001.vmdk`).
    #[serde(default)]
    phantom_deltas: Vec<String>,
    /// vSphere: the configured memory, in MiB.
    #[serde(default)]
    memory_mb: Option<u64>,
    /// VPS: snapshot option subscribed.
    #[serde(default)]
    option: Option<bool>,
    /// VPS: the automated backup option, subscribed.
    #[serde(default)]
    backups: Option<BackupsEntry>,
    #[serde(default)]
    current: Option<String>,
    #[serde(default)]
    details: Vec<(String, String)>,
    #[serde(default)]
    snapshot: Vec<SnapshotEntry>,
}

fn powered_on() -> PowerState {
    PowerState::PoweredOn
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SnapshotEntry {
    id: String,
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    parent: Option<String>,
    /// How long ago it was taken (`40d`, `3h`).
    age: String,
    #[serde(default)]
    memory: bool,
    #[serde(default)]
    quiesced: bool,
    #[serde(default)]
    size_mb: Option<u64>,
    /// An `[expires …]` marker this far from now (`5d`), or this long ago (`-1d`).
    #[serde(default)]
    expires_in: Option<String>,
    /// Who took it: the vSphere simulator's task history names this user.
    #[serde(default)]
    created_by: Option<String>,
}

/// A loaded scenario: profiles with their machines, and the task duration.
#[derive(Debug)]
pub struct Scenario {
    /// How long a simulated task takes.
    pub task_seconds: f64,
    /// Profile name, kind and machines.
    pub profiles: Vec<(String, ProviderKind, Vec<Machine>)>,
}

/// Parse a scenario; ages are taken relative to `now`.
pub fn parse(text: &str, now: DateTime<Utc>) -> Result<Scenario, String> {
    let file: ScenarioFile = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut profiles = Vec::new();
    for p in file.profile {
        let mut machines = Vec::new();
        for m in p.machine {
            let storage = match p.kind {
                ProviderKind::Vsphere => Some(Box::new(storage(&m, &p.datastore)?)),
                ProviderKind::Ovh | ProviderKind::Proxmox => None,
            };
            let backups = match (p.kind, &m.backups) {
                (ProviderKind::Ovh, Some(b)) => Some(Box::new(backups(&m.id, b, now)?)),
                (ProviderKind::Ovh, None) => Some(Box::new(Backups::unsubscribed())),
                (ProviderKind::Vsphere | ProviderKind::Proxmox, _) => None,
            };
            let mut m = machine(&p.name, p.kind, m, now)?;
            m.storage = storage;
            m.backups = backups;
            machines.push(m);
        }
        profiles.push((p.name, p.kind, machines));
    }
    Ok(Scenario {
        task_seconds: file.task_seconds,
        profiles,
    })
}

/// A simulated VM's storage: its datastore and the phantom deltas it runs on.
fn storage(m: &MachineEntry, datastores: &[DatastoreEntry]) -> Result<Storage, String> {
    let gib = |n: u64| n.saturating_mul(1 << 30);
    let datastore = match m.datastore.as_deref() {
        None | Some(DEFAULT_DATASTORE) => Datastore {
            name: DEFAULT_DATASTORE.into(),
            free_bytes: Some(gib(DEFAULT_DATASTORE_GB.1)),
            capacity_bytes: Some(gib(DEFAULT_DATASTORE_GB.0)),
        },
        Some(name) => {
            let d = datastores
                .iter()
                .find(|d| d.name == name)
                .ok_or_else(|| format!("machine {}: no datastore {name}", m.id))?;
            Datastore {
                name: d.name.clone(),
                free_bytes: Some(gib(d.free_gb)),
                capacity_bytes: Some(gib(d.capacity_gb)),
            }
        }
    };
    let phantom_deltas = m
        .phantom_deltas
        .iter()
        .map(|f| PhantomDelta {
            disk: DISK_KEY,
            file: format!("[{}] {}/{f}", datastore.name, m.name),
        })
        .collect();
    Ok(Storage {
        phantom_deltas,
        deltas: Vec::new(),
        datastores: vec![datastore],
    })
}

/// The only virtual disk of every simulated VM (vSphere numbers the first disk 2000).
pub const DISK_KEY: i32 = 2000;

fn machine(
    profile: &str,
    kind: ProviderKind,
    m: MachineEntry,
    now: DateTime<Utc>,
) -> Result<Machine, String> {
    let mut flat = Vec::new();
    for s in m.snapshot {
        let age = parse_duration(&s.age).map_err(|e| format!("snapshot {}: {e}", s.id))?;
        let description = match &s.expires_in {
            Some(e) => {
                let (past, text) = match e.strip_prefix('-') {
                    Some(rest) => (true, rest),
                    None => (false, e.as_str()),
                };
                let d = parse_duration(text).map_err(|m| format!("snapshot {}: {m}", s.id))?;
                let at = if past { now - d } else { now + d };
                crate::model::cleanup::with_expires(&s.description, at)
            }
            None => s.description,
        };
        let power_state = if s.memory {
            PowerState::PoweredOn
        } else {
            PowerState::PoweredOff
        };
        flat.push((
            s.parent,
            Snapshot {
                id: s.id,
                name: s.name,
                description,
                created: now - age,
                power_state,
                memory: s.memory,
                quiesced: s.quiesced,
                size_bytes: s.size_mb.map(|mb| mb * 1024 * 1024),
                created_by: s.created_by,
                children: Vec::new(),
            },
        ));
    }
    let snapshots = build_tree(None, &mut flat);
    if let Some((_, orphan)) = flat.first() {
        return Err(format!("snapshot {} has an unknown parent", orphan.id));
    }
    let (location, path, capabilities) = match kind {
        ProviderKind::Vsphere => (
            m.folder
                .split('/')
                .filter(|s| !s.is_empty() && *s != "vm")
                .map(String::from)
                .collect(),
            format!("{}/{}", m.folder.trim_end_matches('/'), m.name),
            Capabilities::vsphere(),
        ),
        ProviderKind::Ovh => (
            vec![m.folder.clone()],
            format!("/{}/{}", m.folder, m.id),
            Capabilities::vps(),
        ),
        // A Proxmox guest's folder is its node; its path `node/name`.
        ProviderKind::Proxmox => (
            vec![m.folder.clone()],
            format!("/{}/{}", m.folder, m.name),
            Capabilities::proxmox(!m.details.iter().any(|(k, v)| k == "type" && v == "lxc")),
        ),
    };
    Ok(Machine {
        backups: None,
        storage: None,
        profile: profile.to_string(),
        provider: kind,
        id: m.id,
        name: m.name,
        location,
        path,
        power_state: m.power,
        tools: if m.tools {
            GuestTools::Running
        } else {
            GuestTools::NotRunning
        },
        consolidation_needed: m.consolidation_needed,
        snapshot_option: match kind {
            ProviderKind::Ovh => Some(m.option.unwrap_or(true)),
            ProviderKind::Vsphere | ProviderKind::Proxmox => None,
        },
        current: m.current.or_else(|| match kind {
            ProviderKind::Ovh => snapshots.first().map(|s: &Snapshot| s.id.clone()),
            ProviderKind::Vsphere | ProviderKind::Proxmox => None,
        }),
        snapshots,
        capabilities,
        details: m.details,
        loaded: true,
        running_tasks: Vec::new(),
        memory_mb: m.memory_mb,
        instance: None,
        unreadable: None,
        clock_offset_secs: 0,
    })
}

fn build_tree(parent: Option<&str>, flat: &mut Vec<(Option<String>, Snapshot)>) -> Vec<Snapshot> {
    let mut mine = Vec::new();
    let mut i = 0;
    while i < flat.len() {
        if flat[i].0.as_deref() == parent {
            mine.push(flat.remove(i).1);
        } else {
            i += 1;
        }
    }
    for node in &mut mine {
        node.children = build_tree(Some(&node.id.clone()), flat);
    }
    mine
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_scenario_loads_and_is_realistic() {
        let s = parse(DEMO, Utc::now()).unwrap();
        let all: Vec<&Machine> = s.profiles.iter().flat_map(|p| p.2.iter()).collect();
        assert!(s.profiles.iter().any(|p| p.1 == ProviderKind::Vsphere));
        assert!(s.profiles.iter().any(|p| p.1 == ProviderKind::Ovh));
        // Deep and branched trees, duplicate names, consolidation, powered off, VPS variety.
        assert!(all.iter().any(|m| m.max_depth() >= 4));
        assert!(
            all.iter()
                .any(|m| m.snapshots.iter().any(|r| r.children.len() >= 2))
        );
        assert!(all.iter().any(|m| {
            let mut names: Vec<&str> = m.walk().iter().map(|(_, s)| s.name.as_str()).collect();
            let n = names.len();
            names.sort();
            names.dedup();
            names.len() < n
        }));
        assert!(all.iter().any(|m| m.consolidation_needed));
        assert!(all.iter().any(|m| m.power_state == PowerState::PoweredOff));
        assert!(all.iter().any(|m| m.snapshot_option == Some(false)));
        assert!(
            all.iter()
                .any(|m| m.provider == ProviderKind::Ovh && m.snapshot_count() == 1)
        );
        assert!(
            all.iter()
                .any(|m| m.snapshot_option == Some(true) && m.snapshot_count() == 0)
        );
        let dcs: std::collections::BTreeSet<&str> = all
            .iter()
            .filter(|m| m.provider == ProviderKind::Vsphere)
            .map(|m| m.location[0].as_str())
            .collect();
        assert!(dcs.len() >= 2);
    }

    #[test]
    fn orphans_and_bad_ages_are_errors() {
        let bad = r#"
[[profile]]
name = "x"
kind = "vsphere"
[[profile.machine]]
id = "vm-1"
name = "a"
folder = "/DC/vm"
[[profile.machine.snapshot]]
id = "s1"
name = "n"
parent = "s0"
age = "1d"
"#;
        assert!(
            parse(bad, Utc::now())
                .unwrap_err()
                .contains("unknown parent")
        );
        let bad_age = bad.replace("parent = \"s0\"\n", "").replace("1d", "1y");
        assert!(
            parse(&bad_age, Utc::now())
                .unwrap_err()
                .contains("unknown unit")
        );
    }
}
