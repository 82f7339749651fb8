//! Ordering a VPS option (the snapshot guide's step 1): what an order would cost for each
//! allowed duration, and the order itself — created, never paid (docs/backups.md, "Ordering
//! an option").

use serde::{Deserialize, Serialize};

/// An option a VPS can be ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum VpsOption {
    /// The snapshot option (one snapshot).
    Snapshot,
    /// The automated backup (daily restore points).
    AutomatedBackup,
}

impl VpsOption {
    /// Both, in the order the guide takes them.
    pub const ALL: [VpsOption; 2] = [VpsOption::Snapshot, VpsOption::AutomatedBackup];

    /// The API's name (`snapshot`, `automatedBackup`).
    pub fn api(self) -> &'static str {
        match self {
            VpsOption::Snapshot => "snapshot",
            VpsOption::AutomatedBackup => "automatedBackup",
        }
    }

    /// The command line's name (`snapshot`, `automated-backup`).
    pub fn cli(self) -> &'static str {
        match self {
            VpsOption::Snapshot => "snapshot",
            VpsOption::AutomatedBackup => "automated-backup",
        }
    }

    /// Words for a sentence: "the snapshot option".
    pub fn label(self) -> &'static str {
        match self {
            VpsOption::Snapshot => "the snapshot option",
            VpsOption::AutomatedBackup => "the automated backup option",
        }
    }

    /// Whether `m` has it, as last read (`None`: not known).
    pub fn subscribed(self, m: &super::Machine) -> Option<bool> {
        match self {
            VpsOption::Snapshot => m.snapshot_option,
            VpsOption::AutomatedBackup => m.backups.as_deref().map(|b| b.subscribed),
        }
    }

    /// The option `m` lacks, the snapshot's first: what an order from the TUI is for.
    pub fn missing_on(m: &super::Machine) -> Option<VpsOption> {
        VpsOption::ALL
            .into_iter()
            .find(|o| o.subscribed(m) == Some(false))
    }
}

/// How the order is made: the legacy per-option route, or a cart (newer offers).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Route {
    /// `POST /order/vps/{serviceName}/{option}/{duration}`.
    Legacy,
    /// `POST /order/cart` … `checkout`, with the plan the catalogue names.
    Cart {
        /// The plan's code.
        plan_code: String,
        /// Its pricing mode (`default`).
        pricing_mode: String,
    },
}

/// One of an order's contracts: its name and where it is read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contract {
    /// Name. Foreign text.
    pub name: String,
    /// Where to read it. Foreign text.
    pub url: String,
}

/// What an order for one duration would cost, as the API says it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    /// The duration, as the API names it (`P1M`, `upto-2026-12-31`, …): sent back as given.
    pub duration: String,
    /// The price with tax, ready to show (`3.59 €`). Foreign text.
    pub with_tax: String,
    /// The price without tax, when given. Foreign text.
    pub without_tax: Option<String>,
    /// The contracts the order carries (the cart route gives them with the order).
    pub contracts: Vec<Contract>,
    /// How it is ordered.
    pub route: Route,
}

/// An order of an option for a VPS: the quotes read, and the duration chosen among them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptionOrder {
    /// The option.
    pub option: VpsOption,
    /// Every duration's quote, as read just before.
    pub quotes: Vec<Quote>,
    /// The duration chosen (one of the quotes').
    pub duration: String,
}

impl OptionOrder {
    /// The chosen duration's quote.
    pub fn quote(&self) -> Option<&Quote> {
        self.quotes.iter().find(|q| q.duration == self.duration)
    }

