//! The Airtable simulator over real HTTP: what catsync's Airtable client will meet, checked with
//! reqwest against `AirtableSim::serve` on a free port — auth errors, listing and offsets, the POST
//! form, URL length, cell rules, computed fields and modified times, formulas, rate limits, faults,
//! the Date header and the request log. A small fixture keeps each case exact; the bundled sample
//! base is checked for completeness.

use std::time::{Duration, Instant};

use catsync::dev::airtable_sim::{AirtableSim, Fault, SimConfig, SimServer, SAMPLE_BASE};
use catsync::gtin::Gtin14;
use serde_json::{json, Map, Value};

const TOKEN: &str = "patTESTTOKEN00001.1111111111111111111111111111111111111111111111111111111111111111";
const SCHEMA_ONLY: &str = "patSCHEMAONLY0001.2222222222222222222222222222222222222222222222222222222222222222";
const OTHER_BASE_ONLY: &str = "patOTHERBASE00001.3333333333333333333333333333333333333333333333333333333333333333";
const BASE: &str = "appTESTBASE000001";
const READ: &[&str] = &["data.records:read", "schema.bases:read"];

/// A test id: the prefix and a tag padded with zeros to 14 characters.
fn id(prefix: &str, tag: &str) -> String {
    format!("{prefix}{tag:0<14}")
}

fn fld(tag: &str) -> String {
    id("fld", tag)
}

fn rec(tag: &str) -> String {
    id("rec", tag)
}

/// Two tables: Brands and Products, linked both ways, with a lookup, a count, computed times,
/// attachments, a select, a stored formula with special values, and empty cells.
fn fixture() -> Value {
    let time_result = json!({"type": "dateTime", "options": {"dateFormat": {"name": "iso", "format": "YYYY-MM-DD"},
        "timeFormat": {"name": "24hour", "format": "HH:mm"}, "timeZone": "utc"}});
    json!({
        "id": BASE, "name": "Test catalog",
        "tables": [
            {"id": id("tbl", "BRANDS"), "name": "Brands", "primaryFieldId": fld("BNAME"),
             "fields": [
                {"id": fld("BNAME"), "name": "Name", "type": "singleLineText"},
                {"id": fld("BPRODUCTS"), "name": "Products", "type": "multipleRecordLinks",
                 "options": {"linkedTableId": id("tbl", "PRODUCTS"), "isReversed": false,
                             "prefersSingleRecordLink": false, "inverseLinkFieldId": fld("BRAND")}},
                {"id": fld("BUPDATED"), "name": "Updated", "type": "lastModifiedTime",
                 "options": {"isValid": true, "referencedFieldIds": [], "result": time_result}}
             ],
             "views": [{"id": id("viw", "BGRID"), "name": "Grid view", "type": "grid"}],
             "records": [
                {"id": rec("B1"), "createdTime": "2020-01-01T09:00:00.000Z", "fields": {"Name": "Bosch"}},
                {"id": rec("B2"), "createdTime": "2020-01-01T09:00:01.000Z", "fields": {"Name": "Makita"}}
             ]},
            {"id": id("tbl", "PRODUCTS"), "name": "Products", "primaryFieldId": fld("NAME"),
             "fields": [
                {"id": fld("NAME"), "name": "Name", "type": "singleLineText"},
                {"id": fld("SKU"), "name": "SKU", "type": "singleLineText"},
                {"id": fld("PRICE"), "name": "Price", "type": "currency", "options": {"precision": 2, "symbol": "$"}},
                {"id": fld("NOTES"), "name": "Notes", "type": "multilineText"},
                {"id": fld("INSTOCK"), "name": "In stock", "type": "checkbox", "options": {"icon": "check", "color": "greenBright"}},
                {"id": fld("TAGS"), "name": "Tags", "type": "multipleSelects",
                 "options": {"choices": [{"id": id("sel", "TOOLS"), "name": "Power tools"}]}},
                {"id": fld("STATUS"), "name": "Status", "type": "singleSelect",
                 "options": {"choices": [{"id": id("sel", "ACTIVE"), "name": "Active"}, {"id": id("sel", "ARCH"), "name": "Archived"},
                                         {"id": id("sel", "DRAFT"), "name": "Draft"}]}},
                {"id": fld("BRAND"), "name": "Brand", "type": "multipleRecordLinks",
                 "options": {"linkedTableId": id("tbl", "BRANDS"), "isReversed": false,
                             "prefersSingleRecordLink": true, "inverseLinkFieldId": fld("BPRODUCTS")}},
                {"id": fld("BRANDNAME"), "name": "Brand name", "type": "multipleLookupValues",
                 "options": {"isValid": true, "recordLinkFieldId": fld("BRAND"), "fieldIdInLinkedTable": fld("BNAME"),
                             "result": {"type": "singleLineText"}}},
                {"id": fld("BRANDCOUNT"), "name": "Brand count", "type": "count",
                 "options": {"isValid": true, "recordLinkFieldId": fld("BRAND")}},
                {"id": fld("PHOTOS"), "name": "Photos", "type": "multipleAttachments", "options": {"isReversed": false}},
                {"id": fld("SCORE"), "name": "Score", "type": "formula",
                 "options": {"isValid": true, "formula": "1", "referencedFieldIds": [], "result": {"type": "number"}}},
                {"id": fld("CREATED"), "name": "Created", "type": "createdTime", "options": {"result": time_result}},
                {"id": fld("UPDATED"), "name": "Updated", "type": "lastModifiedTime",
                 "options": {"isValid": true, "referencedFieldIds": [], "result": time_result}}
             ],
             "views": [
                {"id": id("viw", "PGRID"), "name": "Grid view", "type": "grid"},
                {"id": id("viw", "PACTIVE"), "name": "Active", "type": "grid",
                 "filterByFormula": "{Status}='Active'", "sort": [{"field": "SKU", "direction": "desc"}]},
                {"id": id("viw", "PFORM"), "name": "Intake", "type": "form"}
             ],
             "records": [
                {"id": rec("P1"), "createdTime": "2020-01-20T10:02:11.000Z", "fields": {
                    "Name": "Cordless drill 12 V", "SKU": "DR-1200-BL", "Price": 129.9, "Notes": "two\nlines",
                    "In stock": true, "Tags": ["Power tools"], "Status": "Active", "Brand": [rec("B1")], "Score": 4.5,
                    "Photos": [{"id": id("att", "P1"), "filename": "drill.png", "size": 78505, "type": "image/png",
                                "width": 472, "height": 482, "thumbnails": {"small": {"width": 35, "height": 36}}}]}},
                {"id": rec("P2"), "createdTime": "2020-01-20T10:03:00.000Z", "fields": {
                    "Name": "Guest's \"drill\"", "SKU": "DR-1800-GR", "Price": 0, "Notes": "", "In stock": false,
                    "Tags": [], "Status": "Archived", "Brand": [rec("B2")], "Score": {"specialValue": "NaN"}}},
                {"id": rec("P3"), "createdTime": "2020-01-20T10:04:00.000Z", "fields": {
                    "Name": "Hammer drill", "SKU": "HD-1", "Status": "Active", "Brand": [rec("B1")],
                    "Score": {"error": "#ERROR!"}}},
                {"id": rec("P4"), "createdTime": "2020-01-20T10:05:00.000Z", "fields": {
                    "Name": "Circular saw", "SKU": "SAW-1", "Price": 49, "Status": "Active"}},
                {"id": rec("P5"), "createdTime": "2020-01-20T10:06:00.000Z", "modifiedTime": "2020-02-01T08:00:00.000Z",
                 "fields": {"Name": "Sander", "SKU": "SND-1", "Price": 89, "Status": "Draft", "Brand": [rec("B2")]}}
             ]}
        ]
    })
}

