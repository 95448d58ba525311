//! Download links to objects in a bucket: GET URLs signed with SigV4 in the
//! query string (what the SDK calls presigning), from the function's own
//! credentials, for a browser to fetch the object from S3 itself. A Lambda
//! response stops at 6 MB and an export file does not; and a function that
//! only links needs no S3 client.

use crate::objects::{MemoryObjects, ObjectError};
use async_trait::async_trait;
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials as _, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings, UriPathNormalizationMode,
    sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use std::time::{Duration, SystemTime};

/// What SigV4 leaves unescaped: letters, digits and `-_.~`.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// How long a link answers: long enough to click, short enough that a
/// forwarded link is soon useless.
pub const LINK_LIFETIME: Duration = Duration::from_secs(300);

#[async_trait]
pub trait DownloadLinks: Send + Sync {
    /// A URL that answers the object at `key` for `LINK_LIFETIME`, as an
    /// attachment named `filename` of type `content_type`.
    async fn download_url(&self, key: &str, filename: &str, content_type: &str) -> Result<String, ObjectError>;
}

/// One link, signed as of `now`. `base` is the bucket's origin, with the
/// bucket's path on a path-style endpoint (`http://127.0.0.1:5000/bucket`).
pub fn signed_get_url(
    credentials: &Credentials,
    region: &str,
    base: &str,
    key: &str,
    filename: &str,
    content_type: &str,
    now: SystemTime,
) -> Result<String, ObjectError> {
    let path: Vec<String> =
        key.split('/').map(|segment| utf8_percent_encode(segment, UNRESERVED).to_string()).collect();
    // `x-id` names the operation, as the AWS SDKs' own links do, so a link
    // is the one the S3 SDK would sign (the unit test compares them).
    let unsigned = format!(
        "{}/{}?response-content-disposition={}&response-content-type={}&x-id=GetObject",
        base.trim_end_matches('/'),
        path.join("/"),
        utf8_percent_encode(&format!("attachment; filename=\"{filename}\""), UNRESERVED),
        utf8_percent_encode(content_type, UNRESERVED),
    );
    let identity: Identity = credentials.clone().into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(LINK_LIFETIME);
    // S3 signs the path as sent: escaped once, never normalised.
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("s3")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| ObjectError::new(format!("signing a download link: {e}")))?
        .into();
    let request = SignableRequest::new("GET", unsigned.as_str(), std::iter::empty(), SignableBody::UnsignedPayload)
        .map_err(|e| ObjectError::new(format!("signing a download link: {e}")))?;
    let (instructions, _signature) =
        sign(request, &params).map_err(|e| ObjectError::new(format!("signing a download link: {e}")))?.into_parts();
    let mut url = unsigned;
    for (name, value) in instructions.params() {
        url.push('&');
        url.push_str(name);
        url.push('=');
        url.push_str(&utf8_percent_encode(value, UNRESERVED).to_string());
    }
    Ok(url)
}

/// Links to one bucket's objects.
pub struct S3Links {
    credentials: SharedCredentialsProvider,
    region: String,
    base: String,
}

impl S3Links {
    /// With an endpoint override (a local server), path-style links on it;
    /// otherwise the bucket's virtual-hosted origin in the SDK's region.
    pub fn from_sdk_config(sdk: &aws_config::SdkConfig, bucket: &str) -> Result<Self, ObjectError> {
        let credentials =
            sdk.credentials_provider().ok_or_else(|| ObjectError::new("no AWS credentials to sign links with"))?;
        let region = sdk.region().ok_or_else(|| ObjectError::new("no AWS region to sign links for"))?.to_string();
        let base = match sdk.endpoint_url() {
            Some(endpoint) => format!("{}/{bucket}", endpoint.trim_end_matches('/')),
            None => {
                let suffix = if region.starts_with("cn-") { "amazonaws.com.cn" } else { "amazonaws.com" };
                format!("https://{bucket}.s3.{region}.{suffix}")
            }
        };
        Ok(Self { credentials, region, base })
    }
}

