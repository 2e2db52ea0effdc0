//! `hostwatch detect` end to end through its library function: a folder of
//! NAB-style CSVs in, the same layout of `timestamp,anomaly_score` out.

use std::path::Path;

/// Writes `value` rows at a 5-minute step from 2014-01-01.
fn write_series(path: &Path, values: &[f64]) {
    let mut text = String::from("timestamp,value\n");
    for (i, v) in values.iter().enumerate() {
        let t = 1_388_534_400 + i as i64 * 300;
        let (day, sec) = (t / 86_400 - 16_071, t % 86_400);
        text += &format!(
            "2014-01-{:02} {:02}:{:02}:00,{v}\n",
            day + 1,
            sec / 3600,
            sec % 3600 / 60
        );
    }
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write csv");
}

fn read_scores(path: &Path) -> Vec<(String, f64)> {
    let text = std::fs::read_to_string(path).expect("output csv");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("timestamp,anomaly_score"));
    lines
        .map(|l| {
            let (ts, s) = l.split_once(',').expect("two columns");
            (ts.to_owned(), s.parse().expect("score"))
        })
        .collect()
}

#[test]
fn flat_series_with_one_spike_scores_the_spike_highest() {
    const N: usize = 2000;
    const SPIKE: usize = 1500;
    let dir = tempfile::tempdir().expect("tempdir");
    let (input, output) = (dir.path().join("in"), dir.path().join("out"));
    // A flat level with a little deterministic jitter, and one spike.
    let values: Vec<f64> = (0..N)
        .map(|i| match i {
            SPIKE => 80.0,
            _ => 20.0 + [0.0, 0.4, -0.3, 0.2, -0.1][i % 5],
        })
        .collect();
    write_series(&input.join("group/spiky.csv"), &values);
    write_series(&input.join("calm.csv"), &values[..100]);

    let mut calls = Vec::new();
    let summary = hostwatch::detect_cmd::run(
        &input,
        &output,
        &hub::detect::Config::default(),
        &mut |done, total, _| calls.push((done, total)),
    )
    .expect("detect run");
    assert_eq!(calls, [(1, 2), (2, 2)]);
    assert_eq!(
        (summary.files, summary.rows, summary.malformed),
        (2, N as u64 + 100, 0)
    );

    let scores = read_scores(&output.join("group/spiky.csv"));
    assert_eq!(scores.len(), N);
    assert!(scores.iter().all(|(_, s)| (0.0..=1.0).contains(s)));
    let input_text = std::fs::read_to_string(input.join("group/spiky.csv")).expect("input");
    let input_ts: Vec<&str> = input_text
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next())
        .collect();
    assert!(scores.iter().map(|(t, _)| t.as_str()).eq(input_ts));

    let spike = scores[SPIKE].1;
    let warm = N * 15 / 100;
    let worst_normal = scores[warm..]
        .iter()
        .enumerate()
        .filter(|(i, _)| warm + i != SPIKE)
        .map(|(_, (_, s))| *s)
        .fold(0.0, f64::max);
    assert!(
        spike > worst_normal,
        "spike {spike} vs normal {worst_normal}"
    );
    assert_eq!(read_scores(&output.join("calm.csv")).len(), 100);
}

#[test]
fn malformed_rows_are_counted_and_kept_in_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("one.csv");
    std::fs::write(
        &input,
        "timestamp,value\n2014-01-01 00:00:00,1\n2014-01-01 00:05:00,oops\n2014-01-01 00:10:00,2\n",
    )
    .expect("write");
    let out = dir.path().join("out");
    let summary = hostwatch::detect_cmd::run(&input, &out, &Default::default(), &mut |_, _, _| {})
        .expect("detect run");
    assert_eq!((summary.rows, summary.malformed), (3, 1));
    assert_eq!(read_scores(&out.join("one.csv")).len(), 3);
}

#[test]
fn missing_columns_name_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("bad.csv");
    std::fs::write(&input, "time,v\n1,2\n").expect("write");
    let err = hostwatch::detect_cmd::run(
        &input,
        &dir.path().join("o"),
        &Default::default(),
        &mut |_, _, _| {},
    )
    .expect_err("bad header");
    assert!(err.to_string().contains("bad.csv:1"), "{err}");
}
