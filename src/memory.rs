//! Keeping freed memory in the process, so each layer's output reuses pages instead of faulting
//! in new ones; and how much memory the system has available, to refuse views that cannot fit.
//!
//! A forward pass allocates every layer's output afresh (up to tens of MB each) and frees its
//! input soon after. glibc serves such blocks with their own `mmap` and unmaps them on `free`, so
//! every output is new memory that the kernel faults in and zeroes page by page. Measured on
//! SlowFast R50 (224², one view, 2 threads): 170 k page faults and 0.4 s of system time while
//! loading the checkpoint, and a first forward 25 % slower than with the pages reused. Serving all
//! blocks from the heap and never trimming it lets later layers, and later videos, reuse the pages
//! earlier ones freed. Peak memory is unchanged: the largest layers set it either way.
//!
//! All threads share the one heap (arena). By default glibc gives threads arenas of their own,
//! each a chain of 64 MiB heaps that it unmaps when they empty, trim threshold or not (`strace`
//! shows a `munmap` of 64 MiB several times a forward): the forward passes, which run on rayon's
//! threads, never reused the pages the load freed on the main thread, and a 256² SlowFast view on
//! one thread faulted in 32 MB afresh every time (8 k faults a forward, none with one arena). One
//! 224² view, five interleaved pairs of fresh processes: 0.368–0.386 s → 0.337–0.364 s per video,
//! peak memory 578 → 498 MB. The 30-view protocol, whose threads allocate side by side from the
//! one arena, runs no slower (nine pairs).

/// Tells the C allocator to keep freed memory for reuse and to serve every thread from one heap
/// (glibc on Linux; elsewhere a no-op). Process-wide: the `vidclass` binary calls it first thing;
/// library users running many forwards may call it too, before they start threads (a thread that
/// already has an arena of its own keeps it).
pub fn reuse_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tunables; it is safe to call at any time.
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX);
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// The memory the system says new work can use without swapping (`MemAvailable` in
/// `/proc/meminfo`), or `None` where it does not say.
pub fn available_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find_map(|line| line.strip_prefix("MemAvailable:"))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    kib.checked_mul(1024)
}
