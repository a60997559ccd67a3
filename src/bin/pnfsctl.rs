fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(pnfs_controld::cli::main())
}
