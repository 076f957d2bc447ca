//! `catsync check`: the configuration is valid and the store answers.

use super::{Outcome, Settings};

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
    Ok(Outcome::Completed)
}

fn first_words(version: &str) -> &str {
    version.split(" on ").next().unwrap_or(version).split(" (").next().unwrap_or(version)
}
