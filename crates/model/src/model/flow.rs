//! The one way a change is asked for, by the TUI and the CLI alike.
//!
//! [`open`] refuses a change that cannot apply — read-only first (the refusal the engine's
//! policy gives), then whatever its description refuses — or yields it described, with
//! whether the guest agent is to be checked first. Once the operator has confirmed it in
//! its own words (the TUI's dialog; the CLI's prompt, or `--yes`), [`Asked::next`] yields
//! the questions left, in order, each put once: a take whose guest agent is not known to
//! run, then a name another snapshot already has. With none left, the steps run.
//!
//! Where the two faces deliberately differ: the TUI always opens the change's dialog (it is
//! also the form of its name, description and options), the CLI asks for confirmation of
//! a destructive change only (a take or a rename is confirmed by the command line itself);
//! `--yes` answers every question yes.

use super::change::{self, Change, Context, Refusal, Step};
use super::guest::{self, Before, GuestAgent};
use super::machine::Machine;
use super::operation::Operation;

/// A change that can be asked for: its description and what to do about the guest agent.
#[derive(Clone, Debug)]
pub struct Opened {
    /// The change in its own words, with its fields and steps.
    pub change: Change,
    /// Whether the guest agent is checked before it runs.
    pub guest: Before,
}

/// Why a change is not asked for at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The profile (or the session) is read-only: the policy's sentence.
    ReadOnly(String),
    /// The change cannot apply to the machine as shown (its description's sentence).
    Cannot(Refusal),
}

impl Refused {
    /// The sentence the operator reads.
    pub fn sentence(&self) -> &str {
        match self {
            Refused::ReadOnly(s) | Refused::Cannot(Refusal(s)) => s,
        }
    }
}

/// `op` on `m`, described, or refused: `writable` is the read-only policy's answer for it
/// (said first, whatever else is wrong), `checks_guest` whether the profile checks guest
/// agents.
pub fn open(
    m: &Machine,
    op: Operation,
    ctx: Context,
    writable: impl FnOnce(&Operation) -> Result<(), String>,
    checks_guest: bool,
) -> Result<Opened, Refused> {
    writable(&op).map_err(Refused::ReadOnly)?;
    let guest = guest::before(m, &op, checks_guest);
    let change = change::describe(m, op, ctx).map_err(Refused::Cannot)?;
    Ok(Opened { change, guest })
}

/// A question put after the confirmation, to be answered yes for the change to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Question {
    /// The guest agent is not known to run (the sentence says why): take it anyway?
    Guest(String),
    /// Another snapshot of the machine already has this name: go on?
    NameClash(String),
}

/// The questions answered yes so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Asked {
    guest: bool,
    clash: bool,
}

impl Asked {
    /// The next question about `steps` (with the guest agent's state where it was checked,
    /// on the machine named `machine`), or none: the steps run.
    pub fn next(
        &self,
        steps: &[Step],
        guest: Option<&GuestAgent>,
        machine: &str,
    ) -> Option<Question> {
        if !self.guest
            && let Some(warning) = guest.and_then(|g| g.take_warning(machine))
        {
            return Some(Question::Guest(warning));
        }
        if !self.clash
            && let Some(clash) = steps.iter().find_map(Step::name_clash)
        {
            return Some(Question::NameClash(clash));
        }
        None
    }

    /// Whether a question has been put (and answered yes, or is being answered).
    pub fn any(&self) -> bool {
        self.guest || self.clash
    }

    /// `question` answered yes: it is not put again.
    pub fn yes(&mut self, question: &Question) {
        match question {
            Question::Guest(_) => self.guest = true,
            Question::NameClash(_) => self.clash = true,
        }
    }
}

impl Question {
    /// The question as the TUI's status line puts it: Enter again answers yes.
    pub fn again(&self) -> String {
        match self {
            Question::Guest(warning) => format!("{warning}; Enter again to take it anyway"),
            Question::NameClash(name) => {
                format!("another snapshot is already named {name}; Enter again to rename anyway")
            }
        }
    }

    /// The question as a prompt puts it, after the change's summary.
    pub fn prompt(&self, summary: &str, machine: &str) -> String {
        match self {
            Question::Guest(warning) => format!("{summary}, though {warning}"),
            Question::NameClash(name) => {
                format!("{summary}; another snapshot of {machine} is already named {name}")
            }
        }
    }

    /// What `--yes` says as it answers it.
    pub fn answered_by_yes(&self, machine: &str) -> String {
        match self {
            Question::Guest(warning) => format!("{warning}; taking it anyway (--yes)"),
            Question::NameClash(name) => format!(
                "another snapshot of {machine} is already named {name}; renaming anyway (--yes)"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::cleanup::Protect;
    use crate::model::machine::tests::branched;

    fn ctx(protect: &Protect) -> Context<'_> {
        Context {
            allow_low_space: false,
            now: chrono::Utc::now(),
            type_to_confirm: false,
            protect,
        }
    }

    #[test]
    fn read_only_is_refused_before_the_description() {
        let (m, protect) = (branched(), Protect::new(&[]));
        // A snapshot that does not exist is refused by the description: read-only is
        // said first.
        let op = Operation::Delete {
            snapshot: "no-such".into(),
            children: false,
        };
        let e = open(
            &m,
            op.clone(),
            ctx(&protect),
            |_| Err("read-only".into()),
            false,
        )
        .unwrap_err();
        assert_eq!(e, Refused::ReadOnly("read-only".into()));
        let e = open(&m, op, ctx(&protect), |_| Ok(()), false).unwrap_err();
        assert!(matches!(e, Refused::Cannot(_)), "{e:?}");
    }

    #[test]
    fn questions_come_in_order_each_once() {
        let (m, protect) = (branched(), Protect::new(&[]));
        // Renaming c to the name of b.
        let op = Operation::Rename {
            snapshot: "c".into(),
            name: Some("b".into()),
            description: None,
        };
        let opened = open(&m, op, ctx(&protect), |_| Ok(()), false).unwrap();
        let steps = opened.change.answered().unwrap();
        let stopped = GuestAgent::Stopped("inactive".into());
        let mut asked = Asked::default();
        let first = asked.next(&steps, Some(&stopped), &m.name).unwrap();
        assert!(matches!(first, Question::Guest(_)), "{first:?}");
        asked.yes(&first);
        let second = asked.next(&steps, Some(&stopped), &m.name).unwrap();
        assert!(
            matches!(&second, Question::NameClash(n) if n.contains("\"b\"")),
            "{second:?}"
        );
        asked.yes(&second);
        assert_eq!(asked.next(&steps, Some(&stopped), &m.name), None);
        // A running agent and no clash: nothing to ask.
        assert_eq!(
            Asked::default().next(&[], Some(&GuestAgent::Running), &m.name),
            None
        );
    }
}
