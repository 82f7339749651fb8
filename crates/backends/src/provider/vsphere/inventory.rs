//! Reading VMs with their snapshot trees in bulk (property collector) and mapping the wire
//! types into `model` types. Everything here is pure except `retrieve`.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDateTime, Utc};
use vim_rs::core::client::{Client, Error as VimError};
use vim_rs::mo::PropertyCollector;
use vim_rs::types::boxed_types::ValueElements;
use vim_rs::types::enums::{MoTypesEnum, VirtualMachinePowerStateEnum};
use vim_rs::types::structs::{
    DynamicProperty, ManagedObjectReference, ObjectContent, ObjectSpec, PropertyFilterSpec,
    PropertySpec, RetrieveOptions, SelectionSpec, TraversalSpec, VirtualMachineFileLayoutEx,
    VirtualMachineFileLayoutExDiskLayout, VirtualMachineSnapshotInfo, VirtualMachineSnapshotTree,
};
use vim_rs::types::traits::SelectionSpecTrait;
use vim_rs::types::vim_any::VimAny;

use crate::model::machine::{MAX_DEPTH, too_deep, tree_depth};
use crate::model::storage::{Datastore, Delta, PhantomDelta, Storage, datastore_of};
use crate::model::{Capabilities, GuestTools, Machine, PowerState, ProviderKind, Snapshot};

/// VM properties read in the inventory pass (wire names). Only the capability flags used
/// are asked for: the whole `capability` object is about 1.5 KB of XML per VM.
pub(super) const VM_PATHS: &[&str] = &[
    "name",
    "parent",
    "runtime.powerState",
    "runtime.consolidationNeeded",
    "guest.toolsRunningStatus",
    MEMORY_MB,
    CAP_SNAPSHOTS,
    CAP_TREE,
    CAP_MEMORY,
    CAP_QUIESCE,
    "snapshot",
];

/// The configured memory: a memory snapshot writes a file this large.
const MEMORY_MB: &str = "config.hardware.memoryMB";
const CAP_SNAPSHOTS: &str = "capability.snapshotOperationsSupported";
const CAP_TREE: &str = "capability.multipleSnapshotsSupported";
const CAP_MEMORY: &str = "capability.memorySnapshotsSupported";
const CAP_QUIESCE: &str = "capability.quiescedSnapshotsSupported";

/// File layout, for snapshot sizes. Read in a second pass and only for VMs that have
/// snapshots: for the others it is dead weight (about 1.4 KB of XML per VM).
const LAYOUT_PATH: &str = "layoutEx";

/// The disk chains alone (file keys, no names): what the listing asks of a VM without
/// snapshots, to find one running on a delta disk no snapshot owns (a chain longer than
/// its base). Its whole layout is then read, for the file names.
const CHAINS_PATH: &str = "layoutEx.disk";

/// A datastore's properties read with the inventory: its name and free space (the room a
/// delete's merge needs is compared with it).
const DATASTORE_PATHS: &[&str] = &["name", "summary.freeSpace", "summary.capacity"];

/// VM properties whose changes matter to the tree view (live updates).
pub(super) const WATCHED_PATHS: &[&str] = &[
    "name",
    "snapshot",
    "runtime.powerState",
    "runtime.consolidationNeeded",
    "guest.toolsRunningStatus",
];

/// Page size asked of the server (vCenter caps it; vcsim ignores it).
const PAGE: i32 = 500;

/// One VM as read from the wire, before mapping.
#[derive(Default)]
pub(super) struct VmRow {
    pub id: String,
    pub name: Option<String>,
    pub parent: Option<String>,
    pub power: Option<VirtualMachinePowerStateEnum>,
    pub consolidation_needed: Option<bool>,
    pub tools_status: Option<String>,
    pub memory_mb: Option<i32>,
    pub capability: CapabilityFlags,
    pub snapshot: Option<VirtualMachineSnapshotInfo>,
    pub layout: Option<VirtualMachineFileLayoutEx>,
    /// Its layout was asked with its properties (it may still be missing).
    pub layout_asked: bool,
    /// Its disk chains (`layoutEx.disk`), asked of a VM without snapshots.
    pub chains: Option<Vec<VirtualMachineFileLayoutExDiskLayout>>,
}

impl VmRow {
    /// Whether its whole layout is wanted and was not asked: it has snapshots (their sizes),
    /// or a disk chain longer than its base (a delta: which file is it?).
    fn wants_layout(&self) -> bool {
        let snapshots = self
            .snapshot
            .as_ref()
            .is_some_and(|s| !s.root_snapshot_list.is_empty());
        let deltas = self
            .chains
            .iter()
            .flatten()
            .any(|d| d.chain.as_ref().is_some_and(|c| c.len() > 1));
        !self.layout_asked && self.layout.is_none() && (snapshots || deltas)
    }
}

/// The `capability.*` flags read; unset when the server does not report them.
#[derive(Default)]
pub(super) struct CapabilityFlags {
    pub snapshots: Option<bool>,
    pub tree: Option<bool>,
    pub memory: Option<bool>,
    pub quiesce: Option<bool>,
}

/// A folder or datacenter: enough to build inventory paths.
pub(super) struct Container {
    pub name: String,
    pub parent: Option<String>,
    pub is_datacenter: bool,
}

/// The result of one pass: VMs and the containers above them.
#[derive(Default)]
pub(super) struct Pass {
    pub vms: Vec<VmRow>,
    pub containers: HashMap<String, Container>,
    /// The datastores reached, by name.
    pub datastores: HashMap<String, Datastore>,
}

fn take<T: 'static>(v: VimAny) -> Option<T> {
    v.into_any().downcast::<T>().ok().map(|b| *b)
}

fn moref(kind: MoTypesEnum, value: &str) -> ManagedObjectReference {
    ManagedObjectReference {
        r#type: kind,
        value: value.to_string(),
    }
}

fn spec(kind: &str, paths: &[&str]) -> PropertySpec {
    PropertySpec {
        r#type: kind.to_string(),
        all: Some(false),
        path_set: Some(paths.iter().map(|p| p.to_string()).collect()),
    }
}

fn traversal(name: &str, kind: &str, path: &str, next: &[&str]) -> Box<dyn SelectionSpecTrait> {
    Box::new(TraversalSpec {
        selection_spec_: SelectionSpec {
            name: Some(name.to_string()),
        },
        r#type: kind.to_string(),
        path: path.to_string(),
        skip: Some(false),
        select_set: Some(
            next.iter()
                .map(|n| {
                    Box::new(SelectionSpec {
                        name: Some(n.to_string()),
                    }) as Box<dyn SelectionSpecTrait>
                })
                .collect(),
        ),
    })
}

/// The property specs of a pass: VMs (with their layout or not), and the folders and
/// datacenters for their paths.
fn prop_set(with_layout: bool) -> Vec<PropertySpec> {
    vec![
        vm_spec(with_layout, Plain::Whole),
        spec("Folder", &["name", "parent"]),
        spec("Datacenter", &["name", "parent"]),
        spec("Datastore", DATASTORE_PATHS),
    ]
}

/// What a listing asks of a VM without snapshots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Plain {
    /// All of `VM_PATHS`: a machine a change may be chosen on (the TUI, a command's lookup).
    Whole,
    /// What a printed listing uses (`ls`, `report`, `check`): not its capability flags nor
    /// its configured memory, which only a take reads (and a take reads its machine
    /// whole). About a third less to send and decode per VM, room for its disk chains.
    Printed,
}

/// The `VM_PATHS` a printed listing leaves out of a VM without snapshots.
const TAKE_ONLY: &[&str] = &[MEMORY_MB, CAP_SNAPSHOTS, CAP_TREE, CAP_MEMORY, CAP_QUIESCE];

/// A VM's properties (`VM_PATHS`), with its whole layout, or with its disk chains only
/// (and, `Plain::Printed`, without what only a take reads).
fn vm_spec(with_layout: bool, plain: Plain) -> PropertySpec {
    let mut vm = spec("VirtualMachine", VM_PATHS);
    if let Some(paths) = vm.path_set.as_mut() {
        if !with_layout && plain == Plain::Printed {
            paths.retain(|p| !TAKE_ONLY.contains(&p.as_str()));
        }
        let more = if with_layout {
            LAYOUT_PATH
        } else {
            CHAINS_PATH
        };
        paths.push(more.to_string());
    }
    vm
}

