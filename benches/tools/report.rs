//! Turns the last `cargo bench` run into the ratio table of
//! `BENCHMARKS.md`: for each benchmark, each witsock variant against each
//! peer measured in the same run, from criterion's
//! `<target>/criterion/<group>/<function>[/<param>]/new/{benchmark,estimates}.json`
//! and the allocation counts the benchmarks record.
//!
//! ```text
//! cargo run --release --example bench-report [criterion directory]
//! ```
//!
//! The directory defaults to `$CRITERION_HOME`, else
//! `$CARGO_TARGET_DIR/criterion`, else `target/criterion`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// A JSON value: just enough of JSON for criterion's files.
#[derive(Debug, Clone)]
enum Json {
    /// null, true, false and arrays: parsed, then not needed.
    Other,
    Number(f64),
    String(String),
    Object(Vec<(String, Json)>),
}

impl Json {
    fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Number(n) => Some(*n),
            _ => None,
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }
}

struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn parse(text: &str) -> Result<Json, String> {
        let mut p = Parser {
            bytes: text.as_bytes(),
            at: 0,
        };
        let v = p.value()?;
        p.skip_space();
        if p.at != p.bytes.len() {
            return Err(format!("trailing characters at byte {}", p.at));
        }
        Ok(v)
    }

    fn skip_space(&mut self) {
        while self.bytes.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), String> {
        self.skip_space();
        if self.bytes.get(self.at) == Some(&byte) {
            self.at += 1;
            Ok(())
        } else {
            Err(format!("expected `{}` at byte {}", byte as char, self.at))
        }
    }

    fn literal(&mut self, word: &str) -> Result<Json, String> {
        if self.bytes[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(Json::Other)
        } else {
            Err(format!("unexpected input at byte {}", self.at))
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        self.skip_space();
        match self.bytes.get(self.at) {
            None => Err("unexpected end of input".into()),
            Some(b'{') => {
                self.at += 1;
                let mut fields = Vec::new();
                self.skip_space();
                if self.bytes.get(self.at) == Some(&b'}') {
                    self.at += 1;
                    return Ok(Json::Object(fields));
                }
                loop {
                    self.skip_space();
                    let key = self.string()?;
                    self.expect(b':')?;
                    fields.push((key, self.value()?));
                    self.skip_space();
                    match self.bytes.get(self.at) {
                        Some(b',') => self.at += 1,
                        Some(b'}') => {
                            self.at += 1;
                            return Ok(Json::Object(fields));
                        }
                        _ => return Err(format!("expected `,` or `}}` at byte {}", self.at)),
                    }
                }
            }
            Some(b'[') => {
                self.at += 1;
                self.skip_space();
                if self.bytes.get(self.at) == Some(&b']') {
                    self.at += 1;
                    return Ok(Json::Other);
                }
                loop {
                    self.value()?;
                    self.skip_space();
                    match self.bytes.get(self.at) {
                        Some(b',') => self.at += 1,
                        Some(b']') => {
                            self.at += 1;
                            return Ok(Json::Other);
                        }
                        _ => return Err(format!("expected `,` or `]` at byte {}", self.at)),
                    }
                }
            }
            Some(b'"') => self.string().map(Json::String),
            Some(b't') => self.literal("true"),
            Some(b'f') => self.literal("false"),
            Some(b'n') => self.literal("null"),
            Some(_) => {
                let start = self.at;
                while self
                    .bytes
                    .get(self.at)
                    .is_some_and(|b| b.is_ascii_digit() || b"+-.eE".contains(b))
                {
                    self.at += 1;
                }
                std::str::from_utf8(&self.bytes[start..self.at])
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .map(Json::Number)
                    .ok_or_else(|| format!("bad number at byte {start}"))
            }
        }
    }

    fn string(&mut self) -> Result<String, String> {
        self.expect(b'"')?;
        let mut out = Vec::new();
        loop {
            match self.bytes.get(self.at) {
                None => return Err("unterminated string".into()),
                Some(b'"') => {
                    self.at += 1;
                    return String::from_utf8(out).map_err(|e| e.to_string());
                }
                Some(b'\\') => {
                    let escaped = *self.bytes.get(self.at + 1).ok_or("bad escape")?;
                    self.at += 2;
                    match escaped {
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'u' => {
                            let hex = self
                                .bytes
                                .get(self.at..self.at + 4)
                                .and_then(|h| std::str::from_utf8(h).ok())
                                .and_then(|h| u32::from_str_radix(h, 16).ok())
                                .ok_or("bad \\u escape")?;
                            self.at += 4;
                            let c = char::from_u32(hex).unwrap_or('\u{fffd}');
                            out.extend_from_slice(c.to_string().as_bytes());
                        }
                        other => out.push(other),
                    }
                }
                Some(&b) => {
                    out.push(b);
                    self.at += 1;
                }
            }
        }
    }
}

