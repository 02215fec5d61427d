//! The `OFPT_ERROR` code for a message that arrived whole but does not decode.
//!
//! The openflow codec names the structure that was wrong in every `DecodeError`; the error
//! goes to the family of that structure, as Open vSwitch answers: a bad length inside an
//! action is `OFPBAC_BAD_LEN`, inside an instruction `OFPBIC_BAD_LEN`, inside a match
//! `OFPBMC_BAD_LEN`; a mask on a field that has none is `OFPBMC_BAD_MASK`; everything else
//! that is the wrong size is `OFPBRC_BAD_LEN` (OF1.3.5 §7.4.4, table of error codes).

use openflow::error_msg::{
    BadActionCode, BadInstructionCode, BadMatchCode, BadRequestCode, ErrorCode,
};
use openflow::DecodeError;

/// The error a switch answers for a message that failed to decode with `e`.
pub fn decode_error_code(e: &DecodeError) -> ErrorCode {
    let (ctx, value_field) = match e {
        DecodeError::BadVersion { .. } => return BadRequestCode::BadVersion.into(),
        DecodeError::Truncated { ctx, .. }
        | DecodeError::BadLength { ctx, .. }
        | DecodeError::Unaligned { ctx, .. }
        | DecodeError::TrailingBytes { ctx, .. } => (*ctx, None),
        DecodeError::BadValue { ctx, field, .. } => (*ctx, Some(*field)),
        // A variant added to the codec later: the generic answer.
        _ => return BadRequestCode::BadLen.into(),
    };
    if ctx.starts_with("oxm") || ctx.starts_with("match") {
        return match value_field {
            Some("hasmask") => BadMatchCode::BadMask.into(),
            Some("type") => BadMatchCode::BadType.into(),
            Some(_) => BadMatchCode::BadValue.into(),
            None => BadMatchCode::BadLen.into(),
        };
    }
    if ctx.starts_with("action") {
        return BadActionCode::BadLen.into();
    }
    if ctx.starts_with("instruction") {
        return BadInstructionCode::BadLen.into();
    }
    BadRequestCode::BadLen.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families() {
        let t = |ctx| DecodeError::Truncated {
            ctx,
            offset: 0,
            need: 8,
            have: 4,
        };
        assert_eq!(
            decode_error_code(&t("action OUTPUT")),
            BadActionCode::BadLen.into()
        );
        assert_eq!(
            decode_error_code(&t("instruction GOTO_TABLE")),
            BadInstructionCode::BadLen.into()
        );
        assert_eq!(decode_error_code(&t("oxm")), BadMatchCode::BadLen.into());
        assert_eq!(
            decode_error_code(&t("flow_mod")),
            BadRequestCode::BadLen.into()
        );
        let v = DecodeError::BadValue {
            ctx: "oxm IN_PORT",
            field: "hasmask",
            value: 1,
        };
        assert_eq!(decode_error_code(&v), BadMatchCode::BadMask.into());
        assert_eq!(
            decode_error_code(&DecodeError::BadVersion { version: 1 }),
            BadRequestCode::BadVersion.into()
        );
    }
}