/// Every VM, folder and datacenter under the root folder, through a container view.
pub(super) fn view_filter(view: &ManagedObjectReference) -> PropertyFilterSpec {
    view_filter_of(view, prop_set(false))
}

fn view_filter_of(
    view: &ManagedObjectReference,
    prop_set: Vec<PropertySpec>,
) -> PropertyFilterSpec {
    PropertyFilterSpec {
        prop_set,
        object_set: vec![ObjectSpec {
            obj: view.clone(),
            skip: Some(true),
            select_set: Some(vec![Box::new(TraversalSpec {
                selection_spec_: SelectionSpec { name: None },
                r#type: "ContainerView".to_string(),
                path: "view".to_string(),
                skip: Some(false),
                select_set: None,
            })]),
        }],
        report_missing_objects_in_results: None,
    }
}

/// Exactly these VMs (no traversal), with their properties and, with `with_layout`, their
/// layouts: a chunk of the estate's VMs. A VM removed since the members were read is
/// reported missing instead of failing the call.
fn objects_filter(
    objects: &[ManagedObjectReference],
    with_layout: bool,
    plain: Plain,
) -> PropertyFilterSpec {
    PropertyFilterSpec {
        prop_set: vec![vm_spec(with_layout, plain)],
        // `skip` left out (false by default): a chunk names thousands of objects, and the
        // request is smaller by a fifth without it.
        object_set: objects
            .iter()
            .map(|o| ObjectSpec {
                obj: o.clone(),
                skip: None,
                select_set: None,
            })
            .collect(),
        report_missing_objects_in_results: Some(true),
    }
}

/// Whether a VM has snapshots, as its `rootSnapshot` list tells (a few references, where
/// its `snapshot` tree is a whole structure).
const ROOTS_PATH: &str = "rootSnapshot";

/// What the listing's first call asks: each VM's `rootSnapshot` list, each folder's and
/// datacenter's name and parent, and each vApp's name (only to know there are some).
fn members_props() -> Vec<PropertySpec> {
    vec![
        spec("VirtualMachine", &[ROOTS_PATH]),
        spec("Folder", &["name", "parent"]),
        spec("Datacenter", &["name", "parent"]),
        spec("VirtualApp", &["name"]),
        spec("Datastore", DATASTORE_PATHS),
    ]
}

/// Every VM, folder and datacenter under the root folder `root`, reached by the
/// inventory's own links (a folder's `childEntity`, a datacenter's `vmFolder`), in one
/// call ([`members_props`]). A container view would read the same after a call that
/// makes it (and one that drops it): a round trip more. The VMs of a vApp are not reached
/// so (nor its child vApps): an estate where this finds vApps is read again through a
/// view ([`view_members_filter`]).
pub(super) fn members_filter(root: &ManagedObjectReference) -> PropertyFilterSpec {
    PropertyFilterSpec {
        prop_set: members_props(),
        object_set: vec![ObjectSpec {
            obj: root.clone(),
            skip: Some(true),
            select_set: Some(vec![
                traversal(
                    "folder",
                    "Folder",
                    "childEntity",
                    &["folder", "datacenter", "datastores"],
                ),
                traversal("datacenter", "Datacenter", "vmFolder", &["folder"]),
                traversal("datastores", "Datacenter", "datastore", &[]),
            ]),
        }],
        report_missing_objects_in_results: None,
    }
}

/// The same as [`members_filter`], through a container view of every VM, folder,
/// datacenter and vApp: it holds the VMs of vApps too.
pub(super) fn view_members_filter(view: &ManagedObjectReference) -> PropertyFilterSpec {
    view_filter_of(view, members_props())
}

/// The estate as the listing's first call reads it.
#[derive(Default)]
pub(super) struct Members {
    /// Each VM, and whether it has snapshots (its layout is then asked with it).
    pub vms: Vec<(ManagedObjectReference, bool)>,
    pub containers: HashMap<String, Container>,
    /// vApps were found.
    pub vapps: bool,
    /// The datastores of the datacenters, by name.
    pub datastores: HashMap<String, Datastore>,
}

/// Objects a page of the members' call may hold: all of them, at a hundred bytes or so
/// each (a server pages as it likes; each page is a round trip).
const MEMBERS_PAGE: i32 = 1_000_000;

/// The VMs (with whether each has snapshots), folders and datacenters a members' filter
/// reaches. Read straight into that (a reference and a flag per VM): an estate's members
/// are many, and nothing more of them is kept.
pub(super) async fn members(
    client: &std::sync::Arc<Client>,
    filter: PropertyFilterSpec,
) -> Result<Members, VimError> {
    let mut members = Members::default();
    retrieve_each(client, filter, MEMBERS_PAGE, &mut |obj| {
        let props = obj.prop_set.unwrap_or_default();
        match obj.obj.r#type {
            MoTypesEnum::VirtualMachine => {
                let has_snapshots = props.into_iter().any(|p| {
                    p.name == ROOTS_PATH
                        && matches!(
                            p.val,
                            VimAny::Value(ValueElements::ArrayOfManagedObjectReference(ref l))
                                if !l.is_empty()
                        )
                });
                members.vms.push((obj.obj, has_snapshots));
            }
            kind @ (MoTypesEnum::Folder | MoTypesEnum::Datacenter) => {
                let c = container(&kind, props);
                members.containers.insert(obj.obj.value, c);
            }
            MoTypesEnum::VirtualApp => members.vapps = true,
            MoTypesEnum::Datastore => keep_tightest(&mut members.datastores, datastore(props)),
            _ => {}
        }
    })
    .await?;
    Ok(members)
}

/// VMs in the first chunk of the TUI's first load: it shows them as soon as they are read,
/// so it stays small. A command's first chunks are as large as memory allows: the fewer
/// round trips, the sooner it ends.
const FIRST_CHUNK: usize = 500;

/// The fewest VMs a chunk asks for, however heavy the VMs: a bound too small for that many
/// fails the listing with its sentence rather than crawl.
const MIN_CHUNK: usize = 100;

/// The most VMs a chunk asks for.
const MAX_CHUNK: usize = 4_000;

/// The answer a chunk of a large estate is sized for: the memory a listing holds is what
/// it keeps per machine plus the chunks in flight (`IN_FLIGHT`), and at 13,500 VMs on
/// vcsim 768 KiB peaks at 43–44 MB, as chunks of 500 did (1 MiB: 46 MB, 8 MiB: 71 MB).
const CHUNK_BYTES: u64 = 768 * 1024;

/// An estate whose VMs weigh at most this much is read, from a distant server, in as few
/// chunks as there are kinds of VM (with snapshots, without): it keeps little per machine,
/// so it has the room (3,000 VMs on vcsim peak at 41 MB), and it saves the round trips of
/// chunks. From a near server (`NEAR`) it is read by `CHUNK_BYTES` chunks all the same:
/// round trips cost nothing there, and each chunk is mapped while the next ones are made
/// (3,000 VMs on vcsim on loopback: 202 ms against 231 in two chunks).
const WHOLE_BYTES: u64 = 8 * 1024 * 1024;

/// A server that answered the login within this is near: its round trips are cheap next
/// to the time of making and reading a large answer.
pub(super) const NEAR: std::time::Duration = std::time::Duration::from_millis(10);

/// What sizes a listing's chunks: the bound of one answer in bytes (`max_answer_mb`) and
/// whether the server is near (`NEAR`; unknown counts as distant).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Sizing {
    pub answer_bytes: u64,
    pub near: bool,
}

/// Chunks asked for at once, each on a connection of its own (the login opens as many):
/// at a distance a listing waits one round trip for every `IN_FLIGHT` chunks, not for
/// each; the memory held is that of the chunks in flight.
pub(super) const IN_FLIGHT: usize = 3;

/// Bytes of SOAP a VM's properties weigh in an answer without snapshots, what each
/// snapshot adds (its tree node and its part of the layout), and the rest of the layout of
/// a VM with snapshots (its files and disks). Measured on vcsim, rounded up: 1,740 bytes a
/// VM, 440 a snapshot node, a layout of 3 snapshots 2,450.
const VM_BYTES: u64 = 1_800;
const SNAPSHOT_BYTES: u64 = 700;
const LAYOUT_BYTES: u64 = 1_800;

