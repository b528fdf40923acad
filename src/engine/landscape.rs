//! Landscapes for the simulated executor: what a configuration truly does.
//! The demo's is shared with the simulated service of `autotune demo`, so a
//! replay in-process and a real demo run see the same figures.

/// Expected (accuracy, total tokens/s factor) of a parameter set.
pub fn demo_model(p: &dyn Fn(&str) -> String) -> (f64, f64) {
    let mut acc: f64 = 0.8865;
    let mut tps: f64 = 1.0;
    let num = |n: &str| p(n).parse::<f64>().ok();
    if num("GPU_MEMORY_UTILIZATION") == Some(0.98) {
        tps *= 1.012;
    }
    match num("VLLM_MAX_NUM_BATCHED_TOKENS").map(|v| v as i64) {
        Some(65536) => tps *= 0.96,
        Some(98304) => tps *= 0.99,
        Some(196608) => tps *= 1.02,
        Some(262144) => tps *= 1.01,
        _ => {}
    }
    match num("VLLM_MAX_NUM_SEQS").map(|v| v as i64) {
        Some(512) => tps *= 0.97,
        Some(768) => tps *= 1.015,
        _ => {}
    }
    match num("MAX_MODEL_LEN").map(|v| v as i64) {
        Some(768) => {
            tps *= 1.01;
            acc -= 0.009;
        }
        Some(1536) => tps *= 0.995,
        Some(2048) => tps *= 0.985,
        _ => {}
    }
    if p("STOP_ON_DOUBLE_NEWLINE") == "1" {
        tps *= 1.03;
        acc -= 0.004;
    }
    match num("OUTPUT_MAX_SENTENCES").map(|v| v as i64) {
        Some(3) => {
            tps *= 1.05;
            acc -= 0.014;
        }
        Some(4) => {
            tps *= 1.025;
            acc -= 0.002;
        }
        Some(8) => tps *= 0.98,
        _ => {}
    }
    match num("MAX_NEW_TOKENS").map(|v| v as i64) {
        Some(32) => {
            tps *= 1.12;
            acc -= 0.03;
        }
        Some(48) => {
            tps *= 1.06;
            acc -= 0.003;
        }
        Some(80) => {
            tps *= 0.95;
            acc += 0.002;
        }
        _ => {}
    }
    if num("REPETITION_PENALTY") == Some(1.0) {
        acc -= 0.006;
    }
    if num("FREQUENCY_PENALTY") == Some(0.0) {
        tps *= 1.004;
    }
    if p("OUTPUT_TRIM_EXAMPLES") == "0" {
        acc += 0.001;
        tps *= 0.995;
    }
    (acc, tps)
}

/// Mean total tokens/s of the base configuration.
pub const DEMO_BASE_TPS: f64 = 5000.0;

/// What a configuration truly does, for the simulated executor: the same
/// landscape, crash and hang as the simulated service.
pub fn demo_truth(p: &crate::engine::search::Params) -> crate::engine::simulate::Truth {
    let get = |n: &str| p.get(n).cloned().unwrap_or_default();
    if get("GPU_MEMORY_UTILIZATION") == "0.99" {
        return crate::engine::simulate::Truth::Crashes;
    }
    if get("VLLM_MAX_NUM_SEQS") == "1536" {
        return crate::engine::simulate::Truth::Hangs;
    }
    let (accuracy, factor) = demo_model(&get);
    crate::engine::simulate::Truth::Serves {
        accuracy,
        tps: DEMO_BASE_TPS * factor,
    }
}

