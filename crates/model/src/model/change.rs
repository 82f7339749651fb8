//! One description of each change, shared by the TUI dialog and the CLI prompt: what will
//! happen, to which machine and snapshot, the children affected, the power state after a
//! revert, the form to fill in and the confirmation it needs. The view the description was
//! made from (the stale-view baseline) is captured here, when the change is described, and
//! travels with it to the engine.

mod backup;
mod order;

use chrono::{DateTime, Utc};

use super::health::{format_age, human_size};
use super::plan::deletion_order;
use super::{ExpectedView, Machine, Operation, PowerState};

/// What an answer in a change's form sets. The form is read by kind, never by label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// The snapshot's name.
    Name,
    /// The snapshot's description.
    Description,
    /// Include memory in a take.
    Memory,
    /// Quiesce the guest file systems in a take.
    Quiesce,
    /// Leave the VM suspended after reverting to a memory snapshot.
    SuppressPowerOn,
    /// Start the guest after a rollback to a snapshot without RAM state (Proxmox VE).
    StartAfter,
    /// Delete the snapshot's descendants too.
    WithChildren,
    /// How long until the new snapshot expires (`7d`; empty: never), written as an
    /// `[expires …]` marker in its description.
    Expires,
    /// The longest a take's quiesce may take (`10m`; empty: the server's own limit).
    QuiesceTimeout,
    /// A VPS automated backup's daily time (`HH:MM`, UTC).
    Schedule,
    /// An option order's duration, as the API names it.
    Duration,
    /// The text typed to confirm (the machine's name, or the number of snapshots).
    Typed,
}

/// Why a quiesce time limit without a quiesce is refused.
pub const QUIESCE_TIMEOUT_NEEDS_QUIESCE: &str =
    "a quiesce time limit needs a quiesced snapshot (--quiesce, -q; in the dialog: Quiesce)";

/// A field's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// Free text.
    Text(String),
    /// A choice, and why it cannot be changed when it cannot.
    Check {
        /// Chosen.
        on: bool,
        /// Why it is fixed, if it is.
        disabled: Option<String>,
    },
}

/// One input of a change's form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormField {
    /// What it sets.
    pub input: Input,
    /// What the user reads.
    pub label: String,
    /// Its value.
    pub value: Value,
    /// A value proposed by snaptree (a name made of the date and time): typing replaces
    /// it rather than adding to it.
    pub proposed: bool,
}

impl FormField {
    fn text(input: Input, label: impl Into<String>, value: impl Into<String>) -> Self {
        FormField {
            input,
            label: label.into(),
            value: Value::Text(value.into()),
            proposed: false,
        }
    }

    /// A text field whose value is proposed when it is `proposal` (typing replaces it).
    fn text_proposing(
        input: Input,
        label: impl Into<String>,
        value: impl Into<String>,
        proposal: &str,
    ) -> Self {
        let mut f = FormField::text(input, label, value);
        f.proposed = matches!(&f.value, Value::Text(v) if v == proposal);
        f
    }

    fn check(input: Input, label: impl Into<String>, on: bool, disabled: Option<&str>) -> Self {
        FormField {
            input,
            label: label.into(),
            value: Value::Check {
                on: on && disabled.is_none(),
                disabled: disabled.map(String::from),
            },
            proposed: false,
        }
    }
}

/// How a change is confirmed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Confirmation {
    /// Nothing to confirm: the form's own Enter (take, rename).
    None,
    /// Yes or no.
    YesNo,
    /// The machine's name, typed.
    TypeName(String),
    /// The number of snapshots a batch deletes, typed.
    TypeCount(usize),
}

impl Confirmation {
    /// The text to type, when one is needed.
    pub fn expected_text(&self) -> Option<String> {
        match self {
            Confirmation::TypeName(name) => Some(name.clone()),
            Confirmation::TypeCount(n) => Some(n.to_string()),
            Confirmation::None | Confirmation::YesNo => None,
        }
    }

    /// Whether `answer` (typed, or y/n) confirms.
    pub fn accepts(&self, answer: &str) -> bool {
        let answer = answer.trim();
        match self {
            Confirmation::None => true,
            Confirmation::YesNo => matches!(answer, "y" | "Y" | "yes"),
            _ => self.expected_text().as_deref() == Some(answer),
        }
    }

    /// The request to the user, e.g. "Type web-01 to confirm".
    pub fn prompt(&self) -> String {
        match self {
            Confirmation::TypeName(name) => format!("Type {name} to confirm"),
            Confirmation::TypeCount(n) => format!("Type {n} (the number of snapshots) to confirm"),
            Confirmation::None | Confirmation::YesNo => "Proceed? [y/N]".into(),
        }
    }
}

/// One operation of a change on one machine, with the view it was chosen from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Profile.
    pub profile: String,
    /// Machine id.
    pub machine_id: String,
    /// Machine name, for task rows and messages.
    pub machine: String,
    /// The operation (targets are ids).
    pub op: Operation,
    /// What was seen when the change was described.
    pub expected: ExpectedView,
    /// The target snapshot's name, or "" (for task rows).
    pub target: String,
    /// Names of the machine's other snapshots by id, as seen (a rename checks for clashes).
    others: Vec<(String, String)>,
}

/// A change, described: the same words in the TUI dialog and the CLI prompt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// Dialog title.
    pub title: String,
    /// One phrase for "About to …" (CLI) and refusals, e.g.
    /// `revert lab/web-01 to snapshot "base" (snapshot-1)`.
    pub summary: String,
    /// What will happen, line by line.
    pub lines: Vec<String>,
    /// What the user may set; a typed confirmation is a field of its own.
    pub fields: Vec<FormField>,
    /// How it is confirmed.
    pub confirmation: Confirmation,
    /// What runs, in order: one step, or a batch's steps (per machine, deepest first).
    pub steps: Vec<Step>,
    /// A batch (one plan of several deletions), even of one step.
    pub batch: bool,
    /// A delete (with descendants, or of all) made of single deletes because the back end
    /// deletes one snapshot per call: its steps are one plan, even of one step.
    pub one_by_one: bool,
    /// The longest snapshot name the machine's back end takes (0: no limit).
    pub max_name: usize,
    /// The machine's back end (its names' rule).
    pub kind: super::ProviderKind,
    /// When it was described: an *expires* answer counts from here.
    pub now: DateTime<Utc>,
    /// A one-snapshot delete: its confirmation follows the *with children* answer.
    pub deletes: Option<DeleteScope>,
}

/// Why a new snapshot cannot follow a restore of `m` (`None`: it can): only a machine whose
/// restore consumes its one snapshot (an OVHcloud VPS) is offered one.
pub fn retake_unavailable(m: &Machine) -> Option<String> {
    (!m.capabilities.replace).then(|| {
        format!(
            "{}/{} keeps its snapshot after a revert; take another with snaptree take",
            m.profile, m.name
        )
    })
}

/// The new snapshot taken after a restore: named (described) by the time, as `take` does.
pub fn retake(now: DateTime<Utc>) -> Operation {
    let description = default_name(now);
    Operation::Take {
        quiesce_timeout: None,
        name: description.clone(),
        description,
        memory: false,
        quiesce: false,
    }
}

/// The snapshot guides' advice for a take. A VPS's snapshots are live and consistent only
/// with the QEMU guest agent running in it. For a vSphere VM a cold snapshot is the safest,
/// and a running VM is better quiesced than saved with its memory, whose file is as large
/// as the VM's configured memory.
fn take_advice(m: &Machine) -> Vec<String> {
    if m.provider == super::ProviderKind::Proxmox {
        return vec![if m.capabilities.memory {
            "Proxmox freezes the file systems through the QEMU guest agent when it runs; include memory (RAM state) to come back to a running VM.".into()
        } else {
            if m.power_state == PowerState::PoweredOn {
                "A container's snapshot holds its volumes only; stop it first for the safest one."
                    .into()
            } else {
                "A container's snapshot holds its volumes only; it is stopped: the safest kind."
                    .into()
            }
        }];
    }
    if m.capabilities.replace {
        return vec![format!(
            "Consistent only with the QEMU guest agent running in the VPS; check there: {}",
            crate::model::guest::GUEST_AGENT_CHECK
        )];
    }
    let mut lines = vec![if m.power_state == PowerState::PoweredOn {
        "Safest is a cold snapshot (VM off); running, quiesce rather than include memory."
            .to_string()
    } else {
        "The VM is not running: a cold snapshot, the safest kind.".to_string()
    }];
    if let Some(mb) = m.memory_mb
        && m.memory_unavailable().is_none()
    {
        lines.push(format!(
            "Include memory writes a {} memory file (the VM's RAM).",
            human_size(mb.saturating_mul(1024 * 1024))
        ));
    }
    lines
}

