//! How the SDN clone lists a collection, as Neutron does: `?key=value` filters
//! (repeatable keys mean "any of"; compared with the rendered JSON), sorting
//! (`sort_key`/`sort_dir`, repeatable, the id last so the order is total), a page
//! (`limit`, `marker`, `page_reverse`) with `<collection>_links` to the next and previous
//! pages, and the `fields=` projection last.

use std::cmp::Ordering;
use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::error::SdnError;

/// The body of a list: `{collection: [...], collection_links: [...]}` (links only when
/// a limit cut the list, or a marker started it). `base`: the scheme and authority the
/// caller reached the clone at; `path`: the request's path.
pub(super) fn listing(
    collection: &str,
    items: Vec<Value>,
    query: &[(String, String)],
    base: &str,
    path: &str,
) -> Result<Value, SdnError> {
    let bad = |m: String| SdnError::BadRequest(m);
    let mut filters: HashMap<&str, Vec<&str>> = HashMap::new();
    let mut fields: Vec<&str> = Vec::new();
    let (mut keys, mut dirs) = (Vec::new(), Vec::new());
    let (mut limit, mut marker, mut reverse) = (None, None, false);
    for (k, v) in query {
        match k.as_str() {
            "fields" => fields.push(v),
            "sort_key" => keys.push(v.as_str()),
            "sort_dir" => match v.as_str() {
                "asc" => dirs.push(Ordering::Less),
                "desc" => dirs.push(Ordering::Greater),
                other => {
                    return Err(bad(format!(
                        "Invalid input for sort_dir: '{other}' is not 'asc' or 'desc'"
                    )));
                }
            },
            "limit" => {
                let n: i64 = v.parse().map_err(|_| {
                    bad(format!("Invalid input for limit: '{v}' is not an integer"))
                })?;
                // Neutron: 0 or less means no limit.
                limit = (n > 0).then_some(n as usize);
            }
            "marker" => marker = Some(v.as_str()),
            "page_reverse" => reverse = v.eq_ignore_ascii_case("true"),
            _ => filters.entry(k).or_default().push(v),
        }
    }
    if keys.len() != dirs.len() && !dirs.is_empty() {
        return Err(bad(
            "The number of sort_keys and sort_dirs must be same".into()
        ));
    }
    let mut items: Vec<Value> = items
        .into_iter()
        .filter(|item| {
            filters
                .iter()
                .all(|(k, wanted)| wanted.iter().any(|w| matches(item, k, w)))
        })
        .collect();
    if let Some(key) = keys
        .iter()
        .find(|k| items.first().is_some_and(|i| i.get(**k).is_none()))
    {
        return Err(bad(format!("{key} is an invalid attribute for sort_keys")));
    }
    let mut order: Vec<(&str, Ordering)> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (*k, dirs.get(i).copied().unwrap_or(Ordering::Less)))
        .collect();
    if !order.iter().any(|(k, _)| *k == "id") {
        order.push(("id", order.last().map_or(Ordering::Less, |(_, d)| *d)));
    }
    items.sort_by(|a, b| {
        order
            .iter()
            .map(|(k, dir)| {
                let o = compare(&a[*k], &b[*k]);
                if *dir == Ordering::Greater {
                    o.reverse()
                } else {
                    o
                }
            })
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    });
    // A page: after the marker (before it, paging in reverse), at most `limit` long.
    let at = |id: &str| items.iter().position(|i| i["id"].as_str() == Some(id));
    let (from, to) = match (marker, reverse) {
        (None, false) => (0, items.len()),
        (None, true) => (0, items.len()),
        (Some(m), false) => (at(m).map_or(0, |p| p + 1), items.len()),
        (Some(m), true) => (0, at(m).unwrap_or(items.len())),
    };
    let (from, to) = match (limit, reverse) {
        (Some(n), false) => (from, (from + n).min(to)),
        (Some(n), true) => (to.saturating_sub(n).max(from), to),
        (None, _) => (from, to),
    };
    let more_after = to < items.len();
    let more_before = from > 0;
    let page: Vec<Value> = items[from..to].to_vec();
    let mut links = Vec::new();
    if let (Some(n), Some(first), Some(last)) = (limit, page.first(), page.last()) {
        let href = |marker: &Value, rev: bool| {
            let mut q: Vec<String> = query
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "marker" | "page_reverse" | "limit"))
                .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                .collect();
            q.push(format!("limit={n}"));
            q.push(format!("marker={}", encode(marker.as_str().unwrap_or(""))));
            if rev {
                q.push("page_reverse=True".into());
            }
            format!("{base}{path}?{}", q.join("&"))
        };
        if more_after {
            links.push(json!({"rel": "next", "href": href(&last["id"], false)}));
        }
        if more_before || marker.is_some() {
            links.push(json!({"rel": "previous", "href": href(&first["id"], true)}));
        }
    }
    let page: Vec<Value> = page
        .into_iter()
        .map(|item| project(item, &fields))
        .collect();
    let mut body = Map::new();
    body.insert(collection.into(), Value::Array(page));
    if !links.is_empty() {
        body.insert(format!("{collection}_links"), Value::Array(links));
    }
    Ok(Value::Object(body))
}

