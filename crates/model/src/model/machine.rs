//! Machines (VMs and VPSs) and their snapshot trees.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The kind of back end a machine lives on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// vSphere (vCenter or ESXi): a tree of snapshots per VM.
    Vsphere,
    /// OVHcloud VPS: at most one snapshot.
    Ovh,
    /// Proxmox VE: a tree of snapshots per QEMU VM or LXC container.
    Proxmox,
}

impl ProviderKind {
    /// The name used in JSON output and configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Vsphere => "vsphere",
            ProviderKind::Ovh => "ovh",
            ProviderKind::Proxmox => "proxmox",
        }
    }

    /// What a machine of this kind is called in a sentence: "vSphere VM", "OVHcloud VPS",
    /// "Proxmox VE guest".
    pub fn machine_label(self) -> &'static str {
        match self {
            ProviderKind::Vsphere => "vSphere VM",
            ProviderKind::Ovh => "OVHcloud VPS",
            ProviderKind::Proxmox => "Proxmox VE guest",
        }
    }
}

/// Power state of a machine, or of a machine when a snapshot was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PowerState {
    /// Running.
    PoweredOn,
    /// Stopped.
    PoweredOff,
    /// Suspended to disk.
    Suspended,
    /// The back end did not say.
    Unknown,
}

impl PowerState {
    /// The vSphere-style name (`poweredOn`, …) used in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            PowerState::PoweredOn => "poweredOn",
            PowerState::PoweredOff => "poweredOff",
            PowerState::Suspended => "suspended",
            PowerState::Unknown => "unknown",
        }
    }

    /// A short human label.
    pub fn label(self) -> &'static str {
        match self {
            PowerState::PoweredOn => "on",
            PowerState::PoweredOff => "off",
            PowerState::Suspended => "suspended",
            PowerState::Unknown => "?",
        }
    }
}

/// A machine's identity: its profile and its back-end id (moref or VPS service name).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MachineRef {
    /// Profile name from the configuration.
    pub profile: String,
    /// Back-end id: `vm-42` or `vps-1a2b3c4d.vps.ovh.net`.
    pub id: String,
}

impl MachineRef {
    /// The machine `id` of profile `profile`.
    pub fn new(profile: impl Into<String>, id: impl Into<String>) -> Self {
        MachineRef {
            profile: profile.into(),
            id: id.into(),
        }
    }
}

impl std::fmt::Display for MachineRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.profile, self.id)
    }
}

/// The longest vSphere snapshot name snaptree sends (see [`Capabilities::vsphere`]).
pub const VSPHERE_MAX_NAME: usize = 80;
/// The longest VPS snapshot description snaptree sends (see [`Capabilities::vps`]).
pub const VPS_MAX_NAME: usize = 255;
/// The longest snapshot name Proxmox VE accepts (its `pve-configid` format).
pub const PROXMOX_MAX_NAME: usize = 40;

/// Why `name` is not a Proxmox VE snapshot name (a letter first, then letters, digits, `_`
/// and `-`, at most [`PROXMOX_MAX_NAME`]), or `None` when it is one.
pub fn proxmox_name_refusal(name: &str) -> Option<String> {
    let rule = "a Proxmox snapshot name starts with a letter and has only letters, digits, _ and -, at most 40";
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    (!first_ok || !rest_ok || name.len() > PROXMOX_MAX_NAME || name == "current")
        .then(|| format!("{name:?}: {rule} (and is not \"current\")"))
}

/// What a machine allows, as reported by its back end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Snapshots can be taken at all.
    pub snapshots: bool,
    /// More than one snapshot (a tree) is possible.
    pub tree: bool,
    /// Memory snapshots are a concept on this back end.
    pub memory: bool,
    /// Quiesced snapshots are a concept on this back end.
    pub quiesce: bool,
    /// Disk consolidation is offered.
    pub consolidate: bool,
    /// A snapshot download link can be requested.
    pub download: bool,
    /// A suppress-power-on choice exists on revert.
    pub suppress_power_on: bool,
    /// The machine keeps one snapshot, named by its description, and a new one replaces
    /// it (an OVHcloud VPS).
    pub replace: bool,
    /// The longest snapshot name accepted, in characters (0: no limit).
    #[serde(default)]
    pub max_name: usize,
    /// A snapshot's name can change (Proxmox VE: no, its name is its id).
    #[serde(default = "yes")]
    pub rename: bool,
    /// A snapshot is deleted with its descendants in one call, and all at once (Proxmox
    /// VE: no, one snapshot per call).
    #[serde(default = "yes")]
    pub delete_subtree: bool,
    /// A revert can start the guest afterwards (Proxmox VE's rollback `start`).
    #[serde(default)]
    pub start_after_revert: bool,
}

