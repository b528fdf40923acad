//! Notifications against real local servers: a Feishu-like endpoint that
//! checks signatures as Feishu does, a generic endpoint, an endpoint that
//! never answers, and a real SMTP server (plain, STARTTLS with AUTH,
//! implicit TLS) receiving mail for two recipients. Also a scan of every
//! file and output for the secrets.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use common::*;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;

type Seen = Arc<Mutex<Vec<Value>>>;

/// An HTTP endpoint on loopback; `reply` decides the answer to each JSON body.
fn endpoint(reply: impl Fn(&Value) -> (u16, String) + Send + 'static) -> (String, Seen) {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let port = server.server_addr().to_ip().unwrap().port();
    let seen: Seen = Arc::default();
    let s2 = seen.clone();
    std::thread::spawn(move || {
        for mut req in server.incoming_requests() {
            let mut body = String::new();
            std::io::Read::read_to_string(req.as_reader(), &mut body).unwrap();
            let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            let (code, text) = reply(&v);
            s2.lock().unwrap().push(v);
            let _ = req.respond(tiny_http::Response::from_string(text).with_status_code(code));
        }
    });
    (
        format!("http://127.0.0.1:{port}/open-apis/bot/v2/hook/tok3n-abc123"),
        seen,
    )
}

/// Feishu's check, written from its documentation independently of autotune.
fn feishu_check(secret: &'static str) -> impl Fn(&Value) -> (u16, String) {
    move |v| {
        let ts = v["timestamp"].as_str().unwrap_or("0");
        let mac =
            Hmac::<sha2::Sha256>::new_from_slice(format!("{ts}\n{secret}").as_bytes()).unwrap();
        let want = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        let fresh = (chrono::Utc::now().timestamp() - ts.parse::<i64>().unwrap_or(0)).abs() < 3600;
        if v["sign"].as_str() == Some(want.as_str()) && fresh {
            (200, r#"{"code":0,"msg":"success","data":{}}"#.into())
        } else {
            (200, r#"{"code":19021,"msg":"sign match fail or timestamp is not within one hour from current time"}"#.into())
        }
    }
}

fn oom_space(d: &std::path::Path) -> std::path::PathBuf {
    space(d, r#"{"GPU_MEMORY_UTILIZATION": ["0.97", "0.99", "0.98"]}"#)
}

#[test]
fn feishu_signed_cards_for_start_best_crash_and_done() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let (url, seen) = endpoint(feishu_check("bot-secret-1"));
    let sp = oom_space(d.path());
    let mut c = tune_cmd(d.path(), free_port());
    c.env("TUNE_WEBHOOK_URL", &url)
        .env("TUNE_FEISHU_SECRET", "bot-secret-1")
        .args(space_args(&sp));
    let o = run(c);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("failed"), "{}", text(&o));
    let seen = seen.lock().unwrap();
    let titles: Vec<String> = seen
        .iter()
        .map(|v| {
            v["card"]["header"]["title"]["content"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(
        titles.iter().any(|t| t.contains("tuning started")),
        "{titles:?}"
    );
    assert!(titles.iter().any(|t| t.contains("new best")), "{titles:?}");
    assert!(
        titles
            .iter()
            .any(|t| t.contains("trial crashed: GPU_MEMORY_UTILIZATION=0.99")),
        "{titles:?}"
    );
    assert!(titles.last().unwrap().contains("tuning done"), "{titles:?}");
    for v in seen.iter() {
        assert_eq!(v["msg_type"], "interactive");
        let md = v["card"]["elements"][0]["text"]["content"]
            .as_str()
            .unwrap();
        assert_eq!(v["card"]["elements"][0]["text"]["tag"], "lark_md");
        assert!(
            md.contains("**Event**")
                && md.contains("**Uptime**")
                && md.contains("tune_results.jsonl"),
            "{md}"
        );
    }
}

#[test]
fn feishu_rejection_is_reported_and_tuning_goes_on() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    // The endpoint expects another secret: every message is refused with 19021.
    let (url, seen) = endpoint(feishu_check("the-real-secret"));
    let sp = space(d.path(), r#"{"MAX_NEW_TOKENS": ["64", "48"]}"#);
    let mut c = tune_cmd(d.path(), free_port());
    c.args(["--webhook_url", &url, "--feishu_secret", "wrong-secret"])
        .args(space_args(&sp));
    let o = run(c);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(
            "notify: webhook notification (start) failed: Feishu refused the message: code 19021"
        ),
        "{out}"
    );
    // Reported once per distinct failure, not once per message.
    assert_eq!(
        out.matches("code 19021").count(),
        out.matches("notification (").count()
    );
    assert_eq!(records(&d.path().join("tune_results.jsonl")).len(), 2);
    assert!(seen.lock().unwrap().len() >= 3);
    assert!(!out.contains("wrong-secret") && !out.contains("tok3n-abc123"));
}

#[test]
fn generic_webhook_body() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let (url, seen) = endpoint(|_| (200, "ok".into()));
    let sp = oom_space(d.path());
    let mut c = tune_cmd(d.path(), free_port());
    c.args([
        "--webhook_url",
        &url,
        "--webhook_kind",
        "generic",
        "--notify_trial_done",
        "--heartbeat_trials",
        "2",
    ]);
    c.args(space_args(&sp));
    let o = run(c);
    assert!(o.status.success(), "{}", text(&o));
    let seen = seen.lock().unwrap();
    let kinds: Vec<&str> = seen.iter().map(|v| v["kind"].as_str().unwrap()).collect();
    for k in [
        "start",
        "trial_done",
        "best",
        "crashed",
        "heartbeat",
        "done",
    ] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
    assert_eq!(kinds.iter().filter(|k| **k == "trial_done").count(), 3);
    let v = &seen[0];
    for f in ["kind", "title", "message", "ts", "repo", "extra"] {
        assert!(v.get(f).is_some(), "{f} missing: {v}");
    }
    assert_eq!(v["repo"], d.path().to_str().unwrap());
}

#[test]
fn a_webhook_that_never_answers_does_not_slow_the_trials() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    // Accepts connections and never answers.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming() {
            held.push(s);
        }
    });
    let sp = space(d.path(), r#"{"MAX_NEW_TOKENS": ["64", "48", "80", "32"]}"#);
    let mut c = tune_cmd(d.path(), free_port());
    c.args([
        "--webhook_url",
        &format!("http://127.0.0.1:{port}/hook"),
        "--webhook_kind",
        "generic",
        "--notify_trial_done",
    ]);
    c.args(space_args(&sp));
    let o = run(c);
    assert!(o.status.success(), "{}", text(&o));
    let recs = records(&d.path().join("tune_results.jsonl"));
    assert_eq!(recs.len(), 4);
    // Each trial takes what the service and eval take (well under a
    // second), not a webhook timeout: had a trial waited for the endpoint
    // that never answers, it would have taken 8 s or more.
    for r in &recs {
        // timing-ok: the bound is the webhook timeout, 16 times a trial.
        assert!(r["total_s"].as_f64().unwrap() < 8.0, "{r}");
    }
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("notify: webhook notification"), "{out}");
    // Trials follow each other without waiting for notifications: no gap
    // between one trial's end and the next one's start as long as the
    // webhook timeout (8 s) that every send to the dead endpoint ends in.
    let lines: Vec<&str> = out.lines().collect();
    let t = |needle: &str| {
        let l = lines.iter().find(|l| l.contains(needle)).unwrap();
        chrono::NaiveTime::parse_from_str(&l[..8], "%H:%M:%S").unwrap()
    };
    for (done, next) in [
        (
            "[ 1/4] MAX_NEW_TOKENS=64 ok",
            "[ 2/4] MAX_NEW_TOKENS=48 start",
        ),
        (
            "[ 2/4] MAX_NEW_TOKENS=48 ok",
            "[ 3/4] MAX_NEW_TOKENS=80 start",
        ),
        (
            "[ 3/4] MAX_NEW_TOKENS=80 ok",
            "[ 4/4] MAX_NEW_TOKENS=32 start",
        ),
    ] {
        let gap = (t(next) - t(done)).num_seconds();
        // timing-ok: the bound is the webhook timeout, far above a gap.
        assert!(gap < 8, "{gap}s between trials with a dead webhook:\n{out}");
    }
}

