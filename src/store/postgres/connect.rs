//! PostgreSQL/CockroachDB connection settings from a store URL, TLS included.
//!
//! tokio-postgres accepts only `sslmode=disable|prefer|require` and no certificate paths, while
//! CockroachDB URLs carry `sslmode=verify-full&sslrootcert=…`: so catsync parses the URL itself,
//! builds the OpenSSL connector from the certificate options and hands tokio-postgres the rest.

use std::time::Duration;

use openssl::ssl::{SslConnector, SslFiletype, SslMethod, SslVerifyMode};
use openssl::x509::store::{X509Store, X509StoreBuilder};
use openssl::x509::X509;
use postgres_openssl::MakeTlsConnector;
use tokio_postgres::config::SslMode;
use tokio_postgres::{Client, Config};

use crate::store::{redact_url, StoreError};

/// How feed imports write to this server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportPath {
    /// COPY into a temporary staging table, then one merge (PostgreSQL).
    CopyMerge,
    /// Multi-row `INSERT … ON CONFLICT` batches (CockroachDB, which has no temp tables by default).
    BatchUpsert,
}

/// Everything needed to open another connection to the same server.
#[derive(Clone)]
pub struct PgConnect {
    config: Config,
    tls: MakeTlsConnector,
    /// Import path forced by the URL's `catsync_import=copy|upsert`, else chosen by dialect.
    pub forced_import: Option<ImportPath>,
    pub location: String,
}

impl PgConnect {
    pub fn from_url(url: &str) -> Result<PgConnect, StoreError> {
        let location = redact_url(url);
        let invalid = |reason: String| StoreError::InvalidUrl { url: location.clone(), reason };
        let parsed = url::Url::parse(url).map_err(|e| invalid(e.to_string()))?;
        let mut config = Config::new();
        config.host(parsed.host_str().filter(|h| !h.is_empty()).unwrap_or("localhost"));
        config.port(parsed.port().unwrap_or(5432));
        config.user(&decode(parsed.username()).map_err(&invalid)?);
        if let Some(p) = parsed.password() {
            config.password(decode(p).map_err(&invalid)?);
        }
        let db = parsed.path().trim_start_matches('/');
        if !db.is_empty() {
            config.dbname(&decode(db).map_err(&invalid)?);
        }
        config.application_name("catsync");
        config.connect_timeout(Duration::from_secs(10));
        let mut tls = TlsOptions::default();
        let mut forced_import = None;
        for (key, value) in parsed.query_pairs() {
            let value = value.into_owned();
            match key.as_ref() {
                "sslmode" => tls.mode = value,
                "sslrootcert" => tls.root_cert = Some(value),
                "sslcert" => tls.cert = Some(value),
                "sslkey" => tls.key = Some(value),
                "password" => {
                    config.password(value);
                }
                "application_name" => {
                    config.application_name(&value);
                }
                "options" => {
                    config.options(&value);
                }
                "connect_timeout" => {
                    let secs: u64 = value.parse().map_err(|_| invalid(format!("connect_timeout={value} is not a number of seconds")))?;
                    config.connect_timeout(Duration::from_secs(secs));
                }
                "catsync_import" => {
                    forced_import = Some(match value.as_str() {
                        "copy" => ImportPath::CopyMerge,
                        "upsert" => ImportPath::BatchUpsert,
                        other => return Err(invalid(format!("catsync_import={other}: use copy or upsert"))),
                    })
                }
                other => {
                    return Err(invalid(format!(
                        "unknown parameter {other:?} (known: sslmode, sslrootcert, sslcert, sslkey, password, application_name, options, connect_timeout, catsync_import)"
                    )))
                }
            }
        }
        config.ssl_mode(tls.ssl_mode().map_err(&invalid)?);
        let tls = tls.connector().map_err(&invalid)?;
        Ok(PgConnect { config, tls, forced_import, location })
    }

    /// Opens a connection and drives it on the runtime.
    pub async fn connect(&self) -> Result<Client, StoreError> {
        let (client, connection) = self
            .config
            .connect(self.tls.clone())
            .await
            .map_err(|e| StoreError::Connect { location: self.location.clone(), reason: super::describe(&e) })?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "store connection closed");
            }
        });
        Ok(client)
    }
}

