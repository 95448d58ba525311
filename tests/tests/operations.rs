//! What a platform team signs off in template.yaml (SPEC §20), held as
//! tests: cfn-lint and checkov catch what is insecure, these catch what is
//! missing (an alarm, a retention, a retry policy) when a resource is added.

// Test helpers as well as tests may stop at the first broken expectation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use partnerops_e2e::repo_file;
use serde_norway::Value;
use std::collections::BTreeSet;

fn template() -> Value {
    serde_norway::from_str(&std::fs::read_to_string(repo_file("template.yaml")).unwrap()).unwrap()
}

fn resources(t: &Value) -> Vec<(String, Value)> {
    t["Resources"].as_mapping().unwrap().iter().map(|(k, v)| (k.as_str().unwrap().to_owned(), v.clone())).collect()
}

fn of_type(t: &Value, kind: &str) -> Vec<(String, Value)> {
    resources(t).into_iter().filter(|(_, r)| r["Type"].as_str() == Some(kind)).collect()
}

/// The resource a `!Ref X` / `!GetAtt X.Attr` names.
fn target(value: &Value) -> Option<String> {
    match value {
        Value::Tagged(t) => t.value.as_str().map(|s| s.split('.').next().unwrap_or(s).to_owned()),
        _ => None,
    }
}

/// (namespace, metric, resource named in its first dimension) of every alarm,
/// each sending to the alarm topic.
fn alarms(t: &Value) -> BTreeSet<(String, String, String)> {
    of_type(t, "AWS::CloudWatch::Alarm")
        .into_iter()
        .map(|(id, a)| {
            let p = &a["Properties"];
            assert_eq!(target(&p["AlarmActions"][0]).as_deref(), Some("AlarmTopic"), "{id} goes to the topic");
            let dimension = &p["Dimensions"][0]["Value"];
            let named = target(dimension).or_else(|| dimension.as_str().map(str::to_owned)).unwrap_or_default();
            (p["Namespace"].as_str().unwrap().to_owned(), p["MetricName"].as_str().unwrap().to_owned(), named)
        })
        .collect()
}

#[test]
fn every_dead_letter_queue_function_rule_and_schedule_is_alarmed() {
    let t = template();
    let alarms = alarms(&t);
    let has = |ns: &str, metric: &str, name: &str| alarms.contains(&(ns.into(), metric.into(), name.into()));
    let dlqs: Vec<String> =
        of_type(&t, "AWS::SQS::Queue").into_iter().map(|(id, _)| id).filter(|id| id.ends_with("DLQ")).collect();
    assert!(dlqs.len() >= 6, "{dlqs:?}");
    for dlq in &dlqs {
        assert!(has("AWS/SQS", "ApproximateNumberOfMessagesVisible", dlq), "no alarm on {dlq}");
    }
    let functions = of_type(&t, "AWS::Serverless::Function");
    let crates = std::fs::read_dir(partnerops_e2e::repo_file("functions")).unwrap().count();
    assert_eq!(functions.len(), crates, "every function crate is in the template");
    for (id, _) in &functions {
        assert!(has("AWS/Lambda", "Errors", id), "no errors alarm on {id}");
        assert!(has("AWS/Lambda", "Throttles", id), "no throttles alarm on {id}");
    }
    assert!(has("AWS/Lambda", "IteratorAge", "OutboxRelayFunction"));
    for (rule, _) in of_type(&t, "AWS::Events::Rule") {
        assert!(has("AWS/Events", "FailedInvocations", &rule), "no alarm on {rule}");
    }
    assert!(has("AWS/Scheduler", "TargetErrorCount", "default"));
    assert!(has("AWS/ApiGateway", "5xx", "HttpApi"));
    let subscription = &of_type(&t, "AWS::SNS::Subscription")[0].1;
    assert_eq!(subscription["Condition"].as_str(), Some("HasAlarmEmail"));
}

