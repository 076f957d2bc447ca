//! Reads a feed file record by record, in bounded memory, into typed products and row problems.

use std::borrow::Cow;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use csv::ByteRecord;
use rust_decimal::Decimal;
use xxhash_rust::xxh3::Xxh3;

use super::columns::{ColumnMap, MappingError, Role};
use super::decode::{self, FeedEncoding};
use super::dialect::{self, Dialect};
use super::value;
use super::{FeedError, FeedProfile, FeedRecord, RowProblem, Severity};
use crate::gtin::{Gtin14, GtinError};
use crate::product::{distributor_product_id, DistributorProduct, IdMap};

/// Rows searched for the header when a file starts with title lines.
const HEADER_SEARCH_ROWS: usize = 20;

/// Longest accepted value per field, in characters; longer values reject the row.
fn max_chars(role: Option<Role>) -> usize {
    match role {
        Some(Role::Sku | Role::Mpn | Role::Brand | Role::Gtin) => 255,
        Some(Role::Title | Role::Category) => 1_000,
        _ => 65_536,
    }
}

/// The smallest of the limits: shorter values need no further check.
const MIN_LIMIT: usize = 255;

/// A file's fingerprint as `sync_control` and `inbox_files` keep it: content hash and size.
pub fn fingerprint_text(hash: u128, bytes: u64) -> String {
    format!("xxh3:{hash:032x}:{bytes}")
}

/// A feed file being read; iterate it for `FeedRecord`s.
pub struct FeedReader {
    path: PathBuf,
    csv: csv::Reader<Box<dyn Read + Send>>,
    distributor: String,
    map: ColumnMap,
    dialect: Dialect,
    encoding: FeedEncoding,
    gzipped: bool,
    header_line: u64,
    /// Why the header cannot be used; every data row is then rejected with this reason, so that
    /// no row is lost and each can be retried once the mapping is fixed.
    mapping_error: Option<MappingError>,
    /// Rows read while looking for the header, not yet handed out.
    pending: std::collections::VecDeque<ByteRecord>,
    /// Line of the first occurrence of each SKU, to flag duplicates.
    seen: IdMap<u64>,
    day_first: Option<bool>,
    record: ByteRecord,
    bytes_read: Arc<AtomicU64>,
    content_hash: Arc<Mutex<Xxh3>>,
}

impl FeedReader {
    /// Opens a feed, detects its encoding and dialect and maps its header row.
    pub fn open(path: &Path, profile: &FeedProfile) -> Result<FeedReader, FeedError> {
        let decoded = decode::open(path)?;
        if decoded.sample.trim().is_empty() {
            return Err(FeedError::Empty { path: path.to_path_buf() });
        }
        let dialect = dialect::sniff(&decoded.sample);
        let mut csv = csv::ReaderBuilder::new()
            .delimiter(dialect.delimiter)
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(256 * 1024)
            .from_reader(decoded.text);
        let header = find_header(&mut csv, path, profile, decoded.encoding)?;
        Ok(FeedReader {
            path: path.to_path_buf(),
            csv,
            distributor: profile.distributor.clone(),
            map: header.map,
            dialect,
            encoding: decoded.encoding,
            gzipped: decoded.gzipped,
            header_line: header.line,
            mapping_error: header.error,
            pending: header.rest.into(),
            seen: IdMap::default(),
            day_first: None,
            record: ByteRecord::new(),
            bytes_read: decoded.bytes_read,
            content_hash: decoded.content_hash,
        })
    }

    pub fn column_map(&self) -> &ColumnMap {
        &self.map
    }

    /// Why the header row could not be mapped, when it could not.
    pub fn mapping_error(&self) -> Option<&MappingError> {
        self.mapping_error.as_ref()
    }

    /// A one-line account of what was detected, for summaries and logs.
    pub fn detected(&self) -> String {
        let delim = match self.dialect.delimiter {
            b'\t' => "tab".to_string(),
            d => format!("'{}'", d as char),
        };
        format!(
            "{}{}, delimiter {delim}, decimal {}, header on line {}",
            self.encoding.name(),
            if self.gzipped { " (gzip)" } else { "" },
            if self.dialect.decimal_comma { "comma" } else { "point" },
            self.header_line
        )
    }

