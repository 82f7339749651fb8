//! snaptree's integration tests: one test binary (each extra binary would link `vim_rs`
//! again), one module per area, the shared helpers in `common`.
//!
//! Tests that need a peer (vcsim, pyVmomi, python-ovh, tmux) fail, naming the command that
//! installs it, when the peer is missing: `bash scripts/test` installs them all and runs
//! every test.

// Tests state their expectations with unwrap/expect: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Screen coordinates in the tests are small: a cast to u16 cannot truncate.
#![allow(clippy::cast_possible_truncation)]

mod common;

mod app_update;
mod audit_log;
mod cli_demo;
mod cli_hostile;
mod filters;
mod guest_ssh;
mod ovh_cli;
mod ovh_list_bench;
mod ovh_provider;
mod ovh_python;
mod proxmox_sim;
mod reused_id;
mod snapshot_list;
mod stalls;
mod tui_flows;
mod tui_pty;
mod tui_tmux;
mod ui_snapshots;
mod vsim_pyvmomi;
mod vsim_soap;
mod vsphere_json;
mod vsphere_vcsim;
mod vsphere_vsim;
