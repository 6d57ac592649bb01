//! Engine benchmarks: store parse/emit, whole-document encrypt/decrypt, single values.
//!
//! `cargo bench -p ccsecrets-core --bench engine` (add `-- yaml` etc. to filter).
//! Documents are generated, deterministic, with 1k and 10k leaf values: strings, ints, floats,
//! booleans, nested maps and lists, a few comments.

use std::hint::black_box;
use std::time::Duration;

use ccsecrets_core::keys::{Identity, Recipient};
use ccsecrets_core::sops::cipher::{decrypt_value, encrypt_value, DataKey};
use ccsecrets_core::sops::document::{encrypt, DecryptOptions, EncryptOptions, EncryptedFile};
use ccsecrets_core::sops::store::{self, Format, StoreOptions};
use ccsecrets_core::sops::tree::{Item, Map, Value};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const SIZES: [usize; 2] = [1_000, 10_000];

/// A small deterministic PRNG (xorshift64*), so every run benchmarks the same documents.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn word(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789_-";
        (0..len)
            .map(|_| ALPHABET[self.below(ALPHABET.len() as u64) as usize] as char)
            .collect()
    }
}

fn leaf(rng: &mut Rng) -> Value {
    match rng.below(10) {
        0..=4 => {
            let len = 8 + rng.below(40) as usize;
            Value::Str(rng.word(len))
        }
        5..=6 => {
            let shift = rng.below(60);
            Value::Int(rng.next() as i64 >> shift)
        }
        7 => Value::Float((rng.below(1_000_000) as f64) / 64.0),
        8 => Value::Bool(rng.below(2) == 0),
        _ => Value::Str(format!(
            "line one {}\nline two {}\n",
            rng.word(12),
            rng.word(12)
        )),
    }
}

/// Fills `map` with `budget` leaves: a mix of flat entries, nested maps and lists.
fn fill(map: &mut Map, rng: &mut Rng, budget: usize, depth: usize) {
    let mut left = budget;
    let mut n = 0;
    while left > 0 {
        n += 1;
        let key_len = 3 + rng.below(8) as usize;
        let key = format!("{}_{n}", rng.word(key_len));
        if rng.below(25) == 0 {
            map.0.push(Item::Comment(format!(" note {}", rng.word(10))));
        }
        let kind = if depth >= 4 || left < 4 {
            0
        } else {
            rng.below(6)
        };
        match kind {
            // a nested map of up to 30 leaves
            1 | 2 => {
                let take = left.min(1 + rng.below(30) as usize);
                let mut child = Map::new();
                fill(&mut child, rng, take, depth + 1);
                map.push(key, Value::Map(child));
                left -= take;
            }
            // a list of scalars or of small maps
            3 => {
                let take = left.min(1 + rng.below(12) as usize);
                let items = if rng.below(2) == 0 {
                    (0..take).map(|_| leaf(rng)).collect()
                } else {
                    (0..take)
                        .map(|_| {
                            let mut m = Map::new();
                            m.push("name", leaf(rng));
                            Value::Map(m)
                        })
                        .collect()
                };
                map.push(key, Value::Seq(items));
                left -= take;
            }
            _ => {
                map.push(key, leaf(rng));
                left -= 1;
            }
        }
    }
}

fn document(leaves: usize) -> Map {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ leaves as u64);
    let mut m = Map::new();
    fill(&mut m, &mut rng, leaves, 0);
    m
}

fn identity() -> (Identity, Recipient) {
    let (id, _secret) = Identity::generate();
    let recipient = id.public().parse().expect("own public key parses");
    (id, recipient)
}

fn stores(c: &mut Criterion) {
    let opts = StoreOptions::default();
    for format in [Format::Yaml, Format::Json] {
        let mut group = c.benchmark_group(format!("store/{}", format.name()));
        group.measurement_time(Duration::from_secs(3));
        for n in SIZES {
            let docs = vec![document(n)];
            let bytes = match store::emit(format, &docs, &opts) {
                Ok(bytes) => bytes,
                Err(e) => {
                    eprintln!("skipping store/{}: {e}", format.name());
                    break;
                }
            };
            group.throughput(Throughput::Bytes(bytes.len() as u64));
            group.bench_with_input(BenchmarkId::new("parse", n), &bytes, |b, bytes| {
                b.iter(|| store::parse(format, black_box(bytes)).unwrap())
            });
            group.bench_with_input(BenchmarkId::new("emit", n), &docs, |b, docs| {
                b.iter(|| store::emit(format, black_box(docs), &opts).unwrap())
            });
            group.bench_with_input(BenchmarkId::new("parse+emit", n), &bytes, |b, bytes| {
                b.iter(|| {
                    let docs = store::parse(format, black_box(bytes)).unwrap();
                    store::emit(format, &docs, &opts).unwrap()
                })
            });
        }
        group.finish();
    }
}

fn documents(c: &mut Criterion) {
    let (id, recipient) = identity();
    let ids = [id];
    let enc_opts = EncryptOptions {
        key_groups: vec![vec![recipient]],
        ..Default::default()
    };
    let mut group = c.benchmark_group("document");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(4));
    for n in SIZES {
        let docs = vec![document(n)];
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("encrypt", n), &docs, |b, docs| {
            b.iter(|| encrypt(black_box(docs.clone()), &enc_opts).unwrap())
        });
        let file = encrypt(docs.clone(), &enc_opts).unwrap();
        group.bench_with_input(BenchmarkId::new("decrypt", n), &file, |b, file| {
            b.iter(|| file.decrypt(&ids, DecryptOptions::default()).unwrap())
        });
        group.bench_with_input(
            BenchmarkId::new("decrypt_keep_ivs+reencrypt", n),
            &file,
            |b, file| {
                let opts = DecryptOptions {
                    keep_ivs: true,
                    ..Default::default()
                };
                b.iter(|| file.decrypt(&ids, opts).unwrap().reencrypt().unwrap())
            },
        );
        // What `ccsecrets decrypt` does after reading the file: parse, decrypt, emit.
        for format in [Format::Json, Format::Yaml] {
            let store_opts = StoreOptions::default();
            let Ok(bytes) = file.emit(format, &store_opts) else {
                eprintln!("skipping document/file_decrypt_{}", format.name());
                continue;
            };
            let id = BenchmarkId::new(format!("file_decrypt_{}", format.name()), n);
            group.bench_with_input(id, &bytes, |b, bytes| {
                b.iter(|| {
                    let file = EncryptedFile::parse(black_box(bytes), format).unwrap();
                    let plain = file.decrypt(&ids, DecryptOptions::default()).unwrap();
                    store::emit(format, &plain.branches, &store_opts).unwrap()
                })
            });
        }
    }
    group.finish();
}

fn values(c: &mut Criterion) {
    let key = DataKey::from_bytes(&[0x42; 32]).unwrap();
    let mut group = c.benchmark_group("value");
    for (name, value) in [
        ("str32", Value::Str("x".repeat(32))),
        ("str4k", Value::Str("x".repeat(4096))),
        ("int", Value::Int(-1_234_567_890)),
        ("float", Value::Float(3.25)),
    ] {
        let aad = "section:sub:key:";
        group.bench_with_input(BenchmarkId::new("encrypt", name), &value, |b, v| {
            b.iter(|| encrypt_value(&key, black_box(v), aad, None).unwrap())
        });
        let enc = encrypt_value(&key, &value, aad, None).unwrap();
        group.bench_with_input(BenchmarkId::new("decrypt", name), &enc, |b, enc| {
            b.iter(|| decrypt_value(&key, black_box(enc), aad, None).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, stores, documents, values);
criterion_main!(benches);
