//! The words of an option's order: what it costs for the duration chosen (and the others),
//! its contracts, and that it is an order to pay — never paid, nothing active before.

use super::{Confirmation, FormField, Input, Refusal, Said};
use crate::model::Machine;
use crate::model::order::{self, OptionOrder, quote_line};

/// What the order `o` for `m` says and asks, or why it cannot be asked for. It is always
/// confirmed by the VPS's name typed: it costs money.
pub(super) fn describe(m: &Machine, o: &OptionOrder) -> Result<Said, Refusal> {
    if let Some(why) = order::refusal(m, o.option) {
        return Err(Refusal(why));
    }
    let who = format!("{}/{}", m.profile, m.name);
    let Some(chosen) = o.quote() else {
        return Err(Refusal(match o.quotes.len() {
            0 => format!(
                "OVHcloud offers no duration for {} of {who}",
                o.option.label()
            ),
            _ => format!(
                "{}: not a duration OVHcloud offers for {} of {who}; it offers {}",
                crate::safe::terminal(&o.duration),
                o.option.label(),
                crate::safe::terminal(&o.durations())
            ),
        }));
    };
    let mut lines = vec![format!("Order {} for {who}.", o.option.label())];
    // Every duration's price; which is ordered is the Duration field's answer.
    lines.extend(o.quotes.iter().map(|q| format!("  {}", quote_line(q))));
    // Every duration's contracts, each once: the answer may choose another duration.
    let mut contracts: Vec<&crate::model::order::Contract> = Vec::new();
    for c in o.quotes.iter().flat_map(|q| &q.contracts) {
        if !contracts.contains(&c) {
            contracts.push(c);
        }
    }
    for c in &contracts {
        lines.push(format!(
            "Contract: {} {}",
            crate::safe::terminal(&c.name),
            crate::safe::terminal(&c.url)
        ));
    }
    if contracts.is_empty() {
        lines.push("Its contracts are shown with the order, where it is paid.".into());
    }
    lines.push(
        "This creates an order for the account to pay; snaptree pays nothing, and the option is active only once OVHcloud has the payment.".into(),
    );
    Ok(Said {
        title: format!("Order {} for {}", o.option.label(), m.name),
        summary: format!(
            "order {} for {who} ({}, {})",
            o.option.label(),
            crate::safe::terminal(&chosen.duration),
            crate::safe::terminal(&chosen.with_tax)
        ),
        lines,
        fields: vec![FormField::text_proposing(
            Input::Duration,
            "Duration",
            &o.duration,
            &o.duration,
        )],
        // Always the name typed, whatever `confirm` says: it costs money.
        typed: false,
        confirmation: Confirmation::TypeName(m.name.clone()),
    })
}

/// The duration the form's answer chooses, or why it is not one offered.
pub(super) fn answered_duration(o: &OptionOrder, text: &str) -> Result<String, Refusal> {
    let text = text.trim();
    o.quotes
        .iter()
        .find(|q| q.duration == text)
        .map(|q| q.duration.clone())
        .ok_or_else(|| {
            Refusal(format!(
                "duration {}: choose one of {}",
                crate::safe::terminal(text),
                crate::safe::terminal(&o.durations())
            ))
        })
}
