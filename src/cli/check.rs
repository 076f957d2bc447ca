//! `catsync check`: the configuration is valid, the store answers, and the config still matches
//! the Airtable schema.

use super::{Outcome, Settings};
use crate::source::airtable::mapping::drift;
use crate::source::airtable::sync::remembered_fields;
use crate::source::airtable::{base_schemas, Drift};
use crate::store::Store;

pub async fn run(settings: &Settings) -> anyhow::Result<Outcome> {
    match &settings.config_path {
        Some(p) => println!("config     {} (valid)", p.display()),
        None => println!("config     none (built-in defaults)"),
    }
    let store = settings.open_store().await?;
    let info = store.info();
    println!("store      {} — {} {}", info.location, info.backend.name(), first_words(&info.server_version));
    println!("schema     version {}", store.schema_version().await?);
    println!("search     {} (not checked yet)", crate::store::redact_url(&settings.search_url));
    for d in &settings.config.distributors {
        println!("distributor {} ({} mode, {} mapped columns)", d.name.get_ref(), d.mode, d.columns.len());
    }
    if let Some(catalog) = &settings.config.catalog {
        let roles: Vec<String> = catalog.roles().iter().map(|(role, c)| format!("{role}={}", c.get_ref())).collect();
        println!("catalog    table {} ({})", catalog.table.get_ref(), roles.join(", "));
    }
    if settings.config.airtable.is_some() {
        return airtable_drift(settings, store.as_ref()).await;
    }
    Ok(Outcome::Completed)
}

/// Each configured table against its base's schema now. A missing field or table fails the check
/// (that table cannot sync); renamed and unsynced fields are reported only.
async fn airtable_drift(settings: &Settings, store: &dyn Store) -> anyhow::Result<Outcome> {
    let (section, client) = settings.airtable_client()?;
    println!("airtable   {}", crate::store::redact_url(&section.api_url));
    let schemas = base_schemas(&client, section.tables.iter().map(|t| t.base.get_ref().as_str())).await;
    let mut outcome = Outcome::Completed;
    for table in &section.tables {
        let label = format!("{}/{} → {}", table.base.get_ref(), table.table, table.into.get_ref());
        let remembered = remembered_fields(store, table.into.get_ref()).await?;
        let drifts = match &schemas[table.base.get_ref()] {
            Ok(schema) => drift(table, schema, &remembered),
            Err(e) => {
                println!("table      {label}: cannot read the base schema: {e}");
                outcome = Outcome::Failed;
                continue;
            }
        };
        let blocking = drifts.iter().any(|d| matches!(d, Drift::Missing { .. } | Drift::UnknownTable { .. }));
        let renamed = drifts.iter().any(|d| matches!(d, Drift::Renamed { .. }));
        let state = match (blocking, renamed) {
            (true, _) => "CANNOT SYNC",
            (false, true) => "syncs (renamed fields are followed by id); the config's names are stale",
            (false, false) => "matches Airtable",
        };
        println!("table      {label}: {state}");
        for d in &drifts {
            println!("  drift    {d}");
        }
        if blocking {
            outcome = Outcome::Failed;
        }
    }
    Ok(outcome)
}

fn first_words(version: &str) -> &str {
    version.split(" on ").next().unwrap_or(version).split(" (").next().unwrap_or(version)
}
