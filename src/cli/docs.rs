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
    man.render(out)?;
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
    Ok(())
}

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
