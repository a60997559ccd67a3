//! `pnfs-conformance`: run the conformance suite against the kernel module or the twin.

use pnfs_conformance::{sub, Env, Fam, Target, Verdict};
use pnfs_netlink::client::TWIN_DEFAULT_PORT;
use pnfs_netlink::Proto;
use std::process::ExitCode;

const USAGE: &str = "usage:
  pnfs-conformance [--proto generic|usersock] [--peer PORT] [--filter SUBSTR] [--list]
      run the cases (generic = the kernel module, port 0; usersock = the twin, default
      port 0x504e4653); prints PASS/FAIL/SKIP per case and `N passed, M failed`
  pnfs-conformance fake-daemon [--proto P] [--peer PORT] [--family pnfsd|gfs2ctl] --hold N
      register, read N upcalls without answering, print `held N`, wait to be killed
  pnfs-conformance unpriv [--proto P] [--peer PORT] [--uid UID] --op FAMILY:OP|all
                   [--bind PORT] [--to PORT] [--xid N]
      drop to UID (default 65534, no capabilities; 0: stay root), send the op(s) from
      PORT (default auto; retried 5 s while taken) to PORT (default the kernel half's)
      with xid N in a REPLY, print `op NAME ERRNO`
  pnfs-conformance requester [--proto P] [--peer PORT] [--family F] --count N --depth D
                   --exit-after-ms MS
      send a TRIGGER, print `requester port PORT`, exit after MS without waiting for it";

struct Args {
    sub: Option<String>,
    target: Target,
    filter: Option<String>,
    list: bool,
    family: Fam,
    hold: u32,
    uid: u32,
    op: String,
    send_as: sub::SendAs,
    count: u32,
    depth: u32,
    exit_after_ms: u32,
}

fn number(s: &str) -> Option<u32> {
    match s.strip_prefix("0x") {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        sub: None,
        target: Target::module(),
        filter: None,
        list: false,
        family: Fam::Pnfsd,
        hold: 0,
        uid: 65534,
        op: "all".into(),
        send_as: sub::SendAs::default(),
        count: 1,
        depth: 1,
        exit_after_ms: 0,
    };
    let mut peer = None;
    let mut it = std::env::args().skip(1).peekable();
    if let Some(s) = it.peek() {
        if s == "fake-daemon" || s == "unpriv" || s == "requester" {
            a.sub = it.next();
        }
    }
    while let Some(arg) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--proto" => {
                a.target.proto = match val()?.as_str() {
                    "generic" => Proto::Generic,
                    "usersock" => Proto::Usersock,
                    other => return Err(format!("unknown proto {other:?}")),
                }
            }
            "--peer" => peer = Some(number(&val()?).ok_or("--peer needs a number")?),
            "--filter" => a.filter = Some(val()?),
            "--list" => a.list = true,
            "--family" => a.family = Fam::from_name(&val()?).ok_or("--family: pnfsd or gfs2ctl")?,
            "--hold" => a.hold = number(&val()?).ok_or("--hold needs a number")?,
            "--uid" => a.uid = number(&val()?).ok_or("--uid needs a number")?,
            "--op" => a.op = val()?,
            "--bind" => a.send_as.bind = number(&val()?).ok_or("--bind needs a number")?,
            "--to" => a.send_as.to = Some(number(&val()?).ok_or("--to needs a number")?),
            "--xid" => a.send_as.xid = number(&val()?).ok_or("--xid needs a number")?,
            "--count" => a.count = number(&val()?).ok_or("--count needs a number")?,
            "--depth" => a.depth = number(&val()?).ok_or("--depth needs a number")?,
            "--exit-after-ms" => {
                a.exit_after_ms = number(&val()?).ok_or("--exit-after-ms needs a number")?
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    a.target.peer = peer.unwrap_or(match a.target.proto {
        Proto::Generic => 0,
        Proto::Usersock => TWIN_DEFAULT_PORT,
    });
    Ok(a)
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            if e.is_empty() {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            eprintln!("pnfs-conformance: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if args.sub.as_deref() == Some("unpriv") && args.uid == 0 {
        println!("uid 0 capabilities kept");
    } else if args.sub.as_deref() == Some("unpriv") {
        // Before any thread exists, and before any socket is opened: the kernel checks
        // the opener's credentials.
        if let Err(e) = sub::drop_privileges(args.uid) {
            eprintln!("pnfs-conformance unpriv: {e}");
            return ExitCode::from(2);
        }
        println!("uid {} capabilities none", args.uid);
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pnfs-conformance: runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = rt.block_on(async {
        match args.sub.as_deref() {
            Some("fake-daemon") => sub::fake_daemon(args.target, args.family, args.hold)
                .await
                .map(|()| ExitCode::SUCCESS),
            Some("unpriv") => sub::unpriv(args.target, &args.op, args.send_as)
                .await
                .map(|()| ExitCode::SUCCESS),
            Some("requester") => sub::requester(
                args.target,
                args.family,
                args.count,
                args.depth,
                std::time::Duration::from_millis(args.exit_after_ms.into()),
            )
            .await
            .map(|()| ExitCode::SUCCESS),
            _ => run_suite(&args).await,
        }
    });
    match result {
        Ok(c) => c,
        Err(e) => {
            eprintln!("pnfs-conformance: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run_suite(args: &Args) -> Result<ExitCode, String> {
    if args.list {
        for c in pnfs_conformance::cases::all() {
            println!("{}", c.name);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let exe = std::env::current_exe().ok();
    let mut env = Env::new(args.target, exe).await?;
    let results = pnfs_conformance::run(&mut env, args.filter.as_deref(), |name, v| match v {
        Verdict::Pass => println!("PASS {name}"),
        Verdict::Fail(e) => println!("FAIL {name}: {e}"),
        Verdict::Skip(e) => println!("SKIP {name}: {e}"),
    })
    .await;
    let passed = results.iter().filter(|r| r.1 == Verdict::Pass).count();
    let failed = results
        .iter()
        .filter(|r| matches!(r.1, Verdict::Fail(_)))
        .count();
    let skipped = results.len() - passed - failed;
    if skipped > 0 {
        println!("{skipped} SKIPPED");
    }
    println!("{passed} passed, {failed} failed");
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
