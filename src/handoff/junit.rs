//! JUnit XML for CI systems: a test case per phase of `vstage run`, plus the suites a
//! test command wrote itself (Tempest's, through `subunit2junitxml`), merged under
//! their own names. The schema is the one GitLab, Jenkins and GitHub's JUnit actions
//! read: `<testsuites><testsuite name tests failures time><testcase ...>`.

use std::fmt::Write as _;

/// One phase as a test case.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub name: String,
    pub seconds: f64,
    /// Why it failed, if it did.
    pub failure: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum JunitError {
    #[error("{0}: not JUnit XML: {1}")]
    Invalid(String, String),
}

/// Escapes text for an attribute or element body.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if !allowed(c) => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// The largest JUnit file merged (Tempest's full run is a few MiB).
pub const MAX_JUNIT_BYTES: u64 = 64 << 20;

/// Characters XML 1.0 has no place for, even escaped (terminal colours in test output).
fn allowed(c: char) -> bool {
    ((c as u32) >= 0x20 || matches!(c, '\t' | '\n' | '\r')) && !matches!(c, '\u{fffe}' | '\u{ffff}')
}

/// The `<testsuite>` elements of a JUnit document (the root itself when it is one),
/// checked to be well-formed (attributes and entities too), with characters XML cannot
/// carry replaced, to embed in ours.
pub fn suites_of(label: &str, xml: &str) -> Result<String, JunitError> {
    use quick_xml::events::Event;
    let invalid = |e: String| JunitError::Invalid(label.to_string(), e);
    let cleaned: String = xml
        .chars()
        .map(|c| if allowed(c) { c } else { '?' })
        .collect();
    let xml = cleaned.as_str();
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut depth = 0usize;
    let mut root: Option<String> = None;
    let mut body_start = None;
    let mut body_end = None;
    loop {
        let before = reader.buffer_position() as usize;
        let event = reader.read_event().map_err(|e| invalid(e.to_string()))?;
        // Attributes and text are parsed lazily: check them, so that nothing a reader
        // would reject is passed on.
        if let Event::Start(e) | Event::Empty(e) = &event {
            for a in e.attributes() {
                let a = a.map_err(|e| invalid(e.to_string()))?;
                a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                    .map_err(|e| invalid(e.to_string()))?;
            }
        }
        if let Event::Text(t) = &event {
            quick_xml::escape::unescape(t.as_ref()).map_err(|e| invalid(e.to_string()))?;
        }
        if let Event::GeneralRef(r) = &event {
            // Only XML's own entities and characters it allows: no DTD is merged.
            let known = match r.resolve_char_ref() {
                Ok(Some(c)) => allowed(c),
                Ok(None) => matches!(r.as_ref(), "lt" | "gt" | "amp" | "apos" | "quot"),
                Err(_) => false,
            };
            if !known {
                let name: &str = r.as_ref();
                return Err(invalid(format!("unknown entity &{name};")));
            }
        }
        match event {
            Event::Start(e) => {
                if depth == 0 {
                    let name = e.name().as_ref().to_string();
                    if root.is_some() {
                        return Err(invalid("more than one root element".into()));
                    }
                    body_start = Some(if name == "testsuites" {
                        reader.buffer_position() as usize
                    } else {
                        before
                    });
                    root = Some(name);
                }
                depth += 1;
            }
            Event::End(_) => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| invalid("unbalanced tags".into()))?;
                if depth == 0 {
                    body_end = Some(if root.as_deref() == Some("testsuites") {
                        before
                    } else {
                        reader.buffer_position() as usize
                    });
                }
            }
            Event::Empty(e) if depth == 0 => {
                let name = e.name().as_ref().to_string();
                if name != "testsuites" && name != "testsuite" {
                    return Err(invalid(format!("root <{name}/>, not a test suite")));
                }
                return Ok(if name == "testsuite" {
                    xml[before..reader.buffer_position() as usize].to_string()
                } else {
                    String::new()
                });
            }
            Event::Eof => break,
            _ => {}
        }
    }
    match (root.as_deref(), body_start, body_end) {
        (Some("testsuites" | "testsuite"), Some(a), Some(b)) if a <= b => Ok(xml[a..b].to_string()),
        (Some(other), _, _) => Err(invalid(format!("root <{other}>, not a test suite"))),
        _ => Err(invalid("no root element".into())),
    }
}

/// The whole document: `suite` with `cases`, then the `merged` suites.
pub fn document(suite: &str, cases: &[Case], merged: &[String]) -> String {
    let failures = cases.iter().filter(|c| c.failure.is_some()).count();
    let total: f64 = cases.iter().map(|c| c.seconds).sum();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
    let _ = writeln!(
        xml,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\" time=\"{total:.3}\">",
        escape(suite),
        cases.len()
    );
    for case in cases {
        let _ = write!(
            xml,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
            escape(suite),
            escape(&case.name),
            case.seconds
        );
        match &case.failure {
            None => xml.push_str("/>\n"),
            Some(why) => {
                let first = why.lines().next().unwrap_or_default();
                let _ = writeln!(
                    xml,
                    ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                    escape(first),
                    escape(why)
                );
            }
        }
    }
    xml.push_str("  </testsuite>\n");
    for m in merged {
        xml.push_str(m.trim());
        xml.push('\n');
    }
    xml.push_str("</testsuites>\n");
    xml
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suites_are_taken_from_either_root() {
        let one = "<?xml version=\"1.0\"?>\n<testsuite name=\"t\" tests=\"1\"><testcase name=\"a\"/></testsuite>";
        assert_eq!(
            suites_of("f", one).unwrap(),
            "<testsuite name=\"t\" tests=\"1\"><testcase name=\"a\"/></testsuite>"
        );
        let many =
            "<testsuites><testsuite name=\"x\"/><testsuite name=\"y\"></testsuite></testsuites>";
        assert_eq!(
            suites_of("f", many).unwrap(),
            "<testsuite name=\"x\"/><testsuite name=\"y\"></testsuite>"
        );
        assert!(suites_of("f", "<html><body/></html>").is_err());
        assert!(suites_of("f", "<testsuite><testcase></testsuite>").is_err());
        assert!(suites_of("f", "not xml at all").is_err());
        // What readers reject is refused or replaced, never passed on.
        assert!(suites_of("f", "<testsuite name=\"a & b\"/>").is_err());
        assert!(suites_of("f", "<testsuite><testcase>&nbsp;</testcase></testsuite>").is_err());
        let colours = suites_of(
            "f",
            "<testsuite><system-out>\u{1b}[31mred</system-out></testsuite>",
        );
        assert_eq!(
            colours.unwrap(),
            "<testsuite><system-out>?[31mred</system-out></testsuite>"
        );
    }

    #[test]
    fn text_is_escaped() {
        let doc = document(
            "vstage",
            &[Case {
                name: "test <x> & \"y\"".into(),
                seconds: 1.5,
                failure: Some("exit 7\n\u{1b}[31mred".into()),
            }],
            &[],
        );
        assert!(
            doc.contains("name=\"test &lt;x&gt; &amp; &quot;y&quot;\""),
            "{doc}"
        );
        assert!(doc.contains("failures=\"1\""), "{doc}");
        assert!(!doc.contains('\u{1b}'), "{doc}");
    }
}
