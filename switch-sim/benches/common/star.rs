//! The veth star both veth benchmarks use: a switch namespace with four veth ports; port 1
//! leads to a sender namespace, ports 2–4 to three receiver namespaces. Names are unique, and
//! everything goes away with the `Netns` handles (by name, also on panic).

use switch_sim::netns::{unique_tag, veth, Netns};

pub struct Topology {
    pub tag: String,
    pub sw: Netns,
    pub sender: Netns,
    pub receivers: Vec<Netns>,
}

impl Topology {
    /// `ns` prefixes the namespace names, so a leftover says which benchmark made it.
    pub fn build(ns: &str) -> Topology {
        let tag = unique_tag();
        let sw = Netns::create(&format!("{ns}sw")).unwrap();
        let sender = Netns::create(&format!("{ns}snd")).unwrap();
        let receivers: Vec<Netns> = (2..=4)
            .map(|i| Netns::create(&format!("{ns}rcv{i}")).unwrap())
            .collect();
        let t = Topology {
            tag,
            sw,
            sender,
            receivers,
        };
        veth(&t.switch_port(1), &t.sw, &t.host_if(1), &t.sender).unwrap();
        for (i, r) in t.receivers.iter().enumerate() {
            let n = i + 2;
            veth(&t.switch_port(n), &t.sw, &t.host_if(n), r).unwrap();
        }
        t
    }

    /// The switch's end of port `n`.
    pub fn switch_port(&self, n: usize) -> String {
        format!("s{}p{n}", self.tag)
    }

    /// The host's end of port `n` (1: the sender, 2–4: the receivers).
    pub fn host_if(&self, n: usize) -> String {
        format!("h{}e{n}", self.tag)
    }

    /// Packets each receiver's kernel has counted.
    pub fn received(&self) -> Vec<u64> {
        self.receivers
            .iter()
            .enumerate()
            .map(|(i, r)| r.counter(&self.host_if(i + 2), "rx_packets").unwrap())
            .collect()
    }
}
