//! `meshlock completions` and `meshlock man`: generated from the same clap definition the
//! parser uses, so they cannot drift from the commands.

use anyhow::{Context as _, Result};
use clap::Args;
use clap_complete::Shell;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write meshlock.1 and one meshlock-COMMAND.1 per command into DIR (for
    /// /usr/local/share/man/man1) instead of meshlock.1 on stdout.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

pub fn completions(args: &CompletionsArgs, mut cmd: clap::Command) -> Result<ExitCode> {
    // The completed word is the name the shell sees: `meshlock`, or `kubectl-meshlock` when
    // invoked under that name (kubectl completes its plugins through that executable).
    let name = cmd.get_bin_name().unwrap_or("meshlock").replace(' ', "-");
    clap_complete::generate(args.shell, &mut cmd, name, &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}

pub fn man(args: &ManArgs, cmd: clap::Command) -> Result<ExitCode> {
    let Some(dir) = &args.out else {
        clap_mangen::Man::new(cmd).render(&mut std::io::stdout())?;
        return Ok(ExitCode::SUCCESS);
    };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut written = Vec::new();
    let write = |name: &str, page: clap::Command, written: &mut Vec<String>| -> Result<()> {
        let mut bytes = Vec::new();
        clap_mangen::Man::new(page).title(name.to_owned()).render(&mut bytes)?;
        let path = dir.join(format!("{name}.1"));
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path.display().to_string());
        Ok(())
    };
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("meshlock-{}", sub.get_name());
        write(&name, sub.clone().display_name(name.clone()).bin_name(name.clone()), &mut written)?;
    }
    write("meshlock", cmd, &mut written)?;
    eprintln!("meshlock man: {} page(s): {}", written.len(), written.join(", "));
    Ok(ExitCode::SUCCESS)
}
