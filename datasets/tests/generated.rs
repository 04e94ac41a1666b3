//! Checks of the generated demo data against its manifests and the generator's promises.
//!
//! One 50 000-resident dataset is generated once and shared by the read-only tests.

#![allow(missing_docs)]

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use arrow::array::{
    Array, AsArray, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch,
    RecordBatchReader, StringArray,
};
use arrow::compute::concat_batches;
use arrow::datatypes::{Date32Type, Float64Type, Int64Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use shuyu_datasets::demo::{DEMO_TABLES, DEPARTMENTS, DISTRICTS, GENDERS, INDUSTRIES};
use shuyu_datasets::generate::{arrow_schema, arrow_type, DATASET_INFO_FILE};
use shuyu_datasets::{
    demo_manifest, demo_manifests, ensure_generated, generate, is_generated, load_report,
    GenerateOptions, GenerateReport,
};

const N: u64 = 50_000;
const SEED: u64 = 20_240_601;

struct Shared {
    _dir: tempfile::TempDir,
    path: PathBuf,
    report: GenerateReport,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().to_path_buf();
        let report = generate(&GenerateOptions::new(N, &path, SEED)).expect("generate");
        Shared {
            _dir: dir,
            path,
            report,
        }
    })
}

fn read(path: &Path) -> RecordBatch {
    let file = File::open(path).expect("open parquet");
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("reader")
        .build()
        .expect("build");
    let schema = reader.schema();
    let batches: Vec<RecordBatch> = reader.map(|b| b.expect("batch")).collect();
    concat_batches(&schema, &batches).expect("concat")
}

fn table(name: &str) -> RecordBatch {
    read(&shared().path.join(format!("{name}.parquet")))
}

fn col<'a>(b: &'a RecordBatch, name: &str) -> &'a dyn Array {
    b.column_by_name(name)
        .unwrap_or_else(|| panic!("column {name}"))
        .as_ref()
}
fn ints<'a>(b: &'a RecordBatch, name: &str) -> &'a Int64Array {
    col(b, name).as_primitive::<Int64Type>()
}
fn floats<'a>(b: &'a RecordBatch, name: &str) -> &'a Float64Array {
    col(b, name).as_primitive::<Float64Type>()
}
fn dates<'a>(b: &'a RecordBatch, name: &str) -> &'a Date32Array {
    col(b, name).as_primitive::<Date32Type>()
}
fn strs<'a>(b: &'a RecordBatch, name: &str) -> &'a StringArray {
    col(b, name).as_string::<i32>()
}
fn bools<'a>(b: &'a RecordBatch, name: &str) -> &'a BooleanArray {
    col(b, name).as_boolean()
}

fn assert_in_domain(table: &str, b: &RecordBatch, column: &str, domain: &[&str]) {
    let allowed: HashSet<&str> = domain.iter().copied().collect();
    for v in strs(b, column).iter() {
        let v = v.expect("no nulls");
        assert!(
            allowed.contains(v),
            "{column} value {v:?} outside its public domain"
        );
    }
    // The manifest declares exactly this domain.
    let t = demo_manifest(table).expect("manifest");
    let declared = t
        .column(column)
        .and_then(|c| c.public_domain.clone())
        .expect("public domain");
    assert_eq!(
        declared,
        domain.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    );
}

fn civil(days: i32) -> (i64, u32, u32) {
    let z = i64::from(days) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[test]
fn schemas_match_manifests_exactly() {
    let s = shared();
    for m in demo_manifests() {
        let path = s.path.join(format!("{}.parquet", m.name));
        let file = File::open(&path).expect("open");
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).expect("reader");
        let schema = builder.schema();
        let got: Vec<(String, arrow::datatypes::DataType)> = schema
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect();
        let want: Vec<(String, arrow::datatypes::DataType)> = m
            .columns
            .iter()
            .map(|c| (c.name.clone(), arrow_type(c.data_type)))
            .collect();
        assert_eq!(got, want, "schema of {}", m.name);
        assert_eq!(
            schema.fields(),
            arrow_schema(&m).fields(),
            "arrow schema of {}",
            m.name
        );
        // The manifest written next to the data is the embedded one and parses to the same.
        let text = fs::read_to_string(s.path.join(format!("{}.toml", m.name))).expect("toml");
        assert_eq!(
            shuyu_datasets::TableManifest::from_toml(&text).expect("parse"),
            m
        );
        // No nulls anywhere.
        let b = read(&path);
        for (i, c) in b.columns().iter().enumerate() {
            assert_eq!(c.null_count(), 0, "{}.{}", m.name, m.columns[i].name);
        }
    }
}

