//! `tracing` output for tsmd: text or JSON lines on stderr, filtered by a `RUST_LOG`-style
//! directive (`info`, `info,controller::daemon=debug`, ...).
//!
//! Guarantees: installing twice is an error, not a panic; the directive was checked by
//! [`super::Settings::load`], so a failure here means a subscriber already exists.

use tracing_subscriber::EnvFilter;

use super::settings::LogFormat;

/// Why logging could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    #[error("log filter {directive:?}: {reason}")]
    Filter { directive: String, reason: String },
    #[error("a tracing subscriber is already installed: {0}")]
    Installed(String),
}

/// Installs the global subscriber.
pub fn init(format: LogFormat, directive: &str) -> Result<(), LogError> {
    let filter = EnvFilter::builder()
        .parse(directive)
        .map_err(|e| LogError::Filter {
            directive: directive.to_owned(),
            reason: e.to_string(),
        })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, never into a journal or a file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let r = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
    r.map_err(|e| LogError::Installed(e.to_string()))
}