    /// The durations, `, ` between them.
    pub fn durations(&self) -> String {
        self.quotes
            .iter()
            .map(|q| q.duration.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Why `option` cannot be ordered for `m` (`None`: it can).
pub fn refusal(m: &super::Machine, option: VpsOption) -> Option<String> {
    let who = format!("{}/{}", m.profile, m.name);
    if m.provider != super::ProviderKind::Ovh {
        return Some(format!(
            "{who} is a {}: options are ordered for OVHcloud VPSs",
            m.provider.machine_label()
        ));
    }
    match option.subscribed(m) {
        Some(true) => Some(format!("{who} already has {}", option.label())),
        _ => None,
    }
}

/// What a run says of an order it created: where it is paid, and that nothing is active yet.
pub fn created_note(order_id: i64, url: &str) -> String {
    format!(
        "order {order_id} created: pay it at {url} ; the option is active only once OVHcloud has the payment"
    )
}

/// Where an order is paid, from what [`created_note`] said.
pub fn paid_at(note: &str) -> Option<&str> {
    note.split_once(" pay it at ")?
        .1
        .split_once(" ;")
        .map(|(url, _)| url)
}

/// A quote as one line: "P1M  3.59 € (2.99 € without tax)".
pub fn quote_line(q: &Quote) -> String {
    let safe = |t: &str| crate::safe::terminal(t).into_owned();
    match &q.without_tax {
        Some(w) => format!(
            "{}  {} ({} without tax)",
            safe(&q.duration),
            safe(&q.with_tax),
            safe(w)
        ),
        None => format!("{}  {}", safe(&q.duration), safe(&q.with_tax)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quotes() -> Vec<Quote> {
        ["P1M", "P12M"]
            .into_iter()
            .map(|d| Quote {
                duration: d.into(),
                with_tax: "3.59 €".into(),
                without_tax: None,
                contracts: vec![Contract {
                    name: "terms".into(),
                    url: "https://x.invalid/t".into(),
                }],
                route: Route::Legacy,
            })
            .collect()
    }

    #[test]
    fn an_order_is_typed_even_yes_no_re_checked_and_its_duration_one_offered() {
        use crate::model::change::{Confirmation, Context, Value, describe};
        use crate::model::{ExpectedView, Operation};
        let protect = crate::model::cleanup::Protect::new(&[]);
        let ctx = Context {
            now: chrono::Utc::now(),
            type_to_confirm: false,
            protect: &protect,
            allow_low_space: false,
        };
        let mut m = crate::model::machine::tests::vm("ovh", "vps-1", "blog", Vec::new());
        m.provider = crate::model::ProviderKind::Ovh;
        m.snapshot_option = Some(false);
        let op = Operation::Order(Box::new(OptionOrder {
            option: VpsOption::Snapshot,
            quotes: quotes(),
            duration: "P1M".into(),
        }));
        let mut c = describe(&m, op.clone(), ctx).unwrap();
        assert_eq!(c.confirmation, Confirmation::TypeName("blog".into()));
        assert_eq!(
            c.lines
                .iter()
                .filter(|l| l.starts_with("Contract: terms"))
                .count(),
            1,
            "{:?}",
            c.lines
        );
        let duration = c
            .fields
            .iter()
            .position(|f| f.input == crate::model::change::Input::Duration)
            .unwrap();
        c.fields[0].value = Value::Text("blog".into());
        c.fields[duration].value = Value::Text("P12M".into());
        let Operation::Order(o) = &c.answered().unwrap()[0].op else {
            panic!()
        };
        assert_eq!(o.duration, "P12M");
        c.fields[duration].value = Value::Text("P6M".into());
        assert!(
            c.answered()
                .unwrap_err()
                .0
                .contains("choose one of P1M, P12M")
        );
        // Subscribed since it was seen (paid elsewhere): refused, nothing ordered.
        let seen = ExpectedView::of(&m, &op);
        let mut paid = m.clone();
        paid.snapshot_option = Some(true);
        let why = seen.stale_reason(&paid, &op).unwrap();
        assert!(
            why.contains("already has the snapshot option; nothing was ordered"),
            "{why}"
        );
        assert!(describe(&paid, op, ctx).is_err());
    }

    #[test]
    fn the_note_of_an_order_gives_back_its_url() {
        let note = created_note(7, "https://pay.example/o/7?x=1;y=2");
        assert_eq!(paid_at(&note), Some("https://pay.example/o/7?x=1;y=2"));
        assert_eq!(paid_at("task 3 started"), None);
    }
}
