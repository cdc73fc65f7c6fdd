//! Command-line flags derived from the settings declaration: one `--flag VALUE` per declared
//! setting (`--batch-size` for `batch_size`), its help line stating the default and the allowed
//! values. Values are kept as text and parsed by [`RunSettings::set`], so a bad flag gets the
//! same one-line error as a bad TOML value.

use super::{ConfigError, Raw, RunSettings, SETTINGS};
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::marker::PhantomData;

/// Which settings a command takes as flags.
pub trait FlagSet {
    /// Settings that the command does not take (it sets them itself).
    const EXCLUDE: &'static [&'static str];
}

/// Every setting.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllSettings;
impl FlagSet for AllSettings {
    const EXCLUDE: &'static [&'static str] = &[];
}

/// Every setting but the parameterization (for commands that run several).
#[derive(Debug, Clone, Copy, Default)]
pub struct AllButParam;
impl FlagSet for AllButParam {
    const EXCLUDE: &'static [&'static str] = &["param"];
}

/// The run settings given as flags, as text, in the order of the declaration.
#[derive(Debug, Clone)]
pub struct SettingFlags<S: FlagSet = AllSettings> {
    given: Vec<(&'static str, String)>,
    set: PhantomData<S>,
}

impl<S: FlagSet> Default for SettingFlags<S> {
    fn default() -> Self {
        Self {
            given: Vec::new(),
            set: PhantomData,
        }
    }
}

impl<S: FlagSet> SettingFlags<S> {
    /// The flags as settings; a bad value is a [`ConfigError`] naming its setting.
    pub fn settings(&self) -> Result<RunSettings, ConfigError> {
        let mut s = RunSettings::default();
        for (name, text) in &self.given {
            s.set(name, Raw::Text(text))?;
        }
        Ok(s)
    }

    /// The names of the settings given on the command line.
    pub fn given(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.given.iter().map(|(n, _)| *n)
    }
}

/// The help line of a setting: its doc, default and allowed values.
pub fn help_line(s: &super::Setting) -> String {
    let default = (s.default_text)().map_or("required".to_string(), |d| format!("default: {d}"));
    format!("{} [{default}] [allowed: {}]", s.doc_line(), (s.allowed)())
}

impl<S: FlagSet> clap::FromArgMatches for SettingFlags<S> {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let mut me = Self::default();
        me.update_from_arg_matches(m)?;
        Ok(me)
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        for s in SETTINGS.iter().filter(|s| !S::EXCLUDE.contains(&s.name)) {
            if let Some(v) = m.get_one::<String>(s.name) {
                self.given.retain(|(n, _)| *n != s.name);
                self.given.push((s.name, v.clone()));
            }
        }
        Ok(())
    }
}

impl<S: FlagSet> clap::Args for SettingFlags<S> {
    fn augment_args(mut cmd: Command) -> Command {
        for s in SETTINGS.iter().filter(|s| !S::EXCLUDE.contains(&s.name)) {
            let mut arg = Arg::new(s.name)
                .long(s.flag())
                .value_name(s.value_name)
                .help(help_line(s))
                .action(ArgAction::Set)
                .allow_negative_numbers(s.numeric)
                .help_heading("Run settings");
            if s.boolean {
                // `--bias` alone means true.
                arg = arg
                    .num_args(0..=1)
                    .default_missing_value("true")
                    .value_name("BOOL");
            }
            cmd = cmd.arg(arg);
        }
        cmd
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}
