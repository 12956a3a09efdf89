//! `obsctl rotate-secret --env NAME grafana-db`: a new password for
//! Grafana's RDS database. The password's version goes one above both the
//! stored one and the one in the Terraform state, so the next `up` sends the
//! write-only password to RDS (Terraform) and to every Grafana (Ansible).

use serde_json::json;

use crate::cli::{RotateSecretArgs, SecretName};
use crate::deploy::session::Session;
use crate::error::{Error, Result};
use crate::report::Printer;

pub fn run(args: RotateSecretArgs, printer: &Printer) -> Result<u8> {
    let s = Session::open(&args.env.env, "rotate-secret", printer)?;
    let env = &s.env.name;
    match args.secret {
        SecretName::GrafanaDb => {
            if !s.env.grafana_on_rds() {
                return Err(Error::input(format!(
                    "`{env}` has no generated database password: Grafana's database is RDS only with provider aws and \
                     [grafana] database = \"postgres\""
                )));
            }
            let tf = s.terraform();
            tf.write_vars(false)?;
            tf.init()?;
            let dir = s.state.secrets_dir();
            let stored = crate::state::secrets::read_grafana_db_password(&dir).map_or(0, |db| db.version);
            let in_state = tf.grafana_db_in_state()?.unwrap_or(0);
            let version = stored.max(in_state) + 1;
            crate::state::secrets::write_grafana_db_password(&dir, version)?;
            let file = crate::state::secrets::grafana_db_password_file(&dir);
            printer.summary(
                &format!(
                    "New password for Grafana's database of `{env}` (version {version}) in {}.\n\
                     It reaches RDS and Grafana with: obsctl up --env {env}\n\
                     Until then the database keeps the old one; share .obsctl/{env}/secrets/ with your team afterwards.",
                    file.display()
                ),
                json!({ "ok": true, "environment": env, "secret": "grafana-db", "version": version, "file": file,
                        "next": format!("obsctl up --env {env}") }),
            );
            Ok(0)
        }
    }
}
