//! Round trips and damage of every kind of value, and decoding that never panics.

use super::key::unordered;
use super::*;
use crate::catalog::CatalogEntry;
use crate::record::Record;
use crate::run::{Model, RunId, RunKey, MAX_STATE_WORDS};
use proptest::prelude::*;

const NANO: usize = 5;

fn record(body: u32, iteration: u64, t0: f64, t1: f64, k: f64) -> Record {
    Record {
        t0,
        t1,
        body,
        iteration,
        state: [k, -k, 1.0 / k, k * k, 0.01 * k, 0.0],
    }
}

#[test]
fn the_order_map_keeps_numeric_order() {
    let values = [
        f64::NEG_INFINITY,
        -1e300,
        -2.5,
        -1e-300,
        0.0,
        1e-300,
        0.5,
        3.0,
        f64::INFINITY,
    ];
    for pair in values.windows(2) {
        assert!(ordered(pair[0]) < ordered(pair[1]), "{pair:?}");
        assert!(index_key(RunKey::nano(1), 0, pair[0]) > index_key(RunKey::nano(1), 0, pair[1]));
    }
    assert_eq!(ordered(-0.0), ordered(0.0));
    for v in values {
        assert_eq!(unordered(ordered(v)), v);
    }
}

#[test]
fn keys_round_trip_and_sort_by_run_then_position() {
    let run = RunKey::nano(u64::MAX - 3);
    let orbit = RunKey::orbit(RunId([7; 16]));
    assert_eq!(decode_key(&catalog_key(run)), Ok(Key::Catalog(run)));
    assert_eq!(decode_key(&document_key(orbit)), Ok(Key::Document(orbit)));
    assert_eq!(
        decode_key(&checkpoint_key(orbit, 70_000)),
        Ok(Key::Checkpoint {
            run: orbit,
            slot: 70_000
        })
    );
    let key = chunk_key(orbit, 4096, 1583, 3);
    assert_eq!(
        decode_key(&key),
        Ok(Key::Chunk {
            run: orbit,
            first_iteration: 4096,
            body: 1583,
            part: 3
        })
    );
    assert_eq!(
        decode_key(&index_key(run, 1, 1.25)),
        Ok(Key::TimeIndex {
            run,
            body: 1,
            t0: 1.25
        })
    );
    assert!(chunk_key(run, 255, 1, 0) < chunk_key(run, 256, 0, 0));
    assert!(chunk_key(run, 7, 255, 0) < chunk_key(run, 7, 256, 0));
    assert!(chunk_key(RunKey::nano(1), u64::MAX, 1, 0) < chunk_key(RunKey::nano(2), 0, 0, 0));
    assert!(catalog_key(RunKey::nano(u64::MAX)) < catalog_key(orbit));
    assert!(decode_key(b"").is_err());
    assert!(decode_key(&[CHUNK, 1, 0, 0]).is_err());
    assert!(decode_key(&[9; 19]).is_err());
    // Version 1's tags are not version 2's keys.
    assert!(decode_key(&[1, 1, 0, 0, 0, 0, 0, 0, 0, 7]).is_err());
}

#[test]
fn chunks_round_trip_and_find_by_time() {
    for (run, words) in [(RunKey::nano(3), NANO), (RunKey::orbit(RunId([1; 16])), 6)] {
        let key = chunk_key(run, 100, 0, 0);
        let mut records = [
            record(0, 100, 1.0, 1.5, 1.0),
            record(0, 102, 1.5, 1.6, 2.0),
            record(0, 103, 1.6, 2.5, 3.0),
        ];
        for r in &mut records {
            r.state[words..].fill(0.0);
        }
        let mut bytes = Vec::new();
        encode_chunk(&key, words, 100, 104, &records, &mut bytes);
        assert_eq!(bytes.len(), CHUNK_HEADER + 3 * record_size(words));
        let chunk = Chunk::parse(&key, &bytes).unwrap();
        assert_eq!((chunk.len(), chunk.end, chunk.t0), (3, 104, 1.0));
        assert_eq!(chunk.records().collect::<Vec<_>>(), records);
        assert_eq!(chunk.find(1.0), Some(records[0]));
        assert_eq!(chunk.find(1.55), Some(records[1]));
        assert_eq!(chunk.find(1.6), Some(records[2]));
        assert_eq!(chunk.find(0.99), None);
        assert_eq!(chunk.find(2.5), None);
        assert_eq!(chunk.find(f64::NAN), None);
    }
    // A nano record is 52 bytes, as in version 1.
    assert_eq!(record_size(Model::Nano.state_words()), 52);
}