#[test]
fn secrets_never_reach_files_or_output() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    // A service that dumps its environment into its log, as some do.
    std::fs::write(
        d.path().join("run_model.sh"),
        format!("env\nexec '{}' sim-serve\n", bin()),
    )
    .unwrap();
    let (url, _seen) = endpoint(|_| (500, "boom".into()));
    let sp = oom_space(d.path());
    let mut c = tune_cmd(d.path(), free_port());
    c.env("TUNE_WEBHOOK_URL", &url)
        .env("TUNE_WEBHOOK_KIND", "feishu")
        .env("TUNE_FEISHU_SECRET", "feishu-SECRET-xyz")
        .env("TUNE_SMTP_HOST", "127.0.0.1")
        .env("TUNE_SMTP_PORT", "1")
        .env("TUNE_SMTP_USER", "user")
        .env("TUNE_SMTP_PASS", "smtp-PASS-987")
        .env("TUNE_SMTP_FROM", "a@example.com")
        .env("TUNE_SMTP_TO", "b@example.com")
        .env("TUNE_EMAIL_KINDS", "start,crashed,done")
        .args(space_args(&sp));
    let o = run(c);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("notify: webhook notification"), "{out}");
    assert!(out.contains("notify: email notification"), "{out}");
    let secrets = ["tok3n-abc123", "feishu-SECRET-xyz", "smtp-PASS-987"];
    for s in secrets {
        assert!(!out.contains(s), "{s} in output:\n{out}");
    }
    let mut files = 0;
    for e in walk(d.path()) {
        let t = String::from_utf8_lossy(&std::fs::read(&e).unwrap()).into_owned();
        files += 1;
        for s in secrets {
            assert!(!t.contains(s), "{s} found in {}", e.display());
        }
    }
    assert!(files >= 6);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.file_type().unwrap().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

