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
/// already has an arena of its own keeps it). The memory a dropped model frees then stays with the
/// process for later allocations rather than going back to the system, which a long-running
/// program that loads a model only now and then may not want.
pub fn reuse_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tunables; it is safe to call at any time.
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX);
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// The memory this process can still take: the least of what the system says new work can use
/// without swapping (`MemAvailable`), what its cgroup's limit leaves (`memory.max` less
/// `memory.current`, cgroup v2) and what its address-space limit leaves (`ulimit -v`, less what it
/// has mapped); `None` where none of them is known.
pub fn available_bytes() -> Option<u64> {
    [meminfo_available(), cgroup_room(), address_space_room()].into_iter().flatten().min()
}

/// `MemAvailable` in `/proc/meminfo`.
fn meminfo_available() -> Option<u64> {
    kib_field(&std::fs::read_to_string("/proc/meminfo").ok()?, "MemAvailable:")
}

/// The value of the `name` line of a `/proc` file, given in kB, in bytes.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    let value = text.lines().find_map(|line| line.strip_prefix(name))?;
    value.trim().strip_suffix("kB")?.trim().parse::<u64>().ok()?.checked_mul(1024)
}

/// What the cgroup v2 limit of this process leaves (`None` without a limit).
fn cgroup_room() -> Option<u64> {
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = cgroups.lines().find_map(|line| line.strip_prefix("0::"))?;
    let folder = std::path::Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/'));
    let read = |name: &str| std::fs::read_to_string(folder.join(name)).ok()?.trim().parse::<u64>().ok();
    // `max` (no limit) does not parse.
    Some(read("memory.max")?.saturating_sub(read("memory.current")?))
}

/// What the address-space limit (`ulimit -v`) leaves of this process (`None` without a limit).
fn address_space_room() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit writes the limit into `limit`, a valid rlimit.
        if unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut limit) } != 0
            || limit.rlim_cur == libc::RLIM_INFINITY
        {
            return None;
        }
        let mapped = kib_field(&std::fs::read_to_string("/proc/self/status").ok()?, "VmSize:")?;
        Some(limit.rlim_cur.saturating_sub(mapped))
    }
    #[cfg(not(target_os = "linux"))]
    None
}