/// A landscape for benchmarks of the noise policy, over the built-in space:
/// independent effects of realistic sizes (a few large, several of 1-3 %,
/// some under 1 %, many none), a crash and a hang, and accuracy effects that
/// put a configuration either clearly above the bar of 0.88 or clearly under
/// it (at least 0.004 away along the search's path: a few times the noise of
/// a 5-run mean), so that "never under the bar" is a fair demand.
pub fn separable_truth(p: &crate::engine::search::Params) -> crate::engine::simulate::Truth {
    use crate::engine::simulate::Truth;
    let get = |n: &str| p.get(n).map(String::as_str).unwrap_or("");
    if get("GPU_MEMORY_UTILIZATION") == "0.99" {
        return Truth::Crashes;
    }
    if get("VLLM_MAX_NUM_SEQS") == "1536" {
        return Truth::Hangs;
    }
    let mut acc: f64 = 0.895;
    let mut tps: f64 = 1.0;
    let mut eff = |name: &str, table: &[(&str, f64, f64)]| {
        if let Some((_, t, a)) = table.iter().find(|(v, _, _)| *v == get(name)) {
            tps *= 1.0 + t;
            acc += a;
        }
    };
    eff("GPU_MEMORY_UTILIZATION", &[("0.98", 0.015, 0.0)]);
    eff(
        "VLLM_MAX_NUM_BATCHED_TOKENS",
        &[
            ("65536", -0.06, 0.0),
            ("98304", -0.02, 0.0),
            ("196608", 0.03, 0.0),
            ("262144", 0.02, 0.0),
        ],
    );
    eff(
        "VLLM_MAX_NUM_SEQS",
        &[("512", -0.05, 0.0), ("768", 0.025, 0.0)],
    );
    eff(
        "MAX_MODEL_LEN",
        &[
            ("768", 0.02, -0.02),
            ("1536", -0.01, 0.0),
            ("2048", -0.025, 0.0),
        ],
    );
    generation_effects(&mut eff, -0.012);
    Truth::Serves {
        accuracy: acc,
        tps: 4000.0 * tps,
    }
}

/// A landscape over the built-in space whose system parameters interact,
/// as vLLM's do, for benchmarks of the search beyond one pass:
///
/// - the KV-cache room grows with the memory share and shrinks with the
///   model length; more sequences than fit are preempted (slower), fewer
///   leave the GPU idle, so the room sets the best `VLLM_MAX_NUM_SEQS`, and
///   1536 sequences in the room of a 2048-token model length hang;
/// - the best batched-token budget follows the number of sequences (192
///   tokens each);
/// - a memory share of 0.99 with a token budget of 196608 or more runs out
///   of memory (crashes);
/// - a model length of 768 truncates answers of 64 new tokens or more
///   (accuracy under the bar);
///
/// and the generation parameters act as in [`separable_truth`]. `get`
/// gives a parameter's value.
pub fn interacting_model(get: &dyn Fn(&str) -> String) -> crate::engine::simulate::Truth {
    use crate::engine::simulate::Truth;
    let num = |n: &str| get(n).parse::<f64>().unwrap_or(0.0);
    let (gmu, tokens, seqs, len, mnt) = (
        num("GPU_MEMORY_UTILIZATION"),
        num("VLLM_MAX_NUM_BATCHED_TOKENS"),
        num("VLLM_MAX_NUM_SEQS"),
        num("MAX_MODEL_LEN"),
        num("MAX_NEW_TOKENS"),
    );
    if gmu >= 0.985 && tokens >= 196608.0 {
        return Truth::Crashes;
    }
    let room = 1024.0 * (1.0 + (gmu - 0.97) * 8.0) * (1024.0 / len).powf(0.7);
    if seqs >= 1536.0 && room < 700.0 {
        return Truth::Hangs;
    }
    let mut tps = (seqs.min(room) / 1024.0).powf(0.3);
    if seqs > room {
        tps *= (room / seqs).powf(0.6);
    }
    tps *= 1.0 - 0.06 * (tokens / (192.0 * seqs)).ln().powi(2);
    tps *= 1.0 + (gmu - 0.97) * 0.4;
    let mut acc: f64 = 0.902;
    if len <= 768.0 {
        tps *= 1.01;
        acc -= if mnt >= 64.0 { 0.02 } else { 0.001 };
    }
    let mut eff = |name: &str, table: &[(&str, f64, f64)]| {
        let v = get(name);
        if let Some((_, t, a)) = table.iter().find(|(x, _, _)| *x == v) {
            tps *= 1.0 + t;
            acc += a;
        }
    };
    generation_effects(&mut eff, -0.006);
    Truth::Serves {
        accuracy: acc,
        tps: 4000.0 * tps,
    }
}

/// [`interacting_model`] of a parameter set.
pub fn interacting_truth(p: &crate::engine::search::Params) -> crate::engine::simulate::Truth {
    interacting_model(&|n: &str| p.get(n).cloned().unwrap_or_default())
}