fn yes() -> bool {
    true
}

impl Capabilities {
    /// What a vSphere VM allows when its capability flags are all set.
    pub fn vsphere() -> Self {
        Capabilities {
            snapshots: true,
            tree: true,
            memory: true,
            quiesce: true,
            consolidate: true,
            download: false,
            suppress_power_on: true,
            replace: false,
            // The vSphere API documents no limit; 80 characters is the vSphere Client's limit
            // on the names it lets a user type, so a longer name is one no colleague could
            // have typed or retype in the Client.
            max_name: VSPHERE_MAX_NAME,
            rename: true,
            delete_subtree: true,
            start_after_revert: false,
        }
    }

    /// What a Proxmox VE guest allows: a QEMU VM (`qemu`) can keep its RAM state in a
    /// snapshot, a container cannot. Proxmox has no quiesce flag, no consolidation and no
    /// rename (a snapshot's name is its id).
    pub fn proxmox(qemu: bool) -> Self {
        Capabilities {
            snapshots: true,
            tree: true,
            memory: qemu,
            quiesce: false,
            consolidate: false,
            download: false,
            suppress_power_on: false,
            replace: false,
            max_name: PROXMOX_MAX_NAME,
            rename: false,
            delete_subtree: false,
            start_after_revert: true,
        }
    }

    /// What an OVHcloud VPS allows.
    pub fn vps() -> Self {
        Capabilities {
            snapshots: true,
            tree: false,
            memory: false,
            quiesce: false,
            consolidate: false,
            download: true,
            suppress_power_on: false,
            replace: true,
            // The VPS API documents no limit on the description that names the snapshot;
            // snaptree's own bound keeps a pasted page out of it.
            max_name: VPS_MAX_NAME,
            rename: true,
            delete_subtree: true,
            start_after_revert: false,
        }
    }
}

/// One snapshot and its children.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Back-end id (`snapshot-17`, or the VPS snapshot id).
    pub id: String,
    /// Name (vSphere allows duplicates). For a VPS, its description.
    pub name: String,
    /// Free-text description.
    pub description: String,
    /// Creation time.
    pub created: DateTime<Utc>,
    /// Power state of the machine when the snapshot was taken.
    pub power_state: PowerState,
    /// Memory included.
    pub memory: bool,
    /// Guest file systems quiesced.
    pub quiesced: bool,
    /// Disk space owned by this snapshot, when known.
    pub size_bytes: Option<u64>,
    /// Who took it, as the back end's task history says (vSphere); none when the history
    /// no longer has it or the back end keeps none (OVH).
    #[serde(default)]
    pub created_by: Option<String>,
    /// Child snapshots.
    pub children: Vec<Snapshot>,
}

/// The deepest snapshot chain snaptree reads: eight times vSphere's own limit of 32
/// levels, so a tree deeper is only a broken or hostile server's, and its machine is
/// unreadable. A tree four times this deep still clones, compares, serializes and drops
/// (each recursive) on a tokio worker's 2 MiB stack in a debug build; twice 1000 did not.
pub const MAX_DEPTH: usize = 256;

/// The depth of a nested tree (a root alone is 1, none is 0), counted without recursion
/// and no further than `MAX_DEPTH + 1`: enough to tell a tree too deep.
pub fn tree_depth<T>(roots: &[T], children: impl Fn(&T) -> &[T]) -> usize {
    let mut deepest = 0;
    let mut stack: Vec<(usize, &T)> = roots.iter().map(|r| (1, r)).collect();
    while let Some((depth, n)) = stack.pop() {
        deepest = deepest.max(depth);
        if depth <= MAX_DEPTH {
            stack.extend(children(n).iter().map(|c| (depth + 1, c)));
        }
    }
    deepest
}

