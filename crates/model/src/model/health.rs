//! Health warnings: snapshot age, chain depth, consolidation, VPS snapshot option.

use chrono::{DateTime, Duration, Utc};

use super::machine::{Machine, ProviderKind};

/// Thresholds from the `[ui]` configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthThresholds {
    /// Snapshots older than this are flagged.
    pub age_warning: Duration,
    /// Snapshots older than this are flagged as critical.
    pub age_critical: Duration,
    /// Chains deeper than this are flagged.
    pub depth_warning: usize,
}

impl Default for HealthThresholds {
    fn default() -> Self {
        HealthThresholds {
            age_warning: Duration::hours(72),
            age_critical: Duration::days(14),
            depth_warning: 3,
        }
    }
}

/// One health warning on a machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Warning {
    /// A snapshot is older than `age_warning`.
    Age,
    /// A chain is deeper than `depth_warning`.
    Depth,
    /// The VPS has no snapshot option.
    NoSnapshotOption,
    /// The VM runs on a delta disk no snapshot owns (`Storage::phantom_deltas`).
    PhantomDelta,
    /// Disks need consolidation.
    Consolidation,
    /// A snapshot is older than `age_critical`.
    AgeCritical,
    /// The back end's record of the machine could not be read (`Machine::unreadable` says
    /// why): its snapshots are unknown.
    Unreadable,
}

impl Warning {
    /// The name used in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Warning::Age => "age",
            Warning::AgeCritical => "age_critical",
            Warning::Depth => "depth",
            Warning::Consolidation => "consolidation",
            Warning::PhantomDelta => "phantom_delta",
            Warning::NoSnapshotOption => "no_snapshot_option",
            Warning::Unreadable => "unreadable",
        }
    }

    /// True for warnings that call for action now.
    pub fn is_critical(self) -> bool {
        matches!(
            self,
            Warning::AgeCritical | Warning::Consolidation | Warning::Unreadable
        )
    }

    /// One short sentence for the details pane.
    pub fn explain(self, t: &HealthThresholds) -> String {
        match self {
            Warning::Age => format!(
                "a snapshot is older than {}",
                format_duration(t.age_warning)
            ),
            Warning::AgeCritical => format!(
                "a snapshot is older than {}: snapshots are not backups",
                format_duration(t.age_critical)
            ),
            Warning::Depth => format!("snapshot chain deeper than {}", t.depth_warning),
            Warning::Consolidation => "disks need consolidation".into(),
            Warning::PhantomDelta => {
                "runs on a delta disk no snapshot owns: consolidate its disks".into()
            }
            Warning::NoSnapshotOption => "the snapshot option is not subscribed".into(),
            Warning::Unreadable => "its record could not be read: its snapshots are unknown".into(),
        }
    }
}

impl HealthThresholds {
    /// The warning a snapshot of this age earns, if any (the tree colours ages by it too).
    pub fn age(&self, age: Duration) -> Option<Warning> {
        if age > self.age_critical {
            Some(Warning::AgeCritical)
        } else if age > self.age_warning {
            Some(Warning::Age)
        } else {
            None
        }
    }
}

/// The warnings of one machine, worst last; the one function every view and command uses.
pub fn machine_warnings(m: &Machine, t: &HealthThresholds, now: DateTime<Utc>) -> Vec<Warning> {
    let mut w = Vec::new();
    if m.unreadable.is_some() {
        w.push(Warning::Unreadable);
    }
    if let Some(w_age) = m
        .oldest_snapshot()
        .and_then(|oldest| t.age(m.age_of(oldest, now)))
    {
        w.push(w_age);
    }
    if m.max_depth() > t.depth_warning {
        w.push(Warning::Depth);
    }
    if m.consolidation_needed {
        w.push(Warning::Consolidation);
    }
    if super::report::has_phantoms(m) {
        w.push(Warning::PhantomDelta);
    }
    if m.provider == ProviderKind::Ovh && m.snapshot_option == Some(false) {
        w.push(Warning::NoSnapshotOption);
    }
    w.sort();
    w
}

