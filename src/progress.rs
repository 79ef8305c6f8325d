//! Progress of long command-line work (`cadena ingest`, `screen`, `reindex`), drawn on
//! standard error when it is a terminal and silent otherwise, so that logs, pipes and
//! CI output carry only the results and the diagnostics.
//!
//! The work itself (a load, an index round, a file's screening) takes a `&Progress` and
//! only counts; a server's workers pass [`Progress::hidden`].

use std::borrow::Cow;
use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// A count of done items shown on a terminal, with a total when one is known.
#[derive(Debug, Clone)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// Progress nobody sees: for servers, workers and tests.
    pub fn hidden() -> Progress {
        Progress { bar: ProgressBar::hidden() }
    }

    /// Counts `unit`s (rows, entities) with no known total, for standard error when it is
    /// a terminal: `loading watchlist from list.csv  120,000 rows (45,210/s)`.
    pub fn counting(message: impl Into<Cow<'static, str>>, unit: &'static str) -> Progress {
        let style = ProgressStyle::with_template(&format!("{{spinner}} {{msg}}  {{human_pos}} {unit} ({{rate}})"))
            .expect("a valid progress template")
            .with_key("rate", whole_per_second);
        Progress::on_terminal(ProgressBar::no_length().with_style(style).with_message(message))
    }

    /// Counts `total` `unit`s with a bar and the time left, as `counting` does otherwise.
    pub fn bar(message: impl Into<Cow<'static, str>>, total: u64, unit: &'static str) -> Progress {
        let style = ProgressStyle::with_template(&format!(
            "{{msg}} [{{bar:30}}] {{human_pos}}/{{human_len}} {unit} ({{rate}}, {{eta}} left)"
        ))
        .expect("a valid progress template")
        .with_key("rate", whole_per_second)
        .progress_chars("=> ");
        Progress::on_terminal(ProgressBar::new(total).with_style(style).with_message(message))
    }

    fn on_terminal(bar: ProgressBar) -> Progress {
        if std::io::stderr().is_terminal() {
            bar.set_draw_target(ProgressDrawTarget::stderr());
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
        } else {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        Progress { bar }
    }

    /// Adds `n` done items (cheap enough for every row: it is an atomic add, and the
    /// terminal is redrawn at most a few times a second).
    pub fn inc(&self, n: u64) {
        self.bar.inc(n);
    }

    /// Sets what is being done now, keeping the count.
    pub fn set_message(&self, message: impl Into<Cow<'static, str>>) {
        self.bar.set_message(message);
    }

    /// Removes the progress line, so that the summary printed next stands alone.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }

    /// Awaits `work`, which counts on this progress, then removes the line whether the
    /// work succeeded or not: `progress.run(indexer.catch_up_showing(&progress)).await`.
    pub async fn run<T>(&self, work: impl Future<Output = T>) -> T {
        let result = work.await;
        self.finish();
        result
    }

    /// [`Progress::run`] for work done on this thread.
    pub fn run_blocking<T>(&self, work: impl FnOnce() -> T) -> T {
        let result = work();
        self.finish();
        result
    }
}

/// The rate as a whole number per second (`41,620/s`; indicatif's own `per_sec` gives four
/// decimals).
fn whole_per_second(state: &ProgressState, out: &mut dyn std::fmt::Write) {
    let _ = write!(out, "{}/s", indicatif::HumanCount(state.per_sec().round() as u64));
}

impl Default for Progress {
    fn default() -> Progress {
        Progress::hidden()
    }
}