/// Why a machine whose tree is deeper than [`MAX_DEPTH`] is not read (its
/// [`Machine::unreadable_sentence`] names it).
pub fn too_deep() -> String {
    format!(
        "its snapshot tree is more than {MAX_DEPTH} levels deep (vSphere allows 32); \
         snaptree reads at most {MAX_DEPTH}"
    )
}

/// Drop a tree one node at a time: a nested tree's own drop recurses once per level.
pub fn dismantle(roots: Vec<Snapshot>) {
    let mut stack = roots;
    while let Some(mut n) = stack.pop() {
        stack.append(&mut n.children);
    }
}

/// Where a task history read for `machines` starts: a minute before their oldest snapshot
/// (none without snapshots: there is nothing to ask about).
pub fn history_start<'a>(machines: impl IntoIterator<Item = &'a Machine>) -> Option<DateTime<Utc>> {
    machines
        .into_iter()
        .filter_map(Machine::oldest_snapshot)
        .min()
        .map(|t| t - chrono::Duration::minutes(1))
}

/// The guest tools of a machine (VMware Tools), as its back end reports them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum GuestTools {
    /// The back end says nothing of them (a VPS; a VM whose server gave no status).
    #[default]
    NotReported,
    /// Running: a quiesced snapshot can be asked.
    Running,
    /// Installed, not running.
    NotRunning,
    /// Starting (running their scripts).
    Starting,
    /// Another status, in the back end's words.
    Other(String),
}

impl GuestTools {
    /// The tools of a vSphere `guest.toolsRunningStatus` (empty: none reported).
    pub fn of_vsphere(status: &str) -> GuestTools {
        match status {
            "" => GuestTools::NotReported,
            "guestToolsRunning" => GuestTools::Running,
            "guestToolsNotRunning" => GuestTools::NotRunning,
            "guestToolsExecutingScripts" => GuestTools::Starting,
            other => GuestTools::Other(other.to_string()),
        }
    }

    /// The words the details pane shows.
    pub fn label(&self) -> &str {
        match self {
            GuestTools::NotReported => "not reported",
            GuestTools::Running => "running",
            GuestTools::NotRunning => "not running",
            GuestTools::Starting => "starting",
            GuestTools::Other(status) => status,
        }
    }
}

/// A machine with its snapshot tree.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// Profile name.
    pub profile: String,
    /// Back end kind.
    pub provider: ProviderKind,
    /// Back-end id.
    pub id: String,
    /// VM name, or VPS display name (service name when it has none).
    pub name: String,
    /// Location: datacenter and folders (vSphere) or zone (VPS), outermost first.
    pub location: Vec<String>,
    /// Inventory path, e.g. `/DC0/vm/web-01`.
    pub path: String,
    /// Current power state.
    pub power_state: PowerState,
    /// The guest tools (VMware Tools) as the back end reports them.
    pub tools: GuestTools,
    /// vSphere `runtime.consolidationNeeded`.
    pub consolidation_needed: bool,
    /// VPS snapshot option: `Some(true)` subscribed, `Some(false)` not; `None` for vSphere.
    pub snapshot_option: Option<bool>,
    /// Root snapshots.
    pub snapshots: Vec<Snapshot>,
    /// Id of the current snapshot ("You are here" sits under it).
    pub current: Option<String>,
    /// What this machine allows.
    pub capabilities: Capabilities,
    /// Extra facts for the details pane (model, zone, tools status…).
    pub details: Vec<(String, String)>,
    /// False while the back end is still filling this row in.
    pub loaded: bool,
    /// Ids of the back end's tasks running on this machine when it was read (OVH reads
    /// them; empty where the back end does not say).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub running_tasks: Vec<String>,
    /// The memory the machine is configured with, in MiB (a vSphere VM's
    /// `config.hardware.memoryMB`: a memory snapshot writes a file that large); `None` where
    /// the back end does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
    /// The server instance this machine was read from (vCenter's `about.instanceUuid`),
    /// where the back end says: its ids mean something only within that instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Why the back end's record of this machine could not be read (a malformed answer, a
    /// name that cannot be addressed): the machine is listed with this reason, its tree is
    /// not shown and nothing is done to it. `None` for a machine read whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
    /// The back end's clock minus the local clock, in seconds, where the back end tells its
    /// time (OVH: `GET /auth/time`); 0 where it does not. Its snapshots' times are stamped
    /// by that clock, so every age is measured on it ([`Machine::age_of`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub clock_offset_secs: i64,
    /// Its disks and datastores as its files tell them (vSphere's `layoutEx`): phantom
    /// deltas, the deltas each snapshot owns, the datastores' free space. `None` where the
    /// back end does not say or they were not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<Box<super::storage::Storage>>,
    /// A VPS's automated backup (OVHcloud): the option, the daily time, the restore points.
    /// `None` where the back end has none (vSphere) or it was not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backups: Option<Box<super::backups::Backups>>,
}

