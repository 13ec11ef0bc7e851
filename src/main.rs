use std::process::ExitCode;

fn main() -> ExitCode {
    agora::cli::run(std::env::args().skip(1))
}
