//! The types a run setting can have, and how each is read (TOML, flags, the store), written
//! (keys, exports, the store) and described (help, errors, the README's table).

use crate::domain::{DomainKind, Slip, Targets};
use crate::linalg::SolverKind;
use crate::optim::OptimizerKind;
use crate::param::{GradMode, LearnEta, ParamKind, Reduce};
use crate::train::Sampling;
use rusqlite::types::{Value as SqlValue, ValueRef};

/// A user-supplied value before it is parsed: from a TOML file or a command-line flag.
#[derive(Debug, Clone, Copy)]
pub enum Raw<'a> {
    /// A TOML value (`eta = 0.9`).
    Toml(&'a toml::Value),
    /// The text of a flag (`--eta 0.9`).
    Text(&'a str),
}

impl std::fmt::Display for Raw<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Raw::Toml(v) => write!(f, "{v}"),
            Raw::Text(s) => f.write_str(s),
        }
    }
}

/// A type that a run setting can have.
pub trait SettingType: Sized + Clone + Copy + PartialEq + std::fmt::Debug {
    /// The placeholder of a value in `--help` (`NUMBER`, `INTEGER`, …).
    const VALUE_NAME: &'static str;
    /// The SQL type of its store column.
    const SQL_TYPE: &'static str;
    /// True for numbers: flags accept a leading minus sign.
    const NUMERIC: bool = false;
    /// True for booleans: a flag alone means `true`.
    const BOOLEAN: bool = false;
    /// The values of this type, in words (`a number`, or the list of names).
    fn kind() -> String;
    /// Parses a raw value; `None` when it is not of this type.
    fn parse(raw: Raw<'_>) -> Option<Self>;
    /// Parses a raw value from user input, with a specific error where the type has one
    /// (an own domain's file that fails validation); `Err(None)` means "not of this type".
    fn parse_checked(raw: Raw<'_>) -> Result<Self, Option<super::ConfigError>> {
        Self::parse(raw).ok_or(None)
    }
    /// The canonical text: in run keys, exports and messages (floats in their shortest exact
    /// decimal form, `-0` as `0`).
    fn text(&self) -> String;
    /// The value as stored.
    fn to_sql(&self) -> SqlValue;
    /// The value from its store column; `None` when the column holds something else.
    fn from_sql(v: ValueRef<'_>) -> Option<Self>;
    /// The canonical member of this value's class (`-0.0` is `0.0`): two settings that mean the
    /// same run compare equal and have one key.
    fn canonical(self) -> Self {
        self
    }
    /// The names of an enumeration's members (empty for other types).
    fn names() -> Vec<&'static str> {
        Vec::new()
    }
}

/// `x` in its shortest exact decimal form: plain digits for ordinary magnitudes (`0.95`, `128`),
/// exponent notation outside `[1e-5, 1e16)` (`1e-300`, not 302 characters), `-0` as `0`.
pub fn fmt_f64(x: f64) -> String {
    let x = x + 0.0;
    let a = x.abs();
    if a != 0.0 && a.is_finite() && !(1e-5..1e16).contains(&a) {
        format!("{x:e}")
    } else {
        x.to_string()
    }
}

impl SettingType for f64 {
    const VALUE_NAME: &'static str = "NUMBER";
    const SQL_TYPE: &'static str = "REAL";
    const NUMERIC: bool = true;
    fn kind() -> String {
        "a number".into()
    }
    fn parse(raw: Raw<'_>) -> Option<Self> {
        match raw {
            Raw::Toml(toml::Value::Float(x)) => Some(*x),
            Raw::Toml(toml::Value::Integer(i)) => Some(*i as f64),
            Raw::Toml(_) => None,
            Raw::Text(s) => s.trim().parse().ok(),
        }
    }
    fn text(&self) -> String {
        fmt_f64(*self)
    }
    fn to_sql(&self) -> SqlValue {
        SqlValue::Real(self.canonical())
    }
    fn from_sql(v: ValueRef<'_>) -> Option<Self> {
        match v {
            ValueRef::Real(x) => Some(x + 0.0),
            ValueRef::Integer(i) => Some(i as f64),
            _ => None,
        }
    }
    fn canonical(self) -> Self {
        self + 0.0
    }
}

/// Unsigned integers in SQLite's signed 64-bit integers: `to_sql`/`from_sql` give the
/// conversion (a `u64` by its bits, as stores have always held seeds; a `usize` by value).
macro_rules! unsigned_setting {
    ($t:ty, $to_sql:expr, $from_sql:expr) => {
        impl SettingType for $t {
            const VALUE_NAME: &'static str = "INTEGER";
            const SQL_TYPE: &'static str = "INTEGER";
            fn kind() -> String {
                "a non-negative integer".into()
            }
            fn parse(raw: Raw<'_>) -> Option<Self> {
                match raw {
                    Raw::Toml(toml::Value::Integer(i)) => <$t>::try_from(*i).ok(),
                    Raw::Toml(_) => None,
                    Raw::Text(s) => s.trim().parse().ok(),
                }
            }
            fn text(&self) -> String {
                self.to_string()
            }
            fn to_sql(&self) -> SqlValue {
                let to: fn($t) -> i64 = $to_sql;
                SqlValue::Integer(to(*self))
            }
            fn from_sql(v: ValueRef<'_>) -> Option<Self> {
                let from: fn(i64) -> Option<$t> = $from_sql;
                match v {
                    ValueRef::Integer(i) => from(i),
                    _ => None,
                }
            }
        }
    };
}
unsigned_setting!(u64, |x| x as i64, |i| Some(i as u64));
unsigned_setting!(usize, |x| i64::try_from(x).unwrap_or(i64::MAX), |i| {
    usize::try_from(i).ok()
});

impl SettingType for bool {
    const VALUE_NAME: &'static str = "BOOL";
    const SQL_TYPE: &'static str = "INTEGER";
    const BOOLEAN: bool = true;
    fn kind() -> String {
        "true, false".into()
    }
    fn parse(raw: Raw<'_>) -> Option<Self> {
        match raw {
            Raw::Toml(toml::Value::Boolean(b)) => Some(*b),
            Raw::Toml(_) => None,
            Raw::Text(s) => s.trim().parse().ok(),
        }
    }
    fn text(&self) -> String {
        self.to_string()
    }
    fn to_sql(&self) -> SqlValue {
        SqlValue::Integer(i64::from(*self))
    }
    fn from_sql(v: ValueRef<'_>) -> Option<Self> {
        match v {
            ValueRef::Integer(0) => Some(false),
            ValueRef::Integer(1) => Some(true),
            _ => None,
        }
    }
    fn names() -> Vec<&'static str> {
        vec!["true", "false"]
    }
}