/// The longest duration snaptree reads, in days (about 100 years): every age, expiry and
/// threshold is at most this, so a time it is added to or taken from stays a date.
pub const MAX_DURATION_DAYS: i64 = 36_500;

/// Parse `90s`, `30m`, `72h`, `14d` or `2w`, at most [`MAX_DURATION_DAYS`]: the one parser
/// of every duration (flags, config keys, the TUI's `mark where`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("\"{text}\" needs a unit (s, m, h, d or w)"))?;
    let (num, unit) = text.split_at(split);
    if num.is_empty() {
        return Err(format!("\"{text}\" does not start with a number"));
    }
    let seconds: i64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => {
            return Err(format!(
                "\"{text}\" has an unknown unit (use s, m, h, d or w)"
            ));
        }
    };
    let too_long = || format!("\"{text}\" is too long: at most {MAX_DURATION_DAYS}d (100 years)");
    // Digits only, so a number that does not fit is too long, never malformed.
    let n: i64 = num.parse().map_err(|_| too_long())?;
    match n.checked_mul(seconds) {
        Some(s) if s <= MAX_DURATION_DAYS * 86_400 => Ok(Duration::seconds(s)),
        _ => Err(too_long()),
    }
}

/// Format a duration the way `parse_duration` reads it, in its largest whole unit.
pub fn format_duration(d: Duration) -> String {
    let s = d.num_seconds();
    if s != 0 && s % 604_800 == 0 {
        format!("{}w", s / 604_800)
    } else if s != 0 && s % 86_400 == 0 {
        format!("{}d", s / 86_400)
    } else if s != 0 && s % 3600 == 0 {
        format!("{}h", s / 3600)
    } else if s != 0 && s % 60 == 0 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// A size as said: `1.5 GiB`, or `size not known` where the back end gave none (a VPS's
/// or a Proxmox guest's snapshot), never `0 B`.
pub fn size_words(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "size not known".into(), human_size)
}

/// Bytes as `1.5 GiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// A size as an operator writes it: bytes (`1048576`), or a number (decimals allowed) and
/// a binary unit, `B`, `KiB`, `MiB`, `GiB`, `TiB` (any case, a space allowed between). A
/// decimal unit (`GB`) is refused, saying which to write: the two differ by 7 % at GiB.
pub fn parse_size(text: &str) -> Result<u64, String> {
    const UNITS: [(&str, u32); 5] = [("b", 0), ("kib", 1), ("mib", 2), ("gib", 3), ("tib", 4)];
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = (&t[..split], t[split..].trim().to_ascii_lowercase());
    let value: f64 = number
        .parse()
        .map_err(|_| format!("\"{text}\" is not a size: write a number and a unit, e.g. 10GiB"))?;
    let Some((_, power)) = UNITS
        .iter()
        .find(|(u, _)| *u == unit || (unit.is_empty() && *u == "b"))
    else {
        return Err(match unit.as_str() {
            "k" | "kb" | "m" | "mb" | "g" | "gb" | "t" | "tb" => format!(
                "\"{text}\": write a binary unit (KiB, MiB, GiB, TiB) or bytes; a GB is not a GiB"
            ),
            _ => format!("\"{text}\": unknown unit; write B, KiB, MiB, GiB or TiB"),
        });
    };
    let bytes = value * 1024f64.powi(i32::try_from(*power).unwrap_or(0));
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(format!("\"{text}\" is too large"));
    }
    // Whole bytes: a fraction of a byte rounds down. The value is finite, not negative
    // (only digits and a point were read) and below u64::MAX (checked above).
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(bytes as u64)
}

