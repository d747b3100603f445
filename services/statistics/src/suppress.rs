//! Small-cell suppression: no published count lies between 1 and 4, and no hidden count can
//! be recomputed from a row or column total.
//!
//! - **Primary**: every count from 1 to 4 ([`is_small`]) is hidden. 0 is published (it says
//!   nobody; it cannot single anyone out).
//! - **Secondary**: cells are tied together by *lines*: sets of cells whose total (the
//!   line's *margin*) is published somewhere: a table's rows and columns, a frame's total, a
//!   week inside a month. When a line has exactly one hidden member (its margin counts when
//!   hidden), the smallest shown non-zero cell of that line is hidden too (a zero when it has
//!   none); this repeats until no line has exactly one. Cells whose total is published
//!   nowhere form no line: nothing could be recomputed from them. Margins are never hidden by this
//!   rule: they are the totals other answers publish (a period's total, a group's total over
//!   a coarser bucket), decided once, in the answer that publishes them.
//!
//! Pure functions: no I/O. Ties go to the first cell in row-major order, so the same table
//! always gives the same pattern.

/// Counts at or below this (and above 0) are never published.
pub const MAX_SMALL: i64 = 4;

/// Is `count` a small cell (1–4)?
pub fn is_small(count: i64) -> bool {
    (1..=MAX_SMALL).contains(&count)
}

/// A row's or column's total as the published answers show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Margin {
    /// The total is published elsewhere (or derivable) and shown.
    Shown,
    /// The total is hidden wherever it is published.
    Hidden,
    /// No total of these cells is published anywhere: nothing can be recomputed from them
    /// together, so they are not tied (no secondary suppression on their account).
    Absent,
}

impl Margin {
    /// The margin of a published total under primary suppression.
    pub fn of_total(total: i64) -> Self {
        if is_small(total) {
            Margin::Hidden
        } else {
            Margin::Shown
        }
    }

    fn hidden(self) -> usize {
        usize::from(self == Margin::Hidden)
    }
}

/// A set of cells whose sum (or, for distinct counts, whose union) is published as
/// `margin`: a row, a column, or any other published total over some of the cells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Indexes into the values.
    pub cells: Vec<usize>,
    pub margin: Margin,
}

/// Which of `values` to hide, given the lines they sum to. Primary suppression first; then,
/// while some line has exactly one hidden member (its hidden margin counts as one), one more
/// cell of that line is hidden: the smallest shown non-zero cell (ties: lowest index), or,
/// when the line has none and its total is shown, a zero (else the total minus the zeros is
/// the hidden cell).
/// A cell that is alone in a line with a shown total is published by that total, so it is
/// never chosen.
pub fn suppress_lines(values: &[i64], lines: &[Line]) -> Vec<bool> {
    let mut hidden: Vec<bool> = values.iter().map(|v| is_small(*v)).collect();
    let mut locked = vec![false; values.len()];
    for line in lines {
        if let ([i], Margin::Shown) = (line.cells.as_slice(), line.margin)
            && *i < values.len()
        {
            locked[*i] = true;
        }
    }
    loop {
        let mut changed = false;
        for line in lines.iter().filter(|l| l.margin != Margin::Absent) {
            let cells = || line.cells.iter().copied().filter(|&i| i < values.len());
            let count = cells().filter(|&i| hidden[i]).count() + line.margin.hidden();
            if count != 1 {
                continue;
            }
            let open = || cells().filter(|&i| !hidden[i] && !locked[i]);
            let candidate = open()
                .filter(|&i| values[i] > 0)
                .min_by_key(|&i| (values[i], i))
                .or_else(|| open().min().filter(|_| line.margin == Margin::Shown));
            if let Some(i) = candidate {
                hidden[i] = true;
                changed = true;
            }
        }
        if !changed {
            return hidden;
        }
    }
}

