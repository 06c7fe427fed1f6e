//! Multi-row statements in few shapes.
//!
//! A multi-row `INSERT` (or an `IN` list) is a different statement for
//! every number of rows, and both drivers prepare and cache statements by
//! their text: with batches of every size, nearly every statement was
//! prepared anew (on PostgreSQL a round trip and the parse of thousands of
//! parameters each time). Cutting a batch into chunks whose sizes are
//! powers of two keeps the shapes to a handful per table, so they are
//! prepared once and reused.

/// Largest chunk of a multi-row statement: 512 rows of at most 25 columns
/// stay under SQLite's limit of 32,766 bound parameters (PostgreSQL allows
/// 65,535).
pub(crate) const MAX_ROWS: usize = 512;

/// `items` in chunks whose lengths are powers of two, each at most
/// [`MAX_ROWS`], largest first.
pub(crate) fn shaped<T>(items: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let size = if rest.len() >= MAX_ROWS { MAX_ROWS } else { 1 << rest.len().ilog2() };
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        Some(chunk)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_powers_of_two_and_cover_everything() {
        for n in [0usize, 1, 2, 3, 7, 100, 511, 512, 513, 1000, 5000] {
            let items: Vec<usize> = (0..n).collect();
            let chunks: Vec<&[usize]> = shaped(&items).collect();
            assert!(chunks.iter().all(|c| c.len().is_power_of_two() && c.len() <= MAX_ROWS), "{n}");
            assert_eq!(chunks.concat(), items, "{n}");
        }
        let sizes: Vec<usize> = shaped(&[0u8; 1000]).map(<[u8]>::len).collect();
        assert_eq!(sizes, [512, 256, 128, 64, 32, 8]);
    }
}
