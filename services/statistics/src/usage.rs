//! Usage series: every metric per bucket (day, ISO week, month) and group, with small cells
//! and the cells that would give them away hidden.
//!
//! How a cell's fate is decided, so that no two answers can be combined to recompute a
//! hidden count (see `docs/statistics.md`):
//! - counts that add up (measurements, searches, …) are decided per fixed *frame* (a day in
//!   its month, a week in its ISO year, a month in its year), never per request, so every
//!   answer shows or hides a cell the same way;
//! - a frame's period totals (the ungrouped series) are decided first, against the frame's
//!   total and, for days, every ISO week that lies inside the month;
//! - a grouped table is then decided with those totals as its row margins (a total hidden
//!   there counts as a hidden cell of its row), the groups' frame totals as column margins,
//!   and for days each group's full weeks as extra lines;
//! - distinct counts (patients, citizens) do not add up over days or groups; a period's
//!   groups are still decided against the period's total, and hidden when small.
//!
//! The deciding functions are pure; [`usage`] reads the aggregates and calls them.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Days, NaiveDate, Weekday};
use pmd_db::Database;
use pmd_db::sea_orm::DbErr;

use crate::facts::metric;
use crate::period::{DateRange, Granularity, buckets, frame_of};
use crate::store::{self, Cell, Dim};
use crate::suppress::{Line, Margin, is_small, suppress_lines, suppress_table};

/// Whether a metric adds up over days and groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Additive,
    Distinct,
}

/// A published metric and the dimensions it can be grouped by.
#[derive(Debug, Clone, Copy)]
pub struct MetricDef {
    pub name: &'static str,
    pub kind: Kind,
    pub dims: &'static [Dim],
}

const SOURCE_DIMS: &[Dim] = &[Dim::OrgType, Dim::Municipality, Dim::Region, Dim::Code];
const PATIENT_DIMS: &[Dim] = &[Dim::OrgType, Dim::Municipality, Dim::Region];
const CONSUMER_DIMS: &[Dim] = &[Dim::OrgType, Dim::Municipality, Dim::Region, Dim::Purpose];

/// Every metric, in the order answers list them.
pub const METRICS: &[MetricDef] = &[
    MetricDef {
        name: metric::MEASUREMENTS_RECEIVED,
        kind: Kind::Additive,
        dims: SOURCE_DIMS,
    },
    MetricDef {
        name: metric::PATIENTS_WITH_DATA,
        kind: Kind::Distinct,
        dims: PATIENT_DIMS,
    },
    MetricDef {
        name: metric::SEARCHES,
        kind: Kind::Additive,
        dims: CONSUMER_DIMS,
    },
    MetricDef {
        name: metric::READS,
        kind: Kind::Additive,
        dims: CONSUMER_DIMS,
    },
    MetricDef {
        name: metric::DENIED_ACCESSES,
        kind: Kind::Additive,
        dims: CONSUMER_DIMS,
    },
    MetricDef {
        name: metric::UNDECIDED_ACCESSES,
        kind: Kind::Additive,
        dims: CONSUMER_DIMS,
    },
    MetricDef {
        name: metric::CITIZENS_VIEWING,
        kind: Kind::Distinct,
        dims: &[],
    },
    MetricDef {
        name: metric::CITIZEN_VIEWS,
        kind: Kind::Additive,
        dims: &[],
    },
    MetricDef {
        name: metric::BLOCKS_CREATED,
        kind: Kind::Additive,
        dims: &[],
    },
    MetricDef {
        name: metric::BLOCKS_REVOKED,
        kind: Kind::Additive,
        dims: &[],
    },
    MetricDef {
        name: metric::EXPORTS,
        kind: Kind::Additive,
        dims: &[],
    },
];

/// One published cell: `None` = hidden.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub period: NaiveDate,
    pub metric: &'static str,
    pub group: Vec<(Dim, String)>,
    pub value: Option<i64>,
}

/// A usage answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The requested range widened to whole buckets.
    pub range: DateRange,
    pub granularity: Granularity,
    pub group_by: Vec<Dim>,
    pub rows: Vec<Row>,
}

