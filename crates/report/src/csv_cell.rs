//! The CSV cell codec for `summary.csv`: how each field type becomes one text cell and back,
//! and an RFC 4180 record reader (quoted cells may hold commas, quotes and newlines).

/// A value that is written as one CSV cell.
pub(crate) trait Cell: Sized {
    fn to_cell(&self) -> String;
    /// Parses a cell; the error says what was expected.
    fn from_cell(s: &str) -> Result<Self, String>;
}

impl Cell for String {
    fn to_cell(&self) -> String {
        self.clone()
    }
    fn from_cell(s: &str) -> Result<Self, String> {
        Ok(s.to_owned())
    }
}

macro_rules! integer_cell {
    ($($t:ty),*) => {$(
        impl Cell for $t {
            fn to_cell(&self) -> String {
                self.to_string()
            }
            fn from_cell(s: &str) -> Result<Self, String> {
                s.trim().parse().map_err(|_| format!("expected an unsigned integer, found {s:?}"))
            }
        }
    )*};
}
integer_cell!(u64, u32);

impl Cell for f64 {
    /// At most six decimals, trailing zeros trimmed: exact for every figure wsbench records
    /// (µs, ms, s with sub-ms resolution) and short to read.
    fn to_cell(&self) -> String {
        format_float(*self)
    }
    fn from_cell(s: &str) -> Result<Self, String> {
        s.trim()
            .parse()
            .map_err(|_| format!("expected a number, found {s:?}"))
    }
}

impl Cell for bool {
    fn to_cell(&self) -> String {
        if *self { "true" } else { "false" }.to_owned()
    }
    fn from_cell(s: &str) -> Result<Self, String> {
        match s.trim() {
            "true" | "1" => Ok(true),
            "false" | "0" | "" => Ok(false),
            _ => Err(format!("expected true or false, found {s:?}")),
        }
    }
}

impl<T: Cell> Cell for Option<T> {
    fn to_cell(&self) -> String {
        self.as_ref().map(Cell::to_cell).unwrap_or_default()
    }
    fn from_cell(s: &str) -> Result<Self, String> {
        if s.trim().is_empty() {
            Ok(None)
        } else {
            T::from_cell(s).map(Some)
        }
    }
}

/// Formats a float with at most six decimals and no trailing zeros (`12.5`, `0.0004`, `3`).
pub(crate) fn format_float(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" || s.is_empty() {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

/// Quotes a cell when it holds a comma, quote, CR or LF (RFC 4180).
pub(crate) fn quote(cell: &str) -> String {
    if cell.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_owned()
    }
}

/// One parsed record and the 1-based line it starts on.
pub(crate) struct Record {
    pub line: usize,
    pub cells: Vec<String>,
}

/// Splits CSV text into records. Accepts LF or CRLF line ends and a final line without one;
/// skips blank lines. An unterminated quote is an error naming its line.
pub(crate) fn records(text: &str) -> Result<Vec<Record>, (usize, String)> {
    let mut out = Vec::new();
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut line = 1usize;
    let mut start_line = 1usize;
    let mut in_quotes = false;
    let mut touched = false; // the current record has content (distinguishes blank lines)
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    cell.push('"');
                }
                '"' => in_quotes = false,
                _ => {
                    if c == '\n' {
                        line += 1;
                    }
                    cell.push(c);
                }
            }
            continue;
        }
        match c {
            '"' => {
                in_quotes = true;
                touched = true;
            }
            ',' => {
                cells.push(std::mem::take(&mut cell));
                touched = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                if touched || !cell.is_empty() {
                    cells.push(std::mem::take(&mut cell));
                    out.push(Record {
                        line: start_line,
                        cells: std::mem::take(&mut cells),
                    });
                }
                touched = false;
                line += 1;
                start_line = line;
            }
            _ => {
                cell.push(c);
                touched = true;
            }
        }
    }
    if in_quotes {
        return Err((start_line, "unterminated quoted cell".to_owned()));
    }
    if touched || !cell.is_empty() {
        cells.push(cell);
        out.push(Record {
            line: start_line,
            cells,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_are_short_and_exact_to_six_decimals() {
        assert_eq!(format_float(12.5), "12.5");
        assert_eq!(format_float(3.0), "3");
        assert_eq!(format_float(0.0004), "0.0004");
        assert_eq!(format_float(1.0 / 3.0), "0.333333");
        assert_eq!(format_float(-0.0000001), "0");
        assert_eq!(format_float(f64::INFINITY), "inf");
    }

    #[test]
    fn quoted_cells_keep_commas_quotes_and_newlines() {
        let text = "a,b,c\r\n\"x,1\",\"say \"\"hi\"\"\",\"two\nlines\"\n\n4,,6";
        let recs = records(text).unwrap();
        assert_eq!(recs.len(), 3);
        assert_eq!(recs[1].cells, vec!["x,1", "say \"hi\"", "two\nlines"]);
        assert_eq!(recs[1].line, 2);
        assert_eq!(recs[2].cells, vec!["4", "", "6"]);
        assert_eq!(recs[2].line, 5);
    }

    #[test]
    fn an_unterminated_quote_names_its_line() {
        let e = records("a\n\"open").err().unwrap();
        assert_eq!(e.0, 2);
    }

    #[test]
    fn options_and_bools_use_empty_and_words() {
        assert_eq!(None::<u64>.to_cell(), "");
        assert_eq!(Option::<u64>::from_cell(" ").unwrap(), None);
        assert_eq!(Option::<f64>::from_cell("1.5").unwrap(), Some(1.5));
        assert!(bool::from_cell("true").unwrap());
        assert!(bool::from_cell("maybe").is_err());
        assert!(u64::from_cell("-1").is_err());
    }
}
