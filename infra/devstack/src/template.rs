//! Reads template.yaml: resources, parameters, and each function's binary and
//! event sources. Intrinsic functions (`Ref`, `Fn::GetAtt`, `Fn::Sub`) are
//! resolved against the local stack's physical names.

use anyhow::{Context as _, anyhow, bail};
use serde_norway::{Mapping, Value};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone)]
pub struct Resource {
    pub kind: String,
    pub properties: Value,
    pub metadata: Value,
}

#[derive(Debug, Clone)]
pub struct Template {
    /// `Conditions`, by name, as written.
    pub conditions: BTreeMap<String, Value>,
    pub parameters: BTreeMap<String, Option<String>>,
    pub resources: BTreeMap<String, Resource>,
    pub globals: Value,
}

/// What invokes a function.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum EventSource {
    Http { method: String, path: String },
    DynamoStream { table: String },
    Schedule { expression: String },
    Sqs { queue: String },
}

#[derive(Debug, Clone)]
pub struct FunctionDef {
    pub logical_id: String,
    pub binary: String,
    pub events: Vec<EventSource>,
}

fn get<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    value.as_mapping().and_then(|m| m.get(key))
}

/// The logical id a `Ref` or `Fn::GetAtt` points at, if `value` is one.
pub fn referenced_resource(value: &Value) -> Option<String> {
    match value {
        Value::Tagged(t) if t.tag == "Ref" => t.value.as_str().map(str::to_owned),
        Value::Tagged(t) if t.tag == "GetAtt" => match &t.value {
            Value::String(s) => s.split('.').next().map(str::to_owned),
            Value::Sequence(seq) => seq.first().and_then(Value::as_str).map(str::to_owned),
            _ => None,
        },
        Value::Mapping(m) if m.len() == 1 => {
            if let Some(r) = m.get("Ref") {
                return r.as_str().map(str::to_owned);
            }
            match m.get("Fn::GetAtt")? {
                Value::String(s) => s.split('.').next().map(str::to_owned),
                Value::Sequence(seq) => seq.first().and_then(Value::as_str).map(str::to_owned),
                _ => None,
            }
        }
        _ => None,
    }
}

impl Template {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("parsing {}", path.display()))
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let root: Value = serde_norway::from_str(text)?;
        let mut parameters = BTreeMap::new();
        if let Some(Value::Mapping(params)) = get(&root, "Parameters") {
            for (name, def) in params {
                let name = name.as_str().context("parameter name")?.to_owned();
                let default = get(def, "Default").and_then(|d| match d {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                });
                parameters.insert(name, default);
            }
        }
        let mut resources = BTreeMap::new();
        let Some(Value::Mapping(res)) = get(&root, "Resources") else { bail!("template has no Resources") };
        for (id, def) in res {
            let id = id.as_str().context("resource id")?.to_owned();
            let kind =
                get(def, "Type").and_then(Value::as_str).with_context(|| format!("{id} has no Type"))?.to_owned();
            let properties = get(def, "Properties").cloned().unwrap_or(Value::Mapping(Mapping::new()));
            let metadata = get(def, "Metadata").cloned().unwrap_or(Value::Null);
            resources.insert(id, Resource { kind, properties, metadata });
        }
        let globals = get(&root, "Globals").cloned().unwrap_or(Value::Null);
        let mut conditions = BTreeMap::new();
        if let Some(Value::Mapping(defs)) = get(&root, "Conditions") {
            for (name, def) in defs {
                conditions.insert(name.as_str().context("condition name")?.to_owned(), def.clone());
            }
        }
        Ok(Self { conditions, parameters, resources, globals })
    }

    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = (&'a String, &'a Resource)> + 'a {
        self.resources.iter().filter(move |(_, r)| r.kind == kind)
    }

    /// Every `AWS::Serverless::Function` with its binary and event sources.
    pub fn functions(&self) -> anyhow::Result<Vec<FunctionDef>> {
        let mut out = Vec::new();
        for (id, res) in self.of_kind("AWS::Serverless::Function") {
            let binary = get(&res.metadata, "BuildProperties")
                .and_then(|b| get(b, "Binary"))
                .and_then(Value::as_str)
                .with_context(|| format!("{id}: Metadata.BuildProperties.Binary is missing"))?
                .to_owned();
            let mut events = Vec::new();
            if let Some(Value::Mapping(evs)) = get(&res.properties, "Events") {
                for (name, ev) in evs {
                    let name = name.as_str().unwrap_or("?");
                    let kind = get(ev, "Type").and_then(Value::as_str).unwrap_or("");
                    let props = get(ev, "Properties").cloned().unwrap_or(Value::Null);
                    let field = |k: &str| get(&props, k).and_then(Value::as_str).map(str::to_owned);
                    let event = match kind {
                        "HttpApi" => EventSource::Http {
                            method: field("Method").with_context(|| format!("{id}.{name}: Method"))?.to_uppercase(),
                            path: field("Path").with_context(|| format!("{id}.{name}: Path"))?,
                        },
                        "DynamoDB" => EventSource::DynamoStream {
                            table: get(&props, "Stream")
                                .and_then(referenced_resource)
                                .with_context(|| format!("{id}.{name}: Stream must reference a table"))?,
                        },
                        "Schedule" | "ScheduleV2" => EventSource::Schedule {
                            expression: field("Schedule")
                                .or_else(|| field("ScheduleExpression"))
                                .with_context(|| format!("{id}.{name}: schedule expression"))?,
                        },
                        "SQS" => EventSource::Sqs {
                            queue: get(&props, "Queue")
                                .and_then(referenced_resource)
                                .with_context(|| format!("{id}.{name}: Queue must reference a queue"))?,
                        },
                        other => bail!("{id}.{name}: event type {other} is not supported by the local stack"),
                    };
                    events.push(event);
                }
            }
            events.sort();
            out.push(FunctionDef { logical_id: id.clone(), binary, events });
        }
        Ok(out)
    }
}