/// Which interior cells of `cells` (rows × columns, every row the same length) to hide,
/// given the margins of each row and column (missing entries count as
/// [`Margin::Absent`]) and any `extra` lines (indexes are row-major: `row * columns + col`).
pub fn suppress_table(
    cells: &[Vec<i64>],
    row_margins: &[Margin],
    col_margins: &[Margin],
    extra: &[Line],
) -> Vec<Vec<bool>> {
    let rows = cells.len();
    let cols = cells.iter().map(Vec::len).max().unwrap_or(0);
    let values: Vec<i64> = (0..rows)
        .flat_map(|r| (0..cols).map(move |c| cells[r].get(c).copied().unwrap_or(0)))
        .collect();
    let mut lines: Vec<Line> = Vec::with_capacity(rows + cols + extra.len());
    for r in 0..rows {
        lines.push(Line {
            cells: (0..cols).map(|c| r * cols + c).collect(),
            margin: row_margins.get(r).copied().unwrap_or(Margin::Absent),
        });
    }
    for c in 0..cols {
        lines.push(Line {
            cells: (0..rows).map(|r| r * cols + c).collect(),
            margin: col_margins.get(c).copied().unwrap_or(Margin::Absent),
        });
    }
    lines.extend(extra.iter().cloned());
    let hidden = suppress_lines(&values, &lines);
    (0..rows)
        .map(|r| hidden[r * cols..(r + 1) * cols].to_vec())
        .collect()
}