/// What a change of a kind of its own (a VPS backup's, an option's order) says and asks.
struct Said {
    title: String,
    summary: String,
    lines: Vec<String>,
    fields: Vec<FormField>,
    /// It needs the confirmation a revert needs (the machine's name, with `type-name`);
    /// else `confirmation` is what it needs.
    typed: bool,
    confirmation: Confirmation,
}

/// Why a change cannot be asked for at all, said before anything is sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal(pub String);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Context the description needs.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// The clock, for ages.
    pub now: DateTime<Utc>,
    /// `confirm = "type-name"`: revert and delete-all need the name, batches the count.
    pub type_to_confirm: bool,
    /// `[cleanup] protect`: a delete that includes a protected snapshot says so and is typed.
    pub protect: &'a super::cleanup::Protect,
    /// `--allow-low-space`: a delete runs though a datastore lacks the room to merge its
    /// deltas (said, not refused; a batch runs such a machine instead of skipping it).
    pub allow_low_space: bool,
}

/// How a delete of `count` snapshots of `m` is confirmed: more than one, the count typed;
/// one protected, the machine's name typed; else yes or no (`confirm = "yes-no"`: always).
fn delete_confirmation(count: usize, protected: bool, m: &Machine, ctx: Context) -> Confirmation {
    if !ctx.type_to_confirm {
        Confirmation::YesNo
    } else if count > 1 {
        Confirmation::TypeCount(count)
    } else if protected {
        Confirmation::TypeName(m.name.clone())
    } else {
        Confirmation::YesNo
    }
}

/// A one-snapshot delete's two confirmations: the dialog's *with children* answer chooses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeleteScope {
    /// The snapshot alone.
    alone: Confirmation,
    /// The snapshot and its descendants.
    with_children: Confirmation,
    /// What the change does, alone and with its descendants: the summary, and the line at
    /// `at` in `lines`, so the words follow the answer as the confirmation does.
    said_alone: (String, String),
    said_with: (String, String),
    at: Option<usize>,
    /// With its descendants where the back end deletes one snapshot per call: the single
    /// deletes, deepest first, the snapshot itself last (empty: one call deletes them all).
    plan: Vec<Step>,
}

