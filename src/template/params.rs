//! Parameters: template defaults overridden by `--set`, substituted as `${name}`, and
//! the typed values fields want, each error at its place in the template.

use std::collections::BTreeMap;

use serde_saphyr::Spanned;

use super::raw::Scalar;
use super::{Ctx, TemplateError};

/// A name used in hostnames and file names: lowercase letters, digits, '-'.
pub(super) fn is_name(v: &str) -> bool {
    v.len() <= 32
        && v.starts_with(|c: char| c.is_ascii_lowercase())
        && v.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Parameter values: template defaults overridden by `--set`.
pub(super) struct Params(BTreeMap<String, String>);

impl Params {
    pub(super) fn new(
        ctx: &Ctx,
        raw: &BTreeMap<String, Spanned<Scalar>>,
        sets: &[String],
    ) -> Result<Self, TemplateError> {
        let mut values: BTreeMap<String, String> = raw
            .iter()
            .map(|(k, v)| (k.clone(), v.value.0.clone()))
            .collect();
        for set in sets {
            let Some((key, value)) = set.split_once('=') else {
                return Err(TemplateError::Other(format!(
                    "--set {set}: expected key=value"
                )));
            };
            if !values.contains_key(key) {
                let known: Vec<_> = values.keys().cloned().collect();
                return Err(TemplateError::Other(format!(
                    "--set {set}: {} has no parameter '{key}' (it has: {})",
                    ctx.file,
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                )));
            }
            values.insert(key.to_string(), value.to_string());
        }
        Ok(Params(values))
    }

    /// Substitutes every `${name}` in `s`.
    pub(super) fn expand(&self, ctx: &Ctx, s: &Spanned<Scalar>) -> Result<String, TemplateError> {
        let text = &s.value.0;
        let mut out = String::new();
        let mut rest = text.as_str();
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                return Err(ctx.at(&s.referenced, format!("unclosed '${{' in '{text}'")));
            };
            let name = &after[..end];
            let Some(value) = self.0.get(name) else {
                return Err(ctx.at(
                    &s.referenced,
                    format!("unknown parameter '{name}': declare it under `params:`"),
                ));
            };
            out.push_str(value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    pub(super) fn text(
        &self,
        ctx: &Ctx,
        field: &str,
        s: &Spanned<Scalar>,
    ) -> Result<String, TemplateError> {
        let v = self.expand(ctx, s)?;
        if v.is_empty() {
            return Err(ctx.at(&s.referenced, format!("{field}: must not be empty")));
        }
        Ok(v)
    }

    /// A name used in hostnames and file names: lowercase letters, digits, '-'.
    pub(super) fn name(
        &self,
        ctx: &Ctx,
        field: &str,
        s: &Spanned<Scalar>,
    ) -> Result<String, TemplateError> {
        let v = self.text(ctx, field, s)?;
        if !is_name(&v) {
            return Err(ctx.at(
                &s.referenced,
                format!("{field}: '{v}' is not a valid name (lowercase letters, digits and '-', starting with a letter, at most 32)"),
            ));
        }
        Ok(v)
    }

    pub(super) fn number(
        &self,
        ctx: &Ctx,
        field: &str,
        s: Option<&Spanned<Scalar>>,
        default: u32,
        range: std::ops::RangeInclusive<u32>,
    ) -> Result<u32, TemplateError> {
        let Some(s) = s else { return Ok(default) };
        let v = self.expand(ctx, s)?;
        let n: u32 = v.trim().parse().map_err(|_| {
            ctx.at(
                &s.referenced,
                format!("{field}: expected a whole number, found '{v}'"),
            )
        })?;
        if !range.contains(&n) {
            return Err(ctx.at(
                &s.referenced,
                format!(
                    "{field}: {n} is out of range {}..={}",
                    range.start(),
                    range.end()
                ),
            ));
        }
        Ok(n)
    }

    /// `true` or `false` (after parameters are expanded).
    pub(super) fn boolean(
        &self,
        ctx: &Ctx,
        field: &str,
        s: &Spanned<Scalar>,
    ) -> Result<bool, TemplateError> {
        match self.expand(ctx, s)?.trim() {
            "true" => Ok(true),
            "false" => Ok(false),
            v => Err(ctx.at(
                &s.referenced,
                format!("{field}: expected true or false, found '{v}'"),
            )),
        }
    }

    /// Memory in MiB: a number, or a number with an `M`/`G` suffix.
    pub(super) fn memory(
        &self,
        ctx: &Ctx,
        s: Option<&Spanned<Scalar>>,
    ) -> Result<u32, TemplateError> {
        let Some(s) = s else { return Ok(256) };
        let v = self.expand(ctx, s)?;
        let t = v.trim();
        let (digits, factor) = match t.strip_suffix(['G', 'g']) {
            Some(d) => (d, 1024),
            None => (t.strip_suffix(['M', 'm']).unwrap_or(t), 1),
        };
        let n = digits
            .parse::<u32>()
            .ok()
            .and_then(|n| n.checked_mul(factor))
            .filter(|n| (64..=262_144).contains(n))
            .ok_or_else(|| {
                ctx.at(
                    &s.referenced,
                    format!(
                        "memory: expected MiB from 64 to 262144, or e.g. '512M', '2G'; found '{v}'"
                    ),
                )
            })?;
        Ok(n)
    }
}
