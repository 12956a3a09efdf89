//! `obsctl backup`: one archive of what the environment cannot re-create
//! from the repository (`deploy::backup`; the list is `model::backup`).

use crate::cli::BackupArgs;
use crate::deploy::session::{interrupted_hint, Session};
use crate::error::Result;
use crate::report::Printer;

pub fn run(args: BackupArgs, printer: &Printer) -> Result<u8> {
    let s = Session::open(&args.env.env, "backup", printer)?;
    let run_log = s.log("obsctl.log");
    let to = args.to.clone().unwrap_or_else(|| s.ws.tools_dir().join("backups").join(&s.env.name));
    let t = crate::deploy::backup::backup(&s, &to, args.key.as_deref(), &args.only)
        .map_err(|e| interrupted_hint(e, &s.env.name, "backup").or_log(run_log))?;
    if t.key_created {
        printer.warn(&format!(
            "created the backup key {}: without it the archive's controller state (CA, passwords, SSH key) cannot be read. \
             Keep a copy away from this machine (a password manager or a secret store), never beside the archives",
            t.key.display()
        ));
    }
    let mut lines = vec![format!(
        "Backup of `{}`: {} ({} bytes, {} files; checksum in {}.sha256)",
        s.env.name,
        t.archive.display(),
        t.bytes,
        t.manifest.members.len(),
        t.archive.display()
    )];
    lines.extend(t.manifest.members.iter().map(|m| format!("  {}  {} bytes", m.file, m.bytes)));
    lines.extend(t.manifest.snapshots.iter().map(|r| {
        format!("  RDS snapshot {} of {} ({}, {}): kept by RDS, outside the archive", r.identifier, r.instance, r.region, r.created)
    }));
    lines.extend(t.manifest.skipped.iter().map(|w| format!("  skipped: {w}")));
    lines.push(format!("  Restore it: obsctl restore --env {} --from {} --key {}", s.env.name, t.archive.display(), t.key.display()));
    printer.summary(&lines.join("\n"), crate::deploy::backup::summary_json(&s.env.name, &t, printer.elapsed()));
    Ok(0)
}
