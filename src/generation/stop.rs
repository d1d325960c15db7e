//! Stop strings, matched in the text as it grows, across token boundaries: the text ends
//! before the first stop string, which is not part of it. While a stream runs, the end of the
//! text that could still become a stop string is held back, so a client never receives a part
//! of one.

/// The stop strings of a request (empty ones dropped).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StopStrings {
    stops: Vec<String>,
}

/// `index` moved back to a character boundary of `text`.
fn floor_boundary(text: &str, mut index: usize) -> usize {
    index = index.min(text.len());
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

impl StopStrings {
    pub fn new(stops: impl IntoIterator<Item = String>) -> StopStrings {
        StopStrings {
            stops: stops.into_iter().filter(|s| !s.is_empty()).collect(),
        }
    }

    fn longest(&self) -> usize {
        self.stops.iter().map(String::len).max().unwrap_or(0)
    }

    /// Where the first stop string starts in `text`, looking only at matches that end after
    /// byte `checked` (the text before was searched when it was shorter).
    pub fn find(&self, text: &str, checked: usize) -> Option<usize> {
        let from = floor_boundary(
            text,
            checked.saturating_sub(self.longest().saturating_sub(1)),
        );
        self.stops
            .iter()
            .filter_map(|s| text[from..].find(s.as_str()).map(|i| from + i))
            .min()
    }

    /// How many bytes at the end of `text` are the start of some stop string: a stream holds
    /// them back until the next token settles it.
    pub fn held_back(&self, text: &str) -> usize {
        let mut held = 0;
        for stop in &self.stops {
            for len in (1..stop.len()).rev() {
                if len <= held {
                    break;
                }
                if stop.is_char_boundary(len) && text.ends_with(&stop[..len]) {
                    held = len;
                    break;
                }
            }
        }
        held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_are_found_across_pieces_and_their_starts_held_back() {
        let stops = StopStrings::new(["\n\n".to_string(), "END".to_string(), String::new()]);
        assert_eq!(stops.find("hello\n", 0), None);
        assert_eq!(stops.held_back("hello\n"), 1);
        assert_eq!(stops.find("hello\n\nmore", 6), Some(5));
        assert_eq!(stops.held_back("the E"), 1);
        assert_eq!(stops.held_back("the EN"), 2);
        assert_eq!(stops.held_back("the ENx"), 0);
        assert_eq!(stops.find("the END", 6), Some(4));
        assert_eq!(stops.find("no stop here", 0), None);
        let accents = StopStrings::new(["é!".to_string()]);
        assert_eq!(accents.held_back("café"), 2);
        assert_eq!(accents.find("café!", 4), Some(3));
    }
}