/// Limits high enough that only the rate-limit tests meet them.
fn relaxed() -> SimConfig {
    SimConfig { rate_per_base: 10_000, rate_per_token: 10_000, ..SimConfig::default() }
}

struct Harness {
    sim: AirtableSim,
    server: SimServer,
    http: reqwest::Client,
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
    json: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The ids of the records of a listing.
    fn ids(&self) -> Vec<String> {
        self.json["records"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect()
    }

    fn offset(&self) -> Option<&str> {
        self.json.get("offset").and_then(Value::as_str)
    }

    fn record(&self, id: &str) -> &Value {
        let records = self.json["records"].as_array().unwrap();
        records.iter().find(|r| r["id"] == id).unwrap_or_else(|| panic!("{id} not in {}", self.text))
    }
}

impl Harness {
    async fn start(config: SimConfig) -> Harness {
        let sim = AirtableSim::new(config);
        assert_eq!(sim.load_base(&fixture()).unwrap(), BASE);
        sim.add_token(TOKEN, READ, None);
        sim.add_token(SCHEMA_ONLY, &["schema.bases:read"], None);
        sim.add_token(OTHER_BASE_ONLY, READ, Some(&["appOTHERBASE00001"]));
        let server = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
        Harness { sim, server, http: reqwest::Client::new() }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer { status, headers, text, json }
    }

    async fn get_as(&self, path_and_query: &str, token: Option<&str>) -> Answer {
        let mut request = self.http.get(format!("{}{path_and_query}", self.server.url()));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        self.send(request).await
    }

    async fn get(&self, path_and_query: &str) -> Answer {
        self.get_as(path_and_query, Some(TOKEN)).await
    }

    async fn post(&self, path_and_query: &str, body: Value) -> Answer {
        let url = format!("{}{path_and_query}", self.server.url());
        self.send(self.http.post(url).bearer_auth(TOKEN).json(&body)).await
    }

    /// A listing of Products with this (already encoded) query.
    async fn products(&self, query: &str) -> Answer {
        self.get(&format!("/v0/{BASE}/Products?{query}")).await
    }

