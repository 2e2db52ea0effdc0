//! Hub-wide series ids: every `(host, SeriesKey)` the hub has seen, interned
//! once, with one shared `Arc<SeriesKey>` and its JSON text (the field of the
//! `hostwatch:latest:<host>` hashes).
//!
//! Ingest streams resolve an agent's series definitions here once per stream;
//! the rows they pass on then share the interned `Arc`s, so every later stage
//! can tell series apart by pointer. With the Redis buffer, stream entries
//! carry these ids instead of series definitions, and the id table lives in
//! Redis too (`hostwatch:series`, written in the same Lua step as the first
//! entry that uses an id), so an entry decodes after a hub crash. Ids are
//! handed out by Redis (`INCRBY`), never reused, and never removed: the table
//! grows with the number of series the site ever had (about 100 bytes each).

use std::sync::{Arc, RwLock};

use common::model::{KeyedRow, SeriesKey};
use prost::Message as _;
use rustc_hash::FxHashMap;

/// One interned series.
#[derive(Debug, Clone)]
pub struct Series {
    pub host: Arc<str>,
    pub key: Arc<SeriesKey>,
    /// `key` as JSON.
    pub field: Arc<str>,
}

#[derive(Debug)]
struct Entry {
    series: Series,
    /// Its definition is known to be in the Redis id table.
    published: bool,
}

#[derive(Debug, Default)]
struct Inner {
    by_key: FxHashMap<Arc<str>, FxHashMap<Arc<SeriesKey>, u32>>,
    by_id: FxHashMap<u32, Entry>,
    /// Address of each interned `Arc<SeriesKey>` → its id. Sound because the
    /// interner keeps every `Arc` alive: an address is never reused.
    by_ptr: FxHashMap<usize, u32>,
    /// Last id handed out locally (the direct sink; Redis hands out its own).
    last_local: u32,
    /// Entries with `published` set: the id table in Redis holds at least
    /// this many definitions, unless Redis lost some.
    published: usize,
}

/// The table; cheap to share (`Arc<Interner>`).
#[derive(Debug, Default)]
pub struct Interner {
    inner: RwLock<Inner>,
}

/// A row's series is not interned yet: its key, for the caller to intern.
pub type Missing = Vec<SeriesKey>;
/// (id, encoded `SeriesDef`) of series whose definition may not be in Redis.
pub type Definitions = Vec<(u32, Vec<u8>)>;

impl Interner {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn len(&self) -> usize {
        self.read().by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The interned `Arc` of each key already known; `None` for the others.
    pub fn lookup(&self, host: &str, keys: &[SeriesKey]) -> Vec<Option<Arc<SeriesKey>>> {
        let inner = self.read();
        let of_host = inner.by_key.get(host);
        keys.iter()
            .map(|k| {
                let id = of_host?.get(k)?;
                Some(inner.by_id.get(id)?.series.key.clone())
            })
            .collect()
    }

    /// Interns `key` under `id` (or returns the `Arc` it already has: then
    /// `id` is left unused). `published` says its definition is in Redis.
    pub fn insert(&self, id: u32, host: &str, key: SeriesKey, published: bool) -> Arc<SeriesKey> {
        let mut inner = self.write();
        insert(&mut inner, id, host, key, published)
    }

    /// Interns keys with ids handed out here (no Redis behind this hub).
    pub fn insert_local(&self, host: &str, keys: Vec<SeriesKey>) -> Vec<Arc<SeriesKey>> {
        let mut inner = self.write();
        keys.into_iter()
            .map(|k| {
                let id = inner.last_local + 1;
                let before = inner.by_id.len();
                let arc = insert(&mut inner, id, host, k, false);
                if inner.by_id.len() > before {
                    inner.last_local = id;
                }
                arc
            })
            .collect()
    }

    /// Rows as ids, plus the definitions (id, encoded `SeriesDef`) of the
    /// series among them not yet known to be in Redis. `Err` lists the keys
    /// that are not interned at all (rows built outside an ingest stream).
    pub fn to_ids(
        &self,
        host: &str,
        rows: &[KeyedRow],
    ) -> Result<(Vec<proto::Row>, Definitions), Missing> {
        let inner = self.read();
        let mut out = Vec::with_capacity(rows.len());
        let mut defs: Definitions = Vec::new();
        let mut missing: Missing = Vec::new();
        let of_host = inner.by_key.get(host);
        for (key, t, v) in rows {
            let id = inner
                .by_ptr
                .get(&(Arc::as_ptr(key) as usize))
                .filter(|id| inner.by_id.get(id).is_some_and(|e| &*e.series.host == host))
                .or_else(|| of_host?.get(&**key));
            let Some(&id) = id else {
                if !missing.contains(key) {
                    missing.push((**key).clone());
                }
                continue;
            };
            if let Some(e) = inner.by_id.get(&id) {
                if !e.published && !defs.iter().any(|d| d.0 == id) {
                    defs.push((id, definition(id, &e.series)));
                }
            }
            out.push(proto::Row {
                series_id: id,
                timestamp_ms: *t,
                value: *v,
            });
        }
        if missing.is_empty() {
            Ok((out, defs))
        } else {
            Err(missing)
        }
    }

