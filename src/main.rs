use std::process::ExitCode;

/// mimalloc instead of the system allocator: a GraphQL response is built from many small,
/// short-lived allocations across worker threads, where glibc malloc spent a quarter of the
/// server's CPU in the feed benchmark.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    agora::cli::run(std::env::args().skip(1))
}
