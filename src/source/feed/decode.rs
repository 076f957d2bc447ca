//! Turns a feed file on disk into a stream of UTF-8 bytes: gunzips, recognizes files that are
//! not text at all, and detects the encoding once per file from its first bytes.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use encoding_rs::{Encoding, UTF_16BE, UTF_16LE, WINDOWS_1252};
use encoding_rs_io::DecodeReaderBytesBuilder;
use flate2::bufread::MultiGzDecoder;
use xxhash_rust::xxh3::Xxh3;

use super::FeedError;

/// How much of the (decompressed) file is inspected to decide encoding and dialect.
pub const SAMPLE_BYTES: usize = 64 * 1024;

/// The text encoding a feed was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedEncoding {
    Utf8,
    Utf8Bom,
    Utf16Le,
    Utf16Be,
    Windows1252,
}

impl FeedEncoding {
    pub fn name(self) -> &'static str {
        match self {
            FeedEncoding::Utf8 => "UTF-8",
            FeedEncoding::Utf8Bom => "UTF-8 with BOM",
            FeedEncoding::Utf16Le => "UTF-16LE",
            FeedEncoding::Utf16Be => "UTF-16BE",
            FeedEncoding::Windows1252 => "Windows-1252",
        }
    }

    fn transcoder(self) -> Option<&'static Encoding> {
        match self {
            FeedEncoding::Utf8 | FeedEncoding::Utf8Bom => None,
            FeedEncoding::Utf16Le => Some(UTF_16LE),
            FeedEncoding::Utf16Be => Some(UTF_16BE),
            FeedEncoding::Windows1252 => Some(WINDOWS_1252),
        }
    }
}

/// A feed file opened for reading as UTF-8 text.
pub struct DecodedFeed {
    pub text: Box<dyn Read + Send>,
    /// The first bytes of `text`, already decoded, for dialect sniffing.
    pub sample: String,
    pub encoding: FeedEncoding,
    pub gzipped: bool,
    /// Bytes of the file on disk consumed so far (for progress on compressed files too).
    pub bytes_read: Arc<AtomicU64>,
    /// Hash of the bytes on disk consumed so far; the whole file's once it is read to the end.
    pub content_hash: Arc<Mutex<Xxh3>>,
}

/// Opens `path`, unwrapping gzip and transcoding to UTF-8.
pub fn open(path: &Path) -> Result<DecodedFeed, FeedError> {
    let io_err = |source| FeedError::Io { path: path.to_path_buf(), source };
    let file = File::open(path).map_err(io_err)?;
    let bytes_read = Arc::new(AtomicU64::new(0));
    let content_hash = Arc::new(Mutex::new(Xxh3::new()));
    let counted = CountingReader { inner: file, count: bytes_read.clone(), hash: content_hash.clone() };
    let mut buffered = BufReader::with_capacity(256 * 1024, counted);
    let gzipped = buffered.fill_buf().map_err(io_err)?.starts_with(&[0x1f, 0x8b]);
    let mut raw: Box<dyn Read + Send> =
        if gzipped { Box::new(MultiGzDecoder::new(buffered)) } else { Box::new(buffered) };
    let mut head = Vec::with_capacity(SAMPLE_BYTES);
    (&mut raw).take(SAMPLE_BYTES as u64).read_to_end(&mut head).map_err(io_err)?;
    if let Some(format) = foreign_format(&head) {
        return Err(FeedError::NotText { path: path.to_path_buf(), format });
    }
    let encoding =
        detect_encoding(&head).ok_or_else(|| FeedError::NotText { path: path.to_path_buf(), format: "binary data" })?;
    let bom_len = match encoding {
        FeedEncoding::Utf8Bom => 3,
        _ => 0,
    };
    let sample = sample_text(&head[bom_len..], encoding);
    let rest = Cursor::new(head).chain(raw);
    let text: Box<dyn Read + Send> = match encoding.transcoder() {
        Some(enc) => Box::new(DecodeReaderBytesBuilder::new().encoding(Some(enc)).bom_override(true).build(rest)),
        None => {
            let mut rest = rest;
            io::copy(&mut (&mut rest).take(bom_len as u64), &mut io::sink()).map_err(io_err)?;
            Box::new(rest)
        }
    };
    Ok(DecodedFeed { text, sample, encoding, gzipped, bytes_read, content_hash })
}

