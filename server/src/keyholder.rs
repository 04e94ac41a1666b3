//! The keyholder over gRPC: `shuyu keyholder serve` (run by the custodian) and the domain's
//! client.
//!
//! The service wraps shuyu-crypto's [`Keyholder`]: it registers only grants the domain
//! signed, decrypts only signed release requests of a registered job of the same
//! authorization, at most the granted number of values, once, and journals every grant and
//! decryption (job, authorization, count; never a value). Its errors become statuses by
//! their fault class through the server's one mapping (`crate::error`): refusals are
//! `PermissionDenied` with the keyholder's reason; malformed requests `InvalidArgument`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ed25519_dalek::{SigningKey, VerifyingKey};
use shuyu_compute::ComputeError;
use shuyu_crypto::keyholder::Keyholder;
use shuyu_crypto::keys::CustodianKeys;
use shuyu_crypto::release::{JobGrant, ReleaseRequest};
use shuyu_crypto::CryptoError;
use shuyu_proto::keyholder::v1::keyholder_client::KeyholderClient;
use shuyu_proto::keyholder::v1::keyholder_server::{Keyholder as KeyholderRpc, KeyholderServer};
use shuyu_privacy::Fault;
use shuyu_proto::keyholder::v1::{DecryptRequest, DecryptResponse, RegisterJobRequest, RegisterJobResponse};
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic::transport::Server;
use tonic::{Request, Response, Status};

use crate::custodian::CUSTODIAN_KEYS_FILE;

use crate::Error;

/// Largest request the keyholder accepts (a bootstrapped aggregate is a few hundred KB).
const MAX_MESSAGE_BYTES: usize = 256 << 20;

/// The gRPC keyholder service.
#[derive(Debug, Clone)]
pub struct KeyholderService {
    keyholder: Arc<Keyholder>,
}

/// A keyholder failure as a gRPC status: by its fault class, through the server's one
/// mapping ([`crate::error::grpc_code`]), so the keyholder and the domain answer alike.
pub(crate) fn status(e: CryptoError) -> Status {
    Error::Crypto(e).into()
}

impl KeyholderService {
    /// A service over an opened keyholder.
    pub fn new(keyholder: Keyholder) -> Self {
        KeyholderService { keyholder: Arc::new(keyholder) }
    }

    /// The tonic service.
    pub fn into_service(self) -> KeyholderServer<KeyholderService> {
        KeyholderServer::new(self).max_decoding_message_size(MAX_MESSAGE_BYTES)
    }

    async fn blocking<T: Send + 'static>(&self, f: impl FnOnce(&Keyholder) -> Result<T, CryptoError> + Send + 'static) -> Result<T, Status> {
        let keyholder = self.keyholder.clone();
        tokio::task::spawn_blocking(move || f(&keyholder))
            .await
            .map_err(|_| Status::from(Error::Internal("the keyholder task did not complete".into())))?
            .map_err(status)
    }
}

#[tonic::async_trait]
impl KeyholderRpc for KeyholderService {
    async fn register_job(&self, request: Request<RegisterJobRequest>) -> Result<Response<RegisterJobResponse>, Status> {
        let grant = JobGrant::from_bytes(&request.into_inner().grant).map_err(status)?;
        self.blocking(move |k| k.register_job(&grant)).await?;
        Ok(Response::new(RegisterJobResponse {}))
    }

    async fn decrypt(&self, request: Request<DecryptRequest>) -> Result<Response<DecryptResponse>, Status> {
        let release = ReleaseRequest::from_bytes(&request.into_inner().release_request).map_err(status)?;
        let values = self.blocking(move |k| k.decrypt(&release)).await?;
        Ok(Response::new(DecryptResponse { values }))
    }
}

/// Reads a domain public key file: 64 hex digits (as `domain/signing.pub` holds it).
pub fn read_domain_key(path: &Path) -> Result<VerifyingKey, Error> {
    let text = std::fs::read_to_string(path).map_err(Error::io(format!("reading the domain key {}", path.display())))?;
    let bytes: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| Error::Usage(format!("{} is not a domain public key (64 hex digits)", path.display())))?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| Error::Usage(format!("{} is not a valid Ed25519 public key", path.display())))
}

/// Opens the keyholder of a custodian key directory.
pub fn open(keys_dir: &Path, domain: VerifyingKey, journal: &Path) -> Result<Keyholder, Error> {
    let path = keys_dir.join(CUSTODIAN_KEYS_FILE);
    let bytes = crate::custodian::read_private(&path)?;
    Ok(Keyholder::open(CustodianKeys::from_bytes(&bytes)?, domain, journal)?)
}

