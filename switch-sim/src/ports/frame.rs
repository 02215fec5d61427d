//! Which received frames the switch refuses before its pipeline: the ones without a whole
//! Ethernet header. The pipeline itself reads anything after that leniently (a cut IP or
//! transport header leaves those fields at zero, as Open vSwitch does), so this is the only
//! point where a frame is "not parseable".

/// Why a frame was dropped at the port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameDefect {
    /// Shorter than the 14-byte Ethernet header.
    #[error("runt frame: {0} bytes, below the 14-byte Ethernet header")]
    Runt(usize),
    /// An 802.1Q or 802.1ad tag announced and cut short.
    #[error("frame of {0} bytes ends inside a VLAN tag")]
    TruncatedTag(usize),
}

/// Checks that a frame has a whole Ethernet header, including the VLAN tags it announces.
pub fn check_frame(frame: &[u8]) -> Result<(), FrameDefect> {
    const ETH: usize = 14;
    const TAG: usize = 4;
    if frame.len() < ETH {
        return Err(FrameDefect::Runt(frame.len()));
    }
    let mut at = 12;
    // Up to two tags (802.1ad outer, 802.1Q inner), as the pipeline parses them.
    for _ in 0..2 {
        let ty = match frame.get(at..at + 2) {
            Some(b) => u16::from_be_bytes([b[0], b[1]]),
            None => return Err(FrameDefect::TruncatedTag(frame.len())),
        };
        if ty != 0x8100 && ty != 0x88a8 {
            return Ok(());
        }
        at += TAG;
        if frame.len() < at + 2 {
            return Err(FrameDefect::TruncatedTag(frame.len()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runts_and_cut_tags() {
        assert_eq!(check_frame(&[0; 13]), Err(FrameDefect::Runt(13)));
        assert_eq!(check_frame(&[0; 14]), Ok(()));
        let mut tagged = vec![0u8; 14];
        tagged[12] = 0x81;
        assert_eq!(check_frame(&tagged), Err(FrameDefect::TruncatedTag(14)));
        tagged.extend([0, 5, 0x08, 0x00]);
        assert_eq!(check_frame(&tagged), Ok(()));
        let mut qinq = vec![0u8; 18];
        qinq[12] = 0x88;
        qinq[13] = 0xa8;
        qinq[16] = 0x81;
        assert_eq!(check_frame(&qinq), Err(FrameDefect::TruncatedTag(18)));
    }
}
