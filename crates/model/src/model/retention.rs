//! Tiered retention: `--keep-daily N`, `--keep-weekly N`, `--keep-monthly N`, with restic's
//! `forget` semantics, per machine. For the last N UTC days (ISO weeks, months) that have
//! snapshots, the newest snapshot of each is kept; the tiers' keeps add up (a snapshot kept
//! by one tier is kept, whatever the others say). The calendar is UTC's, on the snapshots'
//! own creation times.

use chrono::{DateTime, Datelike, Utc};

/// One tier of retention.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    /// The newest snapshot of each of the last N days that have one.
    Daily,
    /// … of each of the last N ISO weeks.
    Weekly,
    /// … of each of the last N months.
    Monthly,
}

impl Tier {
    /// Every tier, in the order a reason names them.
    pub const ALL: [Tier; 3] = [Tier::Daily, Tier::Weekly, Tier::Monthly];

    /// Its command-line flag (and, without the dashes, its palette word).
    pub fn flag(self) -> &'static str {
        match self {
            Tier::Daily => "--keep-daily",
            Tier::Weekly => "--keep-weekly",
            Tier::Monthly => "--keep-monthly",
        }
    }

    /// The period `t` falls in, as a number that grows with time.
    fn bucket(self, t: DateTime<Utc>) -> i64 {
        let d = t.date_naive();
        match self {
            Tier::Daily => i64::from(d.num_days_from_ce()),
            Tier::Weekly => {
                let w = d.iso_week();
                i64::from(w.year()) * 100 + i64::from(w.week())
            }
            Tier::Monthly => i64::from(d.year()) * 100 + i64::from(d.month()),
        }
    }

    /// The period `t` falls in, as a person writes it: `2026-11-30`, `2026-W48`, `2026-11`.
    pub fn period(self, t: DateTime<Utc>) -> String {
        let d = t.date_naive();
        match self {
            Tier::Daily => d.format("%Y-%m-%d").to_string(),
            Tier::Weekly => {
                let w = d.iso_week();
                format!("{}-W{:02}", w.year(), w.week())
            }
            Tier::Monthly => d.format("%Y-%m").to_string(),
        }
    }
}

/// How many periods each tier keeps (`None` or 0: the tier is not used).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tiers {
    /// `--keep-daily`.
    pub daily: Option<usize>,
    /// `--keep-weekly`.
    pub weekly: Option<usize>,
    /// `--keep-monthly`.
    pub monthly: Option<usize>,
}

impl Tiers {
    /// How many periods `tier` keeps.
    pub fn of(&self, tier: Tier) -> usize {
        match tier {
            Tier::Daily => self.daily,
            Tier::Weekly => self.weekly,
            Tier::Monthly => self.monthly,
        }
        .unwrap_or(0)
    }

    /// Some tier is used.
    pub fn any(&self) -> bool {
        Tier::ALL.iter().any(|t| self.of(*t) > 0)
    }

