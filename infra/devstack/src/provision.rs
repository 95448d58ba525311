//! Creates the template's resources in the local AWS endpoint: tables (with
//! streams and indexes), buses, archives, queues (dead-letter queues first)
//! rules with their targets, and buckets.

use crate::template::{Physical, Resolver, Template, property, to_json};
use anyhow::{Context as _, bail};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, StreamSpecification, StreamViewType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_norway::Value;
use std::collections::BTreeMap;

pub const REGION: &str = "us-east-1";

pub struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub eventbridge: aws_sdk_eventbridge::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub s3: aws_sdk_s3::Client,
}

#[derive(Debug, Clone, Default)]
pub struct Provisioned {
    pub parameters: BTreeMap<String, String>,
    pub physical: BTreeMap<String, Physical>,
}

impl Provisioned {
    pub fn reference(&self, logical_id: &str) -> anyhow::Result<&str> {
        self.physical
            .get(logical_id)
            .map(|p| p.reference.as_str())
            .with_context(|| format!("{logical_id} was not provisioned"))
    }

    pub fn attribute(&self, logical_id: &str, attribute: &str) -> anyhow::Result<&str> {
        self.physical
            .get(logical_id)
            .and_then(|p| p.attributes.get(attribute))
            .map(String::as_str)
            .with_context(|| format!("{logical_id}.{attribute} is not known"))
    }
}

fn list<'a>(props: &'a Value, key: &str) -> &'a [Value] {
    property(props, key).and_then(Value::as_sequence).map(Vec::as_slice).unwrap_or(&[])
}

fn text<'a>(value: &'a Value, key: &str) -> anyhow::Result<&'a str> {
    property(value, key).and_then(Value::as_str).with_context(|| format!("missing {key}"))
}

fn key_schema(props: &Value) -> anyhow::Result<Vec<KeySchemaElement>> {
    list(props, "KeySchema")
        .iter()
        .map(|k| {
            Ok(KeySchemaElement::builder()
                .attribute_name(text(k, "AttributeName")?)
                .key_type(KeyType::from(text(k, "KeyType")?))
                .build()?)
        })
        .collect()
}

fn physical_name(stack: &str, logical_id: &str) -> String {
    format!("{stack}-{logical_id}")
}

/// Resolves against what is provisioned so far.
fn resolver<'a>(template: &'a Template, stack: &'a str, out: &'a Provisioned) -> Resolver<'a> {
    Resolver {
        stack_name: stack,
        region: REGION,
        parameters: &out.parameters,
        physical: &out.physical,
        conditions: &template.conditions,
    }
}

