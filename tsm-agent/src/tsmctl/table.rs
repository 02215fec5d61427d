//! Plain-text tables for people: a header row and aligned, left-justified columns separated
//! by two spaces, and the cell formats `tsmctl` uses (UTC times, remaining lease, shortened
//! address lists).
//!
//! Guarantees: every line of a table has its columns at the same character offsets (widths
//! count `char`s; the cells are ASCII apart from `…`); the last column is never padded, so
//! no line ends in spaces.

use std::fmt::Display;

/// Separator between columns.
const GAP: &str = "  ";

/// How many list items a cell shows before it says how many more there are.
pub const LIST_ITEMS: usize = 4;

/// A table being built.
#[derive(Debug, Clone)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles.
    pub fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells are empty, extra cells are dropped.
    pub fn row(&mut self, cells: Vec<String>) {
        let mut cells = cells;
        cells.resize(self.header.len(), String::new());
        self.rows.push(cells);
    }

    /// The table as text, one line per row after the header, each ending in `\n`.
    pub fn render(&self) -> String {
        let width = |cell: &String| cell.chars().count();
        let mut widths: Vec<usize> = self.header.iter().map(width).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(cell));
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let last = row.len().saturating_sub(1);
            for (i, cell) in row.iter().enumerate() {
                out.push_str(cell);
                if i < last {
                    let pad = widths[i].saturating_sub(width(cell));
                    out.extend(std::iter::repeat_n(' ', pad));
                    out.push_str(GAP);
                }
            }
            out.push('\n');
        }
        out
    }
}

/// `a, b, c, d +3 more`: at most [`LIST_ITEMS`] items, `-` for none.
pub fn short_list<T: Display>(items: &[T]) -> String {
    if items.is_empty() {
        return "-".to_owned();
    }
    let shown: Vec<String> = items
        .iter()
        .take(LIST_ITEMS)
        .map(ToString::to_string)
        .collect();
    let mut text = shown.join(",");
    if items.len() > LIST_ITEMS {
        text.push_str(&format!(" +{} more", items.len() - LIST_ITEMS));
    }
    text
}

/// A time in ms since the Unix epoch as `YYYY-MM-DD hh:mm:ssZ` (UTC).
pub fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01: counts 400-year eras of
/// 146,097 days from 0000-03-01, so that the leap day is the last day of each year.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = z / 146_097;
    let doe = z % 146_097; // day of era, 0..=146_096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // year of era
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of the March-based year
    let mp = (5 * doy + 2) / 153; // March = 0
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// Time left until `expires_at` (ms since the epoch) as seen at `now` (same unit):
/// `4.9s`, `12m05s`, `3h02m`, `5d04h`, or `expired`.
pub fn remaining(expires_at: u64, now: u64) -> String {
    if expires_at <= now {
        return "expired".to_owned();
    }
    let ms = expires_at - now;
    if ms < 60_000 {
        format!("{}.{}s", ms / 1000, ms % 1000 / 100)
    } else if ms < 3_600_000 {
        format!("{}m{:02}s", ms / 60_000, ms % 60_000 / 1000)
    } else if ms < 172_800_000 {
        format!("{}h{:02}m", ms / 3_600_000, ms % 3_600_000 / 60_000)
    } else {
        format!("{}d{:02}h", ms / 86_400_000, ms % 86_400_000 / 3_600_000)
    }
}

/// A duration in ms, shortest form: `500ms`, `5s`, `2.5s`, `90s`.
pub fn duration_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        let fraction = format!("{:03}", ms % 1000);
        format!("{}.{}s", ms / 1000, fraction.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_and_lines_do_not_end_in_spaces() {
        let mut t = Table::new(&["NAME", "ADDRESS", "MEMBERS"]);
        t.row(vec!["storage-long".into(), "239.1.1.1".into(), "a".into()]);
        t.row(vec!["s".into(), "ff3e::1:1".into(), "b,c".into()]);
        let text = t.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        for line in &lines {
            // The second column starts at 14, the third at 25, after two spaces each.
            for start in [14, 25] {
                assert_eq!(&line[start - 2..start], "  ", "{text}");
                assert!(!line[start..].starts_with(' '), "{text}");
            }
            assert!(!line.ends_with(' '));
        }
        assert_eq!(lines[1], "storage-long  239.1.1.1  a");
    }

    #[test]
    fn lists_are_shortened() {
        assert_eq!(short_list::<u8>(&[]), "-");
        assert_eq!(short_list(&[1, 2]), "1,2");
        assert_eq!(short_list(&[1, 2, 3, 4, 5, 6]), "1,2,3,4 +2 more");
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00Z");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00Z");
        assert_eq!(utc(1_700_000_000_123), "2023-11-14 22:13:20Z");
        assert_eq!(utc(4_102_444_799_000), "2099-12-31 23:59:59Z");
    }

    #[test]
    fn durations() {
        assert_eq!(remaining(10, 10), "expired");
        assert_eq!(remaining(4_950, 0), "4.9s");
        assert_eq!(remaining(725_000, 0), "12m05s");
        assert_eq!(remaining(10_920_000, 0), "3h02m");
        assert_eq!(remaining(100_800_000, 0), "28h00m");
        assert_eq!(remaining(446_400_000, 0), "5d04h");
        assert_eq!(duration_ms(500), "500ms");
        assert_eq!(duration_ms(5000), "5s");
        assert_eq!(duration_ms(2500), "2.5s");
    }
}