    /// One record's fields, read over HTTP.
    async fn fields(&self, table: &str, record: &str) -> Value {
        let answer = self.get(&format!("/v0/{BASE}/{table}/{record}")).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.json["fields"].clone()
    }
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn fields(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn error(kind: &str, message: &str) -> Value {
    json!({"error": {"type": kind, "message": message}})
}

const PERMISSIONS: &str = "Invalid permissions, or the requested model was not found. Check that both your user and \
your token have the required permissions, and that the model names and/or ids are correct.";

#[tokio::test]
async fn authentication_and_permission_errors_have_airtable_bodies() {
    let h = Harness::start(relaxed()).await;
    let auth = error("AUTHENTICATION_REQUIRED", "Authentication required");
    let missing = h.get_as(&format!("/v0/{BASE}/Products"), None).await;
    assert_eq!((missing.status, &missing.json), (401, &auth));
    let unknown = h.get_as(&format!("/v0/{BASE}/Products"), Some("patNOSUCHTOKEN001.00")).await;
    assert_eq!((unknown.status, &unknown.json), (401, &auth));

    let forbidden = error("INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND", PERMISSIONS);
    for (path, token) in [
        (format!("/v0/{BASE}/Products"), OTHER_BASE_ONLY),
        (format!("/v0/{BASE}/Products"), SCHEMA_ONLY),
        (format!("/v0/{BASE}/No%20such%20table"), TOKEN),
        ("/v0/appNOSUCHBASE0001/Products".to_string(), TOKEN),
        (format!("/v0/meta/bases/{BASE}/tables"), OTHER_BASE_ONLY),
    ] {
        let answer = h.get_as(&path, Some(token)).await;
        assert_eq!((answer.status, &answer.json), (403, &forbidden), "{path}");
    }
    let bases = h.get_as("/v0/meta/bases", Some(OTHER_BASE_ONLY)).await;
    assert_eq!(bases.json, json!({"bases": []}));
    let whoami = h.get_as("/v0/meta/whoami", Some(SCHEMA_ONLY)).await;
    assert_eq!(whoami.status, 200);
    assert!(whoami.json["id"].as_str().unwrap().starts_with("usr"));
}

#[tokio::test]
async fn unknown_routes_records_and_table_path_forms() {
    let h = Harness::start(relaxed()).await;
    for path in ["/v0/nope", "/v1/meta/bases", "/v0/meta/bases/junk/tables", &format!("/v0/{BASE}/Products/a/b")] {
        let answer = h.get(path).await;
        assert_eq!((answer.status, &answer.json), (404, &json!({"error": "NOT_FOUND"})), "{path}");
    }
    let missing = h.get(&format!("/v0/{BASE}/Products/{}", rec("NOPE"))).await;
    assert_eq!((missing.status, &missing.json), (404, &error("MODEL_ID_NOT_FOUND", "Record not found")));

    let by_id = h.get(&format!("/v0/{BASE}/{}/{}", id("tbl", "PRODUCTS"), rec("P1"))).await;
    assert_eq!(by_id.json["id"], rec("P1"));
    assert_eq!(by_id.json["createdTime"], "2020-01-20T10:02:11.000Z");
    assert_eq!(by_id.json["fields"]["Name"], "Cordless drill 12 V");
    // A record of another table of the base is found through any table of it.
    let fallback = h.get(&format!("/v0/{BASE}/Products/{}", rec("B1"))).await;
    assert_eq!(fallback.json["fields"]["Name"], "Bosch");
    // A table name with a space, encoded as one path segment, and `+` as a space in the query.
    h.sim.add_field(BASE, "Products", json!({"name": "x", "type": "singleLineText"})).unwrap();
    h.sim.create_record(BASE, "Brands", fields(json!({"Name": "Milwaukee"}))).unwrap();
    h.sim.add_field(BASE, "Brands", json!({"name": "Home country", "type": "singleLineText"})).unwrap();
    let encoded = h.get(&format!("/v0/{BASE}/Brands?fields%5B%5D=Home+country&fields%5B%5D=Name")).await;
    assert_eq!(encoded.status, 200, "{}", encoded.text);
    assert_eq!(encoded.json["records"].as_array().unwrap().len(), 3);
    let by_id_only =
        h.get(&format!("/v0/{BASE}/{}/{}?returnFieldsByFieldId=true", id("tbl", "BRANDS"), rec("B1"))).await;
    assert_eq!(by_id_only.json["fields"][fld("BNAME")], "Bosch");
    let bad_param = h.get(&format!("/v0/{BASE}/Products/{}?pageSize=3", rec("P1"))).await;
    assert_eq!(bad_param.status, 422);
}

#[tokio::test]
async fn pages_offsets_and_iterators() {
    let h = Harness::start(SimConfig { iterator_idle: Duration::from_millis(500), ..relaxed() }).await;
    let first = h.products("pageSize=2").await;
    assert_eq!(first.ids(), [rec("P1"), rec("P2")]);
    let offset = first.offset().unwrap().to_string();
    let (itr, last) = offset.split_once('/').unwrap();
    assert!(itr.starts_with("itr") && itr.len() == 17 && itr[3..].chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(last, rec("P2"));

    let second = h.products(&format!("pageSize=2&offset={}", enc(&offset))).await;
    assert_eq!(second.ids(), [rec("P3"), rec("P4")]);
    // Repeating an offset repeats its page (a retried request is safe).
    assert_eq!(h.products(&format!("pageSize=2&offset={}", enc(&offset))).await.ids(), second.ids());
    let third = h.products(&format!("pageSize=2&offset={}", enc(second.offset().unwrap()))).await;
    assert_eq!(third.ids(), [rec("P5")]);
    assert_eq!(third.offset(), None);

    let empty_offset = h.products("offset=&pageSize=2").await;
    assert_eq!(empty_offset.ids(), first.ids());
    let all = h.products("").await;
    assert_eq!(all.ids().len(), 5);
    assert!(all.json.get("offset").is_none());

    let capped = h.products("pageSize=2&maxRecords=3").await;
    let rest = h.products(&format!("pageSize=2&maxRecords=3&offset={}", enc(capped.offset().unwrap()))).await;
    assert_eq!(rest.ids(), [rec("P3")]);
    assert_eq!(rest.offset(), None);

    let live = h.products("pageSize=1").await.offset().unwrap().split_once('/').unwrap().0.to_string();
    for garbage in [rec("P2"), "itrABC/recDEF".into(), "42".into(), format!("{live}/{}", rec("NOPE"))] {
        let answer = h.products(&format!("offset={}", enc(&garbage))).await;
        let expected = error("INVALID_OFFSET_VALUE", &format!("The value of offset {garbage} is invalid"));
        assert_eq!((answer.status, &answer.json), (422, &expected), "{garbage}");
    }
    let invalid =
        error("INVALID_REQUEST_UNKNOWN", "Invalid request: parameter validation failed. Check your request data.");
    for query in
        ["pageSize=0", "pageSize=101", "pageSize=ten", "maxRecords=0", "sort%5B0%5D%5Bdirection%5D=desc", "bogus=1"]
    {
        let answer = h.products(query).await;
        assert_eq!((answer.status, &answer.json), (422, &invalid), "{query}");
    }

    let gone = json!({"error": {"type": "LIST_RECORDS_ITERATOR_NOT_AVAILABLE"}});
    let unknown_iterator = h.products(&format!("offset={}", enc(&format!("{}/{}", id("itr", "X"), rec("P2"))))).await;
    assert_eq!((unknown_iterator.status, &unknown_iterator.json), (422, &gone));
    let fresh = h.products("pageSize=1").await;
    h.sim.expire_iterators();
    let expired = h.products(&format!("pageSize=1&offset={}", enc(fresh.offset().unwrap()))).await;
    assert_eq!((expired.status, &expired.json), (422, &gone));
    let idle = h.products("pageSize=1").await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let too_late = h.products(&format!("pageSize=1&offset={}", enc(idle.offset().unwrap()))).await;
    assert_eq!((too_late.status, &too_late.json), (422, &gone));
}

#[tokio::test]
async fn a_listing_reads_a_snapshot_of_ids_with_current_values() {
    let h = Harness::start(relaxed()).await;
    let first = h.products("pageSize=2").await;
    h.sim.delete_record(BASE, "Products", &rec("P3")).unwrap();
    h.sim.update_record(BASE, "Products", &rec("P4"), fields(json!({"Name": "Circular saw 190 mm"}))).unwrap();
    let new = h.sim.create_record(BASE, "Products", fields(json!({"Name": "Jigsaw"}))).unwrap();
    let second = h.products(&format!("pageSize=2&offset={}", enc(first.offset().unwrap()))).await;
    assert_eq!(second.ids(), [rec("P4"), rec("P5")]);
    assert_eq!(second.record(&rec("P4"))["fields"]["Name"], "Circular saw 190 mm");
    assert_eq!(second.offset(), None);
    assert!(h.products("").await.ids().contains(&new));
}

#[tokio::test]
async fn post_list_records_takes_parameters_and_offset_in_the_body() {
    let h = Harness::start(relaxed()).await;
    let path = format!("/v0/{BASE}/Products/listRecords?timeZone=Europe%2FParis&userLocale=en-gb");
    let body = json!({"pageSize": 2, "fields": ["Name", fld("SKU")], "sort": [{"field": "SKU", "direction": "asc"}],
                      "filterByFormula": "{Status}!='Archived'", "offset": "", "returnFieldsByFieldId": false});
    let first = h.post(&path, body.clone()).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.ids(), [rec("P1"), rec("P3")]);
    assert_eq!(first.record(&rec("P1"))["fields"], json!({"Name": "Cordless drill 12 V", "SKU": "DR-1200-BL"}));
    let mut next = body.clone();
    next["offset"] = json!(first.offset().unwrap());
    let second = h.post(&path, next).await;
    assert_eq!(second.ids(), [rec("P4"), rec("P5")]);
    assert_eq!(second.offset(), None);

    let invalid = 422;
    let offset_in_query = h.post(&format!("/v0/{BASE}/Products/listRecords?offset=x"), json!({})).await;
    assert_eq!(offset_in_query.status, invalid);
    let zone_in_body = h.post(&format!("/v0/{BASE}/Products/listRecords"), json!({"timeZone": "utc"})).await;
    assert_eq!(zone_in_body.status, invalid);
    let string_format = h.post(&format!("/v0/{BASE}/Products/listRecords"), json!({"cellFormat": "string"})).await;
    assert_eq!(string_format.status, invalid);
    let bad_json = h
        .send(h.http.post(format!("{}/v0/{BASE}/Products/listRecords", h.server.url())).bearer_auth(TOKEN).body("{"))
        .await;
    assert_eq!(bad_json.status, 400);
}

#[tokio::test]
async fn urls_of_16000_characters_get_414_and_the_post_form_does_not() {
    let h = Harness::start(relaxed()).await;
    let mut ids: Vec<String> = (0..600).map(|i| id("rec", &format!("X{i}"))).collect();
    ids.push(rec("P2"));
    let formula = format!("OR({})", ids.iter().map(|i| format!("RECORD_ID()='{i}'")).collect::<Vec<_>>().join(","));
    let long = h.products(&format!("filterByFormula={}", enc(&formula))).await;
    assert_eq!(long.status, 414);
    let post = h.post(&format!("/v0/{BASE}/Products/listRecords"), json!({"filterByFormula": formula})).await;
    assert_eq!(post.ids(), [rec("P2")]);
    // Just under the limit is fine.
    let base_len = h.server.url().len() + format!("/v0/{BASE}/Products?filterByFormula=").len();
    let pad = 15_999 - base_len - enc("''=''&''").len();
    let under = h.products(&format!("filterByFormula={}", enc(&format!("''=''&'{}'", "a".repeat(pad))))).await;
    assert_eq!(under.status, 200, "{}", &under.text[..200.min(under.text.len())]);
}

#[tokio::test]
async fn fields_selection_and_keys_by_field_id() {
    let h = Harness::start(relaxed()).await;
    let named = h.products(&format!("fields%5B%5D=Name&fields%5B%5D={}", fld("PRICE"))).await;
    assert_eq!(named.record(&rec("P1"))["fields"], json!({"Name": "Cordless drill 12 V", "Price": 129.9}));
    for flag in ["true", "1"] {
        let by_id = h.products(&format!("fields%5B%5D=Name&returnFieldsByFieldId={flag}")).await;
        assert_eq!(by_id.record(&rec("P1"))["fields"], json!({ fld("NAME"): "Cordless drill 12 V" }));
    }
    // fields[] narrows cells, not records.
    let notes = h.products("fields%5B%5D=Notes").await;
    assert_eq!(notes.ids().len(), 5);
    assert_eq!(notes.record(&rec("P3"))["fields"], json!({}));
    let unknown = h.products("fields%5B%5D=Nope").await;
    assert_eq!((unknown.status, &unknown.json), (422, &error("UNKNOWN_FIELD_NAME", "Unknown field name: \"Nope\"")));
    let comments = h.products("recordMetadata%5B%5D=commentCount&maxRecords=1").await;
    assert_eq!(comments.json["records"][0]["commentCount"], 0);
    assert!(h.products("maxRecords=1").await.json["records"][0].get("commentCount").is_none());
}

#[tokio::test]
async fn empty_cells_are_left_out_and_zero_is_kept() {
    let h = Harness::start(relaxed()).await;
    let p2 = h.fields("Products", &rec("P2")).await;
    for absent in ["Notes", "In stock", "Tags", "Photos"] {
        assert!(p2.get(absent).is_none(), "{absent} in {p2}");
    }
    assert_eq!(p2["Price"], 0);
    assert_eq!(p2["Score"], json!({"specialValue": "NaN"}));
    assert_eq!(p2["Brand count"], 1);
    assert_eq!(h.fields("Products", &rec("P3")).await["Score"], json!({"error": "#ERROR!"}));
    let p4 = h.fields("Products", &rec("P4")).await;
    assert_eq!(p4["Brand count"], 0);
    assert!(p4.get("Brand").is_none() && p4.get("Brand name").is_none());
    assert_eq!(p4["Created"], "2020-01-20T10:05:00.000Z");
    assert_eq!(h.sim.record(BASE, "Products", &rec("P2")).unwrap(), p2);

    // Writing empty values clears; a checkbox set to false reads back as absent.
    h.sim
        .update_record(BASE, "Products", &rec("P1"), fields(json!({"In stock": false, "Notes": null, "Tags": []})))
        .unwrap();
    let p1 = h.fields("Products", &rec("P1")).await;
    assert!(p1.get("In stock").is_none() && p1.get("Notes").is_none() && p1.get("Tags").is_none(), "{p1}");

    let all_empty = h.sim.create_record(BASE, "Products", Map::new()).unwrap();
    let created = h.fields("Products", &all_empty).await;
    assert_eq!(created.as_object().unwrap().keys().collect::<Vec<_>>(), ["Brand count", "Created", "Updated"]);
}

#[tokio::test]
async fn attachments_get_fresh_urls_on_every_read() {
    let h = Harness::start(relaxed()).await;
    let a = h.fields("Products", &rec("P1")).await;
    let b = h.fields("Products", &rec("P1")).await;
    let (pa, pb) = (&a["Photos"][0], &b["Photos"][0]);
    assert_eq!(pa["id"], id("att", "P1"));
    assert_eq!(pa["filename"], "drill.png");
    assert!(pa["url"].as_str().unwrap().starts_with("https://"));
    assert_ne!(pa["url"], pb["url"]);
    assert_ne!(pa["thumbnails"]["small"]["url"], pb["thumbnails"]["small"]["url"]);
    assert_eq!(pa["thumbnails"]["small"]["width"], 35);
}

/// Ids of the records of `table` whose modified time is after `after`.
async fn modified_after(h: &Harness, table: &str, after: &str) -> Vec<String> {
    let formula = format!("IS_AFTER(LAST_MODIFIED_TIME(),DATETIME_PARSE('{after}'))");
    let answer = h.get(&format!("/v0/{BASE}/{table}?filterByFormula={}", enc(&formula))).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.ids()
}

#[tokio::test]
async fn lookups_follow_linked_records_without_moving_modified_times() {
    let h = Harness::start(relaxed()).await;
    let before = h.fields("Products", &rec("P1")).await;
    assert_eq!(before["Brand name"], json!(["Bosch"]));
    assert_eq!(before["Updated"], "2020-01-20T10:02:11.000Z");
    h.sim.update_record(BASE, "Brands", &rec("B1"), fields(json!({"Name": "Bosch Professional"}))).unwrap();
    let after = h.fields("Products", &rec("P1")).await;
    assert_eq!(after["Brand name"], json!(["Bosch Professional"]));
    assert_eq!(after["Updated"], before["Updated"]);
    assert_eq!(modified_after(&h, "Products", "2021-01-01T00:00:00.000Z").await, Vec::<String>::new());
    assert_eq!(modified_after(&h, "Brands", "2021-01-01T00:00:00.000Z").await, [rec("B1")]);
    // Stored computed values (formulas) change without moving the modified time either.
    h.sim.update_record(BASE, "Products", &rec("P1"), fields(json!({"Score": 5}))).unwrap();
    assert_eq!(h.fields("Products", &rec("P1")).await["Updated"], before["Updated"]);
    // Computed fields cannot be written.
    assert!(h.sim.update_record(BASE, "Products", &rec("P1"), fields(json!({"Brand name": ["x"]}))).is_err());
}

#[tokio::test]
async fn link_edits_move_both_sides() {
    let h = Harness::start(relaxed()).await;
    h.sim.update_record(BASE, "Products", &rec("P4"), fields(json!({"Brand": [rec("B2")]}))).unwrap();
    assert_eq!(modified_after(&h, "Products", "2021-01-01T00:00:00Z").await, [rec("P4")]);
    assert_eq!(modified_after(&h, "Brands", "2021-01-01T00:00:00Z").await, [rec("B2")]);
    assert_eq!(h.fields("Brands", &rec("B2")).await["Products"], json!([rec("P2"), rec("P5"), rec("P4")]));

    // Moving P1 from Bosch to Makita changes both brands; the record ids come back in the cell's order.
    h.sim.advance_clock(chrono::Duration::days(2));
    let later = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    h.sim.update_record(BASE, "Products", &rec("P1"), fields(json!({"Brand": [rec("B2")]}))).unwrap();
    assert_eq!(modified_after(&h, "Brands", &later).await, [rec("B1"), rec("B2")]);
    assert_eq!(h.fields("Brands", &rec("B1")).await["Products"], json!([rec("P3")]));
    assert_eq!(h.fields("Products", &rec("P1")).await["Brand name"], json!(["Makita"]));
    // Links to a deleted record disappear, and come back with it.
    h.sim.delete_record(BASE, "Brands", &rec("B2")).unwrap();
    assert!(h.fields("Products", &rec("P1")).await.get("Brand").is_none());
    h.sim.restore_record(BASE, "Brands", &rec("B2")).unwrap();
    assert_eq!(h.fields("Products", &rec("P1")).await["Brand"], json!([rec("B2")]));
}

#[tokio::test]
async fn deleted_records_leave_listings_and_restore_with_the_same_id() {
    let h = Harness::start(relaxed()).await;
    h.sim.delete_record(BASE, "Products", &rec("P2")).unwrap();
    assert!(!h.products("").await.ids().contains(&rec("P2")));
    assert!(!h.sim.record_ids(BASE, "Products").contains(&rec("P2")));
    assert_eq!(h.sim.record(BASE, "Products", &rec("P2")), None);
    let gone = h.get(&format!("/v0/{BASE}/Products/{}", rec("P2"))).await;
    assert_eq!((gone.status, &gone.json), (404, &error("MODEL_ID_NOT_FOUND", "Record not found")));
    h.sim.restore_record(BASE, "Products", &rec("P2")).unwrap();
    let back = h.get(&format!("/v0/{BASE}/Products/{}", rec("P2"))).await;
    assert_eq!(back.json["createdTime"], "2020-01-20T10:03:00.000Z");
    assert_eq!(h.sim.record_ids(BASE, "Products"), ["P1", "P2", "P3", "P4", "P5"].map(rec));
}

#[tokio::test]
async fn formula_filters_select_records() {
    let h = Harness::start(relaxed()).await;
    let filter = |f: &str| format!("filterByFormula={}", enc(f));
    let by_record_id = format!("OR(RECORD_ID()='{}', SKU='HD-1')", rec("P5"));
    let cases: &[(&str, &[&str])] = &[
        ("{Status}='Active'", &["P1", "P3", "P4"]),
        ("AND({Price}>50, NOT({Status}='Draft'))", &["P1"]),
        (r#"{Name}='Guest\'s "drill"'"#, &["P2"]),
        (r#"{Name}="Guest's \"drill\"""#, &["P2"]),
        ("{Notes}=''", &["P2", "P3", "P4", "P5"]),
        (&by_record_id, &["P3", "P5"]),
        ("{Brand name}='Makita'", &["P2", "P5"]),
        ("FIND('drill', LOWER({Name}))", &["P1", "P2", "P3"]),
        ("{In stock}", &["P1"]),
        ("{Score}", &["P1"]),
        ("IS_SAME(CREATED_TIME(), DATETIME_PARSE('2020-01-20T10:04:00.000Z'), 'second')", &["P3"]),
        ("IS_BEFORE({Created}, DATETIME_PARSE('2020-01-20T10:03:00'))", &["P1"]),
        // A date compared with a bare string is not a date comparison: every record passes.
        ("LAST_MODIFIED_TIME() > '2099-01-01T00:00:00.000Z'", &["P1", "P2", "P3", "P4", "P5"]),
    ];
    for (formula, expected) in cases {
        let answer = h.products(&filter(formula)).await;
        assert_eq!(answer.status, 200, "{formula}: {}", answer.text);
        assert_eq!(answer.ids(), expected.iter().map(|t| rec(t)).collect::<Vec<_>>(), "{formula}");
    }
    let unknown = h.products(&filter("AND({colour}='red', {Status}='Active')")).await;
    let expected =
        error("INVALID_FILTER_BY_FORMULA", "The formula for filtering records is invalid: Unknown field names: colour");
    assert_eq!((unknown.status, &unknown.json), (422, &expected));
    let syntax = h.products(&filter("AND({Status}='Active'")).await;
    let expected = error(
        "INVALID_FILTER_BY_FORMULA",
        "The formula for filtering records is invalid: Invalid formula. Please check your formula text.",
    );
    assert_eq!((syntax.status, &syntax.json), (422, &expected));
}

#[tokio::test]
async fn the_incremental_filter_includes_its_lower_bound_second() {
    let h = Harness::start(relaxed()).await;
    h.sim.advance_clock(chrono::Duration::days(1));
    h.sim.update_record(BASE, "Products", &rec("P3"), fields(json!({"Notes": "It's \"new\""}))).unwrap();
    let updated = h.fields("Products", &rec("P3")).await["Updated"].as_str().unwrap().to_string();
    assert!(updated.ends_with(".000Z"), "{updated}");
    let window = |from: &str| {
        format!(
            "AND(OR(IS_SAME(LAST_MODIFIED_TIME(),DATETIME_PARSE('{from}'),'second'),\
             IS_AFTER(LAST_MODIFIED_TIME(),DATETIME_PARSE('{from}'))),{{Notes}}='It\\'s \"new\"')"
        )
    };
    let same_second = updated.replace(".000Z", ".999Z");
    for from in [updated.as_str(), same_second.as_str(), "2021-01-01T00:00:00Z"] {
        let answer = h.products(&format!("filterByFormula={}", enc(&window(from)))).await;
        assert_eq!(answer.ids(), [rec("P3")], "{from}: {}", answer.text);
    }
    let next_second = chrono::DateTime::parse_from_rfc3339(&updated).unwrap() + chrono::Duration::seconds(1);
    let after = h.products(&format!("filterByFormula={}", enc(&window(&next_second.to_rfc3339())))).await;
    assert_eq!(after.ids(), Vec::<String>::new());
}

#[tokio::test]
async fn sorts_views_and_maximums() {
    let h = Harness::start(relaxed()).await;
    let by_price = h.products("sort%5B0%5D%5Bfield%5D=Price&sort%5B0%5D%5Bdirection%5D=desc").await;
    assert_eq!(by_price.ids(), ["P1", "P5", "P4", "P2", "P3"].map(rec));
    let two_keys =
        h.products("sort%5B0%5D%5Bfield%5D=Status&sort%5B1%5D%5Bfield%5D=SKU&sort%5B1%5D%5Bdirection%5D=desc").await;
    assert_eq!(two_keys.ids(), ["P4", "P3", "P1", "P2", "P5"].map(rec));
    for view in ["Active", &id("viw", "PACTIVE")] {
        let answer = h.products(&format!("view={}", enc(view))).await;
        assert_eq!(answer.ids(), ["P4", "P3", "P1"].map(rec), "{view}");
    }
    let view_and_filter = h.products(&format!("view=Active&filterByFormula={}", enc("{Price}>100"))).await;
    assert_eq!(view_and_filter.ids(), [rec("P1")]);
    let view_sorted_otherwise = h.products("view=Active&sort%5B0%5D%5Bfield%5D=SKU").await;
    assert_eq!(view_sorted_otherwise.ids(), ["P1", "P3", "P4"].map(rec));
    let unknown = h.products("view=Nope").await;
    assert_eq!((unknown.status, unknown.json["error"]["type"].as_str()), (422, Some("VIEW_NAME_NOT_FOUND")));
    let unknown_sort = h.products("sort%5B0%5D%5Bfield%5D=Nope").await;
    assert_eq!(unknown_sort.status, 422);
}

#[tokio::test]
async fn metadata_routes() {
    let h = Harness::start(relaxed()).await;
    h.sim.load_base(&serde_json::from_str(SAMPLE_BASE).unwrap()).unwrap();
    let bases = h.get("/v0/meta/bases").await;
    assert_eq!(
        bases.json,
        json!({"bases": [{"id": BASE, "name": "Test catalog", "permissionLevel": "create"},
                         {"id": "appCATALOG0000001", "name": "Product catalog", "permissionLevel": "create"}]})
    );
    assert_eq!(h.get("/v0/meta/bases?offset=").await.json, bases.json);
    assert_eq!(h.get("/v0/meta/bases?offset=junk").await.status, 422);

    let schema = h.get(&format!("/v0/meta/bases/{BASE}/tables")).await;
    let products = &schema.json["tables"][1];
    assert_eq!(products["primaryFieldId"], fld("NAME"));
    assert_eq!(products["fields"][8]["options"]["result"], json!({"type": "singleLineText"}));
    assert!(products["views"][0].get("visibleFieldIds").is_none());
    assert!(products["views"][1].get("filterByFormula").is_none(), "simulator-only keys stay private");
    for include in ["include=visibleFieldIds", "include%5B%5D=visibleFieldIds"] {
        let with = h.get(&format!("/v0/meta/bases/{BASE}/tables?{include}")).await;
        let views = &with.json["tables"][1]["views"];
        assert_eq!(views[0]["visibleFieldIds"].as_array().unwrap().len(), 14, "{include}");
        assert!(views[2].get("visibleFieldIds").is_none(), "grid views only");
    }
    assert_eq!(h.get(&format!("/v0/meta/bases/{BASE}/tables?include=everything")).await.status, 422);

    // Schema edits show in the metadata and the records.
    h.sim.rename_field(BASE, "Products", "SKU", "Article number").unwrap();
    let added = h
        .sim
        .add_field(
            BASE,
            "Products",
            json!({"name": "Supplier", "type": "multipleRecordLinks",
        "options": {"linkedTableId": id("tbl", "BRANDS"), "isReversed": false, "prefersSingleRecordLink": false}}),
        )
        .unwrap();
    h.sim.remove_field(BASE, "Products", "Notes").unwrap();
    let after = h.get(&format!("/v0/meta/bases/{BASE}/tables")).await;
    let names: Vec<&str> =
        after.json["tables"][1]["fields"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"Article number") && names.contains(&"Supplier") && !names.contains(&"Notes"));
    let inverse = after.json["tables"][0]["fields"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (inverse["name"].as_str(), &inverse["options"]["inverseLinkFieldId"]),
        (Some("Products 2"), &json!(added))
    );
    h.sim.update_record(BASE, "Products", &rec("P1"), fields(json!({"Supplier": [rec("B1")]}))).unwrap();
    let p1 = h.fields("Products", &rec("P1")).await;
    assert_eq!((&p1["Article number"], &p1["Supplier"]), (&json!("DR-1200-BL"), &json!([rec("B1")])));
    assert!(p1.get("Notes").is_none());
    assert!(h.sim.remove_field(BASE, "Products", "Name").is_err(), "the primary field stays");
}

#[tokio::test]
async fn rate_limits_answer_429_for_the_penalty() {
    let penalty = Duration::from_millis(300);
    let h = Harness::start(SimConfig { rate_per_base: 5, rate_per_token: 50, penalty, ..SimConfig::default() }).await;
    let limited = error("RATE_LIMIT_REACHED", "Rate limit exceeded. Please try again later");
    for _ in 0..5 {
        assert_eq!(h.products("maxRecords=1").await.status, 200);
    }
    let sixth = h.products("maxRecords=1").await;
    assert_eq!((sixth.status, &sixth.json), (429, &limited));
    assert!(sixth.header("retry-after").is_none() && !sixth.headers.keys().any(|k| k.as_str().contains("ratelimit")));
    assert_eq!(h.get(&format!("/v0/{BASE}/Products/{}", rec("P1"))).await.status, 429);
    // Metadata routes count against the token only, so they still work.
    assert_eq!(h.get(&format!("/v0/meta/bases/{BASE}/tables")).await.status, 200);
    tokio::time::sleep(penalty + Duration::from_millis(50)).await;
    assert_eq!(h.products("maxRecords=1").await.status, 200);

    // The token limit covers metadata routes and every base.
    let h = Harness::start(SimConfig { rate_per_base: 100, rate_per_token: 3, penalty, ..SimConfig::default() }).await;
    for _ in 0..3 {
        assert_eq!(h.get("/v0/meta/whoami").await.status, 200);
    }
    assert_eq!(h.get("/v0/meta/whoami").await.status, 429);
    assert_eq!(h.products("maxRecords=1").await.status, 429);
    assert_eq!(h.get_as("/v0/meta/whoami", Some(SCHEMA_ONLY)).await.status, 200, "another token is not limited");
    tokio::time::sleep(penalty + Duration::from_millis(50)).await;
    assert_eq!(h.products("maxRecords=1").await.status, 200);
}

#[tokio::test]
async fn an_injected_rate_limit_starts_the_penalty() {
    let penalty = Duration::from_millis(300);
    let h = Harness::start(SimConfig { penalty, ..relaxed() }).await;
    h.sim.inject(Fault::RateLimit(1));
    let started = Instant::now();
    assert_eq!(h.products("maxRecords=1").await.status, 429);
    assert_eq!(h.products("maxRecords=1").await.status, 429);
    tokio::time::sleep(penalty.saturating_sub(started.elapsed()) + Duration::from_millis(50)).await;
    assert_eq!(h.products("maxRecords=1").await.status, 200);
}

#[tokio::test]
async fn the_billing_switch_blocks_every_request() {
    let h = Harness::start(relaxed()).await;
    h.sim.set_billing_exhausted(true);
    for path in [format!("/v0/{BASE}/Products"), "/v0/meta/bases".to_string()] {
        let answer = h.get(&path).await;
        assert_eq!(
            (answer.status, answer.json["error"]["type"].as_str()),
            (429, Some("PUBLIC_API_BILLING_LIMIT_EXCEEDED"))
        );
    }
    h.sim.set_billing_exhausted(false);
    assert_eq!(h.products("").await.status, 200);
}

#[tokio::test]
async fn faults_are_met_in_order() {
    let h = Harness::start(relaxed()).await;
    h.sim.inject(Fault::Status { status: 503, retry_after: Some(7) });
    h.sim.inject(Fault::Status { status: 500, retry_after: None });
    h.sim.inject(Fault::Status { status: 502, retry_after: None });
    h.sim.inject(Fault::NonJson(504));
    h.sim.inject(Fault::Slow(Duration::from_millis(300)));
    h.sim.inject(Fault::Drop);

    let unavailable = h.products("").await;
    assert_eq!(unavailable.status, 503);
    assert_eq!(
        unavailable.json,
        error(
            "RETRIABLE_ERROR",
            "Server encountered an error while processing your request, and it is safe to retry the request"
        )
    );
    assert_eq!(unavailable.header("retry-after"), Some("7"));
    let server_error = h.products("").await;
    assert_eq!((server_error.status, server_error.json["error"]["type"].as_str()), (500, Some("SERVER_ERROR")));
    for status in [502, 504] {
        let proxy = h.products("").await;
        assert_eq!(proxy.status, status);
        assert!(proxy.json.is_null() && proxy.text.contains("<html>"), "{}", proxy.text);
        assert_eq!(proxy.header("content-type"), Some("text/html"));
    }
    let started = Instant::now();
    assert_eq!(h.products("").await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let dropped = h.http.get(format!("{}/v0/{BASE}/Products", h.server.url())).bearer_auth(TOKEN).send().await;
    let err = dropped.expect_err("a dropped connection is a transport error, not a response");
    assert!(err.status().is_none() && (err.is_request() || err.is_connect()), "{err:?}");
    assert_eq!(h.products("").await.status, 200, "the next request gets a fresh connection");
    assert_eq!(h.sim.requests().iter().filter(|r| r.status == 0).count(), 1);
}

#[tokio::test]
async fn every_response_has_a_date_from_the_simulated_clock_and_json_content_type() {
    let h = Harness::start(relaxed()).await;
    let now = h.products("maxRecords=1").await;
    let not_found = h.get("/v0/nope").await;
    for answer in [&now, &not_found] {
        assert_eq!(answer.header("content-type"), Some("application/json; charset=utf-8"));
        let date = answer.header("date").unwrap();
        assert!(date.ends_with(" GMT"), "{date}");
        let parsed = chrono::DateTime::parse_from_rfc2822(date).unwrap();
        assert!((parsed.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_seconds().abs() <= 5, "{date}");
    }
    h.sim.advance_clock(chrono::Duration::days(3));
    let later = h.products("maxRecords=1").await;
    let shift = chrono::DateTime::parse_from_rfc2822(later.header("date").unwrap()).unwrap()
        - chrono::DateTime::parse_from_rfc2822(now.header("date").unwrap()).unwrap();
    assert!((shift - chrono::Duration::days(3)).num_seconds().abs() <= 5, "{shift}");
    // Edits are stamped by the simulated clock, at whole seconds.
    let id = h.sim.create_record(BASE, "Products", fields(json!({"Name": "Planer"}))).unwrap();
    let created = h.fields("Products", &id).await["Created"].as_str().unwrap().to_string();
    let created = chrono::DateTime::parse_from_rfc3339(&created).unwrap();
    assert!(
        (created.with_timezone(&chrono::Utc) - chrono::Utc::now() - chrono::Duration::days(3)).num_seconds().abs() <= 5
    );
}

#[tokio::test]
async fn the_request_log_keeps_everything_but_the_token() {
    let h = Harness::start(relaxed()).await;
    let body = json!({"pageSize": 1});
    h.post(&format!("/v0/{BASE}/Products/listRecords?timeZone=Europe%2FParis"), body.clone()).await;
    h.get_as("/v0/meta/whoami", None).await;
    let log = h.sim.requests();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].method, "POST");
    assert_eq!(log[0].path, format!("/v0/{BASE}/Products/listRecords"));
    assert_eq!(log[0].query, "timeZone=Europe%2FParis");
    assert_eq!(serde_json::from_str::<Value>(&log[0].body).unwrap(), body);
    assert_eq!((log[0].status, log[1].status), (200, 401));
    assert!(log[1].at >= log[0].at);
    assert!(log[0].headers.iter().any(|(k, v)| k == "content-type" && v == "application/json"));
    assert!(!log[0].headers.iter().any(|(k, _)| k == "authorization"));
    assert!(!format!("{log:?}").contains("TESTTOKEN"));
    h.sim.clear_log();
    assert!(h.sim.requests().is_empty());
}

#[tokio::test]
async fn the_sample_base_uses_every_field_type_and_pages_through() {
    let sim = AirtableSim::new(relaxed());
    let base = sim.load_base(&serde_json::from_str(SAMPLE_BASE).unwrap()).unwrap();
    assert_eq!(base, "appCATALOG0000001");
    assert_eq!(sim.record_ids(&base, "Brands").len(), 21);
    assert_eq!(sim.record_ids(&base, "Suppliers").len(), 5);
    assert_eq!(sim.record_ids(&base, "Products").len(), 150);
    sim.add_token(TOKEN, READ, None);
    let server = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let http = reqwest::Client::new();
    let get = |path: String| {
        let request = http.get(format!("{}{path}", server.url())).bearer_auth(TOKEN);
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };

    let schema = get(format!("/v0/meta/bases/{base}/tables")).await;
    let products = schema["tables"].as_array().unwrap().iter().find(|t| t["name"] == "Products").unwrap();
    let types: Vec<&str> = products["fields"].as_array().unwrap().iter().map(|f| f["type"].as_str().unwrap()).collect();
    for ty in [
        "singleLineText",
        "multilineText",
        "richText",
        "email",
        "url",
        "phoneNumber",
        "number",
        "currency",
        "percent",
        "rating",
        "duration",
        "checkbox",
        "date",
        "dateTime",
        "singleSelect",
        "multipleSelects",
        "multipleRecordLinks",
        "multipleLookupValues",
        "rollup",
        "count",
        "formula",
        "multipleAttachments",
        "singleCollaborator",
        "multipleCollaborators",
        "createdBy",
        "lastModifiedBy",
        "barcode",
        "autoNumber",
        "createdTime",
        "lastModifiedTime",
        "button",
        "externalSyncSource",
        "aiText",
    ] {
        assert!(types.contains(&ty), "no {ty} field");
    }

    let mut records = Vec::new();
    let mut offset = String::new();
    loop {
        let page = get(format!("/v0/{base}/Products?pageSize=100&offset={}", enc(&offset))).await;
        records.extend(page["records"].as_array().unwrap().iter().cloned());
        match page["offset"].as_str() {
            Some(next) => offset = next.to_string(),
            None => break,
        }
    }
    assert_eq!(records.len(), 150);
    let first = &records[0]["fields"];
    assert_eq!((&first["Brand name"], &first["MPN"]), (&json!(["Bosch"]), &json!("GSR12V-300B22")));
    let with_upc: Vec<&str> = records.iter().filter_map(|r| r["fields"]["UPC"].as_str()).collect();
    assert!(with_upc.len() > 140);
    for upc in &with_upc {
        assert!(Gtin14::parse(upc).is_ok(), "{upc}");
    }
    let has = |test: &dyn Fn(&Value) -> bool| records.iter().any(|r| test(&r["fields"]));
    assert!(has(&|f| f["Margin"] == json!({"error": "#ERROR!"})));
    assert!(has(&|f| f["Margin"] == json!({"specialValue": "NaN"})));
    assert!(has(&|f| f["Avg lead time"] == json!({"specialValue": "NaN"})));
    assert!(has(&|f| f["Pack size"] == json!(0)));
    assert!(has(&|f| f.get("In stock").is_none()));
    assert!(has(&|f| f["Photos"][0]["url"].is_string()));
    let active = get(format!("/v0/{base}/Products?view=Active%20SKUs&fields%5B%5D=Status")).await;
    assert!(active["records"].as_array().unwrap().iter().all(|r| r["fields"]["Status"] == "Active"));
}

#[test]
fn fixtures_with_broken_references_are_refused_with_a_reason() {
    let sim = AirtableSim::new(relaxed());
    let mut bad_link = fixture();
    bad_link["tables"][1]["records"][0]["fields"]["Brand"] = json!([rec("NOPE")]);
    let err = sim.load_base(&bad_link).unwrap_err().to_string();
    assert!(err.contains(&rec("NOPE")) && err.contains("Brands"), "{err}");
    let mut computed = fixture();
    computed["tables"][1]["records"][0]["fields"]["Brand name"] = json!(["Bosch"]);
    assert!(sim.load_base(&computed).unwrap_err().to_string().contains("computed"));
    let mut short_id = fixture();
    short_id["tables"][0]["id"] = json!("tblSHORT");
    assert!(sim.load_base(&short_id).unwrap_err().to_string().contains("tblSHORT"));
    sim.load_base(&fixture()).unwrap();
    assert!(sim.load_base(&fixture()).is_err(), "a base loads once");
    assert!(sim.update_record(BASE, "Products", &rec("P1"), fields(json!({"Nope": 1}))).is_err());
    assert!(sim.update_record(BASE, "Products", &rec("P1"), fields(json!({"Brand": [rec("P2")]}))).is_err());
    assert!(sim.update_record(BASE, "Nope", &rec("P1"), Map::new()).is_err());
}

/// Kills the child process when dropped, so a failed assertion leaves no server behind.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn catsync_dev_airtable_sim_serves_the_sample_base() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_catsync"))
        .args(["dev", "airtable-sim", "--listen", "127.0.0.1:0", "--penalty-seconds", "1"])
        .current_dir(dir.path())
        .env_remove("CATSYNC_CONFIG")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let mut lines = std::io::BufReader::new(child.0.stdout.take().unwrap()).lines();
    let url = lines.next().unwrap().unwrap().strip_prefix("url: ").unwrap().to_string();
    let token = lines.next().unwrap().unwrap().strip_prefix("token: ").unwrap().to_string();
    assert_eq!(token, catsync::dev::airtable_sim::DEV_TOKEN);
    let http = reqwest::Client::new();
    let page = http.get(format!("{url}/v0/appCATALOG0000001/Products?maxRecords=3")).bearer_auth(&token).send().await;
    let page: Value = page.unwrap().json().await.unwrap();
    assert_eq!(page["records"].as_array().unwrap().len(), 3);
}
