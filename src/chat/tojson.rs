//! The `tojson` filter as Hugging Face defines it: Python's `json.dumps(x, ensure_ascii=False,
//! indent=None, separators=None, sort_keys=False)` — no HTML escaping, Python's separators
//! and float spelling, keys in the map's own order.

use minijinja::value::{Kwargs, Rest, Value, ValueKind};
use minijinja::{Error, ErrorKind};

/// Nesting deeper than this is refused rather than risking the stack.
const MAX_DEPTH: usize = 256;

/// How to print: the arguments of `json.dumps`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct JsonStyle {
    pub ensure_ascii: bool,
    /// The text of one indentation level; `None` prints everything on one line.
    pub indent: Option<String>,
    pub item_sep: String,
    pub key_sep: String,
    pub sort_keys: bool,
}

impl Default for JsonStyle {
    fn default() -> JsonStyle {
        JsonStyle::new(false, None, None, false)
    }
}

impl JsonStyle {
    /// Python's defaults: `", "` between items on one line, `","` when indenting.
    fn new(
        ensure_ascii: bool,
        indent: Option<String>,
        seps: Option<(String, String)>,
        sort_keys: bool,
    ) -> JsonStyle {
        let (item_sep, key_sep) = seps.unwrap_or_else(|| {
            let item = if indent.is_some() { "," } else { ", " };
            (item.to_string(), ": ".to_string())
        });
        JsonStyle { ensure_ascii, indent, item_sep, key_sep, sort_keys }
    }
}

/// The filter: `x | tojson`, `x | tojson(indent=2)`; positional arguments follow HF's
/// signature order (ensure_ascii, indent, separators, sort_keys).
pub(super) fn filter(value: &Value, args: Rest<Value>, kwargs: Kwargs) -> Result<String, Error> {
    const NAMES: [&str; 4] = ["ensure_ascii", "indent", "separators", "sort_keys"];
    if args.len() > NAMES.len() {
        return Err(Error::new(ErrorKind::TooManyArguments, "tojson takes at most 4 arguments"));
    }
    let mut slots: [Option<Value>; 4] = Default::default();
    for (i, (slot, name)) in slots.iter_mut().zip(NAMES).enumerate() {
        let named: Option<Value> = kwargs.get(name)?;
        let positional = args.get(i).cloned();
        if positional.is_some() && named.is_some() {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("tojson got '{name}' twice"),
            ));
        }
        *slot = positional.or(named);
    }
    kwargs.assert_all_used()?;
    let [ensure_ascii, indent, separators, sort_keys] = slots;
    let style = JsonStyle::new(
        ensure_ascii.is_some_and(|v| v.is_true()),
        indent_text(indent)?,
        separators_pair(separators)?,
        sort_keys.is_some_and(|v| v.is_true()),
    );
    to_json(value, &style)
}

/// `indent`: a number of spaces or the text itself; none means one line.
fn indent_text(indent: Option<Value>) -> Result<Option<String>, Error> {
    let Some(v) = indent.filter(|v| !v.is_none() && !v.is_undefined()) else { return Ok(None) };
    if let Some(s) = v.as_str() {
        return Ok(Some(s.to_string()));
    }
    match v.as_i64() {
        Some(n) => Ok(Some(" ".repeat(n.clamp(0, 64) as usize))),
        None => Err(Error::new(
            ErrorKind::InvalidOperation,
            "tojson: indent must be a number or a string",
        )),
    }
}

/// `separators`: a pair `(item_separator, key_separator)`.
fn separators_pair(seps: Option<Value>) -> Result<Option<(String, String)>, Error> {
    let Some(v) = seps.filter(|v| !v.is_none() && !v.is_undefined()) else { return Ok(None) };
    let parts: Vec<Value> = v.try_iter()?.collect();
    match parts.as_slice() {
        [a, b] if a.as_str().is_some() && b.as_str().is_some() => {
            Ok(Some((a.to_string(), b.to_string())))
        }
        _ => Err(Error::new(
            ErrorKind::InvalidOperation,
            "tojson: separators must be a pair of strings",
        )),
    }
}