/// The bytes a VM is expected to weigh in a chunk's answer: without snapshots, and with
/// (its tree and layout): measured on the chunks read, or guessed (a chain of three)
/// before the first.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Weights {
    plain: u64,
    with_snapshots: u64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            plain: VM_BYTES,
            with_snapshots: VM_BYTES + LAYOUT_BYTES + 3 * SNAPSHOT_BYTES,
        }
    }
}

impl Weights {
    fn of(&self, has_snapshots: bool) -> u64 {
        if has_snapshots {
            self.with_snapshots
        } else {
            self.plain
        }
    }

    /// Learn from a chunk just read: its VMs with snapshots weigh their trees and
    /// layouts; without any, what was known stays.
    fn learn(&mut self, part: &Pass) {
        let (mut with, mut bytes) = (0u64, 0u64);
        for row in &part.vms {
            let roots = row
                .snapshot
                .as_ref()
                .map_or(&[][..], |s| s.root_snapshot_list.as_slice());
            if roots.is_empty() {
                continue;
            }
            with += 1;
            bytes += VM_BYTES + LAYOUT_BYTES;
            let mut stack: Vec<&VirtualMachineSnapshotTree> = roots.iter().collect();
            while let Some(node) = stack.pop() {
                bytes += SNAPSHOT_BYTES;
                stack.extend(node.child_snapshot_list.iter().flatten());
            }
        }
        if with > 0 {
            self.with_snapshots = bytes.div_ceil(with);
        }
    }
}

/// The chunks of a listing, made as they are asked for: first the VMs without snapshots,
/// then those with (their layouts asked with them), so each chunk is one call of one kind.
/// The first chunk is `FIRST_CHUNK` VMs for the TUI's first load (`show_first`). An estate
/// of a distant server that fits in `WHOLE_BYTES` (and a quarter of the answer bound, room
/// for VMs four times heavier than guessed) is read in `IN_FLIGHT` chunks asked at once,
/// shared between the kinds by their weight (each kind at least one): every connection
/// carries a part, so the server makes them side by side and each is read while the
/// others still arrive. Any other chunk holds what `budget` holds at the weights known when
/// it is made, within `MIN_CHUNK`..=`MAX_CHUNK`.
struct Chunks {
    kinds: [(Ids, bool); 2],
    kind: usize,
    next: usize,
    first: Option<usize>,
    /// For a whole estate: the VMs each chunk of each kind holds.
    whole: Option<[usize; 2]>,
    budget: u64,
    weights: Weights,
}

/// How many of `chunks` chunks each kind gets (a kind with VMs at least one, one without
/// none, the others shared by `bytes`), and so how many VMs each chunk holds.
fn whole_split(counts: [usize; 2], bytes: [u64; 2], chunks: usize) -> [usize; 2] {
    let present = counts.map(|n| usize::from(n > 0));
    let spare = chunks.saturating_sub(present[0] + present[1]);
    // The first kind its share of the spare chunks, rounded; the second the rest.
    let first = match present {
        [0, _] => 0,
        [_, 0] => spare,
        _ => {
            let total = u128::from(bytes[0]) + u128::from(bytes[1]);
            let spare = u128::try_from(spare).unwrap_or(0);
            let share = (2 * u128::from(bytes[0]) * spare + total) / (2 * total).max(1);
            usize::try_from(share).unwrap_or(0)
        }
    };
    let given = [present[0] + first, present[1] * (1 + spare - first)];
    [0, 1].map(|k| counts[k].div_ceil(given[k].max(1)).max(1))
}

impl Chunks {
    fn new(vms: Vec<(ManagedObjectReference, bool)>, show_first: bool, sizing: Sizing) -> Self {
        let answer_bytes = sizing.answer_bytes;
        let weights = Weights::default();
        let total: u64 = vms.iter().map(|(_, s)| weights.of(*s)).sum();
        let (mut plain, mut with) = (Ids::default(), Ids::default());
        for (m, has_snapshots) in vms {
            if has_snapshots { &mut with } else { &mut plain }.push(&m.value);
        }
        let counts = [plain.len(), with.len()];
        let bytes = [0, 1].map(|k| {
            u64::try_from(counts[k])
                .unwrap_or(u64::MAX)
                .saturating_mul(weights.of(k == 1))
        });
        let whole = !show_first && !sizing.near && total <= WHOLE_BYTES.min(answer_bytes / 4);
        Chunks {
            kinds: [(plain, false), (with, true)],
            kind: 0,
            next: 0,
            first: show_first.then_some(FIRST_CHUNK),
            whole: whole.then(|| whole_split(counts, bytes, IN_FLIGHT)),
            budget: CHUNK_BYTES.min(answer_bytes / 4),
            weights,
        }
    }

    /// The next chunk's VMs and whether their layouts are asked, or none left.
    fn next(&mut self) -> Option<(Vec<ManagedObjectReference>, bool)> {
        while self.kind < self.kinds.len() && self.next >= self.kinds[self.kind].0.len() {
            self.kind += 1;
            self.next = 0;
        }
        let (vms, with_layout) = self.kinds.get(self.kind)?;
        let left = vms.len() - self.next;
        let size = if let Some(first) = self.first.take() {
            first
        } else if let Some(per) = self.whole {
            per[self.kind].min(left)
        } else {
            let per_vm = self.weights.of(*with_layout).max(1);
            usize::try_from(self.budget / per_vm)
                .unwrap_or(MAX_CHUNK)
                .clamp(MIN_CHUNK, MAX_CHUNK)
        };
        let end = vms.len().min(self.next + size.max(1));
        let chunk = (self.next..end).map(|i| vms.get(i)).collect();
        self.next = end;
        Some((chunk, *with_layout))
    }
}

/// VM ids held for a whole listing, compact: one string and where each id ends (40,500
/// references held 3.2 MB, their ids held so 0.6 MB).
#[derive(Default)]
struct Ids {
    text: String,
    ends: Vec<usize>,
}

