//! `catsync serve`: the live dashboard until Ctrl-C or SIGTERM.

use super::args::ServeArgs;
use super::{Outcome, Settings, UsageError};
use crate::web::{self, Dashboard, Guard, ServeError};

pub async fn run(settings: &Settings, args: &ServeArgs) -> anyhow::Result<Outcome> {
    let section = &settings.config.serve;
    let listen = args.listen.clone().or_else(|| section.listen.clone()).unwrap_or_else(|| web::DEFAULT_LISTEN.into());
    let addr = web::listen_address(&listen, section.token.as_ref()).map_err(|e| UsageError(e.to_string()))?;
    let store = settings.open_store().await?;
    // The dashboard works without a search index; /search then says why there is none.
    let search = settings.open_search().await.map_err(|e| super::display::error_chain(&e));
    let dashboard = Dashboard {
        leases: settings.job_leases(store.clone()),
        store,
        search,
        catalog: settings.config.catalog.clone(),
        feed_profiles: settings.config.feed_profiles(),
    };
    let guard = Guard::new(section.token.clone());
    let auth = if guard.requires_token() { "token required" } else { "no token: loopback only" };
    let ready = |bound| eprintln!("catsync dashboard on http://{bound}/ ({auth}); Ctrl-C stops it");
    match web::serve(dashboard, guard, addr, ready, shutdown_signal()).await {
        Err(e @ ServeError::Bind { .. }) => Err(UsageError(e.to_string()).into()),
        other => other.map(|()| Outcome::Completed).map_err(Into::into),
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler");
        tokio::select! { _ = interrupt => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
