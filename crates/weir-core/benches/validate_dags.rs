//! Benchmark: read and validate 1,000 DAG files of 20 tasks each.
//! Target on the 2-core CI machine: under 1 second.
//! Run: `cargo bench -p weir-core --bench validate_dags`

#![allow(clippy::disallowed_methods)] // a benchmark reads the clock: that is its job

use std::time::Instant;

fn dag_file(i: usize) -> String {
    let mut src = format!(
        "dag: generated_{i}\nteam: team_{}\nschedule: \"{} 3 * * *\"\ntimezone: Europe/Berlin\nstart_date: 2026-01-01\nparams: {{country: DE}}\ndefaults: {{retries: 2, retry_delay: 30s, timeout: 1h}}\ntasks:\n",
        i % 7,
        i % 60
    );
    for t in 0..20 {
        src.push_str(&format!(
            "  task_{t}:\n    shell: echo \"{{{{ ds }}}} {{{{ params.country }}}} {t}\"\n"
        ));
        if t > 0 {
            src.push_str(&format!("    depends_on: [task_{}]\n", t - 1));
        }
        if t % 5 == 0 {
            src.push_str("    env: {STAGE: \"{{ run_id }}\"}\n");
        }
    }
    src
}

fn main() {
    let dir = std::env::temp_dir().join(format!("weir-bench-validate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for i in 0..1000 {
        std::fs::write(dir.join(format!("dag_{i}.yaml")), dag_file(i)).expect("write");
    }
    let mut best = f64::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            let text = std::fs::read_to_string(&path).expect("read");
            files.push((path.display().to_string(), text));
        }
        let bag = weir_core::spec::bag::load_bag(files);
        let elapsed = start.elapsed().as_secs_f64();
        let dags: usize = bag.iter().map(|f| f.report.dags.len()).sum();
        assert_eq!(dags, 1000, "every generated DAG must validate");
        best = best.min(elapsed);
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "validate 1000 DAG files x 20 tasks: best of 5 = {:.0} ms (target < 1000 ms)",
        best * 1000.0
    );
}