impl Ids {
    fn push(&mut self, id: &str) {
        self.text.push_str(id);
        self.ends.push(self.text.len());
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    /// The `i`th VM's reference (`i < len()`).
    fn get(&self, i: usize) -> ManagedObjectReference {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        moref(MoTypesEnum::VirtualMachine, &self.text[start..self.ends[i]])
    }
}

/// Every VM of the estate (`members`), read a chunk at a time ([`Chunks`]): each answer is
/// bounded whatever the server's paging (vcsim ignores `maxObjects`, a vCenter pages as it
/// likes). `IN_FLIGHT` chunks are asked for at once; as each arrives, in order, its VMs
/// are made machines (by `machine`) and handed to `each`, and the next chunk is asked for.
pub(super) async fn machines_by_chunks(
    client: &std::sync::Arc<Client>,
    members: Members,
    show_first: bool,
    plain: Plain,
    sizing: Sizing,
    machine: impl Fn(&VmRow, &HashMap<String, Container>) -> Machine,
    each: &mut dyn FnMut(Vec<Machine>),
) -> Result<(), VimError> {
    use futures::StreamExt as _;
    let places = members.containers;
    let datastores = members.datastores;
    // An id listed twice names two VMs (a broken or hostile server): both are kept
    // unreadable. Asked once each, so an answer that repeats one is caught per chunk.
    let mut twice = HashSet::new();
    let mut unique = HashSet::new();
    let mut vms = Vec::with_capacity(members.vms.len());
    for (m, has_snapshots) in members.vms {
        if unique.insert(m.value.clone()) {
            vms.push((m, has_snapshots));
        } else {
            twice.insert(m.value);
        }
    }
    drop(unique);
    let mut chunks = Chunks::new(vms, show_first, sizing);
    let read = |(objects, with_layout): (Vec<ManagedObjectReference>, bool)| async move {
        let mut part = Pass::default();
        retrieve_objects(client, &objects, with_layout, plain, &mut part).await?;
        for row in &mut part.vms {
            row.layout_asked = with_layout;
        }
        add_layouts(client, &mut part).await?;
        Ok::<_, VimError>(part)
    };
    let mut in_flight = futures::stream::FuturesOrdered::new();
    loop {
        while in_flight.len() < IN_FLIGHT {
            let Some(chunk) = chunks.next() else { break };
            in_flight.push_back(read(chunk));
        }
        let Some(part) = in_flight.next().await else {
            break;
        };
        let part = part?;
        chunks.weights.learn(&part);
        if part.vms.is_empty() {
            continue;
        }
        let mut machines: Vec<Machine> = part
            .vms
            .iter()
            .map(|row| {
                let mut m = machine(row, &places);
                attach_datastores(&mut m, &datastores);
                m
            })
            .collect();
        drop(part);
        for m in machines.iter_mut().filter(|m| twice.contains(&m.id)) {
            m.set_unreadable(format!("the server lists two VMs with the id {}", m.id));
        }
        crate::model::consistency::refuse_duplicate_ids(&mut machines);
        each(machines);
    }
    Ok(())
}

/// Exactly these VMs' properties (and layouts, `with_layout`), asked in one call (the
/// server may still page it); none, no call.
async fn retrieve_objects(
    client: &std::sync::Arc<Client>,
    objects: &[ManagedObjectReference],
    with_layout: bool,
    plain: Plain,
    pass: &mut Pass,
) -> Result<(), VimError> {
    if objects.is_empty() {
        return Ok(());
    }
    let max = i32::try_from(objects.len()).unwrap_or(i32::MAX).max(PAGE);
    retrieve_paged(
        client,
        objects_filter(objects, with_layout, plain),
        max,
        pass,
    )
    .await
}

/// One VM and all its ancestors (folders and datacenters), without a view.
pub(super) fn one_vm_filter(id: &str) -> PropertyFilterSpec {
    PropertyFilterSpec {
        prop_set: prop_set(true),
        object_set: vec![ObjectSpec {
            obj: moref(MoTypesEnum::VirtualMachine, id),
            skip: Some(false),
            select_set: Some(vec![
                traversal(
                    "vmParent",
                    "VirtualMachine",
                    "parent",
                    &["folderUp", "dcUp"],
                ),
                traversal("folderUp", "Folder", "parent", &["folderUp", "dcUp"]),
                traversal("dcUp", "Datacenter", "parent", &["folderUp"]),
                traversal("vmDatastores", "VirtualMachine", "datastore", &[]),
            ]),
        }],
        report_missing_objects_in_results: None,
    }
}

/// The layouts of the given VMs (listed one by one, no traversal). A VM removed since the
/// first pass is reported missing instead of failing the whole call.
pub(super) fn layout_filter(ids: &[&str]) -> PropertyFilterSpec {
    PropertyFilterSpec {
        prop_set: vec![spec("VirtualMachine", &[LAYOUT_PATH])],
        object_set: ids
            .iter()
            .map(|id| ObjectSpec {
                obj: moref(MoTypesEnum::VirtualMachine, id),
                skip: None,
                select_set: None,
            })
            .collect(),
        report_missing_objects_in_results: Some(true),
    }
}

/// The watch filter for live updates: the watched VM properties through a container view.
pub(super) fn watch_filter(view: &ManagedObjectReference) -> PropertyFilterSpec {
    let mut f = view_filter(view);
    f.prop_set = vec![spec("VirtualMachine", WATCHED_PATHS)];
    f
}

/// Run a filter through RetrievePropertiesEx, following continuation tokens to the end.
pub(super) async fn retrieve(
    client: &std::sync::Arc<Client>,
    filter: PropertyFilterSpec,
) -> Result<Pass, VimError> {
    let mut pass = Pass::default();
    retrieve_paged(client, filter, PAGE, &mut pass).await?;
    Ok(pass)
}

/// Like [`retrieve`], into `pass`, asking pages of up to `max_objects`.
async fn retrieve_paged(
    client: &std::sync::Arc<Client>,
    filter: PropertyFilterSpec,
    max_objects: i32,
    pass: &mut Pass,
) -> Result<(), VimError> {
    retrieve_each(client, filter, max_objects, &mut |obj| absorb(pass, obj)).await
}

/// Run a filter through RetrievePropertiesEx, pages of up to `max_objects`, following
/// continuation tokens to the end, each object handed to `each` as its page is read.
async fn retrieve_each(
    client: &std::sync::Arc<Client>,
    filter: PropertyFilterSpec,
    max_objects: i32,
    each: &mut dyn FnMut(ObjectContent),
) -> Result<(), VimError> {
    let pc = PropertyCollector::new(
        client.clone(),
        &client.service_content().property_collector.value,
    );
    let options = RetrieveOptions {
        max_objects: Some(max_objects),
    };
    let Some(mut page) = pc.retrieve_properties_ex(&[filter], &options).await? else {
        return Ok(());
    };
    loop {
        for obj in page.objects {
            each(obj);
        }
        match page.token {
            Some(token) => page = pc.continue_retrieve_properties_ex(&token).await?,
            None => break,
        }
    }
    Ok(())
}

/// The layouts of a chunk's VMs that have snapshots and were not asked for theirs (they
/// had none when the members were read), or whose disk chains hold a delta, in one call
/// for the chunk (never a call per VM).
/// A VM without a layout afterwards simply shows no sizes.
async fn add_layouts(client: &std::sync::Arc<Client>, pass: &mut Pass) -> Result<(), VimError> {
    let index: HashMap<String, usize> = pass
        .vms
        .iter()
        .enumerate()
        .filter(|(_, row)| row.wants_layout())
        .map(|(i, row)| (row.id.clone(), i))
        .collect();
    if index.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = index.keys().map(String::as_str).collect();
    let max = i32::try_from(ids.len()).unwrap_or(i32::MAX).max(PAGE);
    let mut layouts = Pass::default();
    retrieve_paged(client, layout_filter(&ids), max, &mut layouts).await?;
    for row in layouts.vms {
        if let Some(&i) = index.get(&row.id) {
            pass.vms[i].layout = row.layout;
        }
    }
    Ok(())
}

/// Sort one object of a page into the pass; unknown or unreadable properties are skipped.
fn absorb(pass: &mut Pass, obj: ObjectContent) {
    let id = obj.obj.value.clone();
    let props = obj.prop_set.unwrap_or_default();
    match obj.obj.r#type {
        MoTypesEnum::VirtualMachine => {
            let mut row = VmRow {
                id,
                ..VmRow::default()
            };
            for p in props {
                match p.name.as_str() {
                    "name" => row.name = take(p.val),
                    "parent" => row.parent = take::<ManagedObjectReference>(p.val).map(|m| m.value),
                    "runtime.powerState" => row.power = take(p.val),
                    "runtime.consolidationNeeded" => row.consolidation_needed = take(p.val),
                    "guest.toolsRunningStatus" => row.tools_status = take(p.val),
                    MEMORY_MB => row.memory_mb = take(p.val),
                    CAP_SNAPSHOTS => row.capability.snapshots = take(p.val),
                    CAP_TREE => row.capability.tree = take(p.val),
                    CAP_MEMORY => row.capability.memory = take(p.val),
                    CAP_QUIESCE => row.capability.quiesce = take(p.val),
                    "snapshot" => row.snapshot = take(p.val),
                    LAYOUT_PATH => row.layout = take(p.val),
                    CHAINS_PATH => row.chains = take(p.val),
                    _ => {}
                }
            }
            pass.vms.push(row);
        }
        MoTypesEnum::Datastore => keep_tightest(&mut pass.datastores, datastore(props)),
        kind @ (MoTypesEnum::Folder | MoTypesEnum::Datacenter) => {
            pass.containers.insert(id, container(&kind, props));
        }
        _ => {}
    }
}

/// Add a datastore by name. Names are unique within a datacenter only: of two with one name,
/// the one with less free space stands for both (a file's `[name]` does not say which), so
/// a room check errs on the safe side.
fn keep_tightest(known: &mut HashMap<String, Datastore>, d: Datastore) {
    let tighter = known
        .get(&d.name)
        .is_none_or(|k| match (d.free_bytes, k.free_bytes) {
            (Some(new), Some(old)) => new < old,
            (new, old) => new.is_some() || old.is_none(),
        });
    if tighter {
        known.insert(d.name.clone(), d);
    }
}

