//! Rewrites the run settings in the Python package's type stub (`python/imprl/__init__.pyi`)
//! from the settings declaration: `cargo run --release --example python_stub`.

use std::path::Path;

fn main() -> anyhow::Result<()> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/imprl/__init__.pyi");
    let stub = std::fs::read_to_string(&path)?;
    let new = imprl::config::python_stub::rewrite_stub(&stub)
        .ok_or_else(|| anyhow::anyhow!("{}: no generated block", path.display()))?;
    if new != stub {
        std::fs::write(&path, new)?;
        println!("{} rewritten", path.display());
    } else {
        println!("{} is up to date", path.display());
    }
    Ok(())
}
