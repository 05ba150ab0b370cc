//! The run's trace: every step's operation and outcome folded into a hash (two runs of a seed
//! must agree on it), and the last steps kept in full for failure reports.

use std::collections::VecDeque;
use std::fmt::Write as _;

/// How many recent trace lines a failure report shows.
const RECENT: usize = 40;

/// FNV-1a over the trace lines, plus the recent lines.
#[derive(Debug, Clone)]
pub struct Trace {
    hash: u64,
    lines: u64,
    recent: VecDeque<String>,
    echo: bool,
}

impl Trace {
    /// An empty trace; `echo` prints every line as it is recorded.
    pub fn new(echo: bool) -> Trace {
        Trace {
            hash: 0xcbf2_9ce4_8422_2325,
            lines: 0,
            recent: VecDeque::with_capacity(RECENT),
            echo,
        }
    }

    /// Record a line.
    pub fn line(&mut self, line: String) {
        for b in line.as_bytes().iter().chain(b"\n") {
            self.hash ^= u64::from(*b);
            self.hash = self.hash.wrapping_mul(0x0100_0000_01b3);
        }
        self.lines += 1;
        if self.echo {
            println!("{line}");
        }
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(line);
    }

    /// The hash of everything recorded.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// Lines recorded.
    pub fn len(&self) -> u64 {
        self.lines
    }

    /// The recent lines, oldest first, one per line.
    pub fn recent(&self) -> String {
        let mut s = String::new();
        for l in &self.recent {
            let _ = writeln!(s, "    {l}");
        }
        s
    }
}
