//! Refusing io_uring the way container runtimes do: a seccomp filter, installed in a
//! child between fork and exec, that fails `io_uring_setup` with a chosen errno and
//! allows everything else. Used by `tests/uring.rs` (the binary's one-line refusal) and
//! `tests/experiment.rs` (the experiment skipping its uring cells), which includes this
//! file by path.

use std::os::unix::process::CommandExt;
use std::process::Command;

/// Makes `command`'s process fail `io_uring_setup(2)` with `errno`.
pub fn refuse_io_uring(command: &mut Command, errno: i32) {
    // A classic BPF program: load the syscall number; io_uring_setup gets
    // SECCOMP_RET_ERRNO | errno, everything else is allowed.
    let filter = [
        libc::sock_filter {
            code: (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16,
            jt: 0,
            jf: 0,
            k: 0, // offsetof(struct seccomp_data, nr)
        },
        libc::sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
            jt: 0,
            jf: 1,
            k: libc::SYS_io_uring_setup as u32,
        },
        libc::sock_filter {
            code: (libc::BPF_RET | libc::BPF_K) as u16,
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_ERRNO | (errno as u32 & libc::SECCOMP_RET_DATA),
        },
        libc::sock_filter {
            code: (libc::BPF_RET | libc::BPF_K) as u16,
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_ALLOW,
        },
    ];
    // SAFETY: between fork and exec only prctl(2) runs, which is async-signal-safe,
    // on a filter built before the fork (the closure owns it; nothing allocates).
    unsafe {
        command.pre_exec(move || {
            let program = libc::sock_fprog {
                len: filter.len() as u16,
                filter: filter.as_ptr().cast_mut(),
            };
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::prctl(
                    libc::PR_SET_SECCOMP,
                    libc::SECCOMP_MODE_FILTER,
                    &program as *const libc::sock_fprog,
                ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}