#[test]
fn row_counts_and_report() {
    let s = shared();
    let r = &s.report;
    assert_eq!(r.residents, N);
    assert_eq!(r.seed, SEED);
    assert_eq!(
        r.tables.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        DEMO_TABLES
    );
    assert_eq!(r.table("residents").map(|t| t.rows), Some(N));
    assert_eq!(r.table("enterprises").map(|t| t.rows), Some(N / 20));
    assert_eq!(r.table("districts").map(|t| t.rows), Some(12));
    for t in &r.tables {
        assert_eq!(read(&t.path).num_rows() as u64, t.rows, "{}", t.name);
        assert_eq!(fs::metadata(&t.path).expect("meta").len(), t.bytes);
        assert!(t.manifest_path.exists());
    }
    let visits = r.table("medical_visits").expect("visits").rows;
    let mean = visits as f64 / N as f64;
    assert!(
        (2.5..=3.5).contains(&mean),
        "mean visits per resident {mean}"
    );
    // Only finished files in the folder.
    let names: HashSet<String> = fs::read_dir(&s.path)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 9, "{names:?}");
    assert!(names.contains(DATASET_INFO_FILE));
}

#[test]
fn residents_are_realistic_and_within_bounds() {
    let b = table("residents");
    assert_in_domain("residents", &b, "district", &DISTRICTS);
    assert_in_domain("residents", &b, "gender", &GENDERS);

    // person_id is exactly 1..=N in order.
    let ids = ints(&b, "person_id");
    assert!(ids.values().iter().copied().eq(1..=N as i64));

    let ages = ints(&b, "age");
    let incomes = floats(&b, "income");
    let employed = bools(&b, "employed");
    let genders = strs(&b, "gender");
    let id_numbers = strs(&b, "id_number");
    let names = strs(&b, "name");
    let (mut men, mut working_age, mut working, mut age_sum) = (0u64, 0u64, 0u64, 0i64);
    let mut employed_incomes = Vec::new();
    for i in 0..b.num_rows() {
        let age = ages.value(i);
        assert!((0..=100).contains(&age), "age {age}");
        age_sum += age;
        let income = incomes.value(i);
        assert!((0.0..=200_000.0).contains(&income), "income {income}");
        assert_eq!((income * 100.0).round() / 100.0, income, "income in cents");
        let male = genders.value(i) == "男";
        men += u64::from(male);
        if employed.value(i) {
            assert!((18..=67).contains(&age), "employed at {age}");
            employed_incomes.push(income);
        }
        if (18..=67).contains(&age) {
            working_age += 1;
            working += u64::from(employed.value(i));
        }
        if age < 16 {
            assert_eq!(income, 0.0);
        }
        // Identity number: 18 chars, district code, birth year, sex digit, check character.
        let id = id_numbers.value(i).as_bytes();
        assert_eq!(id.len(), 18);
        assert!(id[..6].starts_with(b"2201"));
        let year: i64 = std::str::from_utf8(&id[6..10])
            .expect("utf8")
            .parse()
            .expect("year");
        assert_eq!(year, 2025 - age);
        assert_eq!((id[16] - b'0') % 2 == 1, male, "sex digit");
        const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
        let sum: u32 = id[..17]
            .iter()
            .zip(W)
            .map(|(c, w)| u32::from(c - b'0') * w)
            .sum();
        assert_eq!(id[17], b"10X98765432"[(sum % 11) as usize]);
        let n = names.value(i).chars().count();
        assert!((2..=4).contains(&n), "name {}", names.value(i));
    }
    let n = b.num_rows() as f64;
    assert!(
        (0.48..=0.52).contains(&(men as f64 / n)),
        "men share {}",
        men as f64 / n
    );
    let mean_age = age_sum as f64 / n;
    assert!((38.0..=43.0).contains(&mean_age), "mean age {mean_age}");
    let rate = working as f64 / working_age as f64;
    assert!((0.69..=0.75).contains(&rate), "employment rate {rate}");
    employed_incomes.sort_by(f64::total_cmp);
    let median = employed_incomes[employed_incomes.len() / 2];
    assert!(
        (38_000.0..=46_000.0).contains(&median),
        "median income {median}"
    );

    // District sizes are skewed: the largest about 10x the smallest.
    let mut per: HashMap<&str, u64> = HashMap::new();
    for d in strs(&b, "district").iter().flatten() {
        *per.entry(d).or_default() += 1;
    }
    assert_eq!(per.len(), 12, "every district is populated");
    let (max, min) = (
        per.values().max().copied().unwrap_or(0),
        per.values().min().copied().unwrap_or(1),
    );
    let ratio = max as f64 / min as f64;
    assert!((7.0..=14.0).contains(&ratio), "district skew {ratio}");
}