/// `fields=` only: what a show answers.
pub(super) fn project(item: Value, fields: &[&str]) -> Value {
    if fields.is_empty() {
        return item;
    }
    let obj: Map<String, Value> = item
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| fields.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Value::Object(obj)
}

/// Values of one attribute: numbers as numbers, the rest by their text.
fn compare(a: &Value, b: &Value) -> Ordering {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        _ => text(a).cmp(&text(b)),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn matches(item: &Value, key: &str, wanted: &str) -> bool {
    if let Some(pass) = super::tags::filter(key, item, wanted) {
        return pass;
    }
    // `fixed_ips=ip_address=10.0.0.5` and `fixed_ips=subnet_id=...`
    if key == "fixed_ips" {
        let Some((sub, value)) = wanted.split_once('=') else {
            return false;
        };
        return item["fixed_ips"]
            .as_array()
            .is_some_and(|ips| ips.iter().any(|ip| ip[sub].as_str() == Some(value)));
    }
    match item.get(key) {
        Some(Value::String(s)) => s == wanted,
        Some(Value::Bool(b)) => wanted.eq_ignore_ascii_case(&b.to_string()),
        Some(Value::Number(n)) => n.to_string() == wanted,
        Some(Value::Array(a)) => a.iter().any(|x| x.as_str() == Some(wanted)),
        Some(Value::Null) => wanted.is_empty(),
        Some(_) => false,
        // Neutron without `filter-validation` (not advertised) ignores a filter on an
        // attribute the resource does not have.
        None => true,
    }
}

/// Raw query pairs (repeatable keys kept), which `Query<HashMap>` would collapse.
pub(super) fn pairs(uri: &axum::http::Uri) -> Vec<(String, String)> {
    uri.query()
        .map(|q| {
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (decode(k), decode(v))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                Ok(b) => {
                    out.push(b);
                    i += 2;
                }
                Err(_) => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items() -> Vec<Value> {
        ["c", "a", "d", "b"]
            .iter()
            .enumerate()
            .map(|(i, id)| json!({"id": id, "name": format!("n{}", i % 2), "mtu": 1400 + i}))
            .collect()
    }

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn ids(body: &Value, collection: &str) -> Vec<String> {
        body[collection]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn pages_follow_the_sort_and_link_to_each_other() {
        let page = |query: &[(&str, &str)]| {
            listing("things", items(), &q(query), "http://h:1", "/v2.0/things").unwrap()
        };
        assert_eq!(ids(&page(&[]), "things"), ["a", "b", "c", "d"], "by id");
        let first = page(&[("limit", "2")]);
        assert_eq!(ids(&first, "things"), ["a", "b"]);
        let next = first["things_links"][0].clone();
        assert_eq!(next["rel"], "next");
        assert_eq!(next["href"], "http://h:1/v2.0/things?limit=2&marker=b");
        let second = page(&[("limit", "2"), ("marker", "b")]);
        assert_eq!(ids(&second, "things"), ["c", "d"]);
        let links = second["things_links"].as_array().unwrap();
        assert_eq!(links.len(), 1, "no next after the last page: {links:?}");
        assert_eq!(links[0]["rel"], "previous");
        let back = page(&[("limit", "2"), ("marker", "c"), ("page_reverse", "True")]);
        assert_eq!(ids(&back, "things"), ["a", "b"]);
        assert_eq!(
            ids(&page(&[("limit", "1"), ("marker", "d")]), "things"),
            Vec::<String>::new()
        );
        // Sorted by name descending, then id in the same direction.
        let sorted = page(&[("sort_key", "name"), ("sort_dir", "desc")]);
        assert_eq!(ids(&sorted, "things"), ["b", "a", "d", "c"]);
        let numeric = page(&[("sort_key", "mtu"), ("sort_dir", "desc"), ("fields", "id")]);
        assert_eq!(ids(&numeric, "things"), ["b", "d", "a", "c"]);
        assert_eq!(
            numeric["things"][0],
            json!({"id": "b"}),
            "fields after the page"
        );
    }

    #[test]
    fn bad_paging_is_a_400() {
        for query in [
            &[("sort_dir", "up")][..],
            &[("limit", "x")],
            &[("sort_key", "nope")],
            &[
                ("sort_key", "name"),
                ("sort_key", "id"),
                ("sort_dir", "asc"),
            ],
        ] {
            let e = listing("things", items(), &q(query), "http://h", "/t").unwrap_err();
            assert_eq!(e.status(), 400, "{query:?}");
        }
    }
}
