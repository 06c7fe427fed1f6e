//! Per-step cost of the plugin host.
//!
//! Measures, in one run: the host's fresh-instance step (`Plugin::run`) for
//! the shipped `routing` plugin on a ~2 KB ticket, the same component
//! instantiated and called through a bare wasmtime embedding (same engine),
//! instantiate alone, precompiled-load versus compile time, per-call
//! p50/p99, and calls/s with two worker threads.
//!
//! `cargo bench -p switchyard-plugin-host` (build the plugins first with
//! scripts/build-plugins.sh).

#![allow(missing_docs)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use serde_json::{Value, json};
use switchyard_plugin_host::model::{StepContext, StepInput, Ticket, Trigger};
use switchyard_plugin_host::raw::RawPlugin;
use switchyard_plugin_host::{ConfigSchema, HostConfig, HostServices, Manifest, Plugin, PluginHost};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn ticket() -> Ticket {
    serde_json::from_value(json!({
        "number": "INC-000123",
        "title": "Email delivery delayed for the finance department",
        "description": "Since 09:10 outbound mail from finance queues for 20+ minutes. ".repeat(20),
        "requester": "dave",
        "channel": "email",
        "category": "network",
        "subcategory": "vpn",
        "service": 1,
        "affected_cis": [1, 2],
        "impact": 2,
        "urgency": 2,
        "priority": 3,
        "status": "new",
        "watchers": ["erin", "frank"],
        "created_at": 1_763_900_000_000i64,
        "updated_at": 1_763_900_100_000i64,
        "custom_fields": { "cost_center": "FIN-001", "vip": false, "location": "HQ-3", "site": "Berlin" }
    }))
    .expect("ticket")
}

struct Subject {
    label: String,
    manifest: Manifest,
    schema: ConfigSchema,
    wasm_path: PathBuf,
    wasm: Vec<u8>,
    config: Value,
}

fn subject() -> Subject {
    let release = root().join("plugins/target/wasm32-wasip2/release");
    let routing = release.join("routing.wasm");
    let manifest_path = root().join("plugins/routing/plugin.toml");
    assert!(routing.exists() && manifest_path.exists(), "{} missing: run scripts/build-plugins.sh first", routing.display());
    let manifest = Manifest::from_file(&manifest_path).expect("routing manifest");
    let schema = ConfigSchema::from_file(&manifest.schema_path(&manifest_path)).expect("routing schema");
    let example = root().join("plugins/routing/example-config.json");
    let config: Value = std::fs::read_to_string(&example).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_else(|| json!({}));
    Subject { label: "routing".into(), manifest, schema, wasm: std::fs::read(&routing).expect("read"), wasm_path: routing, config }
}