/// Serializes `value` in `style`.
pub(super) fn to_json(value: &Value, style: &JsonStyle) -> Result<String, Error> {
    let mut out = String::new();
    write_value(&mut out, value, style, 0)?;
    Ok(out)
}

fn not_serializable(value: &Value) -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!("tojson: a {} value is not JSON serializable", value.kind()),
    )
}

fn write_value(
    out: &mut String,
    value: &Value,
    style: &JsonStyle,
    depth: usize,
) -> Result<(), Error> {
    if depth > MAX_DEPTH {
        return Err(Error::new(ErrorKind::InvalidOperation, "tojson: value nested too deeply"));
    }
    match value.kind() {
        ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number => write_number(out, value)?,
        ValueKind::String => write_str(out, value.as_str().unwrap_or_default(), style.ensure_ascii),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = value.try_iter()?.collect();
            write_container(out, ('[', ']'), &items, style, depth, |out, item, style| {
                write_value(out, item, style, depth + 1)
            })?;
        }
        ValueKind::Map => {
            let mut keys: Vec<(String, Value)> = value
                .try_iter()?
                .map(|k| key_text(&k).map(|text| (text, k)))
                .collect::<Result<_, _>>()?;
            if style.sort_keys {
                keys.sort_by(|a, b| a.0.cmp(&b.0));
            }
            write_container(out, ('{', '}'), &keys, style, depth, |out, (text, key), style| {
                write_str(out, text, style.ensure_ascii);
                out.push_str(&style.key_sep);
                write_value(out, &value.get_item(key)?, style, depth + 1)
            })?;
        }
        _ => return Err(not_serializable(value)),
    }
    Ok(())
}

/// Writes `open items… close`, one item per line when indenting; `[]`/`{}` when empty.
fn write_container<T>(
    out: &mut String,
    (open, close): (char, char),
    items: &[T],
    style: &JsonStyle,
    depth: usize,
    mut write_item: impl FnMut(&mut String, &T, &JsonStyle) -> Result<(), Error>,
) -> Result<(), Error> {
    out.push(open);
    if items.is_empty() {
        out.push(close);
        return Ok(());
    }
    let newline = |out: &mut String, level: usize| {
        if let Some(indent) = &style.indent {
            out.push('\n');
            (0..level).for_each(|_| out.push_str(indent));
        }
    };
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(&style.item_sep);
        }
        newline(out, depth + 1);
        write_item(out, item, style)?;
    }
    newline(out, depth);
    out.push(close);
    Ok(())
}

/// A map key as Python's json module spells it: strings as they are, numbers, booleans
/// and none converted; anything else is refused.
fn key_text(key: &Value) -> Result<String, Error> {
    match key.kind() {
        ValueKind::String => Ok(key.as_str().unwrap_or_default().to_string()),
        ValueKind::None => Ok("null".to_string()),
        ValueKind::Bool => Ok(if key.is_true() { "true" } else { "false" }.to_string()),
        ValueKind::Number => {
            let mut s = String::new();
            write_number(&mut s, key)?;
            Ok(s)
        }
        _ => Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("tojson: keys must be strings, not {}", key.kind()),
        )),
    }
}

fn write_number(out: &mut String, value: &Value) -> Result<(), Error> {
    if value.is_integer() {
        out.push_str(&value.to_string());
    } else {
        let f = f64::try_from(value.clone()).map_err(|_| not_serializable(value))?;
        out.push_str(&py_float_repr(f));
    }
    Ok(())
}

