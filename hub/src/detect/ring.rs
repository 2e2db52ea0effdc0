//! A fixed-capacity ring of the most recent values: the one buffer every
//! windowed detector shares, so each keeps O(window) memory and O(1) pushes.

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Ring {
    buf: Vec<f64>,
    /// Index the next value is written to.
    head: usize,
    len: usize,
}

impl Ring {
    pub(crate) fn new(capacity: usize) -> Self {
        // A zero-capacity ring would make every index computation divide by
        // zero; one slot is the smallest window that means anything.
        let capacity = capacity.max(1);
        Self {
            buf: vec![0.0; capacity],
            head: 0,
            len: 0,
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_full(&self) -> bool {
        self.len == self.buf.len()
    }

    /// Appends `x` and returns the value it pushed out, if the ring was full.
    pub(crate) fn push(&mut self, x: f64) -> Option<f64> {
        let evicted = self.is_full().then(|| self.buf[self.head]);
        self.buf[self.head] = x;
        self.head = (self.head + 1) % self.buf.len();
        self.len = (self.len + 1).min(self.buf.len());
        evicted
    }

    /// Overwrites the newest value (no-op on an empty ring).
    pub(crate) fn set_newest(&mut self, x: f64) {
        if self.len > 0 {
            let cap = self.buf.len();
            self.buf[(self.head + cap - 1) % cap] = x;
        }
    }

    /// The value `back` steps ago: `ago(0)` is the newest.
    pub(crate) fn ago(&self, back: usize) -> Option<f64> {
        if back >= self.len {
            return None;
        }
        let cap = self.buf.len();
        Some(self.buf[(self.head + cap - 1 - back) % cap])
    }

    /// The stored values, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = f64> + '_ {
        let cap = self.buf.len();
        let start = (self.head + cap - self.len) % cap;
        (0..self.len).map(move |i| self.buf[(start + i) % cap])
    }
}

#[cfg(test)]
mod tests {
    use super::Ring;

    /// Pushes `input` into a ring of `capacity` and compares what it holds
    /// (oldest first) and what it evicted.
    fn check(capacity: usize, input: &[f64], held: &[f64], evicted: &[f64]) {
        let mut r = Ring::new(capacity);
        let out: Vec<f64> = input.iter().filter_map(|&x| r.push(x)).collect();
        assert_eq!(r.iter().collect::<Vec<_>>(), held);
        assert_eq!(out, evicted);
        assert_eq!(r.ago(0), held.last().copied());
    }

    #[test]
    fn keeps_the_newest_values() {
        check(3, &[], &[], &[]);
        check(3, &[1.0, 2.0], &[1.0, 2.0], &[]);
        check(3, &[1.0, 2.0, 3.0, 4.0, 5.0], &[3.0, 4.0, 5.0], &[1.0, 2.0]);
        check(0, &[1.0, 2.0], &[2.0], &[1.0]);
    }
}
