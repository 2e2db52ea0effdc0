//! Random identifiers in UUID text form (silence ids must look like
//! Alertmanager's; the rest follow suit).

use rand::Rng;

pub fn new_id() -> String {
    let b: [u8; 16] = rand::rng().random();
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
