//! Server-sent events as OpenAI-compatible servers stream them: `data:` lines (several
//! joined by newlines) make one event, a blank line ends it; comments (`:`) and other
//! fields are skipped. Read incrementally from any `BufRead`.

use std::io::BufRead;

/// The next event's data from `r`; `Ok(None)` at the end of the stream (a last event
/// without its blank line still counts).
pub fn next_event(r: &mut impl BufRead) -> std::io::Result<Option<String>> {
    let mut data: Option<String> = None;
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Ok(data);
        }
        let l = line.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            match data {
                Some(d) => return Ok(Some(d)),
                None => continue,
            }
        }
        let (field, value) = match l.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (l, ""),
        };
        if field == "data" {
            let d = data.get_or_insert_with(String::new);
            if !d.is_empty() {
                d.push('\n');
            }
            d.push_str(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_data_lines_up_to_a_blank_line() {
        let text =
            ": keep-alive\n\ndata: {\"a\":1}\n\ndata:x\r\ndata: y\nid: 3\n\nevent: e\ndata: [DONE]";
        let mut r = std::io::BufReader::new(text.as_bytes());
        let mut got = Vec::new();
        while let Some(e) = next_event(&mut r).unwrap() {
            got.push(e);
        }
        assert_eq!(got, ["{\"a\":1}", "x\ny", "[DONE]"]);
    }
}
