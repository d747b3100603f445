//! The few rules of CSV the register file needs (RFC 4180): comma-separated fields, a field
//! in double quotes may hold commas and doubled quotes. Lines starting with `#` and blank
//! lines are skipped. A quoted field cannot span lines (names do not hold line breaks).

/// One record and the 1-based line it came from.
pub(crate) struct Record {
    pub line: usize,
    pub fields: Vec<String>,
}

/// The records of `text`, or the first malformed line's number and what is wrong with it.
pub(crate) fn records(text: &str) -> Vec<Result<Record, (usize, &'static str)>> {
    text.lines()
        .enumerate()
        .map(|(index, line)| (index + 1, line.strip_suffix('\r').unwrap_or(line)))
        .filter(|(_, line)| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
        .map(|(line, text)| {
            fields(text)
                .map(|fields| Record { line, fields })
                .map_err(|reason| (line, reason))
        })
        .collect()
}

fn fields(line: &str) -> Result<Vec<String>, &'static str> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err("a quoted field is not closed"),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => fields.push(field),
                Some(_) => return Err("text after a closing quote"),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some('"') => return Err("a quote inside an unquoted field"),
                    Some(c) => field.push(c),
                }
            }
            fields.push(field);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(line: &str) -> Result<Vec<String>, &'static str> {
        fields(line)
    }

    #[test]
    fn plain_and_quoted_fields() {
        assert_eq!(one("a,b,,c").unwrap(), ["a", "b", "", "c"]);
        assert_eq!(
            one(r#"1,"Helse, Bergen","say ""hi""",x"#).unwrap(),
            ["1", "Helse, Bergen", r#"say "hi""#, "x"]
        );
        assert_eq!(one(r#""last""#).unwrap(), ["last"]);
        assert_eq!(one("trailing,").unwrap(), ["trailing", ""]);
    }

    #[test]
    fn malformed_quotes_are_refused() {
        assert!(one(r#""open"#).is_err());
        assert!(one(r#""a"b"#).is_err());
        assert!(one(r#"a"b"#).is_err());
    }

    #[test]
    fn comments_and_blank_lines_are_skipped_with_line_numbers_kept() {
        let parsed = records("# comment\n\nh1,h2\r\n  # indented comment\nv1,v2\n");
        let lines: Vec<usize> = parsed.iter().map(|r| r.as_ref().unwrap().line).collect();
        assert_eq!(lines, [3, 5]);
        assert_eq!(parsed[0].as_ref().unwrap().fields, ["h1", "h2"]);
    }
}
