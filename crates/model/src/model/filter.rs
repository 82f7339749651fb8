//! The FILTER of `ls`, `report`, `check`, `prune` and the TUI's `/` (docs/addressing.md,
//! "Filters"): which machines a text selects. One rule: ignoring case, the text is found in
//! the machine's address under its profile — `PROFILE/NAME`, `PROFILE/ID` or `PROFILE/PATH`
//! (the inventory path without its leading `/`) — so a profile's name, a machine's name, id
//! or path, and an address such as `pcc/web-01` or `pcc/Paris-DC1/vm/prod` all select.

use super::machine::Machine;

/// Between the fields of a [`haystack`]: a text given on a command line or typed in the
/// TUI cannot hold a NUL, so no match spans two fields.
const SEP: char = '\0';

/// What a FILTER is looked for in, for one machine: its three addresses, lower case. The
/// TUI keeps one per machine, so a keystroke does not rebuild them.
pub fn haystack(m: &Machine) -> String {
    let path = m.path.strip_prefix('/').unwrap_or(&m.path);
    let p = &m.profile;
    format!("{p}/{}{SEP}{p}/{}{SEP}{p}/{path}", m.name, m.id).to_lowercase()
}

/// A FILTER as given (`ls pcc`, the TUI's `/`), ready to test machines with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// The text, lower case.
    needle: String,
}

impl Filter {
    /// The filter for `text`; an empty one selects every machine.
    pub fn new(text: &str) -> Self {
        Filter {
            needle: text.to_lowercase(),
        }
    }

    /// True when it selects every machine.
    pub fn is_empty(&self) -> bool {
        self.needle.is_empty()
    }

    /// True when it selects `m`.
    pub fn matches(&self, m: &Machine) -> bool {
        self.is_empty() || self.matches_text(&haystack(m))
    }

    /// True when it selects the machine whose [`haystack`] is `text`.
    pub fn matches_text(&self, text: &str) -> bool {
        text.contains(self.needle.as_str())
    }
}

/// The sentence for a FILTER that selected no machine: `profiles` are those configured
/// (a typo shows against them); `unread` profiles may hold what it was meant for.
pub fn no_match(filter: &str, profiles: &[String], unread: usize) -> String {
    let mut s = format!("no machine matches \"{filter}\"");
    if unread > 0 {
        s.push_str(&format!(
            " among the profiles read ({unread} could not be read)"
        ));
    }
    if !profiles.is_empty() {
        s.push_str(&format!(
            "; FILTER is found in a machine's name, id or path, or its profile's name (profiles: {})",
            profiles.join(", ")
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use crate::model::machine::tests::vm;

    #[test]
    fn a_filter_finds_the_profile_name_and_profile_addresses() {
        let m = vm("pcc", "vm-101", "web-01", vec![]);
        // As before: name, id, path, ignoring case.
        for hit in ["web", "WEB-01", "vm-1", "/dc0/vm"] {
            assert!(m.matches_filter(hit), "{hit}");
        }
        // The profile, and the machine's address under it (name, id or path).
        for hit in [
            "pcc",
            "PCC",
            "pcc/",
            "pcc/web-01",
            "pcc/vm-101",
            "pcc/DC0/vm",
            "cc/we",
        ] {
            assert!(m.matches_filter(hit), "{hit}");
        }
        for miss in [
            "ovh",
            "ovh/web-01",
            "pcc/web-02",
            "pcc-typo",
            "web-01\nvm-101",
        ] {
            assert!(!m.matches_filter(miss), "{miss:?}");
        }
        // Never across two fields: the name's end and the id's start are not one text.
        assert!(!m.matches_filter("01vm"));
        assert!(!m.matches_filter("web-01vm-101"));
    }

    #[test]
    fn the_sentence_for_no_match_names_the_profiles_and_the_unread() {
        let names = ["pcc".to_string(), "ovh".to_string()];
        assert_eq!(
            super::no_match("pcc-typo", &names, 0),
            "no machine matches \"pcc-typo\"; FILTER is found in a machine's name, id or path, \
             or its profile's name (profiles: pcc, ovh)"
        );
        assert_eq!(
            super::no_match("web", &[], 1),
            "no machine matches \"web\" among the profiles read (1 could not be read)"
        );
    }
}