struct Smtp {
    child: std::process::Child,
    port: u16,
    outdir: tempfile::TempDir,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn smtp(mode: &str, certs: &std::path::Path) -> Smtp {
    let outdir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = std::process::Command::new("python3")
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_server.py"))
        .args([mode, &port.to_string(), outdir.path().to_str().unwrap()])
        .arg(certs.join("leaf.pem"))
        .arg(certs.join("leaf.key"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("python3 with aiosmtpd (installed by .ci/run)");
    let ready = outdir.path().join("READY");
    wait_for(
        "the SMTP server (is aiosmtpd installed?)",
        Duration::from_secs(15),
        || {
            assert!(
                child.try_wait().unwrap().is_none(),
                "the SMTP server exited: is aiosmtpd installed?"
            );
            ready.exists().then_some(())
        },
    );
    Smtp {
        child,
        port,
        outdir,
    }
}

/// A CA and a leaf for localhost, made with openssl.
fn make_certs(dir: &std::path::Path) {
    let sh = |cmd: &str| {
        let o = std::process::Command::new("bash")
            .arg("-c")
            .arg(cmd)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    sh(
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=autotune-test-ca \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign",
    );
    sh("openssl req -newkey rsa:2048 -nodes -keyout leaf.key -out leaf.csr -subj /CN=localhost");
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n").unwrap();
    sh(
        "openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out leaf.pem -days 2 -extfile ext.cnf",
    );
}

/// `autotune --selftest --selftest_notify` through the SMTP server on `port`.
fn selftest_email(
    dir: &std::path::Path,
    port: u16,
    certs: &std::path::Path,
    extra: &[&str],
) -> std::process::Output {
    std::process::Command::new(bin())
        .current_dir(dir)
        .args([
            "--selftest",
            "--selftest_notify",
            "--eval_cmd",
            "bash eval_local.sh",
            "--smtp_host",
            "localhost",
        ])
        .args([
            "--smtp_port",
            &port.to_string(),
            "--smtp_from",
            "tuner@example.com",
            "--smtp_ca_file",
        ])
        .arg(certs.join("ca.pem"))
        .args(extra)
        .output()
        .unwrap()
}

fn received(s: &Smtp) -> Vec<Value> {
    std::fs::read_dir(s.outdir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .map(|e| serde_json::from_str(&std::fs::read_to_string(e.path()).unwrap()).unwrap())
        .collect()
}

#[test]
fn email_plain_starttls_and_implicit_tls_to_two_recipients() {
    let certs = tempfile::tempdir().unwrap();
    make_certs(certs.path());
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    for (mode, flags) in [
        ("plain", vec!["--smtp_no_starttls"]),
        (
            "starttls",
            vec!["--smtp_user", "user", "--smtp_pass", "s3cret-pass"],
        ),
        (
            "ssl",
            vec![
                "--smtp_ssl",
                "--smtp_user",
                "user",
                "--smtp_pass",
                "s3cret-pass",
            ],
        ),
    ] {
        let s = smtp(mode, certs.path());
        let mut args = vec!["--smtp_to", "a@example.com, b@example.com"];
        args.extend(flags);
        let o = selftest_email(d.path(), s.port, certs.path(), &args);
        assert!(o.status.success(), "{mode}: {}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("notify via email: delivered: ok"),
            "{mode}: {}",
            text(&o)
        );
        let got = wait_for("mail", Duration::from_secs(5), || {
            let r = received(&s);
            (!r.is_empty()).then_some(r)
        });
        assert_eq!(got.len(), 1, "{mode}");
        let m = &got[0];
        assert_eq!(
            m["to"],
            serde_json::json!(["a@example.com", "b@example.com"]),
            "{mode}"
        );
        assert!(
            m["data"]
                .as_str()
                .unwrap()
                .contains("Subject: [auto_tune] selftest heartbeat"),
            "{mode}: {m}"
        );
        assert_eq!(m["tls"], mode != "plain", "{mode}");
        assert_eq!(m["authenticated"], mode != "plain", "{mode}");
    }
    // A wrong password is reported per channel, exit 2, password redacted.
    let s = smtp("starttls", certs.path());
    let o = selftest_email(
        d.path(),
        s.port,
        certs.path(),
        &[
            "--smtp_to",
            "a@example.com",
            "--smtp_user",
            "user",
            "--smtp_pass",
            "wrong-pass-42",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    // Refused at once as a permanent error (535), not retried into a timeout.
    assert!(
        text(&o).contains("notify via email: SMTP send")
            && text(&o).contains("permanent error (535)"),
        "{}",
        text(&o)
    );
    assert!(!text(&o).contains("wrong-pass-42"));
}

#[test]
fn bad_notification_flags_exit_2() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let base = ["--dry_run", "--eval_cmd", "bash eval_local.sh"];
    let check = |extra: &[&str], needle: &str| {
        let o = std::process::Command::new(bin())
            .current_dir(d.path())
            .args(base)
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(needle),
            "{extra:?}: {}",
            text(&o)
        );
        o
    };
    check(&["--smtp_port", "abc"], "--smtp_port");
    check(
        &["--smtp_ssl", "--smtp_no_starttls"],
        "--smtp_ssl and --smtp_no_starttls",
    );
    check(&["--webhook_kind", "pager"], "--webhook_kind");
    let o = check(
        &["--webhook_url", "ftp://example.com/hook/secret-token-1"],
        "must be an http(s) URL",
    );
    assert!(!text(&o).contains("secret-token-1"));
    check(&["--smtp_host", "localhost"], "--smtp_to");
}

#[test]
fn selftest_notify_reports_the_webhook() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let (url, seen) = endpoint(feishu_check("sec-9"));
    let o = std::process::Command::new(bin())
        .current_dir(d.path())
        .args([
            "--selftest",
            "--selftest_notify",
            "--eval_cmd",
            "bash eval_local.sh",
            "--webhook_url",
            &url,
            "--feishu_secret",
            "sec-9",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("notify via webhook: delivered: ok"));
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert!(
        seen.lock().unwrap()[0]["card"]["header"]["title"]["content"]
            .as_str()
            .unwrap()
            .contains("selftest heartbeat")
    );
}

#[test]
fn interval_heartbeats_arrive_during_a_long_trial() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let (url, seen) = endpoint(|_| (200, "ok".into()));
    let sp = space(d.path(), r#"{"MAX_NEW_TOKENS": ["64"]}"#);
    let mut c = tune_cmd(d.path(), free_port());
    c.env("SIM_EVAL_S", "1.5")
        .env("TUNE_HEARTBEAT_INTERVAL_S", "0.5");
    c.args([
        "--webhook_url",
        &url,
        "--webhook_kind",
        "generic",
        "--eval_runs",
        "1",
    ]);
    c.args(space_args(&sp));
    let o = run(c);
    assert!(o.status.success(), "{}", text(&o));
    let seen = seen.lock().unwrap();
    let beats: Vec<&Value> = seen.iter().filter(|v| v["kind"] == "heartbeat").collect();
    assert!(beats.len() >= 2, "{} heartbeats", beats.len());
    // Sent while the trial ran: they say what runs.
    assert!(
        beats
            .iter()
            .any(|b| b["message"].as_str().unwrap().contains("MAX_NEW_TOKENS=64")),
        "{beats:?}"
    );
}

#[test]
fn a_status_file_that_cannot_be_written_is_a_notice_not_stderr() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let status = d.path().join("tune_status.json");
    let sp = space(d.path(), r#"{"MAX_NEW_TOKENS": ["64", "48"]}"#);
    let mut c = tune_cmd(d.path(), free_port());
    c.env("SIM_EVAL_S", "0.4")
        .arg("--status_file")
        .arg(&status)
        .args(space_args(&sp))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = c.spawn().unwrap();
    // Once the run is under way (the files were checked writable at the
    // start), a directory takes the status file's place: renaming over it
    // fails, for root too, while everything beside it can be written.
    wait_for("the first eval", Duration::from_secs(30), || {
        std::fs::read_to_string(&status)
            .ok()
            .filter(|t| t.contains("eval"))
    });
    std::fs::remove_file(&status).unwrap();
    std::fs::create_dir(&status).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    // Shown by the front end, once for the failing spell, naming the file.
    let shown: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("status file not updated:"))
        .collect();
    assert_eq!(shown.len(), 1, "{out}");
    assert!(shown[0].contains("tune_status.json"), "{}", shown[0]);
    assert!(!err.contains("tune_status.json"), "on stderr: {err}");
    // The tuning itself went on.
    assert_eq!(records(&d.path().join("tune_results.jsonl")).len(), 2);
}

/// `autotune --selftest --selftest_notify` to a generic webhook at `url`.
fn selftest_webhook(dir: &std::path::Path, url: &str) -> std::process::Output {
    std::process::Command::new(bin())
        .current_dir(dir)
        .args([
            "--selftest",
            "--selftest_notify",
            "--eval_cmd",
            "bash eval_local.sh",
            "--webhook_kind",
            "generic",
            "--webhook_url",
            url,
        ])
        .output()
        .unwrap()
}

/// A webhook answering 307 to another server: the redirect is reported as
/// a failure naming the status and not followed, so the other server (here
/// a second local endpoint) receives nothing, and the secret URL is sent
/// nowhere as a `Referer`.
#[test]
fn a_webhook_redirect_is_a_failure_not_followed() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let (elsewhere, seen_elsewhere) = endpoint(|_| (200, "ok".into()));
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let port = server.server_addr().to_ip().unwrap().port();
    let headers: Arc<Mutex<Vec<String>>> = Arc::default();
    let h2 = headers.clone();
    std::thread::spawn(move || {
        for req in server.incoming_requests() {
            h2.lock().unwrap().extend(
                req.headers()
                    .iter()
                    .map(|h| h.field.as_str().as_str().to_ascii_lowercase()),
            );
            let location =
                tiny_http::Header::from_bytes(&b"Location"[..], elsewhere.as_bytes()).unwrap();
            let _ = req.respond(
                tiny_http::Response::from_string("moved")
                    .with_status_code(307)
                    .with_header(location),
            );
        }
    });
    let url = format!("http://127.0.0.1:{port}/hook/tok3n-redirected");
    let o = selftest_webhook(d.path(), &url);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains("notify via webhook: webhook answered HTTP 307"),
        "{out}"
    );
    assert!(
        seen_elsewhere.lock().unwrap().is_empty(),
        "the redirect was followed: {:?}",
        seen_elsewhere.lock().unwrap()
    );
    let headers = headers.lock().unwrap();
    assert!(!headers.is_empty(), "the webhook got no request");
    assert!(!headers.iter().any(|h| h == "referer"), "{headers:?}");
    assert!(!out.contains("tok3n-redirected"), "{out}");
}

/// A webhook whose reply claims 1 GiB, sends 32 MiB (far more than the
/// socket buffers hold) and then never ends: the delivery reads a bounded
/// part, ends and reports; the server sees its reply refused (the reader
/// went away) instead of taken whole.
#[test]
fn a_huge_endless_webhook_reply_is_not_read_whole() {
    use std::io::{Read, Write};
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        // The request: headers, then the body its Content-Length gives.
        let mut req = Vec::new();
        let mut b = [0u8; 4096];
        let body_len = loop {
            let n = s.read(&mut b).unwrap();
            assert!(n > 0, "the request ended early");
            req.extend_from_slice(&b[..n]);
            if let Some(end) = req.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&req[..end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().unwrap());
                break end + 4 + len;
            }
        };
        while req.len() < body_len {
            let n = s.read(&mut b).unwrap();
            assert!(n > 0, "the request body ended early");
            req.extend_from_slice(&b[..n]);
        }
        let chunk = vec![b'x'; 64 * 1024];
        let sent = s
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1073741824\r\n\r\n")
            .and_then(|()| {
                for _ in 0..512 {
                    s.write_all(&chunk)?;
                }
                Ok(())
            });
        tx.send(sent.is_ok()).unwrap();
        // Never ends the reply: holds the connection until the reader
        // closes it.
        let _ = s.read(&mut b);
    });
    let o = selftest_webhook(d.path(), &format!("http://127.0.0.1:{port}/hook"));
    let out = text(&o);
    assert!(out.contains("notify via webhook:"), "{out}");
    let all_taken = rx.recv().unwrap();
    assert!(!all_taken, "the whole 32 MiB reply was read:\n{out}");
}