    /// The tiers used, as flags: `--keep-daily 7, --keep-weekly 4`.
    pub fn describe(&self) -> String {
        Tier::ALL
            .iter()
            .filter(|t| self.of(**t) > 0)
            .map(|t| format!("{} {}", t.flag(), self.of(*t)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// For each snapshot of one machine, given as (creation time, id) in any order, the
    /// tiers that keep it (empty: none). Newest first (ties: the smaller id first), each
    /// tier keeps the first snapshot of each new period until it has kept its N.
    pub fn keeps(&self, snapshots: &[(DateTime<Utc>, &str)]) -> Vec<Vec<Tier>> {
        let mut kept = vec![Vec::new(); snapshots.len()];
        if !self.any() {
            return kept;
        }
        let mut order: Vec<usize> = (0..snapshots.len()).collect();
        order.sort_by(|&a, &b| {
            let ((ta, ia), (tb, ib)) = (snapshots[a], snapshots[b]);
            tb.cmp(&ta).then(ia.cmp(ib))
        });
        for tier in Tier::ALL {
            let mut left = self.of(tier);
            let mut last = None;
            for &i in &order {
                if left == 0 {
                    break;
                }
                let period = tier.bucket(snapshots[i].0);
                if last != Some(period) {
                    kept[i].push(tier);
                    last = Some(period);
                    left -= 1;
                }
            }
        }
        kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use std::collections::BTreeMap;

    fn t(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    /// The semantics written down once more, another way: group by period, take the N
    /// newest periods, keep the newest snapshot of each (ties: the smaller id).
    fn reference(tiers: &Tiers, snaps: &[(DateTime<Utc>, String)]) -> Vec<Vec<Tier>> {
        let mut kept = vec![Vec::new(); snaps.len()];
        for tier in Tier::ALL {
            let mut periods: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
            for (i, (time, _)) in snaps.iter().enumerate() {
                periods.entry(tier.bucket(*time)).or_default().push(i);
            }
            for members in periods.values().rev().take(tiers.of(tier)) {
                let newest = members
                    .iter()
                    .copied()
                    .max_by(|&a, &b| {
                        snaps[a]
                            .0
                            .cmp(&snaps[b].0)
                            .then(snaps[b].1.cmp(&snaps[a].1))
                    })
                    .expect("a period has a member");
                kept[newest].push(tier);
            }
        }
        kept
    }

    #[test]
    fn each_tier_keeps_the_newest_of_its_last_periods() {
        // Sun 29 Nov (ISO week 48) twice, Mon 30 Nov (week 49), Tue 1 Dec (week 49).
        let snaps = [
            (t(2026, 11, 29, 8), "a"),
            (t(2026, 11, 29, 20), "b"),
            (t(2026, 11, 30, 9), "c"),
            (t(2026, 12, 1, 9), "d"),
        ];
        let keeps = |tiers: Tiers| tiers.keeps(&snaps);
        let daily = keeps(Tiers {
            daily: Some(2),
            ..Tiers::default()
        });
        assert_eq!(
            daily,
            [vec![], vec![], vec![Tier::Daily], vec![Tier::Daily]]
        );
        let weekly = keeps(Tiers {
            weekly: Some(5),
            ..Tiers::default()
        });
        assert_eq!(
            weekly,
            [vec![], vec![Tier::Weekly], vec![], vec![Tier::Weekly]]
        );
        let monthly = keeps(Tiers {
            monthly: Some(1),
            ..Tiers::default()
        });
        assert_eq!(monthly, [vec![], vec![], vec![], vec![Tier::Monthly]]);
        // The keeps add up.
        let all = keeps(Tiers {
            daily: Some(1),
            weekly: Some(2),
            monthly: Some(2),
        });
        assert_eq!(
            all,
            [
                vec![],
                vec![Tier::Weekly],
                vec![Tier::Monthly],
                vec![Tier::Daily, Tier::Weekly, Tier::Monthly]
            ]
        );
        assert_eq!(Tier::Weekly.period(t(2026, 11, 29, 8)), "2026-W48");
        assert_eq!(Tier::Weekly.period(t(2027, 1, 1, 8)), "2026-W53");
        assert_eq!(Tier::Daily.period(t(2026, 12, 1, 9)), "2026-12-01");
        assert_eq!(Tier::Monthly.period(t(2026, 12, 1, 9)), "2026-12");
    }

    /// Property: on random machines (up to 40 snapshots over two years, many on the same
    /// day or second, year ends with ISO weeks 52 and 53), random tiers keep exactly what
    /// the reference keeps.
    #[test]
    fn the_tiers_keep_what_the_reference_semantics_keep() {
        // A fixed-seed xorshift: the same cases on every run, any failure reproducible.
        let mut seed: u64 = 0x5eed_2026_1206;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            usize::try_from(seed % u64::try_from(n).unwrap()).unwrap()
        };
        let start = t(2025, 12, 20, 0);
        for case in 0..3_000 {
            let count = next(41);
            let spread = [2, 40, 800][next(3)];
            let snaps: Vec<(DateTime<Utc>, String)> = (0..count)
                .map(|i| {
                    let hours = next(spread * 24);
                    let secs = if next(4) == 0 { 0 } else { next(3600) };
                    let time = start
                        + Duration::hours(i64::try_from(hours).unwrap())
                        + Duration::seconds(i64::try_from(secs).unwrap());
                    // Unique, as a machine's ids are; their order random.
                    (time, format!("snapshot-{}-{i}", next(1000)))
                })
                .collect();
            let mut pick = || [None, Some(0), Some(1), Some(2), Some(7), Some(100)][next(6)];
            let tiers = Tiers {
                daily: pick(),
                weekly: pick(),
                monthly: pick(),
            };
            let given: Vec<(DateTime<Utc>, &str)> =
                snaps.iter().map(|(t, id)| (*t, id.as_str())).collect();
            assert_eq!(
                tiers.keeps(&given),
                reference(&tiers, &snaps),
                "case {case}: {tiers:?} on {snaps:?}"
            );
        }
    }
}
