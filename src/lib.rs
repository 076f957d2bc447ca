//! catsync keeps a product catalog in sync between Airtable, distributor feeds, a central SQL
//! store and a search index. See ARCHITECTURE.md for the map of this crate.

pub mod catalog;
pub mod cli;
pub mod config;
pub mod control;
pub mod dev;
pub mod gtin;
pub mod matching;
pub mod product;
pub mod search;
pub mod source;
pub mod store;
pub mod web;
