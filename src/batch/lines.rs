//! The lines of a byte range of a text object, aligned as input splits are: a range
//! `[start, end)` owns every line that starts inside it, reading past `end` to finish its last
//! line, so that the ranges of one object together hold each line exactly once.

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

/// Where reading must begin for a range starting at `start`: one byte early, to learn whether
/// `start` is the beginning of a line.
pub fn read_from(start: u64) -> u64 {
    start.saturating_sub(1)
}

/// One line: its first byte's offset in the object and its text without `\n` or `\r\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub offset: u64,
    pub text: Vec<u8>,
}

/// Reads the lines a range owns from a stream positioned at [`read_from`]`(start)`.
pub struct RangeLines<R> {
    reader: BufReader<R>,
    /// Offset of the next byte the reader gives.
    position: u64,
    end: Option<u64>,
    aligned: bool,
}

impl<R: AsyncRead + Unpin> RangeLines<R> {
    /// `end: None` reads to the end of the object.
    pub fn new(stream: R, start: u64, end: Option<u64>) -> Self {
        RangeLines {
            reader: BufReader::with_capacity(256 * 1024, stream),
            position: read_from(start),
            end,
            aligned: start == 0,
        }
    }

    /// The next line the range owns, `None` after its last.
    pub async fn next_line(&mut self) -> std::io::Result<Option<Line>> {
        let mut text = Vec::new();
        if !self.aligned {
            self.aligned = true;
            // from the byte before `start` through the next newline: just that byte when it
            // is a newline (`start` begins a line), else the rest of a line that belongs to
            // the range before
            let n = self.reader.read_until(b'\n', &mut text).await?;
            self.position += n as u64;
            text.clear();
        }
        if self.end.is_some_and(|end| self.position >= end) {
            return Ok(None);
        }
        let offset = self.position;
        let n = self.reader.read_until(b'\n', &mut text).await?;
        if n == 0 {
            return Ok(None);
        }
        self.position += n as u64;
        if text.last() == Some(&b'\n') {
            text.pop();
            if text.last() == Some(&b'\r') {
                text.pop();
            }
        }
        Ok(Some(Line { offset, text }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines a range of `text` owns, read as an object store would serve them.
    async fn lines(text: &[u8], start: u64, end: Option<u64>) -> Vec<(u64, String)> {
        let from = read_from(start) as usize;
        let mut reader = RangeLines::new(&text[from.min(text.len())..], start, end);
        let mut out = Vec::new();
        while let Some(line) = reader.next_line().await.unwrap() {
            out.push((line.offset, String::from_utf8(line.text).unwrap()));
        }
        out
    }

    #[tokio::test]
    async fn ranges_split_anywhere_hold_every_line_once() {
        let text = b"h,a\r\n1,2\r\n33,44\n\n5,6\n77,8";
        let whole = lines(text, 0, None).await;
        assert_eq!(
            whole,
            [
                (0, "h,a".to_string()),
                (5, "1,2".into()),
                (10, "33,44".into()),
                (16, "".into()),
                (17, "5,6".into()),
                (21, "77,8".into())
            ]
        );
        let len = text.len() as u64;
        // every cut: inside lines, on CR and LF, at the first and the last byte
        for k in [1u64, 2, 3, 7, len] {
            for cuts in 0..len {
                let mut bounds: Vec<u64> = (0..k).map(|i| (i * len / k + cuts) % len).collect();
                bounds.push(0);
                bounds.push(len);
                bounds.sort_unstable();
                bounds.dedup();
                let mut joined = Vec::new();
                for pair in bounds.windows(2) {
                    joined.extend(lines(text, pair[0], Some(pair[1])).await);
                }
                assert_eq!(joined, whole, "cuts at {bounds:?}");
            }
        }
    }
}