#[test]
fn a_value_under_another_key_or_with_a_flipped_bit_is_refused() {
    let run = RunKey::nano(3);
    let key = chunk_key(run, 0, 0, 0);
    let mut bytes = Vec::new();
    encode_chunk(&key, NANO, 0, 1, &[record(0, 0, 0.0, 0.5, 1.0)], &mut bytes);
    let elsewhere = chunk_key(run, 0, 1, 0);
    assert_eq!(
        Chunk::parse(&elsewhere, &bytes).unwrap_err(),
        "checksum mismatch"
    );
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut flipped = bytes.clone();
            flipped[i] ^= 1 << bit;
            assert!(Chunk::parse(&key, &flipped).is_err(), "byte {i} bit {bit}");
        }
    }
    assert!(Chunk::parse(&key, &bytes[..bytes.len() - 1]).is_err());
}

#[test]
fn catalog_entries_round_trip_and_detect_damage() {
    let run = RunKey::nano(42);
    let entry = CatalogEntry {
        run,
        bodies: 2,
        target: 10_000,
        iterations: 4096,
        records: 6500,
        created_ms: 1_700_000_000_000,
        updated_ms: 1_700_000_000_500,
    };
    let key = catalog_key(run);
    let bytes = encode_catalog(&entry);
    assert_eq!(decode_catalog(&key, &bytes), Ok(entry));
    let mut damaged = bytes.clone();
    damaged[20] ^= 0x40;
    assert!(decode_catalog(&key, &damaged).is_err());
    assert!(decode_catalog(&catalog_key(RunKey::nano(43)), &bytes).is_err());
}

#[test]
fn index_entries_round_trip_and_detect_damage() {
    let key = index_key(RunKey::nano(1), 1, 0.75);
    let value = encode_index(&key, 8192, 5);
    assert_eq!(decode_index(&key, &value), Ok((8192, 5)));
    let mut damaged = value;
    damaged[5] ^= 1;
    assert!(decode_index(&key, &damaged).is_err());
}

#[test]
fn series_parts_round_trip_and_detect_damage() {
    let run = RunKey::nano(4);
    assert_eq!(
        decode_key(&series_key(run, 5_000_000, 5000, 7)),
        Ok(Key::Series {
            run,
            n: 5_000_000,
            points: 5000,
            part: 7
        })
    );
    assert!(series_key(run, 9, 5000, 255) < series_key(run, 9, 5000, 256));
    assert!(series_key(run, 9, 5000, u16::MAX) < series_key(run, 9, 5001, 0));
    assert!(series_key(run, 9, 5000, 0).starts_with(&series_prefix(run, 9, 5000)));
    let key = series_key(run, 100, 10, 2);
    let value = encode_part(&key, 12_000, b"{\"t\":[1.5]}");
    assert_eq!(
        decode_series_part(&key, &value),
        Ok((12_000, &b"{\"t\":[1.5]}"[..]))
    );
    let mut damaged = value.clone();
    damaged[14] ^= 1;
    assert_eq!(decode_series_part(&key, &damaged), Err("checksum mismatch"));
    let elsewhere = series_key(run, 100, 10, 3);
    assert!(decode_series_part(&elsewhere, &value).is_err());
    let longer = encode_part(&key, 3, b"four");
    assert_eq!(
        decode_series_part(&key, &longer),
        Err("series part longer than its series")
    );
    let empty = encode_part(&key, 3, b"");
    assert_eq!(
        decode_series_part(&key, &empty),
        Err("series part of the wrong length")
    );
}

#[test]
fn checkpoints_and_documents_round_trip_and_detect_damage() {
    let run = RunKey::orbit(RunId([9; 16]));
    let key = checkpoint_key(run, 12);
    let value = encode_sealed(&key, b"integrator state");
    assert_eq!(decode_sealed(&key, &value), Ok(&b"integrator state"[..]));
    assert!(decode_sealed(&checkpoint_key(run, 13), &value).is_err());
    assert!(decode_sealed(&catalog_key(run), &value).is_err());
    let doc = document_key(run);
    assert_eq!(
        decode_sealed(&doc, &encode_sealed(&doc, b"{}")),
        Ok(&b"{}"[..])
    );
}

fn round(k: u64, bodies: u32, step: f64) -> Vec<Record> {
    (0..bodies)
        .map(|b| Record {
            t0: k as f64 * step,
            t1: (k + 1) as f64 * step,
            body: b,
            iteration: k,
            state: [k as f64, b as f64, -1.5, 1e-300, f64::MAX, 0.1 * b as f64],
        })
        .collect()
}

