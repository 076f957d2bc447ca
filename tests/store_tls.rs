//! TLS to PostgreSQL from the options in the store URL, against the test server's own certificate
//! (Debian's PostgreSQL serves its snakeoil certificate, issued to `localhost`).

mod common;

use catsync::store;

const SERVER_CERT: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

/// The test server's URL with `host` and extra parameters, or `None` (loudly) when the server
/// does not offer TLS with the certificate these tests expect.
async fn tls_url(host: &str, params: &str) -> Option<String> {
    let base = url::Url::parse(&common::pg_base_url()).unwrap();
    let (client, conn) = tokio_postgres::connect(base.as_str(), tokio_postgres::NoTls).await.ok()?;
    tokio::spawn(conn);
    let ssl: String = client.query_one("SHOW ssl", &[]).await.unwrap().get(0);
    if ssl != "on" || !std::path::Path::new(SERVER_CERT).exists() {
        eprintln!("\n!!! SKIPPING TLS test: the PostgreSQL server has ssl={ssl} or {SERVER_CERT} is missing\n");
        return None;
    }
    let mut url = base.clone();
    url.set_host(Some(host)).unwrap();
    url.set_query(Some(params));
    Some(url.to_string())
}

#[tokio::test]
async fn sslmode_require_encrypts_without_checking_the_certificate() {
    let Some(url) = tls_url("127.0.0.1", "sslmode=require").await else { return };
    let store = store::open(&url).await.unwrap();
    assert_eq!(store.info().backend, store::Backend::Postgres);
}

#[tokio::test]
async fn verify_full_accepts_the_server_certificate_for_its_host_name() {
    let Some(url) = tls_url("localhost", &format!("sslmode=verify-full&sslrootcert={SERVER_CERT}")).await else {
        return;
    };
    store::open(&url).await.unwrap();
}

#[tokio::test]
async fn verify_full_refuses_a_host_name_the_certificate_does_not_name() {
    let Some(url) = tls_url("127.0.0.1", &format!("sslmode=verify-full&sslrootcert={SERVER_CERT}")).await else {
        return;
    };
    let url = url.replacen("://postgres@", "://postgres:TlsS3cret@", 1);
    let err = store::open(&url).await.err().expect("the host name does not match the certificate").to_string();
    assert!(err.contains("certificate"), "{err}");
    assert!(!err.contains("TlsS3cret"), "{err}");
}

/// A self-signed CA that issued nothing the server has.
fn unrelated_ca(dir: &std::path::Path) -> std::path::PathBuf {
    use openssl::{asn1::Asn1Time, bn::BigNum, hash::MessageDigest, pkey::PKey, rsa::Rsa, x509};
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut name = x509::X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "catsync unrelated test CA").unwrap();
    let name = name.build();
    let mut cert = x509::X509::builder().unwrap();
    cert.set_version(2).unwrap();
    cert.set_serial_number(&BigNum::from_u32(1).unwrap().to_asn1_integer().unwrap()).unwrap();
    cert.set_subject_name(&name).unwrap();
    cert.set_issuer_name(&name).unwrap();
    cert.set_pubkey(&key).unwrap();
    cert.set_not_before(&Asn1Time::days_from_now(0).unwrap()).unwrap();
    cert.set_not_after(&Asn1Time::days_from_now(1).unwrap()).unwrap();
    cert.sign(&key, MessageDigest::sha256()).unwrap();
    let path = dir.join("unrelated-ca.pem");
    std::fs::write(&path, cert.build().to_pem().unwrap()).unwrap();
    path
}

#[tokio::test]
async fn a_root_certificate_that_did_not_issue_the_server_certificate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = unrelated_ca(dir.path());
    // Even if the system trusts the server's certificate, sslrootcert replaces the system's roots.
    let params = format!("sslmode=verify-ca&sslrootcert={}", ca.display());
    let Some(url) = tls_url("localhost", &params).await else { return };
    let err = store::open(&url).await.err().expect("the server certificate is not issued by this CA").to_string();
    assert!(err.contains("certificate"), "{err}");
}