// serde's `skip_serializing_if` hands the field by reference.
#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_zero(n: &i64) -> bool {
    *n == 0
}

impl Machine {
    /// Whether the guest tools run (what a quiesced snapshot needs).
    pub fn tools_running(&self) -> bool {
        self.tools == GuestTools::Running
    }

    /// True when the FILTER `filter` selects it (`model::filter`'s rule).
    pub fn matches_filter(&self, filter: &str) -> bool {
        super::filter::Filter::new(filter).matches(self)
    }

    /// The back end's "now" when the local clock says `local_now`.
    pub fn now(&self, local_now: DateTime<Utc>) -> DateTime<Utc> {
        local_now
            .checked_add_signed(chrono::Duration::seconds(self.clock_offset_secs))
            .unwrap_or(local_now)
    }

    /// How old a time this machine's back end stamped (a snapshot's creation, an expiry) is
    /// when the local clock says `local_now`: the back end's now minus its timestamp, so a
    /// server clock ahead or behind does not age or rejuvenate its snapshots. Every age
    /// (health, cleanup, check, report, the TUI, `ls`, `tree`) is this one.
    pub fn age_of(&self, stamped: DateTime<Utc>, local_now: DateTime<Utc>) -> chrono::Duration {
        self.now(local_now) - stamped
    }

    /// Why this machine is listed but not read, as one sentence naming it (`None` when it
    /// was read whole): what `ls`, `tree`, `check` and every change say about it.
    pub fn unreadable_sentence(&self) -> Option<String> {
        let who = if self.name == self.id {
            format!("{}/{}", self.profile, self.id)
        } else {
            format!("{}/{} ({})", self.profile, self.name, self.id)
        };
        self.unreadable
            .as_ref()
            .map(|why| format!("{who} is unreadable: {why}"))
    }

    /// This machine's identity.
    pub fn machine_ref(&self) -> MachineRef {
        MachineRef {
            profile: self.profile.clone(),
            id: self.id.clone(),
        }
    }

    /// Every snapshot, depth first, with its depth (roots are depth 1).
    pub fn walk(&self) -> Vec<(usize, &Snapshot)> {
        let mut out = Vec::new();
        // An explicit stack, not recursion: a tree's depth is the server's to choose.
        let mut stack: Vec<(usize, &Snapshot)> =
            self.snapshots.iter().rev().map(|s| (1, s)).collect();
        while let Some((depth, n)) = stack.pop() {
            out.push((depth, n));
            stack.extend(n.children.iter().rev().map(|c| (depth + 1, c)));
        }
        out
    }

    /// Number of snapshots in the tree.
    pub fn snapshot_count(&self) -> usize {
        self.walk().len()
    }

    /// Find a snapshot by id.
    pub fn find(&self, id: &str) -> Option<&Snapshot> {
        self.walk().into_iter().map(|(_, s)| s).find(|s| s.id == id)
    }

    /// The snapshots from the root down to the snapshot `id` (inclusive), if it exists.
    fn trail(&self, id: &str) -> Option<Vec<&Snapshot>> {
        // Depth first: the trail holds the nodes above the one at hand, cut back to its
        // depth as the walk moves on. One walk, whatever the depth.
        let mut trail: Vec<&Snapshot> = Vec::new();
        for (depth, n) in self.walk() {
            trail.truncate(depth - 1);
            trail.push(n);
            if n.id == id {
                return Some(trail);
            }
        }
        None
    }

