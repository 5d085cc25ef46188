//! `arvo-docs`: writes the AsyncAPI document and the HTML catalogue of the workspace's example
//! contracts and workflows (`cargo run -p arvo-docs -- --out target/arvo-docs`).

fn main() -> std::process::ExitCode {
    arvo_docs::cli::main_with(arvo_docs::examples::catalogue)
}
