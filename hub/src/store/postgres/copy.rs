//! PostgreSQL's binary formats, written by hand: the `COPY … (FORMAT binary)`
//! stream for `(series_id int8, time timestamptz, value float8)` rows, and
//! [`PgTime`], unix milliseconds bound and read as `timestamptz` (sqlx's own
//! time types would pull in chrono or time for one conversion).
//!
//! Binary COPY layout: an 11-byte signature, a 4-byte flags word and a 4-byte
//! header-extension length; then per tuple a 2-byte field count and each
//! field as a 4-byte length and its bytes; then a 2-byte `-1` trailer. Every
//! integer is big-endian; `timestamptz` is microseconds since 2000-01-01 UTC.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::types::Oid;
use sqlx::postgres::{
    PgArgumentBuffer, PgHasArrayType, PgTypeInfo, PgValueFormat, PgValueRef, Postgres,
};

/// The statement [`CopyBuffer`]'s bytes are for.
pub const COPY_SAMPLES: &str =
    "COPY hostwatch.samples (series_id, time, value) FROM STDIN (FORMAT binary)";

const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";
/// Bytes one row takes: field count + three length-prefixed 8-byte fields.
pub const ROW_BYTES: usize = 2 + 3 * (4 + 8);
/// Unix milliseconds of PostgreSQL's epoch, 2000-01-01T00:00:00Z.
const PG_EPOCH_MS: i64 = 946_684_800_000;

/// Unix milliseconds → microseconds since 2000-01-01 (saturating: a value
/// beyond `timestamptz`'s range is refused by the server, not wrapped here).
pub fn pg_micros(unix_ms: i64) -> i64 {
    unix_ms.saturating_sub(PG_EPOCH_MS).saturating_mul(1000)
}

/// Microseconds since 2000-01-01 → unix milliseconds (rounded down).
pub fn unix_ms(pg_micros: i64) -> i64 {
    pg_micros.div_euclid(1000).saturating_add(PG_EPOCH_MS)
}

/// A binary COPY stream being built.
pub struct CopyBuffer {
    buf: Vec<u8>,
}

impl CopyBuffer {
    pub fn with_capacity(rows: usize) -> Self {
        let mut buf = Vec::with_capacity(SIGNATURE.len() + 8 + rows * ROW_BYTES + 2);
        buf.extend_from_slice(SIGNATURE);
        buf.extend_from_slice(&0i32.to_be_bytes()); // flags: no OIDs
        buf.extend_from_slice(&0i32.to_be_bytes()); // no header extension
        Self { buf }
    }

    pub fn push(&mut self, series_id: i64, unix_ms: i64, value: f64) {
        self.buf.extend_from_slice(&3i16.to_be_bytes());
        for field in [
            series_id.to_be_bytes(),
            pg_micros(unix_ms).to_be_bytes(),
            value.to_bits().to_be_bytes(),
        ] {
            self.buf.extend_from_slice(&8i32.to_be_bytes());
            self.buf.extend_from_slice(&field);
        }
    }

    /// The complete stream, trailer included.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.extend_from_slice(&(-1i16).to_be_bytes());
        self.buf
    }
}

/// Unix milliseconds as a `timestamptz` parameter or column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PgTime(pub i64);

/// `timestamptz` and `timestamptz[]` in pg_type (fixed for built-in types).
const TIMESTAMPTZ: Oid = Oid(1184);
const TIMESTAMPTZ_ARRAY: Oid = Oid(1185);

impl sqlx::Type<Postgres> for PgTime {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(TIMESTAMPTZ)
    }
}

impl PgHasArrayType for PgTime {
    fn array_type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(TIMESTAMPTZ_ARRAY)
    }
}

impl sqlx::Encode<'_, Postgres> for PgTime {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        buf.extend_from_slice(&pg_micros(self.0).to_be_bytes());
        Ok(IsNull::No)
    }
}

impl sqlx::Decode<'_, Postgres> for PgTime {
    fn decode(value: PgValueRef<'_>) -> Result<Self, BoxDynError> {
        match value.format() {
            PgValueFormat::Binary => {
                let bytes: [u8; 8] = value.as_bytes()?.try_into()?;
                Ok(PgTime(unix_ms(i64::from_be_bytes(bytes))))
            }
            PgValueFormat::Text => Err("timestamptz in text format: select it as binary".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_conversions_round_trip_and_match_the_pg_epoch() {
        assert_eq!(pg_micros(PG_EPOCH_MS), 0);
        assert_eq!(pg_micros(0), -PG_EPOCH_MS * 1000);
        for ms in [0, 1, -1, PG_EPOCH_MS, 1_763_000_000_123, -86_400_000 * 400] {
            assert_eq!(unix_ms(pg_micros(ms)), ms, "{ms}");
        }
        assert_eq!(
            pg_micros(i64::MAX),
            i64::MAX,
            "saturates instead of wrapping"
        );
    }

    #[test]
    fn copy_stream_has_header_tuples_and_trailer() {
        let mut c = CopyBuffer::with_capacity(2);
        c.push(7, PG_EPOCH_MS + 1, 1.5);
        c.push(-1, PG_EPOCH_MS, f64::NAN);
        let b = c.finish();
        assert_eq!(b.len(), 19 + 2 * ROW_BYTES + 2);
        assert_eq!(&b[..11], b"PGCOPY\n\xff\r\n\0");
        assert_eq!(&b[11..19], &[0; 8]);
        let t = &b[19..19 + ROW_BYTES];
        assert_eq!(&t[..2], &[0, 3]);
        assert_eq!(&t[2..6], &[0, 0, 0, 8]);
        assert_eq!(i64::from_be_bytes(t[6..14].try_into().expect("8")), 7);
        assert_eq!(i64::from_be_bytes(t[18..26].try_into().expect("8")), 1000);
        assert_eq!(
            f64::from_bits(u64::from_be_bytes(t[30..38].try_into().expect("8"))),
            1.5
        );
        assert_eq!(&b[b.len() - 2..], &[0xff, 0xff]);
    }
}
