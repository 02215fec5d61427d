//! Multipart requests and replies (OF1.3.5 §7.3.5). PLACEHOLDER: being written.

use crate::error::DecodeError;
use crate::wire::{Reader, Wire, Writer};

/// `OFPT_MULTIPART_REQUEST` body (after the OpenFlow header). Parsing consumes the reader to
/// its end: the body runs to the end of the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MultipartRequest {
    pub raw: Vec<u8>,
}

/// `OFPT_MULTIPART_REPLY` body (after the OpenFlow header). Parsing consumes the reader to
/// its end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MultipartReply {
    pub raw: Vec<u8>,
}

impl Wire for MultipartRequest {
    fn wire_len(&self) -> usize {
        self.raw.len()
    }
    fn emit(&self, w: &mut Writer<'_>) {
        w.bytes(&self.raw);
    }
    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(MultipartRequest { raw: r.rest().to_vec() })
    }
}

impl Wire for MultipartReply {
    fn wire_len(&self) -> usize {
        self.raw.len()
    }
    fn emit(&self, w: &mut Writer<'_>) {
        w.bytes(&self.raw);
    }
    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(MultipartReply { raw: r.rest().to_vec() })
    }
}