#[test]
fn medical_visits_are_skewed_bounded_and_keyed() {
    let b = table("medical_visits");
    assert_in_domain("medical_visits", &b, "department", &DEPARTMENTS);
    let visit_ids = ints(&b, "visit_id");
    assert!(
        visit_ids
            .values()
            .iter()
            .copied()
            .eq(1..=b.num_rows() as i64),
        "visit_id 1..=M"
    );

    let persons = ints(&b, "person_id");
    let mut per_person: HashMap<i64, u64> = HashMap::new();
    for p in persons.values().iter() {
        assert!((1..=N as i64).contains(p));
        *per_person.entry(*p).or_default() += 1;
    }
    // The heavy visitor.
    let heavy = per_person.get(&1).copied().unwrap_or(0);
    assert!((200..=500).contains(&heavy), "person 1 has {heavy} visits");
    let heavy_people = per_person.values().filter(|&&v| v >= 200).count();
    assert!(
        (1..=10).contains(&heavy_people),
        "{heavy_people} heavy visitors"
    );
    let light = (N as usize - per_person.len()) + per_person.values().filter(|&&v| v <= 6).count();
    assert!(
        light as f64 / N as f64 >= 0.85,
        "share with 0-6 visits {}",
        light as f64 / N as f64
    );

    // Dates within the window.
    let (first, last) = (19_358, 20_453); // 2023-01-01, 2025-12-31
    for d in dates(&b, "visit_date").values().iter() {
        assert!((first..=last).contains(d), "visit_date {d}");
    }
    assert_eq!(civil(first), (2023, 1, 1));
    assert_eq!(civil(last), (2025, 12, 31));

    // Cost: within bounds except ~0.1% dirty values above the upper bound.
    let m = demo_manifest("medical_visits").expect("manifest");
    let (lo, hi) = m.column("cost").and_then(|c| c.bounds()).expect("bounds");
    let costs = floats(&b, "cost");
    let mut dirty = 0usize;
    for c in costs.values().iter() {
        assert!(*c >= lo, "cost {c}");
        if *c > hi {
            dirty += 1;
            assert!(*c <= 2.0 * hi + 0.01, "dirty cost {c}");
        }
    }
    let share = dirty as f64 / b.num_rows() as f64;
    assert!(
        (0.0005..=0.002).contains(&share),
        "{dirty} dirty costs, share {share}"
    );

    // Hospitals: about 40 names, skewed, no public domain.
    let mut hospitals: HashMap<&str, u64> = HashMap::new();
    for h in strs(&b, "hospital").iter().flatten() {
        *hospitals.entry(h).or_default() += 1;
    }
    assert!(
        (35..=40).contains(&hospitals.len()),
        "{} hospitals",
        hospitals.len()
    );
    let (max, min) = (
        hospitals.values().max().copied().unwrap_or(0),
        hospitals.values().min().copied().unwrap_or(1),
    );
    assert!(max >= 5 * min, "hospital skew {max}/{min}");
    assert!(m
        .column("hospital")
        .and_then(|c| c.public_domain.as_ref())
        .is_none());

    // Children are seen in paediatrics, never in obstetrics; men never in obstetrics.
    let r = table("residents");
    let ages = ints(&r, "age");
    let genders = strs(&r, "gender");
    let deps = strs(&b, "department");
    for i in 0..b.num_rows() {
        let p = (persons.value(i) - 1) as usize;
        if deps.value(i) == "妇产科" {
            assert!(genders.value(p) == "女" && ages.value(p) >= 14);
        }
    }
}