/// An enumeration setting: its members and their names (the flag and TOML spelling).
macro_rules! enum_setting {
    ($t:ty { $($variant:path => $name:literal),+ $(,)? }) => {
        impl SettingType for $t {
            const VALUE_NAME: &'static str = "NAME";
            const SQL_TYPE: &'static str = "TEXT";
            fn kind() -> String {
                Self::names().join(", ")
            }
            fn parse(raw: Raw<'_>) -> Option<Self> {
                let s = match raw {
                    Raw::Toml(toml::Value::String(s)) => s.as_str(),
                    Raw::Toml(_) => return None,
                    Raw::Text(s) => s.trim(),
                };
                match s {
                    $($name => Some($variant),)+
                    _ => None,
                }
            }
            fn text(&self) -> String {
                match self {
                    $($variant => $name,)+
                }
                .to_string()
            }
            fn to_sql(&self) -> SqlValue {
                SqlValue::Text(self.text())
            }
            fn from_sql(v: ValueRef<'_>) -> Option<Self> {
                match v {
                    ValueRef::Text(t) => Self::parse(Raw::Text(std::str::from_utf8(t).ok()?)),
                    _ => None,
                }
            }
            fn names() -> Vec<&'static str> {
                vec![$($name),+]
            }
        }
    };
}

/// The paper's domains by name, and own ones as `file:PATH` / `data:DIR`. Parsing user input
/// ([`SettingType::parse_checked`]) canonicalizes an own domain's path
/// ([`DomainKind::canonical`]) and loads and validates it; reading a store back only names it,
/// as stored.
impl SettingType for DomainKind {
    const VALUE_NAME: &'static str = "NAME";
    const SQL_TYPE: &'static str = "TEXT";
    fn kind() -> String {
        format!("{}, file:PATH.toml, data:DIR", Self::names().join(", "))
    }
    fn parse(raw: Raw<'_>) -> Option<Self> {
        match raw {
            Raw::Toml(toml::Value::String(s)) => DomainKind::from_name(s.trim()),
            Raw::Toml(_) => None,
            Raw::Text(s) => DomainKind::from_name(s.trim()),
        }
    }
    fn parse_checked(raw: Raw<'_>) -> Result<Self, Option<super::ConfigError>> {
        let d = Self::parse(raw).ok_or(None)?.canonical();
        match d.own() {
            Some(Err(e)) => Err(Some(super::ConfigError::File {
                path: e.path,
                message: e.message,
            })),
            _ => Ok(d),
        }
    }
    fn text(&self) -> String {
        self.name().to_string()
    }
    fn to_sql(&self) -> SqlValue {
        SqlValue::Text(self.text())
    }
    fn from_sql(v: ValueRef<'_>) -> Option<Self> {
        match v {
            ValueRef::Text(t) => DomainKind::from_name(std::str::from_utf8(t).ok()?),
            _ => None,
        }
    }
    fn names() -> Vec<&'static str> {
        DomainKind::ALL.iter().map(|d| d.name()).collect()
    }
}
/// The parameterizations by their one spelling ([`ParamKind::name`]).
impl SettingType for ParamKind {
    const VALUE_NAME: &'static str = "NAME";
    const SQL_TYPE: &'static str = "TEXT";
    fn kind() -> String {
        Self::names().join(", ")
    }
    fn parse(raw: Raw<'_>) -> Option<Self> {
        match raw {
            Raw::Toml(toml::Value::String(s)) => ParamKind::from_name(s),
            Raw::Toml(_) => None,
            Raw::Text(s) => ParamKind::from_name(s.trim()),
        }
    }
    fn text(&self) -> String {
        self.name().to_string()
    }
    fn to_sql(&self) -> SqlValue {
        SqlValue::Text(self.text())
    }
    fn from_sql(v: ValueRef<'_>) -> Option<Self> {
        match v {
            ValueRef::Text(t) => ParamKind::from_name(std::str::from_utf8(t).ok()?),
            _ => None,
        }
    }
    fn names() -> Vec<&'static str> {
        ParamKind::ALL.iter().map(|p| p.name()).collect()
    }
}
enum_setting!(Sampling {
    Sampling::WithReplacement => "with-replacement",
    Sampling::WithoutReplacement => "without-replacement",
});
enum_setting!(Slip {
    Slip::Published => "published",
    Slip::Stay => "stay",
});
enum_setting!(SolverKind {
    SolverKind::Lu => "lu",
    SolverKind::Refine => "refine",
    SolverKind::Gmres => "gmres",
    SolverKind::Auto => "auto",
    SolverKind::Published => "published",
});
enum_setting!(Reduce {
    Reduce::Max => "max",
    Reduce::LogSumExp => "logsumexp",
});
enum_setting!(LearnEta {
    LearnEta::None => "none",
    LearnEta::Scalar => "scalar",
    LearnEta::PerStateAction => "per-state-action",
});
enum_setting!(OptimizerKind {
    OptimizerKind::Sgd => "sgd",
    OptimizerKind::Momentum => "momentum",
    OptimizerKind::Adam => "adam",
});