/// Serves the keyholder on `listener` until `shutdown` completes.
pub async fn run(listener: TcpListener, keyholder: Keyholder, shutdown: impl std::future::Future<Output = ()> + Send) -> Result<(), Error> {
    let addr = listener.local_addr().map_err(Error::io("reading the listener's address"))?;
    tracing::info!(%addr, "serving the keyholder");
    Server::builder()
        .add_service(KeyholderService::new(keyholder).into_service())
        .serve_with_incoming_shutdown(TcpIncoming::from(listener).with_nodelay(Some(true)), shutdown)
        .await?;
    Ok(())
}

/// Options of `shuyu keyholder serve`.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Custodian key directory (`shuyu keys generate --out`).
    pub keys: PathBuf,
    /// The domain's public key file.
    pub domain_key: PathBuf,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The journal of grants and decryptions.
    pub journal: PathBuf,
}

/// `shuyu keyholder serve`: serves until Ctrl-C.
pub async fn serve(options: &ServeOptions) -> Result<(), Error> {
    let domain = read_domain_key(&options.domain_key)?;
    let keyholder = open(&options.keys, domain, &options.journal)?;
    let listener = crate::net::bind(options.listen).await?;
    let addr = listener.local_addr().map_err(Error::io("reading the listener's address"))?;
    println!("shuyu keyholder on {}", crate::net::flight_sql_uri(addr));
    run(listener, keyholder, crate::net::shutdown_signal()).await
}

/// The domain's side: registers a job's grant and sends its signed release request.
#[derive(Debug, Clone)]
pub struct DomainKeyholderClient {
    uri: String,
}

/// A keyholder's refusal as the runtime reads it (its reason kept); any other status as
/// an internal failure of the job, with its code (after a reservation the analyst only ever
/// sees the one generic answer; the job record keeps this).
fn remote(what: &str, e: tonic::Status) -> ComputeError {
    let (fault, message) = match e.code() {
        tonic::Code::PermissionDenied => (Fault::PermissionDenied, format!("the keyholder refused to {what}: {}", e.message())),
        tonic::Code::Unavailable => (Fault::Unavailable, format!("the keyholder could not {what}: {}", e.message())),
        code => (Fault::Internal, format!("the keyholder could not {what} ({code:?}): {}", e.message())),
    };
    ComputeError::Keyholder { fault, message }
}

impl DomainKeyholderClient {
    /// A client of the keyholder at `uri`.
    pub fn new(uri: impl Into<String>) -> Self {
        DomainKeyholderClient { uri: uri.into() }
    }
}

#[async_trait::async_trait]
impl shuyu_runtime::Keyholder for DomainKeyholderClient {
    async fn release(&self, signing: &SigningKey, request: ReleaseRequest) -> Result<Vec<i64>, ComputeError> {
        let grant = JobGrant::new(request.job_id.clone(), request.authorization_id.clone(), request.values.len() as u64).sign(signing);
        let request = request.sign(signing);
        // `shuyu keyholder serve` prints its address as grpc://host:port (plaintext gRPC).
        let endpoint = match self.uri.strip_prefix("grpc://") {
            Some(rest) => format!("http://{rest}"),
            None => self.uri.clone(),
        };
        let channel = tonic::transport::Endpoint::from_shared(endpoint)
            .map_err(|_| ComputeError::Keyholder { fault: Fault::InvalidArgument, message: format!("the keyholder address {} is not a URI", self.uri) })?
            .connect()
            .await
            .map_err(|e| ComputeError::Keyholder {
                fault: Fault::Unavailable,
                message: format!("the keyholder at {} cannot be reached ({e}); ask the custodian to start it", self.uri),
            })?;
        let mut client = KeyholderClient::new(channel).max_encoding_message_size(MAX_MESSAGE_BYTES);
        client.register_job(RegisterJobRequest { grant: grant.to_bytes() }).await.map_err(|e| remote("register the job", e))?;
        let values = client
            .decrypt(DecryptRequest { release_request: request.to_bytes() })
            .await
            .map_err(|e| remote("decrypt", e))?
            .into_inner()
            .values;
        if values.len() != request.values.len() {
            return Err(ComputeError::Internal("the keyholder returned another number of values than requested".into()));
        }
        Ok(values)
    }
}