    /// Bytes of the file on disk read so far (compressed bytes for a gzipped file).
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read.load(Ordering::Relaxed)
    }

    /// `xxh3:<hash>:<bytes>` of the file on disk; complete once the reader is exhausted.
    pub fn fingerprint(&self) -> String {
        let hash = self.content_hash.lock().expect("hash lock is never poisoned").digest128();
        fingerprint_text(hash, self.bytes_read.load(Ordering::Relaxed))
    }

    fn next_record(&mut self) -> Option<Result<FeedRecord, FeedError>> {
        loop {
            if let Some(record) = self.pending.pop_front() {
                self.record = record;
            } else {
                match self.csv.read_byte_record(&mut self.record) {
                    Ok(false) => return None,
                    Ok(true) => {}
                    Err(e) => return Some(Err(csv_error(&self.path, e))),
                }
            }
            if self.record.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
                continue;
            }
            let line = self.record.position().map_or(0, |p| p.line());
            let reached_eof = self.pending.is_empty() && self.csv.is_done();
            return Some(Ok(self.judge(line, reached_eof)));
        }
    }

    /// Turns the current record into a product (with warnings) or a rejection.
    fn judge(&mut self, line: u64, reached_eof: bool) -> FeedRecord {
        // The record is moved out so that fields can borrow it while the reader is updated.
        let record = std::mem::take(&mut self.record);
        let judged = self.judge_record(&record, line, reached_eof);
        self.record = record;
        judged
    }

    fn judge_record(&mut self, record: &ByteRecord, line: u64, reached_eof: bool) -> FeedRecord {
        let mut warnings = Vec::new();
        let (fields, utf8_fallback) = decode_fields(record, self.encoding);
        let sku = self.cell(&fields, Role::Sku).map(str::to_string);
        if self.day_first.is_none() {
            if let Some(raw) = self.cell(&fields, Role::UpdatedAt) {
                self.day_first = Some(slash_dates_day_first(raw, self.dialect.decimal_comma));
            }
        }
        let map = &self.map;
        // The raw row is copied only when something is wrong with it.
        let problem = |severity, field: Option<String>, message: String| RowProblem {
            severity,
            line,
            sku: sku.clone(),
            field,
            message,
            raw: fields.iter().enumerate().map(|(i, v)| (map.header(i), v.to_string())).collect(),
        };
        if let Some(e) = &self.mapping_error {
            return FeedRecord::Rejected(problem(Severity::Rejected, None, e.to_string()));
        }
        if utf8_fallback {
            warnings.push(problem(
                Severity::Warning,
                None,
                "the line is not valid UTF-8 although the file is; read it as Windows-1252".into(),
            ));
        }
        if let Some((column, message)) = self.unreadable_field(&fields, reached_eof) {
            return FeedRecord::Rejected(problem(Severity::Rejected, Some(self.map.header(column)), message));
        }
        let Some(sku) = sku.clone() else {
            let header = self.map.header(self.map.column(Role::Sku).expect("mapped"));
            return FeedRecord::Rejected(problem(
                Severity::Rejected,
                Some(header),
                "no SKU: the row cannot be identified".into(),
            ));
        };
        if fields.len() > self.map.headers.len() {
            warnings.push(problem(
                Severity::Warning,
                None,
                format!(
                    "the row has {} fields but the header has {}; the extra values are kept as attributes",
                    fields.len(),
                    self.map.headers.len()
                ),
            ));
        }
        let typed = match self.type_fields(&fields, &mut warnings, &problem) {
            Ok(t) => t,
            Err(rejection) => return FeedRecord::Rejected(rejection),
        };
        let id = distributor_product_id(&self.distributor, &sku);
        let supersedes_earlier_line = match self.seen.insert(id, line) {
            Some(earlier) => {
                warnings.push(problem(
                    Severity::Warning,
                    Some(self.map.header(self.map.column(Role::Sku).expect("mapped"))),
                    format!("SKU {sku:?} also appears on line {earlier}; this later row wins"),
                ));
                true
            }
            None => false,
        };
        let product = DistributorProduct {
            id,
            sku,
            gtin: typed.gtin,
            mpn: self.text(&fields, Role::Mpn),
            brand: self.text(&fields, Role::Brand),
            title: self.text(&fields, Role::Title),
            description: self.text(&fields, Role::Description),
            price: typed.price,
            cost: typed.cost,
            quantity: typed.quantity,
            category: self.text(&fields, Role::Category),
            source_updated_at: typed.updated_at,
            attributes_json: self.attributes_json(&fields),
            active: typed.active,
            content_hash: String::new(),
            line,
            supersedes_earlier_line,
        }
        .seal();
        FeedRecord::Product(product, warnings)
    }

    /// A field that no store can take as it is: the column and the reason.
    fn unreadable_field(&self, fields: &[Cow<str>], reached_eof: bool) -> Option<(usize, String)> {
        let multiline = fields.iter().position(|f| f.contains('\n'));
        if let Some(i) = multiline.filter(|_| reached_eof && fields.len() < self.map.headers.len()) {
            let message =
                "a quoted field is never closed: the rest of the file was read as one value; add the missing quote";
            return Some((i, message.into()));
        }
        if let Some(i) = fields.iter().position(|f| f.contains('\0')) {
            return Some((i, "contains a NUL byte (\\0), which no SQL store accepts; the file may be damaged".into()));
        }
        let (i, len) = self.too_long(fields)?;
        Some((i, format!("value is {len} characters long; the limit is {}", max_chars(self.role_of(i)))))
    }

    fn type_fields(
        &self,
        fields: &[Cow<str>],
        warnings: &mut Vec<RowProblem>,
        problem: &dyn Fn(Severity, Option<String>, String) -> RowProblem,
    ) -> Result<TypedFields, RowProblem> {
        let header = |role: Role| Some(self.map.header(self.map.column(role).expect("cell exists")));
        let decimal_comma = self.dialect.decimal_comma;
        let money = |role: Role| -> Result<Option<Decimal>, RowProblem> {
            let Some(raw) = self.cell(fields, role) else {
                return Ok(None);
            };
            let amount =
                value::parse_decimal(raw, decimal_comma).map_err(|m| problem(Severity::Rejected, header(role), m))?;
            if amount.is_sign_negative() && !amount.is_zero() {
                return Err(problem(Severity::Rejected, header(role), format!("{raw:?} is negative")));
            }
            Ok(Some(amount))
        };
        let price = money(Role::Price)?;
        let cost = money(Role::Cost)?;
        let quantity = match self.cell(fields, Role::Quantity) {
            None => None,
            Some(raw) => {
                let q = value::parse_integer(raw, decimal_comma)
                    .map_err(|m| problem(Severity::Rejected, header(Role::Quantity), m))?;
                if q < 0 {
                    warnings.push(problem(
                        Severity::Warning,
                        header(Role::Quantity),
                        format!("quantity {q} is negative; stored as 0"),
                    ));
                }
                Some(q.max(0))
            }
        };
        let gtin = match self.cell(fields, Role::Gtin) {
            None => None,
            Some(raw) => match Gtin14::parse(raw) {
                Ok(g) => Some(g.into_string()),
                Err((err, kept)) => {
                    let note = match (&err, &kept) {
                        (GtinError::BadCheckDigit { .. }, Some(_)) => "; kept as given",
                        _ => "; stored without a GTIN",
                    };
                    warnings.push(problem(Severity::Warning, header(Role::Gtin), format!("{err}{note}")));
                    kept.map(Gtin14::into_string)
                }
            },
        };
        let updated_at = match self.cell(fields, Role::UpdatedAt) {
            None => None,
            Some(raw) => Some(
                value::parse_timestamp(raw, self.day_first.unwrap_or(decimal_comma))
                    .map_err(|m| problem(Severity::Rejected, header(Role::UpdatedAt), m))?,
            ),
        };
        let active = match self.cell(fields, Role::Active) {
            None => true,
            Some(raw) => value::parse_bool(raw).map_err(|m| problem(Severity::Rejected, header(Role::Active), m))?,
        };
        Ok(TypedFields { price, cost, quantity, gtin, updated_at, active })
    }

    fn cell<'a>(&self, fields: &'a [Cow<'a, str>], role: Role) -> Option<&'a str> {
        let v = fields.get(self.map.column(role)?)?.trim();
        (!v.is_empty()).then_some(v)
    }

    fn text(&self, fields: &[Cow<str>], role: Role) -> Option<String> {
        self.cell(fields, role).map(str::to_string)
    }

    fn role_of(&self, index: usize) -> Option<Role> {
        Role::ALL.into_iter().find(|&r| self.map.column(r) == Some(index))
    }

    fn too_long(&self, fields: &[Cow<str>]) -> Option<(usize, usize)> {
        fields.iter().enumerate().find_map(|(i, f)| {
            if f.len() <= MIN_LIMIT {
                return None;
            }
            let limit = max_chars(self.role_of(i));
            // Byte length bounds character length from above: count chars only when needed.
            (f.len() > limit).then(|| f.chars().count()).filter(|&n| n > limit).map(|n| (i, n))
        })
    }

    /// Unmapped columns and values beyond the header, as a JSON object in file order.
    fn attributes_json(&self, fields: &[Cow<str>]) -> String {
        if self.map.attributes.is_empty() && fields.len() <= self.map.headers.len() {
            return "{}".to_string();
        }
        let mut obj = serde_json::Map::new();
        let extra = self.map.headers.len()..fields.len();
        for i in self.map.attributes.iter().copied().chain(extra) {
            if let Some(v) = fields.get(i).map(|v| v.trim()).filter(|v| !v.is_empty()) {
                obj.insert(self.map.header(i), serde_json::Value::String(v.to_string()));
            }
        }
        serde_json::Value::Object(obj).to_string()
    }
}

