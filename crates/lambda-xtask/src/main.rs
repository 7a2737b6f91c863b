//! `lambda-xtask`: the library's own binary, for what comes before a repository has an xtask
//! (`lambda-xtask lambda-init`) and for the library's tests. A repository's `cargo xtask` is
//! the same program: its `main` calls [`lambda_xtask::main`].

fn main() -> std::process::ExitCode {
    lambda_xtask::main()
}
