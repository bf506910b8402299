//! The engine at scale, on the synthetic mesh: parse + index + lint (`analyze`) at 1k and 10k
//! services, and the full reachability matrix at 1k. Run with `cargo bench -p meshlock-core`.

#![forbid(unsafe_code)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use meshlock_core::reach::ReachFilter;
use meshlock_core::synth::{MeshShape, generate};
use meshlock_core::{Analysis, Options, Source};
use std::hint::black_box;
use std::time::Duration;

/// The heap the `meshlock` CLI runs on, so these figures are the CLI's.
#[global_allocator]
static HEAP: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn analyze(c: &mut Criterion) {
    let mut group = c.benchmark_group("analyze");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    for services in [1_000usize, 10_000] {
        let text = generate(&MeshShape::new(services));
        let sources = [Source::new("mesh.yaml", text)];
        group.throughput(Throughput::Elements(services as u64));
        group.bench_with_input(BenchmarkId::from_parameter(services), &sources, |b, s| {
            b.iter(|| {
                let a = Analysis::new(black_box(s), &Options::default());
                black_box(a.analyze().workloads.len())
            });
        });
    }
    group.finish();
}

fn reach(c: &mut Criterion) {
    let mut group = c.benchmark_group("reach");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    for services in [200usize, 1_000] {
        let a = Analysis::new(&[Source::new("mesh.yaml", generate(&MeshShape::new(services)))], &Options::default());
        group.bench_with_input(BenchmarkId::from_parameter(services), &a, |b, a| {
            b.iter(|| black_box(a.reach(&ReachFilter::default()).calls.len()));
        });
    }
    group.finish();
}

criterion_group!(benches, analyze, reach);
criterion_main!(benches);