fn decode(s: &str) -> Result<String, String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| format!("{s:?} is not valid percent-encoded UTF-8"))
}

#[derive(Default)]
struct TlsOptions {
    mode: String,
    root_cert: Option<String>,
    cert: Option<String>,
    key: Option<String>,
}

impl TlsOptions {
    fn ssl_mode(&self) -> Result<SslMode, String> {
        match self.mode.as_str() {
            "disable" => Ok(SslMode::Disable),
            "" | "allow" | "prefer" => Ok(SslMode::Prefer),
            "require" | "verify-ca" | "verify-full" => Ok(SslMode::Require),
            other => Err(format!("sslmode={other}: use disable, prefer, require, verify-ca or verify-full")),
        }
    }

    /// libpq semantics: `verify-*` checks the chain (and `verify-full` the host name); `require`
    /// with a root certificate verifies like `verify-ca`; otherwise encryption without checks.
    fn connector(&self) -> Result<MakeTlsConnector, String> {
        let tls_err = |what: &str, e: openssl::error::ErrorStack| format!("{what}: {e}");
        let mut builder = SslConnector::builder(SslMethod::tls()).map_err(|e| tls_err("TLS setup", e))?;
        let verify = matches!(self.mode.as_str(), "verify-ca" | "verify-full")
            || (self.mode == "require" && self.root_cert.is_some());
        if let Some(ca) = &self.root_cert {
            // As in libpq, the given roots replace the system's: only they are trusted.
            builder.set_cert_store(trust_only(ca)?);
        }
        if let Some(cert) = &self.cert {
            builder.set_certificate_chain_file(cert).map_err(|e| tls_err(&format!("sslcert {cert}"), e))?;
        }
        if let Some(key) = &self.key {
            builder.set_private_key_file(key, SslFiletype::PEM).map_err(|e| tls_err(&format!("sslkey {key}"), e))?;
        }
        builder.set_verify(if verify { SslVerifyMode::PEER } else { SslVerifyMode::NONE });
        let mut connector = MakeTlsConnector::new(builder.build());
        let check_host = self.mode == "verify-full";
        connector.set_callback(move |cfg, _| {
            cfg.set_verify_hostname(check_host);
            Ok(())
        });
        Ok(connector)
    }
}

/// A certificate store holding just the certificates of a PEM file.
fn trust_only(path: &str) -> Result<X509Store, String> {
    let pem = std::fs::read(path).map_err(|e| format!("sslrootcert {path}: {e}"))?;
    let certs = X509::stack_from_pem(&pem).map_err(|e| format!("sslrootcert {path}: not PEM certificates: {e}"))?;
    let mut store = X509StoreBuilder::new().map_err(|e| format!("TLS setup: {e}"))?;
    for cert in certs {
        store.add_cert(cert).map_err(|e| format!("sslrootcert {path}: {e}"))?;
    }
    Ok(store.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cockroach_style_urls_parse() {
        let c = PgConnect::from_url(
            "postgresql://app:s%40cret@db.example.com:26257/catalog?sslmode=verify-full&application_name=x",
        )
        .unwrap();
        assert_eq!(c.config.get_ports(), &[26257]);
        assert_eq!(c.config.get_password(), Some(&b"s@cret"[..]));
        assert_eq!(c.config.get_dbname(), Some("catalog"));
        assert_eq!(c.config.get_ssl_mode(), SslMode::Require);
        assert!(!c.location.contains("cret"));
    }

    #[test]
    fn bad_parameters_are_named_without_the_password() {
        let err = PgConnect::from_url("postgres://u:hunter2@h/db?sslmod=require").err().unwrap().to_string();
        assert!(err.contains("sslmod"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let err = PgConnect::from_url("postgres://u:hunter2@h/db?sslmode=always").err().unwrap().to_string();
        assert!(err.contains("sslmode=always"), "{err}");
    }

    #[test]
    fn a_missing_root_certificate_is_reported() {
        let err = PgConnect::from_url("postgres://u@h/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
    }
}