/// The default snapshot name (and VPS description): the local date-time. The TUI's take
/// dialog and the CLI's `take`/`replace` without `--name` use it alike.
pub fn default_name(now: DateTime<Utc>) -> String {
    now.with_timezone(&chrono::Local)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// The default name of a new snapshot of `m`: [`default_name`], or where names follow a
/// rule (Proxmox VE: a letter first, no space or colon) `snap_YYYYMMDD_HHMMSS`.
pub fn default_name_for(m: &Machine, now: DateTime<Utc>) -> String {
    if m.provider == super::ProviderKind::Proxmox {
        now.with_timezone(&chrono::Local)
            .format("snap_%Y%m%d_%H%M%S")
            .to_string()
    } else {
        default_name(now)
    }
}

/// Why `name` cannot name a snapshot of a machine of `kind` whose names are at most `max`
/// characters (0: no limit), if it cannot.
pub fn name_refusal(kind: super::ProviderKind, max: usize, name: &str) -> Option<Refusal> {
    if kind == super::ProviderKind::Proxmox
        && let Some(why) = super::machine::proxmox_name_refusal(name)
    {
        return Some(Refusal(why));
    }
    name_too_long(max, name)
}

fn snapshot_label(m: &Machine, id: &str, now: DateTime<Utc>) -> String {
    match m.find(id) {
        Some(snap) => format!(
            "\"{}\" ({id}, taken {} ago)",
            snap.name,
            format_age(m.age_of(snap.created, now))
        ),
        None => id.to_string(),
    }
}

fn typed_field(confirmation: &Confirmation) -> FormField {
    FormField::text(Input::Typed, confirmation.prompt(), String::new())
}

/// The *expires* field of a take or a replace (empty: the snapshot never expires).
fn expires_field() -> FormField {
    FormField::text(Input::Expires, "Expires in (e.g. 7d; empty: never)", "")
}

/// The protected snapshots (pinned, or matching a `[cleanup] protect` glob) among `ids`
/// of `m`, each as its id and "\"name\" (id) on machine is why": a hand delete of one stays
/// possible, knowingly.
fn protected_among(
    m: &Machine,
    ids: &[String],
    protect: &super::cleanup::Protect,
) -> Vec<(String, String)> {
    ids.iter()
        .filter_map(|id| {
            let n = m.find(id)?;
            let why = super::cleanup::protection(n, protect)?;
            Some((
                id.clone(),
                format!("\"{}\" ({id}) on {} is {why}", n.name, m.name),
            ))
        })
        .collect()
}

/// The line that says a snapshot a change deletes is protected.
fn protected_line(what: &str) -> String {
    format!("Protected: {what}; no cleanup policy would delete it.")
}

/// A refusal when `name` is longer than the back end's limit, with the limit in it.
pub fn name_too_long(max: usize, name: &str) -> Option<Refusal> {
    let n = name.chars().count();
    (max > 0 && n > max).then(|| {
        Refusal(format!(
            "a snapshot name may have at most {max} characters on this back end; this one has {n}"
        ))
    })
}

impl Step {
    /// `op` on `m`, with the view of `m` now as its baseline.
    pub fn of(m: &Machine, op: Operation) -> Step {
        step(m, op)
    }
}

fn step(m: &Machine, op: Operation) -> Step {
    let target = match &op {
        Operation::Backup(
            super::BackupOp::Restore { point, .. } | super::BackupOp::Detach { point },
        ) => super::backups::point_time(point)
            .map(super::backups::point_label)
            .unwrap_or_default(),
        _ => op
            .snapshot()
            .and_then(|id| m.find(id))
            .map(|n| n.name.clone())
            .unwrap_or_default(),
    };
    let others = m
        .walk()
        .into_iter()
        .filter(|(_, s)| Some(s.id.as_str()) != op.snapshot())
        .map(|(_, s)| (s.id.clone(), s.name.clone()))
        .collect();
    Step {
        profile: m.profile.clone(),
        machine_id: m.id.clone(),
        machine: m.name.clone(),
        expected: ExpectedView::of(m, &op),
        target,
        others,
        op,
    }
}

/// Describe `op` on `m` (the operation's values are the form's first values), or say why
/// it cannot be asked for. Read-only is not checked here: `engine::policy` does that.
pub fn describe(m: &Machine, op: Operation, ctx: Context) -> Result<Change, Refusal> {
    let who = format!("{}/{}", m.profile, m.name);
    let label = |id: &str| snapshot_label(m, id, ctx.now);
    let short = |id: &str| match m.find(id) {
        Some(n) => format!("\"{}\" ({id})", n.name),
        None => id.to_string(),
    };
    let refuse = |why: String| Err(Refusal(why));
    if !m.loaded {
        return refuse(format!("{who} is still loading"));
    }
    if let Some(why) = m.unreadable_sentence() {
        return refuse(why);
    }
    // A name given up front (the CLI's) is checked here; one typed in a form, by `answered`.
    let given = match &op {
        Operation::Take { name, .. } => Some(name.as_str()),
        Operation::Rename { name, .. } => name.as_deref(),
        Operation::Replace { description } => Some(description.as_str()),
        _ => None,
    };
    // A Proxmox name only where it names the snapshot (a take's; a rename's cannot change).
    let names_it = matches!(op, Operation::Take { .. });
    if let Some(r) = given.and_then(|n| {
        if names_it {
            name_refusal(m.provider, m.capabilities.max_name, n)
        } else {
            name_too_long(m.capabilities.max_name, n)
        }
    }) {
        return Err(r);
    }
    if let Some(id) = op.snapshot()
        && m.find(id).is_none()
    {
        return refuse(format!("{who} has no snapshot {id}"));
    }
    let type_name = || {
        if ctx.type_to_confirm {
            Confirmation::TypeName(m.name.clone())
        } else {
            Confirmation::YesNo
        }
    };
    let mut fields = Vec::new();
    let mut deletes = None;
    // The steps of a delete the back end makes one snapshot per call (none: one step).
    let mut plan = Vec::new();
    let (title, summary, lines, confirmation) = match &op {
        Operation::Take {
            name,
            description,
            memory,
            quiesce,
            quiesce_timeout,
        } => {
            if let Some(why) = m.take_unavailable() {
                return refuse(format!("cannot take: {why}"));
            }
            if m.capabilities.replace && m.snapshot_option.is_none() {
                return refuse(format!(
                    "{who} has not said yet whether it has a snapshot option"
                ));
            }
            if *memory && let Some(why) = m.memory_unavailable() {
                return refuse(format!("cannot take with --memory: {why}"));
            }
            if *quiesce && let Some(why) = m.quiesce_unavailable() {
                return refuse(format!("cannot take with --quiesce: {why}"));
            }
            if quiesce_timeout.is_some() && m.capabilities.replace {
                return refuse(format!(
                    "{who} is a VPS: a quiesce time limit applies to vSphere VMs"
                ));
            }
            let proposal = default_name_for(m, ctx.now);
            let line = if m.capabilities.replace {
                fields.push(FormField::text_proposing(
                    Input::Description,
                    "Description",
                    description,
                    &proposal,
                ));
                fields.push(expires_field());
                format!("A new snapshot of VPS {who}. A VPS keeps one snapshot.")
            } else {
                fields.push(FormField::text_proposing(
                    Input::Name,
                    "Name",
                    name,
                    &proposal,
                ));
                fields.push(FormField::text(
                    Input::Description,
                    "Description",
                    description,
                ));
                fields.push(FormField::check(
                    Input::Memory,
                    "Include memory",
                    *memory,
                    m.memory_unavailable(),
                ));
                fields.push(FormField::check(
                    Input::Quiesce,
                    "Quiesce guest file systems",
                    *quiesce,
                    m.quiesce_unavailable(),
                ));
                if m.quiesce_unavailable().is_none() {
                    fields.push(FormField::text(
                        Input::QuiesceTimeout,
                        "Quiesce time limit (5m–240m; empty: the server's)",
                        quiesce_timeout.map(|t| format!("{t}m")).unwrap_or_default(),
                    ));
                }
                fields.push(expires_field());
                match &m.current {
                    Some(c) => format!("A new snapshot of {who}, child of {}.", label(c)),
                    None => format!("A new snapshot of {who}, at the root of its tree."),
                }
            };
            let mut lines = vec![line];
            lines.extend(take_advice(m));
            (
                format!("Take a snapshot of {}", m.name),
                format!("take a snapshot of {who}"),
                lines,
                Confirmation::None,
            )
        }
        Operation::Replace { description } => {
            if !m.capabilities.replace {
                return refuse(format!(
                    "{who} keeps a tree of snapshots: take another one instead (snaptree take {who})"
                ));
            }
            let Some(existing) = m.snapshots.first() else {
                return refuse(format!(
                    "{who} has no snapshot to replace: take one (snaptree take {who})"
                ));
            };
            fields.push(FormField::text_proposing(
                Input::Description,
                "Description",
                description,
                &default_name(ctx.now),
            ));
            fields.push(expires_field());
            (
                format!("Replace the snapshot of {}", m.name),
                format!(
                    "replace the snapshot {} of {who}: delete it, wait, then take a new one",
                    short(&existing.id)
                ),
                [
                    format!(
                        "Delete {}, wait for that, then take a new snapshot.",
                        label(&existing.id)
                    ),
                    "The old snapshot is gone for good.".into(),
                ]
                .into_iter()
                .chain(take_advice(m))
                .collect(),
                Confirmation::YesNo,
            )
        }
        Operation::RevertCurrent { .. } if m.current.is_none() => {
            return refuse(format!("{who} has no current snapshot to revert to"));
        }
        Operation::Revert {
            suppress_power_on,
            start,
            ..
        }
        | Operation::RevertCurrent {
            suppress_power_on,
            start,
        } => {
            if *start && !m.capabilities.start_after_revert {
                return refuse(format!(
                    "{who}: starting the machine after a revert is a Proxmox VE rollback's option"
                ));
            }
            let target = op
                .snapshot()
                .map(String::from)
                .or_else(|| m.current.clone())
                .unwrap_or_default();
            let memory = m.find(&target).is_some_and(|n| n.memory);
            let mut lines = vec![format!("Revert {who} to {}.", label(&target))];
            if m.capabilities.replace {
                lines
                    .push("The VPS's disk returns to the snapshot; changes since are lost.".into());
                lines.push(
                    "OVHcloud deletes the snapshot after a restore: it will be gone afterwards."
                        .into(),
                );
            } else {
                lines.push(
                    "Everything on the VM since that snapshot is lost: disks (and memory) return to it."
                        .into(),
                );
                lines.push(match (memory, m.capabilities.start_after_revert) {
                    (true, true) => "Power state after rollback: running (its RAM state is included).".into(),
                    (true, false) => "Power state after revert: powered on (memory included), or suspended with suppress power-on.".into(),
                    (false, true) => "Power state after rollback: stopped, unless started (the snapshot has no RAM state).".into(),
                    (false, false) => "Power state after revert: powered off (the snapshot has no memory).".into(),
                });
                if m.power_state == PowerState::PoweredOn {
                    lines.push("The VM is running now: its current state is discarded.".into());
                }
            }
            // Suppress power-on means something only for a snapshot with memory: a
            // disk-only revert leaves the VM off anyway.
            if m.capabilities.suppress_power_on && memory {
                fields.push(FormField::check(
                    Input::SuppressPowerOn,
                    "Suppress power-on",
                    *suppress_power_on,
                    None,
                ));
            }
            // Proxmox's rollback starts a guest whose snapshot has no RAM state on request
            // (one with RAM state comes back running anyway).
            if m.capabilities.start_after_revert && !memory {
                fields.push(FormField::check(
                    Input::StartAfter,
                    "Start the guest after the rollback",
                    *start,
                    None,
                ));
            }
            let current = matches!(op, Operation::RevertCurrent { .. });
            (
                if current {
                    format!("Revert {} to its current snapshot", m.name)
                } else {
                    format!("Revert {} to the selected snapshot", m.name)
                },
                format!(
                    "revert {who} to {}snapshot {}; changes since are lost",
                    if current { "its current " } else { "" },
                    short(&target)
                ),
                lines,
                type_name(),
            )
        }
        Operation::Delete { snapshot, children } => {
            let subtree = m.subtree_ids(snapshot);
            let descendants = subtree.len().saturating_sub(1);
            let direct = m.find(snapshot).map_or(0, |n| n.children.len());
            let protected = protected_among(m, &subtree, ctx.protect);
            let target = short(snapshot);
            let said_alone = (
                match direct {
                    0 => format!("delete snapshot {target} of {who}"),
                    _ => format!(
                        "delete snapshot {target} of {who} (its {direct} child snapshot(s) move up)"
                    ),
                },
                format!(
                    "Its {direct} child snapshot(s) move up to its parent; nothing else is deleted."
                ),
            );
            // Where the back end deletes one snapshot per call, with its descendants is a
            // plan of single deletes, deepest first (`plan::deletion_order`).
            let singles = if m.capabilities.delete_subtree {
                Vec::new()
            } else {
                one_by_one(m, &subtree)
            };
            let said_with = if singles.len() < 2 {
                (
                    format!(
                        "delete snapshot {target} of {who} and its {descendants} descendant(s)"
                    ),
                    format!("Its {descendants} descendant snapshot(s) are deleted with it."),
                )
            } else {
                (
                    format!(
                        "delete snapshot {target} of {who} and its {descendants} descendant(s), one at a time"
                    ),
                    format!(
                        "Its {descendants} descendant snapshot(s) are deleted first, {ONE_BY_ONE}"
                    ),
                )
            };
            // Which are protected, first: the target's own, then its descendants' (deleted
            // only with children).
            let mut lines: Vec<String> = protected
                .iter()
                .map(|(id, what)| {
                    if id == snapshot {
                        protected_line(what)
                    } else {
                        format!("With children, a protected one goes too: {what}.")
                    }
                })
                .collect();
            lines.push(format!("Delete snapshot {} of {who}.", label(snapshot)));
            let at = lines.len();
            let scope = DeleteScope {
                alone: delete_confirmation(
                    1,
                    protected.iter().any(|(id, _)| id == snapshot),
                    m,
                    ctx,
                ),
                with_children: delete_confirmation(subtree.len(), !protected.is_empty(), m, ctx),
                said_alone,
                said_with,
                at: (descendants > 0).then_some(at),
                plan: singles,
            };
            if *children {
                plan.clone_from(&scope.plan);
            }
            deletes = Some(scope.clone());
            if descendants > 0 {
                lines.push(if *children {
                    scope.said_with.1.clone()
                } else {
                    scope.said_alone.1.clone()
                });
                fields.push(FormField::check(
                    Input::WithChildren,
                    format!("Also delete its {descendants} descendant(s)"),
                    *children,
                    None,
                ));
            }
            lines.push(if m.capabilities.consolidate {
                "Its data is merged into the disks (consolidated); this cannot be undone.".into()
            } else {
                "The snapshot is gone for good.".into()
            });
            (
                format!("Delete a snapshot of {}", m.name),
                if *children && descendants > 0 {
                    scope.said_with.0.clone()
                } else {
                    scope.said_alone.0.clone()
                },
                lines,
                if *children {
                    scope.with_children.clone()
                } else {
                    scope.alone.clone()
                },
            )
        }
        Operation::DeleteAll => {
            let n = m.snapshot_count();
            if n == 0 {
                return refuse(format!("{who} has no snapshots"));
            }
            let all: Vec<String> = m.walk().into_iter().map(|(_, s)| s.id.clone()).collect();
            let mut lines: Vec<String> = protected_among(m, &all, ctx.protect)
                .iter()
                .map(|(_, what)| protected_line(what))
                .collect();
            let one_call = m.capabilities.delete_subtree;
            lines.extend([
                if one_call {
                    format!("Delete all {n} snapshot(s) of {who}.")
                } else {
                    format!("Delete all {n} snapshot(s) of {who}, {ONE_BY_ONE}")
                },
                format!(
                    "The {} keeps its present state; every point to go back to is lost.",
                    match m.provider {
                        super::ProviderKind::Ovh => "VPS",
                        super::ProviderKind::Proxmox => "guest",
                        super::ProviderKind::Vsphere => "VM",
                    }
                ),
                "This cannot be undone.".into(),
            ]);
            if !one_call {
                plan = one_by_one(m, &all);
                // Each step holds the set it leaves: all, less the earlier steps' (sorted,
                // as a view's ids are).
                let mut left: Vec<String> = all.clone();
                left.sort();
                for st in &mut plan {
                    st.expected.snapshot_ids.clone_from(&left);
                    st.expected.identity.whole_set = true;
                    left.retain(|id| Some(id.as_str()) != st.op.snapshot());
                }
            }
            (
                format!("Delete all snapshots of {}", m.name),
                if one_call {
                    format!("delete all {n} snapshot(s) of {who}")
                } else {
                    format!("delete all {n} snapshot(s) of {who}, one at a time")
                },
                lines,
                type_name(),
            )
        }
        Operation::Consolidate => {
            if !m.capabilities.consolidate {
                return refuse(format!(
                    "{who}: consolidation does not exist for {}",
                    match m.provider {
                        super::ProviderKind::Ovh => "VPSs",
                        super::ProviderKind::Proxmox => "Proxmox VE guests",
                        super::ProviderKind::Vsphere => "this machine",
                    }
                ));
            }
            (
                format!("Consolidate the disks of {}", m.name),
                format!("consolidate the disks of {who}"),
                vec![
                    format!("Consolidate the disks of {who}."),
                    match (m.consolidation_needed, phantoms(m)) {
                        (_, Some(files)) => format!(
                            "It runs on delta disk(s) no snapshot owns ({files}): consolidating merges them."
                        ),
                        (true, None) => "vSphere flags this VM as needing consolidation.".into(),
                        (false, None) => "vSphere does not flag this VM as needing it; it is harmless but may take a while.".into(),
                    },
                    "The VM may be slow while delta disks are merged.".into(),
                ],
                Confirmation::YesNo,
            )
        }
        Operation::Rename {
            snapshot,
            name,
            description,
        } => {
            let node = m.find(snapshot);
            let old_name = node.map(|n| n.name.clone()).unwrap_or_default();
            let old_desc = node.map(|n| n.description.clone()).unwrap_or_default();
            if name.is_some() && !m.capabilities.rename {
                return refuse(format!(
                    "{who}: Proxmox cannot rename a snapshot (its name is its id); its description can change (--description)"
                ));
            }
            if !m.capabilities.replace && m.capabilities.rename {
                fields.push(FormField::text(
                    Input::Name,
                    "Name",
                    name.clone().unwrap_or(old_name),
                ));
            }
            // A change of the pin marker alone is a pin or an unpin (`p`, `snaptree pin`).
            let pin = match (name, description) {
                (None, Some(d)) if *d == super::cleanup::with_pin(&old_desc, true) => Some((
                    "Pin",
                    "pin",
                    "[keep] is added: no cleanup policy will select it",
                )),
                (None, Some(d)) if *d == super::cleanup::with_pin(&old_desc, false) => Some((
                    "Unpin",
                    "unpin",
                    "[keep] is removed: cleanup policies may select it again",
                )),
                _ => None,
            };
            fields.push(FormField::text(
                Input::Description,
                "Description",
                description.clone().unwrap_or(old_desc),
            ));
            match pin {
                Some((title, verb, what)) => (
                    format!("{title} a snapshot of {}", m.name),
                    format!("{verb} snapshot {} of {who}", short(snapshot)),
                    vec![format!("Snapshot {}: {what}.", label(snapshot))],
                    Confirmation::None,
                ),
                None => (
                    format!("Rename a snapshot of {}", m.name),
                    format!("rename snapshot {} of {who}", short(snapshot)),
                    vec![format!("Snapshot {}.", label(snapshot))],
                    Confirmation::None,
                ),
            }
        }
        Operation::Cancel { .. } => (
            format!("Cancel a task on {}", m.name),
            format!("cancel a task on {who}"),
            Vec::new(),
            Confirmation::None,
        ),
        Operation::Backup(_) | Operation::Order(_) => {
            let said = own_words(m, &op, ctx.now)?;
            fields.extend(said.fields);
            let confirmation = if said.typed {
                type_name()
            } else {
                said.confirmation
            };
            (said.title, said.summary, said.lines, confirmation)
        }
    };
    if confirmation.expected_text().is_some() {
        fields.insert(0, typed_field(&confirmation));
    }
    let mut lines = lines;
    if let Some(line) = room_line(m, &op, ctx)? {
        lines.push(line);
    }
    let mut step = step(m, op);
    step.expected.identity.low_space_allowed = ctx.allow_low_space;
    Ok(Change {
        title,
        summary,
        lines,
        fields,
        confirmation,
        one_by_one: !plan.is_empty(),
        steps: if plan.is_empty() { vec![step] } else { plan },
        batch: false,
        max_name: m.capabilities.max_name,
        kind: m.provider,
        // On the machine's back end's clock: an *expires* marker is read on it.
        now: m.now(ctx.now),
        deletes,
    })
}

/// The words of a change of a kind of its own: a VPS backup's, an option's order.
fn own_words(m: &Machine, op: &Operation, now: DateTime<Utc>) -> Result<Said, Refusal> {
    match op {
        Operation::Backup(b) => backup::describe(m, b, now),
        Operation::Order(o) => order::describe(m, o),
        other => Err(Refusal(format!("{} has no words of its own", other.name()))),
    }
}

/// How a plan of single deletes runs (where the back end deletes one snapshot per call).
const ONE_BY_ONE: &str = "one at a time, deepest first (the back end deletes one snapshot per call); a failure stops the rest.";

/// `ids` of `m` deleted one by one, deepest first: a step each, seen on the tree as it is
/// (each deletion leaves the later ones where they were, so their checks still hold).
fn one_by_one(m: &Machine, ids: &[String]) -> Vec<Step> {
    super::plan::deletion_order(m, ids)
        .into_iter()
        .map(|id| {
            step(
                m,
                Operation::Delete {
                    snapshot: id,
                    children: false,
                },
            )
        })
        .collect()
}

/// The files of `m`'s phantom deltas, `, ` between them (`None`: it has none).
fn phantoms(m: &Machine) -> Option<String> {
    let files = super::storage::phantom_files(m);
    (!files.is_empty()).then(|| files.join(", "))
}

/// What a delete of `m` says of the room its merge needs (docs/safety.md, "Room to
/// consolidate"): the tightest datastore's line, or the refusal when one is short and the
/// operator did not allow it.
fn room_line(m: &Machine, op: &Operation, ctx: Context) -> Result<Option<String>, Refusal> {
    let rooms = super::storage::room_of(m, op);
    let Some(tightest) = rooms.first() else {
        return Ok(None);
    };
    if let Some(why) = super::storage::shortage(&rooms) {
        if !ctx.allow_low_space {
            return Err(Refusal(format!("{}/{}: {why}", m.profile, m.name)));
        }
        return Ok(Some(format!(
            "Run with --allow-low-space: {}.",
            tightest.sentence()
        )));
    }
    Ok(Some(format!("Room to merge: {}.", tightest.sentence())))
}

/// What a batch says of the room one machine's deletions (`order`) need: its line, and why
/// the machine is skipped when a datastore is short and the operator did not allow it.
fn batch_room(m: &Machine, order: &[String], ctx: Context) -> (Option<String>, Option<String>) {
    let ids: std::collections::HashSet<&str> = order.iter().map(String::as_str).collect();
    let rooms = super::storage::room(m, &ids, false);
    let Some(tightest) = rooms.first() else {
        return (None, None);
    };
    match super::storage::shortage(&rooms) {
        Some(why) if !ctx.allow_low_space => (Some(format!("  skipped: {why}")), Some(why)),
        Some(_) => (
            Some(format!(
                "  run with --allow-low-space: {}",
                tightest.sentence()
            )),
            None,
        ),
        None => (
            Some(format!("  room to merge: {}", tightest.sentence())),
            None,
        ),
    }
}

/// Describe the deletion of several snapshots, one at a time: per machine deepest first
/// (`deletion_order`), machines in the order given. Every snapshot is listed.
pub fn describe_batch(items: &[(&Machine, Vec<String>)], ctx: Context) -> Result<Change, Refusal> {
    let mut lines = Vec::new();
    let mut steps = Vec::new();
    let mut bytes = 0u64;
    let mut protected = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    // Whether any snapshot had a size (a VPS's or a Proxmox guest's has none).
    let mut sized = false;
    for (m, ids) in items {
        protected.extend(
            protected_among(m, ids, ctx.protect)
                .into_iter()
                .map(|(_, what)| protected_line(&what)),
        );
        // Per machine: a line with its count and size, then each snapshot in the order
        // they will go.
        let (header, mut machine_bytes, mut unknown) = (lines.len(), 0u64, 0);
        let order = deletion_order(m, ids);
        for id in &order {
            let Some(node) = m.find(id) else {
                return Err(Refusal(format!(
                    "{}/{} has no snapshot {id} any more; unmark it",
                    m.profile, m.name
                )));
            };
            match node.size_bytes {
                Some(b) => machine_bytes += b,
                None => unknown += 1,
            }
            lines.push(format!("  {}", snapshot_label(m, id, ctx.now)));
        }
        // A machine whose merge lacks room on a datastore is skipped, said with the reason.
        let (line, short) = batch_room(m, &order, ctx);
        lines.extend(line);
        sized |= unknown < order.len();
        let size = if short.is_some() {
            "skipped".to_string()
        } else if unknown == order.len() {
            // The back end did not say (a VPS's snapshot): not "0 B".
            "size not known".to_string()
        } else if unknown > 0 {
            format!(
                "{} and {unknown} of unknown size",
                human_size(machine_bytes)
            )
        } else {
            human_size(machine_bytes)
        };
        let count = order.len();
        lines.insert(
            header,
            format!("{} ({}): {count} snapshot(s), {size}", m.name, m.profile),
        );
        if let Some(why) = short {
            skipped.push(format!("{}/{}: {why}", m.profile, m.name));
            continue;
        }
        bytes += machine_bytes;
        for id in order {
            let mut st = step(
                m,
                Operation::Delete {
                    snapshot: id,
                    children: false,
                },
            );
            st.expected.identity.low_space_allowed = ctx.allow_low_space;
            steps.push(st);
        }
    }
    let n = steps.len();
    if n == 0 {
        if !skipped.is_empty() {
            return Err(Refusal(skipped.join("; ")));
        }
        return Err(Refusal("nothing is marked".into()));
    }
    let machines = items.len() - skipped.len();
    lines.insert(
        0,
        format!(
            "Delete {n} marked snapshot(s) on {machines} machine(s), {}; children move up to their parents:",
            if sized {
                format!("{} in all", human_size(bytes))
            } else {
                "sizes not known".into()
            }
        ),
    );
    lines.push(
        "One machine's deletions run one after another; a failure stops that machine's next ones."
            .into(),
    );
    if !skipped.is_empty() {
        lines.push(format!(
            "{} machine(s) skipped: not enough room to merge (--allow-low-space runs them).",
            skipped.len()
        ));
    }
    // Which are protected, before anything else.
    lines.splice(0..0, protected);
    let confirmation = if ctx.type_to_confirm {
        Confirmation::TypeCount(n)
    } else {
        Confirmation::YesNo
    };
    Ok(Change {
        title: "Delete marked snapshots".into(),
        summary: format!("delete {n} snapshot(s) on {machines} machine(s)"),
        lines,
        fields: confirmation
            .expected_text()
            .map(|_| typed_field(&confirmation))
            .into_iter()
            .collect(),
        confirmation,
        steps,
        batch: true,
        one_by_one: false,
        max_name: 0,
        kind: super::ProviderKind::Vsphere,
        now: ctx.now,
        deletes: None,
    })
}

impl Change {
    fn text(&self, input: Input) -> Option<&str> {
        self.fields.iter().find_map(|f| match &f.value {
            Value::Text(v) if f.input == input => Some(v.trim()),
            _ => None,
        })
    }

    fn on(&self, input: Input) -> Option<bool> {
        self.fields.iter().find_map(|f| match &f.value {
            Value::Check { on, .. } if f.input == input => Some(*on),
            _ => None,
        })
    }

    /// The confirmation the form's answers need: a delete's follows its *with children*
    /// answer (more snapshots, or a protected one among them, need typing).
    pub fn confirmation_now(&self) -> Confirmation {
        match &self.deletes {
            None => self.confirmation.clone(),
            Some(scope) if self.with_children_now() => scope.with_children.clone(),
            Some(scope) => scope.alone.clone(),
        }
    }

    /// A delete's *with children* answer as the form has it now.
    fn with_children_now(&self) -> bool {
        let described = self
            .steps
            .first()
            .is_some_and(|st| matches!(st.op, Operation::Delete { children: true, .. }));
        self.on(Input::WithChildren).unwrap_or(described)
    }

    /// Make the words, the confirmation and its typed field follow the form's answers;
    /// true when they changed (what was typed is cleared when it answered another question).
    pub fn follow_answers(&mut self) -> bool {
        let mut changed = false;
        if let Some(scope) = &self.deletes {
            let (summary, line) = if self.with_children_now() {
                scope.said_with.clone()
            } else {
                scope.said_alone.clone()
            };
            let at = scope.at.and_then(|at| self.lines.get_mut(at));
            if let Some(at) = at.filter(|l| **l != line) {
                *at = line;
                changed = true;
            }
            if self.summary != summary {
                self.summary = summary;
                changed = true;
            }
        }
        let now = self.confirmation_now();
        if now == self.confirmation {
            return changed;
        }
        self.fields.retain(|f| f.input != Input::Typed);
        if now.expected_text().is_some() {
            self.fields.insert(0, typed_field(&now));
        }
        self.confirmation = now;
        true
    }

    /// Whether the typed field (if any) confirms what the answers need.
    pub fn typed_ok(&self) -> bool {
        let confirmation = self.confirmation_now();
        match confirmation.expected_text() {
            Some(_) => confirmation.accepts(self.text(Input::Typed).unwrap_or_default()),
            None => true,
        }
    }

    /// `description` with the *expires* answer as a marker, when one was given.
    fn expiring(&self, description: &str) -> Result<String, Refusal> {
        match self.text(Input::Expires).map(str::trim) {
            None | Some("") => Ok(description.to_string()),
            Some(age) => {
                let at = super::cleanup::expiry_after(self.now, age)
                    .map_err(|m| Refusal(format!("expires: {m}")))?;
                Ok(super::cleanup::with_expires(description, at))
            }
        }
    }

    /// The steps with the form's answers in their operations, or what is missing.
    pub fn answered(&self) -> Result<Vec<Step>, Refusal> {
        if !self.typed_ok() {
            let want = self.confirmation_now().expected_text().unwrap_or_default();
            return Err(Refusal(format!("type {want} exactly to confirm")));
        }
        // A delete made one snapshot per call: the plan with its descendants, or its last
        // step (the snapshot itself) alone.
        if let Some(scope) = self.deletes.as_ref().filter(|d| !d.plan.is_empty()) {
            return Ok(if self.with_children_now() {
                scope.plan.clone()
            } else {
                scope.plan.last().cloned().into_iter().collect()
            });
        }
        let mut steps = self.steps.clone();
        let [only] = steps.as_mut_slice() else {
            return Ok(steps);
        };
        let text = |i| self.text(i).map(String::from);
        let on = |i, old: bool| self.on(i).unwrap_or(old);
        let needs_name = || Refusal("a snapshot needs a name".into());
        match &mut only.op {
            Operation::Take {
                name,
                description,
                memory,
                quiesce,
                quiesce_timeout,
            } => {
                if let Some(d) = text(Input::Description) {
                    *description = d;
                }
                *description = self.expiring(description)?;
                *name = match text(Input::Name) {
                    Some(n) => n,
                    // A one-snapshot machine names its snapshot by the description.
                    None if self.fields.iter().any(|f| f.input == Input::Description) => {
                        description.clone()
                    }
                    None => name.clone(),
                };
                if name.is_empty() {
                    return Err(needs_name());
                }
                if let Some(r) = name_refusal(self.kind, self.max_name, name) {
                    return Err(r);
                }
                *memory = on(Input::Memory, *memory);
                *quiesce = on(Input::Quiesce, *quiesce);
                if let Some(t) = text(Input::QuiesceTimeout) {
                    *quiesce_timeout = match t.trim() {
                        "" => None,
                        t => Some(
                            super::operation::parse_quiesce_timeout(t)
                                .map_err(|m| Refusal(format!("quiesce time limit: {m}")))?,
                        ),
                    };
                }
                if quiesce_timeout.is_some() && !*quiesce {
                    return Err(Refusal(QUIESCE_TIMEOUT_NEEDS_QUIESCE.into()));
                }
                only.target = name.clone();
            }
            Operation::Replace { description } => {
                if let Some(d) = text(Input::Description) {
                    *description = d;
                }
                *description = self.expiring(description)?;
                if let Some(r) = name_too_long(self.max_name, description) {
                    return Err(r);
                }
            }
            Operation::Revert {
                suppress_power_on,
                start,
                ..
            }
            | Operation::RevertCurrent {
                suppress_power_on,
                start,
            } => {
                *suppress_power_on = on(Input::SuppressPowerOn, *suppress_power_on);
                *start = on(Input::StartAfter, *start);
            }
            Operation::Delete { children, .. } => *children = on(Input::WithChildren, *children),
            Operation::Rename {
                name, description, ..
            } => {
                if let Some(n) = text(Input::Name) {
                    if n.is_empty() {
                        return Err(needs_name());
                    }
                    if let Some(r) = name_too_long(self.max_name, &n) {
                        return Err(r);
                    }
                    *name = Some(n);
                }
                if let Some(d) = text(Input::Description) {
                    *description = Some(d);
                }
            }
            Operation::Backup(super::BackupOp::Reschedule { schedule }) => {
                if let Some(t) = text(Input::Schedule) {
                    *schedule = backup::answered_schedule(&t)?;
                }
            }
            Operation::Order(o) => {
                if let Some(t) = text(Input::Duration) {
                    o.duration = order::answered_duration(o, &t)?;
                }
            }
            Operation::DeleteAll
            | Operation::Consolidate
            | Operation::Cancel { .. }
            | Operation::Backup(_) => {}
        }
        Ok(steps)
    }
}

impl Step {
    /// Another snapshot of the machine that already has the name this rename gives, as
    /// "\"name\" (id)"; a rename that clashes asks again (TUI) or needs `--yes` (CLI).
    pub fn name_clash(&self) -> Option<String> {
        let Operation::Rename {
            name: Some(name), ..
        } = &self.op
        else {
            return None;
        };
        self.others
            .iter()
            .find(|(_, n)| n == name)
            .map(|(id, n)| format!("\"{n}\" ({id})"))
    }
}

/// What `fresh` (the machine read again after the connection was lost with `op` sent)
/// says about whether `op` happened, compared with `before`: one clause, never a guess
/// beyond what the tree shows.
pub fn outcome(fresh: &Machine, op: &Operation, before: &ExpectedView) -> String {
    let seen = tree_outcome(fresh, op, before);
    match fresh.running_tasks.as_slice() {
        [] => seen,
        [one] => format!(
            "{seen}; task {one} is running on it now, probably this change: look again with snaptree tree once it ends"
        ),
        many => format!(
            "{seen}; tasks {} are running on it now, one probably this change: look again with snaptree tree once they end",
            many.join(", ")
        ),
    }
}

/// What the tree of `fresh` says about `op` (see [`outcome`]).
fn tree_outcome(fresh: &Machine, op: &Operation, before: &ExpectedView) -> String {
    let label = |id: &str| match fresh.find(id) {
        Some(n) => format!("\"{}\" ({id})", n.name),
        None => id.to_string(),
    };
    match op {
        Operation::Take { .. } | Operation::Replace { .. } => {
            let new = before.new_snapshots(fresh);
            match new.as_slice() {
                [] => "no new snapshot is there: the take did not happen, or has not yet".into(),
                [id] => format!("snapshot {} now exists: the take went through", label(id)),
                _ => format!(
                    "{} new snapshots are there ({}): check which is yours",
                    new.len(),
                    new.join(", ")
                ),
            }
        }
        Operation::Delete { snapshot, .. } => match fresh.find(snapshot) {
            None => format!("snapshot {snapshot} no longer exists: the delete went through"),
            Some(_) => format!(
                "snapshot {} is still there: the delete did not happen, or is still running",
                label(snapshot)
            ),
        },
        Operation::DeleteAll => match fresh.snapshot_count() {
            0 => "it has no snapshots left: the delete went through".into(),
            n => format!(
                "it still has {n} snapshot(s): the delete did not happen, or is still running"
            ),
        },
        Operation::Revert { .. } | Operation::RevertCurrent { .. } => match &fresh.current {
            Some(c) => format!(
                "its current snapshot is {}; whether its disks were reverted cannot be told from here",
                label(c)
            ),
            None => "it has no current snapshot".into(),
        },
        Operation::Rename { snapshot, name, .. } => match (fresh.find(snapshot), name) {
            (Some(n), Some(new)) if n.name == *new => {
                format!("snapshot {snapshot} is named \"{new}\": the rename went through")
            }
            (Some(n), _) => format!("snapshot {snapshot} is named \"{}\"", n.name),
            (None, _) => format!("snapshot {snapshot} no longer exists"),
        },
        Operation::Consolidate => {
            if fresh.consolidation_needed {
                "it still needs consolidation".into()
            } else {
                "it does not need consolidation".into()
            }
        }
        Operation::Cancel { task } => format!("task {task}: its state was not read again"),
        Operation::Backup(b) => super::backups::outcome(fresh, b),
        Operation::Order(o) => match o.option.subscribed(fresh) {
            Some(true) => format!("{} is active", o.option.label()),
            _ => format!(
                "{} is not active (an order is active only once paid): look for the order in the OVHcloud Manager before ordering again",
                o.option.label()
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::machine::tests::branched as web;

    static NO_GLOBS: std::sync::LazyLock<crate::model::cleanup::Protect> =
        std::sync::LazyLock::new(|| crate::model::cleanup::Protect::new(&[]));

    fn ctx(type_to_confirm: bool) -> Context<'static> {
        Context {
            allow_low_space: false,
            now: Utc::now(),
            type_to_confirm,
            protect: &NO_GLOBS,
        }
    }

    /// web as a Proxmox VE guest: one snapshot per call.
    fn one_at_a_time() -> Machine {
        let mut m = web();
        m.provider = crate::model::ProviderKind::Proxmox;
        m.capabilities = crate::model::Capabilities::proxmox(true);
        m
    }

    fn deleted(steps: &[Step]) -> Vec<(&str, bool)> {
        steps
            .iter()
            .map(|st| match &st.op {
                Operation::Delete { snapshot, children } => (snapshot.as_str(), *children),
                other => panic!("not a delete: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_subtree_delete_where_the_back_end_deletes_one_at_a_time_is_a_plan_deepest_first() {
        let m = one_at_a_time();
        let with = |children| Operation::Delete {
            snapshot: "a".into(),
            children,
        };
        let c = describe(&m, with(true), ctx(false)).unwrap();
        // a ─ b ─ c, a ─ d: c first, then b and d, a last; each alone.
        assert_eq!(
            deleted(&c.steps),
            [("c", false), ("b", false), ("d", false), ("a", false)]
        );
        assert!(c.summary.contains("one at a time"), "{}", c.summary);
        assert!(
            c.lines.iter().any(|l| l.contains("a failure stops")),
            "{:?}",
            c.lines
        );
        assert!(c.answered().unwrap().len() == 4);
        // The form's answer decides: unticked, the snapshot alone.
        let mut c = describe(&m, with(false), ctx(false)).unwrap();
        assert_eq!(deleted(&c.answered().unwrap()), [("a", false)]);
        let field = c
            .fields
            .iter_mut()
            .find(|f| f.input == Input::WithChildren)
            .expect("with children");
        assert!(matches!(field.value, Value::Check { disabled: None, .. }));
        field.value = Value::Check {
            on: true,
            disabled: None,
        };
        assert!(c.follow_answers());
        assert!(c.summary.contains("3 descendant(s)"), "{}", c.summary);
        assert_eq!(deleted(&c.answered().unwrap()).len(), 4);
        // Each step was seen on the tree as it is: the first one's checks hold now.
        let first = &c.answered().unwrap()[0];
        assert_eq!(first.expected.stale_reason(&m, &first.op), None);
    }

    #[test]
    fn each_step_of_a_delete_all_made_one_at_a_time_checks_the_whole_set_left() {
        use crate::model::machine::tests::{snap, vm};
        let m = one_at_a_time();
        let c = describe(&m, Operation::DeleteAll, ctx(false)).unwrap();
        let [first, second, ..] = c.steps.as_slice() else {
            panic!("{:?}", c.steps)
        };
        assert_eq!(first.expected.stale_reason(&m, &first.op), None);
        // A snapshot taken meanwhile (a take queued before the plan): refused, not left
        // behind by a plan that says it deleted all.
        let mut more = m.clone();
        more.snapshots[0].children[1]
            .children
            .push(snap("e", "e", vec![]));
        let why = first.expected.stale_reason(&more, &first.op);
        assert!(
            why.as_deref().is_some_and(|w| w.contains("changed since")),
            "{why:?}"
        );
        // After the first deletion (c), the second step's check holds.
        let mut after = vm(
            "lab",
            "vm-1",
            "web",
            vec![snap(
                "a",
                "a",
                vec![snap("b", "b", vec![]), snap("d", "d", vec![])],
            )],
        );
        after.provider = m.provider;
        after.capabilities = m.capabilities.clone();
        assert_eq!(second.expected.stale_reason(&after, &second.op), None);
    }

    #[test]
    fn with_children_on_a_leaf_where_the_back_end_deletes_one_at_a_time_is_the_leaf_alone() {
        let c = describe(
            &one_at_a_time(),
            Operation::Delete {
                snapshot: "c".into(),
                children: true,
            },
            ctx(false),
        )
        .unwrap();
        assert_eq!(deleted(&c.steps), [("c", false)]);
        assert_eq!(deleted(&c.answered().unwrap()), [("c", false)]);
        assert!(c.one_by_one, "a plan of one step, said as a plan");
        assert!(!c.summary.contains("descendant"), "{}", c.summary);
    }

    #[test]
    fn delete_all_where_the_back_end_deletes_one_at_a_time_is_a_plan_of_every_snapshot() {
        let c = describe(&one_at_a_time(), Operation::DeleteAll, ctx(true)).unwrap();
        assert_eq!(
            deleted(&c.steps),
            [("c", false), ("b", false), ("d", false), ("a", false)]
        );
        assert_eq!(c.confirmation, Confirmation::TypeName("web".into()));
        assert!(c.summary.contains("one at a time"), "{}", c.summary);
        // Where the back end deletes them all in one call, one step.
        let c = describe(&web(), Operation::DeleteAll, ctx(true)).unwrap();
        assert_eq!(c.steps.len(), 1);
    }

    #[test]
    fn a_vm_take_gives_the_guides_advice_and_the_size_of_its_memory_file() {
        let take = |memory| Operation::Take {
            quiesce_timeout: None,
            name: "n".into(),
            description: String::new(),
            memory,
            quiesce: false,
        };
        let mut m = web();
        m.memory_mb = Some(65536);
        let lines = describe(&m, take(false), ctx(false)).unwrap().lines;
        assert!(
            lines
                .iter()
                .any(|l| l.contains("cold snapshot") && l.contains("quiesce")),
            "{lines:?}"
        );
        assert!(
            lines.iter().any(|l| l.contains("64.0 GiB memory file")),
            "{lines:?}"
        );
        // Memory asked: the size is said all the same.
        let lines = describe(&m, take(true), ctx(false)).unwrap().lines;
        assert!(lines.iter().any(|l| l.contains("64.0 GiB")), "{lines:?}");
        // No configured memory known, or none that can be saved: no size.
        m.memory_mb = None;
        let lines = describe(&m, take(false), ctx(false)).unwrap().lines;
        assert!(
            !lines.iter().any(|l| l.contains("memory file")),
            "{lines:?}"
        );
        m.memory_mb = Some(65536);
        m.capabilities.memory = false;
        let lines = describe(&m, take(false), ctx(false)).unwrap().lines;
        assert!(
            !lines.iter().any(|l| l.contains("memory file")),
            "{lines:?}"
        );
    }

    #[test]
    fn only_a_machine_whose_restore_consumes_its_snapshot_is_offered_a_retake() {
        let mut m = web();
        let why = retake_unavailable(&m).expect("a vSphere VM keeps its snapshot");
        assert!(
            why.contains("keeps its snapshot") && why.contains("lab/"),
            "{why}"
        );
        m.capabilities = crate::model::Capabilities::vps();
        assert_eq!(retake_unavailable(&m), None);
        let Operation::Take {
            name, description, ..
        } = retake(Utc::now())
        else {
            panic!("a take")
        };
        assert!(!name.is_empty() && name == description);
    }

    #[test]
    fn names_longer_than_the_back_end_takes_are_refused_in_describe_and_in_the_form() {
        let m = web();
        let take = |name: &str| Operation::Take {
            quiesce_timeout: None,
            name: name.into(),
            description: String::new(),
            memory: false,
            quiesce: false,
        };
        let long = "é".repeat(81);
        let r = describe(&m, take(&long), ctx(false)).unwrap_err();
        assert!(
            r.0.contains("at most 80 characters") && r.0.contains("81"),
            "{r}"
        );
        assert!(describe(&m, take(&"é".repeat(80)), ctx(false)).is_ok());
        // Typed in the dialog's field: refused when answered.
        let mut c = describe(&m, take("ok"), ctx(false)).unwrap();
        for f in &mut c.fields {
            if f.input == Input::Name {
                f.value = Value::Text(long.clone());
            }
        }
        assert!(c.answered().unwrap_err().0.contains("at most 80"));
    }

    #[test]
    fn the_take_dialogs_expires_answer_becomes_a_marker() {
        let m = web();
        let take = Operation::Take {
            quiesce_timeout: None,
            name: "n".into(),
            description: "before the sale".into(),
            memory: false,
            quiesce: false,
        };
        let mut c = describe(&m, take, ctx(false)).unwrap();
        let set = |c: &mut Change, v: &str| {
            for f in &mut c.fields {
                if f.input == Input::Expires {
                    f.value = Value::Text(v.into());
                }
            }
        };
        // Empty: never expires; the description as typed.
        let Operation::Take { description, .. } = &c.answered().unwrap()[0].op else {
            panic!()
        };
        assert_eq!(description, "before the sale");
        set(&mut c, "7d");
        let Operation::Take { description, .. } = &c.answered().unwrap()[0].op else {
            panic!()
        };
        let at = super::super::cleanup::expires(description).expect("a marker");
        let off = at - (c.now + chrono::Duration::days(7));
        assert!(off.num_seconds().abs() <= 1, "{at}");
        assert!(description.starts_with("before the sale [expires "));
        set(&mut c, "soon");
        assert!(c.answered().unwrap_err().0.starts_with("expires:"));
    }

    #[test]
    fn an_outcome_names_the_tasks_running_on_the_machine() {
        let m = web();
        let take = Operation::Take {
            quiesce_timeout: None,
            name: "n".into(),
            description: String::new(),
            memory: false,
            quiesce: false,
        };
        let before = ExpectedView::of(&m, &take);
        let plain = outcome(&m, &take, &before);
        assert!(plain.contains("no new snapshot"), "{plain}");
        assert!(!plain.contains("running"), "{plain}");
        let mut busy = m.clone();
        busy.running_tasks = vec!["4242".into()];
        let said = outcome(&busy, &take, &before);
        assert!(said.contains("task 4242 is running on it now"), "{said}");
    }

    #[test]
    fn revert_and_delete_all_need_the_name_typed_batches_the_count() {
        let m = web();
        let revert = Operation::Revert {
            start: false,
            snapshot: "b".into(),
            suppress_power_on: false,
        };
        let c = describe(&m, revert.clone(), ctx(true)).unwrap();
        assert_eq!(c.confirmation, Confirmation::TypeName("web".into()));
        assert_eq!(c.fields[0].input, Input::Typed);
        assert!(!c.typed_ok());
        let c = describe(&m, revert, ctx(false)).unwrap();
        assert_eq!(c.confirmation, Confirmation::YesNo);
        let c = describe(&m, Operation::DeleteAll, ctx(true)).unwrap();
        assert_eq!(c.confirmation, Confirmation::TypeName("web".into()));
        let batch = describe_batch(&[(&m, vec!["a".into(), "c".into()])], ctx(true)).unwrap();
        assert_eq!(batch.confirmation, Confirmation::TypeCount(2));
        assert!(batch.confirmation.accepts(" 2 "));
        assert!(!batch.confirmation.accepts("web"));
        // Deepest first, each with the view it was chosen from.
        let order: Vec<_> = batch.steps.iter().map(|s| s.op.snapshot()).collect();
        assert_eq!(order, [Some("c"), Some("a")]);
        assert!(batch.steps[0].expected.snapshot_ids.contains(&"a".into()));
    }

    #[test]
    fn answers_are_read_by_kind_and_the_baseline_is_the_view_described() {
        let mut m = web();
        let c = describe(
            &m,
            Operation::Delete {
                snapshot: "b".into(),
                children: false,
            },
            ctx(false),
        )
        .unwrap();
        let mut c2 = c.clone();
        for f in &mut c2.fields {
            if f.input == Input::WithChildren {
                f.label = "anything".into();
                f.value = Value::Check {
                    on: true,
                    disabled: None,
                };
            }
        }
        let steps = c2.answered().unwrap();
        assert_eq!(steps[0].op.name(), "delete-children");
        // The machine changes after the description: the baseline does not.
        m.snapshots.clear();
        assert_eq!(
            c.steps[0].expected.target_path,
            Some(vec!["a".into(), "b".into()])
        );
    }

    #[test]
    fn refusals_say_why_before_anything_is_sent() {
        let mut m = web();
        m.capabilities.consolidate = false;
        assert!(
            describe(&m, Operation::Consolidate, ctx(false))
                .unwrap_err()
                .0
                .contains("consolidat")
        );
        m.snapshots.clear();
        m.current = None;
        assert!(
            describe(
                &m,
                Operation::RevertCurrent {
                    start: false,
                    suppress_power_on: false
                },
                ctx(false)
            )
            .unwrap_err()
            .0
            .contains("no current snapshot")
        );
        assert!(describe(&m, Operation::DeleteAll, ctx(false)).is_err());
        assert!(
            describe(
                &m,
                Operation::Replace {
                    description: String::new()
                },
                ctx(false)
            )
            .unwrap_err()
            .0
            .contains("take another")
        );
    }

    #[test]
    fn a_rename_to_a_name_the_tree_has_is_a_clash() {
        let m = web();
        let rename = |name: &str| {
            describe(
                &m,
                Operation::Rename {
                    snapshot: "b".into(),
                    name: Some(name.into()),
                    description: None,
                },
                ctx(false),
            )
            .unwrap()
            .answered()
            .unwrap()
            .remove(0)
        };
        assert_eq!(rename("d").name_clash().as_deref(), Some("\"d\" (d)"));
        assert_eq!(rename("b").name_clash(), None);
        assert_eq!(rename("new").name_clash(), None);
    }

    /// The summary and the lines say one thing: what this delete does with its descendants,
    /// as it is asked (the CLI's `--children`, the dialog's answer as it changes).
    #[test]
    fn a_delete_says_what_happens_to_its_descendants_as_asked() {
        let m = web();
        let delete = |children: bool| {
            describe(
                &m,
                Operation::Delete {
                    snapshot: "a".into(),
                    children,
                },
                ctx(true),
            )
            .unwrap()
        };
        let alone = delete(false);
        assert!(
            alone.summary.ends_with("(its 2 child snapshot(s) move up)"),
            "{}",
            alone.summary
        );
        let said = alone.lines.join("\n");
        assert!(said.contains("move up to its parent"), "{said}");
        assert!(
            !said.contains("deleted with it"),
            "not what happens with children: {said}"
        );
        let with = delete(true);
        let said = with.lines.join("\n");
        assert!(
            with.summary.ends_with("and its 3 descendant(s)"),
            "{}",
            with.summary
        );
        assert!(
            said.contains("3 descendant snapshot(s) are deleted"),
            "{said}"
        );
        assert!(!said.contains("move up"), "{said}");
        // The dialog's answer changes the words as it changes the confirmation.
        let mut toggled = alone.clone();
        for f in &mut toggled.fields {
            if f.input == Input::WithChildren {
                f.value = Value::Check {
                    on: true,
                    disabled: None,
                };
            }
        }
        assert!(toggled.follow_answers());
        assert_eq!(toggled.summary, with.summary);
        assert_eq!(toggled.lines, with.lines);
        // A leaf has no descendants to speak of.
        let leaf = describe(
            &m,
            Operation::Delete {
                snapshot: "d".into(),
                children: false,
            },
            ctx(true),
        )
        .unwrap();
        assert_eq!(leaf.summary, "delete snapshot \"d\" (d) of lab/web");
    }

    /// A delete-all that includes a protected snapshot names it.
    #[test]
    fn a_delete_all_names_the_protected_snapshots_it_includes() {
        let mut m = web();
        m.snapshots[0].children[1].description = crate::model::cleanup::with_pin("", true);
        let all = describe(&m, Operation::DeleteAll, ctx(true)).unwrap();
        let said = all.lines.join("\n");
        assert!(said.contains("Protected: \"d\" (d)"), "{said}");
        assert_eq!(all.confirmation, Confirmation::TypeName("web".into()));
    }
}
