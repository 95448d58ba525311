//! Structured JSON logs through `tracing`. Levels come from `RUST_LOG`
//! (default `info`). Request bodies, API keys and webhook URLs are never
//! logged by partnerops code.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// `RUST_LOG` in its `target=level,level` form. `Targets` rather than
/// `EnvFilter`: the latter's span and field matching pulls a regex engine
/// into every Lambda binary, and nothing here filters on spans.
pub fn filter(spec: Option<&str>) -> Targets {
    spec.and_then(|s| s.parse::<Targets>().ok()).unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
}

/// The JSON log layer writing to `writer`: every line lists the spans it
/// was written in (a request's id, a queue message's and its event's).
pub fn json_layer<S, W>(writer: W) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + 'static,
{
    tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(false)
        .with_span_list(true)
        .with_target(true)
        .with_writer(writer)
}

pub fn init() {
    let filter = filter(std::env::var("RUST_LOG").ok().as_deref());
    let _ = tracing_subscriber::registry().with(json_layer(std::io::stdout)).with(filter).try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn rust_log_sets_levels_per_target_and_a_bad_spec_falls_back_to_info() {
        let f = filter(Some("warn,partnerops_aws=debug"));
        assert!(f.would_enable("partnerops_aws::store", &Level::DEBUG));
        assert!(!f.would_enable("aws_smithy_runtime", &Level::INFO));
        assert!(f.would_enable("aws_smithy_runtime", &Level::WARN));
        let off = filter(Some("off"));
        assert!(!off.would_enable("anything", &Level::ERROR));
        let fallback = filter(Some("=#bad"));
        assert!(fallback.would_enable("anything", &Level::INFO));
        assert!(!fallback.would_enable("anything", &Level::DEBUG));
        assert!(filter(None).would_enable("anything", &Level::INFO));
    }
}
