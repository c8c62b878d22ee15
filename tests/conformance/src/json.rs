//! The one-line JSON the guest suite reports in: flat objects whose values
//! are all strings, `{"key":"value",…}`. Writing and reading both live here
//! so that report lines and capability lines share one format.

use core::fmt::Write as _;

/// `s` as a JSON string literal, quotes included; control characters are
/// escaped so that the result stays on one line.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Writes `pairs` as one flat object, in order.
pub fn object<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut line = String::from("{");
    for (i, (key, value)) in pairs.into_iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        line.push_str(&string(key));
        line.push(':');
        line.push_str(&string(value));
    }
    line.push('}');
    line
}

/// Parses `{"k":"v",…}` with string values only, keeping the order; None
/// for anything else (other value types, nesting, trailing text).
pub fn parse_object(line: &str) -> Option<Vec<(String, String)>> {
    let mut rest = line.strip_prefix('{')?;
    let mut pairs = Vec::new();
    if let Some(tail) = rest.strip_prefix('}') {
        return tail.is_empty().then_some(pairs);
    }
    loop {
        let (key, after) = parse_string(rest)?;
        let (value, after) = parse_string(after.strip_prefix(':')?)?;
        pairs.push((key, value));
        if let Some(after) = after.strip_prefix(',') {
            rest = after;
        } else {
            return (after == "}").then_some(pairs);
        }
    }
}

/// Parses one JSON string at the start of `s`; returns it and what follows.
fn parse_string(s: &str) -> Option<(String, &str)> {
    let body = s.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &body[i + 1..])),
            '\\' => match chars.next()?.1 {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'u' => {
                    let mut code = 0u32;
                    for _ in 0..4 {
                        code = code * 16 + chars.next()?.1.to_digit(16)?;
                    }
                    out.push(char::from_u32(code)?);
                }
                c @ ('"' | '\\' | '/') => out.push(c),
                _ => return None,
            },
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_round_trip_with_escapes() {
        let pairs = [("a", "plain"), ("quote \"", "back\\slash\nline\u{1}")];
        let line = object(pairs);
        assert!(!line.contains('\n'), "{line}");
        let parsed = parse_object(&line).expect("parses");
        let parsed: Vec<(&str, &str)> = parsed
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(parsed, pairs);
        assert_eq!(parse_object("{}"), Some(Vec::new()));
    }

    #[test]
    fn anything_but_a_flat_string_object_is_refused() {
        for line in [
            "",
            "hello",
            "{\"a\":1}",
            "{\"a\":\"b\"",
            "{\"a\":\"b\"}x",
            "{\"a\":\"\\q\"}",
            "{\"a\":\"\\u12\"}",
        ] {
            assert_eq!(parse_object(line), None, "{line:?}");
        }
    }
}
