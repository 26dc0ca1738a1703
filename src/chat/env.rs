//! The one place the minijinja environment is configured to behave like Hugging Face's
//! jinja2 setup: trim_blocks, lstrip_blocks, loop controls, Python string methods, the
//! `raise_exception`/`strftime_now` globals and HF's `tojson` filter.

use std::fmt::{self, Write as _};

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, FixedOffset};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, Error, ErrorKind};

use super::tojson;

/// The error a template raised on purpose with `raise_exception(msg)`; carried as the
/// source of the minijinja error so the message can be told apart from engine errors.
#[derive(Debug)]
pub(super) struct Raised(pub String);

impl fmt::Display for Raised {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Raised {}

/// A fresh environment with HF's settings. `now` fixes the clock `strftime_now` reads
/// (reproducible prompts and tests); `None` reads the local time at each call.
pub(super) fn environment(now: Option<DateTime<FixedOffset>>) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_syntax(hf_syntax());
    // HF renders plain text: never HTML-escape, whatever the template is called.
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.add_function("raise_exception", raise_exception);
    env.add_function("strftime_now", move |fmt: &str| strftime_now(fmt, now));
    env.add_filter("tojson", tojson::filter);
    env
}

/// jinja2's delimiters with HF's whitespace rules: trim_blocks, lstrip_blocks, and the
/// final newline of a template dropped.
fn hf_syntax() -> SyntaxConfig {
    let mut builder = SyntaxConfig::builder();
    builder.trim_blocks(true).lstrip_blocks(true).keep_trailing_newline(false);
    builder.build().expect("the default delimiters are valid")
}

/// `raise_exception(message)`: fails the render with the template's own message.
fn raise_exception(message: Option<Value>) -> Result<Value, Error> {
    let message = message.map(|m| m.to_string()).unwrap_or_default();
    Err(Error::new(ErrorKind::InvalidOperation, message.clone()).with_source(Raised(message)))
}

/// `strftime_now(format)`: the current time in a C `strftime` format. An invalid format
/// is an error, never a panic.
fn strftime_now(format: &str, now: Option<DateTime<FixedOffset>>) -> Result<String, Error> {
    let items: Vec<Item> = StrftimeItems::new(format).collect();
    let invalid = || {
        Error::new(ErrorKind::InvalidOperation, format!("strftime_now: invalid format {format:?}"))
    };
    if items.iter().any(|item| matches!(item, Item::Error)) {
        return Err(invalid());
    }
    let now = now.unwrap_or_else(|| chrono::Local::now().fixed_offset());
    let mut text = String::new();
    write!(text, "{}", now.format_with_items(items.iter())).map_err(|_| invalid())?;
    Ok(text)
}

/// Describes a minijinja error for our messages: a `raise_exception` call as
/// `the template raised an error: MESSAGE (in NAME:LINE)`, anything else as minijinja
/// prints it, followed by the errors it wraps.
pub(super) fn describe_error(err: &Error) -> String {
    if let Some(msg) = raised_message(err) {
        let mut text = format!("the template raised an error: {msg}");
        if let (Some(name), Some(line)) = (err.name(), err.line()) {
            let _ = write!(text, " (in {name}:{line})");
        }
        return text;
    }
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        let _ = write!(text, ": {inner}");
        source = inner.source();
    }
    text
}

/// The message of a `raise_exception` call anywhere in the error's chain.
fn raised_message(err: &Error) -> Option<&str> {
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        if let Some(raised) = inner.downcast_ref::<Raised>() {
            return Some(&raised.0);
        }
        source = inner.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn render(src: &str, ctx: Value) -> Result<String, Error> {
        let now =
            FixedOffset::east_opt(0).unwrap().with_ymd_and_hms(2026, 11, 26, 9, 30, 0).unwrap();
        let env = environment(Some(now));
        let tmpl = env.template_from_named_str("t", src)?;
        tmpl.render(ctx)
    }

    #[test]
    fn raise_exception_is_an_error_with_the_message() {
        let err = render("a\n{{ raise_exception('roles must alternate') }}", Value::from(()))
            .unwrap_err();
        assert_eq!(
            describe_error(&err),
            "the template raised an error: roles must alternate (in t:2)"
        );
    }

    #[test]
    fn trim_and_lstrip_blocks_like_hf() {
        let src = "{% for x in xs %}\n    {% if x %}\n{{ x }},\n    {% endif %}\n{% endfor %}\n";
        let out = render(src, minijinja::context! { xs => vec![1, 0, 2] }).unwrap();
        assert_eq!(out, "1,\n2,\n");
    }

    #[test]
    fn loop_controls_namespace_and_string_methods() {
        let src = "{% set ns = namespace(n=0) %}{% for x in xs %}{% if x == 'skip' %}{% continue %}{% endif %}\
                   {% if x == 'stop' %}{% break %}{% endif %}{% set ns.n = ns.n + 1 %}\
                   {{ x.strip().upper() }}{{ '|' if x.startswith(' a') }}{% endfor %}={{ ns.n }}\
                   {{ 'a,b'.split(',') | length }}";
        let xs = vec![" a ", "skip", "b", "stop", "c"];
        let out = render(src, minijinja::context! { xs => xs }).unwrap();
        assert_eq!(out, "A|B=22");
    }

    #[test]
    fn none_and_booleans_print_like_python() {
        // minijinja 3 already prints Python's spelling; this guards it.
        let out =
            render("{{ none }} {{ true }} {{ false }} {{ 1.0 }} {{ x }}", Value::from(())).unwrap();
        assert_eq!(out, "None True False 1.0 ");
    }

    #[test]
    fn strftime_now_uses_the_clock_and_rejects_bad_formats() {
        assert_eq!(
            render("{{ strftime_now('%d %b %Y') }}", Value::from(())).unwrap(),
            "26 Nov 2026"
        );
        let err = render("{{ strftime_now('%Q') }}", Value::from(())).unwrap_err();
        assert!(describe_error(&err).contains("invalid format"), "{err}");
        let live = environment(None);
        let year = live.render_str("{{ strftime_now('%Y') }}", ()).unwrap();
        assert_eq!(year.len(), 4);
    }

    #[test]
    fn tojson_is_hf_flavoured() {
        let ctx = minijinja::context! { x => "<é>" };
        assert_eq!(render("{{ x | tojson }}", ctx).unwrap(), "\"<é>\"");
        let ctx = minijinja::context! { xs => vec![1, 2] };
        assert_eq!(render("{{ xs | tojson(indent=1) }}", ctx).unwrap(), "[\n 1,\n 2\n]");
        let err = render("{{ 1 | tojson(bogus=1) }}", Value::from(())).unwrap_err();
        assert!(describe_error(&err).contains("bogus"), "{err}");
    }
}
