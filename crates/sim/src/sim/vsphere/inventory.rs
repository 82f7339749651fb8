//! The vSphere inventory over an estate profile: the root folder, a datacenter per first
//! path segment, its `vm` folder and the folders of each machine's path, and the data
//! objects (`snapshot`, `layoutEx`, `capability`, …) of every VM as vim25 values.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::xml::Val;
use crate::model::storage::Datastore;
use crate::model::{Machine, PowerState, Snapshot};

/// The root folder's id, as on vCenter.
pub(crate) const ROOT_FOLDER: &str = "group-d1";
use crate::sim::scenario::{DEFAULT_DATASTORE, DISK_KEY};
/// Size of the base disk's extent.
const BASE_DISK_BYTES: i64 = 40 << 30;

/// A folder or datacenter.
#[derive(Clone, Debug)]
pub(crate) struct Container {
    /// `Folder` or `Datacenter`.
    pub kind: &'static str,
    /// Moref id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Parent folder (none for the root folder).
    pub parent: Option<String>,
    /// Child entities: `(type, id)`.
    pub children: Vec<(&'static str, String)>,
    /// For a datacenter: its `vm` folder.
    pub vm_folder: Option<String>,
}

/// Every entity of one profile, in a stable order.
pub(crate) struct Inventory {
    /// Folders and datacenters by id.
    pub containers: HashMap<String, Container>,
    /// Container ids in creation order (parents before children).
    pub order: Vec<String>,
    /// VMs with the folder that holds them.
    pub vms: Vec<(Machine, String)>,
    /// The datastores the VMs' files are on, with their moref ids, in order of first use.
    pub datastores: Vec<(String, Datastore)>,
}

/// The datastore a simulated VM's files are on: the first its storage names, or the
/// default one (with the default's space).
fn datastore_of(m: &Machine) -> Datastore {
    m.storage
        .as_ref()
        .and_then(|s| s.datastores.first())
        .cloned()
        .unwrap_or_else(|| {
            let gib = 1u64 << 30;
            Datastore {
                name: DEFAULT_DATASTORE.into(),
                free_bytes: Some(1536 * gib),
                capacity_bytes: Some(4096 * gib),
            }
        })
}

impl Inventory {
    /// Build the inventory of these machines from their paths (`/DC/vm/folder/name`).
    pub fn build(machines: Vec<Machine>) -> Inventory {
        let mut inv = Inventory {
            containers: HashMap::new(),
            order: Vec::new(),
            vms: Vec::new(),
            datastores: Vec::new(),
        };
        inv.add(Container {
            kind: "Folder",
            id: ROOT_FOLDER.into(),
            name: "Datacenters".into(),
            parent: None,
            children: Vec::new(),
            vm_folder: None,
        });
        // Ids are handed out in path order, so the same estate gives the same morefs.
        let mut by_path: HashMap<String, String> = HashMap::new();
        let mut next = 2u32;
        for m in machines {
            let segments: Vec<&str> = m
                .path
                .split('/')
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>();
            let (dc_name, folders) = match segments.split_last() {
                Some((_, rest)) if !rest.is_empty() => {
                    let folders: Vec<&str> = rest[1..].to_vec();
                    (rest[0].to_string(), folders)
                }
                _ => ("Datacenter".to_string(), Vec::new()),
            };
            let dc_key = format!("/{dc_name}");
            let dc_id = match by_path.get(&dc_key) {
                Some(id) => id.clone(),
                None => {
                    let id = format!("datacenter-{next}");
                    let vm_folder = format!("group-v{}", next + 1);
                    next += 2;
                    inv.add(Container {
                        kind: "Datacenter",
                        id: id.clone(),
                        name: dc_name.clone(),
                        parent: Some(ROOT_FOLDER.into()),
                        children: Vec::new(),
                        vm_folder: Some(vm_folder.clone()),
                    });
                    inv.add(Container {
                        kind: "Folder",
                        id: vm_folder.clone(),
                        name: "vm".into(),
                        parent: Some(id.clone()),
                        children: Vec::new(),
                        vm_folder: None,
                    });
                    by_path.insert(dc_key.clone(), id.clone());
                    by_path.insert(format!("{dc_key}/vm"), vm_folder);
                    id
                }
            };
            let _ = dc_id;
            // The `vm` segment is the datacenter's VM folder; paths without it still hang
            // their folders under that folder.
            let folders = match folders.first() {
                Some(&"vm") => &folders[1..],
                _ => &folders[..],
            };
            let mut parent_key = format!("{dc_key}/vm");
            for f in folders {
                let key = format!("{parent_key}/{f}");
                if !by_path.contains_key(&key) {
                    let id = format!("group-v{next}");
                    next += 1;
                    let parent = by_path.get(&parent_key).cloned();
                    inv.add(Container {
                        kind: "Folder",
                        id: id.clone(),
                        name: (*f).to_string(),
                        parent,
                        children: Vec::new(),
                        vm_folder: None,
                    });
                    by_path.insert(key.clone(), id);
                }
                parent_key = key;
            }
            let folder = by_path
                .get(&parent_key)
                .cloned()
                .unwrap_or_else(|| ROOT_FOLDER.into());
            if let Some(c) = inv.containers.get_mut(&folder) {
                c.children.push(("VirtualMachine", m.id.clone()));
            }
            let ds = datastore_of(&m);
            if !inv.datastores.iter().any(|(_, d)| d.name == ds.name) {
                let id = format!("datastore-{}", 1001 + inv.datastores.len());
                inv.datastores.push((id, ds));
            }
            inv.vms.push((m, folder));
        }
        inv
    }