/// [`suppress_table`] without extra lines.
pub fn suppress(
    cells: &[Vec<i64>],
    row_margins: &[Margin],
    col_margins: &[Margin],
) -> Vec<Vec<bool>> {
    suppress_table(cells, row_margins, col_margins, &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The property every answer must have: no small cell shown, and no line with exactly one
    /// hidden member while a shown non-zero interior cell could have been hidden with it.
    fn check(cells: &[Vec<i64>], rows: &[Margin], cols: &[Margin], hidden: &[Vec<bool>]) {
        let nr = cells.len();
        let nc = cells.first().map_or(0, Vec::len);
        for r in 0..nr {
            for c in 0..nc {
                if is_small(cells[r][c]) {
                    assert!(hidden[r][c], "small cell shown: {cells:?} {hidden:?}");
                }
            }
        }
        // A cell alone in its row (one column) with a shown row total is published by that
        // total, and likewise alone in its column.
        let locked = |r: usize, c: usize| {
            (nc == 1 && rows[r] == Margin::Shown) || (nr == 1 && cols[c] == Margin::Shown)
        };
        for r in (0..nr).filter(|&r| rows[r] != Margin::Absent) {
            let count = hidden[r].iter().filter(|h| **h).count() + rows[r].hidden();
            let open = (0..nc).any(|c| {
                !hidden[r][c] && !locked(r, c) && (cells[r][c] > 0 || rows[r] == Margin::Shown)
            });
            assert!(
                count != 1 || !open,
                "row {r} recomputable: {cells:?} {rows:?} {hidden:?}"
            );
            if nr >= 2 && nc >= 2 && rows[r] == Margin::Shown {
                assert_ne!(count, 1, "row {r}: {cells:?} {rows:?} {hidden:?}");
            }
        }
        for c in (0..nc).filter(|&c| cols[c] != Margin::Absent) {
            let count = (0..nr).filter(|&r| hidden[r][c]).count() + cols[c].hidden();
            let open = (0..nr).any(|r| {
                !hidden[r][c] && !locked(r, c) && (cells[r][c] > 0 || cols[c] == Margin::Shown)
            });
            assert!(
                count != 1 || !open,
                "column {c} recomputable: {cells:?} {cols:?} {hidden:?}"
            );
            if nr >= 2 && nc >= 2 && cols[c] == Margin::Shown {
                assert_ne!(count, 1, "column {c}: {cells:?} {cols:?} {hidden:?}");
            }
        }
    }

    /// Every grid up to `nr` × `nc` with values from `values`, with totals shown.
    fn all_grids(nr: usize, nc: usize, values: &[i64], mut visit: impl FnMut(&[Vec<i64>])) {
        let n = nr * nc;
        let mut index = vec![0usize; n];
        loop {
            let grid: Vec<Vec<i64>> = (0..nr)
                .map(|r| (0..nc).map(|c| values[index[r * nc + c]]).collect())
                .collect();
            visit(&grid);
            let mut i = 0;
            loop {
                if i == n {
                    return;
                }
                index[i] += 1;
                if index[i] < values.len() {
                    break;
                }
                index[i] = 0;
                i += 1;
            }
        }
    }

    fn margins_of(cells: &[Vec<i64>]) -> (Vec<Margin>, Vec<Margin>) {
        let nc = cells.first().map_or(0, Vec::len);
        let rows = cells
            .iter()
            .map(|row| Margin::of_total(row.iter().sum()))
            .collect();
        let cols = (0..nc)
            .map(|c| Margin::of_total(cells.iter().map(|row| row[c]).sum()))
            .collect();
        (rows, cols)
    }

    #[test]
    fn every_count_from_1_to_4_is_hidden_and_5_is_shown() {
        for v in 0..=10 {
            let hidden = suppress(&[vec![v]], &[Margin::Absent], &[Margin::Absent]);
            assert_eq!(hidden[0][0], (1..=4).contains(&v), "{v}");
        }
    }

    #[test]
    fn a_single_hidden_cell_in_a_row_takes_the_next_smallest_with_it() {
        // Row total 3 + 7 + 20 = 30 is shown: the 3 would be 30 - 7 - 20.
        let cells = vec![vec![3, 7, 20]];
        let hidden = suppress(&cells, &[Margin::Shown], &[Margin::Absent; 3]);
        assert_eq!(hidden, vec![vec![true, true, false]]);
    }

    #[test]
    fn secondary_suppression_follows_columns_too() {
        // Column totals shown. Hiding the 3 in row 0 forces the 6 in row 0 (row rule), then
        // columns 0 and 1 each have one hidden cell, so the 8 and 9 in row 1 follow.
        let cells = vec![vec![3, 6, 50], vec![8, 9, 60]];
        let (rows, cols) = margins_of(&cells);
        let hidden = suppress(&cells, &rows, &cols);
        assert_eq!(
            hidden,
            vec![vec![true, true, false], vec![true, true, false]]
        );
        check(&cells, &rows, &cols, &hidden);
    }

    #[test]
    fn a_hidden_total_counts_as_the_lines_hidden_cell() {
        // The period total is hidden elsewhere (say it was 2 + 0 somewhere it mattered);
        // here no interior cell is small, yet the row must not give the total away.
        let cells = vec![vec![7, 12]];
        let hidden = suppress(&cells, &[Margin::Hidden], &[Margin::Absent; 2]);
        assert_eq!(hidden, vec![vec![true, false]]);
    }

    #[test]
    fn zeros_are_shown_unless_a_line_has_nothing_else_to_hide() {
        // The hidden total already makes two hidden members: the zeros stay.
        let cells = vec![vec![0, 3, 0]];
        let hidden = suppress(&cells, &[Margin::Hidden], &[Margin::Absent; 3]);
        assert_eq!(hidden, vec![vec![false, true, false]]);
        // A cell hidden for another line's sake (the 6, to protect the 3 in the column) sits
        // among zeros under a shown row total 6: a zero must go with it, or 6 - 0 - 0 = 6
        // gives it back (and the 3 with it). A line without a published total never takes a
        // zero.
        let cells = vec![vec![0, 3, 0], vec![0, 6, 0]];
        let rows = [Margin::Hidden, Margin::Shown];
        let cols = [Margin::Absent, Margin::Shown, Margin::Absent];
        let hidden = suppress(&cells, &rows, &cols);
        assert_eq!(
            hidden,
            vec![vec![false, true, false], vec![true, true, false]]
        );
    }

    #[test]
    fn tables_without_small_cells_are_shown_whole() {
        let cells = vec![vec![5, 0, 9], vec![0, 12, 5]];
        let (rows, cols) = margins_of(&cells);
        let hidden = suppress(&cells, &rows, &cols);
        assert!(hidden.iter().flatten().all(|h| !h));
    }

    #[test]
    fn series_with_a_shown_total_hide_two_or_none() {
        let series = |values: &[i64], margin| {
            suppress_lines(
                values,
                &[Line {
                    cells: (0..values.len()).collect(),
                    margin,
                }],
            )
        };
        assert_eq!(
            series(&[10, 2, 7, 30], Margin::Shown),
            vec![false, true, true, false]
        );
        assert_eq!(series(&[10, 2, 3], Margin::Shown), vec![false, true, true]);
        assert_eq!(series(&[0, 2, 0], Margin::Hidden), vec![false, true, false]);
        assert_eq!(series(&[5, 6], Margin::Shown), vec![false, false]);
    }

    #[test]
    fn extra_lines_protect_other_published_totals() {
        // A column of 7 days with a shown week total over days 0..7: the one small day would
        // be the week total minus the others, so the next smallest day goes too.
        let days = vec![
            vec![9],
            vec![8],
            vec![2],
            vec![30],
            vec![12],
            vec![6],
            vec![7],
        ];
        let week = Line {
            cells: (0..7).collect(),
            margin: Margin::Shown,
        };
        let hidden = suppress_table(&days, &[], &[Margin::Absent], &[week]);
        let hidden: Vec<bool> = hidden.into_iter().map(|r| r[0]).collect();
        assert_eq!(hidden, vec![false, false, true, false, false, true, false]);
    }

    #[test]
    fn exhaustive_lines_over_every_subset() {
        // Four cells, every published total over any subset of them: still no line left with
        // exactly one hidden member and a cell that could have joined it.
        let values_set = [0, 1, 3, 5, 8];
        all_grids(1, 4, &values_set, |grid| {
            let values = &grid[0];
            for subsets in [3u32, 5, 6, 7, 9, 10, 12, 15] {
                let lines: Vec<Line> = (1u32..16)
                    .filter(|m| m & subsets == *m)
                    .map(|m| Line {
                        cells: (0..4).filter(|i| m & (1 << i) != 0).collect(),
                        margin: Margin::of_total(
                            (0..4)
                                .filter(|i| m & (1 << i) != 0)
                                .map(|i| values[i])
                                .sum(),
                        ),
                    })
                    .collect();
                let hidden = suppress_lines(values, &lines);
                for (i, v) in values.iter().enumerate() {
                    if is_small(*v) {
                        assert!(hidden[i]);
                    }
                }
                let locked = |i: usize| {
                    lines
                        .iter()
                        .any(|l| l.cells == [i] && l.margin == Margin::Shown)
                };
                for line in &lines {
                    let count =
                        line.cells.iter().filter(|&&i| hidden[i]).count() + line.margin.hidden();
                    let open = line.cells.iter().any(|&i| {
                        !hidden[i] && !locked(i) && (values[i] > 0 || line.margin == Margin::Shown)
                    });
                    assert!(count != 1 || !open, "{values:?} {line:?} {hidden:?}");
                }
            }
        });
    }

    #[test]
    fn exhaustive_small_grids_with_totals_shown() {
        // Values cover zero, every small count, the threshold and a larger count.
        let values = [0, 1, 2, 3, 4, 5, 9];
        for (nr, nc) in [
            (1, 1),
            (1, 2),
            (1, 3),
            (2, 1),
            (2, 2),
            (3, 1),
            (1, 4),
            (2, 3),
            (3, 2),
        ] {
            let mut seen = 0u32;
            all_grids(nr, nc, &values, |cells| {
                let (rows, cols) = margins_of(cells);
                let hidden = suppress(cells, &rows, &cols);
                check(cells, &rows, &cols, &hidden);
                assert_eq!(hidden, suppress(cells, &rows, &cols), "deterministic");
                seen += 1;
            });
            assert_eq!(seen, 7u32.pow((nr * nc) as u32));
        }
    }

    #[test]
    fn exhaustive_small_grids_with_every_margin_kind() {
        let values = [0, 2, 5, 8];
        let kinds = [Margin::Shown, Margin::Hidden, Margin::Absent];
        all_grids(2, 2, &values, |cells| {
            for r0 in kinds {
                for r1 in kinds {
                    for c0 in kinds {
                        for c1 in kinds {
                            let rows = [r0, r1];
                            let cols = [c0, c1];
                            let hidden = suppress(cells, &rows, &cols);
                            check(cells, &rows, &cols, &hidden);
                        }
                    }
                }
            }
        });
    }

    mod prop {
        use proptest::prelude::*;

        use super::super::*;

        proptest! {
            #[test]
            fn larger_grids_are_never_recomputable(
                cells in (1usize..6, 1usize..7).prop_flat_map(|(r, c)| {
                    proptest::collection::vec(proptest::collection::vec(
                        prop_oneof![Just(0i64), 1i64..5, 5i64..40], c), r)
                })
            ) {
                let (rows, cols) = super::margins_of(&cells);
                let hidden = suppress(&cells, &rows, &cols);
                super::check(&cells, &rows, &cols, &hidden);
            }
        }
    }
}
