//! The per-try supervisor as a small binary of its own: the same as `weir supervise`,
//! but a fraction of `weir`'s size, so starting one per try costs about a millisecond
//! less. The engine uses it when it sits beside the `weir` executable.

fn main() {
    // First thing, before any other thread exists: the supervisor sets the signal mask
    // every later thread inherits.
    std::process::exit(weir_compute::supervisor::main(
        std::env::args_os().skip(1),
        std::env::vars_os().collect(),
    ));
}