    fn add(&mut self, c: Container) {
        if let Some(p) = c.parent.clone()
            && let Some(parent) = self.containers.get_mut(&p)
        {
            parent.children.push((c.kind, c.id.clone()));
        }
        self.order.push(c.id.clone());
        self.containers.insert(c.id.clone(), c);
    }

    /// A VM and its folder.
    pub fn vm(&self, id: &str) -> Option<&(Machine, String)> {
        self.vms.iter().find(|(m, _)| m.id == id)
    }

    /// The VM holding a snapshot.
    pub fn vm_of_snapshot(&self, snapshot: &str) -> Option<&Machine> {
        self.vms
            .iter()
            .map(|(m, _)| m)
            .find(|m| m.find(snapshot).is_some())
    }

    /// The type of an entity id, if it exists.
    pub fn kind_of(&self, id: &str) -> Option<&'static str> {
        if let Some(c) = self.containers.get(id) {
            return Some(c.kind);
        }
        if self.datastores.iter().any(|(d, _)| d == id) {
            return Some("Datastore");
        }
        self.vm(id).map(|_| "VirtualMachine")
    }

    /// Entities under a container: direct children, or every descendant when `recursive`.
    pub fn descendants(&self, container: &str, recursive: bool) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let mut stack = vec![container.to_string()];
        while let Some(id) = stack.pop() {
            let Some(c) = self.containers.get(&id) else {
                continue;
            };
            let mut kids: Vec<(&'static str, String)> = c.children.clone();
            if let Some(vf) = &c.vm_folder {
                // A datacenter's folders are reached through `vmFolder`, not `childEntity`.
                if !kids.iter().any(|(_, k)| k == vf) {
                    kids.push(("Folder", vf.clone()));
                }
            }
            for (kind, kid) in kids.into_iter().rev() {
                if recursive {
                    stack.push(kid.clone());
                }
                out.push((kind, kid));
            }
        }
        // Parents before children, in creation order, then VMs in estate order.
        let rank = |id: &str| {
            self.order
                .iter()
                .position(|o| o == id)
                .or_else(|| {
                    self.vms
                        .iter()
                        .position(|(m, _)| m.id == id)
                        .map(|p| p + self.order.len())
                })
                .unwrap_or(usize::MAX)
        };
        out.sort_by_key(|(_, id)| rank(id));
        // A folder may be reached twice (as a child and as a `vmFolder`). A VM is not: an
        // estate changed to hold two VMs with one id is served as such, as a broken server
        // would list them (clients must notice, not collapse them).
        out.dedup_by(|a, b| a == b && a.0 != "VirtualMachine");
        out
    }

