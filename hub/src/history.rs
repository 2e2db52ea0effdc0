//! Range and band reads over the history store, shared by the gRPC
//! `Query.Range`/`Query.Bands` and the edge's requests down the uplink.

use common::model::{RangeQuery, SeriesPoints};

use crate::store::HistoryStore;
use crate::Result;

/// Points per series when the caller gives no cap (a chart's width, roughly).
pub const DEFAULT_MAX_POINTS: usize = 1_000;
/// Hard cap, whatever the caller asks.
pub const MAX_POINTS: usize = 20_000;

pub async fn range(store: &dyn HistoryStore, q: &RangeQuery) -> Result<Vec<SeriesPoints>> {
    let cap = match q.max_points {
        0 => DEFAULT_MAX_POINTS,
        n => n.min(MAX_POINTS),
    };
    let mut out = store.range(q).await?;
    for s in &mut out {
        s.points = common::thin::thin(std::mem::take(&mut s.points), cap, q.agg);
    }
    common::model::sort_series(&mut out, |s| (&s.name, &s.labels));
    Ok(out)
}

/// Expected bands of the series `q` selects (`crate::bands`), as sent to the
/// gateway and the edge. A host is needed; `from` must not be after `to`.
pub async fn bands(store: &dyn HistoryStore, q: &RangeQuery) -> Result<proto::BandsResponse> {
    if q.host.is_empty() {
        return Err(crate::error::Error::Invalid("bands need a host".into()));
    }
    if q.from_ms > q.to_ms {
        return Err(crate::error::Error::Invalid(
            "bands: from is after to".into(),
        ));
    }
    let mut out = store.bands(q).await?;
    common::model::sort_series(&mut out, |s| (&s.name, &s.labels));
    Ok(proto::BandsResponse {
        series: out
            .iter()
            .map(common::convert::series_band_to_proto)
            .collect(),
    })
}