/// Provisions every resource the local stack needs, reporting each step.
pub async fn provision(
    template: &Template,
    clients: &Clients,
    stack: &str,
    overrides: &BTreeMap<String, String>,
    report: &(dyn Fn(&str) + Send + Sync),
) -> anyhow::Result<Provisioned> {
    let mut out = Provisioned::default();
    for (name, default) in &template.parameters {
        if let Some(value) = overrides.get(name).or(default.as_ref()) {
            out.parameters.insert(name.clone(), value.clone());
        }
    }

    for (id, res) in template.of_kind("AWS::DynamoDB::Table") {
        let resolver = resolver(template, stack, &out);
        let name = resolver.optional(&res.properties, "TableName")?.unwrap_or_else(|| physical_name(stack, id));
        create_table(&clients.dynamodb, &name, &res.properties)
            .await
            .with_context(|| format!("creating table {id}"))?;
        let described = clients.dynamodb.describe_table().table_name(&name).send().await?;
        let table = described.table.context("DescribeTable returned no table")?;
        let mut attributes = BTreeMap::from([("Arn".to_owned(), table.table_arn.clone().unwrap_or_default())]);
        if let Some(stream) = table.latest_stream_arn {
            attributes.insert("StreamArn".to_owned(), stream);
        }
        report(&format!(
            "table {name} (stream, {} indexes, TTL)",
            table.global_secondary_indexes.map_or(0, |g| g.len())
        ));
        out.physical.insert(id.clone(), Physical { reference: name, attributes });
    }

    for (id, res) in template.of_kind("AWS::Events::EventBus") {
        let resolver = resolver(template, stack, &out);
        let name = resolver.optional(&res.properties, "Name")?.unwrap_or_else(|| physical_name(stack, id));
        let created = clients
            .eventbridge
            .create_event_bus()
            .name(&name)
            .send()
            .await
            .with_context(|| format!("creating bus {id}"))?;
        report(&format!("event bus {name}"));
        let arn = created.event_bus_arn.unwrap_or_default();
        out.physical
            .insert(id.clone(), Physical { reference: name, attributes: BTreeMap::from([("Arn".to_owned(), arn)]) });
    }

    // Dead-letter queues are created before the queues that name them.
    let mut queues: Vec<(&String, &crate::template::Resource)> = template.of_kind("AWS::SQS::Queue").collect();
    queues.sort_by_key(|(_, r)| property(&r.properties, "RedrivePolicy").is_some());
    for (id, res) in queues {
        let resolver = resolver(template, stack, &out);
        let name = resolver.optional(&res.properties, "QueueName")?.unwrap_or_else(|| physical_name(stack, id));
        let mut request = clients.sqs.create_queue().queue_name(&name);
        for (key, attr) in [
            ("VisibilityTimeout", QueueAttributeName::VisibilityTimeout),
            ("MessageRetentionPeriod", QueueAttributeName::MessageRetentionPeriod),
            ("DelaySeconds", QueueAttributeName::DelaySeconds),
            ("ReceiveMessageWaitTimeSeconds", QueueAttributeName::ReceiveMessageWaitTimeSeconds),
        ] {
            if let Some(value) = resolver.optional(&res.properties, key)? {
                request = request.attributes(attr, value);
            }
        }
        if let Some(redrive) = property(&res.properties, "RedrivePolicy") {
            let target = property(redrive, "deadLetterTargetArn").context("RedrivePolicy.deadLetterTargetArn")?;
            let max = property(redrive, "maxReceiveCount")
                .map(|v| resolver.string(v))
                .transpose()?
                .unwrap_or_else(|| "5".into());
            let policy = serde_json::json!({ "deadLetterTargetArn": resolver.string(target)?, "maxReceiveCount": max.parse::<u32>()? });
            request = request.attributes(QueueAttributeName::RedrivePolicy, policy.to_string());
        }
        let url = request.send().await.with_context(|| format!("creating queue {id}"))?.queue_url.unwrap_or_default();
        let attrs = clients
            .sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await?;
        let arn = attrs.attributes.and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned()).unwrap_or_default();
        report(&format!("queue {name}"));
        out.physical.insert(
            id.clone(),
            Physical {
                reference: url.clone(),
                attributes: BTreeMap::from([
                    ("Arn".to_owned(), arn),
                    ("QueueName".to_owned(), name),
                    ("QueueUrl".to_owned(), url),
                ]),
            },
        );
    }

    for (id, res) in template.of_kind("AWS::S3::Bucket") {
        let resolver = resolver(template, stack, &out);
        // Bucket names are lower case and global: the stack's name keeps them apart.
        let name = resolver
            .optional(&res.properties, "BucketName")?
            .unwrap_or_else(|| physical_name(stack, id))
            .to_ascii_lowercase();
        clients.s3.create_bucket().bucket(&name).send().await.with_context(|| format!("creating bucket {id}"))?;
        report(&format!("bucket {name}"));
        let arn = format!("arn:aws:s3:::{name}");
        out.physical
            .insert(id.clone(), Physical { reference: name, attributes: BTreeMap::from([("Arn".to_owned(), arn)]) });
    }

    for (id, res) in template.of_kind("AWS::Events::Archive") {
        let resolver = resolver(template, stack, &out);
        let name = resolver.optional(&res.properties, "ArchiveName")?.unwrap_or_else(|| physical_name(stack, id));
        let source = resolver.optional(&res.properties, "SourceArn")?.context("Archive.SourceArn")?;
        let mut request = clients.eventbridge.create_archive().archive_name(&name).event_source_arn(source);
        if let Some(pattern) = property(&res.properties, "EventPattern") {
            request = request.event_pattern(to_json(pattern)?.to_string());
        }
        if let Some(days) = resolver.optional(&res.properties, "RetentionDays")? {
            request = request.retention_days(days.parse()?);
        }
        request.send().await.with_context(|| format!("creating archive {id}"))?;
        report(&format!("event archive {name}"));
        out.physical.insert(id.clone(), Physical { reference: name, attributes: BTreeMap::new() });
    }

    for (id, res) in template.of_kind("AWS::Events::Rule") {
        let resolver = resolver(template, stack, &out);
        let name = resolver.optional(&res.properties, "Name")?.unwrap_or_else(|| physical_name(stack, id));
        let bus = resolver.optional(&res.properties, "EventBusName")?.unwrap_or_else(|| "default".into());
        let pattern = property(&res.properties, "EventPattern")
            .context("Rule.EventPattern (schedules run in the dev stack itself)")?;
        let rule = clients
            .eventbridge
            .put_rule()
            .name(&name)
            .event_bus_name(&bus)
            .event_pattern(to_json(pattern)?.to_string())
            .send()
            .await
            .with_context(|| format!("creating rule {id}"))?;
        let mut targets = Vec::new();
        for target in list(&res.properties, "Targets") {
            let arn = resolver.string(property(target, "Arn").context("Target.Arn")?)?;
            let target_id =
                property(target, "Id").map(|v| resolver.string(v)).transpose()?.unwrap_or_else(|| "target".into());
            targets.push(aws_sdk_eventbridge::types::Target::builder().id(target_id).arn(arn).build()?);
        }
        if !targets.is_empty() {
            clients
                .eventbridge
                .put_targets()
                .rule(&name)
                .event_bus_name(&bus)
                .set_targets(Some(targets))
                .send()
                .await?;
        }
        report(&format!("rule {name} on {bus}"));
        out.physical.insert(
            id.clone(),
            Physical {
                reference: name,
                attributes: BTreeMap::from([("Arn".to_owned(), rule.rule_arn.unwrap_or_default())]),
            },
        );
    }

    for (id, res) in &template.resources {
        let handled = [
            "AWS::DynamoDB::Table",
            "AWS::Events::EventBus",
            "AWS::Events::Archive",
            "AWS::SQS::Queue",
            "AWS::Events::Rule",
            "AWS::Serverless::Function",
            "AWS::Serverless::HttpApi",
            "AWS::SQS::QueuePolicy",
            "AWS::S3::Bucket",
        ];
        // What runs the stack in AWS but has no part in it locally: alarms,
        // their topic, log groups, and the secrets the dev stack is given
        // directly (SLACK_WEBHOOK_URL).
        let operational = [
            "AWS::CloudWatch::Alarm",
            "AWS::SNS::Topic",
            "AWS::SNS::TopicPolicy",
            "AWS::SNS::Subscription",
            "AWS::Logs::LogGroup",
            "AWS::SecretsManager::Secret",
        ];
        if !handled.contains(&res.kind.as_str()) && !operational.contains(&res.kind.as_str()) {
            bail!("{id}: resource type {} is not supported by the local stack", res.kind);
        }
    }
    Ok(out)
}