/// A datastore from its `name` and `summary` (a sum the server does not give is unknown).
fn datastore(props: Vec<DynamicProperty>) -> Datastore {
    let mut d = Datastore {
        name: String::new(),
        free_bytes: None,
        capacity_bytes: None,
    };
    for p in props {
        let bytes = |v: VimAny| take::<i64>(v).and_then(|n| u64::try_from(n).ok());
        match p.name.as_str() {
            "name" => d.name = take(p.val).unwrap_or_default(),
            "summary.freeSpace" => d.free_bytes = bytes(p.val),
            "summary.capacity" => d.capacity_bytes = bytes(p.val),
            _ => {}
        }
    }
    d
}

/// A folder or datacenter from its `name` and `parent`.
fn container(kind: &MoTypesEnum, props: Vec<DynamicProperty>) -> Container {
    let mut name = None;
    let mut parent = None;
    for p in props {
        match p.name.as_str() {
            "name" => name = take::<String>(p.val),
            "parent" => parent = take::<ManagedObjectReference>(p.val).map(|m| m.value),
            _ => {}
        }
    }
    Container {
        name: name.unwrap_or_default(),
        parent,
        is_datacenter: *kind == MoTypesEnum::Datacenter,
    }
}

/// Location (datacenter and folders, without the datacenter's `vm` folder) and full path.
pub(super) fn location_and_path(
    vm_name: &str,
    parent: Option<&str>,
    containers: &HashMap<String, Container>,
) -> (Vec<String>, String) {
    // Walk up to the root folder (the one without a parent), which is not part of paths.
    let mut chain: Vec<&Container> = Vec::new();
    let mut next = parent;
    while let Some(id) = next {
        let Some(c) = containers.get(id) else { break };
        if c.parent.is_none() {
            break;
        }
        chain.push(c);
        next = c.parent.as_deref();
        if chain.len() > 64 {
            break; // a cycle would be a server bug; do not loop forever on it
        }
    }
    chain.reverse();
    let mut location = Vec::new();
    let mut after_datacenter = false;
    for c in &chain {
        if !after_datacenter || c.is_datacenter {
            location.push(c.name.clone());
        }
        after_datacenter = c.is_datacenter;
    }
    let mut path = String::new();
    for c in &chain {
        path.push('/');
        path.push_str(&c.name);
    }
    path.push('/');
    path.push_str(vm_name);
    (location, path)
}

fn power(p: &VirtualMachinePowerStateEnum) -> PowerState {
    match p {
        VirtualMachinePowerStateEnum::PoweredOn => PowerState::PoweredOn,
        VirtualMachinePowerStateEnum::PoweredOff => PowerState::PoweredOff,
        VirtualMachinePowerStateEnum::Suspended => PowerState::Suspended,
        VirtualMachinePowerStateEnum::Other_(_) => PowerState::Unknown,
    }
}

/// An `xsd:dateTime` as UTC; servers differ in fraction digits and zone spelling.
pub(super) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|n| n.and_utc())
        })
}

/// Map one row into a `Machine` of `profile`.
pub(super) fn machine(
    profile: &str,
    row: &VmRow,
    containers: &HashMap<String, Container>,
) -> Machine {
    let name = row.name.clone().unwrap_or_else(|| row.id.clone());
    let (location, path) = location_and_path(&name, row.parent.as_deref(), containers);
    // A tree deeper than snaptree reads is not mapped at all (the sizes and the mapping
    // below recurse once per level): the machine is listed, unreadable, with why.
    let deep = row.snapshot.as_ref().is_some_and(|info| {
        tree_depth(&info.root_snapshot_list, |t| {
            t.child_snapshot_list.as_deref().unwrap_or(&[])
        }) > MAX_DEPTH
    });
    let tree = row.snapshot.as_ref().filter(|_| !deep);
    let roots = tree.map_or(&[][..], |i| &i.root_snapshot_list);
    // Which snapshot owns which file, worked out once for the sizes and the storage. A tree
    // too deep to read leaves its files' owners unknown.
    let layout = row.layout.as_ref().filter(|_| !deep);
    let owned = layout.map(|l| owned_files(l, roots));
    let sizes = match (layout, &owned, tree) {
        (Some(layout), Some(owned), Some(info)) => snapshot_sizes(
            layout,
            owned,
            info.current_snapshot.as_ref().map(|m| m.value.as_str()),
        ),
        _ => HashMap::new(),
    };
    let memory_keys: HashMap<String, bool> = row
        .layout
        .as_ref()
        .and_then(|l| l.snapshot.as_ref())
        .map(|snaps| {
            snaps
                .iter()
                .map(|s| (s.key.value.clone(), s.memory_key >= 0))
                .collect()
        })
        .unwrap_or_default();
    let snapshots: Vec<Snapshot> = tree
        .map(|info| {
            info.root_snapshot_list
                .iter()
                .map(|t| snapshot(t, &sizes, &memory_keys))
                .collect()
        })
        .unwrap_or_default();
    let current = tree
        .and_then(|i| i.current_snapshot.as_ref())
        .map(|m| m.value.clone());
    let defaults = Capabilities::vsphere();
    let flags = &row.capability;
    let capabilities = Capabilities {
        snapshots: flags.snapshots.unwrap_or(defaults.snapshots),
        tree: flags.tree.unwrap_or(defaults.tree),
        memory: flags.memory.unwrap_or(defaults.memory),
        quiesce: flags.quiesce.unwrap_or(defaults.quiesce),
        ..defaults
    };
    let mut details = vec![("moref".to_string(), row.id.clone())];
    // Sizes are per snapshot: without any, the layout's age says nothing (and the inventory
    // does not read the layout of such VMs at all).
    if let Some(ts) = row.layout.as_ref().map(|l| l.timestamp.clone())
        && !snapshots.is_empty()
    {
        // One date format on screen: the server's RFC 3339 stamp as `YYYY-MM-DD HH:MM UTC`.
        let shown = chrono::DateTime::parse_from_rfc3339(&ts).map_or(ts, |t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M UTC")
                .to_string()
        });
        details.push(("sizes as of".to_string(), shown));
    }
    let storage = layout
        .zip(owned.as_ref())
        .map(|(l, owned)| storage_of(l, owned, !roots.is_empty()))
        .filter(|s| !s.is_empty())
        .map(Box::new);
    let mut m = Machine {
        backups: None,
        storage,
        profile: profile.to_string(),
        provider: ProviderKind::Vsphere,
        id: row.id.clone(),
        name,
        location,
        path,
        power_state: row.power.as_ref().map(power).unwrap_or(PowerState::Unknown),
        tools: GuestTools::of_vsphere(row.tools_status.as_deref().unwrap_or_default()),
        consolidation_needed: row.consolidation_needed.unwrap_or(false),
        snapshot_option: None,
        snapshots,
        current,
        capabilities,
        details,
        loaded: true,
        running_tasks: Vec::new(),
        memory_mb: row.memory_mb.and_then(|mb| u64::try_from(mb).ok()),
        instance: None,
        unreadable: None,
        clock_offset_secs: 0,
    };
    if deep {
        let why = too_deep();
        m.set_unreadable(why);
    }
    m.vetted()
}

fn snapshot(
    t: &VirtualMachineSnapshotTree,
    sizes: &HashMap<String, u64>,
    memory_keys: &HashMap<String, bool>,
) -> Snapshot {
    let id = t.snapshot.value.clone();
    let power_state = power(&t.state);
    // The memory file is the reliable signal; `state` alone says poweredOn on some servers
    // (vcsim) even for disk-only snapshots.
    let memory =
        power_state == PowerState::PoweredOn && memory_keys.get(&id).copied().unwrap_or(true);
    Snapshot {
        name: t.name.clone(),
        description: t.description.clone(),
        created: parse_time(&t.create_time).unwrap_or(DateTime::UNIX_EPOCH),
        power_state,
        memory,
        quiesced: t.quiesced,
        size_bytes: sizes.get(&id).copied(),
        created_by: None,
        children: t
            .child_snapshot_list
            .as_ref()
            .map(|c| c.iter().map(|t| snapshot(t, sizes, memory_keys)).collect())
            .unwrap_or_default(),
        id,
    }
}

fn chain_files(disks: Option<&Vec<VirtualMachineFileLayoutExDiskLayout>>) -> HashSet<i32> {
    disks
        .into_iter()
        .flatten()
        .flat_map(|d| d.chain.iter().flatten())
        .flat_map(|u| u.file_key.iter().copied())
        .collect()
}

