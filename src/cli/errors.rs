//! `catsync errors`: rejected rows and warnings with where they came from.

use super::args::ErrorsArgs;
use super::display::table;
use super::{Outcome, Settings};

pub async fn run(settings: &Settings, args: &ErrorsArgs) -> anyhow::Result<Outcome> {
    let store = settings.open_store().await?;
    let errors = store.sync_errors(args.limit).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "errors": errors }))?);
        return Ok(Outcome::Completed);
    }
    if errors.is_empty() {
        println!("no errors recorded");
        return Ok(Outcome::Completed);
    }
    let rows: Vec<Vec<String>> = errors
        .iter()
        .map(|e| {
            vec![
                e.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                e.source_table.clone(),
                e.error_type.as_str().to_string(),
                if e.resolved { "yes".into() } else { "no".into() },
                e.error_message.clone(),
            ]
        })
        .collect();
    print!("{}", table(&["time (UTC)", "source", "type", "resolved", "message"], &rows));
    println!("raw records: catsync errors --json");
    Ok(Outcome::Completed)
}
