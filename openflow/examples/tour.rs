//! A tour of the codec: the messages that install one transactional subset group on a switch
//! (group, barrier, flow, barrier), as bytes and as read back through the stream framer.
//! Run: `cargo run -p openflow --example tour`.

use openflow::msg::{FlowMod, FlowModFlags, GroupMod};
use openflow::{
    Action, Bucket, Cookie, Framer, GroupId, GroupType, Instruction, Match, Message, Oxm, PortNo,
    TableId, Xid,
};
use std::net::Ipv4Addr;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let subset = Ipv4Addr::new(239, 255, 0, 7);
    let ports = [1, 3, 4];
    let buckets = ports
        .iter()
        .map(|p| Bucket::new(vec![Action::output(PortNo(*p))]))
        .collect();
    let flow = FlowMod::add(
        TableId(0),
        0x9000,
        Match::new().with(Oxm::EthType(0x0800)).with(Oxm::Ipv4Dst {
            value: subset,
            mask: None,
        }),
        vec![Instruction::ApplyActions(vec![Action::Group(GroupId(1))])],
    )
    .with_cookie(Cookie(0x5ca1_ab1e_0000_0001))
    .with_hard_timeout(2)
    .with_flags(FlowModFlags::SEND_FLOW_REM);
    let batch = [
        Message::new(Xid(1), GroupMod::add(GroupType::All, GroupId(1), buckets)),
        Message::barrier_request(Xid(2)),
        Message::new(Xid(3), flow),
        Message::barrier_request(Xid(4)),
    ];

    println!("Installing subset {subset} → ports {ports:?} on one switch:\n");
    let mut stream = Vec::new();
    for m in &batch {
        let start = stream.len();
        m.encode_into(&mut stream)?;
        let hex: Vec<String> = stream[start..].iter().map(|b| format!("{b:02x}")).collect();
        println!(
            "{:?} ({} bytes)\n  {}\n",
            m.kind(),
            stream.len() - start,
            hex.join(" ")
        );
    }

    // The receiving side: bytes arrive in arbitrary pieces; the framer yields whole messages.
    let mut framer = Framer::new();
    let mut decoded = 0;
    for piece in stream.chunks(7) {
        framer.extend(piece);
        while let Some(m) = framer.next_message() {
            let m = m?;
            if m != batch[decoded] {
                return Err(format!("message {decoded} read back differently").into());
            }
            decoded += 1;
        }
    }
    println!(
        "Read back {decoded} messages from {} bytes in 7-byte pieces: identical.",
        stream.len()
    );
    println!("Check any of them with: ovs-ofctl ofp-print <hex without spaces>");
    Ok(())
}