#[test]
fn every_schedule_and_rule_target_retries_into_a_dead_letter_queue() {
    let t = template();
    let mut schedules = 0;
    for (id, f) in of_type(&t, "AWS::Serverless::Function") {
        for (name, event) in f["Properties"]["Events"].as_mapping().unwrap() {
            let kind = event["Type"].as_str().unwrap();
            assert_ne!(kind, "Schedule", "{id}: EventBridge Scheduler (ScheduleV2) has retries and a DLQ");
            if kind == "ScheduleV2" {
                schedules += 1;
                let p = &event["Properties"];
                assert!(p["RetryPolicy"]["MaximumRetryAttempts"].as_u64().is_some(), "{id}.{name:?}");
                assert_eq!(target(&p["DeadLetterConfig"]["Arn"]).as_deref(), Some("ScheduleDLQ"), "{id}.{name:?}");
            }
        }
    }
    assert_eq!(schedules, 3, "the sweep, the monthly export and the webhook retries");
    for (id, rule) in of_type(&t, "AWS::Events::Rule") {
        for target_def in rule["Properties"]["Targets"].as_sequence().unwrap() {
            assert!(target_def["RetryPolicy"].is_mapping(), "{id}");
            assert_eq!(target(&target_def["DeadLetterConfig"]["Arn"]).as_deref(), Some("RuleDLQ"), "{id}");
        }
    }
}