#[test]
fn enterprises_and_districts_are_valid() {
    let e = table("enterprises");
    assert_in_domain("enterprises", &e, "district", &DISTRICTS);
    assert_in_domain("enterprises", &e, "industry", &INDUSTRIES);
    let m = demo_manifest("enterprises").expect("manifest");
    for (column, arr) in [
        ("employees", ints(&e, "employees")),
        ("founded_year", ints(&e, "founded_year")),
    ] {
        let (lo, hi) = m.column(column).and_then(|c| c.bounds()).expect("bounds");
        for v in arr.values().iter() {
            assert!((lo..=hi).contains(&(*v as f64)), "{column} {v}");
        }
    }
    let (lo, hi) = m
        .column("registered_capital")
        .and_then(|c| c.bounds())
        .expect("bounds");
    for v in floats(&e, "registered_capital").values().iter() {
        assert!((lo..=hi).contains(v), "registered_capital {v}");
    }
    // Heavy tail of staff: most are small, a few are large.
    let staff = ints(&e, "employees");
    let small = staff.values().iter().filter(|&&s| s < 50).count() as f64 / e.num_rows() as f64;
    let max = staff.values().iter().copied().max().unwrap_or(0);
    assert!(small > 0.8 && max >= 300, "small share {small}, max {max}");

    // Credit codes: unique, 18 characters of the GB 32100 alphabet, valid check character.
    const CHARS: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
    const W: [usize; 17] = [
        1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
    ];
    let mut seen = HashSet::new();
    for code in strs(&e, "credit_code").iter().flatten() {
        assert!(seen.insert(code), "duplicate credit code {code}");
        let b = code.as_bytes();
        assert_eq!(b.len(), 18, "{code}");
        let val = |c: u8| {
            CHARS
                .iter()
                .position(|&x| x == c)
                .unwrap_or_else(|| panic!("{code}"))
        };
        let sum: usize = b[..17].iter().zip(W).map(|(&c, w)| val(c) * w).sum();
        assert_eq!(b[17], CHARS[(31 - sum % 31) % 31], "check of {code}");
    }

    let d = table("districts");
    assert_eq!(d.num_rows(), 12);
    assert_in_domain("districts", &d, "district", &DISTRICTS);
    let names: Vec<&str> = strs(&d, "district").iter().flatten().collect();
    assert_eq!(
        names, DISTRICTS,
        "one row per district, unique, in catalog order"
    );
    let areas = floats(&d, "area_km2");
    assert!(areas.values().iter().all(|a| (0.0..=30_000.0).contains(a)));
    assert_eq!(areas.value(0), 497.0);
    assert_eq!(areas.value(8), 4712.0);
    let pops = ints(&d, "population_2020");
    assert!(pops
        .values()
        .iter()
        .all(|p| (300_000..=1_100_000).contains(p)));
}

#[test]
fn is_generated_recognises_the_dataset() {
    let s = shared();
    assert!(is_generated(&s.path, N, SEED));
    assert!(!is_generated(&s.path, N + 1, SEED));
    assert!(!is_generated(&s.path, N, SEED + 1));
    assert!(!is_generated(s.path.join("missing"), N, SEED));
    assert_eq!(load_report(&s.path).expect("load"), s.report);
    // ensure_generated reuses the folder without rewriting it.
    let before = fs::metadata(s.path.join("residents.parquet"))
        .and_then(|m| m.modified())
        .expect("mtime");
    let again = ensure_generated(&GenerateOptions::new(N, &s.path, SEED)).expect("ensure");
    assert_eq!(again, s.report);
    let after = fs::metadata(s.path.join("residents.parquet"))
        .and_then(|m| m.modified())
        .expect("mtime");
    assert_eq!(before, after);
}

