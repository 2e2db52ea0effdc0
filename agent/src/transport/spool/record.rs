//! The spool's on-disk record: one batch, framed so a torn or corrupt tail is
//! detected rather than misread.
//!
//! ```text
//! frame   = len:u32 | crc32(payload):u32 | payload[len]        (all little endian)
//! payload = seq:u64 | nkeys:u32 | key* | nrows:u32 | row*
//! key     = str(name) | nlabels:u32 | (str(label) str(value))*
//! row     = key index:u32 | unix ms:i64 | value:f64 bits
//! str     = len:u32 | utf-8 bytes
//! ```
//!
//! Each record carries its own series key table, so every record decodes on its
//! own: dropping a segment or truncating a tail never leaves a record pointing
//! at a definition that is gone. It costs a few KiB per batch; the spool holds
//! hours of batches at its default size either way.

use std::collections::HashMap;
use std::sync::Arc;

use common::model::{Labels, SeriesKey};

use crate::transport::queue::Rows;

/// Bytes before the payload: length and checksum.
pub const FRAME_HEADER: usize = 8;
/// A length beyond this is garbage, not a batch (the hub's own message limit
/// is far below it).
pub const MAX_PAYLOAD: usize = 256 << 20;

/// Why bytes are not a whole, valid record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The bytes end before the record does: a crash mid-write.
    Torn,
    /// Checksum or structure is wrong.
    Corrupt(&'static str),
}

/// Encodes one batch as a complete frame.
pub fn encode(seq: u64, rows: &Rows) -> Vec<u8> {
    let mut keys: HashMap<&SeriesKey, u32> = HashMap::new();
    let mut table: Vec<&SeriesKey> = Vec::new();
    for (k, _, _) in rows {
        keys.entry(k).or_insert_with(|| {
            table.push(k);
            table.len() as u32 - 1
        });
    }
    let mut p = Vec::with_capacity(16 + rows.len() * 20 + table.len() * 48);
    p.extend_from_slice(&seq.to_le_bytes());
    p.extend_from_slice(&(table.len() as u32).to_le_bytes());
    for k in &table {
        put_str(&mut p, &k.name);
        p.extend_from_slice(&(k.labels.len() as u32).to_le_bytes());
        for (l, v) in &k.labels {
            put_str(&mut p, l);
            put_str(&mut p, v);
        }
    }
    p.extend_from_slice(&(rows.len() as u32).to_le_bytes());
    for (k, ts, v) in rows {
        p.extend_from_slice(&keys[&**k].to_le_bytes());
        p.extend_from_slice(&ts.to_le_bytes());
        p.extend_from_slice(&v.to_bits().to_le_bytes());
    }
    let mut frame = Vec::with_capacity(FRAME_HEADER + p.len());
    frame.extend_from_slice(&(p.len() as u32).to_le_bytes());
    frame.extend_from_slice(&crc32(&p).to_le_bytes());
    frame.extend_from_slice(&p);
    frame
}

/// Checks the frame at the start of `buf`; returns its payload and the frame's
/// total length.
pub fn frame(buf: &[u8]) -> Result<(&[u8], usize), DecodeError> {
    let header = buf.get(..FRAME_HEADER).ok_or(DecodeError::Torn)?;
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if !(8..=MAX_PAYLOAD).contains(&len) {
        return Err(DecodeError::Corrupt("implausible length"));
    }
    let payload = buf
        .get(FRAME_HEADER..FRAME_HEADER + len)
        .ok_or(DecodeError::Torn)?;
    if crc32(payload) != crc {
        return Err(DecodeError::Corrupt("checksum mismatch"));
    }
    Ok((payload, FRAME_HEADER + len))
}

/// The seq of a checked payload (its first 8 bytes, which `frame` guarantees).
pub fn seq_of(payload: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&payload[..8]);
    u64::from_le_bytes(b)
}

/// Decodes a checked payload into its seq and rows.
pub fn decode(payload: &[u8]) -> Result<(u64, Rows), DecodeError> {
    let mut r = Reader(payload);
    let seq = r.u64()?;
    let nkeys = r.u32()? as usize;
    let mut table = Vec::with_capacity(nkeys.min(4096));
    for _ in 0..nkeys {
        let name = r.str()?;
        let nlabels = r.u32()?;
        let mut labels = Labels::new();
        for _ in 0..nlabels {
            let l = r.str()?;
            labels.insert(l, r.str()?);
        }
        table.push(Arc::new(SeriesKey { name, labels }));
    }
    let nrows = r.u32()? as usize;
    let mut rows = Vec::with_capacity(nrows.min(payload.len() / 20));
    for _ in 0..nrows {
        let key = table
            .get(r.u32()? as usize)
            .ok_or(DecodeError::Corrupt("row names an unknown series"))?
            .clone();
        let ts = r.u64()? as i64;
        let v = f64::from_bits(r.u64()?);
        rows.push((key, ts, v));
    }
    if !r.0.is_empty() {
        return Err(DecodeError::Corrupt("trailing bytes"));
    }
    Ok((seq, rows))
}

fn put_str(p: &mut Vec<u8>, s: &str) {
    p.extend_from_slice(&(s.len() as u32).to_le_bytes());
    p.extend_from_slice(s.as_bytes());
}

/// Reads from a payload whose checksum matched, so running short means the
/// writer was buggy, not that the disk tore it.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError::Corrupt("payload ends early"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }
    fn str(&mut self) -> Result<String, DecodeError> {
        let n = self.u32()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| DecodeError::Corrupt("bad utf-8"))
    }
}

/// CRC-32 (IEEE, as zlib and gzip), bytewise with a table built at compile time.
pub fn crc32(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    };
    let mut c = !0u32;
    for &b in data {
        c = TABLE[((c ^ b as u32) & 0xFF) as usize] ^ (c >> 8);
    }
    !c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Rows {
        let a = Arc::new(SeriesKey::new("system.cpu.utilization"));
        let b = Arc::new(
            SeriesKey::new("system.network.io")
                .label("device", "eth0")
                .label("direction", "receive"),
        );
        vec![
            (a.clone(), 1_700_000_000_000, 0.25),
            (b, -5, f64::MAX),
            (a, 7, 0.0),
        ]
    }

    /// The one place the codec is called: `bytes` decoded as a single record.
    fn check(bytes: &[u8], expected: Result<(u64, Rows), DecodeError>) {
        let got = frame(bytes).and_then(|(p, n)| {
            assert_eq!(n, bytes.len(), "frame covers the whole record");
            decode(p)
        });
        assert_eq!(got, expected);
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn round_trip_and_damage() {
        let good = encode(42, &rows());
        check(&good, Ok((42, rows())));
        check(&encode(1, &Vec::new()), Ok((1, Vec::new())));
        // Every strict prefix is a torn write, never a panic or a misread.
        for cut in 0..good.len() {
            check(&good[..cut], Err(DecodeError::Torn));
        }
        // Any flipped payload bit is caught by the checksum.
        for i in FRAME_HEADER..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x10;
            check(&bad, Err(DecodeError::Corrupt("checksum mismatch")));
        }
        // A garbage length is corrupt, not an allocation of gigabytes.
        let mut huge = good.clone();
        huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        check(&huge, Err(DecodeError::Corrupt("implausible length")));
        check(&[0; 8], Err(DecodeError::Corrupt("implausible length")));
    }
}
