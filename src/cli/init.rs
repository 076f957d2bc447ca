//! `catsync init`: a complete config from an Airtable base's schema, so that a user with a token
//! goes from nothing to a first sync with two commands.

use std::fmt::Write as _;

use super::args::InitArgs;
use super::{Outcome, Settings, UsageError};
use crate::config::{Secret, DEFAULT_AIRTABLE_URL};
use crate::source::airtable::schema::{column_name, TableSchema};
use crate::source::airtable::{AirtableClient, BaseSchema, RetryPolicy};

pub async fn run(settings: &Settings, args: &InitArgs) -> anyhow::Result<Outcome> {
    if args.out.exists() && !args.force {
        return Err(UsageError(format!("{} exists; pass --force to overwrite it", args.out.display())).into());
    }
    let configured = settings.config.airtable.as_ref();
    let token = std::env::var("AIRTABLE_TOKEN").ok().map(Secret::new).or_else(|| configured.map(|a| a.token.clone()));
    let token = token.ok_or_else(|| {
        UsageError(
            "set AIRTABLE_TOKEN to a personal access token with the scopes data.records:read and schema.bases:read"
                .into(),
        )
    })?;
    let api_url = args
        .airtable_url
        .clone()
        .or_else(|| configured.map(|a| a.api_url.clone()))
        .unwrap_or_else(|| DEFAULT_AIRTABLE_URL.to_string());
    let client = AirtableClient::new(&api_url, token, RetryPolicy::default());
    let schema = client.base_schema(&args.airtable_base).await?;
    std::fs::write(&args.out, config_text(&args.airtable_base, &api_url, &schema))?;
    if !settings.quiet {
        let fields: usize = schema.tables.iter().map(|t| t.fields.len()).sum();
        println!(
            "wrote {}: {} tables, {fields} fields of base {}. Next: catsync sync",
            args.out.display(),
            schema.tables.len(),
            args.airtable_base
        );
    }
    Ok(Outcome::Completed)
}

/// The config text: every table and field, with ids pinned so that renames keep syncing.
pub fn config_text(base: &str, api_url: &str, schema: &BaseSchema) -> String {
    let mut out = format!(
        "# Written by `catsync init --airtable-base {base}`. Column types were inferred from the\n\
         # Airtable field types; change them, or drop columns you do not need.\n\n\
         [store]\nurl = \"sqlite://catsync-data/catsync.db\"\n\n\
         [airtable]\ntoken = \"${{AIRTABLE_TOKEN}}\"\n"
    );
    if api_url != DEFAULT_AIRTABLE_URL {
        let _ = writeln!(out, "api_url = {}", toml_string(api_url));
    }
    let mut store_tables = Vec::new();
    for table in &schema.tables {
        let into = column_name(&table.name, &store_tables);
        out.push_str(&table_text(base, &into, table));
        store_tables.push(into);
    }
    if let Some(catalog) = catalog_guess(schema, &store_tables) {
        out.push_str(&catalog);
    }
    out
}

fn table_text(base: &str, into: &str, table: &TableSchema) -> String {
    let mut out = format!(
        "\n[[airtable.tables]]\nbase = \"{base}\"\ntable = \"{}\"  # {}\ninto = \"{into}\"\nreconcile_every = 10\n  [airtable.tables.columns]\n",
        table.id,
        table.name.replace('\n', " ")
    );
    let mut columns = Vec::new();
    for field in &table.fields {
        let column = column_name(&field.name, &columns);
        let _ = writeln!(
            out,
            "  {column} = {{ field = {}, id = \"{}\", type = \"{}\" }}  # {}",
            toml_string(&field.name),
            field.id,
            field.column_type(),
            field.kind
        );
        columns.push(column);
    }
    out
}

/// A `[catalog]` section when a table looks like the product catalog (a name and a GTIN or MPN).
fn catalog_guess(schema: &BaseSchema, store_tables: &[String]) -> Option<String> {
    let (table, into) =
        schema.tables.iter().zip(store_tables).find(|(t, _)| t.name.to_lowercase().contains("product"))?;
    let mut columns = Vec::new();
    let names: Vec<String> = table
        .fields
        .iter()
        .map(|f| {
            let c = column_name(&f.name, &columns);
            columns.push(c.clone());
            c
        })
        .collect();
    let pick = |candidates: &[&str]| names.iter().find(|n| candidates.contains(&n.as_str())).cloned();
    let roles = [
        ("title", pick(&["name", "title", "product_name"])),
        ("gtin", pick(&["gtin", "upc", "ean", "barcode", "gtin_13", "ean_13"])),
        ("mpn", pick(&["mpn", "model", "model_number", "manufacturer_part_number"])),
        ("brand", pick(&["brand_name", "brand", "manufacturer"])),
        ("description", pick(&["description"])),
        ("price", pick(&["price", "list_price", "msrp"])),
    ];
    roles[0].1.as_ref()?;
    let mut out = format!("\n[catalog]\ntable = \"{into}\"\n");
    for (role, column) in roles {
        match column {
            Some(c) => {
                let _ = writeln!(out, "{role} = \"{c}\"");
            }
            None => {
                let _ = writeln!(out, "# {role} = \"…\"");
            }
        }
    }
    Some(out)
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}