    /// The properties of a folder or datacenter.
    pub fn container_val(&self, c: &Container) -> Val {
        let parent = Val::opt(c.parent.as_ref().map(|p| {
            let kind = self.kind_of(p).unwrap_or("Folder");
            Val::mor(kind, p)
        }));
        let status = Val::Enum("ManagedEntityStatus", "green".into());
        match c.kind {
            "Datacenter" => Val::Obj(
                "Datacenter",
                vec![
                    ("name", Val::str(&c.name)),
                    ("parent", parent),
                    ("overallStatus", status),
                    (
                        "vmFolder",
                        Val::opt(c.vm_folder.as_ref().map(|f| Val::mor("Folder", f))),
                    ),
                    (
                        "datastore",
                        Val::List(
                            "ManagedObjectReference",
                            self.datastores
                                .iter()
                                .map(|(id, _)| Val::mor("Datastore", id))
                                .collect(),
                        ),
                    ),
                ],
            ),
            _ => {
                let child_type = if c.id == ROOT_FOLDER {
                    vec!["Folder", "Datacenter"]
                } else {
                    vec!["Folder", "VirtualMachine", "VirtualApp"]
                };
                Val::Obj(
                    "Folder",
                    vec![
                        ("name", Val::str(&c.name)),
                        ("parent", parent),
                        ("overallStatus", status),
                        (
                            "childEntity",
                            Val::List(
                                "ManagedObjectReference",
                                c.children.iter().map(|(k, id)| Val::mor(k, id)).collect(),
                            ),
                        ),
                        (
                            "childType",
                            Val::List("string", child_type.into_iter().map(Val::str).collect()),
                        ),
                    ],
                )
            }
        }
    }
}

impl Inventory {
    /// The moref id of the datastore a VM's files are on.
    fn datastore_id(&self, m: &Machine) -> Option<&str> {
        let name = datastore_of(m).name;
        self.datastores
            .iter()
            .find(|(_, d)| d.name == name)
            .map(|(id, _)| id.as_str())
    }

    /// The properties of a datastore (its name and summary), if it exists.
    pub fn datastore_val(&self, id: &str) -> Option<Val> {
        let (_, d) = self.datastores.iter().find(|(i, _)| i == id)?;
        let bytes = |n: Option<u64>| Val::Long(i64::try_from(n.unwrap_or(0)).unwrap_or(i64::MAX));
        Some(Val::Obj(
            "Datastore",
            vec![
                ("name", Val::str(&d.name)),
                (
                    "overallStatus",
                    Val::Enum("ManagedEntityStatus", "green".into()),
                ),
                (
                    "summary",
                    Val::Obj(
                        "DatastoreSummary",
                        vec![
                            ("datastore", Val::mor("Datastore", id)),
                            ("name", Val::str(&d.name)),
                            ("url", Val::str(format!("ds:///vmfs/volumes/{id}/"))),
                            ("capacity", bytes(d.capacity_bytes)),
                            ("freeSpace", bytes(d.free_bytes)),
                            ("accessible", Val::Bool(true)),
                            ("multipleHostAccess", Val::Bool(true)),
                            ("type", Val::str("VMFS")),
                        ],
                    ),
                ),
            ],
        ))
    }

    /// Every property of a VM that the simulator serves.
    pub fn vm_val(&self, m: &Machine, folder: &str, now: DateTime<Utc>) -> Val {
        let mut v = vm_val(m, folder, now);
        if let (Val::Obj(_, fields), Some(ds)) = (&mut v, self.datastore_id(m)) {
            fields.push((
                "datastore",
                Val::List("ManagedObjectReference", vec![Val::mor("Datastore", ds)]),
            ));
        }
        v
    }
}