    /// The ids from the root down to the snapshot `id` (inclusive), if it exists.
    pub fn id_path(&self, id: &str) -> Option<Vec<String>> {
        let trail = self.trail(id)?;
        Some(trail.iter().map(|s| s.id.clone()).collect())
    }

    /// The names from the root down to the snapshot `id`, joined with `/`.
    pub fn name_path(&self, id: &str) -> Option<String> {
        let trail = self.trail(id)?;
        let names: Vec<&str> = trail.iter().map(|s| s.name.as_str()).collect();
        Some(names.join("/"))
    }

    /// The oldest snapshot's creation time.
    pub fn oldest_snapshot(&self) -> Option<DateTime<Utc>> {
        self.walk().into_iter().map(|(_, s)| s.created).min()
    }

    /// Set `created_by` on the snapshots a task history names (snapshot id → user).
    pub fn fill_creators(&mut self, creators: &std::collections::HashMap<String, String>) {
        let mut stack: Vec<&mut Snapshot> = self.snapshots.iter_mut().collect();
        while let Some(n) = stack.pop() {
            if let Some(user) = creators.get(&n.id) {
                n.created_by = Some(user.clone());
            }
            stack.extend(n.children.iter_mut());
        }
    }

    /// The deepest chain length (a root alone is 1).
    pub fn max_depth(&self) -> usize {
        self.walk().into_iter().map(|(d, _)| d).max().unwrap_or(0)
    }

    /// Ids of the snapshot `id` and all its descendants.
    pub fn subtree_ids(&self, id: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack: Vec<&Snapshot> = self.find(id).into_iter().collect();
        while let Some(n) = stack.pop() {
            out.push(n.id.clone());
            stack.extend(n.children.iter().rev());
        }
        out
    }

    /// This machine as snaptree may hold it: a tree deeper than [`MAX_DEPTH`] is taken
    /// apart without recursion and the machine made [`unreadable`](Machine::unreadable),
    /// so no walk, clone, JSON document or drop meets it. Providers call it on every
    /// machine they read.
    #[must_use]
    pub fn within_depth(mut self) -> Machine {
        if tree_depth(&self.snapshots, |s| &s.children) > MAX_DEPTH {
            let why = too_deep();
            self.set_unreadable(why);
        }
        self
    }

    /// Make this machine unreadable for `why`: its tree taken apart without recursion and no
    /// current snapshot (the TUI's details show `why`).
    pub fn set_unreadable(&mut self, why: String) {
        dismantle(std::mem::take(&mut self.snapshots));
        self.current = None;
        self.unreadable = Some(why);
    }

    /// Why memory cannot be included in a new snapshot, if it cannot.
    pub fn memory_unavailable(&self) -> Option<&'static str> {
        if !self.capabilities.memory {
            Some(match self.provider {
                ProviderKind::Ovh => "this back end does not take memory snapshots",
                ProviderKind::Vsphere => "the server says this VM cannot take memory snapshots",
                ProviderKind::Proxmox => {
                    "a container has no RAM state: only a QEMU VM's snapshot can hold it"
                }
            })
        } else if self.power_state != PowerState::PoweredOn {
            Some("memory needs the VM powered on")
        } else {
            None
        }
    }

    /// Why no snapshot can be taken on this machine at all, if it cannot: a VPS without
    /// the snapshot option, or a one-snapshot machine that already has its snapshot (the
    /// answer then is to replace it). Said before anything is sent.
    pub fn take_unavailable(&self) -> Option<String> {
        let who = format!("{}/{}", self.profile, self.name);
        if self.snapshot_option == Some(false) {
            return Some(format!(
                "{who} has no snapshot option: order it (snaptree option order {who} snapshot, or O)"
            ));
        }
        match self.snapshots.first() {
            // By `replace`, not by the `tree` capability: vSphere servers may report
            // multipleSnapshotsSupported false (vcsim does) and still keep trees; a VM's
            // server refuses a take itself when it cannot.
            Some(s) if self.capabilities.replace => {
                let label = if s.description.is_empty() {
                    &s.id
                } else {
                    &s.description
                };
                Some(format!(
                    "{who} already has a snapshot ({label:?}, taken {}); a VPS keeps only one: \
                     replace it (snaptree replace {who})",
                    s.created.format("%Y-%m-%d %H:%M UTC")
                ))
            }
            _ => None,
        }
    }

    /// Why a new snapshot cannot be quiesced, if it cannot.
    pub fn quiesce_unavailable(&self) -> Option<&'static str> {
        if !self.capabilities.quiesce {
            Some(match self.provider {
                ProviderKind::Ovh => "this back end does not quiesce snapshots",
                ProviderKind::Vsphere => "the server says this VM cannot take quiesced snapshots",
                ProviderKind::Proxmox if !self.capabilities.memory => {
                    "a container's snapshot is of its volumes; Proxmox has no quiesce for it"
                }
                ProviderKind::Proxmox => {
                    "Proxmox freezes the file systems itself when the guest's QEMU agent runs"
                }
            })
        } else if self.power_state != PowerState::PoweredOn {
            Some("quiesce needs the VM powered on")
        } else if !self.tools_running() {
            Some("quiesce needs VMware Tools running")
        } else {
            None
        }
    }
}

