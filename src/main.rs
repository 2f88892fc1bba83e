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
    // behind. Also on SIGTERM and SIGHUP (`kill`, a closed terminal).
    let _ = ctrlc::set_handler(|| {
        vidclass::unfinished::remove_all();
        // End the terminal's line (a progress bar's, or the echoed ^C), so that the shell's prompt
        // starts a new one: it adds none for a process that exits rather than dies of the signal.
        if std::io::stderr().is_terminal() {
            let _ = writeln!(std::io::stderr());
        }
        std::process::exit(INTERRUPTED)
    });
    match cli::run(cli) {
        Ok(status) => ExitCode::from(status as u8),
        Err(err) if vidclass::output::is_broken_pipe(err.as_ref()) => ExitCode::SUCCESS,
        Err(err) => {
            cli::say(format_args!("{}", cli::error_line(&err)));
            ExitCode::from(Status::Fatal as u8)
        }
    }
}