fn power(p: PowerState) -> Val {
    Val::Enum(
        "VirtualMachinePowerState",
        match p {
            PowerState::PoweredOn => "poweredOn",
            PowerState::Suspended => "suspended",
            _ => "poweredOff",
        }
        .into(),
    )
}

/// The numeric `id` of a snapshot tree node: the digits of its moref.
pub(crate) fn snapshot_number(id: &str) -> i32 {
    id.rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn tree(vm: &str, s: &Snapshot) -> Val {
    Val::Obj(
        "VirtualMachineSnapshotTree",
        vec![
            ("snapshot", Val::mor("VirtualMachineSnapshot", &s.id)),
            ("vm", Val::mor("VirtualMachine", vm)),
            ("name", Val::str(&s.name)),
            ("description", Val::str(&s.description)),
            ("id", Val::Int(snapshot_number(&s.id))),
            ("createTime", Val::Time(s.created)),
            ("state", power(s.power_state)),
            ("quiesced", Val::Bool(s.quiesced)),
            (
                "childSnapshotList",
                if s.children.is_empty() {
                    Val::Unset
                } else {
                    Val::List(
                        "VirtualMachineSnapshotTree",
                        s.children.iter().map(|c| tree(vm, c)).collect(),
                    )
                },
            ),
        ],
    )
}

/// `VirtualMachine.snapshot`: unset when the VM has no snapshot.
pub(crate) fn snapshot_info(m: &Machine) -> Val {
    if m.snapshots.is_empty() {
        return Val::Unset;
    }
    Val::Obj(
        "VirtualMachineSnapshotInfo",
        vec![
            (
                "currentSnapshot",
                Val::opt(
                    m.current
                        .as_ref()
                        .map(|c| Val::mor("VirtualMachineSnapshot", c)),
                ),
            ),
            (
                "rootSnapshotList",
                Val::List(
                    "VirtualMachineSnapshotTree",
                    m.snapshots.iter().map(|s| tree(&m.id, s)).collect(),
                ),
            ),
        ],
    )
}

const CAPABILITY_FLAGS: &[&str] = &[
    "snapshotOperationsSupported",
    "multipleSnapshotsSupported",
    "snapshotConfigSupported",
    "poweredOffSnapshotsSupported",
    "memorySnapshotsSupported",
    "revertToSnapshotSupported",
    "quiescedSnapshotsSupported",
    "disableSnapshotsSupported",
    "lockSnapshotsSupported",
    "consolePreferencesSupported",
    "cpuFeatureMaskSupported",
    "s1AcpiManagementSupported",
    "settingScreenResolutionSupported",
    "toolsAutoUpdateSupported",
    "vmNpivWwnSupported",
    "npivWwnOnNonRdmVmSupported",
    "vmNpivWwnDisableSupported",
    "vmNpivWwnUpdateSupported",
    "swapPlacementSupported",
    "toolsSyncTimeSupported",
    "virtualMmuUsageSupported",
    "diskSharesSupported",
    "bootOptionsSupported",
    "bootRetryOptionsSupported",
    "settingVideoRamSizeSupported",
    "settingDisplayTopologySupported",
    "recordReplaySupported",
    "changeTrackingSupported",
    "multipleCoresPerSocketSupported",
    "hostBasedReplicationSupported",
    "guestAutoLockSupported",
    "memoryReservationLockSupported",
    "featureRequirementSupported",
    "poweredOnMonitorTypeChangeSupported",
    "seSparseDiskSupported",
    "nestedHVSupported",
    "vPMCSupported",
];

/// `VirtualMachine.capability`, from the machine's capabilities.
fn capability(m: &Machine) -> Val {
    let c = &m.capabilities;
    let fields = CAPABILITY_FLAGS
        .iter()
        .map(|&flag| {
            let on = match flag {
                "snapshotOperationsSupported"
                | "revertToSnapshotSupported"
                | "poweredOffSnapshotsSupported"
                | "snapshotConfigSupported" => c.snapshots,
                "multipleSnapshotsSupported" => c.tree,
                "memorySnapshotsSupported" => c.memory,
                "quiescedSnapshotsSupported" => c.quiesce,
                "disableSnapshotsSupported"
                | "lockSnapshotsSupported"
                | "recordReplaySupported"
                | "vmNpivWwnSupported" => false,
                _ => true,
            };
            (flag, Val::Bool(on))
        })
        .collect();
    Val::Obj("VirtualMachineCapability", fields)
}

struct LayoutBuilder {
    files: Vec<Val>,
    next_key: i32,
    dir: String,
    datastore: String,
}

impl LayoutBuilder {
    fn file(&mut self, name: &str, kind: &str, size: i64) -> i32 {
        let key = self.next_key;
        self.next_key += 1;
        self.files.push(Val::Obj(
            "VirtualMachineFileLayoutExFileInfo",
            vec![
                ("key", Val::Int(key)),
                (
                    "name",
                    Val::str(format!("[{}] {}/{name}", self.datastore, self.dir)),
                ),
                ("type", Val::str(kind)),
                ("size", Val::Long(size)),
                ("uniqueSize", Val::Long(size)),
                ("accessible", Val::Bool(true)),
            ],
        ));
        key
    }
}

fn disk(chain: &[(i32, i32)]) -> Val {
    Val::Obj(
        "VirtualMachineFileLayoutExDiskLayout",
        vec![
            ("key", Val::Int(DISK_KEY)),
            (
                "chain",
                Val::List(
                    "VirtualMachineFileLayoutExDiskUnit",
                    chain
                        .iter()
                        .map(|(d, e)| {
                            Val::Obj(
                                "VirtualMachineFileLayoutExDiskUnit",
                                vec![(
                                    "fileKey",
                                    Val::List("int", vec![Val::Int(*d), Val::Int(*e)]),
                                )],
                            )
                        })
                        .collect(),
                ),
            ),
        ],
    )
}

/// Default size of a snapshot the estate gives none.
const DEFAULT_SNAPSHOT_BYTES: u64 = 64 << 20;

/// `VirtualMachine.layoutEx`. Each snapshot owns a data file (`.vmsn`), a memory file
/// (`.vmem`, when taken with memory) and the delta disk its chain adds to its parent's; the
/// live delta written since the current snapshot hangs below the current snapshot's chain.
/// File sizes are split so that the reference algorithm (own chain files + data + memory,
/// plus the live delta for the current snapshot) gives back each snapshot's `size_bytes`.
pub(crate) fn layout(m: &Machine, now: DateTime<Utc>) -> Val {
    let mut b = LayoutBuilder {
        files: Vec::new(),
        next_key: 0,
        dir: m.name.clone(),
        datastore: datastore_of(m).name,
    };
    let n = &m.name;
    b.file(&format!("{n}.vmx"), "config", 3_412);
    b.file(&format!("{n}.vmsd"), "snapshotList", 1_622);
    b.file(&format!("{n}.nvram"), "nvram", 270_840);
    b.file("vmware.log", "log", 412_377);
    let base = (
        b.file(&format!("{n}.vmdk"), "diskDescriptor", 612),
        b.file(&format!("{n}-flat.vmdk"), "diskExtent", BASE_DISK_BYTES),
    );
    let mut snapshots = Vec::new();
    let mut live_chain = vec![base];
    // A chain deeper than vSphere allows (planted by a test as a hostile server would)
    // gets no snapshot layouts: each one lists its whole chain, so they grow with the
    // square of the depth. Its sizes are then unknown.
    let planted = m.max_depth() > crate::sim::estate::MAX_CHAIN;
    fn walk(
        b: &mut LayoutBuilder,
        m: &Machine,
        nodes: &[Snapshot],
        parent_chain: &[(i32, i32)],
        out: &mut Vec<Val>,
        live_chain: &mut Vec<(i32, i32)>,
    ) {
        for s in nodes {
            let n = snapshot_number(&s.id);
            let vm = &m.name;
            let total = i64::try_from(s.size_bytes.unwrap_or(DEFAULT_SNAPSHOT_BYTES).max(4096))
                .unwrap_or(i64::MAX);
            let data = (total / 64).clamp(1, 32 * 1024);
            let memory = if s.memory {
                ((total - data) / 2).clamp(1, 4 << 30)
            } else {
                0
            };
            let is_current = m.current.as_deref() == Some(s.id.as_str());
            let rest = (total - data - memory).max(2);
            // The current snapshot gives part of its delta to the live one below it.
            let live = if is_current { (rest / 8).max(1) } else { 0 };
            let delta = rest - live;
            let data_key = b.file(&format!("{vm}-Snapshot{n}.vmsn"), "snapshotData", data);
            let memory_key = if s.memory {
                b.file(&format!("{vm}-Snapshot{n}.vmem"), "snapshotMemory", memory)
            } else {
                -1
            };
            let unit = (
                b.file(&format!("{vm}-{n:06}.vmdk"), "diskDescriptor", 412),
                b.file(
                    &format!("{vm}-{n:06}-sesparse.vmdk"),
                    "diskExtent",
                    (delta - 412).max(1),
                ),
            );
            let mut chain = parent_chain.to_vec();
            chain.push(unit);
            out.push(Val::Obj(
                "VirtualMachineFileLayoutExSnapshotLayout",
                vec![
                    ("key", Val::mor("VirtualMachineSnapshot", &s.id)),
                    ("dataKey", Val::Int(data_key)),
                    ("memoryKey", Val::Int(memory_key)),
                    (
                        "disk",
                        Val::List("VirtualMachineFileLayoutExDiskLayout", vec![disk(&chain)]),
                    ),
                ],
            ));
            if is_current {
                let live_unit = (
                    b.file(
                        &format!("{vm}-{:06}.vmdk", 900_000 + n),
                        "diskDescriptor",
                        412,
                    ),
                    b.file(
                        &format!("{vm}-{:06}-sesparse.vmdk", 900_000 + n),
                        "diskExtent",
                        (live - 412).max(1),
                    ),
                );
                *live_chain = chain.clone();
                live_chain.push(live_unit);
            }
            walk(b, m, &s.children, &chain, out, live_chain);
        }
    }
    walk(
        &mut b,
        m,
        if planted { &[] } else { &m.snapshots },
        &[base],
        &mut snapshots,
        &mut live_chain,
    );
    // Phantom deltas: in the running chain, owned by no snapshot, below the running delta
    // where there is one (a VM with snapshots), on top otherwise.
    let phantoms = m.storage.iter().flat_map(|s| &s.phantom_deltas);
    for (i, p) in phantoms.enumerate() {
        let name = p.file.rsplit('/').next().unwrap_or(&p.file);
        let extent = name.strip_suffix(".vmdk").unwrap_or(name);
        let unit = (
            b.file(name, "diskDescriptor", 412),
            b.file(&format!("{extent}-sesparse.vmdk"), "diskExtent", 3 << 30),
        );
        let at = if m.current.is_some() {
            live_chain.len() - 1
        } else {
            live_chain.len()
        };
        live_chain.insert(at.max(1 + i), unit);
    }
    Val::Obj(
        "VirtualMachineFileLayoutEx",
        vec![
            (
                "file",
                Val::List("VirtualMachineFileLayoutExFileInfo", b.files),
            ),
            (
                "disk",
                Val::List(
                    "VirtualMachineFileLayoutExDiskLayout",
                    vec![disk(&live_chain)],
                ),
            ),
            (
                "snapshot",
                if snapshots.is_empty() {
                    Val::Unset
                } else {
                    Val::List("VirtualMachineFileLayoutExSnapshotLayout", snapshots)
                },
            ),
            ("timestamp", Val::Time(now)),
        ],
    )
}

/// Every property of a VM that the simulator serves.
pub(crate) fn vm_val(m: &Machine, folder: &str, now: DateTime<Utc>) -> Val {
    let tools = if m.tools_running() {
        "guestToolsRunning"
    } else {
        "guestToolsNotRunning"
    };
    let root_snapshots = Val::List(
        "ManagedObjectReference",
        m.snapshots
            .iter()
            .map(|s| Val::mor("VirtualMachineSnapshot", &s.id))
            .collect(),
    );
    Val::Obj(
        "VirtualMachine",
        vec![
            ("name", Val::str(&m.name)),
            ("parent", Val::mor("Folder", folder)),
            (
                "overallStatus",
                Val::Enum("ManagedEntityStatus", "green".into()),
            ),
            (
                "runtime",
                Val::Obj(
                    "VirtualMachineRuntimeInfo",
                    vec![
                        (
                            "connectionState",
                            Val::Enum("VirtualMachineConnectionState", "connected".into()),
                        ),
                        ("powerState", power(m.power_state)),
                        (
                            "faultToleranceState",
                            Val::Enum("VirtualMachineFaultToleranceState", "notConfigured".into()),
                        ),
                        ("toolsInstallerMounted", Val::Bool(false)),
                        ("numMksConnections", Val::Int(0)),
                        (
                            "recordReplayState",
                            Val::Enum("VirtualMachineRecordReplayState", "inactive".into()),
                        ),
                        ("consolidationNeeded", Val::Bool(m.consolidation_needed)),
                        ("onlineStandby", Val::Bool(false)),
                    ],
                ),
            ),
            (
                "guest",
                Val::Obj(
                    "GuestInfo",
                    vec![
                        (
                            "toolsStatus",
                            Val::Enum(
                                "VirtualMachineToolsStatus",
                                if m.tools_running() {
                                    "toolsOk"
                                } else {
                                    "toolsNotRunning"
                                }
                                .into(),
                            ),
                        ),
                        ("toolsRunningStatus", Val::str(tools)),
                        (
                            "guestState",
                            Val::str(
                                if m.power_state == PowerState::PoweredOn && m.tools_running() {
                                    "running"
                                } else {
                                    "notRunning"
                                },
                            ),
                        ),
                    ],
                ),
            ),
            ("config", config(m)),
            ("capability", capability(m)),
            ("snapshot", snapshot_info(m)),
            ("rootSnapshot", root_snapshots),
            ("layoutEx", layout(m, now)),
        ],
    )
}

/// The VM's `config`: only its configured memory (the estate gives 1 GiB to a VM that says
/// none).
fn config(m: &Machine) -> Val {
    let mb = m.memory_mb.unwrap_or(1024);
    Val::Obj(
        "VirtualMachineConfigInfo",
        vec![(
            "hardware",
            Val::Obj(
                "VirtualHardware",
                vec![("memoryMB", Val::Int(i32::try_from(mb).unwrap_or(i32::MAX)))],
            ),
        )],
    )
}

/// The properties of a `VirtualMachineSnapshot` object.
pub(crate) fn snapshot_object_val(m: &Machine, id: &str) -> Val {
    let children = m
        .find(id)
        .map(|s| {
            s.children
                .iter()
                .map(|c| Val::mor("VirtualMachineSnapshot", &c.id))
                .collect()
        })
        .unwrap_or_default();
    Val::Obj(
        "VirtualMachineSnapshot",
        vec![
            ("vm", Val::mor("VirtualMachine", &m.id)),
            (
                "childSnapshot",
                Val::List("ManagedObjectReference", children),
            ),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::Estate;

    fn inventory() -> Inventory {
        let e = Estate::from_scenario(crate::sim::scenario::DEMO, Utc::now(), None).unwrap();
        Inventory::build(e.machines("pcc").unwrap())
    }

    #[test]
    fn folders_follow_machine_paths() {
        let inv = inventory();
        let (_, folder) = inv.vm("vm-101").unwrap();
        let mut names = Vec::new();
        let mut cur = Some(folder.clone());
        while let Some(id) = cur {
            let c = &inv.containers[&id];
            names.push((c.kind, c.name.clone()));
            cur = c.parent.clone();
        }
        names.reverse();
        let expected = [
            ("Folder", "Datacenters"),
            ("Datacenter", "Paris-DC1"),
            ("Folder", "vm"),
            ("Folder", "prod"),
            ("Folder", "web"),
        ];
        assert_eq!(
            names,
            expected
                .iter()
                .map(|(k, n)| (*k, n.to_string()))
                .collect::<Vec<_>>()
        );
        let all = inv.descendants(ROOT_FOLDER, true);
        assert_eq!(
            all.iter().filter(|(k, _)| *k == "VirtualMachine").count(),
            8
        );
        assert_eq!(all.iter().filter(|(k, _)| *k == "Datacenter").count(), 2);
    }

    /// The reference algorithm, on the simulator's own values.
    fn sizes(layout: &Val, m: &Machine) -> HashMap<String, i64> {
        let ints = |v: &Val| -> Vec<i32> {
            match v {
                Val::List(_, items) => items
                    .iter()
                    .filter_map(|i| match i {
                        Val::Int(n) => Some(*n),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            }
        };
        let chain_files = |disks: &Val| -> Vec<Vec<i32>> {
            let Val::List(_, disks) = disks else {
                return Vec::new();
            };
            let mut units = Vec::new();
            for d in disks {
                if let Ok(Some(Val::List(_, chain))) = d.path("chain") {
                    for u in chain {
                        units.push(ints(u.path("fileKey").unwrap().unwrap()));
                    }
                }
            }
            units
        };
        let mut size_of = HashMap::new();
        if let Ok(Some(Val::List(_, files))) = layout.path("file") {
            for f in files {
                let (Ok(Some(Val::Int(k))), Ok(Some(Val::Long(s)))) =
                    (f.path("key"), f.path("size"))
                else {
                    continue;
                };
                size_of.insert(*k, *s);
            }
        }
        let mut chains = HashMap::new();
        let mut own_files = HashMap::new();
        if let Ok(Some(Val::List(_, snaps))) = layout.path("snapshot") {
            for s in snaps {
                let Ok(Some(Val::Mor(_, id))) = s.path("key") else {
                    continue;
                };
                let units = chain_files(s.path("disk").unwrap().unwrap());
                let mut extra = 0;
                for k in ["dataKey", "memoryKey"] {
                    if let Ok(Some(Val::Int(key))) = s.path(k) {
                        extra += size_of.get(key).copied().unwrap_or(0);
                    }
                }
                chains.insert(id.clone(), units);
                own_files.insert(id.clone(), extra);
            }
        }
        let mut out = HashMap::new();
        let mut listed = std::collections::HashSet::new();
        for (_, s) in m.walk() {
            let units = &chains[&s.id];
            let parent = m
                .id_path(&s.id)
                .and_then(|p| p.len().checked_sub(2).map(|i| p[i].clone()));
            let inherited: Vec<Vec<i32>> = match parent {
                Some(p) => chains[&p].clone(),
                None => units[..1].to_vec(),
            };
            let mut size = own_files[&s.id];
            for u in units {
                listed.extend(u.iter().copied());
                if !inherited.contains(u) {
                    size += u.iter().map(|k| size_of[k]).sum::<i64>();
                }
            }
            out.insert(s.id.clone(), size);
        }
        let live = chain_files(layout.path("disk").unwrap().unwrap());
        if let Some(cur) = &m.current {
            let extra: i64 = live
                .iter()
                .flatten()
                .filter(|k| !listed.contains(k))
                .map(|k| size_of[k])
                .sum();
            *out.get_mut(cur).unwrap() += extra;
        }
        out
    }

    #[test]
    fn layout_sizes_add_up_to_each_snapshot_size() {
        let inv = inventory();
        for (m, _) in &inv.vms {
            let layout = layout(m, Utc::now());
            let got = sizes(&layout, m);
            for (_, s) in m.walk() {
                assert_eq!(
                    u64::try_from(got[&s.id]).unwrap(),
                    s.size_bytes.unwrap_or(DEFAULT_SNAPSHOT_BYTES),
                    "{} {}",
                    m.id,
                    s.id
                );
            }
        }
    }
}
