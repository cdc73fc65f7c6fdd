//! Every declared setting reaches every place derived from the declaration: the `--help` of
//! the commands that take run settings, TOML files, grids (as a list), validation messages,
//! run keys, the store (by round trip) and the tidy export. A setting missing anywhere fails.

use assert_cmd::Command;
use imprl::config::{Raw, RunSettings, SETTINGS};
use imprl::record::RunRecord;
use imprl::store::Store;
use imprl::train::Outcome;

/// A valid value of each setting, as TOML text.
fn sample(name: &str) -> String {
    let s = imprl::config::setting(name).expect("declared");
    let text = match name {
        "domain" => "chain".to_string(),
        "param" => "explicit".to_string(),
        "lr" => "0.25".to_string(),
        _ => (s.default_text)().expect("constant default"),
    };
    // Text values (enumerations, gradient modes) are TOML strings.
    if s.sql_type != "TEXT" {
        text
    } else {
        format!("'{text}'")
    }
}

#[test]
fn every_setting_is_a_flag_with_its_default_and_range_in_help() {
    for cmd in ["run", "theory"] {
        let out = Command::cargo_bin("imprl")
            .expect("binary")
            .args([cmd, "--help"])
            .output()
            .expect("help");
        let help = String::from_utf8_lossy(&out.stdout);
        for s in SETTINGS {
            if cmd == "theory" && s.name == "param" {
                assert!(
                    !help.contains("--param"),
                    "theory runs both parameterizations"
                );
                continue;
            }
            let flag = format!("--{} ", s.flag());
            let line = help
                .lines()
                .find(|l| {
                    l.trim_start().starts_with(&flag)
                        || l.contains(&format!("--{} <", s.flag()))
                        || l.contains(&format!("--{} [", s.flag()))
                })
                .unwrap_or_else(|| panic!("{cmd} --help lacks --{}:\n{help}", s.flag()));
            assert!(line.contains(&(s.allowed)()), "{line}");
        }
    }
}

#[test]
fn every_setting_is_read_from_toml_and_grids_and_named_when_bad() {
    let all: String = SETTINGS
        .iter()
        .map(|s| format!("{} = {}\n", s.name, sample(s.name)))
        .collect();
    let table: toml::Table = all.parse().expect("toml");
    let run = RunSettings::from_toml_table(&table)
        .and_then(|s| s.resolve())
        .expect("every sample is valid");
    for s in SETTINGS {
        assert!(run.text_of(s.name).is_some(), "{}", s.name);
        // In a grid, every setting may be a list.
        let grid: String = SETTINGS
            .iter()
            .map(|t| {
                let v = sample(t.name);
                if t.name == s.name {
                    format!("{} = [{v}]\n", t.name)
                } else {
                    format!("{} = {v}\n", t.name)
                }
            })
            .collect();
        let g = imprl::sweep::Grid::from_toml_table(&grid.parse().expect("toml"))
            .unwrap_or_else(|e| panic!("{}: {e}", s.name));
        assert_eq!(g.runs(), &[run]);
        // A bad value names the setting.
        let mut bad = RunSettings::default();
        let e = bad
            .set(s.name, Raw::Text("not a value"))
            .expect_err(s.name)
            .to_string();
        assert!(e.contains(&format!("`{}`", s.name)), "{e}");
        // The key names it.
        assert!(run.key().contains(&format!("{}=", s.name)), "{}", s.name);
    }
}

#[test]
fn every_setting_round_trips_through_the_store_and_reaches_the_export() {
    let table: toml::Table = SETTINGS
        .iter()
        .map(|s| format!("{} = {}\n", s.name, sample(s.name)))
        .collect::<String>()
        .parse()
        .expect("toml");
    let config = RunSettings::from_toml_table(&table)
        .and_then(|s| s.resolve())
        .expect("valid");
    let rec = RunRecord {
        theta: None,
        config,
        outcome: Outcome::Diverged { step: 0 },
        runtime_s: 0.5,
        rows: Vec::new(),
    };
    let dir = tempfile::tempdir().expect("tempdir");
    Store::open(dir.path())
        .and_then(|mut s| s.insert(&rec))
        .expect("insert");
    let back = Store::open_read(dir.path())
        .and_then(|s| s.load_all())
        .expect("load");
    assert_eq!(back, vec![rec.clone()]);
    let mut csv = Vec::new();
    imprl::export::write_tidy_csv(&mut csv, back).expect("export");
    let text = String::from_utf8(csv).expect("utf8");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let row: Vec<&str> = lines
        .next()
        .expect("a run without evaluations still has a row")
        .split(',')
        .collect();
    for s in SETTINGS {
        let i = header
            .iter()
            .position(|h| *h == s.name)
            .unwrap_or_else(|| panic!("{} not exported", s.name));
        assert_eq!(
            Some(row[i].to_string()),
            rec.config.text_of(s.name),
            "{}",
            s.name
        );
    }
}