fn base_files(disks: Option<&Vec<VirtualMachineFileLayoutExDiskLayout>>) -> HashSet<i32> {
    disks
        .into_iter()
        .flatten()
        .filter_map(|d| d.chain.as_ref().and_then(|c| c.first()))
        .flat_map(|u| u.file_key.iter().copied())
        .collect()
}

/// The disk-chain files each snapshot owns: those its chains hold that its parent's do not
/// (a root leaves out the base disks); and every file some snapshot's chains list.
pub(super) struct Owned<'a> {
    by_snapshot: HashMap<&'a str, HashSet<i32>>,
    listed: HashSet<i32>,
    /// Every snapshot of the tree has its layout (a server may leave some out): only then
    /// does a file no snapshot lists belong to none.
    complete: bool,
}

pub(super) fn owned_files<'a>(
    layout: &'a VirtualMachineFileLayoutEx,
    roots: &'a [VirtualMachineSnapshotTree],
) -> Owned<'a> {
    let layouts: HashMap<&str, _> = layout
        .snapshot
        .iter()
        .flatten()
        .map(|s| (s.key.value.as_str(), s))
        .collect();
    let mut out = Owned {
        by_snapshot: HashMap::new(),
        listed: HashSet::new(),
        complete: true,
    };
    let mut stack: Vec<(&VirtualMachineSnapshotTree, Option<&str>)> =
        roots.iter().map(|t| (t, None)).collect();
    while let Some((node, parent)) = stack.pop() {
        let id = node.snapshot.value.as_str();
        for child in node.child_snapshot_list.iter().flatten() {
            stack.push((child, Some(id)));
        }
        let Some(own_layout) = layouts.get(id) else {
            out.complete = false;
            continue;
        };
        let mine = chain_files(own_layout.disk.as_ref());
        out.listed.extend(mine.iter().copied());
        let inherited = match parent {
            None => base_files(own_layout.disk.as_ref()),
            Some(p) => match layouts.get(p) {
                Some(pl) => chain_files(pl.disk.as_ref()),
                None => continue,
            },
        };
        let own: HashSet<i32> = mine.difference(&inherited).copied().collect();
        out.by_snapshot.insert(id, own);
    }
    out
}

/// Disk space owned by each snapshot, from `layoutEx`: its data and memory files, plus the
/// disk-chain files its parent's chains do not contain (a root leaves out the base disks);
/// the current snapshot also owns the live delta files that no snapshot lists.
pub(super) fn snapshot_sizes(
    layout: &VirtualMachineFileLayoutEx,
    owned: &Owned<'_>,
    current: Option<&str>,
) -> HashMap<String, u64> {
    let size_of: HashMap<i32, u64> = layout
        .file
        .iter()
        .flatten()
        .map(|f| (f.key, u64::try_from(f.size).unwrap_or(0)))
        .collect();
    let sum = |keys: &HashSet<i32>| keys.iter().filter_map(|k| size_of.get(k)).sum::<u64>();
    let mut out = HashMap::new();
    for s in layout.snapshot.iter().flatten() {
        let id = s.key.value.as_str();
        let Some(own) = owned.by_snapshot.get(id) else {
            continue;
        };
        let mut size = sum(own);
        for key in [s.data_key, s.memory_key] {
            if key >= 0 {
                size += size_of.get(&key).copied().unwrap_or(0);
            }
        }
        out.insert(id.to_string(), size);
    }
    if let Some(cur) = current
        && let Some(size) = out.get_mut(cur)
    {
        let live: HashSet<i32> = chain_files(layout.disk.as_ref())
            .difference(&owned.listed)
            .copied()
            .collect();
        *size += sum(&live);
    }
    out
}

