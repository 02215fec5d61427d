//! BIER forwarding decisions (RFC 8279 §6.5): BSL 256, 16 neighbours, random BitStrings
//! (each bit set with probability 1/2).
//!
//! `cargo bench -p bier --bench forwarding -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use bier::{
    Bfr, BierRepr, Bift, BiftId, BitPosition, BitString, Bsl, Decision, Port, SetId, Table,
};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const BATCH: usize = 1024;
const NEIGHBOURS: u64 = 16;

/// xorshift64*: deterministic inputs without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Every bit goes to a random one of 16 ports; with `ecmp`, to two.
fn table(rng: &mut Rng, ecmp: bool) -> Bift {
    let hops = (1..=256u16).filter_map(BitPosition::new).map(|bp| {
        let a = rng.next() % NEIGHBOURS;
        let mut ports = vec![Port(a as u32)];
        if ecmp {
            ports.push(Port(
                ((a + 1 + rng.next() % (NEIGHBOURS - 1)) % NEIGHBOURS) as u32,
            ));
        }
        (bp, ports)
    });
    Bift::from_next_hops(SetId(0), Bsl::B256, [], hops)
}

fn bitstrings(rng: &mut Rng) -> Vec<BitString> {
    (0..BATCH)
        .filter_map(|_| {
            let w: Vec<u64> = (0..4).map(|_| rng.next()).collect();
            BitString::from_words(Bsl::B256, &w)
        })
        .collect()
}

fn forwarding(c: &mut Criterion) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let strings = bitstrings(&mut rng);
    let entropies: Vec<u32> = (0..BATCH).map(|_| (rng.next() & 0xF_FFFF) as u32).collect();
    let mut g = c.benchmark_group("bsl256_16nbr");
    g.throughput(Throughput::Elements(BATCH as u64));
    for (name, ecmp) in [("decision", false), ("decision_ecmp2", true)] {
        let t = table(&mut rng, ecmp);
        let mut d = Decision::default();
        g.bench_function(name, |b| {
            b.iter(|| {
                for (s, &e) in strings.iter().zip(&entropies) {
                    let r = t.forward_into(black_box(s), e, &mut d);
                    black_box((&r, &d));
                }
            })
        });
    }

    // Whole packets: parse, forward, rewrite TTL and BitString per copy (allocates copies).
    let id = BiftId::masked(1);
    let mut bfr = Bfr::new();
    bfr.insert(id, Table::Bier(table(&mut rng, false)));
    let packets: Vec<Vec<u8>> = strings
        .iter()
        .map(|s| BierRepr::new(id, s.clone()).to_packet(&[0x45; 64]))
        .collect();
    g.bench_function("handle_packet", |b| {
        b.iter(|| {
            for p in &packets {
                black_box(bfr.handle_packet(black_box(p)));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, forwarding);
criterion_main!(benches);
