//! `meshlock`: the command-line front end. Thin: every rule lives in meshlock-core.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
