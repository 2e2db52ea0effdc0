//! Every point of the current segment (since the last change), kept in at
//! most [`MAX_BUCKETS`] time buckets. When they are all used, neighbours are
//! merged and the width doubles, so a segment of any length costs the same
//! memory and the fit always sees its whole span, old data at a coarser grain.

/// Buckets kept; 64 gives 2016 pairwise slopes per fit.
pub const MAX_BUCKETS: usize = 64;

/// Sums of the points whose time falls in `[index·width, (index+1)·width)`,
/// times relative to the segment's origin (seconds, small numbers, so sums
/// of many points keep their precision).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bucket {
    index: u64,
    n: u32,
    sum_t: f64,
    sum_v: f64,
}

impl Bucket {
    pub fn t(&self) -> f64 {
        self.sum_t / f64::from(self.n)
    }
    pub fn v(&self) -> f64 {
        self.sum_v / f64::from(self.n)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Buckets {
    width: f64,
    list: Vec<Bucket>,
}

/// What [`Buckets::push`] did: whether the point opened a new bucket (the
/// ones before it are then complete, the moment to refit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    Same,
    Opened,
}

impl Buckets {
    pub fn new(width: f64) -> Self {
        Self {
            width,
            list: Vec::with_capacity(MAX_BUCKETS + 1),
        }
    }

    pub fn clear(&mut self, width: f64) {
        self.width = width;
        self.list.clear();
    }

    /// `t` is relative to the segment's origin and never decreases.
    pub fn push(&mut self, t: f64, v: f64) -> Pushed {
        let index = (t / self.width).floor().max(0.0) as u64;
        if let Some(last) = self.list.last_mut() {
            if index <= last.index {
                last.n += 1;
                last.sum_t += t;
                last.sum_v += v;
                return Pushed::Same;
            }
        }
        self.list.push(Bucket {
            index,
            n: 1,
            sum_t: t,
            sum_v: v,
        });
        while self.list.len() > MAX_BUCKETS {
            self.halve();
        }
        if self.list.len() > 1 {
            Pushed::Opened
        } else {
            Pushed::Same
        }
    }

    /// Doubles the width: buckets `2k` and `2k+1` become bucket `k`.
    fn halve(&mut self) {
        self.width *= 2.0;
        let mut out = 0;
        for i in 0..self.list.len() {
            let mut b = self.list[i];
            b.index /= 2;
            if out > 0 && self.list[out - 1].index == b.index {
                let m = &mut self.list[out - 1];
                m.n += b.n;
                m.sum_t += b.sum_t;
                m.sum_v += b.sum_v;
            } else {
                self.list[out] = b;
                out += 1;
            }
        }
        self.list.truncate(out);
    }

    /// Every bucket but the newest, which is still filling.
    pub fn complete(&self) -> &[Bucket] {
        &self.list[..self.list.len().saturating_sub(1)]
    }

    #[cfg(test)]
    pub fn width(&self) -> f64 {
        self.width
    }

    /// Heap bytes held (the list never grows past its first allocation).
    pub fn heap_bytes(&self) -> usize {
        self.list.capacity() * std::mem::size_of::<Bucket>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pushes `(t, v)` with width 1 and compares the (mean t, mean v, n) of
    /// every bucket, then the width.
    fn check(input: &[(f64, f64)], expected: &[(f64, f64, u32)], width: f64) {
        let mut b = Buckets::new(1.0);
        for &(t, v) in input {
            b.push(t, v);
        }
        let got: Vec<(f64, f64, u32)> = b.list.iter().map(|k| (k.t(), k.v(), k.n)).collect();
        assert_eq!(got, expected);
        assert_eq!(b.width(), width);
    }

    #[test]
    fn points_of_one_width_share_a_bucket() {
        check(
            &[(0.0, 1.0), (0.5, 3.0), (1.0, 5.0), (3.2, 7.0)],
            &[(0.25, 2.0, 2), (1.0, 5.0, 1), (3.2, 7.0, 1)],
            1.0,
        );
    }

    #[test]
    fn a_full_list_merges_neighbours_and_doubles_the_width() {
        let input: Vec<(f64, f64)> = (0..=MAX_BUCKETS).map(|i| (i as f64, i as f64)).collect();
        let mut expected: Vec<(f64, f64, u32)> = (0..MAX_BUCKETS / 2)
            .map(|k| (2.0 * k as f64 + 0.5, 2.0 * k as f64 + 0.5, 2))
            .collect();
        expected.push((MAX_BUCKETS as f64, MAX_BUCKETS as f64, 1));
        check(&input, &expected, 2.0);
    }

    #[test]
    fn memory_stays_bounded_over_a_long_segment() {
        let mut b = Buckets::new(1.0);
        let first = b.heap_bytes();
        for i in 0..1_000_000 {
            b.push(f64::from(i), 0.0);
        }
        assert!(b.list.len() <= MAX_BUCKETS);
        assert_eq!(b.heap_bytes(), first);
    }
}