/// Python's `repr(float)` as `json.dumps` prints it: shortest round-trip digits, positional
/// between 1e-4 and 1e16, else `1e+20` / `1.5e-07`; `NaN`, `Infinity`, `-Infinity`.
pub(super) fn py_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    // Rust's `{:e}` gives the shortest round-trip digits, e.g. "-1.5e-7".
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = mantissa.strip_prefix('-').map_or(("", mantissa), |m| ("-", m));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let n = digits.len() as i32;
    let body = if (-4..16).contains(&exp) {
        if exp < 0 {
            format!("0.{}{digits}", "0".repeat((-exp - 1) as usize))
        } else if n <= exp + 1 {
            format!("{digits}{}.0", "0".repeat((exp + 1 - n) as usize))
        } else {
            let (int, frac) = digits.split_at((exp + 1) as usize);
            format!("{int}.{frac}")
        }
    } else {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() { String::new() } else { format!(".{rest}") };
        let exp_sign = if exp < 0 { '-' } else { '+' };
        format!("{first}{frac}e{exp_sign}{:02}", exp.abs())
    };
    format!("{sign}{body}")
}

/// A JSON string literal: `"` `\` and control characters escaped (short forms where JSON has
/// them), and with `ensure_ascii` everything from DEL up as `\uXXXX` (surrogate pairs above
/// the BMP), lower-case hex as Python writes it.
pub(super) fn write_str(out: &mut String, s: &str, ensure_ascii: bool) {
    use std::fmt::Write;
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (ensure_ascii && (c as u32) >= 0x7f) => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dumps(v: serde_json::Value, style: &JsonStyle) -> String {
        to_json(&super::super::values::json_value(&v), style).unwrap()
    }

    #[test]
    fn float_repr_matches_python() {
        let cases = [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (-0.0, "-0.0"),
            (1.5e-7, "1.5e-07"),
            (1e20, "1e+20"),
            (1e16, "1e+16"),
            (1234567890123456.0, "1234567890123456.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (123.456, "123.456"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Infinity"),
        ];
        for (f, want) in cases {
            assert_eq!(py_float_repr(f), want, "{f:e}");
        }
    }

    #[test]
    fn strings_escape_like_python_without_html_escaping() {
        let mut s = String::new();
        write_str(&mut s, "<b>&'\"\\\n\t\u{1}\u{7f}é😀", false);
        assert_eq!(s, "\"<b>&'\\\"\\\\\\n\\t\\u0001\u{7f}é😀\"");
        s.clear();
        write_str(&mut s, "é😀\u{7f}", true);
        assert_eq!(s, "\"\\u00e9\\ud83d\\ude00\\u007f\"");
    }

    #[test]
    fn separators_and_indent_follow_json_dumps() {
        // Keys in order: serde_json keeps insertion order when a dependency enables its
        // `preserve_order` (the ACP schema crate does), and sorts them otherwise.
        let v = serde_json::json!({"a": {}, "b": [1, 2.5, null, true], "c": []});
        assert_eq!(
            dumps(v.clone(), &JsonStyle::default()),
            r#"{"a": {}, "b": [1, 2.5, null, true], "c": []}"#
        );
        let style = JsonStyle::new(false, Some("  ".into()), None, false);
        let want = "{\n  \"a\": {},\n  \"b\": [\n    1,\n    2.5,\n    null,\n    true\n  ],\n  \"c\": []\n}";
        assert_eq!(dumps(v, &style), want);
    }

    #[test]
    fn object_order_is_kept_unless_sorted() {
        let mut map = serde_json::Map::new();
        map.insert("z".into(), 1.into());
        map.insert("a".into(), 2.into());
        let v = serde_json::Value::Object(map);
        // serde_json (without preserve_order) already sorts, so check sort_keys on our own map.
        let mut ordered = super::super::values::OrderedMap::default();
        ordered.push("z", Value::from(1));
        ordered.push("a", Value::from(2));
        let ordered = Value::from_object(ordered);
        assert_eq!(to_json(&ordered, &JsonStyle::default()).unwrap(), r#"{"z": 1, "a": 2}"#);
        let sorted = JsonStyle::new(false, None, None, true);
        assert_eq!(to_json(&ordered, &sorted).unwrap(), r#"{"a": 2, "z": 1}"#);
        assert_eq!(dumps(v, &sorted), r#"{"a": 2, "z": 1}"#);
    }

    #[test]
    fn undefined_is_an_error() {
        let err = to_json(&Value::UNDEFINED, &JsonStyle::default()).unwrap_err();
        assert!(err.to_string().contains("not JSON serializable"), "{err}");
    }
}
