//! Objects in a bucket, such as the payout export files. `S3Objects` is the
//! real one; `MemoryObjects` keeps them in memory for tests and benchmarks.

use async_trait::async_trait;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;
use futures::Stream;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Mutex;

/// Parts of a multipart upload: S3 takes 5 MiB at least, all but the last.
pub const PART_BYTES: usize = 8 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ObjectError(String);

impl ObjectError {
    pub fn new(reason: impl Into<String>) -> Self {
        Self(reason.into())
    }
}

/// An object's bytes as they arrive.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

#[async_trait]
pub trait Objects: Send + Sync {
    async fn put(&self, key: &str, content_type: &str, bytes: Vec<u8>) -> Result<(), ObjectError>;
    /// Starts a multipart upload; the object appears only once it completes.
    async fn create_upload(&self, key: &str, content_type: &str) -> Result<String, ObjectError>;
    /// Uploads part `number` (from 1) and gives its ETag.
    async fn upload_part(&self, key: &str, upload_id: &str, number: i32, bytes: Vec<u8>)
    -> Result<String, ObjectError>;
    async fn complete_upload(&self, key: &str, upload_id: &str, parts: Vec<(i32, String)>) -> Result<(), ObjectError>;
    /// Gives up an upload, so its parts are not kept (and billed).
    async fn abort_upload(&self, key: &str, upload_id: &str) -> Result<(), ObjectError>;
    /// `None` when there is no such object.
    async fn get(&self, key: &str) -> Result<Option<ByteStream>, ObjectError>;
}

/// Writes one object as it is produced: a single put while it fits in one
/// part, a multipart upload once it outgrows it, so memory holds one part.
pub struct ObjectWriter<'a> {
    objects: &'a dyn Objects,
    key: String,
    content_type: &'static str,
    buffer: Vec<u8>,
    upload: Option<(String, Vec<(i32, String)>)>,
}

impl<'a> ObjectWriter<'a> {
    pub fn new(objects: &'a dyn Objects, key: impl Into<String>, content_type: &'static str, start: Vec<u8>) -> Self {
        Self { objects, key: key.into(), content_type, buffer: start, upload: None }
    }

    /// Where the next bytes go; `flush` after each batch of them.
    pub fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.buffer
    }

    /// Uploads a part once a whole one is buffered.
    pub async fn flush(&mut self) -> Result<(), ObjectError> {
        if self.buffer.len() >= PART_BYTES {
            let bytes = std::mem::take(&mut self.buffer);
            self.part(bytes).await?;
        }
        Ok(())
    }

    async fn part(&mut self, bytes: Vec<u8>) -> Result<(), ObjectError> {
        if self.upload.is_none() {
            let id = self.objects.create_upload(&self.key, self.content_type).await?;
            self.upload = Some((id, Vec::new()));
        }
        if let Some((id, parts)) = &mut self.upload {
            let number = i32::try_from(parts.len() + 1).unwrap_or(i32::MAX);
            match self.objects.upload_part(&self.key, id, number, bytes).await {
                Ok(etag) => parts.push((number, etag)),
                Err(e) => {
                    self.abort().await;
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    async fn abort(&mut self) {
        if let Some((id, _)) = self.upload.take()
            && let Err(e) = self.objects.abort_upload(&self.key, &id).await
        {
            tracing::warn!(key = %self.key, error = %e, "abandoned multipart upload not aborted");
        }
    }

    /// Writes what is left and makes the object appear.
    pub async fn finish(mut self) -> Result<(), ObjectError> {
        if self.upload.is_none() {
            let bytes = std::mem::take(&mut self.buffer);
            return self.objects.put(&self.key, self.content_type, bytes).await;
        }
        if !self.buffer.is_empty() {
            let bytes = std::mem::take(&mut self.buffer);
            self.part(bytes).await?;
        }
        if let Some((id, parts)) = self.upload.take() {
            if let Err(e) = self.objects.complete_upload(&self.key, &id, parts).await {
                self.upload = Some((id, Vec::new()));
                self.abort().await;
                return Err(e);
            }
        }
        Ok(())
    }
}

/// One S3 bucket. One per container: the client keeps its connections.
#[derive(Clone)]
pub struct S3Objects {
    client: aws_sdk_s3::Client,
    bucket: String,
}

fn s3_error<E: std::error::Error>(operation: &'static str) -> impl FnOnce(E) -> ObjectError {
    move |e| ObjectError(format!("S3 {operation}: {}", DisplayErrorContext(&e)))
}

impl S3Objects {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self { client, bucket: bucket.into() }
    }

    /// With an endpoint override (a local server), path-style addressing,
    /// since such servers have no per-bucket host names.
    pub fn from_sdk_config(sdk: &aws_config::SdkConfig, bucket: impl Into<String>) -> Self {
        let config = aws_sdk_s3::config::Builder::from(sdk).force_path_style(sdk.endpoint_url().is_some()).build();
        Self::new(aws_sdk_s3::Client::from_conf(config), bucket)
    }
}

#[async_trait]
impl Objects for S3Objects {
    async fn put(&self, key: &str, content_type: &str, bytes: Vec<u8>) -> Result<(), ObjectError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(bytes.into())
            .send()
            .await
            .map_err(s3_error("PutObject"))?;
        Ok(())
    }

    async fn create_upload(&self, key: &str, content_type: &str) -> Result<String, ObjectError> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .send()
            .await
            .map_err(s3_error("CreateMultipartUpload"))?;
        created.upload_id.ok_or_else(|| ObjectError("S3 CreateMultipartUpload gave no upload id".into()))
    }

    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: i32,
        bytes: Vec<u8>,
    ) -> Result<String, ObjectError> {
        let part = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .body(bytes.into())
            .send()
            .await
            .map_err(s3_error("UploadPart"))?;
        Ok(part.e_tag.unwrap_or_default())
    }

    async fn complete_upload(&self, key: &str, upload_id: &str, parts: Vec<(i32, String)>) -> Result<(), ObjectError> {
        let parts = parts.into_iter().map(|(n, etag)| CompletedPart::builder().part_number(n).e_tag(etag).build());
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts.collect())).build())
            .send()
            .await
            .map_err(s3_error("CompleteMultipartUpload"))?;
        Ok(())
    }

    async fn abort_upload(&self, key: &str, upload_id: &str) -> Result<(), ObjectError> {
        self.client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
            .map_err(s3_error("AbortMultipartUpload"))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<ByteStream>, ObjectError> {
        let object = match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(object) => object,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(s3_error("GetObject")(e)),
        };
        let stream = futures::stream::unfold(object.body, |mut body| async move {
            body.try_next().await.transpose().map(|chunk| (chunk.map_err(std::io::Error::other), body))
        });
        Ok(Some(Box::pin(stream)))
    }
}

