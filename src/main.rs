// The sandbox and apply paths allocate many small JSON values; mimalloc measurably beats glibc's
// allocator on them (see the apply benchmark). Counted so that playbooks are held to a memory
// bound (runner::memory).
#[global_allocator]
static ALLOCATOR: runner::memory::CountingAllocator<mimalloc::MiMalloc> =
    runner::memory::CountingAllocator(mimalloc::MiMalloc);

fn main() -> std::process::ExitCode {
    opt_out_of_huge_pages();
    runner::cli::main()
}

/// With transparent huge pages, the kernel zeroes 2 MiB on the first touch of each fresh
/// allocator region. A run lasts tens of milliseconds and never reuses most of that memory:
/// profiles showed the zeroing as a quarter of a 500-object apply and the source of most of its
/// run-to-run variance. Programs that runner starts inherit the setting; they run as they would
/// on a system with huge pages off.
fn opt_out_of_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and touches no memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}
