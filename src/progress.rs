//! Progress for long commands: a spinner on a terminal, plain lines otherwise (CI logs).

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

pub struct Reporter {
    bar: Option<ProgressBar>,
}

impl Reporter {
    pub fn new() -> Reporter {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed}] {msg}")
                    .expect("a valid template"),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Reporter { bar }
    }

    /// One step: replaces the spinner's message, or prints a line.
    pub fn step(&self, message: &str) {
        match &self.bar {
            Some(bar) => {
                bar.println(format!("  {message}"));
                bar.set_message(message.to_string());
            }
            None => eprintln!("vstage: {message}"),
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Default for Reporter {
    fn default() -> Self {
        Reporter::new()
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        self.finish();
    }
}
