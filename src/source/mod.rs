//! Where catalog data comes from. `feed` reads distributor files; the Airtable client will live
//! beside it. Sources only read: they hand typed records to `store/` and never write SQL.

pub mod airtable;
pub mod feed;
