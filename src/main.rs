//! The `vidclass` binary: parse the command line, run it, turn the outcome into an exit code.

mod cli;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use cli::{Cli, Status};

fn main() -> ExitCode {
    vidclass::memory::reuse_freed_memory();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return parse_outcome(&e),
    };
    clean_up_on_signals();
    fail_writes_past_the_file_size_limit();
    match cli::run(cli) {
        Ok(status) => ExitCode::from(status as u8),
        Err(err) if vidclass::output::is_broken_pipe(err.as_ref()) => ExitCode::SUCCESS,
        Err(err) => {
            cli::say(format_args!("{}", cli::error_line(&err)));
            ExitCode::from(Status::Fatal as u8)
        }
    }
}

/// Prints clap's help, version or usage error and returns its exit code; a help text that
/// cannot be written (a full disk) fails as results that cannot be written do, where clap's own
/// `exit` ignores the failure and reports success. A closed pipe (`--help | head`) is no failure.
fn parse_outcome(e: &clap::Error) -> ExitCode {
    match e.print() {
        Err(err) if !e.use_stderr() && err.kind() != std::io::ErrorKind::BrokenPipe => {
            cli::say(format_args!("cannot write to stdout: {err}"));
            ExitCode::from(Status::Fatal as u8)
        }
        _ => ExitCode::from(e.exit_code() as u8),
    }
}

/// On Ctrl-C, and on SIGTERM and SIGHUP (`kill`, a closed terminal), results already printed
/// stay printed and a download or file being written leaves nothing behind; then the process
/// ends by the signal itself, so that a shell sees it interrupted (`$?` 130, 143, 129) and a
/// `for` loop around vidclass stops at Ctrl-C instead of going on to the next file, as it would
/// after a plain exit. A signal the process was started ignoring stays ignored: `nohup` ignores
/// SIGHUP so that a run outlives its terminal, and a script's background job ignores SIGINT.
#[cfg(unix)]
fn clean_up_on_signals() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let ignored = |signal: libc::c_int| {
        // SAFETY: a null new action only reads the current one into `old`.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            libc::sigaction(signal, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN
        }
    };
    let watched: Vec<libc::c_int> = [SIGINT, SIGTERM, SIGHUP].into_iter().filter(|&s| !ignored(s)).collect();
    let Ok(mut signals) = signal_hook::iterator::Signals::new(&watched) else {
        return; // the signals keep their default action: no cleanup, but the run still stops
    };
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            vidclass::unfinished::remove_all();
            // Clear the terminal's line of a half-drawn progress bar, for what the shell prints
            // about the signal (a new line after Ctrl-C, "Terminated" after SIGTERM).
            if std::io::stderr().is_terminal() {
                let _ = write!(std::io::stderr(), "\r\x1b[2K");
            }
            // Ends the process by the signal; should that fail, exits as a shell reports it.
            let _ = signal_hook::low_level::emulate_default_handler(signal);
            std::process::exit(128 + signal);
        }
    });
}

#[cfg(not(unix))]
fn clean_up_on_signals() {}

/// A write past the file-size limit (`ulimit -f`: a video from a pipe kept in a temporary file,
/// results redirected to a file) ends the process by SIGXFSZ, without a message or the records of
/// the other inputs. Ignored, the write fails (EFBIG) and says so, as any failed write does.
#[cfg(unix)]
fn fail_writes_past_the_file_size_limit() {
    // SAFETY: setting a signal's disposition to "ignore" runs no code of ours in a handler.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

#[cfg(not(unix))]
fn fail_writes_past_the_file_size_limit() {}