/// The parameters [`interacting_model`] reads: a brute force over their
/// candidates finds its best configuration.
pub const INTERACTING_PARAMS: &[&str] = &[
    "GPU_MEMORY_UTILIZATION",
    "VLLM_MAX_NUM_BATCHED_TOKENS",
    "VLLM_MAX_NUM_SEQS",
    "MAX_MODEL_LEN",
    "STOP_ON_DOUBLE_NEWLINE",
    "OUTPUT_TRIM_EXAMPLES",
    "OUTPUT_MAX_SENTENCES",
    "MAX_NEW_TOKENS",
    "MAX_NEW_TOKENS_CODE",
    "MAX_NEW_TOKENS_CODE_SOFT",
    "HARD_CODE_MIN_HITS",
    "REPETITION_PENALTY",
    "FREQUENCY_PENALTY",
];

/// The best total tok/s with accuracy at least `bar` on landscape `l`, and
/// its configuration: every level (the base's value and the candidates of
/// the built-in space) of the [`INTERACTING_PARAMS`] enumerated, the other
/// parameters at the defaults' values. What the benchmarks score against.
pub fn brute_force(
    l: &dyn Fn(&crate::engine::search::Params) -> crate::engine::simulate::Truth,
    bar: f64,
) -> (f64, crate::engine::search::Params) {
    use crate::engine::search::{SearchSpace, default_params};
    use crate::engine::simulate::Truth;
    let base = default_params();
    let space = SearchSpace::builtin();
    let dims: Vec<(String, Vec<String>)> = INTERACTING_PARAMS
        .iter()
        .map(|n| {
            let (k, c) = space
                .groups
                .iter()
                .find(|(k, _)| k == n)
                .expect("a parameter of the built-in space");
            (k.clone(), SearchSpace::group_values(&base, k, c))
        })
        .collect();
    let mut idx = vec![0usize; dims.len()];
    let mut p = base.clone();
    for (k, vs) in &dims {
        p.insert(k.clone(), vs[0].clone());
    }
    let mut best = (0.0, p.clone());
    loop {
        if let Truth::Serves { accuracy, tps } = l(&p)
            && accuracy >= bar
            && tps > best.0
        {
            best = (tps, p.clone());
        }
        // The next combination, the first parameter fastest.
        let mut i = 0;
        loop {
            if i == dims.len() {
                return best;
            }
            idx[i] = (idx[i] + 1) % dims[i].1.len();
            p.insert(dims[i].0.clone(), dims[i].1[idx[i]].clone());
            if idx[i] != 0 {
                break;
            }
            i += 1;
        }
    }
}

/// One value's effect: `(value, relative tok/s, accuracy)`.
type Effect<'a> = (&'a str, f64, f64);

/// The generation parameters' effects `(value, relative tok/s, accuracy)`,
/// shared by the benchmark landscapes; they differ only in what 48 new
/// tokens cost in accuracy (`mnt48_acc`).
fn generation_effects(eff: &mut dyn FnMut(&str, &[Effect]), mnt48_acc: f64) {
    eff("STOP_ON_DOUBLE_NEWLINE", &[("1", 0.04, -0.004)]);
    eff("OUTPUT_TRIM_EXAMPLES", &[("0", -0.01, 0.001)]);
    eff(
        "OUTPUT_MAX_SENTENCES",
        &[
            ("3", 0.07, -0.025),
            ("4", 0.03, -0.005),
            ("8", -0.02, 0.001),
        ],
    );
    eff(
        "MAX_NEW_TOKENS",
        &[
            ("32", 0.12, -0.04),
            ("48", 0.05, mnt48_acc),
            ("80", -0.05, 0.002),
        ],
    );
    eff(
        "MAX_NEW_TOKENS_CODE",
        &[("160", 0.008, 0.0), ("128", 0.012, -0.02)],
    );
    eff("MAX_NEW_TOKENS_CODE_SOFT", &[("64", 0.003, 0.0)]);
    eff("HARD_CODE_MIN_HITS", &[("2", 0.01, 0.0)]);
    eff(
        "REPETITION_PENALTY",
        &[("1.00", 0.01, -0.008), ("1.02", 0.005, -0.001)],
    );
    eff("FREQUENCY_PENALTY", &[("0.00", 0.005, 0.0)]);
}