#[async_trait]
impl DownloadLinks for S3Links {
    async fn download_url(&self, key: &str, filename: &str, content_type: &str) -> Result<String, ObjectError> {
        let credentials = self
            .credentials
            .provide_credentials()
            .await
            .map_err(|e| ObjectError::new(format!("AWS credentials for a download link: {e}")))?;
        signed_get_url(&credentials, &self.region, &self.base, key, filename, content_type, SystemTime::now())
    }
}

/// Links into the memory bucket: `memory:///<key>` with the same
/// attachment query a signed link carries, for tests of the pages that link.
#[async_trait]
impl DownloadLinks for MemoryObjects {
    async fn download_url(&self, key: &str, filename: &str, content_type: &str) -> Result<String, ObjectError> {
        if self.object(key).is_none() {
            return Err(ObjectError::new(format!("no object {key}")));
        }
        Ok(format!("memory:///{key}?filename={filename}&content-type={content_type}"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use aws_sdk_s3::presigning::PresigningConfig;
    use std::collections::BTreeMap;

    fn query(url: &str) -> (String, BTreeMap<String, String>) {
        let (base, query) = url.split_once('?').unwrap();
        let pairs = url::form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned()));
        (base.to_owned(), pairs.collect())
    }

    /// The S3 SDK's presigned `GetObject`, the reference our links must equal.
    async fn sdk_link(credentials: &Credentials, endpoint: Option<&str>, key: &str, now: SystemTime) -> String {
        let mut config = aws_sdk_s3::Config::builder()
            .behavior_version_latest()
            .region(aws_sdk_s3::config::Region::new("eu-west-1"))
            .credentials_provider(credentials.clone());
        if let Some(endpoint) = endpoint {
            config = config.endpoint_url(endpoint).force_path_style(true);
        }
        let client = aws_sdk_s3::Client::from_conf(config.build());
        let presigning = PresigningConfig::builder().start_time(now).expires_in(LINK_LIFETIME).build().unwrap();
        let request = client
            .get_object()
            .bucket("partnerops-exports")
            .key(key)
            .response_content_disposition("attachment; filename=\"payouts-2026-11-lines.csv\"")
            .response_content_type("text/csv; charset=utf-8")
            .presigned(presigning)
            .await
            .unwrap();
        request.uri().to_owned()
    }

    #[tokio::test]
    async fn a_link_is_signed_as_the_s3_sdk_signs_it() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        let credentials = Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            Some("IQoJb3JpZ2lu/+=".into()),
            None,
            "test",
        );
        for (endpoint, base) in [
            (None, "https://partnerops-exports.s3.eu-west-1.amazonaws.com"),
            (Some("http://127.0.0.1:5000"), "http://127.0.0.1:5000/partnerops-exports"),
        ] {
            for key in ["exports/payouts/2026-11/lines.csv", "exports/odd name/ü+%.csv"] {
                let ours = signed_get_url(
                    &credentials,
                    "eu-west-1",
                    base,
                    key,
                    "payouts-2026-11-lines.csv",
                    "text/csv; charset=utf-8",
                    now,
                )
                .unwrap();
                let reference = sdk_link(&credentials, endpoint, key, now).await;
                assert_eq!(query(&ours), query(&reference), "\nours {ours}\nsdk  {reference}");
                assert!(ours.contains("X-Amz-Expires=300") && ours.contains("X-Amz-Security-Token="));
            }
        }
    }

    #[test]
    fn another_second_or_key_is_another_signature() {
        let credentials = Credentials::new("AKID", "secret", None, None, "test");
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        let link = |key: &str, at: SystemTime| {
            let url = signed_get_url(
                &credentials,
                "us-east-1",
                "https://b.s3.us-east-1.amazonaws.com",
                key,
                "f.csv",
                "text/csv",
                at,
            );
            query(&url.unwrap()).1["X-Amz-Signature"].clone()
        };
        assert_eq!(link("a.csv", now), link("a.csv", now));
        assert_ne!(link("a.csv", now), link("b.csv", now));
        assert_ne!(link("a.csv", now), link("a.csv", now + Duration::from_secs(1)));
    }
}