    /// Records that these ids' definitions are in Redis now.
    pub fn mark_published(&self, ids: impl IntoIterator<Item = u32>) {
        let mut inner = self.write();
        let mut newly = 0;
        for id in ids {
            if let Some(e) = inner.by_id.get_mut(&id) {
                newly += usize::from(!e.published);
                e.published = true;
            }
        }
        inner.published += newly;
    }

    /// How many definitions this hub knows to be in the Redis id table.
    pub fn published_count(&self) -> usize {
        self.read().published
    }

    /// Forgets that any definition is in Redis (the id table was found gone).
    pub fn unpublish_all(&self) {
        let mut inner = self.write();
        for e in inner.by_id.values_mut() {
            e.published = false;
        }
        inner.published = 0;
    }

    /// True when every id is interned.
    pub fn knows_all(&self, ids: impl IntoIterator<Item = u32>) -> bool {
        let inner = self.read();
        ids.into_iter().all(|id| inner.by_id.contains_key(&id))
    }

    /// Rows keyed by their interned series; `Err(id)` for an unknown id.
    pub fn to_keyed(&self, rows: &[proto::Row]) -> Result<Vec<KeyedRow>, u32> {
        let inner = self.read();
        rows.iter()
            .map(|r| match inner.by_id.get(&r.series_id) {
                Some(e) => Ok((e.series.key.clone(), r.timestamp_ms, r.value)),
                None => Err(r.series_id),
            })
            .collect()
    }

    /// The interned series of each id (skipping unknown ones), under one lock.
    pub fn series_of(&self, ids: impl IntoIterator<Item = u32>) -> Vec<(u32, Series)> {
        let inner = self.read();
        ids.into_iter()
            .filter_map(|id| Some((id, inner.by_id.get(&id)?.series.clone())))
            .collect()
    }
}

fn insert(
    inner: &mut Inner,
    id: u32,
    host: &str,
    key: SeriesKey,
    published: bool,
) -> Arc<SeriesKey> {
    if let Some(e) = inner
        .by_key
        .get(host)
        .and_then(|m| m.get(&key))
        .and_then(|id| inner.by_id.get_mut(id))
    {
        let newly = published && !e.published;
        e.published |= published;
        let key = e.series.key.clone();
        inner.published += usize::from(newly);
        return key;
    }
    let host: Arc<str> = match inner.by_key.get_key_value(host) {
        Some((h, _)) => h.clone(),
        None => Arc::from(host),
    };
    let field: Arc<str> = Arc::from(serde_json::to_string(&key).unwrap_or_default());
    let key = Arc::new(key);
    inner
        .by_key
        .entry(host.clone())
        .or_default()
        .insert(key.clone(), id);
    inner.by_ptr.insert(Arc::as_ptr(&key) as usize, id);
    let series = Series {
        host,
        key: key.clone(),
        field,
    };
    if inner
        .by_id
        .insert(id, Entry { series, published })
        .is_none()
    {
        inner.published += usize::from(published);
    }
    key
}

/// A series' entry in the Redis id table.
pub fn definition(id: u32, s: &Series) -> Vec<u8> {
    proto::SeriesDef {
        id,
        name: s.key.name.clone(),
        labels: common::convert::labels_to_proto(&s.key.labels),
        host: s.host.to_string(),
    }
    .encode_to_vec()
}

/// Inverse of [`definition`].
pub fn parse_definition(bytes: &[u8]) -> Option<(u32, String, SeriesKey)> {
    let d = proto::SeriesDef::decode(bytes).ok()?;
    let key = SeriesKey {
        name: d.name,
        labels: common::convert::labels_from_proto(&d.labels),
    };
    Some((d.id, d.host, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_interned_once_per_host_and_rows_map_to_ids() {
        let t = Interner::default();
        let cpu = SeriesKey::new("system.cpu.utilization");
        let a = t.insert(7, "h1", cpu.clone(), false);
        assert!(Arc::ptr_eq(&a, &t.insert(8, "h1", cpu.clone(), false)));
        let b = t.insert(9, "h2", cpu.clone(), true);
        assert!(!Arc::ptr_eq(&a, &b));
        assert_eq!(t.len(), 2);

        // A fresh Arc of a known key is found by its labels.
        let rows = vec![(a.clone(), 1, 0.5), (Arc::new(cpu.clone()), 2, 0.6)];
        let (ids, defs) = t.to_ids("h1", &rows).expect("interned");
        assert_eq!(ids.iter().map(|r| r.series_id).collect::<Vec<_>>(), [7, 7]);
        assert_eq!(defs.len(), 1, "one definition per unpublished series");
        assert_eq!(
            parse_definition(&defs[0].1),
            Some((7, "h1".into(), cpu.clone()))
        );
        t.mark_published([7]);
        assert!(t.to_ids("h1", &rows).expect("interned").1.is_empty());

        let back = t.to_keyed(&ids).expect("known ids");
        assert!(Arc::ptr_eq(&back[0].0, &a) && Arc::ptr_eq(&back[1].0, &a));
        assert_eq!(
            t.to_keyed(&[proto::Row {
                series_id: 99,
                ..Default::default()
            }]),
            Err(99)
        );

        let other = SeriesKey::new("system.memory.utilization");
        let missing = t
            .to_ids("h1", &[(Arc::new(other.clone()), 1, 1.0)])
            .expect_err("not interned");
        assert_eq!(missing, vec![other]);
        assert_eq!(
            &*t.series_of([9])[0].1.field,
            r#"{"name":"system.cpu.utilization","labels":{}}"#
        );
    }
}
