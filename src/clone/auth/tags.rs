//! Project tags, as Keystone keeps them: each 1 to 255 characters without `/` or `,`,
//! at most 80 on a project, each once; and the list filters that use them.

use super::error::AuthError;
use super::model::{Project, State};

/// Keystone's limit of tags on one project.
pub const MAX_TAGS: usize = 80;
const MAX_TAG: usize = 255;

fn check(tag: &str) -> Result<(), AuthError> {
    if tag.is_empty() || tag.chars().count() > MAX_TAG || tag.contains(['/', ',']) {
        return Err(AuthError::BadRequest(format!(
            "Invalid project tag '{tag}': 1 to {MAX_TAG} characters, without '/' or ','"
        )));
    }
    Ok(())
}

/// Checks a whole set of tags, duplicates dropped in order.
pub fn checked(tags: &[String]) -> Result<Vec<String>, AuthError> {
    let mut out: Vec<String> = Vec::new();
    for t in tags {
        check(t)?;
        if !out.contains(t) {
            out.push(t.clone());
        }
    }
    if out.len() > MAX_TAGS {
        return Err(AuthError::BadRequest(format!(
            "A project has at most {MAX_TAGS} tags"
        )));
    }
    Ok(out)
}

impl State {
    fn project_mut(&mut self, id: &str) -> Result<&mut Project, AuthError> {
        self.projects
            .get_mut(id)
            .ok_or_else(|| AuthError::NotFound {
                kind: "project",
                id: id.into(),
            })
    }

    pub fn set_tags(&mut self, project: &str, tags: &[String]) -> Result<Vec<String>, AuthError> {
        let tags = checked(tags)?;
        self.project_mut(project)?.tags = tags.clone();
        Ok(tags)
    }

    pub fn add_tag(&mut self, project: &str, tag: &str) -> Result<Vec<String>, AuthError> {
        check(tag)?;
        let p = self.project_mut(project)?;
        if !p.tags.iter().any(|t| t == tag) {
            if p.tags.len() >= MAX_TAGS {
                return Err(AuthError::BadRequest(format!(
                    "A project has at most {MAX_TAGS} tags"
                )));
            }
            p.tags.push(tag.into());
        }
        Ok(p.tags.clone())
    }

    pub fn remove_tag(&mut self, project: &str, tag: &str) -> Result<(), AuthError> {
        let p = self.project_mut(project)?;
        let before = p.tags.len();
        p.tags.retain(|t| t != tag);
        if p.tags.len() == before {
            return Err(AuthError::NotFound {
                kind: "tag",
                id: tag.into(),
            });
        }
        Ok(())
    }
}

/// Keystone's `tags`, `tags-any`, `not-tags`, `not-tags-any` filters (comma lists).
pub fn tags_match(q: &std::collections::HashMap<String, String>, tags: &[String]) -> bool {
    let list = |key: &str| -> Option<Vec<&str>> { q.get(key).map(|v| v.split(',').collect()) };
    let has = |t: &&str| tags.iter().any(|x| x == t);
    list("tags").is_none_or(|w| w.iter().all(has))
        && list("tags-any").is_none_or(|w| w.iter().any(has))
        && list("not-tags").is_none_or(|w| !w.iter().all(has))
        && list("not-tags-any").is_none_or(|w| !w.iter().any(has))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_checked_and_filtered_as_keystone_does() {
        assert!(checked(&["a/b".into()]).is_err());
        assert!(checked(&["a,b".into()]).is_err());
        assert!(checked(&["".into()]).is_err());
        assert!(checked(&["x".repeat(256)]).is_err());
        let many: Vec<String> = (0..81).map(|i| i.to_string()).collect();
        assert!(checked(&many).is_err());
        assert_eq!(checked(&["a".into(), "a".into()]).unwrap(), ["a"]);
        let tags = vec!["a".to_string(), "b".to_string()];
        let q = |k: &str, v: &str| [(k.to_string(), v.to_string())].into();
        assert!(tags_match(&q("tags", "a,b"), &tags));
        assert!(!tags_match(&q("tags", "a,c"), &tags));
        assert!(tags_match(&q("tags-any", "c,b"), &tags));
        assert!(!tags_match(&q("not-tags-any", "c,b"), &tags));
        assert!(tags_match(&q("not-tags", "a,c"), &tags));
    }
}