/// Work done per iteration, as criterion records it.
#[derive(Debug, Clone, Copy)]
enum Throughput {
    None,
    Bytes(f64),
    Elements(f64),
}

/// One measured benchmark.
#[derive(Debug, Clone)]
struct Measurement {
    group: String,
    function: String,
    param: Option<String>,
    /// Median time per iteration, nanoseconds.
    median_ns: f64,
    /// The 95% confidence interval of the median.
    low_ns: f64,
    high_ns: f64,
    throughput: Throughput,
}

impl Measurement {
    /// Operations (elements, or iterations) per second.
    fn rate(&self) -> f64 {
        let per_iter = match self.throughput {
            Throughput::None => 1.0,
            Throughput::Bytes(n) | Throughput::Elements(n) => n,
        };
        per_iter * 1e9 / self.median_ns
    }

    fn describe_rate(&self) -> String {
        let rate = self.rate();
        match self.throughput {
            Throughput::Bytes(_) => format!("{:.2} GiB/s", rate / (1u64 << 30) as f64),
            Throughput::Elements(_) => format!("{:.3} M/s", rate / 1e6),
            Throughput::None => format!("{:.3} M ops/s", rate / 1e6),
        }
    }

    /// Time per element where there are elements, else per iteration.
    fn describe_time(&self) -> String {
        let (per, unit) = match self.throughput {
            Throughput::Elements(n) => (n, "/elem"),
            _ => (1.0, "/iter"),
        };
        format!("{}{unit}", ns(self.median_ns / per))
    }
}

fn ns(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2} ms", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.2} µs", v / 1e3)
    } else {
        format!("{v:.1} ns")
    }
}

fn read_json(path: &Path) -> Result<Json, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Parser::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn load(benchmark_json: &Path) -> Result<Measurement, String> {
    let dir = benchmark_json.parent().unwrap();
    let meta = read_json(benchmark_json)?;
    let estimates = read_json(&dir.join("estimates.json"))?;
    let field = |v: &Json, key: &str| -> Result<String, String> {
        v.get(key)
            .and_then(Json::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("{}: no `{key}`", benchmark_json.display()))
    };
    // The median, not the mean: on a shared machine a few samples taken
    // while something else ran would drag the mean.
    let median = estimates
        .get("median")
        .ok_or_else(|| format!("{}: no median", dir.display()))?;
    let point = |v: Option<&Json>| v.and_then(Json::as_f64).unwrap_or(f64::NAN);
    let interval = median.get("confidence_interval");
    let throughput = match meta.get("throughput") {
        Some(Json::Object(fields)) => match fields.first() {
            Some((kind, n)) if kind.starts_with("Bytes") => {
                Throughput::Bytes(n.as_f64().unwrap_or(f64::NAN))
            }
            Some((kind, n)) if kind.starts_with("Elements") => {
                Throughput::Elements(n.as_f64().unwrap_or(f64::NAN))
            }
            _ => Throughput::None,
        },
        _ => Throughput::None,
    };
    Ok(Measurement {
        group: field(&meta, "group_id")?,
        function: field(&meta, "function_id")?,
        param: meta
            .get("value_str")
            .and_then(Json::as_str)
            .map(str::to_owned),
        median_ns: point(median.get("point_estimate")),
        low_ns: point(interval.and_then(|i| i.get("lower_bound"))),
        high_ns: point(interval.and_then(|i| i.get("upper_bound"))),
        throughput,
    })
}

/// Every `new/benchmark.json` under `dir`.
fn find(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "new") {
                let file = path.join("benchmark.json");
                if file.is_file() {
                    out.push(file);
                }
            } else {
                find(&path, out);
            }
        }
    }
}

/// Groups in the order of `BENCHMARKS.md`; others follow alphabetically.
const GROUP_ORDER: &[&str] = &[
    "would_block_accept",
    "accept_burst",
    "tcp_throughput_64k",
    "tcp_round_trip_64b",
    "vectored_send",
    "udp_64b",
];

/// Peers in the order of `BENCHMARKS.md`.
const PEER_ORDER: &[&str] = &["raw-accept4", "std", "socket2", "mio", "raw-gso-gro"];

fn rank(list: &[&str], name: &str) -> usize {
    list.iter().position(|n| *n == name).unwrap_or(list.len())
}

/// The target a ratio is held to, where `BENCHMARKS.md` sets one: (time
/// ratio at most, rate ratio at least).
fn target(group: &str, witsock: &str, peer: &str) -> Option<String> {
    match (group, witsock, peer) {
        ("would_block_accept", "witsock", "raw-accept4") => Some("time ≤ 1.10".into()),
        ("tcp_throughput_64k" | "tcp_round_trip_64b", "witsock", "std") => {
            Some("rate ≥ 1.00".into())
        }
        ("udp_64b", "witsock-batch", "std") => Some("rate ≥ 3.00".into()),
        _ => None,
    }
}

