//! A template's `services.<name>` section, as a clone kind reads it: deserialized from
//! the template's own text, so every error keeps the line and column it has there.

use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, Visitor};

/// The part of a template one service's kind reads.
pub struct Section<'a> {
    /// The whole template's text (validated YAML already).
    pub text: &'a str,
    /// The service's key under `services:`.
    pub name: &'a str,
}

/// What is wrong with a section, and where, in the template's text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    /// Line and column, when known.
    pub at: Option<(u64, u64)>,
    pub message: String,
}

impl ConfigError {
    pub fn at(loc: &serde_saphyr::Location, message: impl Into<String>) -> ConfigError {
        ConfigError {
            at: Some((loc.line(), loc.column())),
            message: message.into(),
        }
    }
}

impl Section<'_> {
    /// Deserializes `services.<name>` as `T`; `T` decides which fields it accepts.
    pub fn read<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        let found = serde_saphyr::with_deserializer_from_str(self.text, |d| {
            Pick::<T> {
                path: &["services", self.name],
                _t: std::marker::PhantomData,
            }
            .deserialize(d)
        })
        .map_err(|e| ConfigError {
            at: e.location().map(|l| (l.line(), l.column())),
            message: plain_message(&e),
        })?;
        found.ok_or_else(|| ConfigError {
            at: None,
            message: format!("services.{}: not in the template", self.name),
        })
    }
}

/// serde-saphyr's message without its own location suffix (the caller prints it first).
pub fn plain_message(e: &serde_saphyr::Error) -> String {
    let text = e.without_snippet().to_string();
    let text = text.lines().next().unwrap_or_default().to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// Follows `path` down nested mappings, skipping everything else, and deserializes
/// the value at its end as `T`.
struct Pick<'p, T> {
    path: &'p [&'p str],
    _t: std::marker::PhantomData<T>,
}

impl<'de, T: DeserializeOwned> DeserializeSeed<'de> for Pick<'_, T> {
    type Value = Option<T>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        match self.path.split_first() {
            None => T::deserialize(d).map(Some),
            Some(_) => d.deserialize_map(self),
        }
    }
}

impl<'de, T: DeserializeOwned> Visitor<'de> for Pick<'_, T> {
    type Value = Option<T>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a mapping")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<T>, A::Error> {
        let (first, rest) = self.path.split_first().expect("called with a path");
        let mut found = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == *first && found.is_none() {
                found = map.next_value_seed(Pick::<T> {
                    path: rest,
                    _t: std::marker::PhantomData,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}