/// Value per (bucket, group).
type Values = BTreeMap<(NaiveDate, Vec<String>), i64>;

fn values_of<'a>(cells: impl Iterator<Item = &'a Cell>) -> Values {
    let mut values = Values::new();
    for cell in cells {
        *values.entry((cell.bucket, cell.group.clone())).or_insert(0) += cell.value;
    }
    values
}

/// Indexes (into `periods`) of the ISO weeks that lie wholly inside `periods` (days).
fn full_weeks(periods: &[NaiveDate]) -> Vec<Vec<usize>> {
    let mut weeks = Vec::new();
    for (i, day) in periods.iter().enumerate() {
        if day.weekday() == Weekday::Mon
            && i + 6 < periods.len()
            && periods[i + 6] == *day + Days::new(6)
        {
            weeks.push((i..i + 7).collect());
        }
    }
    weeks
}

/// The published cells of one additive metric. `values` holds the metric's cells over every
/// frame that touches `requested` (grouped by `group_by` when `grouped`); the answer holds
/// the periods of `requested` only.
pub fn publish_additive(
    metric: &'static str,
    values: &Values,
    requested: DateRange,
    granularity: Granularity,
    group_by: &[Dim],
) -> Vec<Row> {
    let grouped = !group_by.is_empty();
    let frames = requested.widen_to_frames(granularity);
    let mut rows = Vec::new();
    // Periods by frame (each period belongs to exactly one frame).
    let mut by_frame: BTreeMap<NaiveDate, Vec<NaiveDate>> = BTreeMap::new();
    for period in buckets(frames, granularity) {
        by_frame
            .entry(frame_of(period, granularity).from)
            .or_default()
            .push(period);
    }
    // Every group seen in the frames: an answer lists each of them for every period, with 0
    // where a frame has none of it (a fact the frame's own decision does not depend on).
    let all_groups: BTreeSet<Vec<String>> = values.keys().map(|(_, g)| g.clone()).collect();
    for periods in by_frame.values() {
        let (Some(first), Some(last)) = (periods.first(), periods.last()) else {
            continue;
        };
        let in_frame = |p: &NaiveDate| *first <= *p && *p <= *last;
        let groups: Vec<Vec<String>> = values
            .keys()
            .filter(|(p, _)| in_frame(p))
            .map(|(_, g)| g.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let cell =
            |p: NaiveDate, g: &Vec<String>| values.get(&(p, g.clone())).copied().unwrap_or(0);
        let totals: Vec<i64> = periods
            .iter()
            .map(|p| groups.iter().map(|g| cell(*p, g)).sum())
            .collect();
        let weeks = if granularity == Granularity::Day {
            full_weeks(periods)
        } else {
            Vec::new()
        };
        // 1. The period totals, against the frame's total and (days) each full week's.
        let mut lines = vec![Line {
            cells: (0..periods.len()).collect(),
            margin: Margin::of_total(totals.iter().sum()),
        }];
        for week in &weeks {
            lines.push(Line {
                cells: week.clone(),
                margin: Margin::of_total(week.iter().map(|&i| totals[i]).sum()),
            });
        }
        let totals_hidden = suppress_lines(&totals, &lines);
        let wanted = |p: &NaiveDate| requested.from <= *p && *p <= requested.to;
        if !grouped {
            for (i, period) in periods.iter().enumerate() {
                if wanted(period) {
                    rows.push(Row {
                        period: *period,
                        metric,
                        group: Vec::new(),
                        value: (!totals_hidden[i]).then_some(totals[i]),
                    });
                }
            }
            continue;
        }
        // 2. The grouped table, with the totals' fate as row margins.
        let grid: Vec<Vec<i64>> = periods
            .iter()
            .map(|p| groups.iter().map(|g| cell(*p, g)).collect())
            .collect();
        let row_margins: Vec<Margin> = totals_hidden
            .iter()
            .map(|h| if *h { Margin::Hidden } else { Margin::Shown })
            .collect();
        let col_margins: Vec<Margin> = (0..groups.len())
            .map(|c| Margin::of_total(grid.iter().map(|r| r[c]).sum()))
            .collect();
        let ncols = groups.len();
        let extra: Vec<Line> = weeks
            .iter()
            .flat_map(|week| {
                let grid = &grid;
                (0..ncols).map(move |c| Line {
                    cells: week.iter().map(|&r| r * ncols + c).collect(),
                    margin: Margin::of_total(week.iter().map(|&r| grid[r][c]).sum()),
                })
            })
            .collect();
        let hidden = suppress_table(&grid, &row_margins, &col_margins, &extra);
        for (r, period) in periods.iter().enumerate() {
            if !wanted(period) {
                continue;
            }
            for group in &all_groups {
                let value = match groups.iter().position(|g| g == group) {
                    Some(c) => (!hidden[r][c]).then_some(grid[r][c]),
                    None => Some(0),
                };
                rows.push(Row {
                    period: *period,
                    metric,
                    group: group_pairs(group_by, group),
                    value,
                });
            }
        }
    }
    rows
}

/// The published cells of one distinct metric over the buckets of `requested`. `totals`
/// holds each bucket's distinct total; `values` the grouped distinct counts (when grouped).
pub fn publish_distinct(
    metric: &'static str,
    values: &Values,
    totals: &BTreeMap<NaiveDate, i64>,
    requested: DateRange,
    granularity: Granularity,
    group_by: &[Dim],
) -> Vec<Row> {
    let periods = buckets(requested, granularity);
    let total = |p: &NaiveDate| totals.get(p).copied().unwrap_or(0);
    if group_by.is_empty() {
        return periods
            .iter()
            .map(|p| Row {
                period: *p,
                metric,
                group: Vec::new(),
                value: (!is_small(total(p))).then_some(total(p)),
            })
            .collect();
    }
    let groups: Vec<Vec<String>> = values
        .keys()
        .map(|(_, g)| g.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let grid: Vec<Vec<i64>> = periods
        .iter()
        .map(|p| {
            groups
                .iter()
                .map(|g| values.get(&(*p, g.clone())).copied().unwrap_or(0))
                .collect()
        })
        .collect();
    let row_margins: Vec<Margin> = periods.iter().map(|p| Margin::of_total(total(p))).collect();
    let hidden = suppress_table(&grid, &row_margins, &[], &[]);
    let mut rows = Vec::new();
    for (r, period) in periods.iter().enumerate() {
        for (c, group) in groups.iter().enumerate() {
            rows.push(Row {
                period: *period,
                metric,
                group: group_pairs(group_by, group),
                value: (!hidden[r][c]).then_some(grid[r][c]),
            });
        }
    }
    rows
}

fn group_pairs(dims: &[Dim], values: &[String]) -> Vec<(Dim, String)> {
    dims.iter().copied().zip(values.iter().cloned()).collect()
}

/// The usage answer for `requested` (already validated), grouped by `group_by`. Metrics that
/// cannot be grouped by every dimension asked for are left out.
pub async fn usage(
    db: &Database,
    requested: DateRange,
    granularity: Granularity,
    group_by: &[Dim],
) -> Result<Answer, DbErr> {
    let requested = requested.widen(granularity);
    let eligible: Vec<&MetricDef> = METRICS
        .iter()
        .filter(|m| group_by.iter().all(|d| m.dims.contains(d)))
        .collect();
    let additive: Vec<&str> = eligible
        .iter()
        .filter(|m| m.kind == Kind::Additive)
        .map(|m| m.name)
        .collect();
    let frames = requested.widen_to_frames(granularity);
    let cells = store::count_cells(db, &additive, frames, granularity, group_by).await?;
    let mut rows = Vec::new();
    for def in eligible {
        match def.kind {
            Kind::Additive => {
                let values = values_of(cells.iter().filter(|c| c.metric == def.name));
                rows.extend(publish_additive(
                    def.name,
                    &values,
                    requested,
                    granularity,
                    group_by,
                ));
            }
            Kind::Distinct => {
                let totals: BTreeMap<NaiveDate, i64> =
                    store::distinct_cells(db, def.name, requested, granularity, &[])
                        .await?
                        .into_iter()
                        .map(|c| (c.bucket, c.value))
                        .collect();
                let values = if group_by.is_empty() {
                    Values::new()
                } else {
                    values_of(
                        store::distinct_cells(db, def.name, requested, granularity, group_by)
                            .await?
                            .iter(),
                    )
                };
                rows.extend(publish_distinct(
                    def.name,
                    &values,
                    &totals,
                    requested,
                    granularity,
                    group_by,
                ));
            }
        }
    }
    Ok(Answer {
        range: requested,
        granularity,
        group_by: group_by.to_vec(),
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap_or_default()
    }

    fn range(from: &str, to: &str) -> DateRange {
        DateRange {
            from: d(from),
            to: d(to),
        }
    }

    fn values(cells: &[(&str, &[&str], i64)]) -> Values {
        cells
            .iter()
            .map(|(day, group, v)| {
                (
                    (d(day), group.iter().map(|s| (*s).to_owned()).collect()),
                    *v,
                )
            })
            .collect()
    }

    fn shown(rows: &[Row], period: &str, group: &[&str]) -> Option<Option<i64>> {
        rows.iter()
            .find(|r| {
                r.period == d(period)
                    && r.group.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>() == group
            })
            .map(|r| r.value)
    }

    #[test]
    fn ungrouped_days_hide_small_totals_and_a_second_day_of_the_month() {
        // March 2026: 3 on the 10th is small; with the month total published, the next
        // smallest day (6 on the 20th) goes too, in every answer that shows either day.
        let v = values(&[
            ("2026-03-02", &[], 50),
            ("2026-03-10", &[], 3),
            ("2026-03-20", &[], 6),
            ("2026-03-25", &[], 40),
        ]);
        for requested in [
            range("2026-03-01", "2026-03-31"),
            range("2026-03-09", "2026-03-11"),
            range("2026-03-20", "2026-03-20"),
        ] {
            let rows = publish_additive("m", &v, requested, Granularity::Day, &[]);
            assert_eq!(rows.len() as i64, requested.days());
            if requested.from <= d("2026-03-10") && d("2026-03-10") <= requested.to {
                assert_eq!(shown(&rows, "2026-03-10", &[]), Some(None));
            }
            assert_eq!(
                shown(&rows, "2026-03-20", &[]).map(|v| v.is_none()),
                (requested.from <= d("2026-03-20") && d("2026-03-20") <= requested.to)
                    .then_some(true)
            );
        }
        let rows = publish_additive(
            "m",
            &v,
            range("2026-03-01", "2026-03-31"),
            Granularity::Day,
            &[],
        );
        assert_eq!(shown(&rows, "2026-03-02", &[]), Some(Some(50)));
        assert_eq!(shown(&rows, "2026-03-03", &[]), Some(Some(0)));
    }

    #[test]
    fn a_full_week_inside_the_month_protects_its_days() {
        // Week Mon 2026-03-09 .. Sun 03-15: a small day (2) is inside it; the month rule hides
        // the month's next smallest day, but that lies outside the week, so the week's own
        // next smallest day (5 on the 12th) must go too.
        let v = values(&[
            ("2026-03-02", &[], 5),
            ("2026-03-09", &[], 20),
            ("2026-03-10", &[], 2),
            ("2026-03-12", &[], 7),
            ("2026-03-14", &[], 30),
        ]);
        let rows = publish_additive(
            "m",
            &v,
            range("2026-03-01", "2026-03-31"),
            Granularity::Day,
            &[],
        );
        assert_eq!(shown(&rows, "2026-03-10", &[]), Some(None));
        assert_eq!(shown(&rows, "2026-03-02", &[]), Some(None), "month rule");
        assert_eq!(shown(&rows, "2026-03-12", &[]), Some(None), "week rule");
        assert_eq!(shown(&rows, "2026-03-09", &[]), Some(Some(20)));
    }

    #[test]
    fn grouped_rows_respect_the_totals_pattern() {
        // One day, two groups: municipality 3 (small), hospital 40. The total 43 is shown in
        // the ungrouped answer, so the hospital's 40 must be hidden here.
        let v = values(&[
            ("2026-03-10", &["municipality"], 3),
            ("2026-03-10", &["hospital_trust"], 40),
            ("2026-03-11", &["municipality"], 10),
            ("2026-03-11", &["hospital_trust"], 12),
        ]);
        let rows = publish_additive(
            "m",
            &v,
            range("2026-03-10", "2026-03-11"),
            Granularity::Day,
            &[Dim::OrgType],
        );
        assert_eq!(shown(&rows, "2026-03-10", &["municipality"]), Some(None));
        assert_eq!(shown(&rows, "2026-03-10", &["hospital_trust"]), Some(None));
        // Columns: municipality's column now has one hidden cell, so its next smallest (10)
        // goes, and then the 11th's row needs a second: hospital's 12.
        assert_eq!(shown(&rows, "2026-03-11", &["municipality"]), Some(None));
        assert_eq!(shown(&rows, "2026-03-11", &["hospital_trust"]), Some(None));
        let totals = publish_additive(
            "m",
            &v,
            range("2026-03-10", "2026-03-11"),
            Granularity::Day,
            &[],
        );
        assert_eq!(shown(&totals, "2026-03-10", &[]), Some(Some(43)));
    }

    #[test]
    fn grouped_answers_list_every_group_for_every_period() {
        // February has a municipality only, March a hospital trust only: a range over both
        // lists both kinds on every day, 0 where a month has none of it.
        let v = values(&[
            ("2026-02-27", &["municipality"], 12),
            ("2026-03-02", &["hospital_trust"], 30),
        ]);
        let rows = publish_additive(
            "m",
            &v,
            range("2026-02-26", "2026-03-03"),
            Granularity::Day,
            &[Dim::OrgType],
        );
        assert_eq!(rows.len(), 6 * 2);
        assert_eq!(
            shown(&rows, "2026-02-27", &["municipality"]),
            Some(Some(12))
        );
        assert_eq!(
            shown(&rows, "2026-02-27", &["hospital_trust"]),
            Some(Some(0))
        );
        assert_eq!(shown(&rows, "2026-03-02", &["municipality"]), Some(Some(0)));
        assert_eq!(
            shown(&rows, "2026-03-02", &["hospital_trust"]),
            Some(Some(30))
        );
    }

    #[test]
    fn weeks_and_months_are_fixed_buckets() {
        let v = values(&[("2025-12-29", &[], 10), ("2026-01-05", &[], 20)]);
        // A range starting on a Thursday answers the whole ISO week it starts in.
        let rows = publish_additive(
            "m",
            &v,
            range("2026-01-01", "2026-01-08").widen(Granularity::Week),
            Granularity::Week,
            &[],
        );
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].period, d("2025-12-29"));
        assert_eq!(rows[0].value, Some(10));
        assert_eq!(rows[1].value, Some(20));
    }

    #[test]
    fn distinct_small_counts_are_hidden_and_groups_follow_their_total() {
        let totals: BTreeMap<NaiveDate, i64> = [(d("2026-03-10"), 12), (d("2026-03-11"), 3)]
            .into_iter()
            .collect();
        let rows = publish_distinct(
            "p",
            &Values::new(),
            &totals,
            range("2026-03-10", "2026-03-12"),
            Granularity::Day,
            &[],
        );
        assert_eq!(
            rows.iter().map(|r| r.value).collect::<Vec<_>>(),
            vec![Some(12), None, Some(0)]
        );
        let grouped = values(&[
            ("2026-03-10", &["municipality"], 2),
            ("2026-03-10", &["hospital_trust"], 10),
        ]);
        let rows = publish_distinct(
            "p",
            &grouped,
            &totals,
            range("2026-03-10", "2026-03-10"),
            Granularity::Day,
            &[Dim::OrgType],
        );
        assert!(rows.iter().all(|r| r.value.is_none()), "{rows:?}");
    }
}
