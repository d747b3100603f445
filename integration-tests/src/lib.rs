//! Black-box tests of the whole mesh live in `tests/`; this library is intentionally empty.