impl Iterator for FeedReader {
    type Item = Result<FeedRecord, FeedError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_record()
    }
}

struct TypedFields {
    price: Option<Decimal>,
    cost: Option<Decimal>,
    quantity: Option<i64>,
    gtin: Option<String>,
    updated_at: Option<chrono::DateTime<chrono::Utc>>,
    active: bool,
}

/// Slash dates are day-first when the first value proves it (`31/03/2024`) or, lacking proof, in
/// files that write decimal commas (European exports).
fn slash_dates_day_first(sample: &str, decimal_comma: bool) -> bool {
    let first: Option<u32> = sample.split('/').next().and_then(|d| d.trim().parse().ok());
    match first {
        Some(d) if d > 12 && sample.contains('/') => true,
        _ => decimal_comma,
    }
}

/// The header row, found among the first rows of a file.
struct Header {
    line: u64,
    map: ColumnMap,
    error: Option<MappingError>,
    /// Rows read after the header during the search.
    rest: Vec<ByteRecord>,
}

/// Reads rows until one maps a SKU column, so that title lines above the header are skipped. When
/// none does, the first row is taken as the header and the mapping error is kept.
fn find_header(
    csv: &mut csv::Reader<Box<dyn Read + Send>>,
    path: &Path,
    profile: &FeedProfile,
    encoding: FeedEncoding,
) -> Result<Header, FeedError> {
    let mut rows = Vec::new();
    let mut record = ByteRecord::new();
    while rows.len() < HEADER_SEARCH_ROWS && csv.read_byte_record(&mut record).map_err(|e| csv_error(path, e))? {
        if record.iter().any(|f| !f.iter().all(u8::is_ascii_whitespace)) {
            rows.push(record.clone());
        }
    }
    let line = |r: &ByteRecord| r.position().map_or(0, |p| p.line());
    let mut first_failure = None;
    for (i, row) in rows.iter().enumerate() {
        let headers: Vec<String> = decode_fields(row, encoding).0.into_iter().map(Cow::into_owned).collect();
        match ColumnMap::build(&headers, &profile.columns) {
            Ok(map) => return Ok(Header { line: line(row), map, error: None, rest: rows.split_off(i + 1) }),
            Err(e) => {
                first_failure.get_or_insert((i, headers, e));
            }
        }
    }
    let Some((i, headers, error)) = first_failure else {
        return Err(FeedError::Empty { path: path.to_path_buf() });
    };
    Ok(Header {
        line: line(&rows[i]),
        map: ColumnMap::unmapped(&headers),
        error: Some(error),
        rest: rows.split_off(i + 1),
    })
}

/// Fields as text, borrowed from the record when it is UTF-8; the flag says a UTF-8 file's record
/// needed the Windows-1252 fallback.
fn decode_fields(record: &ByteRecord, encoding: FeedEncoding) -> (Vec<Cow<'_, str>>, bool) {
    let mut fallback = false;
    let fields = record
        .iter()
        .map(|f| match std::str::from_utf8(f) {
            Ok(s) => Cow::Borrowed(s),
            Err(_) => {
                // Transcoded encodings always yield UTF-8; only raw UTF-8 files can get here.
                fallback = matches!(encoding, FeedEncoding::Utf8 | FeedEncoding::Utf8Bom);
                Cow::Owned(decode::windows_1252(f))
            }
        })
        .collect();
    (fields, fallback)
}

fn csv_error(path: &Path, e: csv::Error) -> FeedError {
    let line = e.position().map(|p| p.line()).unwrap_or(0);
    match e.into_kind() {
        csv::ErrorKind::Io(source) => FeedError::Io { path: path.to_path_buf(), source },
        other => FeedError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, format!("line {line}: {other:?}")),
        },
    }
}
