//! Enums that users name on the command line and in config files (`--policy one-cycle`,
//! `"dataset": "synthetic"`): one list of (variant, name) gives `name()`, `Display`, `FromStr`
//! and serde, so that a flag and a config file accept the same spellings with the same errors.

/// Implements `Display` and `FromStr` from a list of (variant, name); parsing also accepts
/// `_` for `-` (PyTorch spells the mode `exp_range`) and any case.
#[macro_export]
macro_rules! named_enum {
    ($t:ident, $what:literal, $($v:ident => $name:literal),+) => {
        impl $t {
            /// Every variant, in the order the help text lists them.
            pub const ALL: &'static [$t] = &[$($t::$v),+];

            /// The name used on the command line and in config files.
            pub fn name(self) -> &'static str {
                match self { $($t::$v => $name),+ }
            }
        }

        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <String as serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }

        impl std::str::FromStr for $t {
            type Err = $crate::error::UsageError;

            fn from_str(s: &str) -> Result<Self, $crate::error::UsageError> {
                let wanted = s.trim().to_ascii_lowercase().replace('_', "-");
                Self::ALL.iter().copied().find(|v| v.name() == wanted).ok_or_else(|| {
                    let names: Vec<&str> = Self::ALL.iter().map(|v| v.name()).collect();
                    $crate::error::UsageError::new(format!(
                        concat!("unknown ", $what, " '{}'; valid: {}"),
                        s,
                        names.join(", ")
                    ))
                })
            }
        }
    };
}
