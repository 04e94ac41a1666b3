//! `shuyu.imports.v1.Imports`: what a unit's custodian needs to encrypt for an authorization,
//! and the upload of a bundle.
//!
//! An upload streams the bundle's files into a private staging directory of the unit's import
//! area, then verifies the bundle before anything is filed: checksums, the authorization it
//! was written for, one row per pseudonym (contribution bounding), and for every
//! bootstrapped column the zero-knowledge bound proofs against the domain's CRS and public
//! key (then clamping to the declared bound). When the bureau configured conversion keys,
//! each verified column is then converted into the linear tier in the background
//! ([`EncryptionContext::ensure_converted`]: 8 bootstraps per value, about 4.4 s per value on
//! 2 cores) and written to the bundle's `.converted/` directory; queries use the bootstrapped
//! tier until it is in place. Only then is the import requested from the
//! bureau (governance `request_import`) and the bundle moved to `imports/<unit>/<name>`; a
//! failed upload leaves nothing behind. Queries use the import only once the bureau has
//! approved it (`ReviewImport` on the admin service); revocation deletes the unit's files.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use futures::StreamExt;
use shuyu_governance::UnitArea;
use shuyu_proto::imports::v1::imports_server::{Imports, ImportsServer};
use shuyu_proto::imports::v1::{EncryptionParameters, GetEncryptionParametersRequest, UploadChunk, UploadResult};
use shuyu_compute::encrypted::verify::verify_bundle;
use shuyu_runtime::{EncryptionContext, Runtime};
use tonic::{Request, Response, Status, Streaming};

use crate::flight::caller;
use crate::offload::store_call;
use crate::Error;

/// Largest bundle one upload may carry.
pub const MAX_BUNDLE_BYTES: u64 = 16 << 30;
/// Most files one bundle may have.
pub const MAX_BUNDLE_FILES: usize = 256;

/// The imports service.
#[derive(Debug, Clone)]
pub struct ImportsService {
    runtime: Arc<Runtime>,
    enc: Arc<EncryptionContext>,
}

impl ImportsService {
    /// A service over `runtime`'s store with the domain's encryption material.
    pub fn new(runtime: Arc<Runtime>, enc: Arc<EncryptionContext>) -> Self {
        ImportsService { runtime, enc }
    }

    /// The tonic service.
    pub fn into_service(self) -> ImportsServer<ImportsService> {
        ImportsServer::new(self).max_decoding_message_size(8 << 20)
    }
}

fn check_bundle_file(name: &str) -> Result<(), Error> {
    if name.is_empty() || name.starts_with('.') || name.contains(['/', '\\']) || name.len() > 255 {
        return Err(Error::Usage(format!("`{name}` is not a bundle file name (a bare name, not starting with a dot)")));
    }
    Ok(())
}

/// A staging directory removed on drop unless kept.
struct Staging {
    dir: PathBuf,
    keep: bool,
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl ImportsService {
    async fn upload(&self, md: &tonic::metadata::MetadataMap, mut stream: Streaming<UploadChunk>) -> Result<UploadResult, Error> {
        let who = caller::resolve(&self.runtime, md).await?;
        let (p, auth) = (who.principal.clone(), who.authorization);
        self.runtime.scope(&p, auth).await?;
        let unit = p.unit_id.ok_or_else(|| Error::Denied("only a unit's analyst uploads imports".into()))?;
        let first = stream
            .next()
            .await
            .ok_or_else(|| Error::Usage("the upload is empty; send the import's name and the bundle's files".into()))?
            .map_err(Error::Remote)?;
        let (name, description) = (first.name.clone(), first.description.clone());
        if name.is_empty() {
            return Err(Error::Usage("the first upload message must name the import".into()));
        }
        let caller = p.clone();
        let area = store_call(self.runtime.store(), move |s| s.unit_dir(&caller, unit, UnitArea::Imports)).await?;
        let staging = Staging { dir: area.join(format!(".upload-{}", hex::encode(rand::random::<[u8; 12]>()))), keep: false };
        std::fs::create_dir(&staging.dir).map_err(Error::io("creating the upload directory"))?;
        let mut total = 0u64;
        let mut files: Vec<String> = Vec::new();
        let mut chunk = Some(first);
        loop {
            let Some(c) = chunk.take() else { break };
            if !c.file.is_empty() || !c.data.is_empty() {
                check_bundle_file(&c.file)?;
                total += c.data.len() as u64;
                if total > MAX_BUNDLE_BYTES {
                    return Err(Error::Usage(format!("the bundle is larger than {MAX_BUNDLE_BYTES} bytes")));
                }
                if !files.contains(&c.file) {
                    if files.len() >= MAX_BUNDLE_FILES {
                        return Err(Error::Usage(format!("a bundle has at most {MAX_BUNDLE_FILES} files")));
                    }
                    files.push(c.file.clone());
                }
                let path = staging.dir.join(&c.file);
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(Error::io("writing an uploaded file"))?;
                f.write_all(&c.data).map_err(Error::io("writing an uploaded file"))?;
            }
            chunk = stream.next().await.transpose().map_err(Error::Remote)?;
        }
        let final_dir = area.join(&name);
        let (enc, dir, target) = (self.enc.clone(), staging.dir.clone(), final_dir.clone());
        let verified = tokio::task::spawn_blocking(move || verify_bundle(&enc, &dir, &target, auth.0))
            .await
            .map_err(|e| Error::Internal(format!("verifying a bundle: {e}")))??;
        let (rows, columns) = (verified.rows, verified.columns.clone());
        let caller = p.clone();
        let (n, d) = (name.clone(), description);
        let import = store_call(self.runtime.store(), move |s| s.request_import(&caller, &n, &d)).await?;
        let mut staging = staging;
        std::fs::rename(&staging.dir, &final_dir).map_err(Error::io("filing the uploaded bundle"))?;
        staging.keep = true;
        tracing::info!(%import, rows, "encrypted import uploaded and verified; awaiting the bureau's review");
        verified.convert(&self.enc, &final_dir);
        Ok(UploadResult { import_id: import.0, rows, columns })
    }
}

#[tonic::async_trait]
impl Imports for ImportsService {
    async fn get_encryption_parameters(
        &self,
        request: Request<GetEncryptionParametersRequest>,
    ) -> Result<Response<EncryptionParameters>, Status> {
        let result: Result<EncryptionParameters, Error> = async {
            let who = caller::resolve(&self.runtime, request.metadata()).await?;
            self.runtime.scope(&who.principal, who.authorization).await?;
            let key = shuyu_runtime::encrypted::pseudonym_key(self.runtime.store(), who.authorization)?;
            Ok(EncryptionParameters {
                pseudonym_key_hex: key.to_hex_secret(),
                crs: self.enc.crs_bytes().to_vec(),
                domain_public_key: self.runtime.store().domain_public_key().to_vec(),
                authorization_id: who.authorization.0,
            })
        }
        .await;
        Ok(Response::new(result?))
    }

    async fn upload_bundle(&self, request: Request<Streaming<UploadChunk>>) -> Result<Response<UploadResult>, Status> {
        let md = request.metadata().clone();
        Ok(Response::new(self.upload(&md, request.into_inner()).await?))
    }
}