fn met(target: &str, time_ratio: f64, rate_ratio: f64) -> &'static str {
    let (kind, bound) = target.split_once(['≤', '≥']).unwrap_or(("", ""));
    let bound: f64 = bound.trim().parse().unwrap_or(f64::NAN);
    let ok = if kind.trim() == "time" {
        time_ratio <= bound
    } else {
        rate_ratio >= bound
    };
    if ok {
        "met"
    } else {
        "missed"
    }
}

fn allocations(dir: &Path) -> BTreeMap<(String, String), f64> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir.join("witsock-allocations")) else {
        return out;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".txt") else {
            continue;
        };
        let Some((group, function)) = stem.split_once("__") else {
            continue;
        };
        if let Some(v) = std::fs::read_to_string(entry.path())
            .ok()
            .and_then(|t| t.trim().parse().ok())
        {
            out.insert((group.to_owned(), function.to_owned()), v);
        }
    }
    out
}

fn criterion_dir() -> PathBuf {
    if let Some(arg) = std::env::args_os().nth(1) {
        return PathBuf::from(arg);
    }
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir).join("criterion"),
        None => PathBuf::from("target/criterion"),
    }
}

fn main() -> ExitCode {
    let dir = criterion_dir();
    let mut files = Vec::new();
    find(&dir, &mut files);
    if files.is_empty() {
        eprintln!(
            "no criterion results under {} (run `cargo bench` first)",
            dir.display()
        );
        return ExitCode::FAILURE;
    }
    let mut runs = Vec::new();
    for file in &files {
        match load(file) {
            Ok(m) => runs.push(m),
            Err(e) => eprintln!("skipped: {e}"),
        }
    }
    let allocs = allocations(&dir);

    // (group, param) -> measurements, in report order.
    let mut benches: BTreeMap<(usize, String, Option<u64>, String), Vec<Measurement>> =
        BTreeMap::new();
    for m in runs {
        let param_num = m.param.as_deref().and_then(|p| p.parse().ok());
        let key = (
            rank(GROUP_ORDER, &m.group),
            m.group.clone(),
            param_num,
            m.param.clone().unwrap_or_default(),
        );
        benches.entry(key).or_default().push(m);
    }

    let mut measured = String::new();
    let mut ratios = String::new();
    writeln!(
        measured,
        "| benchmark | library | time (median; 95% CI per iteration) | rate | heap allocations per call |"
    )
    .unwrap();
    writeln!(measured, "|---|---|---|---|---|").unwrap();
    writeln!(
        ratios,
        "| benchmark | witsock | peer | witsock time / peer time | witsock rate / peer rate | target |"
    )
    .unwrap();
    writeln!(ratios, "|---|---|---|---|---|---|").unwrap();

    for ((_, group, _, param), mut ms) in benches {
        ms.sort_by_key(|m| {
            let witsock = m.function.starts_with("witsock");
            (
                !witsock,
                if witsock {
                    0
                } else {
                    rank(PEER_ORDER, &m.function)
                },
                m.function.clone(),
            )
        });
        let name = if param.is_empty() {
            group.clone()
        } else {
            format!("{group}/{param}")
        };
        for m in &ms {
            let alloc = allocs
                .get(&(group.clone(), m.function.clone()))
                .map(|a| format!("{a}"))
                .unwrap_or_else(|| "–".into());
            writeln!(
                measured,
                "| {name} | {} | {} ({} … {} per iter) | {} | {alloc} |",
                m.function,
                m.describe_time(),
                ns(m.low_ns),
                ns(m.high_ns),
                m.describe_rate()
            )
            .unwrap();
        }
        for w in ms.iter().filter(|m| m.function.starts_with("witsock")) {
            for p in ms.iter().filter(|m| !m.function.starts_with("witsock")) {
                let time_ratio = w.median_ns / p.median_ns;
                let rate_ratio = w.rate() / p.rate();
                let goal = match target(&group, &w.function, &p.function) {
                    Some(t) => format!("{t}: {}", met(&t, time_ratio, rate_ratio)),
                    None => String::new(),
                };
                writeln!(
                    ratios,
                    "| {name} | {} | {} | {time_ratio:.3} | {rate_ratio:.3} | {goal} |",
                    w.function, p.function
                )
                .unwrap();
            }
        }
    }
    println!("Results from {}\n", dir.display());
    println!("{measured}");
    println!("{ratios}");
    ExitCode::SUCCESS
}
