//! Why the uring model cannot run on this machine, in one line.
//!
//! Rule: only the reasons and their wording; the probe that finds them is
//! `ops::probe`.

use std::fmt;
use std::io;

/// Why the uring model cannot run here.
#[derive(Debug)]
pub enum Unavailable {
    /// `io_uring_setup` does not exist (ENOSYS): the kernel was built without it, or
    /// a seccomp filter hides it.
    NotInKernel,
    /// `io_uring_setup` was refused (EPERM): `kernel.io_uring_disabled`, or a
    /// seccomp filter (container runtimes often forbid io_uring).
    Refused { disabled_sysctl: Option<String> },
    /// The kernel has io_uring, but not what this loop relies on.
    TooOld(&'static str),
    /// The probe lacks operations this loop submits.
    MissingOps(Vec<&'static str>),
    /// Anything else `io_uring_setup` or a registration said.
    Other(io::Error),
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("io_uring unavailable: ")?;
        match self {
            Self::NotInKernel => {
                f.write_str("io_uring_setup is not in this kernel (ENOSYS), or a seccomp filter hides it")
            }
            Self::Refused {
                disabled_sysctl: Some(value),
            } if value != "0" => write!(
                f,
                "io_uring_setup was refused (EPERM): kernel.io_uring_disabled is {value}"
            ),
            Self::Refused { .. } => f.write_str(
                "io_uring_setup was refused (EPERM), probably by a seccomp filter (kernel.io_uring_disabled is 0)",
            ),
            Self::TooOld(what) => write!(f, "this kernel lacks {what}"),
            Self::MissingOps(ops) => write!(
                f,
                "this kernel's io_uring lacks the operations {}",
                ops.join(", ")
            ),
            Self::Other(e) => write!(f, "{e}"),
        }
    }
}

impl Unavailable {
    pub(super) fn from_setup(e: io::Error) -> Unavailable {
        match e.raw_os_error() {
            Some(libc::ENOSYS) => Self::NotInKernel,
            Some(libc::EPERM) => Self::Refused {
                disabled_sysctl: std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
                    .ok()
                    .map(|s| s.trim().to_string()),
            },
            Some(libc::EINVAL) => Self::TooOld(
                "the io_uring set-up flags this loop uses (single issuer, deferred task work: Linux 6.1 or later)",
            ),
            _ => Self::Other(e),
        }
    }
}

/// Checks that a ring like the loop's can be set up here: creates one, probes its
/// operations and registers a buffer ring, then drops it.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_names_why_in_one_line() {
        let cases = [
            (Unavailable::NotInKernel, "ENOSYS"),
            (
                Unavailable::Refused {
                    disabled_sysctl: Some("2".into()),
                },
                "kernel.io_uring_disabled is 2",
            ),
            (
                Unavailable::Refused {
                    disabled_sysctl: Some("0".into()),
                },
                "seccomp",
            ),
            (
                Unavailable::TooOld("provided-buffer rings"),
                "lacks provided-buffer rings",
            ),
            (Unavailable::MissingOps(vec!["SEND", "RECV"]), "SEND, RECV"),
        ];
        for (why, says) in cases {
            let line = why.to_string();
            assert!(line.starts_with("io_uring unavailable: "), "{line}");
            assert!(line.contains(says), "{line}");
            assert_eq!(line.lines().count(), 1, "{line}");
        }
    }
}
