//! The FILTER of `ls`, `report`, `check`, `prune` and the TUI's `/` (SPEC §3, §7): which
//! machines a text selects.

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
        for hit in ["pcc", "PCC", "pcc/", "pcc/web-01", "pcc/vm-101", "pcc/DC0/vm", "cc/we"] {
            assert!(m.matches_filter(hit), "{hit}");
        }
        for miss in ["ovh", "ovh/web-01", "pcc/web-02", "pcc-typo", "web-01\nvm-101"] {
            assert!(!m.matches_filter(miss), "{miss:?}");
        }
        // Never across two fields: the name's end and the id's start are not one text.
        assert!(!m.matches_filter("01vm"));
        assert!(!m.matches_filter("web-01vm-101"));
    }
}
