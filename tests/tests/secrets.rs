//! Secrets Manager through the real SDK on moto: the value is read at
//! start-up, `off` and empty mean the feature is off, and neither the value
//! nor the secret's content ever shows in an error or a `Debug`.

// Test helpers as well as tests may stop at the first broken expectation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use partnerops_aws::secrets::read_secret;
use partnerops_devstack::local_sdk_config;
use partnerops_e2e::{moto_endpoint, unique_stack};

#[tokio::test]
async fn the_slack_secret_is_read_once_and_off_means_off() {
    let sdk = local_sdk_config(&moto_endpoint()).await;
    let client = aws_sdk_secretsmanager::Client::new(&sdk);
    let name = format!("{}-slack", unique_stack());
    let created = client.create_secret().name(&name).secret_string("off").send().await.unwrap();
    let arn = created.arn.unwrap();
    assert_eq!(read_secret(&sdk, &arn).await.unwrap(), None, "the secret as the template creates it");

    let url = "https://hooks.slack.com/services/T0/B0/very-secret";
    client.put_secret_value().secret_id(&arn).secret_string(format!("  {url}\n")).send().await.unwrap();
    let read = read_secret(&sdk, &arn).await.unwrap().unwrap();
    assert_eq!(read.expose(), url, "trimmed");
    assert!(!format!("{read:?}").contains("very-secret"));

    client.put_secret_value().secret_id(&arn).secret_string(" \n").send().await.unwrap();
    assert_eq!(read_secret(&sdk, &arn).await.unwrap(), None, "blank is off");

    let missing = read_secret(&sdk, &format!("{name}-missing")).await.unwrap_err().to_string();
    assert!(missing.contains(&format!("{name}-missing")), "the error names the secret: {missing}");
}