#[test]
fn logs_expire_the_api_is_throttled_and_logged_and_data_is_kept() {
    let t = template();
    let groups = of_type(&t, "AWS::Logs::LogGroup");
    for (id, g) in &groups {
        assert_eq!(target(&g["Properties"]["RetentionInDays"]).as_deref(), Some("LogRetentionDays"), "{id}");
    }
    for (id, _) in of_type(&t, "AWS::Serverless::Function") {
        let base = id.trim_end_matches("Function");
        let group =
            groups.iter().find(|(g, _)| g == &format!("{base}Logs")).unwrap_or_else(|| panic!("{id} has no log group"));
        let name = group.1["Properties"]["LogGroupName"].clone();
        let Value::Tagged(sub) = name else { panic!("{id}: LogGroupName is a !Sub") };
        assert_eq!(sub.value.as_str(), Some(format!("/aws/lambda/${{{id}}}").as_str()));
    }
    let api = &of_type(&t, "AWS::Serverless::HttpApi")[0].1["Properties"];
    assert_eq!(target(&api["DefaultRouteSettings"]["ThrottlingRateLimit"]).as_deref(), Some("ApiThrottleRate"));
    assert_eq!(target(&api["DefaultRouteSettings"]["ThrottlingBurstLimit"]).as_deref(), Some("ApiThrottleBurst"));
    assert_eq!(target(&api["AccessLogSettings"]["DestinationArn"]).as_deref(), Some("ApiAccessLogs"));
    let format: serde_json::Value = serde_json::from_str(api["AccessLogSettings"]["Format"].as_str().unwrap()).unwrap();
    assert!(format["status"].is_string(), "access logs are JSON");

    let table = &of_type(&t, "AWS::DynamoDB::Table")[0].1;
    assert_eq!(table["Properties"]["DeletionProtectionEnabled"].as_bool(), Some(true));
    assert_eq!(
        table["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(),
        Some(true)
    );
    for (id, r) in resources(&t) {
        if id.ends_with("DLQ") || id == "ExportsBucket" || id == "Table" {
            assert_eq!(r["DeletionPolicy"].as_str(), Some("Retain"), "{id} is kept when the stack is deleted");
        }
    }
}

#[test]
fn no_secret_in_the_environment_and_iam_names_what_it_grants() {
    let t = template();
    let text = std::fs::read_to_string(repo_file("template.yaml")).unwrap();
    assert!(!text.contains("index/*"), "IAM names each index");
    assert!(!text.contains("identity/*"), "SES is scoped to the sender identity");
    for (name, param) in t["Parameters"].as_mapping().unwrap() {
        let name = name.as_str().unwrap();
        assert!(!name.to_lowercase().contains("webhook") && !name.to_lowercase().contains("secret"), "{name}");
        assert!(param["NoEcho"].is_null(), "{name}: a secret parameter would sit in the stack");
    }
    for (id, f) in of_type(&t, "AWS::Serverless::Function") {
        if let Some(vars) = f["Properties"]["Environment"]["Variables"].as_mapping() {
            for (key, value) in vars {
                let key = key.as_str().unwrap();
                assert!(!key.contains("WEBHOOK_URL") && !key.contains("TOKEN"), "{id}: {key}");
                if key.ends_with("SECRET_ARN") {
                    let secret = target(value).unwrap_or_default();
                    assert_eq!(
                        t["Resources"][secret.as_str()]["Type"].as_str(),
                        Some("AWS::SecretsManager::Secret"),
                        "{id}: {key}"
                    );
                    assert_eq!(
                        t["Resources"][secret.as_str()]["Properties"]["SecretString"].as_str(),
                        Some("off"),
                        "{id}: {key} is created off; the credential is put in after deploy"
                    );
                }
            }
        }
    }
    // Each function reads exactly the secrets it is given, named one by one.
    for (function, wanted) in [
        ("NotifierFunction", vec!["SlackWebhookSecret", "SlackAppSecret"]),
        ("SlackInteractionsFunction", vec!["SlackAppSecret"]),
    ] {
        let f = &of_type(&t, "AWS::Serverless::Function").into_iter().find(|(id, _)| id == function).unwrap().1;
        let statements = f["Properties"]["Policies"][0]["Statement"].as_sequence().unwrap();
        let read: Vec<String> = statements
            .iter()
            .filter(|s| s["Action"].as_str() == Some("secretsmanager:GetSecretValue"))
            .flat_map(|s| match s["Resource"].as_sequence() {
                Some(list) => list.iter().filter_map(target).collect::<Vec<_>>(),
                None => target(&s["Resource"]).into_iter().collect(),
            })
            .collect();
        assert_eq!(read, wanted, "{function} reads exactly its secrets");
    }
}

/// `samconfig.toml`'s environments deploy the template as it is: every
/// override names a parameter and a value it allows, `dev` is `[default]`
/// under its own name, and production is its own stack, confirmed by hand.
#[test]
fn samconfig_dev_and_prod_deploy_the_templates_parameters() {
    let t = template();
    let config: toml::Table = std::fs::read_to_string(repo_file("samconfig.toml")).unwrap().parse().unwrap();
    assert_eq!(config["dev"], config["default"], "`sam deploy` and `--config-env dev` deploy the same stack");
    let deploy = |env: &str| &config[env]["deploy"]["parameters"];
    assert_ne!(deploy("dev")["stack_name"], deploy("prod")["stack_name"]);
    assert_eq!(deploy("prod")["confirm_changeset"].as_bool(), Some(true));
    for env in ["dev", "prod"] {
        for pair in deploy(env)["parameter_overrides"].as_str().unwrap().split_whitespace() {
            let (name, value) = pair.split_once('=').unwrap();
            let parameter = &t["Parameters"][name];
            assert!(parameter.is_mapping(), "{env}: {name} is not a template parameter");
            if let Some(allowed) = parameter["AllowedValues"].as_sequence() {
                assert!(
                    allowed
                        .iter()
                        .any(|v| v.as_u64().map(|n| n.to_string()).as_deref() == Some(value)
                            || v.as_str() == Some(value)),
                    "{env}: {name}={value} is not allowed"
                );
            }
            if let Some(min) = parameter["MinValue"].as_u64() {
                assert!(value.parse::<u64>().unwrap() >= min, "{env}: {name}={value} is below {min}");
            }
        }
    }
}
