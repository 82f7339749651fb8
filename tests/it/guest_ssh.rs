//! The guest agent check over ssh (`guest_check = "ssh"`) against a real OpenSSH server on
//! loopback standing in for a VPS (`common::sshd`): each answer the guide's check can give,
//! a VPS that does not run the check, refusals ssh itself makes, and a time-out.

use std::time::Duration;

use snaptree::engine::guest::SshCheck;
use snaptree::model::guest::GuestAgent;

use crate::common::sshd::{Answer, Sshd};

const VPS: &str = "vps-1a2b3c4d.vps.ovh.net";

fn check(config: std::path::PathBuf, timeout: Duration) -> SshCheck {
    SshCheck {
        user: None,
        config: Some(config),
        timeout,
        program: "ssh".into(),
    }
}

fn run(c: &SshCheck, host: &str) -> GuestAgent {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(c.run(host))
}

#[test]
fn each_answer_of_the_guides_check_is_read_over_ssh() {
    let server = Sshd::start(Answer::Running);
    let c = check(server.client_config(true), Duration::from_secs(10));
    let cases = [
        (Answer::Running, GuestAgent::Running),
        (Answer::Stopped, GuestAgent::Stopped("inactive".into())),
        (Answer::NotInstalled, GuestAgent::NotInstalled),
        (Answer::Missing, GuestAgent::NotInstalled),
    ];
    for (answer, want) in cases {
        server.answer(answer);
        assert_eq!(run(&c, VPS), want, "{answer:?}; sshd: {}", server.log());
    }
    server.answer(Answer::NotAShell);
    let GuestAgent::Unknown(why) = run(&c, VPS) else {
        panic!("a VPS that does not run the check is not read as an answer");
    };
    assert!(
        why.contains("Windows") && why.contains("Get-Service QEMU-GA"),
        "{why}"
    );
}

#[test]
fn ssh_s_own_refusals_are_said_not_worked_around() {
    let server = Sshd::start(Answer::Running);
    // An unknown host key is never accepted (BatchMode, StrictHostKeyChecking).
    let c = check(server.client_config(false), Duration::from_secs(10));
    assert_eq!(
        run(&c, VPS),
        GuestAgent::Unknown("ssh: Host key verification failed.".into())
    );
    // A user the server does not let in: no password is ever asked.
    let c = SshCheck {
        user: Some("nobody-here".into()),
        ..check(server.client_config(true), Duration::from_secs(10))
    };
    let GuestAgent::Unknown(why) = run(&c, VPS) else {
        panic!("not unknown");
    };
    assert!(
        why.starts_with("ssh: ") && why.contains("Permission denied"),
        "{why}"
    );
    // A name that would be an option of ssh never reaches it.
    let c = check(server.client_config(true), Duration::from_secs(10));
    let GuestAgent::Unknown(why) = run(&c, "-oProxyCommand=touch /tmp/snaptree-owned") else {
        panic!("not unknown");
    };
    assert!(why.contains("not a host name"), "{why}");
    // No ssh at all.
    let c = SshCheck {
        program: "/nonexistent/ssh".into(),
        ..check(server.client_config(true), Duration::from_secs(10))
    };
    assert_eq!(
        run(&c, VPS),
        GuestAgent::Unknown("ssh is not installed on this machine".into())
    );
}

#[test]
fn a_vps_that_does_not_answer_is_given_up_after_the_time_limit() {
    let server = Sshd::start(Answer::Slow);
    let c = check(server.client_config(true), Duration::from_secs(2));
    // The fake guest sleeps 8 s; the check says it gave up, and ends.
    assert_eq!(
        run(&c, VPS),
        GuestAgent::Unknown("no answer within 2 s (ssh_timeout)".into())
    );
}
