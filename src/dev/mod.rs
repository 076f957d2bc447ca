//! Development tools that stand in for outside services, so catsync can be tested and demonstrated
//! without them: `airtable_sim` serves a local Airtable Web API, `es_sim` a local Elasticsearch 8
//! or OpenSearch 2 cluster; `server` is the HTTP plumbing (fault-ready connections) both share.

pub mod airtable_sim;
pub mod es_sim;
mod server;