#[test]
fn frames_round_trip_and_refuse_damage() {
    let run = RunKey::orbit(RunId([4; 16]));
    let step = 0.1;
    // Part 1 of the block [100, 130): iterations 118..130, bodies 16..21.
    let key = frame_key(run, 100, 16, 1);
    assert_eq!(
        decode_key(&key),
        Ok(Key::Frame {
            run,
            first_iteration: 100,
            body: 16,
            part: 1
        })
    );
    let rounds: Vec<Vec<Record>> = (118..130).map(|k| round(k, 21, step)).collect();
    let rows = rounds.iter().map(|r| &r[16..21]);
    let mut bytes = Vec::new();
    encode_frame(&key, 6, step, 130, 5, rows, &mut bytes);
    assert_eq!(bytes.len(), FRAME_HEADER + 12 * 5 * 48);
    let frame = Frame::parse(&key, &bytes).unwrap();
    assert_eq!((frame.first, frame.steps, frame.end), (118, 12, 130));
    let expected: Vec<Record> = rounds.iter().flat_map(|r| r[16..21].to_vec()).collect();
    assert_eq!(frame.records().collect::<Vec<_>>(), expected);
    assert_eq!(frame.record(125, 2), rounds[7][18]);
    // Under another key (another group, part or block), or with any bit flipped,
    // or cut short: refused.
    for other in [
        frame_key(run, 100, 8, 1),
        frame_key(run, 100, 16, 0),
        frame_key(run, 99, 16, 1),
    ] {
        assert!(Frame::parse(&other, &bytes).is_err());
    }
    for i in 0..bytes.len() {
        let mut flipped = bytes.clone();
        flipped[i] ^= 1 << (i % 8);
        assert!(Frame::parse(&key, &flipped).is_err(), "byte {i}");
    }
    assert!(Frame::parse(&key, &bytes[..bytes.len() - 48]).is_err());
    // A well-sealed frame of a shape its key cannot have is refused by name.
    let mut shape = Vec::new();
    encode_frame(
        &frame_key(run, 100, 16, 2),
        6,
        step,
        130,
        5,
        rounds.iter().map(|r| &r[16..21]),
        &mut shape,
    );
    assert_eq!(
        Frame::parse(&frame_key(run, 100, 16, 2), &shape).unwrap_err(),
        "frame outside its block"
    );
    let mut short = Vec::new();
    encode_frame(
        &key,
        6,
        step,
        130,
        5,
        rounds[..11].iter().map(|r| &r[16..21]),
        &mut short,
    );
    assert_eq!(
        Frame::parse(&key, &short).unwrap_err(),
        "frame length does not match its steps and bodies"
    );
}

#[test]
fn the_iteration_at_a_time_is_the_one_whose_range_holds_it() {
    for step in [0.1, 0.3, 1.0, 10.0, 60.0, 1.0 / 3.0] {
        for k in [0u64, 1, 2, 3, 17, 18, 1_000, 8_639, 123_456_789] {
            let (t0, t1) = (k as f64 * step, (k + 1) as f64 * step);
            assert_eq!(iteration_at(t0, step), Some(k), "{k} x {step}");
            assert_eq!(iteration_at((t0 + t1) / 2.0, step), Some(k));
            let before = f64::from_bits(t1.to_bits() - 1);
            if before >= t0 {
                assert_eq!(iteration_at(before, step), Some(k), "{k} x {step}");
            }
        }
    }
    assert_eq!(iteration_at(-1e-300, 1.0), None);
    assert_eq!(iteration_at(-0.0, 1.0), Some(0));
    assert_eq!(iteration_at(f64::NAN, 1.0), None);
    assert_eq!(iteration_at(f64::INFINITY, 1.0), None);
    assert_eq!(iteration_at(1.0, 0.0), None);
}

