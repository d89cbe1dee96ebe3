//! Plain, aligned text output for people; JSON output is serde's job in `cmd`.

/// Renders rows as columns separated by two spaces, each column as wide as its widest cell.
/// Columns listed in `right` are right-aligned (numbers); the last column is never padded.
pub fn table(rows: &[Vec<String>], right: &[usize]) -> String {
    let ncols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; ncols];
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let pad = widths[i] - cell.chars().count();
            let last = i + 1 == row.len();
            if right.contains(&i) {
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
            } else {
                line.push_str(cell);
                if !last {
                    line.push_str(&" ".repeat(pad));
                }
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Writes each item on a line of its own to standard error, gathered into one write: a
/// diagnostic is a dozen pieces, and a large file's hundreds of them were thousands of
/// unbuffered writes. A failed write (a closed pipe) loses the lines and nothing else.
pub fn to_stderr<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) {
    use std::io::Write;
    let mut text = String::new();
    for item in items {
        use std::fmt::Write as _;
        let _ = writeln!(text, "{item}");
    }
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_columns_and_right_aligns_numbers() {
        let rows = vec![
            vec!["pkts".into(), "rule".into()],
            vec!["12345".into(), "accept".into()],
            vec!["7".into(), "drop".into()],
        ];
        assert_eq!(
            table(&rows, &[0]),
            " pkts  rule\n12345  accept\n    7  drop\n"
        );
    }
}
