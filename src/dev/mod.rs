//! Development tools that stand in for outside services, so catsync can be tested and demonstrated
//! without them: `airtable_sim` serves a local Airtable Web API.

pub mod airtable_sim;
