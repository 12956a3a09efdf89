//! `obsctl inventory`: print the Ansible inventory of an environment, as the
//! last `up` wrote it, or rendered from a contract file (`--contract`).

use std::path::Path;

use crate::deploy::session::Session;
use crate::error::{Error, Result};
use crate::report::Printer;

pub fn run(env_name: &str, contract: Option<&Path>, printer: &Printer) -> Result<u8> {
    let s = Session::open_unlocked(env_name, "inventory", printer, |_| Ok(()))?;
    let (ws, env) = (&s.ws, &s.env);
    if let Some(file) = contract {
        let text =
            std::fs::read_to_string(file).map_err(|e| Error::input(format!("cannot read the contract file {}: {e}", file.display())))?;
        let (raw, provider_vars) = crate::model::contract::split_outputs(&text)?;
        let contract = crate::model::contract::parse(&raw, env)?.with_existing(&env.existing_hosts);
        let state = ws.state(&env.name);
        // The inventory `up` would write: the credentials and certificates it names exist.
        state.ensure()?;
        crate::state::secrets::prepare_scrape_jobs(env, &state.secrets_dir())?;
        crate::deploy::inventory::ensure_certificates(&state, &contract, &provider_vars)?;
        let rendered = crate::deploy::inventory::render_inventory(ws, env, &state, &contract, provider_vars)?;
        printer.data(&crate::error::to_json_pretty(&rendered)?);
        return Ok(0);
    }
    let path = ws.state(&env.name).inventory();
    let text = std::fs::read_to_string(&path).map_err(|_| {
        Error::input(format!("environment `{}` has no inventory yet ({} is missing)", env.name, path.display()))
            .hint(format!("run `obsctl up --env {}` first", env.name))
    })?;
    printer.data(text.trim_end());
    Ok(0)
}
