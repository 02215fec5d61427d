//! `open_enum!`: protocol numbers as enums that keep unknown values.

/// Declares an enum over an integer where values the spec (or this crate) does not know are
/// kept as `Other(n)`, so they survive a decode/encode round trip and print in hex.
/// `From<repr>` never yields `Other(n)` for a known `n`.
macro_rules! open_enum {
    (
        $(#[$m:meta])*
        $vis:vis enum $name:ident: $repr:ty {
            $( $(#[$vm:meta])* $var:ident = $val:expr ),* $(,)?
        }
    ) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name {
            $( $(#[$vm])* $var, )*
            /// A value this crate has no name for, kept as received.
            Other($repr),
        }

        impl $name {
            /// Every value with a name, for tests and generators.
            #[allow(dead_code)]
            pub const KNOWN: &'static [$name] = &[$($name::$var),*];

            /// The wire value.
            #[inline]
            pub const fn value(self) -> $repr {
                match self {
                    $( $name::$var => $val, )*
                    $name::Other(v) => v,
                }
            }
        }

        impl From<$repr> for $name {
            #[inline]
            fn from(v: $repr) -> Self {
                #[allow(unreachable_patterns)]
                match v {
                    $( x if x == $val => $name::$var, )*
                    other => $name::Other(other),
                }
            }
        }

        impl From<$name> for $repr {
            #[inline]
            fn from(v: $name) -> $repr {
                v.value()
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                match self {
                    $( $name::$var => f.write_str(stringify!($var)), )*
                    $name::Other(v) => write!(f, "{}({:#x})", stringify!($name), v),
                }
            }
        }
    };
}

pub(crate) use open_enum;
