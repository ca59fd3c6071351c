//! `weir costs`: what tries cost and used, per team, DAG or queue (and day), from the
//! server's `GET /api/v1/costs`, as a table, JSON or CSV.

use std::process::ExitCode;

use chrono::Utc;
use weir_api::costs::parse_since;
use weir_api::{CostReport, CostRow};

use crate::cli::{CostsArgs, CostsBy, CostsOutput, OutputFormat, ServerArgs};
use crate::commands::output::{self, emit, outln, print_json};
use crate::commands::server::with_client;

pub fn run(args: CostsArgs) -> anyhow::Result<ExitCode> {
    // A `--since` the server would refuse is bad usage: say so before asking.
    if let Err(e) = parse_since(&args.since, Utc::now()) {
        return Ok(output::usage(format!("--since: {e}")));
    }
    let server = ServerArgs {
        server: args.server.clone(),
        output: OutputFormat::Table,
    };
    with_client(&server, |client| async move {
        let by = match args.by {
            CostsBy::Team => "team",
            CostsBy::Dag => "dag",
            CostsBy::Queue => "queue",
        };
        let mut query = vec![
            ("by", by.to_string()),
            ("since", args.since.clone()),
            ("per_day", args.per_day.to_string()),
        ];
        if let Some(team) = &args.team {
            query.push(("team", team.clone()));
        }
        let report: CostReport = client.get(&["costs"], &query).await?;
        match args.output {
            CostsOutput::Json => print_json(&report)?,
            CostsOutput::Csv => emit(report.to_csv().trim_end())?,
            CostsOutput::Table => print_table(&report)?,
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn print_table(report: &CostReport) -> anyhow::Result<()> {
    let since = output::time(Some(report.since));
    if report.costs.is_empty() {
        return outln!("no usage recorded since {since}");
    }
    let key = report.group_by.to_string().to_uppercase();
    let columns = [
        "TRIES",
        "WALL",
        "VCPU-HOURS",
        "GIB-HOURS",
        "CPU",
        "PEAK MEMORY",
        "COST",
    ];
    let mut t = if report.per_day {
        let [a, b, c, d, e, f, g] = columns;
        output::table(["DAY", key.as_str(), a, b, c, d, e, f, g])
    } else {
        let [a, b, c, d, e, f, g] = columns;
        output::table([key.as_str(), a, b, c, d, e, f, g])
    };
    for row in &report.costs {
        t.add_row(cells(report, row, row.key.as_deref().unwrap_or("-")));
    }
    t.add_row(cells(report, &report.total, "TOTAL"));
    outln!("{t}")?;
    outln!("since {since}; in the currency of the prices in the platform config (weir.toml)")
}

/// The cells of one row of the table; the total has no day.
fn cells(report: &CostReport, row: &CostRow, key: &str) -> Vec<String> {
    let mut cells = Vec::with_capacity(9);
    if report.per_day {
        cells.push(row.day.map_or_else(String::new, |d| d.to_string()));
    }
    cells.extend([
        key.to_string(),
        row.tries.to_string(),
        output::duration(Some(row.wall_seconds)),
        format!("{:.3}", row.vcpu_hours),
        format!("{:.3}", row.gib_hours),
        // Zero: nothing measured (a try that ran uses some CPU and memory).
        output::duration((row.cpu_seconds > 0.0).then_some(row.cpu_seconds)),
        if row.peak_memory_bytes > 0 {
            output::bytes(row.peak_memory_bytes)
        } else {
            "-".to_string()
        },
        format!("{:.6}", row.cost),
    ]);
    cells
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, NaiveDate};
    use weir_core::cost::GroupKey;

    use super::*;

    fn report(per_day: bool) -> CostReport {
        let row = |key: &str, cost: f64| CostRow {
            key: Some(key.to_string()),
            day: per_day.then(|| NaiveDate::from_ymd_opt(2026, 3, 1).unwrap()),
            tries: 2,
            wall_seconds: 3600.0,
            vcpu_hours: 2.0,
            gib_hours: 4.5,
            cpu_seconds: 1800.25,
            peak_memory_bytes: 1 << 30,
            cost,
        };
        CostReport {
            costs: vec![row("finance", 0.056), row("a,\"b\"", 0.000111)],
            total: CostRow::default(),
            since: DateTime::parse_from_rfc3339("2026-03-01T00:00:00Z")
                .unwrap()
                .to_utc(),
            group_by: GroupKey::Dag,
            per_day,
            team: None,
            currency_note: String::new(),
        }
    }

    #[test]
    fn csv_has_a_header_raw_numbers_and_quotes() {
        assert_eq!(
            report(false).to_csv(),
            "dag,tries,wall_seconds,vcpu_hours,gib_hours,cpu_seconds,peak_memory_bytes,cost\n\
             finance,2,3600,2,4.5,1800.25,1073741824,0.056\n\
             \"a,\"\"b\"\"\",2,3600,2,4.5,1800.25,1073741824,0.000111\n"
        );
        let per_day = report(true).to_csv();
        assert!(per_day.starts_with("day,dag,tries,"), "{per_day}");
        assert!(per_day.contains("\n2026-03-01,finance,2,"), "{per_day}");
    }

    #[test]
    fn table_cells_follow_the_grouping() {
        let r = report(true);
        assert_eq!(
            cells(&r, &r.costs[0], "finance"),
            [
                "2026-03-01",
                "finance",
                "2",
                "1h00m",
                "2.000",
                "4.500",
                "30m00s",
                "1.0Gi",
                "0.056000"
            ]
        );
        let r = report(false);
        let total = cells(&r, &r.total, "TOTAL");
        assert_eq!((&*total[0], &*total[5], &*total[6]), ("TOTAL", "-", "-"));
    }
}
