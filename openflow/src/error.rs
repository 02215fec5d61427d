//! Errors of decoding and encoding. A decode error always names the structure (and so the
//! message part) that was wrong, and where.

/// Why received bytes are not a valid OpenFlow 1.3 structure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer bytes than the structure needs.
    #[error("{ctx}: truncated at byte {offset}: need {need}, have {have}")]
    Truncated {
        ctx: &'static str,
        offset: usize,
        need: usize,
        have: usize,
    },
    /// A length field that cannot be right (below the fixed part, or past the enclosing one).
    #[error("{ctx}: bad length {len} (at least {min})")]
    BadLength {
        ctx: &'static str,
        len: usize,
        min: usize,
    },
    /// A structure whose length is not a multiple of 8 where the spec requires it.
    #[error("{ctx}: length {len} is not a multiple of 8")]
    Unaligned { ctx: &'static str, len: usize },
    /// Bytes left over after the last element.
    #[error("{ctx}: {extra} unexpected trailing bytes at byte {offset}")]
    TrailingBytes {
        ctx: &'static str,
        offset: usize,
        extra: usize,
    },
    /// A field whose value the spec does not allow here.
    #[error("{ctx}: bad value {value:#x} for {field}")]
    BadValue {
        ctx: &'static str,
        field: &'static str,
        value: u64,
    },
    /// A message of a version other than 0x04 where 1.3 is required.
    #[error("unsupported OpenFlow version {version:#04x} (this codec speaks 0x04)")]
    BadVersion { version: u8 },
}

/// Why a value cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The message would be longer than a 16-bit length field allows (OF1.3.5 §7.1).
    #[error("{ctx}: {len} bytes exceed the 65535-byte OpenFlow message limit")]
    TooLong { ctx: &'static str, len: usize },
    /// The caller's buffer is smaller than the message.
    #[error("buffer of {have} bytes is too small for a {need}-byte message")]
    BufferTooSmall { need: usize, have: usize },
}