#[test]
fn deterministic_per_seed_and_tamper_evident() {
    let (a, b, c) = (
        tempfile::tempdir().expect("a"),
        tempfile::tempdir().expect("b"),
        tempfile::tempdir().expect("c"),
    );
    let n = 20_000;
    let ra = generate(&GenerateOptions::new(n, a.path(), 5)).expect("a");
    let rb = generate(&GenerateOptions::new(n, b.path(), 5)).expect("b");
    let rc = generate(&GenerateOptions::new(n, c.path(), 6)).expect("c");
    assert_eq!(
        ra.tables.iter().map(|t| t.bytes).collect::<Vec<_>>(),
        rb.tables.iter().map(|t| t.bytes).collect::<Vec<_>>()
    );
    for t in DEMO_TABLES {
        for ext in ["parquet", "toml"] {
            let f = format!("{t}.{ext}");
            assert!(
                fs::read(a.path().join(&f)).expect("a") == fs::read(b.path().join(&f)).expect("b"),
                "{f} differs for the same seed"
            );
        }
        let f = format!("{t}.parquet");
        let same =
            fs::read(a.path().join(&f)).expect("a") == fs::read(c.path().join(&f)).expect("c");
        // The districts lookup table is fixed; every generated table depends on the seed.
        assert_eq!(same, t == "districts", "{f} vs another seed");
    }
    assert_eq!(
        fs::read(a.path().join(DATASET_INFO_FILE)).expect("a"),
        fs::read(b.path().join(DATASET_INFO_FILE)).expect("b")
    );
    assert_ne!(rc.table("medical_visits").map(|t| t.rows), None);

    // Regenerating over an existing folder with other parameters replaces it cleanly.
    assert!(is_generated(c.path(), n, 6));
    generate(&GenerateOptions::new(n, c.path(), 5)).expect("regenerate");
    assert!(is_generated(c.path(), n, 5) && !is_generated(c.path(), n, 6));
    assert!(
        fs::read(a.path().join("residents.parquet")).expect("a")
            == fs::read(c.path().join("residents.parquet")).expect("c")
    );

    // A truncated or edited file is noticed.
    let p = a.path().join("enterprises.parquet");
    let mut bytes = fs::read(&p).expect("read");
    bytes.pop();
    fs::write(&p, &bytes).expect("write");
    assert!(!is_generated(a.path(), n, 5));
    let m = b.path().join("districts.toml");
    fs::write(&m, "name = \"districts\"\n").expect("write");
    assert!(!is_generated(b.path(), n, 5));
}

#[test]
fn tiny_dataset_still_has_heavy_visitor_and_ten_enterprises() {
    let d = tempfile::tempdir().expect("tmp");
    let r = generate(&GenerateOptions::new(1, d.path(), 3)).expect("generate");
    assert_eq!(r.table("residents").map(|t| t.rows), Some(1));
    assert_eq!(r.table("enterprises").map(|t| t.rows), Some(10));
    let v = read(&d.path().join("medical_visits.parquet"));
    assert!(v.num_rows() >= 200, "{} visits", v.num_rows());
    assert!(ints(&v, "person_id").values().iter().all(|&p| p == 1));
    // Visits never precede birth: compare with the resident's birth date.
    let res = read(&d.path().join("residents.parquet"));
    let id = strs(&res, "id_number").value(0).to_string();
    let birth: (i64, u32, u32) = (
        id[6..10].parse().expect("y"),
        id[10..12].parse().expect("m"),
        id[12..14].parse().expect("d"),
    );
    for day in dates(&v, "visit_date").values().iter() {
        assert!(
            civil(*day) >= birth,
            "visit {:?} before birth {birth:?}",
            civil(*day)
        );
    }
}