#[test]
fn checkpoint_packs_round_trip_and_keep_whole_slots() {
    let run = RunKey::orbit(RunId([5; 16]));
    let slots: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; 600 + i as usize]).collect();
    let ranges = pack_ranges(&slots);
    assert_eq!(ranges.first().map(|r| r.start), Some(0));
    assert_eq!(ranges.last().map(|r| r.end), Some(40));
    for pair in ranges.windows(2) {
        assert_eq!(pair[0].end, pair[1].start);
    }
    for range in &ranges {
        let bytes: usize = slots[range.clone()].iter().map(|s| 4 + s.len()).sum();
        assert!(bytes <= PACK_BYTES);
        let key = pack_key(run, 3);
        let value = encode_pack(&key, &slots[range.clone()]);
        let back: Vec<Vec<u8>> = decode_pack(&key, &value)
            .unwrap()
            .into_iter()
            .map(<[u8]>::to_vec)
            .collect();
        assert_eq!(back, slots[range.clone()]);
        assert!(decode_pack(&pack_key(run, 4), &value).is_err());
        let mut damaged = value.clone();
        damaged[9] ^= 4;
        assert!(decode_pack(&key, &damaged).is_err());
    }
    // A slot larger than a pack is a pack of its own.
    let big = vec![vec![1u8; 10], vec![2u8; PACK_BYTES * 2], vec![3u8; 10]];
    assert_eq!(pack_ranges(&big), vec![0..1, 1..2, 2..3]);
    assert_eq!(
        decode_key(&pack_key(run, 7)),
        Ok(Key::Pack { run, pack: 7 })
    );
}

/// A version-1 key, as that format built it.
fn v1_key(tag: u8, seed: u64, tail: &[u8]) -> Vec<u8> {
    let mut key = vec![tag, 1];
    key.extend_from_slice(&seed.to_be_bytes());
    key.extend_from_slice(tail);
    key
}

fn sealed_v1(key: &[u8], body: &[u8]) -> Vec<u8> {
    let mut value = vec![0; 4];
    value.extend_from_slice(body);
    seal(key, &mut value);
    value
}

#[test]
fn version_1_values_convert_byte_for_byte_and_damage_stays_visible() {
    let run = RunKey::nano(5);
    // A chunk: version 1 wrote the same bytes after its checksum.
    let records = [record(1, 100, 1.0, 1.5, 1.0), record(1, 101, 1.5, 1.7, 2.0)];
    let mut v2 = Vec::new();
    let new_key = chunk_key(run, 100, 1, 3);
    encode_chunk(&new_key, NANO, 100, 110, &records, &mut v2);
    let old_key = v1_key(2, 5, &[0, 0, 0, 0, 0, 0, 0, 100, 1, 0, 3]);
    let old = sealed_v1(&old_key, &v2[4..]);
    let converted = v1::convert(&old_key, &old).unwrap();
    assert_eq!(converted, vec![(new_key.to_vec(), v2.clone())]);
    let mut damaged = old.clone();
    damaged[30] ^= 1;
    let [(key, value)] = &v1::convert(&old_key, &damaged).unwrap()[..] else {
        panic!("one value");
    };
    assert_eq!(Chunk::parse(key, value).unwrap_err(), "checksum mismatch");

    // A time-index entry.
    let t0 = (!ordered(1.0)).to_be_bytes();
    let old_key = v1_key(3, 5, &[[1].as_slice(), &t0].concat());
    let old = sealed_v1(&old_key, &[100, 0, 0, 0, 0, 0, 0, 0, 3, 0]);
    let [(key, value)] = &v1::convert(&old_key, &old).unwrap()[..] else {
        panic!("one value");
    };
    assert_eq!(key[..], index_key(run, 1, 1.0));
    assert_eq!(decode_index(key, value), Ok((100, 3)));

    // A catalog entry: its head becomes the entry, its checkpoint slot 0.
    let mut body = Vec::new();
    for v in [200u64, 110, 170, 1_000, 2_000] {
        body.extend_from_slice(&v.to_le_bytes());
    }
    let checkpoint: Vec<u8> = (0..v1::CHECKPOINT_SIZE).map(|i| i as u8).collect();
    body.extend_from_slice(&checkpoint);
    let old_key = v1_key(1, 5, &[]);
    let converted = v1::convert(&old_key, &sealed_v1(&old_key, &body)).unwrap();
    assert_eq!(converted.len(), 2);
    let entry = decode_catalog(&converted[0].0, &converted[0].1).unwrap();
    assert_eq!(
        entry,
        CatalogEntry {
            run,
            bodies: 2,
            target: 200,
            iterations: 110,
            records: 170,
            created_ms: 1_000,
            updated_ms: 2_000
        }
    );
    assert_eq!(converted[1].0, checkpoint_key(run, 0));
    assert_eq!(
        decode_sealed(&converted[1].0, &converted[1].1),
        Ok(&checkpoint[..])
    );
    // A series moves under its new key.
    let old_key = v1_key(4, 5, &[0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0, 10, 0, 2]);
    let old = sealed_v1(
        &old_key,
        &[[20, 0, 0, 0, 0, 0, 0, 0].as_slice(), b"[1.5]"].concat(),
    );
    let [(key, value)] = &v1::convert(&old_key, &old).unwrap()[..] else {
        panic!("one value");
    };
    assert_eq!(key[..], series_key(run, 100, 10, 2));
    assert_eq!(decode_series_part(key, value), Ok((20, &b"[1.5]"[..])));
    // What is not version 1 is refused.
    assert!(v1::convert(&[2, 9, 0], b"x").is_err());
    assert!(v1::convert(&[7, 1, 0, 0, 0, 0, 0, 0, 0, 0], b"x").is_err());
}

