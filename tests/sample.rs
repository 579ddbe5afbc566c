//! The README's sample: the quickstart's figures equal awkward's.

use std::path::PathBuf;

#[test]
fn sample_type_and_jets_pt_sum_match_awkward() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let want: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("data/events.expected.json")).unwrap(),
    )
    .unwrap();
    let events = akbuf::open(root.join("data/events")).unwrap();
    assert_eq!(events.type_string(), want["type"].as_str().unwrap());
    let pt = events.field("jets").unwrap().field("pt").unwrap();
    assert_eq!(pt.type_string(), want["jets_pt_type"].as_str().unwrap());
    let sum: f64 = pt
        .flat_values::<f32>()
        .unwrap()
        .iter()
        .map(|&x| f64::from(x))
        .sum();
    let awkward = want["jets_pt_sum_f64"].as_f64().unwrap();
    // numpy sums pairwise, this sums in order: equal to rounding.
    assert!(
        (sum - awkward).abs() <= 1e-9 * awkward.abs(),
        "{sum} vs {awkward}"
    );
}