/// Names well-known binary formats, so the error says what the file is instead of "bad CSV".
fn foreign_format(head: &[u8]) -> Option<&'static str> {
    const MAGIC: &[(&[u8], &str)] = &[
        (b"PK\x03\x04", "a ZIP archive (an .xlsx workbook or a zipped feed: unzip it or export it as CSV)"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel 97-2003 workbook (.xls): export it as CSV"),
        (b"%PDF", "a PDF document"),
        (b"\x89PNG", "a PNG image"),
        (b"\xff\xd8\xff", "a JPEG image"),
        (b"BZh", "a bzip2 archive: decompress it first"),
        (b"\xfd7zXZ", "an xz archive: decompress it first"),
        (b"7z\xbc\xaf", "a 7-Zip archive: decompress it first"),
        (b"<?xml", "an XML document (BMEcat and other XML feeds are not read by catsync yet)"),
    ];
    MAGIC.iter().find(|(magic, _)| head.starts_with(magic)).map(|(_, name)| *name)
}

/// Picks the encoding from a BOM, from the pattern of zero bytes, or from UTF-8 validity.
/// Returns `None` for data that is not text in any encoding we read.
fn detect_encoding(head: &[u8]) -> Option<FeedEncoding> {
    if head.starts_with(b"\xef\xbb\xbf") {
        return Some(FeedEncoding::Utf8Bom);
    }
    if head.starts_with(b"\xff\xfe") {
        return Some(FeedEncoding::Utf16Le);
    }
    if head.starts_with(b"\xfe\xff") {
        return Some(FeedEncoding::Utf16Be);
    }
    if head.is_empty() {
        return Some(FeedEncoding::Utf8);
    }
    let zeros_at = |parity: usize| {
        head.iter().skip(parity).step_by(2).filter(|&&b| b == 0).count() as f64 / (head.len() / 2).max(1) as f64
    };
    // ASCII text in UTF-16 without a BOM has a zero in every other byte.
    if head.len() >= 4 && zeros_at(1) > 0.4 && zeros_at(0) < 0.05 {
        return Some(FeedEncoding::Utf16Le);
    }
    if head.len() >= 4 && zeros_at(0) > 0.4 && zeros_at(1) < 0.05 {
        return Some(FeedEncoding::Utf16Be);
    }
    let control = head.iter().filter(|&&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c)).count();
    if control * 20 > head.len() {
        return None;
    }
    match std::str::from_utf8(head) {
        Ok(_) => Some(FeedEncoding::Utf8),
        // A multi-byte character cut by the end of the sample is still UTF-8.
        Err(e) if e.error_len().is_none() => Some(FeedEncoding::Utf8),
        Err(_) => Some(FeedEncoding::Windows1252),
    }
}

fn sample_text(head: &[u8], encoding: FeedEncoding) -> String {
    match encoding.transcoder() {
        Some(enc) => enc.decode_with_bom_removal(head).0.into_owned(),
        None => String::from_utf8_lossy(head).into_owned(),
    }
}

/// Decodes one field of a UTF-8 file that turned out to hold a stray Windows-1252 byte.
pub fn windows_1252(bytes: &[u8]) -> String {
    WINDOWS_1252.decode_without_bom_handling(bytes).0.into_owned()
}

/// Counts and hashes the bytes of the file as they are read, so the fingerprint costs no second pass.
struct CountingReader<R> {
    inner: R,
    count: Arc<AtomicU64>,
    hash: Arc<Mutex<Xxh3>>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        self.hash.lock().expect("hash lock is never poisoned").update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boms_and_zero_patterns_pick_the_encoding() {
        assert_eq!(detect_encoding(b"\xef\xbb\xbfsku"), Some(FeedEncoding::Utf8Bom));
        assert_eq!(detect_encoding(b"\xff\xfes\x00k\x00"), Some(FeedEncoding::Utf16Le));
        assert_eq!(detect_encoding(b"s\x00k\x00u\x00;\x00"), Some(FeedEncoding::Utf16Le));
        assert_eq!(detect_encoding("Zubehör".as_bytes()), Some(FeedEncoding::Utf8));
        assert_eq!(detect_encoding(b"Zubeh\xf6r"), Some(FeedEncoding::Windows1252));
        assert_eq!(detect_encoding(b"\x01\x02\x03\x04\x05\x06\x07\x08abc"), None);
    }

    #[test]
    fn a_utf8_character_cut_by_the_sample_end_is_still_utf8() {
        let bytes = "ö".as_bytes();
        assert_eq!(detect_encoding(&[b'a', bytes[0]]), Some(FeedEncoding::Utf8));
    }

    #[test]
    fn zip_and_xls_are_named() {
        assert!(foreign_format(b"PK\x03\x04rest").unwrap().contains("ZIP"));
        assert!(foreign_format(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1").unwrap().contains("Excel"));
        assert_eq!(foreign_format(b"sku,price"), None);
    }
}
