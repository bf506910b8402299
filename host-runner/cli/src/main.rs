//! `meshlock`: the command-line front end. Thin: every rule lives in meshlock-core.

#![forbid(unsafe_code)]

mod cli;

/// mimalloc instead of the system allocator: an analysis makes millions of small, short-lived
/// allocations, and glibc's malloc and free were about a sixth of its instructions at 10,000
/// services (BENCHMARKS.md, "Engine at scale").
#[global_allocator]
static HEAP: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
