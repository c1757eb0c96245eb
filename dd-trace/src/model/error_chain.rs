//! An error and its chain of sources as text: a span's `error.stack`, and the one-line causes
//! in the tracer's own warnings.
//!
//! In: any `std::error::Error`, on the thread that records or reports it (the app's, for a
//! span's error; the worker's, for a failed request). Out: a `String`. Never panics.

use std::error::Error;
use std::fmt::{self, Write as _};

/// How [`error_chain`] lays out an error's sources.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChainStyle {
    /// `message`, then `Caused by:` and one numbered line per source: a span's `error.stack`.
    Stack,
    /// `message: cause: cause` on one line, skipping causes whose text is already there
    /// (hyper's messages repeat their sources): the tracer's own warnings.
    OneLine,
}

/// `error` and its sources as text.
pub(crate) fn error_chain(error: &(dyn Error + 'static), style: ChainStyle) -> String {
    describe_chain(error, error.source(), style)
}

/// `message` followed by `source` and its sources, as [`error_chain`] writes them.
pub(crate) fn describe_chain(
    message: &dyn fmt::Display,
    mut source: Option<&(dyn Error + 'static)>,
    style: ChainStyle,
) -> String {
    let mut out = message.to_string();
    let mut n = 0;
    while let Some(cause) = source {
        match style {
            ChainStyle::Stack => {
                if n == 0 {
                    out.push_str("\nCaused by:");
                }
                let _ = write!(out, "\n    {n}: {cause}");
            }
            ChainStyle::OneLine => {
                let text = cause.to_string();
                if !out.contains(&text) {
                    out.push_str(": ");
                    out.push_str(&text);
                }
            }
        }
        n += 1;
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrapped(&'static str, Option<Box<Wrapped>>);
    impl fmt::Display for Wrapped {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }
    impl Error for Wrapped {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    #[test]
    fn chains_list_every_source_in_both_styles() {
        let e = Wrapped(
            "client error (Connect)",
            Some(Box::new(Wrapped(
                "No such file",
                Some(Box::new(Wrapped("client error (Connect)", None))),
            ))),
        );
        assert_eq!(
            error_chain(&e, ChainStyle::Stack),
            "client error (Connect)\nCaused by:\n    0: No such file\n    1: client error (Connect)"
        );
        assert_eq!(
            error_chain(&e, ChainStyle::OneLine),
            "client error (Connect): No such file"
        );
        assert_eq!(
            error_chain(&Wrapped("alone", None), ChainStyle::Stack),
            "alone"
        );
    }
}