fn input(config: &Value) -> StepInput {
    StepInput {
        context: StepContext {
            workflow_id: "wf".into(),
            workflow_version: 1,
            run_id: "run".into(),
            step_id: "route".into(),
            attempt: 1,
            deadline: 0,
            now: 0,
        },
        trigger: Trigger::TicketCreated,
        ticket: Some(ticket()),
        config: config.clone(),
        previous: Vec::new(),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let subject = subject();
    let cache = tempfile::tempdir().expect("cache dir");
    let config = HostConfig { cache_dir: Some(cache.path().to_path_buf()), ..HostConfig::default() };
    let host = PluginHost::new(config.clone(), HostServices::default()).expect("host");
    let plugin: Arc<Plugin> = host
        .load_parts(subject.manifest.clone(), subject.schema.clone(), &subject.wasm, &subject.wasm_path, &subject.manifest.capabilities)
        .expect("load");
    let step_input = input(&subject.config);
    let ticket_bytes = serde_json::to_vec(&step_input.ticket).expect("json").len();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let check = rt.block_on(plugin.run(&step_input)).expect("run");
    let actions = check.result.as_ref().map(|r| r.actions.len()).unwrap_or(0);
    eprintln!(
        "subject {} ({} bytes wasm), ticket {ticket_bytes} bytes JSON, {actions} actions, result ok: {}",
        subject.label,
        subject.wasm.len(),
        check.result.is_ok()
    );
    let raw = RawPlugin::new(&host, &subject.wasm, &step_input).expect("raw");

    let mut c = Criterion::default().configure_from_args().measurement_time(Duration::from_secs(5));
    {
        let mut g = c.benchmark_group("step");
        g.bench_function("host_fresh_instance_run", |b| b.iter(|| rt.block_on(plugin.run(&step_input)).expect("run")));
        g.bench_function("raw_wasmtime_instantiate_and_call", |b| b.iter(|| rt.block_on(raw.instantiate_and_run()).expect("raw")));
        g.bench_function("raw_wasmtime_instantiate_only", |b| b.iter(|| rt.block_on(raw.instantiate()).expect("raw")));
        // The same step with less linear memory kept resident per pooled slot (1 MiB instead of the default 8 MiB).
        let resident =
            PluginHost::new(HostConfig { keep_resident_bytes: 1 << 20, cache_dir: None, ..HostConfig::default() }, HostServices::default())
                .expect("host");
        let resident_plugin = resident
            .load_parts(subject.manifest.clone(), subject.schema.clone(), &subject.wasm, &subject.wasm_path, &subject.manifest.capabilities)
            .expect("load");
        g.bench_function("host_fresh_instance_run_keep_resident_1mb", |b| {
            b.iter(|| rt.block_on(resident_plugin.run(&step_input)).expect("run"))
        });
        g.finish();
    }
    {
        let mut g = c.benchmark_group("load");
        g.sample_size(10);
        g.bench_function("precompiled_from_cache", |b| b.iter(|| host.compile(&subject.wasm, &subject.wasm_path).expect("cached")));
        let uncached = PluginHost::new(HostConfig::default(), HostServices::default()).expect("host");
        g.bench_function("compile_from_wasm", |b| b.iter(|| uncached.compile(&subject.wasm, &subject.wasm_path).expect("compile")));
        g.finish();
    }
    c.final_summary();

    // Per-call distribution (criterion reports means of batches).
    let n = 20_000;
    let mut host_times = Vec::with_capacity(n);
    let mut raw_times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        rt.block_on(plugin.run(&step_input)).expect("run");
        host_times.push(t.elapsed());
        let t = Instant::now();
        rt.block_on(raw.instantiate_and_run()).expect("raw");
        raw_times.push(t.elapsed());
    }
    host_times.sort();
    raw_times.sort();
    let (h50, h99) = (percentile(&host_times, 0.5), percentile(&host_times, 0.99));
    let (r50, r99) = (percentile(&raw_times, 0.5), percentile(&raw_times, 0.99));
    println!("per-call over {n} calls (interleaved):");
    println!("  host  Plugin::run fresh instance: p50 {:.1} us, p99 {:.1} us", micros(h50), micros(h99));
    println!("  raw   instantiate + call:         p50 {:.1} us, p99 {:.1} us", micros(r50), micros(r99));
    println!("  overhead ratio host/raw: p50 {:.2}x, p99 {:.2}x", micros(h50) / micros(r50), micros(h99) / micros(r99));

    // Precompiled load vs compile, one-shot timings.
    let t = Instant::now();
    let fresh = PluginHost::new(config.clone(), HostServices::default()).expect("host");
    let loaded = fresh.compile(&subject.wasm, &subject.wasm_path).expect("load");
    println!("  precompiled load on a new host: {:.2} ms (from cache: {})", t.elapsed().as_secs_f64() * 1e3, loaded.from_cache);

    python_routing(&rt, &config);

    // Throughput with two worker threads (the machine has two cores).
    let mt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
    let total = 40_000usize;
    let per_task = total / 16;
    let started = Instant::now();
    mt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let plugin = plugin.clone();
            let step_input = step_input.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..per_task {
                    plugin.run(&step_input).await.expect("run");
                }
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
    });
    let secs = started.elapsed().as_secs_f64();
    println!(
        "  throughput, 2 worker threads, 16 tasks: {:.0} calls/s ({} calls in {:.2} s)",
        (per_task * 16) as f64 / secs,
        per_task * 16,
        secs
    );
}

/// Fresh-instance cost of the Python (componentize-py) routing plugin, if built.
fn python_routing(rt: &tokio::runtime::Runtime, config: &HostConfig) {
    let dir = root().join("plugins/dist/routing-py");
    let manifest_path = dir.join("plugin.toml");
    if !manifest_path.exists() {
        println!("  routing-py: not built (scripts/build-plugins.sh), skipped");
        return;
    }
    let manifest = Manifest::from_file(&manifest_path).expect("manifest");
    let host = PluginHost::new(config.clone(), HostServices::default()).expect("host");
    let t = Instant::now();
    let first = host.load(&manifest_path, &manifest.capabilities).expect("load");
    let first_load = t.elapsed();
    let t = Instant::now();
    let plugin =
        PluginHost::new(config.clone(), HostServices::default()).expect("host").load(&manifest_path, &manifest.capabilities).expect("load");
    let cached_load = t.elapsed();
    assert!(plugin.from_cache());
    drop(first);
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("plugins/routing-py/example-config.json")).expect("config"))
            .expect("json");
    let step_input = input(&config);
    let mut times = Vec::new();
    for _ in 0..500 {
        let t = Instant::now();
        let outcome = rt.block_on(plugin.run(&step_input)).expect("run");
        assert!(outcome.result.is_ok());
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "  routing-py (componentize-py, {} MB): fresh instance + run p50 {:.0} us, p99 {:.0} us; first load {:.0} ms, precompiled load {:.1} ms",
        std::fs::metadata(dir.join("routing-py.wasm")).map(|m| m.len() / 1_000_000).unwrap_or(0),
        micros(percentile(&times, 0.5)),
        micros(percentile(&times, 0.99)),
        first_load.as_secs_f64() * 1e3,
        cached_load.as_secs_f64() * 1e3
    );
}