/// What a VM's layout says of its disks: the delta disks its running chains hold that no
/// snapshot owns (phantom deltas), and the delta bytes each snapshot, and the running VM,
/// own on each datastore (what deleting them merges). The datastores' free space is not in
/// the layout: [`attach_datastores`] adds it. `has_snapshots`: the top of each chain is
/// then the running delta.
pub(super) fn storage_of<'a>(
    layout: &'a VirtualMachineFileLayoutEx,
    owned: &Owned<'a>,
    has_snapshots: bool,
) -> Storage {
    let files: HashMap<i32, &vim_rs::types::structs::VirtualMachineFileLayoutExFileInfo> =
        layout.file.iter().flatten().map(|f| (f.key, f)).collect();
    let mut storage = Storage::default();
    // Delta bytes by owner and datastore.
    let mut bytes: std::collections::BTreeMap<(Option<&'a str>, &'a str), u64> = Default::default();
    let mut add = |owner: Option<&'a str>, keys: &mut dyn Iterator<Item = i32>| {
        for f in keys.filter_map(|k| files.get(&k)) {
            let Some(ds) = datastore_of(&f.name) else {
                continue;
            };
            let n = bytes.entry((owner, ds)).or_default();
            *n = n.saturating_add(u64::try_from(f.size).unwrap_or(0));
        }
    };
    for (id, own) in &owned.by_snapshot {
        add(Some(*id), &mut own.iter().copied());
    }
    // The VM's own directory, where its `.vmx` is: a chain whose first disks lie elsewhere
    // is a linked clone's (its parent's disks, then its own delta, which is its disk).
    let own_dir = files
        .values()
        .find(|f| f.r#type == "config")
        .and_then(|f| f.name.rsplit_once('/'))
        .map(|(dir, _)| dir);
    let in_own_dir = |unit: &vim_rs::types::structs::VirtualMachineFileLayoutExDiskUnit| {
        own_dir.is_none_or(|dir| {
            unit.file_key
                .iter()
                .filter_map(|k| files.get(k))
                .any(|f| f.name.rsplit_once('/').is_some_and(|(d, _)| d == dir))
        })
    };
    for d in layout.disk.iter().flatten() {
        let chain = d.chain.as_deref().unwrap_or(&[]);
        let base = chain.iter().position(in_own_dir).unwrap_or(0);
        for (k, unit) in chain.iter().enumerate().skip(base + 1) {
            let keys = &unit.file_key;
            if keys.iter().any(|f| owned.listed.contains(f)) {
                continue;
            }
            add(None, &mut keys.iter().copied());
            let running = has_snapshots && k + 1 == chain.len();
            if running || !owned.complete {
                continue;
            }
            // Its descriptor names it (a unit is a descriptor and its extents).
            let named = keys
                .iter()
                .filter_map(|k| files.get(k))
                .find(|f| f.r#type == "diskDescriptor")
                .or_else(|| keys.iter().find_map(|k| files.get(k)));
            if let Some(f) = named {
                storage.phantom_deltas.push(PhantomDelta {
                    disk: d.key,
                    file: f.name.clone(),
                });
            }
        }
    }
    let mut names: Vec<&str> = Vec::new();
    for ((owner, ds), n) in bytes {
        if !names.contains(&ds) {
            names.push(ds);
        }
        storage.deltas.push(Delta {
            snapshot: owner.map(str::to_string),
            datastore: ds.to_string(),
            bytes: n,
        });
    }
    storage.datastores = names
        .into_iter()
        .map(|name| Datastore {
            name: name.to_string(),
            free_bytes: None,
            capacity_bytes: None,
        })
        .collect();
    storage
}

/// Fill in the free space of the datastores a machine's files are on, from those read with
/// the inventory.
pub(super) fn attach_datastores(m: &mut Machine, known: &HashMap<String, Datastore>) {
    let Some(storage) = m.storage.as_deref_mut() else {
        return;
    };
    for d in &mut storage.datastores {
        if let Some(k) = known.get(&d.name) {
            d.free_bytes = k.free_bytes;
            d.capacity_bytes = k.capacity_bytes;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vim_rs::types::structs::{
        VirtualMachineFileLayoutExDiskUnit, VirtualMachineFileLayoutExFileInfo,
        VirtualMachineFileLayoutExSnapshotLayout,
    };

    /// A real vCenter's `RetrieveResult` (tests/fixtures/vijson) read as live answers are:
    /// vim_rs's VI/JSON decoding, then `absorb`.
    #[test]
    fn a_real_vcenter_retrieve_result_decodes_through_the_inventory_path() {
        let body = include_str!("../../../../../tests/fixtures/vijson/retrieveResult.json");
        let result: vim_rs::types::structs::RetrieveResult =
            miniserde::json::from_str(body).expect("vim_rs decodes vCenter's RetrieveResult");
        assert_eq!(result.objects.len(), 1);
        let mut pass = Pass::default();
        for obj in result.objects {
            absorb(&mut pass, obj);
        }
        let root = &pass.containers["group-d1"];
        assert_eq!(root.name, "Datacenters");
        assert!(!root.is_datacenter && root.parent.is_none());
    }

    #[test]
    fn a_real_vcenter_config_info_decodes() {
        let body = include_str!("../../../../../tests/fixtures/vijson/vminfo.json");
        let info: vim_rs::types::structs::VirtualMachineConfigInfo =
            miniserde::json::from_str(body).expect("vim_rs decodes vCenter's config info");
        assert_eq!(info.name, "test");
        assert_eq!(info.annotation.as_deref(), Some("Hello, world."));
        assert_eq!(
            info.files.vm_path_name.as_deref(),
            Some("[datastore1] test/test.vmx")
        );
    }

    fn c(name: &str, parent: Option<&str>, dc: bool) -> Container {
        Container {
            name: name.into(),
            parent: parent.map(String::from),
            is_datacenter: dc,
        }
    }

    #[test]
    fn paths_skip_root_and_vm_folder_in_location() {
        let mut m = HashMap::new();
        m.insert("group-d1".to_string(), c("Datacenters", None, false));
        m.insert("f-1".to_string(), c("EU", Some("group-d1"), false));
        m.insert("dc-1".to_string(), c("DC0", Some("f-1"), true));
        m.insert("group-v1".to_string(), c("vm", Some("dc-1"), false));
        m.insert("f-2".to_string(), c("web", Some("group-v1"), false));
        let (loc, path) = location_and_path("web-01", Some("f-2"), &m);
        assert_eq!(path, "/EU/DC0/vm/web/web-01");
        assert_eq!(loc, vec!["EU", "DC0", "web"]);
        let (loc, path) = location_and_path("x", None, &m);
        assert_eq!((loc.len(), path.as_str()), (0, "/x"));
    }

    #[test]
    fn times_parse_with_and_without_zone() {
        assert!(parse_time("2026-11-01T10:00:00.123456Z").is_some());
        assert!(parse_time("2026-11-01T10:00:00+02:00").is_some());
        assert!(parse_time("2026-11-01T10:00:00.5").is_some());
        assert!(parse_time("yesterday").is_none());
    }

    fn file(key: i32, size: i64) -> VirtualMachineFileLayoutExFileInfo {
        VirtualMachineFileLayoutExFileInfo {
            key,
            name: format!("f{key}"),
            r#type: "diskExtent".into(),
            size,
            unique_size: None,
            backing_object_id: None,
            accessible: None,
        }
    }

    #[allow(clippy::unnecessary_wraps, reason = "shaped as the field it fills")]
    fn disk(chain: &[&[i32]]) -> Option<Vec<VirtualMachineFileLayoutExDiskLayout>> {
        Some(vec![VirtualMachineFileLayoutExDiskLayout {
            key: 2000,
            virtual_disk_format: None,
            chain: Some(
                chain
                    .iter()
                    .map(|keys| VirtualMachineFileLayoutExDiskUnit {
                        file_key: keys.to_vec(),
                    })
                    .collect(),
            ),
        }])
    }

    fn tree(id: &str, children: Vec<VirtualMachineSnapshotTree>) -> VirtualMachineSnapshotTree {
        VirtualMachineSnapshotTree {
            snapshot: moref(MoTypesEnum::VirtualMachineSnapshot, id),
            vm: moref(MoTypesEnum::VirtualMachine, "vm-1"),
            name: id.into(),
            description: String::new(),
            id: 1,
            create_time: "2026-11-01T10:00:00Z".into(),
            state: VirtualMachinePowerStateEnum::PoweredOff,
            quiesced: false,
            backup_manifest: None,
            child_snapshot_list: (!children.is_empty()).then_some(children),
            replay_supported: None,
        }
    }

    #[test]
    fn sizes_follow_the_chain_algorithm() {
        // base disk 1 (1000), s1 → delta 2 (100), s2 → delta 3 (10), live delta 4 (1).
        // data files 11, 12; s2 has a memory file 13.
        let snap = |id: &str, data: i32, mem: i32, chain: &[&[i32]]| {
            VirtualMachineFileLayoutExSnapshotLayout {
                key: moref(MoTypesEnum::VirtualMachineSnapshot, id),
                data_key: data,
                memory_key: mem,
                disk: disk(chain),
            }
        };
        let layout = VirtualMachineFileLayoutEx {
            file: Some(vec![
                file(1, 1000),
                file(2, 100),
                file(3, 10),
                file(4, 1),
                file(11, 5),
                file(12, 6),
                file(13, 50),
            ]),
            disk: disk(&[&[1], &[2], &[3], &[4]]),
            snapshot: Some(vec![
                snap("s1", 11, -1, &[&[1]]),
                snap("s2", 12, 13, &[&[1], &[2]]),
            ]),
            timestamp: "2026-11-01T10:00:00Z".into(),
        };
        let roots = vec![tree("s1", vec![tree("s2", vec![])])];
        let sizes = snapshot_sizes(&layout, &owned_files(&layout, &roots), Some("s2"));
        assert_eq!(sizes["s1"], 5); // data only: the base disk is not the snapshot's
        // data 6 + memory 50 + delta 2 (100) + live deltas 3 and 4 (11), as current.
        assert_eq!(sizes["s2"], 6 + 50 + 100 + 11);
    }

    fn named(key: i32, name: &str, kind: &str, size: i64) -> VirtualMachineFileLayoutExFileInfo {
        VirtualMachineFileLayoutExFileInfo {
            name: name.into(),
            r#type: kind.into(),
            ..file(key, size)
        }
    }

    fn snap_layout(id: &str, chain: &[&[i32]]) -> VirtualMachineFileLayoutExSnapshotLayout {
        VirtualMachineFileLayoutExSnapshotLayout {
            key: moref(MoTypesEnum::VirtualMachineSnapshot, id),
            data_key: -1,
            memory_key: -1,
            disk: disk(chain),
        }
    }

    /// What `machine` reads of a layout and its tree.
    fn storage(
        layout: &VirtualMachineFileLayoutEx,
        roots: &[VirtualMachineSnapshotTree],
    ) -> Storage {
        storage_of(layout, &owned_files(layout, roots), !roots.is_empty())
    }

    fn phantoms(storage: &Storage) -> Vec<&str> {
        storage
            .phantom_deltas
            .iter()
            .map(|p| p.file.as_str())
            .collect()
    }

    fn layout_of(
        files: Vec<VirtualMachineFileLayoutExFileInfo>,
        chain: &[&[i32]],
        snapshots: Option<Vec<VirtualMachineFileLayoutExSnapshotLayout>>,
    ) -> VirtualMachineFileLayoutEx {
        VirtualMachineFileLayoutEx {
            file: Some(files),
            disk: disk(chain),
            snapshot: snapshots,
            timestamp: "2026-11-01T10:00:00Z".into(),
        }
    }

    #[test]
    fn of_two_datastores_with_one_name_the_one_with_less_room_stands() {
        let ds = |free: Option<u64>| Datastore {
            name: "ds1".into(),
            free_bytes: free,
            capacity_bytes: None,
        };
        let mut known = HashMap::new();
        for free in [None, Some(50), Some(10), Some(30), None] {
            keep_tightest(&mut known, ds(free));
        }
        assert_eq!(known["ds1"].free_bytes, Some(10));
    }

    #[test]
    fn a_printed_listing_asks_a_plain_vm_its_chains_not_what_only_a_take_reads() {
        let paths = |with_layout, plain| vm_spec(with_layout, plain).path_set.unwrap_or_default();
        let printed = paths(false, Plain::Printed);
        assert!(
            printed.iter().all(|p| !TAKE_ONLY.contains(&p.as_str())),
            "{printed:?}"
        );
        assert!(printed.iter().any(|p| p == CHAINS_PATH));
        assert!(printed.iter().any(|p| p == "snapshot"));
        // The TUI and a change's lookup read it whole; a VM with snapshots always is.
        for (with_layout, plain) in [(false, Plain::Whole), (true, Plain::Printed)] {
            let all = paths(with_layout, plain);
            assert!(
                VM_PATHS.iter().all(|p| all.iter().any(|a| a == p)),
                "{all:?}"
            );
            let extra = if with_layout {
                LAYOUT_PATH
            } else {
                CHAINS_PATH
            };
            assert_eq!(all.last().map(String::as_str), Some(extra));
        }
    }

    #[test]
    fn a_delta_no_snapshot_owns_is_a_phantom() {
        // `parent`: the directory of the base disk (a linked clone's is another VM's).
        let files = |parent: &str| {
            vec![
                named(0, "[ds1] web/web.vmx", "config", 3),
                named(
                    1,
                    &format!("[ds1] {parent}/{parent}.vmdk"),
                    "diskDescriptor",
                    1,
                ),
                named(
                    2,
                    &format!("[ds1] {parent}/{parent}-flat.vmdk"),
                    "diskExtent",
                    1000,
                ),
                named(3, "[ds1] web/web-000001.vmdk", "diskDescriptor", 1),
                named(4, "[ds2] web/web-000001-sesparse.vmdk", "diskExtent", 70),
                named(5, "[ds1] web/web-000002.vmdk", "diskDescriptor", 1),
            ]
        };
        // No snapshot, yet the VM runs on a delta.
        let s = storage(&layout_of(files("web"), &[&[1, 2], &[3, 4]], None), &[]);
        assert_eq!(phantoms(&s), ["[ds1] web/web-000001.vmdk"]);
        assert_eq!(s.phantom_deltas[0].disk, 2000);
        // Its bytes are the running delta's, on each datastore it spans.
        let running: Vec<(&str, u64)> = s
            .deltas
            .iter()
            .filter(|d| d.snapshot.is_none())
            .map(|d| (d.datastore.as_str(), d.bytes))
            .collect();
        assert_eq!(running, [("ds1", 1), ("ds2", 70)]);
        // A base disk alone is no phantom.
        let plain = storage(&layout_of(files("web"), &[&[1, 2]], None), &[]);
        assert!(plain.phantom_deltas.is_empty());
        // A linked clone: its parent's disk first, then its own delta, which is its disk.
        let clone = storage(&layout_of(files("golden"), &[&[1, 2], &[3, 4]], None), &[]);
        assert!(clone.phantom_deltas.is_empty());
        // … and a delta below its own is a phantom again.
        let clone = layout_of(files("golden"), &[&[1, 2], &[3, 4], &[5]], None);
        assert_eq!(
            phantoms(&storage(&clone, &[])),
            ["[ds1] web/web-000002.vmdk"]
        );
    }

    #[test]
    fn with_snapshots_only_a_delta_between_theirs_and_the_running_one_is_a_phantom() {
        // s1 froze base 1, s2 froze delta 2; the running delta is 4; 3 belongs to nobody.
        let files = || {
            vec![
                named(0, "[ds1] vm/vm.vmx", "config", 3),
                named(1, "[ds1] vm/vm.vmdk", "diskDescriptor", 1000),
                named(2, "[ds1] vm/vm-000001.vmdk", "diskDescriptor", 100),
                named(3, "[ds1] vm/vm-000002.vmdk", "diskDescriptor", 10),
                named(4, "[ds1] vm/vm-000003.vmdk", "diskDescriptor", 1),
            ]
        };
        let both = || {
            Some(vec![
                snap_layout("s1", &[&[1]]),
                snap_layout("s2", &[&[1], &[2]]),
            ])
        };
        let roots = vec![tree("s1", vec![tree("s2", vec![])])];
        let s = storage(
            &layout_of(files(), &[&[1], &[2], &[3], &[4]], both()),
            &roots,
        );
        assert_eq!(phantoms(&s), ["[ds1] vm/vm-000002.vmdk"]);
        let owned: Vec<(Option<&str>, u64)> = s
            .deltas
            .iter()
            .map(|d| (d.snapshot.as_deref(), d.bytes))
            .collect();
        assert_eq!(owned, [(None, 11), (Some("s2"), 100)]);
        // Without s2's layout the owners are not known: nothing is called a phantom.
        let partial = Some(vec![snap_layout("s1", &[&[1]])]);
        let s = storage(
            &layout_of(files(), &[&[1], &[2], &[3], &[4]], partial),
            &roots,
        );
        assert!(s.phantom_deltas.is_empty());
        // The chain as it should be (no 3): no phantom.
        let s = storage(&layout_of(files(), &[&[1], &[2], &[4]], both()), &roots);
        assert!(s.phantom_deltas.is_empty());
    }

    /// A whole estate's chunks: as many as connections, shared by weight, each kind with VMs
    /// at least one.
    #[test]
    fn a_whole_estate_is_split_by_weight_over_the_connections() {
        // Only VMs without snapshots: all three connections carry a third.
        assert_eq!(whole_split([3_000, 0], [5_400_000, 0], 3)[0], 1_000);
        // Mostly heavy VMs with snapshots: two chunks for them, one for the rest.
        assert_eq!(whole_split([100, 900], [180_000, 5_130_000], 3), [100, 450]);
        // Fewer chunks than kinds would leave a kind out: each still gets one.
        assert_eq!(whole_split([10, 10], [1, 1], 1), [10, 10]);
        // Nothing to read.
        assert_eq!(whole_split([0, 0], [0, 0], 3), [1, 1]);
    }

    /// The chunks' sizes for 2,700 VMs without snapshots and 300 with.
    fn chunk_sizes(show_first: bool, near: bool) -> Vec<(usize, bool)> {
        let vms = (0..3_000)
            .map(|i| {
                (
                    moref(MoTypesEnum::VirtualMachine, &format!("vm-{i}")),
                    i % 10 == 0,
                )
            })
            .collect();
        let sizing = Sizing {
            answer_bytes: 64 * 1024 * 1024,
            near,
        };
        let mut chunks = Chunks::new(vms, show_first, sizing);
        std::iter::from_fn(|| chunks.next().map(|(c, layout)| (c.len(), layout))).collect()
    }

    #[test]
    fn chunks_ask_for_each_vm_once_plain_ones_first() {
        let vms = ["vm-1", "vm-22", "vm-333", "vm-4"]
            .iter()
            .map(|id| (moref(MoTypesEnum::VirtualMachine, id), *id == "vm-22"))
            .collect();
        let sizing = Sizing {
            answer_bytes: 64 * 1024 * 1024,
            near: false,
        };
        let mut chunks = Chunks::new(vms, false, sizing);
        let asked: Vec<(Vec<String>, bool)> = std::iter::from_fn(|| chunks.next())
            .map(|(c, layout)| (c.into_iter().map(|m| m.value).collect(), layout))
            .collect();
        let ids = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            asked,
            [
                (ids(&["vm-1", "vm-333", "vm-4"]), false),
                (ids(&["vm-22"]), true)
            ]
        );
    }

    #[test]
    fn a_small_estate_is_shared_over_the_connections_from_afar_and_chunked_from_near() {
        // From afar, the whole estate at once, a part on each connection: the plain VMs
        // (seven tenths of the bytes) on two, the VMs with snapshots on one.
        assert_eq!(
            chunk_sizes(false, false),
            [(1_350, false), (1_350, false), (300, true)]
        );
        let near = chunk_sizes(false, true);
        assert!(near.len() > 2, "{near:?}");
        let per_plain = usize::try_from(CHUNK_BYTES / VM_BYTES).unwrap();
        assert!(near.iter().all(|(n, _)| *n <= per_plain), "{near:?}");
        assert_eq!(near.iter().map(|(n, _)| n).sum::<usize>(), 3_000);
        assert_eq!(
            near.iter()
                .filter(|(_, l)| *l)
                .map(|(n, _)| n)
                .sum::<usize>(),
            300
        );
        // The TUI's first load starts small, near or far.
        assert_eq!(chunk_sizes(true, false)[0], (FIRST_CHUNK, false));
        assert_eq!(chunk_sizes(true, true)[0], (FIRST_CHUNK, false));
    }
}
