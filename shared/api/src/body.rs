//! JSON request bodies: size and media type checked before parsing, then
//! every unknown field and type error reported with its dotted path.

use crate::problem::Problem;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, header};
use partnerops_domain::FieldErrors;
use serde::de::DeserializeOwned;

pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A JSON body decoded into `T`, which never takes a field it does not name.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

/// Reads at most 64 KiB; a declared or actual larger body is a 413.
pub async fn read_limited(headers: &HeaderMap, body: Body) -> Result<Bytes, Problem> {
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(Problem::payload_too_large());
    }
    axum::body::to_bytes(body, MAX_BODY_BYTES).await.map_err(|_| Problem::payload_too_large())
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// `a.b[0].c` from serde_ignored's path, without its Option markers.
fn ignored_path(path: &serde_ignored::Path<'_>) -> String {
    match path {
        serde_ignored::Path::Root => String::new(),
        serde_ignored::Path::Seq { parent, index } => format!("{}[{index}]", ignored_path(parent)),
        serde_ignored::Path::Map { parent, key } => match ignored_path(parent) {
            p if p.is_empty() => key.clone(),
            p => format!("{p}.{key}"),
        },
        serde_ignored::Path::Some { parent }
        | serde_ignored::Path::NewtypeStruct { parent }
        | serde_ignored::Path::NewtypeVariant { parent } => ignored_path(parent),
    }
}

/// A JSON value in which no object names a key twice. serde_json keeps the
/// last of duplicate keys; a body that says two things about one field is
/// ambiguous (and other parsers on the way may read the first), so it is
/// refused as malformed.
struct UniqueKeys(serde_json::Value);

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueKeysVisitor).map(UniqueKeys)
    }
}

struct UniqueKeysVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueKeysVisitor {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    /// `4.0` is the integer 4 in JSON Schema, so an integral float is kept as
    /// an integer and an integer field accepts it. Money never travels as a
    /// JSON number, so no amount is ever read through a float.
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        #[allow(clippy::float_cmp, clippy::cast_possible_truncation, clippy::float_arithmetic)]
        if v.fract() == 0.0 && v.abs() < 9.007_199_254_740_992e15 {
            return Ok((v as i64).into());
        }
        Ok(serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, serde_json::Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(UniqueKeys(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(serde_json::Value::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let UniqueKeys(value) = map.next_value()?;
            if object.contains_key(&key) {
                return Err(serde::de::Error::custom(format_args!("the key {key:?} appears twice in one object")));
            }
            object.insert(key, value);
        }
        Ok(serde_json::Value::Object(object))
    }
}

/// An object key, borrowed from the body unless it had escapes to undo.
struct Key<'de>(std::borrow::Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> serde::de::Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(std::borrow::Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

const WIDEST_SCANNED_OBJECT: usize = 32;

/// Reads a JSON value only to check that no object names a key twice,
/// keeping nothing but each object's keys.
struct KeysOnce;

impl<'de> serde::Deserialize<'de> for KeysOnce {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(KeysOnce)
    }
}

impl<'de> serde::de::Visitor<'de> for KeysOnce {
    type Value = KeysOnce;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_unit<E>(self) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<KeysOnce>()?.is_some() {}
        Ok(self)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
        let mut seen: Vec<Key<'de>> = Vec::new();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            // A linear scan is quickest for the dozen keys a request names;
            // a wider object is left to the path that builds a map.
            if seen.len() >= WIDEST_SCANNED_OBJECT {
                return Err(serde::de::Error::custom("an object too wide to scan"));
            }
            if seen.iter().any(|k| k.0 == key.0) {
                return Err(serde::de::Error::custom("a key appears twice in one object"));
            }
            map.next_value::<KeysOnce>()?;
            seen.push(key);
        }
        Ok(self)
    }
}

/// The common case, read in two passes over the bytes and nothing built
/// between them: an object with unique keys that decodes into `T` with no
/// unknown field. Anything else is `None`, for [`decode`] to word.
fn decode_valid<T: DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace())?;
    if *first != b'{' {
        return None;
    }
    serde_json::from_slice::<KeysOnce>(bytes).ok()?;
    let mut unknown = false;
    let mut reader = serde_json::Deserializer::from_slice(bytes);
    let decoded: T = serde_ignored::deserialize(&mut reader, |_| unknown = true).ok()?;
    reader.end().ok()?;
    (!unknown).then_some(decoded)
}

/// Decodes JSON bytes into `T`, reporting unknown fields and type errors.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    match decode_valid(bytes) {
        Some(decoded) => Ok(decoded),
        None => decode_and_word(bytes),
    }
}

