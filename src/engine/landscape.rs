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
