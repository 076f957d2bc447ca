//! `catsync matches`: the matches and the review queue, and a person's decisions on them.

use clap::{Args, Subcommand, ValueEnum};
use uuid::Uuid;

use super::display::{cut, table};
use super::matching::catalog;
use super::{Outcome, Settings, UsageError};
use crate::catalog::catalog_record_id;
use crate::matching::record::{MatchDecision, MatchFilter};
use crate::matching::Status;
use crate::product::distributor_product_id;
use crate::store::CatalogRows;
use crate::web::view;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct MatchesArgs {
    #[command(subcommand)]
    pub command: Option<MatchesCommand>,
    /// Only matches with this status.
    #[arg(long, value_enum)]
    pub status: Option<StatusArg>,
    /// Only this distributor's products.
    #[arg(long)]
    pub distributor: Option<String>,
    /// How many to show (best score first).
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Print as JSON, evidence included.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StatusArg {
    Auto,
    Review,
    Confirmed,
    Rejected,
}

impl From<StatusArg> for Status {
    fn from(s: StatusArg) -> Status {
        match s {
            StatusArg::Auto => Status::Auto,
            StatusArg::Review => Status::Review,
            StatusArg::Confirmed => Status::Confirmed,
            StatusArg::Rejected => Status::Rejected,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum MatchesCommand {
    /// The proposed links are right (with --product: link to that catalog product instead).
    Confirm {
        #[command(flatten)]
        target: DecisionArgs,
        /// Catalog product to link to by hand: its store id or its Airtable record id (rec…).
        #[arg(long)]
        product: Option<String>,
    },
    /// The proposed links are wrong: those pairs are never proposed again.
    Reject {
        #[command(flatten)]
        target: DecisionArgs,
    },
    /// Forget the decisions (rejected pairs stay rejected); the next run matches them again.
    Reset {
        #[command(flatten)]
        target: DecisionArgs,
    },
}

#[derive(Debug, Args)]
pub struct DecisionArgs {
    /// Distributor products: ids, or DISTRIBUTOR:SKU.
    #[arg(required = true)]
    pub ids: Vec<String>,
    /// Why (kept with the decision).
    #[arg(long)]
    pub note: Option<String>,
}

pub async fn run(settings: &Settings, args: &MatchesArgs) -> anyhow::Result<Outcome> {
    match &args.command {
        None => list(settings, args).await,
        Some(MatchesCommand::Confirm { target, product }) => {
            let product = product.as_deref().map(parse_product).transpose()?;
            decide(settings, target, MatchDecision::Confirm { product }).await
        }
        Some(MatchesCommand::Reject { target }) => decide(settings, target, MatchDecision::Reject).await,
        Some(MatchesCommand::Reset { target }) => decide(settings, target, MatchDecision::Reset).await,
    }
}

/// A distributor product named by id or as `DISTRIBUTOR:SKU`.
fn parse_offer(s: &str) -> anyhow::Result<Uuid> {
    if let Ok(id) = Uuid::parse_str(s) {
        return Ok(id);
    }
    match s.split_once(':') {
        Some((distributor, sku)) if !distributor.is_empty() && !sku.is_empty() => {
            Ok(distributor_product_id(distributor, sku))
        }
        _ => Err(UsageError(format!(
            "{s:?} names no distributor product: give its id (as `catsync matches` lists it) or DISTRIBUTOR:SKU"
        ))
        .into()),
    }
}

/// A catalog product named by store id or Airtable record id.
fn parse_product(s: &str) -> anyhow::Result<Uuid> {
    if s.starts_with("rec") {
        return Ok(catalog_record_id(s));
    }
    Uuid::parse_str(s).map_err(|_| {
        UsageError(format!("--product {s:?} is neither a catalog product id nor an Airtable record id (rec…)")).into()
    })
}

async fn decide(settings: &Settings, target: &DecisionArgs, decision: MatchDecision) -> anyhow::Result<Outcome> {
    let ids: Vec<(String, Uuid)> =
        target.ids.iter().map(|s| Ok((s.clone(), parse_offer(s)?))).collect::<anyhow::Result<_>>()?;
    let store = settings.open_store().await?;
    if let MatchDecision::Confirm { product: Some(product) } = &decision {
        let (table, _) = catalog(settings, &*store).await?;
        let rows = store.catalog_rows(&table, &CatalogRows::Ids(vec![*product])).await?;
        let known = rows.iter().any(|r| r.deleted_at.is_none());
        if !known {
            return Err(UsageError(format!("--product: no catalog product {product} in table {:?}", table.name)).into());
        }
    }
    let mut missing = Vec::new();
    for (name, id) in &ids {
        if store.decide_match(*id, &decision, target.note.as_deref()).await? {
            println!("{} {name}", past_tense(&decision));
        } else {
            missing.push(name.as_str());
        }
    }
    if missing.is_empty() {
        return Ok(Outcome::Completed);
    }
    let what = match decision {
        MatchDecision::Confirm { product: Some(_) } => "no active distributor product",
        _ => "no match to decide for",
    };
    Err(UsageError(format!("{what} {} (see catsync matches)", missing.join(", "))).into())
}

fn past_tense(decision: &MatchDecision) -> &'static str {
    match decision {
        MatchDecision::Confirm { product: Some(_) } => "linked by hand:",
        MatchDecision::Confirm { .. } => "confirmed:",
        MatchDecision::Reject => "rejected:",
        MatchDecision::Reset => "reset:",
    }
}

/// Titles are cut to this many characters in the table.
const TITLE_WIDTH: usize = 40;

async fn list(settings: &Settings, args: &MatchesArgs) -> anyhow::Result<Outcome> {
    let store = settings.open_store().await?;
    let catalog = catalog(settings, &*store).await?;
    let filter = MatchFilter {
        status: args.status.map(Status::from),
        distributor: args.distributor.clone(),
        limit: Some(args.limit),
        ..MatchFilter::default()
    };
    let listed = view::matches(&*store, Some(&catalog), &filter).await?.matches;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "matches": listed }))?);
        return Ok(Outcome::Completed);
    }
    if listed.is_empty() {
        println!(
            "no matches{}",
            args.status.map(|s| format!(" with status {}", Status::from(s).as_str())).unwrap_or_default()
        );
        return Ok(Outcome::Completed);
    }
    let rows: Vec<Vec<String>> = listed
        .iter()
        .map(|l| {
            vec![
                l.id.to_string(),
                format!("{}:{}", l.distributor, l.sku),
                cut(&l.offer.title, TITLE_WIDTH),
                cut(&l.product.title, TITLE_WIDTH),
                format!("{:.3}", l.score),
                l.method.as_str().into(),
                l.status.as_str().into(),
            ]
        })
        .collect();
    print!(
        "{}",
        table(&["id", "distributor product", "its title", "catalog product", "score", "method", "status"], &rows)
    );
    println!("evidence: catsync matches --json; decide: catsync matches confirm|reject ID…");
    Ok(Outcome::Completed)
}
