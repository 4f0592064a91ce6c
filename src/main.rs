// The sandbox and apply paths allocate many small JSON values; mimalloc measurably beats glibc's
// allocator on them (see the apply benchmark).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    runner::cli::main()
}