/// An upload in progress: its key and the parts sent so far.
struct MemoryUpload {
    key: String,
    parts: Vec<(i32, Vec<u8>)>,
}

#[derive(Default)]
struct MemoryBucket {
    objects: HashMap<String, Vec<u8>>,
    uploads: HashMap<String, MemoryUpload>,
    next_upload: u64,
}

/// A bucket in memory, with S3's rule that an upload's object appears only
/// when it completes.
#[derive(Default)]
pub struct MemoryObjects {
    bucket: Mutex<MemoryBucket>,
}

impl MemoryObjects {
    fn bucket(&self) -> std::sync::MutexGuard<'_, MemoryBucket> {
        self.bucket.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn object(&self, key: &str) -> Option<Vec<u8>> {
        self.bucket().objects.get(key).cloned()
    }

    /// Uploads started and neither completed nor aborted.
    pub fn open_uploads(&self) -> usize {
        self.bucket().uploads.len()
    }
}

#[async_trait]
impl Objects for MemoryObjects {
    async fn put(&self, key: &str, _content_type: &str, bytes: Vec<u8>) -> Result<(), ObjectError> {
        self.bucket().objects.insert(key.to_owned(), bytes);
        Ok(())
    }

    async fn create_upload(&self, key: &str, _content_type: &str) -> Result<String, ObjectError> {
        let mut bucket = self.bucket();
        bucket.next_upload += 1;
        let id = format!("upload-{}", bucket.next_upload);
        bucket.uploads.insert(id.clone(), MemoryUpload { key: key.to_owned(), parts: Vec::new() });
        Ok(id)
    }

    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: i32,
        bytes: Vec<u8>,
    ) -> Result<String, ObjectError> {
        match self.bucket().uploads.get_mut(upload_id) {
            Some(upload) if upload.key == key => {
                upload.parts.push((number, bytes));
                Ok(format!("etag-{number}"))
            }
            _ => Err(ObjectError(format!("no upload {upload_id} for {key}"))),
        }
    }

    async fn complete_upload(&self, key: &str, upload_id: &str, parts: Vec<(i32, String)>) -> Result<(), ObjectError> {
        let mut bucket = self.bucket();
        let Some(MemoryUpload { key: k, parts: mut uploaded }) = bucket.uploads.remove(upload_id) else {
            return Err(ObjectError(format!("no upload {upload_id}")));
        };
        if k != key || parts.len() != uploaded.len() {
            return Err(ObjectError(format!("the parts of {key} do not match its upload")));
        }
        uploaded.sort_by_key(|(n, _)| *n);
        let object = uploaded.into_iter().flat_map(|(_, bytes)| bytes).collect();
        bucket.objects.insert(key.to_owned(), object);
        Ok(())
    }

    async fn abort_upload(&self, _key: &str, upload_id: &str) -> Result<(), ObjectError> {
        self.bucket().uploads.remove(upload_id);
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<ByteStream>, ObjectError> {
        Ok(self
            .object(key)
            .map(|bytes| Box::pin(futures::stream::once(async move { Ok(Bytes::from(bytes)) })) as ByteStream))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_small_object_is_one_put_and_a_large_one_is_assembled_from_parts() {
        let objects = MemoryObjects::default();
        let mut small = ObjectWriter::new(&objects, "small.csv", "text/csv", b"a,b\n".to_vec());
        small.buffer().extend_from_slice(b"1,2\n");
        small.flush().await.unwrap();
        small.finish().await.unwrap();
        assert_eq!(objects.object("small.csv").unwrap(), b"a,b\n1,2\n");

        let mut large = ObjectWriter::new(&objects, "large.csv", "text/csv", Vec::new());
        let mut expected = Vec::new();
        for i in 0..3u8 {
            let chunk = vec![b'0' + i; PART_BYTES];
            large.buffer().extend_from_slice(&chunk);
            expected.extend_from_slice(&chunk);
            large.flush().await.unwrap();
            assert!(objects.object("large.csv").is_none(), "an upload appears only when complete");
        }
        large.buffer().extend_from_slice(b"tail");
        expected.extend_from_slice(b"tail");
        large.finish().await.unwrap();
        assert_eq!(objects.object("large.csv").unwrap(), expected);
        assert_eq!(objects.open_uploads(), 0);
    }
}
