//! `obsctl inventory`: print the Ansible inventory of an environment.

use crate::environment;
use crate::error::{Error, Result};
use crate::report::Printer;
use crate::workspace::Workspace;

pub fn run(env_name: &str, printer: &Printer) -> Result<u8> {
    let ws = Workspace::discover()?;
    let env = environment::load(&ws.environments_dir(), env_name)?;
    let path = ws.state(&env.name).inventory();
    let text = std::fs::read_to_string(&path).map_err(|_| {
        Error::input(format!("environment `{}` has no inventory yet ({} is missing)", env.name, path.display()))
            .hint(format!("run `obsctl up --env {}` first", env.name))
    })?;
    printer.data(text.trim_end());
    Ok(0)
}