/// A well-formed key of each kind the log writes, with the word its decoder's
/// errors use for that kind, and the state words of its model.
fn sealed_key() -> impl Strategy<Value = (Vec<u8>, &'static str, usize)> {
    let run = (any::<bool>(), any::<[u8; 16]>()).prop_map(|(nano, id)| RunKey {
        model: if nano { Model::Nano } else { Model::Orbit },
        id: RunId(id),
    });
    prop_oneof![
        run.clone()
            .prop_map(|run| (catalog_key(run).to_vec(), "catalog", 0)),
        (run.clone(), any::<u64>(), any::<u32>(), any::<u16>()).prop_map(
            |(run, first, body, part)| (
                chunk_key(run, first, body, part).to_vec(),
                "chunk",
                run.model.state_words()
            )
        ),
        (run.clone(), any::<u32>(), any::<f64>()).prop_map(|(run, body, t0)| (
            index_key(run, body, t0).to_vec(),
            "time-index",
            0
        )),
        (run, any::<u64>(), any::<u32>(), any::<u16>()).prop_map(|(run, n, points, part)| (
            series_key(run, n, points, part).to_vec(),
            "series",
            0
        )),
    ]
}

proptest! {
    #[test]
    fn any_finite_record_survives_a_chunk(
        values in prop::array::uniform8(any::<f64>().prop_filter("finite", |v| v.is_finite())),
        offset in 0u32..u32::MAX,
        nano in any::<bool>(),
        body in any::<u32>(),
    ) {
        let (run, words) = if nano { (RunKey::nano(9), NANO) } else { (RunKey::orbit(RunId([3; 16])), 6) };
        let mut state = [0.0; MAX_STATE_WORDS];
        state[..words].copy_from_slice(&values[2..2 + words]);
        let r = Record { t0: values[0], t1: values[1], body, iteration: 7 + offset as u64, state };
        let key = chunk_key(run, 7, body, 0);
        let mut bytes = Vec::new();
        encode_chunk(&key, words, 7, 8 + offset as u64, &[r], &mut bytes);
        let chunk = Chunk::parse(&key, &bytes).unwrap();
        let back = chunk.records().next().unwrap();
        prop_assert_eq!(format!("{back:?}"), format!("{r:?}"));
    }

    /// Random bodies under a correct checksum, so that what decoding does after
    /// the checksum is exercised: it never panics, a value of the right shape
    /// decodes, and any other is refused with a reason that names the kind of
    /// value and what is wrong with it (never a checksum, which is right here).
    #[test]
    fn sealed_random_values_decode_or_say_what_is_wrong(
        (key, kind, words) in sealed_key(),
        shape in 0u8..3,
        records in 0usize..6,
        random_length in 4usize..400,
        body in prop::collection::vec(any::<u8>(), 400 + CATALOG_SIZE + 6 * record_size(6)),
        t in any::<f64>(),
    ) {
        // The value's length: arbitrary, or the one its kind needs.
        let length = match (shape, kind) {
            (0, _) => random_length,
            (_, "chunk") => CHUNK_HEADER + records * record_size(words),
            (_, "catalog") => CATALOG_SIZE,
            (_, "series") => SERIES_HEADER + 1 + records,
            (_, _) => INDEX_SIZE,
        };
        let mut value = body[..length].to_vec();
        // Shape 2 of a chunk: its record count agrees with its length.
        if shape == 2 && kind == "chunk" {
            value[4..8].copy_from_slice(&(records as u32).to_le_bytes());
        }
        // Shape 2 of a series: it claims fewer bytes than its part holds.
        if shape == 2 && kind == "series" {
            value[4..12].copy_from_slice(&(records as u64).to_le_bytes());
        }
        seal(&key, &mut value);
        prop_assert_eq!(check(&key, &value), Ok(()));
        // What makes a value of each kind well formed, from the layout above.
        let well_formed = match kind {
            "chunk" => {
                let first = u64::from_be_bytes(key[18..26].try_into().unwrap());
                value.len() >= CHUNK_HEADER
                    && value.len() - CHUNK_HEADER
                        == u32::from_le_bytes(value[4..8].try_into().unwrap()) as usize * record_size(words)
                    && first <= u64::MAX - u32::MAX as u64
            }
            "catalog" => value.len() == CATALOG_SIZE,
            "series" => {
                let total = u64::from_le_bytes(value[4..12.min(value.len())].try_into().unwrap_or([0; 8]));
                (SERIES_HEADER + 1..=SERIES_HEADER + SERIES_PART_BYTES).contains(&value.len())
                    && (value.len() - SERIES_HEADER) as u64 <= total
            }
            _ => value.len() == INDEX_SIZE,
        };
        let outcome = match kind {
            "chunk" => Chunk::parse(&key, &value).map(|chunk| {
                let all: Vec<Record> = chunk.records().collect();
                let _ = chunk.find(t);
                (all.len(), chunk.len())
            }),
            "catalog" => decode_catalog(&key, &value).map(|e| (encode_catalog(&e).len(), CATALOG_SIZE)),
            "series" => decode_series_part(&key, &value)
                .map(|(_, bytes)| (bytes.len(), value.len() - SERIES_HEADER)),
            _ => decode_index(&key, &value).map(|_| (0, 0)),
        };
        match outcome {
            Ok((decoded, expected)) => {
                prop_assert!(well_formed, "a malformed {} decoded", kind);
                prop_assert_eq!(decoded, expected);
            }
            Err(e) => {
                prop_assert!(!well_formed, "a well-formed {} was refused as {:?}", kind, e);
                prop_assert!(e.contains(kind), "{} refused as {:?}", kind, e);
                prop_assert!(!e.contains("checksum"), "{} refused as {:?}", kind, e);
            }
        }
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(key in prop::collection::vec(any::<u8>(), 0..40), value in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = decode_key(&key);
        let _ = Chunk::parse(&key, &value).map(|c| c.records().count());
        let _ = decode_catalog(&key, &value);
        let _ = decode_index(&key, &value);
        let _ = decode_sealed(&key, &value);
        let _ = decode_series_part(&key, &value);
        let _ = Frame::parse(&key, &value).map(|f| f.records().count());
        let _ = decode_pack(&key, &value);
        let _ = v1::convert(&key, &value);
        let _ = decode_element_file(&key, &value);
        let _ = decode_element_part(&key, &value);
    }
}

#[test]
fn element_file_keys_and_metadata_round_trip_and_detect_damage() {
    let id = [0xc3; 16];
    assert_eq!(
        decode_key(&element_file_key(id)),
        Ok(Key::ElementFile { id })
    );
    let part = element_part_key(id, 70_000);
    assert_eq!(
        decode_key(&part),
        Ok(Key::ElementFilePart { id, part: 70_000 })
    );
    assert!(part.starts_with(&element_part_prefix(id)));
    // Parts sort by number, and all after every file's metadata.
    assert!(element_part_key(id, 1) < element_part_key(id, 256));
    assert!(element_file_key([0xff; 16])[..] < element_part_key([0; 16], 0)[..]);
    assert!(decode_key(&element_file_key(id)[..16]).is_err());
    assert!(decode_key(&part[..20]).is_err());

    let key = element_file_key(id);
    let file = ElementFile {
        id,
        len: 12_345,
        parts: 3,
        content_crc: 0xdead_beef,
    };
    let value = encode_element_file(&key, &file);
    assert_eq!(decode_element_file(&key, &value), Ok(file));
    assert_eq!(
        decode_element_file(&element_file_key([1; 16]), &value),
        Err("checksum mismatch")
    );
    let mut flipped = value.clone();
    flipped[9] ^= 2;
    assert_eq!(
        decode_element_file(&key, &flipped),
        Err("checksum mismatch")
    );
    assert!(decode_element_file(&key, &value[..value.len() - 1]).is_err());
    // A part is a series part under its own kind of key only.
    let bytes = encode_part(&part, 10, b"0123456789");
    assert_eq!(
        decode_element_part(&part, &bytes),
        Ok((10, &b"0123456789"[..]))
    );
    let series = series_key(RunKey::nano(1), 1, 1, 0);
    let bytes = encode_part(&series, 10, b"0123456789");
    assert!(decode_element_part(&series, &bytes).is_err());
}
