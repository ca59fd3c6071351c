//! A stand-alone supervisor, for this crate's tests and for debugging: the same as
//! `weir supervise ARGS...` (see `weir_compute::supervisor`), without the rest of `weir`.

fn main() {
    // First thing, before any other thread exists: the supervisor blocks signals in the
    // calling thread and relies on every later thread inheriting that mask.
    std::process::exit(weir_compute::supervisor::main(
        std::env::args_os().skip(1),
        std::env::vars_os().collect(),
    ));
}