/// Refused, or an integral float for an integer field: the whole value is
/// read first, so every problem is named with its path.
fn decode_and_word<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let UniqueKeys(value) = serde_json::from_slice(bytes).map_err(Problem::malformed_json)?;
    if !value.is_object() {
        return Err(Problem::field("", "the body must be a JSON object"));
    }
    let mut errors = FieldErrors::new();
    let mut unknown = Vec::new();
    let result: Result<T, _> = serde_path_to_error::deserialize(serde_ignored::Deserializer::new(value, &mut |path| {
        unknown.push(ignored_path(&path));
    }));
    for field in unknown {
        errors.push(field, "is not a known field");
    }
    match result {
        Ok(decoded) if errors.is_empty() => Ok(decoded),
        Ok(_) => Err(Problem::validation(errors)),
        Err(e) => {
            let path = e.path().to_string();
            let field = if path == "." { String::new() } else { path };
            errors.push(field, e.inner().to_string());
            Err(Problem::validation(errors))
        }
    }
}

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        let bytes = read_limited(&parts.headers, body).await?;
        if !is_json(&parts.headers) {
            return Err(Problem::unsupported_media_type());
        }
        decode(&bytes).map(ApiJson)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Inner {
        #[allow(dead_code)]
        email: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    struct Outer {
        #[allow(dead_code)]
        name: Option<String>,
        #[allow(dead_code)]
        contact: Option<Inner>,
        #[allow(dead_code)]
        consent: Option<bool>,
    }

    fn fields(problem: &Problem) -> Vec<String> {
        problem.errors.iter().map(|e| e.field.clone()).collect()
    }

    #[test]
    fn unknown_fields_are_named_with_their_paths() {
        let problem = decode::<Outer>(br#"{"nme":"x","id":"ref_1","contact":{"emial":"a"}}"#).unwrap_err();
        assert_eq!(problem.code, "validation_failed");
        let mut named = fields(&problem);
        named.sort();
        assert_eq!(named, ["contact.emial", "id", "nme"]);
    }

    #[test]
    fn type_errors_name_the_field() {
        let problem = decode::<Outer>(br#"{"consent":"yes"}"#).unwrap_err();
        assert_eq!(problem.status, 422);
        assert_eq!(fields(&problem), ["consent"]);
    }

    #[test]
    fn a_key_given_twice_is_malformed() {
        let problem = decode::<Outer>(br#"{"name":"a","name":"b"}"#).unwrap_err();
        assert_eq!((problem.status, problem.code.as_str()), (400, "malformed_json"));
        let nested = decode::<Outer>(br#"{"contact":{"email":"a","email":"b"}}"#).unwrap_err();
        assert_eq!(nested.code, "malformed_json");
        assert!(decode::<Outer>(br#"{"name":"a","contact":{"name":"a"}}"#).is_err_and(|p| p.code != "malformed_json"));
        assert!(decode::<Outer>(br#"{"name":"a","contact":{"email":"a"}}"#).is_ok());
    }

    #[test]
    fn an_integral_float_is_an_integer() {
        #[derive(Debug, Deserialize)]
        struct Days {
            days: u32,
        }
        assert_eq!(decode::<Days>(br#"{"days":4.0}"#).unwrap().days, 4);
        assert_eq!(decode::<Days>(br#"{"days":4.5}"#).unwrap_err().code, "validation_failed");
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Form {
        name: String,
        seats: Option<u32>,
        tags: Option<Vec<String>>,
        contact: Option<Contact>,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Contact {
        email: Option<String>,
    }

    fn json_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let key = prop::sample::select(vec!["name", "seats", "tags", "contact", "email", "x", "na\\u006de"]);
        let leaf = prop_oneof![
            Just("null".to_owned()),
            Just("true".to_owned()),
            (0u64..10_000).prop_map(|n| n.to_string()),
            Just("4.0".to_owned()),
            Just("-1".to_owned()),
            "[a-z]{0,6}".prop_map(|s| format!("{s:?}")),
        ];
        leaf.prop_recursive(3, 24, 5, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(|items| format!("[{}]", items.join(","))),
                prop::collection::vec((key.clone(), inner), 0..5).prop_map(|fields| {
                    let fields: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                    format!("{{{}}}", fields.join(","))
                }),
            ]
        })
    }

    proptest::proptest! {
        /// The quick path may only take what the worded path would accept,
        /// and must read it the same way.
        #[test]
        fn the_quick_path_agrees_with_the_worded_one(text in json_text()) {
            let quick = decode_valid::<Form>(text.as_bytes());
            let worded = decode_and_word::<Form>(text.as_bytes());
            if let Some(quick) = quick {
                proptest::prop_assert_eq!(Some(quick), worded.ok());
            }
        }
    }

    #[test]
    fn a_wide_object_is_still_checked_for_twice_given_keys() {
        let mut fields: Vec<String> = (0..40).map(|i| format!("\"k{i}\":1")).collect();
        fields.push("\"name\":\"a\"".to_owned());
        let wide = format!("{{{}}}", fields.join(","));
        assert!(decode_valid::<Form>(wide.as_bytes()).is_none());
        assert!(decode_valid::<Form>(br#"{"name":"a","seats":3,"contact":{"email":"e"}}"#).is_some());
        assert!(decode_valid::<Form>(br#"{"name":"a","na\u006de":"b"}"#).is_none());
        assert_eq!(decode::<Form>(wide.as_bytes()).unwrap_err().errors.len(), 40);
        fields.push("\"k3\":2".to_owned());
        let twice = format!("{{{}}}", fields.join(","));
        assert_eq!(decode::<Form>(twice.as_bytes()).unwrap_err().code, "malformed_json");
    }

    #[test]
    fn malformed_json_and_non_objects() {
        assert_eq!(decode::<Outer>(b"{\"name\":").unwrap_err().code, "malformed_json");
        assert_eq!(decode::<Outer>(b"[1]").unwrap_err().status, 422);
    }
}
