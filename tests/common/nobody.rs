//! Clients run as `nobody` (uid/gid 65534, no supplementary groups) in a node's network
//! namespace: an unprivileged local user talking to the daemon's control socket or to
//! netlink. `ip netns exec NS setpriv --reuid=65534 --regid=65534 --clear-groups PROG`.

use super::{Node, PNFSCTL};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};

/// A command running `prog` in `n`'s namespace as nobody; add arguments and spawn it.
pub fn command(n: &Node, prog: &str) -> Command {
    let mut c = Command::new("ip");
    c.args([
        "netns",
        "exec",
        &n.ns,
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        prog,
    ]);
    c
}

/// Run `pnfsctl ARGS` as nobody and wait for it.
pub fn pnfsctl(n: &Node, args: &[&str]) -> Output {
    command(n, PNFSCTL).args(args).output().unwrap()
}

/// `python3 -c SCRIPT` as nobody.
pub fn python(n: &Node, script: &str) -> Command {
    let mut c = command(n, "/usr/bin/python3");
    c.args(["-c", script]);
    c
}

/// Start `python3 -c SCRIPT` as nobody with its standard output a pipe, and wait for the
/// first line it prints, which must be `ready` (the script says so once it holds what it
/// was written to hold). Kill and wait for the child when done with it.
pub fn python_until(n: &Node, script: &str, ready: &str) -> Child {
    let mut c = python(n, script).stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(c.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), ready);
    c
}
