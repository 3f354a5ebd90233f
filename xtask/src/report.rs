//! One row of the benchmark report. The benches print rows with [`emit`] (they include this
//! file with `#[path]`); `cargo xtask bench` reads them back with [`parse`] and writes
//! docs/BENCHMARKS.md from them.
//!
//! A row is one line: the marker, then tab-separated fields (no field holds a tab or newline).
//! Its tests are in `bench.rs` (this file is also compiled into bench binaries).

#![allow(dead_code)]

/// The first field of a report line.
pub const MARK: &str = "A2E-REPORT";

/// One figure of the report.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Section key: storage, runtime, auth, http, isolation, soak.
    pub section: String,
    /// What was measured.
    pub figure: String,
    /// The measured value, with its unit.
    pub value: String,
    /// The baseline measured in the same run, with its unit, or empty.
    pub baseline: String,
    /// value / baseline, when the figure is a ratio.
    pub ratio: Option<f64>,
    /// The goal as text (`<= 1.25`), or empty.
    pub goal: String,
    /// Whether the goal is met, when there is one.
    pub met: Option<bool>,
}

fn clean(field: &str) -> String {
    field.replace(['\t', '\n', '\r'], " ")
}

/// Prints `row` as a report line.
pub fn emit(row: &Row) {
    let ratio = row.ratio.map(|r| format!("{r:.3}")).unwrap_or_default();
    let met = row.met.map(|m| m.to_string()).unwrap_or_default();
    println!(
        "{MARK}\t{}\t{}\t{}\t{}\t{ratio}\t{}\t{met}",
        clean(&row.section),
        clean(&row.figure),
        clean(&row.value),
        clean(&row.baseline),
        clean(&row.goal)
    );
}

/// A figure with a baseline and a goal on the ratio, such as `<= 1.25` or `>= 0.70`; `met` is
/// worked out from the goal.
pub fn ratio_row(section: &str, figure: &str, value: String, baseline: String, ratio: f64, goal: &str) -> Row {
    let met = goal_met(goal, ratio);
    Row { section: section.into(), figure: figure.into(), value, baseline, ratio: Some(ratio), goal: goal.into(), met }
}

/// A figure with no goal (a reference or a throughput).
pub fn plain_row(section: &str, figure: &str, value: String, baseline: String, ratio: Option<f64>) -> Row {
    Row { section: section.into(), figure: figure.into(), value, baseline, ratio, goal: String::new(), met: None }
}

/// Whether `ratio` meets `goal` (`<= x`, `>= x`, or `~x` meaning within 10%); None for any
/// other goal text.
pub fn goal_met(goal: &str, ratio: f64) -> Option<bool> {
    let goal = goal.trim();
    if let Some(x) = goal.strip_prefix("<=") {
        return x.trim().parse::<f64>().ok().map(|x| ratio <= x);
    }
    if let Some(x) = goal.strip_prefix(">=") {
        return x.trim().parse::<f64>().ok().map(|x| ratio >= x);
    }
    if let Some(x) = goal.strip_prefix('~') {
        return x.trim().parse::<f64>().ok().map(|x| (ratio / x - 1.0).abs() <= 0.10);
    }
    None
}

/// Reads a report line; None for any other line.
pub fn parse(line: &str) -> Option<Row> {
    let mut fields = line.trim_end_matches(['\n', '\r']).split('\t');
    if fields.next()? != MARK {
        return None;
    }
    let fields: Vec<&str> = fields.collect();
    if fields.len() != 7 {
        return None;
    }
    Some(Row {
        section: fields[0].into(),
        figure: fields[1].into(),
        value: fields[2].into(),
        baseline: fields[3].into(),
        ratio: fields[4].parse().ok(),
        goal: fields[5].into(),
        met: fields[6].parse().ok(),
    })
}
