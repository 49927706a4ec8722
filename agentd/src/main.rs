//! agentd: see the library crate (`lib.rs`), where the program lives.

fn main() -> std::process::ExitCode {
    agentd::main()
}
