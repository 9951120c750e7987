//! Prints how many shard copies move when one node joins an N-node fleet, or leaves the
//! resulting (N+1)-node fleet, against the ideal `rf * S / (N + 1)` in both cases. A figure, not a test:
//! `cargo run -p miroir-placement --example movement`.

use miroir_placement::{
    NodeId, NodeInfo, Placement, ReplicationFactor, ShardCount, Zone, diff, place_index,
};

const SHARDS: u16 = 1024;
const INDEXES: usize = 8;

fn fleet(n: usize, zones: usize) -> Result<Vec<NodeInfo>, Box<dyn std::error::Error>> {
    (0..n)
        .map(|i| {
            let id = NodeId::new(format!("node-{i:03}"))?;
            let zone = if zones == 0 {
                None
            } else {
                Some(Zone::new(format!("az{}", i % zones))?)
            };
            Ok(NodeInfo { id, zone })
        })
        .collect()
}

fn moved(old: &Placement, new: &Placement) -> usize {
    diff(old, new).moves.len()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let shards = ShardCount::try_from(SHARDS)?;
    println!("S = {SHARDS} shards, mean over {INDEXES} indexes; fractions are of the rf*S copies");
    println!(
        "zones  rf    N | join: moved  fraction  ideal 1/(N+1) | leave: moved  fraction  1/(N+1)"
    );
    for zones in [0usize, 3] {
        for r in [1u8, 2, 3] {
            let rf = ReplicationFactor::try_from(r)?;
            for n in [3usize, 4, 5, 8, 12, 20, 50] {
                let nodes = fleet(n + 1, zones)?;
                let before = &nodes[..n];
                let (mut joined, mut left) = (0, 0);
                for index in 0..INDEXES {
                    let uid = format!("index-{index}");
                    let small = place_index(&uid, shards, before, rf);
                    let big = place_index(&uid, shards, &nodes, rf);
                    joined += moved(&small, &big);
                    // Leaving: drop the first node of the n+1 fleet.
                    let rest = place_index(&uid, shards, &nodes[1..], rf);
                    left += moved(&big, &rest);
                }
                let copies = (INDEXES * usize::from(SHARDS) * usize::from(r)) as f64;
                println!(
                    "{zones:>5} {r:>3} {n:>4} | {:>11.1}  {:>8.4}  {:>13.4} | {:>12.1}  {:>8.4}  {:>9.4}",
                    joined as f64 / INDEXES as f64,
                    joined as f64 / copies,
                    1.0 / (n as f64 + 1.0),
                    left as f64 / INDEXES as f64,
                    left as f64 / copies,
                    1.0 / (n as f64 + 1.0),
                );
            }
        }
    }
    Ok(())
}
