//! The `vidclass` binary: parse the command line, run it, turn the outcome into an exit code.

mod cli;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use cli::{Cli, Status};

/// Exit status after Ctrl-C (or `kill`), as shells report a SIGINT death.
const INTERRUPTED: i32 = 130;

fn main() -> ExitCode {
    vidclass::memory::reuse_freed_memory();
    let cli = Cli::parse();
    // Results already printed stay printed; a download or file being written leaves nothing
    // behind. Also on SIGTERM and SIGHUP (`kill`, a closed terminal), except where the signal is
    // ignored.
    let ignored = ignored_signals();
    let _ = ctrlc::set_handler(|| {
        vidclass::unfinished::remove_all();
        // End the terminal's line (a progress bar's, or the echoed ^C), so that the shell's prompt
        // starts a new one: it adds none for a process that exits rather than dies of the signal.
        if std::io::stderr().is_terminal() {
            let _ = writeln!(std::io::stderr());
        }
        std::process::exit(INTERRUPTED)
    });
    keep_ignored(&ignored);
    match cli::run(cli) {
        Ok(status) => ExitCode::from(status as u8),
        Err(err) if vidclass::output::is_broken_pipe(err.as_ref()) => ExitCode::SUCCESS,
        Err(err) => {
            cli::say(format_args!("{}", cli::error_line(&err)));
            ExitCode::from(Status::Fatal as u8)
        }
    }
}

/// The signals the handler takes that this process was started ignoring: `nohup` ignores SIGHUP
/// so that a run outlives its terminal, and a script's background job ignores SIGINT. The handler
/// replaces every disposition, so these are set back to "ignore" after it ([`keep_ignored`]).
#[cfg(unix)]
fn ignored_signals() -> Vec<libc::c_int> {
    let ignored = |signal: libc::c_int| {
        // SAFETY: a null new action only reads the current one into `old`.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            libc::sigaction(signal, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN
        }
    };
    [libc::SIGINT, libc::SIGTERM, libc::SIGHUP].into_iter().filter(|&s| ignored(s)).collect()
}

#[cfg(unix)]
fn keep_ignored(signals: &[libc::c_int]) {
    for &signal in signals {
        // SAFETY: setting a signal's disposition to "ignore" has no preconditions.
        unsafe { libc::signal(signal, libc::SIG_IGN) };
    }
}

#[cfg(not(unix))]
fn ignored_signals() -> Vec<i32> {
    Vec::new()
}

#[cfg(not(unix))]
fn keep_ignored(_: &[i32]) {}