/// Machines and snapshots for tests, here and in the layers above (the `fixtures`
/// feature).
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures {
    use super::*;
    use chrono::TimeZone;

    /// A powered-off snapshot taken 2026-11-01 10:00 UTC, with these children.
    pub fn snap(id: &str, name: &str, children: Vec<Snapshot>) -> Snapshot {
        Snapshot {
            id: id.into(),
            name: name.into(),
            description: String::new(),
            created: Utc
                .with_ymd_and_hms(2026, 11, 1, 10, 0, 0)
                .single()
                .unwrap_or_default(),
            power_state: PowerState::PoweredOff,
            memory: false,
            quiesced: false,
            size_bytes: None,
            created_by: None,
            children,
        }
    }

    /// A tree that branches: `a ─ b ─ c`, and `a ─ d`.
    pub fn branched() -> Machine {
        vm(
            "lab",
            "vm-1",
            "web",
            vec![snap(
                "a",
                "a",
                vec![
                    snap("b", "b", vec![snap("c", "c", vec![])]),
                    snap("d", "d", vec![]),
                ],
            )],
        )
    }

    /// A powered-on vSphere VM in `DC0` with these snapshots.
    pub fn vm(profile: &str, id: &str, name: &str, snapshots: Vec<Snapshot>) -> Machine {
        Machine {
            backups: None,
            storage: None,
            profile: profile.into(),
            provider: ProviderKind::Vsphere,
            id: id.into(),
            name: name.into(),
            location: vec!["DC0".into()],
            path: format!("/DC0/vm/{name}"),
            power_state: PowerState::PoweredOn,
            tools: GuestTools::Running,
            consolidation_needed: false,
            snapshot_option: None,
            snapshots,
            current: None,
            capabilities: Capabilities::vsphere(),
            details: Vec::new(),
            loaded: true,
            running_tasks: Vec::new(),
            memory_mb: None,
            instance: None,
            unreadable: None,
            clock_offset_secs: 0,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    pub(crate) use super::fixtures::{branched, snap, vm};
    use super::*;
    use chrono::TimeZone;

    fn sample() -> Machine {
        vm(
            "lab",
            "vm-1",
            "web",
            vec![snap(
                "s1",
                "base",
                vec![
                    snap("s2", "a", vec![snap("s3", "b", vec![])]),
                    snap("s4", "c", vec![]),
                ],
            )],
        )
    }

    #[test]
    fn walk_counts_and_paths() {
        let m = sample();
        assert_eq!(m.snapshot_count(), 4);
        assert_eq!(m.max_depth(), 3);
        assert_eq!(m.id_path("s3").unwrap(), vec!["s1", "s2", "s3"]);
        assert_eq!(m.name_path("s3").unwrap(), "base/a/b");
        assert_eq!(m.subtree_ids("s2"), vec!["s2", "s3"]);
        assert!(m.id_path("nope").is_none());
    }

    /// A chain of `depth` snapshots, built without recursion.
    fn chain(depth: usize) -> Vec<Snapshot> {
        let mut chain = Vec::new();
        for i in (0..depth).rev() {
            chain = vec![snap(&format!("s{i}"), "deep", chain)];
        }
        chain
    }

    /// Walks over a chain far deeper than any stack holds frames for end normally.
    #[test]
    fn walks_of_a_very_deep_chain_do_not_recurse() {
        let depth = 200_000;
        let mut m = vm("lab", "vm-1", "web", chain(depth));
        assert_eq!(m.snapshot_count(), depth);
        assert_eq!(m.max_depth(), depth);
        let last = format!("s{}", depth - 1);
        assert_eq!(m.id_path(&last).map(|p| p.len()), Some(depth));
        assert_eq!(m.subtree_ids("s1").len(), depth - 1);
        assert!(m.find(&last).is_some());
        let creators = std::collections::HashMap::from([(last.clone(), "ops".to_string())]);
        m.fill_creators(&creators);
        assert_eq!(
            m.find(&last).and_then(|s| s.created_by.clone()).as_deref(),
            Some("ops")
        );
        assert_eq!(tree_depth(&m.snapshots, |s| &s.children), MAX_DEPTH + 1);
        dismantle(std::mem::take(&mut m.snapshots));
    }

    /// A tree four times the limit is cloned, compared, written as JSON and dropped (each
    /// of them recursive) on a thread with a tokio worker's 2 MiB stack: the limit leaves
    /// room for the frames around them.
    #[test]
    fn a_tree_at_the_limit_fits_a_worker_threads_stack() {
        let worker = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(|| {
                let m = vm("lab", "vm-1", "web", chain(MAX_DEPTH * 4));
                let copy = m.clone();
                assert_eq!(copy, m);
                let text = serde_json::to_string(&m).unwrap();
                assert!(text.len() > MAX_DEPTH);
                drop(copy);
                drop(m);
            })
            .unwrap();
        worker.join().unwrap();
    }

    /// A tree deeper than the limit makes its machine unreadable, named; one at the limit
    /// is read as it is.
    #[test]
    fn a_tree_deeper_than_the_limit_makes_its_machine_unreadable() {
        let m = vm("lab", "vm-1", "web", chain(3000)).within_depth();
        assert!(m.snapshots.is_empty());
        assert_eq!(m.current, None);
        let why = m.unreadable_sentence().unwrap_or_default();
        assert!(
            why.contains("lab/web (vm-1)") && why.contains(&MAX_DEPTH.to_string()),
            "{why}"
        );
        // Nothing acts on it, in the TUI or the CLI.
        let protect = crate::model::cleanup::Protect::new(&[]);
        let ctx = crate::model::change::Context {
            allow_low_space: false,
            now: Utc::now(),
            type_to_confirm: false,
            protect: &protect,
        };
        let refused = crate::model::change::describe(&m, crate::model::Operation::DeleteAll, ctx);
        assert_eq!(refused.err().map(|r| r.0), Some(why));
        let ok = vm("lab", "vm-1", "web", chain(MAX_DEPTH)).within_depth();
        assert_eq!(ok.max_depth(), MAX_DEPTH);
        assert!(ok.unreadable.is_none());
    }

    #[test]
    fn ages_are_measured_on_the_back_ends_clock() {
        let local = Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0).unwrap();
        let mut m = sample();
        // The server a day behind stamped this a minute ago on its clock.
        m.clock_offset_secs = -86_400;
        let stamped = local - chrono::Duration::days(1) - chrono::Duration::minutes(1);
        assert_eq!(m.age_of(stamped, local), chrono::Duration::minutes(1));
        assert_eq!(m.now(local), local - chrono::Duration::days(1));
        m.clock_offset_secs = 0;
        assert_eq!(
            m.age_of(stamped, local),
            chrono::Duration::minutes(24 * 60 + 1)
        );
    }

    #[test]
    fn memory_and_quiesce_reasons() {
        let mut m = sample();
        assert!(m.memory_unavailable().is_none());
        m.tools = GuestTools::NotRunning;
        assert_eq!(
            m.quiesce_unavailable(),
            Some("quiesce needs VMware Tools running")
        );
        m.power_state = PowerState::PoweredOff;
        assert_eq!(
            m.memory_unavailable(),
            Some("memory needs the VM powered on")
        );
        assert_eq!(
            m.quiesce_unavailable(),
            Some("quiesce needs the VM powered on")
        );
    }
}
