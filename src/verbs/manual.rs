//! `vstage completions SHELL` and the man pages `make install` installs, both
//! generated from the same clap definitions as the CLI itself.

use std::path::Path;

use clap::CommandFactory as _;

use crate::cli::Cli;
use crate::failure::Result;

pub(crate) fn completions(shell: clap_complete::Shell) -> Result<u8> {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "vstage", &mut crate::Out);
    Ok(0)
}

/// `vstage.1` and `vstage-VERB.1` for every visible verb, into `dir`.
pub(crate) fn man_pages(dir: &Path) -> Result<u8> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    let cmd = Cli::command();
    write_page(dir, "vstage", cmd.clone())?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("vstage-{}", sub.get_name());
        write_page(dir, &name, sub.clone().name(name.clone()))?;
    }
    Ok(0)
}

/// Man pages are for every user of the host: 0644, whatever vstage's own umask.
fn write_page(dir: &Path, name: &str, cmd: clap::Command) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut page)?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, page)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))?;
    Ok(())
}
