//! Ordering the option a VPS lacks (`O`): the quotes are asked of the API, then the order's
//! dialog opens (`model::change`), its duration chosen and the VPS's name typed. The order
//! is created for the account to pay, never paid (docs/backups.md, "Ordering an option").

use super::state::AppState;
use super::update::{Effect, info, open_operation, refuse};
use crate::engine::Command;
use crate::model::order::{self, OptionOrder, Quote, VpsOption};
use crate::model::{MachineRef, Operation};

/// `O`: ask what the option the selected VPS lacks would cost.
pub fn ask(s: &mut AppState) -> Vec<Effect> {
    let Some(m) = s.selected_machine().cloned() else {
        return refuse(s, "select a VPS first");
    };
    if s.read_only(&m.profile) {
        let reason = crate::engine::policy::read_only_reason(&m.profile);
        return refuse(s, format!("refused: {reason}"));
    }
    if m.provider != crate::model::ProviderKind::Ovh {
        let why = order::refusal(&m, VpsOption::Snapshot).unwrap_or_default();
        return refuse(s, why);
    }
    let Some(option) = VpsOption::missing_on(&m) else {
        let why = format!(
            "{} has the snapshot and the automated backup options",
            m.name
        );
        return refuse(s, why);
    };
    let request = s.tasks.new_request();
    s.quotes_asked = Some((request, m.machine_ref()));
    info(
        s,
        format!("{}: asking OVHcloud what {} costs…", m.name, option.label()),
    );
    vec![Effect::Send(
        m.profile.clone(),
        Command::Quotes {
            request,
            machine_id: m.id.clone(),
            option,
        },
    )]
}

/// The quotes came: the order's dialog opens on the VPS as it is now, unless another key
/// was pressed since (a dialog opened, another request made).
pub fn answered(
    s: &mut AppState,
    request: u64,
    key: &MachineRef,
    option: VpsOption,
    result: Result<Vec<Quote>, String>,
) -> Vec<Effect> {
    if s.quotes_asked.as_ref() != Some(&(request, key.clone())) {
        return Vec::new();
    }
    s.quotes_asked = None;
    let Some(m) = s.machine(key).cloned() else {
        return refuse(s, "that VPS is no longer in the inventory; refresh");
    };
    if s.dialog().is_some() {
        return Vec::new();
    }
    let quotes = match result {
        Ok(q) => q,
        Err(e) => {
            return refuse(
                s,
                format!(
                    "{}: what {} costs could not be read: {e} (the key needs the order rules: snaptree login --order)",
                    m.name,
                    option.label()
                ),
            );
        }
    };
    let duration = quotes
        .first()
        .map(|q| q.duration.clone())
        .unwrap_or_default();
    let op = Operation::Order(Box::new(OptionOrder {
        option,
        quotes,
        duration,
    }));
    open_operation(s, &m, Ok(op), false)
}