/// A setting written as text by its type's own `parse` and `text` (`mc`, `td:3`; `ift`,
/// `unroll:8`), stored as TEXT.
macro_rules! text_setting {
    ($t:ty, $value_name:literal, $kind:expr) => {
        impl SettingType for $t {
            const VALUE_NAME: &'static str = $value_name;
            const SQL_TYPE: &'static str = "TEXT";
            fn kind() -> String {
                $kind
            }
            fn parse(raw: Raw<'_>) -> Option<Self> {
                match raw {
                    Raw::Toml(toml::Value::String(s)) => <$t>::parse(s),
                    Raw::Toml(_) => None,
                    Raw::Text(s) => <$t>::parse(s),
                }
            }
            fn text(&self) -> String {
                <$t>::text(*self)
            }
            fn to_sql(&self) -> SqlValue {
                SqlValue::Text(self.text())
            }
            fn from_sql(v: ValueRef<'_>) -> Option<Self> {
                match v {
                    ValueRef::Text(t) => <$t>::parse(std::str::from_utf8(t).ok()?),
                    _ => None,
                }
            }
        }
    };
}

// The training targets (SPEC §8.5).
text_setting!(Targets, "TARGETS", "mc, td:N (N >= 1)".into());
// The gradient mode (SPEC §8.3): `ift`, `unroll:K`, `unroll-warm:K`, `truncated:K`.
text_setting!(
    GradMode,
    "MODE",
    format!(
        "ift, unroll:K, unroll-warm:K, truncated:K with K an integer from 1 to {}",
        crate::param::grad_mode::MAX_K
    )
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_are_short_and_signless_at_zero() {
        assert_eq!(fmt_f64(-0.0), "0");
        assert_eq!(fmt_f64(0.95), "0.95");
        assert_eq!(fmt_f64(128.0), "128");
        assert_eq!(fmt_f64(1e-300), "1e-300");
        assert_eq!(fmt_f64(2f64.powi(-7)), "0.0078125");
        for x in [
            1e-300,
            0.1,
            1.0 / 3.0,
            5e-324,
            1.7976931348623157e308,
            -2.5e-7,
        ] {
            assert_eq!(fmt_f64(x).parse::<f64>(), Ok(x));
        }
    }

    #[test]
    fn every_enum_name_round_trips() {
        fn check<T: SettingType>() {
            for n in T::names() {
                let v = T::parse(Raw::Text(n)).expect(n);
                assert_eq!(v.text(), n);
                assert_eq!(T::from_sql(ValueRef::from(&v.to_sql())), Some(v));
            }
        }
        check::<DomainKind>();
        check::<ParamKind>();
        check::<Sampling>();
        check::<Slip>();
        check::<SolverKind>();
        check::<Reduce>();
        check::<LearnEta>();
        check::<OptimizerKind>();
        check::<bool>();
    }

    #[test]
    fn grad_modes_round_trip_and_k_must_be_positive() {
        for text in ["ift", "unroll:8", "unroll-warm:1", "truncated:64"] {
            let v = GradMode::parse(text).expect(text);
            assert_eq!(SettingType::text(&v), text);
            assert_eq!(GradMode::from_sql(ValueRef::from(&v.to_sql())), Some(v));
            let t = toml::Value::String(text.into());
            assert_eq!(<GradMode as SettingType>::parse(Raw::Toml(&t)), Some(v));
        }
        assert_eq!(
            <GradMode as SettingType>::parse(Raw::Text("unroll:0")),
            None
        );
        assert!(GradMode::kind().contains("K an integer from 1"));
    }
}