async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str, props: &Value) -> anyhow::Result<()> {
    let definitions = list(props, "AttributeDefinitions")
        .iter()
        .map(|d| {
            Ok(AttributeDefinition::builder()
                .attribute_name(text(d, "AttributeName")?)
                .attribute_type(ScalarAttributeType::from(text(d, "AttributeType")?))
                .build()?)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let indexes = list(props, "GlobalSecondaryIndexes")
        .iter()
        .map(|g| {
            let projection = property(g, "Projection").map(|p| text(p, "ProjectionType")).transpose()?.unwrap_or("ALL");
            Ok(GlobalSecondaryIndex::builder()
                .index_name(text(g, "IndexName")?)
                .set_key_schema(Some(key_schema(g)?))
                .projection(Projection::builder().projection_type(ProjectionType::from(projection)).build())
                .build()?)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(definitions))
        .set_key_schema(Some(key_schema(props)?));
    if !indexes.is_empty() {
        request = request.set_global_secondary_indexes(Some(indexes));
    }
    if let Some(stream) = property(props, "StreamSpecification") {
        request = request.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(text(stream, "StreamViewType")?))
                .build()?,
        );
    }
    request.send().await?;
    if let Some(ttl) = property(props, "TimeToLiveSpecification") {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder().attribute_name(text(ttl, "AttributeName")?).enabled(true).build()?,
            )
            .send()
            .await?;
    }
    Ok(())
}
