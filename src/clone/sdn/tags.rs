//! Tags on resources (`standard-attr-tag`): a set of short strings per resource, set
//! through `/v2.0/{collection}/{id}/tags`, shown in the resource's `tags`, and matched by
//! the `tags`, `tags-any`, `not-tags` and `not-tags-any` list filters.

use std::collections::BTreeSet;

use serde_json::Value;

use super::error::SdnError;
use super::model::State;

/// Neutron's `MAX_TAG_LEN`.
pub const MAX_TAG_LEN: usize = 255;
/// Tags of one resource a request may set at once (Neutron's `MAX_TAGS`).
pub const MAX_TAGS: usize = 50;

/// One tag, checked as Neutron checks it: not empty, at most 255 characters, no comma
/// (the filters split on commas).
pub fn check(tag: &str) -> Result<(), SdnError> {
    if tag.is_empty() || tag.chars().count() > MAX_TAG_LEN || tag.contains(',') {
        return Err(SdnError::BadRequest(format!(
            "Invalid input for operation: '{tag}' is not a valid tag: 1 to {MAX_TAG_LEN} characters, no comma."
        )));
    }
    Ok(())
}

/// The tags of a `PUT .../tags` body: `{"tags": [...]}`.
pub fn from_body(body: &Value) -> Result<BTreeSet<String>, SdnError> {
    let list = body.get("tags").and_then(Value::as_array).ok_or_else(|| {
        SdnError::BadRequest(
            "Invalid input for operation: a body {\"tags\": [...]} is needed.".into(),
        )
    })?;
    if list.len() > MAX_TAGS {
        return Err(SdnError::BadRequest(format!(
            "Invalid input for operation: at most {MAX_TAGS} tags."
        )));
    }
    list.iter()
        .map(|t| {
            let t = t.as_str().ok_or_else(|| {
                SdnError::BadRequest(format!("Invalid input for operation: {t} is not a string."))
            })?;
            check(t)?;
            Ok(t.to_string())
        })
        .collect()
}

impl State {
    pub fn tags_of(&self, id: &str) -> Vec<&String> {
        self.tags
            .get(id)
            .map(|t| t.iter().collect())
            .unwrap_or_default()
    }

    /// Tags of resources that are gone go with them.
    pub(super) fn forget_tags_of_the_gone(&mut self) {
        let alive = |id: &str| {
            self.networks.contains_key(id)
                || self.subnets.contains_key(id)
                || self.ports.contains_key(id)
                || self.routers.contains_key(id)
                || self.floating_ips.contains_key(id)
                || self.subnetpools.contains_key(id)
                || self.security_groups.contains_key(id)
        };
        let gone: Vec<String> = self.tags.keys().filter(|id| !alive(id)).cloned().collect();
        for id in gone {
            self.tags.remove(&id);
        }
    }
}

/// Whether an item's `tags` pass a list filter (`wanted`: comma-separated): all of them
/// (`tags`), any (`tags-any`), not all (`not-tags`), none (`not-tags-any`). `None`: the
/// key is no tag filter.
pub fn filter(key: &str, item: &Value, wanted: &str) -> Option<bool> {
    let has: BTreeSet<&str> = item["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mut want = wanted.split(',').filter(|t| !t.is_empty());
    Some(match key {
        "tags" => want.all(|t| has.contains(t)),
        "tags-any" => want.any(|t| has.contains(t)),
        "not-tags" => !want.all(|t| has.contains(t)),
        "not-tags-any" => !want.any(|t| has.contains(t)),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tags_are_checked_and_filtered_as_neutron_does() {
        assert!(check("a,b").is_err());
        assert!(check("").is_err());
        assert!(check(&"x".repeat(256)).is_err());
        assert_eq!(
            from_body(&json!({"tags": ["a", "b", "a"]})).unwrap().len(),
            2
        );
        assert!(from_body(&json!({"tags": [1]})).is_err());
        let item = json!({"tags": ["red", "blue"]});
        assert_eq!(filter("tags", &item, "red,blue"), Some(true));
        assert_eq!(filter("tags", &item, "red,green"), Some(false));
        assert_eq!(filter("tags-any", &item, "red,green"), Some(true));
        assert_eq!(filter("not-tags", &item, "red,green"), Some(true));
        assert_eq!(filter("not-tags-any", &item, "green"), Some(true));
        assert_eq!(filter("not-tags-any", &item, "red"), Some(false));
        assert_eq!(filter("name", &item, "red"), None);
    }
}
