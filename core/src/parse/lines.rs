//! Finding line ends, the front door's innermost loop: every byte of a dump is looked at by the
//! document split, the outline and the fast reader. Eight bytes at a time, with no `unsafe`.

/// A byte of 1 in every lane of a word, and the high bit of every lane: the constants of the
/// word-at-a-time byte tests here and in the fast reader.
pub const ONES: u64 = 0x0101_0101_0101_0101;
pub const HIGHS: u64 = 0x8080_8080_8080_8080;
const NEWLINES: u64 = ONES * b'\n' as u64;

/// The index of the first `\n` of `b` at or after `from`, or `b.len()` when there is none.
pub fn line_end(b: &[u8], from: usize) -> usize {
    let mut i = from;
    while let Some(chunk) = b.get(i..i + 8) {
        let word = <[u8; 8]>::try_from(chunk).map_or(0, u64::from_le_bytes);
        let x = word ^ NEWLINES;
        // The lowest byte of x that is zero sets its high bit here (bits above it may be set
        // spuriously, which `trailing_zeros` never looks at).
        let zero = x.wrapping_sub(ONES) & !x & HIGHS;
        if zero != 0 {
            return i + (zero.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if c == b'\n' {
            return i;
        }
        i += 1;
    }
    b.len().max(from)
}

/// How many `\n` bytes `b` holds, eight bytes at a time: the line number of a place found by
/// searching rather than by walking the lines.
pub fn count_newlines(b: &[u8]) -> u32 {
    let lows = !HIGHS;
    let mut words = b.chunks_exact(8);
    let mut n = 0usize;
    for chunk in &mut words {
        let x = <[u8; 8]>::try_from(chunk).map_or(0, u64::from_le_bytes) ^ NEWLINES;
        // The high bit of each byte of x that is zero, exactly: no lane borrows from another
        // (unlike `line_end`'s test, which only needs the lowest zero byte).
        let zero = !(((x & lows) + lows) | x | lows);
        n += zero.count_ones() as usize;
    }
    n += words.remainder().iter().filter(|&&c| c == b'\n').count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The lines of `text` with their `\n` (the last one without, if the text does not end with
/// one), and the byte offset each starts at: `str::split_inclusive('\n')` with offsets.
pub fn lines_inclusive(text: &str) -> LinesInclusive<'_> {
    LinesInclusive { text, at: 0 }
}

pub struct LinesInclusive<'t> {
    text: &'t str,
    at: usize,
}

impl<'t> Iterator for LinesInclusive<'t> {
    type Item = (usize, &'t str);

    fn next(&mut self) -> Option<(usize, &'t str)> {
        let start = self.at;
        if start >= self.text.len() {
            return None;
        }
        let end = (line_end(self.text.as_bytes(), start) + 1).min(self.text.len());
        self.at = end;
        // `\n` is ASCII, so both ends are character boundaries.
        Some((start, self.text.get(start..end).unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive(b: &[u8], from: usize) -> usize {
        b.iter().skip(from).position(|&c| c == b'\n').map_or(b.len().max(from), |i| i + from)
    }

    #[test]
    fn finds_every_newline() {
        let text = "a\n\nbcdefghij\nklmnopqrstuvwxyz0123\n\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\n\nend";
        let b = text.as_bytes();
        for from in 0..=b.len() + 2 {
            assert_eq!(line_end(b, from), naive(b, from), "from {from}");
        }
        let ours: Vec<&str> = lines_inclusive(text).map(|(_, l)| l).collect();
        assert_eq!(ours, text.split_inclusive('\n').collect::<Vec<_>>());
    }

    proptest! {
        #[test]
        fn newlines_are_counted(text in "[a\\n\u{e9}\u{8a}\u{0a8a} ]{0,80}") {
            let want = text.bytes().filter(|&c| c == b'\n').count();
            prop_assert_eq!(count_newlines(text.as_bytes()) as usize, want);
        }

        #[test]
        fn agrees_with_split_inclusive(text in "[a\\n\u{e9}\u{a0}\u{10a}\\x0b\\x8a ]{0,80}") {
            let b = text.as_bytes();
            for from in 0..=b.len() {
                prop_assert_eq!(line_end(b, from), naive(b, from));
            }
            let mut offset = 0;
            let ours: Vec<(usize, &str)> = lines_inclusive(&text).collect();
            let theirs: Vec<(usize, &str)> = text
                .split_inclusive('\n')
                .map(|l| {
                    let at = offset;
                    offset += l.len();
                    (at, l)
                })
                .collect();
            prop_assert_eq!(ours, theirs);
        }
    }
}
