//! Plans of several changes on one machine: the order that gives what the operator chose.

use super::Machine;

/// The order in which to delete `ids` (snapshots of `machine`) one by one so that each
/// deletion leaves the others where they were: deepest first. Deleting a snapshot moves
/// only its own children up, and every selected snapshot below it is already gone, so no
/// selected snapshot is re-parented before its turn and each one's stale-view check still
/// holds. Ids not in the tree keep their place at the end (their check refuses them).
pub fn deletion_order(machine: &Machine, ids: &[String]) -> Vec<String> {
    let mut ordered: Vec<(usize, usize, &String)> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let depth = machine.id_path(id).map_or(0, |p| p.len());
            (depth, i, id)
        })
        .collect();
    // Deepest first; among equals, the order asked.
    ordered.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    ordered.into_iter().map(|(_, _, id)| id.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::machine::tests::branched;

    #[test]
    fn deletions_go_deepest_first_so_none_is_re_parented_before_its_turn() {
        // a ─ b ─ c, and a ─ d
        let m = branched();
        let ids: Vec<String> = ["a", "d", "c", "gone"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(deletion_order(&m, &ids), ["c", "d", "a", "gone"]);
    }
}
