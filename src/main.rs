//! The `basalt` binary: everything lives in the library; see `basalt::cli`.

fn main() -> std::process::ExitCode {
    basalt::cli::main()
}
