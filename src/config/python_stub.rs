//! The run settings as keyword arguments of the Python package's `imprl.run` (its type stub
//! `python/imprl/__init__.pyi`), derived from the declaration ([`super::SETTINGS`]) so that a
//! new setting cannot leave the stub stale: a unit test compares the stub with
//! [`python_run_keywords`]; `cargo run --example python_stub` rewrites it.

use super::{Setting, SETTINGS};

/// The first line of the generated block in the stub.
pub const STUB_BEGIN: &str =
    "    # BEGIN run settings (generated from the declaration: cargo run --example python_stub)\n";
/// The last line of the generated block in the stub.
pub const STUB_END: &str = "    # END run settings\n";

/// The Python type of a setting's values in the stub: `bool`, `float`, `int`, a `Literal` of an
/// enumeration's names (only when they are all its values: `domain` also takes `file:PATH` and
/// `data:DIR`), else `str`.
pub fn python_type(s: &Setting) -> String {
    let names = (s.names)();
    match (s.boolean, s.sql_type) {
        (true, _) => "bool".into(),
        (_, "REAL") => "float".into(),
        (_, "INTEGER") => "int".into(),
        _ if !names.is_empty() && (s.allowed)() == names.join(", ") => {
            let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
            format!("Literal[{}]", quoted.join(", "))
        }
        _ => "str".into(),
    }
}

/// The generated block of `imprl.run`'s stub: `domain` and `param` positional, every other
/// setting a keyword with its type and a comment with its default and doc line.
pub fn python_run_keywords() -> String {
    let mut out = String::from(STUB_BEGIN);
    let required = |s: &&Setting| (s.default_text)().is_none();
    for s in SETTINGS.iter().filter(required) {
        out.push_str(&format!("    {}: {},\n", s.name, python_type(s)));
    }
    out.push_str("    *,\n");
    for s in SETTINGS.iter().filter(|s| !required(s)) {
        let default = (s.default_text)().unwrap_or_default();
        out.push_str(&format!(
            "    {}: {} = ...,  # default: {}. {}\n",
            s.name,
            python_type(s),
            default,
            s.doc_line()
        ));
    }
    out.push_str(STUB_END);
    out
}

/// `stub` with its generated block replaced by [`python_run_keywords`]; `None` when it has no
/// such block.
pub fn rewrite_stub(stub: &str) -> Option<String> {
    let start = stub.find(STUB_BEGIN)?;
    let end = stub[start..].find(STUB_END)? + start + STUB_END.len();
    Some(format!(
        "{}{}{}",
        &stub[..start],
        python_run_keywords(),
        &stub[end..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Python stub's keywords of `imprl.run` are the declared settings.
    #[test]
    fn python_stub_lists_the_declared_settings() {
        let stub = include_str!("../../python/imprl/__init__.pyi");
        assert!(
            stub.contains(&python_run_keywords()),
            "python/imprl/__init__.pyi lists other settings than the declaration; regenerate it \
             with `cargo run --release --example python_stub`"
        );
        for s in SETTINGS {
            assert!(stub.contains(&format!("    {}: ", s.name)), "{}", s.name);
        }
    }

    #[test]
    fn rewriting_replaces_only_the_block() {
        let stub = format!("head\n{STUB_BEGIN}    old: int,\n{STUB_END}tail\n");
        let new = rewrite_stub(&stub).expect("a block");
        assert!(new.starts_with("head\n") && new.ends_with("tail\n"));
        assert!(!new.contains("old: int"));
        assert_eq!(rewrite_stub(&new).as_deref(), Some(new.as_str()));
        assert!(rewrite_stub("no block").is_none());
    }
}
