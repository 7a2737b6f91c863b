fn main() -> std::process::ExitCode {
    lambda_xtask::main()
}
