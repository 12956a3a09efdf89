//! `obsctl ssh`: a shell on one host of a deployed environment, with the
//! environment's key, its pinned host keys and the bastion when the stack
//! names one: the same connection Ansible and the host checks make.

use crate::cli::SshArgs;
use crate::deploy::session::Session;
use crate::error::{Error, Result};
use crate::report::Printer;
use crate::state::deployment::Deployment;

pub fn run(args: SshArgs, printer: &Printer) -> Result<u8> {
    let s = Session::open_unlocked(&args.env.env, "ssh", printer, |_| Ok(()))?;
    let d = Deployment::require(&s.state, &s.env.name)?;
    let contract = &d.contract;
    let Some(host) = contract.hosts.get(&args.host) else {
        let names: Vec<&str> = contract.hosts.keys().map(String::as_str).collect();
        return Err(Error::input(format!("`{}` has no host named `{}`; its hosts: {}", s.env.name, args.host, names.join(", ")))
            .hint(format!("obsctl ssh --env {} {}", s.env.name, names.first().copied().unwrap_or("HOST"))));
    };
    let options = crate::tools::ssh::contract_options(contract, &s.state.known_hosts());
    Err(crate::tools::ssh::exec(&host.address, host.ssh_port, &host.ssh_user, contract.key_of(host), &options, &args.command))
}
