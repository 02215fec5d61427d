//! The progress bar of `tsmctl rendezvous put`: one line on standard error, redrawn in
//! place (`\r`) while the plan installs, only when standard error is a terminal (a script
//! reading the output sees no bar, only the final table).
//!
//! Guarantees: the line never grows past [`WIDTH`] cells of bar plus its counts; messages
//! done never show above the total; the line is cleared before the final output.

use std::io::{IsTerminal, Write};

use api::{PlanState, RendezvousPlan};

/// Cells of the bar.
pub const WIDTH: usize = 30;

/// One state of the install.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Messages acknowledged.
    pub done: u64,
    /// Messages to send.
    pub total: u64,
    /// Switches done.
    pub switches_done: u64,
    /// Switches of the plan.
    pub switches_total: u64,
    /// The plan's state.
    pub state: &'static str,
}

impl Step {
    /// The step of `plan`.
    pub fn of(plan: &RendezvousPlan) -> Step {
        let p = &plan.progress;
        Step {
            done: p.messages_done.min(p.messages_total),
            total: p.messages_total,
            switches_done: p.switches_done,
            switches_total: p.switches_total,
            state: match plan.state {
                PlanState::Installing => "installing",
                PlanState::Ready => "ready",
                PlanState::Failed => "failed",
                PlanState::OverBudget => "over budget",
                _ => "unknown",
            },
        }
    }

    /// The bar and counts: `[#########.....]  45%  1234/2740 messages  3/6 switches  installing`.
    pub fn line(&self) -> String {
        // An empty plan is done at once: a full bar when ready, an empty one before.
        let empty = if self.state == "ready" { WIDTH } else { 0 };
        let filled = (self.done as u128 * WIDTH as u128)
            .checked_div(u128::from(self.total))
            .map_or(empty, |f| f as usize);
        let percent = (self.done * 100)
            .checked_div(self.total)
            .unwrap_or(if empty == WIDTH { 100 } else { 0 });
        format!(
            "[{}{}] {percent:>3}%  {}/{} messages  {}/{} switches  {}",
            "#".repeat(filled.min(WIDTH)),
            ".".repeat(WIDTH - filled.min(WIDTH)),
            self.done,
            self.total,
            self.switches_done,
            self.switches_total,
            self.state
        )
    }
}

/// A bar on standard error, or nothing when it is not a terminal.
#[derive(Debug)]
pub struct Progress {
    tty: bool,
    drawn: bool,
}

impl Progress {
    /// A bar on standard error if it is a terminal.
    pub fn stderr() -> Progress {
        Progress {
            tty: std::io::stderr().is_terminal(),
            drawn: false,
        }
    }

    /// Redraws the line.
    pub fn draw(&mut self, step: &Step) {
        if !self.tty {
            return;
        }
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{}", step.line()).and_then(|()| err.flush());
        self.drawn = true;
    }

    /// Draws the last state and ends the line.
    pub fn finish(&mut self, step: &Step) {
        if !self.tty {
            return;
        }
        self.draw(step);
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err).and_then(|()| err.flush());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_fills_with_the_messages_done() {
        let mut s = Step {
            done: 0,
            total: 200,
            switches_done: 0,
            switches_total: 6,
            state: "installing",
        };
        assert_eq!(
            s.line(),
            "[..............................]   0%  0/200 messages  0/6 switches  installing"
        );
        s.done = 100;
        assert!(
            s.line()
                .starts_with("[###############...............]  50%"),
            "{}",
            s.line()
        );
        s.done = 200;
        s.state = "ready";
        assert!(s
            .line()
            .starts_with(&format!("[{}] 100%", "#".repeat(WIDTH))));
        let empty = Step {
            done: 0,
            total: 0,
            switches_done: 0,
            switches_total: 0,
            state: "ready",
        };
        assert!(empty.line().contains("100%"));
    }
}
