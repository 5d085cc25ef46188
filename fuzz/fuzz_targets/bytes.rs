//! The fuzz input as a source of choices, shared by the targets (`#[path]`-included).

/// Reads the input one byte at a time (zeros once it is used up).
pub struct Bytes<'a>(pub &'a [u8]);

impl Bytes<'_> {
    /// The next byte, or 0 when the input is used up.
    pub fn next(&mut self) -> usize {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                usize::from(*b)
            }
            None => 0,
        }
    }

    /// Whether the input is used up.
    #[allow(dead_code)] // not every target asks
    pub fn done(&self) -> bool {
        self.0.is_empty()
    }
}