/// A compact age such as `5m`, `3h`, `12d`.
pub fn format_age(d: Duration) -> String {
    let s = d.num_seconds().max(0);
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m", s / 60)
    } else if s < 172_800 {
        format!("{}h", s / 3600)
    } else {
        format!("{}d", s / 86_400)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_read_in_binary_units_or_bytes() {
        assert_eq!(parse_size("1048576"), Ok(1_048_576));
        assert_eq!(parse_size("512B"), Ok(512));
        assert_eq!(parse_size("500MiB"), Ok(500 * 1024 * 1024));
        assert_eq!(parse_size("10GiB"), Ok(10 << 30));
        assert_eq!(parse_size("10 gib"), Ok(10 << 30));
        assert_eq!(parse_size("2TiB"), Ok(2 << 40));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert!(
            parse_size("10GB")
                .unwrap_err()
                .contains("a GB is not a GiB")
        );
        assert!(
            parse_size("10 parsecs")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert!(parse_size("GiB").unwrap_err().contains("not a size"));
        assert!(parse_size("").unwrap_err().contains("not a size"));
        assert!(parse_size("-1GiB").is_err());
        assert!(
            parse_size("99999999999TiB")
                .unwrap_err()
                .contains("too large")
        );
    }
    use crate::model::machine::tests::{snap, vm};
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 1, 10, 0, 0).unwrap()
    }

    #[test]
    fn age_thresholds() {
        let t = HealthThresholds::default();
        let mut m = vm("lab", "vm-1", "a", vec![snap("s1", "x", vec![])]);
        assert!(machine_warnings(&m, &t, now()).is_empty());
        assert_eq!(
            machine_warnings(&m, &t, now() + Duration::hours(73)),
            vec![Warning::Age]
        );
        assert_eq!(
            machine_warnings(&m, &t, now() + Duration::days(15)),
            vec![Warning::AgeCritical]
        );
        m.snapshots.clear();
        assert!(machine_warnings(&m, &t, now() + Duration::days(15)).is_empty());
    }

    #[test]
    fn depth_and_consolidation_and_option() {
        let t = HealthThresholds::default();
        let deep = snap(
            "1",
            "a",
            vec![snap(
                "2",
                "b",
                vec![snap("3", "c", vec![snap("4", "d", vec![])])],
            )],
        );
        let mut m = vm("lab", "vm-1", "a", vec![deep]);
        assert_eq!(machine_warnings(&m, &t, now()), vec![Warning::Depth]);
        m.consolidation_needed = true;
        assert_eq!(
            machine_warnings(&m, &t, now()),
            vec![Warning::Depth, Warning::Consolidation]
        );
        let mut v = vm("ovh", "vps-1", "v", vec![]);
        v.provider = ProviderKind::Ovh;
        v.snapshot_option = Some(false);
        assert_eq!(
            machine_warnings(&v, &t, now()),
            vec![Warning::NoSnapshotOption]
        );
        v.snapshot_option = Some(true);
        assert!(machine_warnings(&v, &t, now()).is_empty());
    }

    #[test]
    fn durations_parse_and_format() {
        assert_eq!(parse_duration("72h").unwrap(), Duration::hours(72));
        assert_eq!(parse_duration("14d").unwrap(), Duration::days(14));
        assert_eq!(parse_duration("2w").unwrap(), Duration::weeks(2));
        assert!(parse_duration("14").is_err());
        assert!(parse_duration("d").is_err());
        assert!(parse_duration("3y").is_err());
    }

    #[test]
    fn durations_beyond_the_limit_are_refused_not_overflowed() {
        assert_eq!(parse_duration("36500d").unwrap(), Duration::days(36_500));
        for text in [
            "36501d",
            "99999999999d",
            "99999999999999w",
            "99999999999999999999s",
        ] {
            let e = parse_duration(text).unwrap_err();
            assert!(e.contains("at most"), "{text}: {e}");
        }
        assert_eq!(format_duration(Duration::hours(72)), "3d");
        assert_eq!(format_duration(Duration::hours(5)), "5h");
        assert_eq!(format_age(Duration::days(40)), "40d");
        assert_eq!(format_age(Duration::minutes(5)), "5m");
    }
}
