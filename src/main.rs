//! The `sedaro-nano` command: parses the command line ([`cli`]) and runs one
//! subcommand ([`cmd`]). The processes it runs as (the service, a worker, a pod) are
//! wired in `nano_cluster::process`.

mod cli;
mod cmd;
mod progress;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;
use nano_web::config::LogFormat;

use cli::{CatalogCommand, Cli, Command, Usage};

/// The log subscriber: lines on stderr at level INFO and above, readable or JSON.
/// The service's logs carry no secrets: requests are logged by route pattern, never by
/// URL or headers, and the Redis URL is never logged.
fn logging(format: LogFormat) {
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_writer(io::stderr)
        .with_max_level(tracing::Level::INFO);
    match format {
        LogFormat::Text => builder.with_ansi(io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() -> ExitCode {
    // A panic is a bug (or sled meeting damaged files, which the store turns into an
    // error): say it in one line, not with a backtrace banner.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("sedaro-nano: internal failure: {info}");
    }));
    let cli = Cli::parse();
    logging(match &cli.command {
        Command::Serve(args) => args.config.log_format,
        Command::Pod(args) => args.serve.config.log_format,
        _ => LogFormat::Text,
    });
    let result = match &cli.command {
        Command::Propagate(args) => cmd::propagate::run(args).map(|()| true),
        Command::Replay(args) => cmd::replay::run(args).map(|()| true),
        Command::Runs(args) => cmd::log::runs(args).map(|()| true),
        Command::Verify(args) => cmd::log::verify(args),
        Command::Worker(args) => cmd::process::worker(args).map(|()| true),
        Command::Serve(args) => cmd::process::serve(args).map(|()| true),
        Command::Pod(args) => cmd::process::pod(args).map(|()| true),
        Command::LocalCluster(args) => cmd::process::local_cluster(args).map(|()| true),
        Command::Accuracy(args) => cmd::accuracy::run(args).map(|()| true),
        Command::Screen(args) => cmd::screen::run(args).map(|()| true),
        Command::Catalog(CatalogCommand::Check(args)) => cmd::catalog::check(args),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        // A reader that stops early (`| head`) is not a failure.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<Usage>().is_some() => {
            let _ = writeln!(io::stderr(), "error: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            let _ = writeln!(io::stderr(), "sedaro-nano: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Whether `e`, or any error it was caused by (its `source()` chain), is a broken pipe.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}
