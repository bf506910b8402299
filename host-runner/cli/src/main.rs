//! `meshlock`: the command-line front end. Thin: every rule lives in meshlock-core.

#![forbid(unsafe_code)]

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
