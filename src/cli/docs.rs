//! Shell completions and the manual page, generated from the clap definition so they never
//! drift from the commands.

use crate::tell;
use std::io::Write;

use clap::CommandFactory;

use super::{Cli, EXIT_FAILED};

/// Print the completion script for `shell` on stdout.
pub fn completions(shell: clap_complete::Shell) -> i32 {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "snaptree", &mut out);
    write_out(&out)
}

/// Print the manual page (roff) on stdout: the command, then one section per subcommand.
pub fn man() -> i32 {
    let cmd = Cli::command();
    let mut out = Vec::new();
    if let Err(e) = render_man(&cmd, &mut out) {
        tell!("snaptree: cannot render the manual page: {e}");
        return EXIT_FAILED;
    }
    write_out(&out)
}

fn render_man(cmd: &clap::Command, out: &mut Vec<u8>) -> std::io::Result<()> {
    let man = clap_mangen::Man::new(cmd.clone());
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    render_extra(out, Extra::Description)?;
    man.render_options_section(out)?;
    man.render_subcommands_section(out)?;
    // Each subcommand's own options, as `snaptree-take(1)` would give them.
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("snaptree {}", sub.get_name());
        writeln!(out, ".SH \"{}\"", name.to_uppercase())?;
        let page = clap_mangen::Man::new(sub.clone().bin_name(name));
        page.render_description_section(out)?;
        page.render_synopsis_section(out)?;
        if sub.get_arguments().any(|a| !a.is_hide_set()) {
            page.render_options_section(out)?;
        }
        if sub.has_subcommands() {
            page.render_subcommands_section(out)?;
        }
    }
    render_extra(out, Extra::Reference)?;
    man.render_version_section(out)?;
    Ok(())
}

/// The manual's own sections, what clap does not know: the description before the options,
/// the reference after the commands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Extra {
    Description,
    Reference,
}

fn render_extra(out: &mut Vec<u8>, part: Extra) -> std::io::Result<()> {
    let section = |out: &mut Vec<u8>, title: &str, paragraphs: &[&str]| -> std::io::Result<()> {
        writeln!(out, ".SH {title}")?;
        for p in paragraphs {
            writeln!(out, ".PP\n{}", roff(p))?;
        }
        Ok(())
    };
    let tagged = |out: &mut Vec<u8>, title: &str, items: &[(&str, &str)]| -> std::io::Result<()> {
        writeln!(out, ".SH {title}")?;
        for (tag, text) in items {
            writeln!(out, ".TP\n\\fB{}\\fR\n{}", roff(tag), roff(text))?;
        }
        Ok(())
    };
    if part == Extra::Description {
        return section(out, "DESCRIPTION", DESCRIPTION);
    }
    section(out, "CONFIGURATION", CONFIGURATION)?;
    tagged(out, "ENVIRONMENT", ENVIRONMENT)?;
    tagged(out, "FILES", FILES)?;
    tagged(out, "EXIT STATUS", EXIT_STATUS)?;
    let keys: Vec<(&str, &str)> = crate::app::KEYMAP
        .iter()
        .map(|b| (b.label, b.name))
        .collect();
    tagged(out, "KEYS", &keys)?;
    writeln!(out, ".SH EXAMPLES")?;
    for (what, command) in EXAMPLES {
        writeln!(
            out,
            ".PP\n{}\n.RS\n.nf\n{}\n.fi\n.RE",
            roff(what),
            roff(command)
        )?;
    }
    Ok(())
}

/// Text made safe for roff: backslashes doubled, and a line never starts with a control
/// character (`.` or `'`).
fn roff(text: &str) -> String {
    text.replace('\\', "\\e")
        .lines()
        .map(|l| {
            if l.starts_with('.') || l.starts_with('\'') {
                format!("\\&{l}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

const DESCRIPTION: &[&str] = &[
    "snaptree browses and operates the snapshot trees of virtual machines: vSphere (vCenter or ESXi) VMs, each with a tree of snapshots, and OVHcloud VPS, each with at most one snapshot, in one view. Run without a command it opens the terminal UI; the commands below do the same from scripts, with --json for machines.",
    "Every change names its target by id, is checked against what was shown before it is sent, asks for a confirmation (--yes in scripts), and is written to the audit log before it is sent. A read-only profile refuses every change.",
];

const CONFIGURATION: &[&str] = &[
    "The config file is TOML: [profiles.NAME] tables (kind = \"vsphere\" or \"ovh\", the endpoint, the user, how the secret is found, read_only, timeout), [ui] and [cleanup]. snaptree config init writes a commented template where the file belongs; snaptree config check reads it and tries each profile.",
    "With no config file, govc's GOVC_* variables make one vSphere profile, and the OVH_* variables or ovh.conf complete an OVHcloud profile's keys.",
];

const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "SNAPTREE_CONFIG",
        "The config file, when --config is not given.",
    ),
    (
        "GOVC_URL, GOVC_USERNAME, GOVC_PASSWORD, GOVC_INSECURE, GOVC_TLS_CA_CERTS",
        "A vSphere profile as govc reads it, when no config file is there.",
    ),
    (
        "OVH_ENDPOINT, OVH_APPLICATION_KEY, OVH_APPLICATION_SECRET, OVH_CONSUMER_KEY",
        "The keys an OVHcloud profile leaves out (then ovh.conf).",
    ),
    ("NO_COLOR", "No colours, as --no-color."),
];

const FILES: &[(&str, &str)] = &[
    (
        "~/.config/snaptree/config.toml",
        "The config file (the platform's config directory; snaptree info prints the paths in use).",
    ),
    (
        "~/.local/state/snaptree/audit.log",
        "The audit log: one JSON line per change, before it is sent and when it ends; its owner's only.",
    ),
    (
        "~/.local/state/snaptree/snaptree.log",
        "The log, for diagnosis (-v, -vv for more).",
    ),
];

const EXIT_STATUS: &[(&str, &str)] = &[
    ("0", "Done."),
    (
        "1",
        "The back end or the task failed, a profile could not be read, the outcome of a change is unknown, or the audit log could not record a change.",
    ),
    (
        "2",
        "A usage error, a bad config file, nothing configured, not found, ambiguous, or a change that cannot apply to this machine.",
    ),
    ("3", "Refused: read-only, or no confirmation."),
    ("130", "Interrupted by Ctrl-C."),
    (
        "check",
        "0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN, as a monitoring plugin.",
    ),
];

const EXAMPLES: &[(&str, &str)] = &[
    (
        "Try the TUI on a simulated estate, no account needed:",
        "snaptree demo",
    ),
    (
        "List the machines of one profile whose name has web in it, as JSON:",
        "snaptree ls pcc/web --json",
    ),
    (
        "Take a quiesced snapshot of a VM before an upgrade, expiring in a week:",
        "snaptree take pcc/web-01 -n before-upgrade -q --expires 7d",
    ),
    (
        "Revert a VM to a snapshot, by name or id, without a prompt:",
        "snaptree revert pcc/web-01 pre-release --yes",
    ),
    (
        "See, then run, the deletion of unpinned snapshots older than 30 days, keeping the newest of each machine:",
        "snaptree prune --older-than 30d --keep-last 1 --dry-run\nsnaptree prune --older-than 30d --keep-last 1 --yes",
    ),
    (
        "A monitoring check of snapshot age and count:",
        "snaptree check --warn-age 3d --crit-age 14d",
    ),
];

/// Write to stdout; a closed pipe (`| head`) ends quietly.
fn write_out(bytes: &[u8]) -> i32 {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => 0,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            tell!("snaptree: cannot write: {e}");
            EXIT_FAILED
        }
    }
}