/// A service and an eval that print the notification secrets (a service
/// configured with them, say): every stored and shown tail is redacted,
/// the secrets given as flags as well as through `TUNE_*`.
#[test]
fn secrets_a_service_prints_are_redacted_in_every_tail() {
    let (url, _seen) = endpoint(|_| (200, "ok".into()));
    let (feishu, smtp) = ("feishu-SECRET-4711", "smtp-PASS-0815");
    let secrets = [url.as_str(), "tok3n-abc123", feishu, smtp];
    for through_env in [false, true] {
        let d = tempfile::tempdir().unwrap();
        sim_repo(d.path());
        // 64 is fine, 80's eval fails (its output's tail is kept), 48
        // crashes during start-up (its log's tail is kept).
        std::fs::write(
            d.path().join("svc.sh"),
            format!(
                "echo \"webhook {url} secret {feishu} pass {smtp}\"\n\
                 if [ \"$MAX_NEW_TOKENS\" = 48 ]; then echo 'cannot start'; exit 1; fi\n\
                 exec bash run_model.sh\n"
            ),
        )
        .unwrap();
        std::fs::write(
            d.path().join("eval.sh"),
            format!(
                "echo \"eval for {url} with {feishu} and {smtp}\"\n\
                 if [ \"$MAX_NEW_TOKENS\" = 80 ]; then exit 1; fi\n\
                 exec bash eval_local.sh\n"
            ),
        )
        .unwrap();
        let sp = space(d.path(), r#"{"MAX_NEW_TOKENS": ["64", "80", "48"]}"#);
        let mut c = tune_cmd(d.path(), free_port());
        c.args(space_args(&sp))
            .args(["--server_cmd", "bash svc.sh", "--eval_cmd", "bash eval.sh"])
            .args(["--webhook_kind", "generic", "--smtp_host", "127.0.0.1"])
            .args(["--smtp_port", "1", "--smtp_user", "user"])
            .args(["--smtp_from", "a@example.com", "--smtp_to", "b@example.com"]);
        if through_env {
            c.env("TUNE_WEBHOOK_URL", &url)
                .env("TUNE_FEISHU_SECRET", feishu)
                .env("TUNE_SMTP_PASS", smtp);
        } else {
            c.args(["--webhook_url", &url, "--feishu_secret", feishu])
                .args(["--smtp_pass", smtp]);
        }
        let o = run(c);
        let out = text(&o);
        assert!(o.status.success(), "{out}");
        let recs = records(&d.path().join("tune_results.jsonl"));
        let status: Vec<&str> = recs.iter().map(|r| r["status"].as_str().unwrap()).collect();
        assert_eq!(status, ["ok", "failed", "crashed"], "{out}");
        // The tails are kept, redacted.
        assert!(
            recs[2]["log_tail"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l.as_str().unwrap().contains("secret *** pass ***")),
            "{}",
            recs[2]
        );
        assert!(
            recs[1]["eval_runs"][0]["output_tail"][0]
                .as_str()
                .unwrap()
                .contains("eval for *** with *** and ***"),
            "{}",
            recs[1]
        );
        let report = std::fs::read_to_string(d.path().join("tune_report.html")).unwrap();
        assert!(
            report.contains("cannot start"),
            "the report has no log tail"
        );
        for s in secrets {
            assert!(
                !out.contains(s),
                "{s} in output (env {through_env}):\n{out}"
            );
            assert!(!report.contains(s), "{s} in the report (env {through_env})");
            let raw = std::fs::read_to_string(d.path().join("tune_results.jsonl")).unwrap();
            assert!(!raw.contains(s), "{s} in the results (env {through_env})");
        }
    }
}
