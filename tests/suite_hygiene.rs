//! The suite itself: no test asserts on wall time or throughput measured on
//! this machine (CI runs on a busy 2-core machine, where such thresholds
//! flake), and the README's test command runs every test binary even when
//! one fails.

use std::path::Path;

/// Words that make an assertion depend on how fast this machine is.
const TIMING: &[&str] = &[
    "elapsed()",
    "as_secs",
    "as_millis",
    "Instant::",
    "startup_s",
    "total_s",
    "tps(",
    "_tps\"]",
    "num_seconds",
    "span",
    "gap",
];

/// An assertion puts an upper bound on a figure (`x < 3.0`, `t <
/// Duration::from_secs(1)`) or a ratio between two measured figures (`a <
/// 0.8 * b`): on a busy machine, times grow and throughput falls, so those
/// are what flake; lower bounds on a duration (a hang waited its timeout)
/// do not.
fn has_threshold(a: &str) -> bool {
    let a = a.replace("->", "").replace("=>", "");
    let b = a.as_bytes();
    let upper = b.iter().enumerate().any(|(i, c)| {
        *c == b'<'
            && a[i + 1..]
                .trim_start_matches(['=', ' '])
                .starts_with(|c: char| c.is_ascii_digit() || c == 'D')
    });
    upper || (a.contains('*') && (a.contains('<') || a.contains('>')))
}

/// The assertion statements of a Rust source: from `assert!(` to the
/// matching `)`, each with whether the line before it says `timing-ok:`
/// (a bound that is the behaviour under test, e.g. a timeout that must not
/// be waited, with a wide margin).
fn assertions(src: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut rest = src;
    while let Some(i) = rest.find("assert!(") {
        let body = &rest[i + "assert!(".len()..];
        let mut depth = 1;
        let mut end = body.len();
        for (j, c) in body.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = j;
                        break;
                    }
                }
                _ => {}
            }
        }
        let before = &src[..src.len() - rest.len() + i];
        let allowed = before
            .lines()
            .last()
            .into_iter()
            .chain(before.lines().rev().nth(1))
            .any(|l| l.contains("timing-ok:"));
        out.push((body[..end].to_string(), allowed));
        rest = &body[end..];
    }
    out
}

#[test]
fn no_assertion_has_a_timing_or_throughput_threshold() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut found = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let p = e.path();
        if p.extension().is_none_or(|x| x != "rs") || p.ends_with("suite_hygiene.rs") {
            continue;
        }
        let src = std::fs::read_to_string(&p).unwrap();
        for (a, allowed) in assertions(&src) {
            if !allowed && has_threshold(&a) && TIMING.iter().any(|w| a.contains(w)) {
                found.push(format!("{}: assert!({})", p.display(), a.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "timing or throughput thresholds in tests:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_test_command_runs_every_binary_even_after_a_failure() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let run = std::fs::read_to_string(root.join("tests/run.sh")).unwrap();
    assert!(
        run.lines()
            .any(|l| l.trim_start().starts_with("cargo test") && l.contains("--no-fail-fast")),
        "tests/run.sh must run cargo test --no-fail-fast"
    );
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(
        readme.contains("bash tests/run.sh"),
        "the README's test command"
    );
}

#[test]
fn the_scan_finds_a_timing_threshold() {
    let src = "fn t() {\n assert!(t0.elapsed() < Duration::from_secs(1));\n assert!(a < b);\n assert!(tps(1) < 0.8 * tps(0));\n assert!(r[\"startup_s\"] < q[\"startup_s\"]);\n}";
    let a = assertions(src);
    assert_eq!(a.len(), 4);
    let flagged: Vec<bool> = a
        .iter()
        .map(|(a, _)| has_threshold(a) && TIMING.iter().any(|w| a.contains(w)))
        .collect();
    assert_eq!(flagged, [true, false, true, false]);
}
