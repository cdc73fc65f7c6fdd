//! The macro that turns the one declaration of the run settings ([`super::settings`]) into
//! everything that needs them: the validated [`RunConfig`](super::RunConfig), the partial
//! [`RunSettings`](super::RunSettings) a user gives, the descriptor table
//! [`SETTINGS`](super::SETTINGS) (flags, help, README table, store columns, export header),
//! parsing by name, the run key and the store's row codec.

/// How a setting gets its value when the user gives none.
#[derive(Debug, Clone, Copy)]
pub enum DefaultValue<T: 'static> {
    /// The user must give it.
    Required,
    /// A constant.
    Value(T),
    /// Computed from the other settings; the text says how, for help and docs. It may read the
    /// settings declared before it (resolved and checked when it is computed), and the given or
    /// constant-default values of non-derived settings declared after it, which are not yet
    /// checked (it must then tolerate an invalid one: that setting's own check refuses it).
    Derived(fn(&super::RunConfig) -> T, &'static str),
}

/// Declares the run settings. Each entry is
///
/// ```text
/// /// One doc line (help, README table, rustdoc).
/// name: Type = default, "allowed values in words" => |x: &Type| check;
/// ```
///
/// with `default` a [`DefaultValue`] (`Required`, `Value(v)` or `Derived(f, "how")`); an empty "allowed" text means "every value of the type" (the
/// type's own description is shown).
macro_rules! declare_settings {
    ($(
        $(#[doc = $doc:literal])+
        $name:ident : $ty:ty = $default:expr, $allowed:literal => $check:expr;
    )+) => {
        /// A fully specified, validated training run: one field per declared setting
        /// (see [`SETTINGS`] and the module documentation).
        #[derive(Debug, Clone, Copy, PartialEq)]
        pub struct RunConfig {
            $($(#[doc = $doc])+ pub $name: $ty,)+
        }

        /// Run settings as a user gives them: every field optional; later sources override
        /// earlier ones ([`RunSettings::overridden_by`]), [`RunSettings::resolve`] fills in the
        /// defaults and checks every value.
        #[derive(Debug, Clone, Copy, Default, PartialEq)]
        pub struct RunSettings {
            $($(#[doc = $doc])+ pub $name: Option<$ty>,)+
        }

        /// Every declared setting, in declaration order (the grid's expansion order).
        pub static SETTINGS: &[Setting] = &[$(
            Setting {
                name: stringify!($name),
                doc: concat!($($doc),+),
                value_name: <$ty as SettingType>::VALUE_NAME,
                sql_type: <$ty as SettingType>::SQL_TYPE,
                numeric: <$ty as SettingType>::NUMERIC,
                boolean: <$ty as SettingType>::BOOLEAN,
                allowed: || if $allowed.is_empty() { <$ty as SettingType>::kind() } else { $allowed.to_string() },
                names: <$ty as SettingType>::names,
                default_text: || match $default {
                    $crate::config::declare::DefaultValue::<$ty>::Required => None,
                    $crate::config::declare::DefaultValue::Value(v) => Some(v.text()),
                    $crate::config::declare::DefaultValue::Derived(_, how) => Some(how.to_string()),
                },
                default_sql: || match $default {
                    $crate::config::declare::DefaultValue::<$ty>::Value(v) => Some(v.to_sql()),
                    _ => None,
                },
            },
        )+];

        impl RunSettings {
            /// Sets the setting called `name` from a raw value, checking its type (its range is
            /// checked by [`RunSettings::resolve`]).
            pub fn set(&mut self, name: &str, raw: Raw<'_>) -> Result<(), ConfigError> {
                match name {
                    $(stringify!($name) => {
                        self.$name = Some(<$ty as SettingType>::parse_checked(raw).map_err(|e| {
                            e.unwrap_or_else(|| ConfigError::invalid(name, raw, &allowed(name)))
                        })?.canonical());
                    })+
                    _ => return Err(ConfigError::unknown(name)),
                }
                Ok(())
            }

            /// The canonical text of setting `name`'s given value (`None` when not given or
            /// not a setting).
            pub fn text_of(&self, name: &str) -> Option<String> {
                match name {
                    $(stringify!($name) => self.$name.map(|v| v.text()),)+
                    _ => None,
                }
            }

            /// `other`'s settings where given, else `self`'s.
            pub fn overridden_by(&self, other: &RunSettings) -> RunSettings {
                RunSettings { $($name: other.$name.or(self.$name),)+ }
            }

            /// The validated run: defaults filled in, every value checked against its declared
            /// range, then the rules between settings ([`check_together`]); the error names the
            /// first offending setting. This is the one check of a run's settings: the command
            /// line, TOML files, grids and Python all resolve through it.
            pub fn resolve(&self) -> Result<RunConfig, ConfigError> {
                // Given values and constant defaults first, derived defaults from them after.
                let mut c = RunConfig {$(
                    $name: match (self.$name, $default) {
                        (Some(v), _) => v,
                        (None, $crate::config::declare::DefaultValue::<$ty>::Value(v)) => v,
                        (None, $crate::config::declare::DefaultValue::Required) => {
                            return Err(ConfigError::missing(stringify!($name)))
                        }
                        (None, $crate::config::declare::DefaultValue::Derived(..)) => Placeholder::placeholder(),
                    },
                )+};
                $(
                    if let (None, $crate::config::declare::DefaultValue::<$ty>::Derived(f, _)) = (self.$name, $default) {
                        c.$name = f(&c);
                    }
                    c.$name = c.$name.canonical();
                    let check: fn(&$ty) -> bool = $check;
                    if !check(&c.$name) {
                        return Err(ConfigError::invalid(
                            stringify!($name), c.$name.text(), &allowed(stringify!($name))));
                    }
                )+
                check_together(&c)?;
                Ok(c)
            }
        }

        impl RunConfig {
            /// The canonical text of each setting, in declaration order.
            pub fn texts(&self) -> Vec<(&'static str, String)> {
                vec![$((stringify!($name), self.$name.text()),)+]
            }

            /// The canonical text of the setting called `name`.
            pub fn text_of(&self, name: &str) -> Option<String> {
                match name {
                    $(stringify!($name) => Some(self.$name.text()),)+
                    _ => None,
                }
            }

            /// The store's values of every setting, in declaration order.
            pub fn sql_values(&self) -> Vec<rusqlite::types::Value> {
                vec![$(self.$name.to_sql(),)+]
            }

            /// The run read back from a store row, column by name: `get(name)` gives the
            /// column's value. The error names the setting whose column is missing or bad.
            pub fn from_sql_columns(
                mut get: impl FnMut(&str) -> Option<rusqlite::types::Value>,
            ) -> Result<RunConfig, (&'static str, String)> {
                Ok(RunConfig {$(
                    $name: {
                        let v = get(stringify!($name)).ok_or((stringify!($name), "(no such column)".to_string()))?;
                        <$ty as SettingType>::from_sql(rusqlite::types::ValueRef::from(&v))
                            .ok_or_else(|| (stringify!($name), format!("{v:?}")))?
                    },
                )+})
            }
        }
    };
}

/// A value to hold a derived setting's place until it is computed.
pub trait Placeholder {
    /// Any value of the type.
    fn placeholder() -> Self;
}

impl<T: super::value::SettingType> Placeholder for T {
    fn placeholder() -> Self {
        T::parse(super::value::Raw::Text(
            T::names().first().copied().unwrap_or("0"),
        ))
        .unwrap_or_else(|| unreachable!("every setting type parses its first name or 0"))
    }
}