/// Physical identity of a provisioned resource.
#[derive(Debug, Clone, Default)]
pub struct Physical {
    /// What `Ref` returns (a name, or a queue URL).
    pub reference: String,
    pub attributes: BTreeMap<String, String>,
}

/// Resolves intrinsics against parameters and provisioned resources.
pub struct Resolver<'a> {
    pub stack_name: &'a str,
    pub region: &'a str,
    pub parameters: &'a BTreeMap<String, String>,
    pub physical: &'a BTreeMap<String, Physical>,
    pub conditions: &'a BTreeMap<String, Value>,
}

impl Resolver<'_> {
    fn reference(&self, name: &str) -> anyhow::Result<String> {
        match name {
            "AWS::StackName" => return Ok(self.stack_name.to_owned()),
            "AWS::Region" => return Ok(self.region.to_owned()),
            "AWS::AccountId" => return Ok("123456789012".to_owned()),
            "AWS::Partition" => return Ok("aws".to_owned()),
            "AWS::URLSuffix" => return Ok("amazonaws.com".to_owned()),
            _ => {}
        }
        if let Some(v) = self.parameters.get(name) {
            return Ok(v.clone());
        }
        self.physical.get(name).map(|p| p.reference.clone()).ok_or_else(|| anyhow!("Ref {name}: not provisioned yet"))
    }

    fn attribute(&self, resource: &str, attr: &str) -> anyhow::Result<String> {
        self.physical
            .get(resource)
            .and_then(|p| p.attributes.get(attr))
            .cloned()
            .ok_or_else(|| anyhow!("GetAtt {resource}.{attr}: not provisioned yet"))
    }

    fn sub(&self, text: &str) -> anyhow::Result<String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').context("unterminated ${ in Fn::Sub")?;
            let name = &after[..end];
            let value = match name.split_once('.') {
                Some((res, attr)) if !name.starts_with("AWS::") => self.attribute(res, attr)?,
                _ => self.reference(name)?,
            };
            out.push_str(&value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn get_att(&self, arg: &Value) -> anyhow::Result<String> {
        match arg {
            Value::String(s) => {
                let (res, attr) = s.split_once('.').context("GetAtt needs Resource.Attribute")?;
                self.attribute(res, attr)
            }
            Value::Sequence(seq) => {
                let res = seq.first().and_then(Value::as_str).context("GetAtt resource")?;
                let attr = seq.get(1).and_then(Value::as_str).context("GetAtt attribute")?;
                self.attribute(res, attr)
            }
            _ => bail!("GetAtt argument must be a string or a list"),
        }
    }

    /// Evaluates a condition: `Fn::Equals`, `Fn::Not`, `Fn::And`, `Fn::Or`
    /// and `Condition` references.
    fn condition(&self, value: &Value) -> anyhow::Result<bool> {
        let (tag, arg) = match value {
            Value::Tagged(t) => (t.tag.to_string().trim_start_matches('!').to_owned(), &t.value),
            Value::Mapping(m) if m.len() == 1 => match m.iter().next() {
                Some((k, v)) => (k.as_str().context("intrinsic name")?.trim_start_matches("Fn::").to_owned(), v),
                None => bail!("empty condition"),
            },
            Value::String(name) => return self.named_condition(name),
            other => bail!("unsupported condition {other:?}"),
        };
        let items = || arg.as_sequence().with_context(|| format!("Fn::{tag} needs a list"));
        match tag.as_str() {
            "Equals" => match items()?.as_slice() {
                [a, b] => Ok(self.string(a)? == self.string(b)?),
                _ => bail!("Fn::Equals needs two values"),
            },
            "Not" => match items()?.as_slice() {
                [inner] => Ok(!self.condition(inner)?),
                _ => bail!("Fn::Not needs one condition"),
            },
            "And" => items()?.iter().try_fold(true, |all, c| Ok(all && self.condition(c)?)),
            "Or" => items()?.iter().try_fold(false, |any, c| Ok(any || self.condition(c)?)),
            "Condition" => self.named_condition(arg.as_str().context("Condition needs a name")?),
            other => bail!("unsupported condition function {other}"),
        }
    }

    fn named_condition(&self, name: &str) -> anyhow::Result<bool> {
        let def = self.conditions.get(name).with_context(|| format!("no condition {name}"))?;
        self.condition(def)
    }

    fn if_(&self, arg: &Value) -> anyhow::Result<String> {
        match arg.as_sequence().map(Vec::as_slice) {
            Some([name, then, otherwise]) => {
                let name = name.as_str().context("Fn::If needs a condition name")?;
                self.string(if self.named_condition(name)? { then } else { otherwise })
            }
            _ => bail!("Fn::If needs [condition, value, value]"),
        }
    }

    /// A scalar property, resolving one level of intrinsic.
    pub fn string(&self, value: &Value) -> anyhow::Result<String> {
        match value {
            Value::Tagged(t) if t.tag == "If" => self.if_(&t.value),
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            Value::Tagged(t) if t.tag == "Ref" => self.reference(t.value.as_str().context("Ref needs a name")?),
            Value::Tagged(t) if t.tag == "GetAtt" => self.get_att(&t.value),
            Value::Tagged(t) if t.tag == "Sub" => self.sub(t.value.as_str().context("Sub needs a string")?),
            Value::Mapping(m) if m.len() == 1 => {
                if let Some(r) = m.get("Ref") {
                    self.reference(r.as_str().context("Ref needs a name")?)
                } else if let Some(g) = m.get("Fn::GetAtt") {
                    self.get_att(g)
                } else if let Some(i) = m.get("Fn::If") {
                    self.if_(i)
                } else if let Some(s) = m.get("Fn::Sub") {
                    self.sub(s.as_str().context("Fn::Sub needs a string")?)
                } else {
                    bail!("unsupported intrinsic {m:?}")
                }
            }
            other => bail!("expected a scalar, found {other:?}"),
        }
    }

    pub fn optional(&self, props: &Value, key: &str) -> anyhow::Result<Option<String>> {
        get(props, key).map(|v| self.string(v)).transpose()
    }
}

/// A YAML value as JSON (for event patterns and redrive policies).
pub fn to_json(value: &Value) -> anyhow::Result<serde_json::Value> {
    Ok(match value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Number(n) => serde_json::from_str(&n.to_string())?,
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Sequence(seq) => serde_json::Value::Array(seq.iter().map(to_json).collect::<Result<_, _>>()?),
        Value::Mapping(m) => {
            let mut out = serde_json::Map::new();
            for (k, v) in m {
                out.insert(k.as_str().context("mapping key")?.to_owned(), to_json(v)?);
            }
            serde_json::Value::Object(out)
        }
        Value::Tagged(t) => bail!("intrinsic !{} inside a JSON document is not supported locally", t.tag),
    })
}

pub fn property<'a>(props: &'a Value, key: &str) -> Option<&'a Value> {
    get(props, key)
}
