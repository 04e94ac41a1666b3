//! Row generators of the four demo tables, one chunk at a time.
//!
//! A chunk is a fixed range of units (persons or enterprises). Each chunk draws from its own
//! ChaCha stream, seeded from (dataset seed, table, chunk index), so its content does not
//! depend on which thread made it or in which order.

use std::fmt::Write as _;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int64Array, Int64Builder,
    StringBuilder,
};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use super::rng::{Stream, Weighted};
use super::words::*;
use crate::demo::{DEPARTMENTS, DISTRICTS, GENDERS, INDUSTRIES};
use crate::DatasetsError;

/// Units (persons, enterprises) per chunk.
pub(crate) const CHUNK_UNITS: u64 = 65_536;

/// Stream tags: one per generated table.
const TAG_RESIDENTS: u64 = 1;
const TAG_VISITS: u64 = 2;
const TAG_ENTERPRISES: u64 = 3;
const TAG_CODES: u64 = 4;

/// Reference day of ages: 2025-12-31.
const REFERENCE_YEAR: i64 = 2025;
/// Probability that a person is a heavy hospital user (200-500 visits).
const HEAVY_VISITOR_RATE: f64 = 0.0001;
/// Probability that a raw visit cost is dirty (above the declared bound of 50 000).
pub(crate) const DIRTY_COST_RATE: f64 = 0.001;
/// Declared upper bound of `medical_visits.cost`.
pub(crate) const COST_UPPER: f64 = 50_000.0;

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Civil date of a day count since 1970-01-01.
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// First day of the visit window (2023-01-01), days since the epoch.
pub(crate) fn visits_first_day() -> i64 {
    days_from_civil(2023, 1, 1)
}

/// Last day of the visit window (2025-12-31), days since the epoch.
pub(crate) fn visits_last_day() -> i64 {
    days_from_civil(2025, 12, 31)
}

/// Check character of an 18-character resident identity number (GB 11643).
pub(crate) fn id_check_char(first17: &[u8]) -> char {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const C: &[u8; 11] = b"10X98765432";
    let sum: u32 = first17
        .iter()
        .zip(W)
        .map(|(b, w)| u32::from(b.wrapping_sub(b'0')) * w)
        .sum();
    C[(sum % 11) as usize] as char
}

/// Character set of unified social credit codes (GB 32100).
const USCC_CHARS: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

fn uscc_value(c: u8) -> Option<u32> {
    USCC_CHARS.iter().position(|&x| x == c).map(|p| p as u32)
}

/// Check character of an 18-character unified social credit code (GB 32100), or `None`
/// if a character is outside the code's alphabet.
pub(crate) fn uscc_check_char(first17: &[u8]) -> Option<char> {
    const W: [u32; 17] = [
        1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
    ];
    let mut sum = 0u32;
    for (&c, w) in first17.iter().zip(W) {
        sum += uscc_value(c)? * w;
    }
    let v = (31 - sum % 31) % 31;
    Some(USCC_CHARS[v as usize] as char)
}

/// Check character of a 9-character organisation code (GB 11714) from its 8-digit body.
fn org_check_char(body: &[u8; 8]) -> char {
    const W: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .iter()
        .zip(W)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    match 11 - sum % 11 {
        10 => 'X',
        11 => '0',
        v => char::from(b'0' + v as u8),
    }
}

/// Shared, read-only sampling tables.
pub(crate) struct Context {
    seed: u64,
    resident_districts: Weighted,
    enterprise_districts: Weighted,
    surnames: Weighted,
    hospitals_global: Weighted,
    hospitals_local: Vec<Vec<usize>>,
    departments_child: Weighted,
    departments_male: Weighted,
    departments_female: Weighted,
    industries: Weighted,
    /// Offset of the enterprise code scramble, drawn from the seed.
    code_offset: u64,
}

impl Context {
    pub(crate) fn new(seed: u64) -> Self {
        let surname_weights: Vec<u64> = SURNAMES.iter().map(|(_, w)| *w).collect();
        let mut hospitals_local = vec![Vec::new(); DISTRICTS.len()];
        for (i, (_, d)) in HOSPITALS.iter().enumerate() {
            if let Some(d) = d {
                hospitals_local[*d].push(i);
            }
        }
        let department = |child: bool, male: bool| {
            let mut w = DEPARTMENT_WEIGHTS;
            let idx = |name: &str| DEPARTMENTS.iter().position(|d| *d == name).unwrap_or(0);
            if child {
                w[idx("儿科")] = 900;
                w[idx("妇产科")] = 0;
                w[idx("骨科")] /= 2;
            } else {
                w[idx("儿科")] = 0;
                if male {
                    w[idx("妇产科")] = 0;
                }
            }
            Weighted::new(&w)
        };
        let code_offset = Stream::new(seed, TAG_CODES, 0).below(100_000_000);
        Context {
            seed,
            resident_districts: Weighted::new(&DISTRICT_RESIDENT_WEIGHTS),
            enterprise_districts: Weighted::new(&DISTRICT_ENTERPRISE_WEIGHTS),
            surnames: Weighted::new(&surname_weights),
            hospitals_global: Weighted::zipf(HOSPITALS.len(), 0.9),
            hospitals_local,
            departments_child: department(true, false),
            departments_male: department(false, true),
            departments_female: department(false, false),
            industries: Weighted::new(&INDUSTRY_WEIGHTS),
            code_offset,
        }
    }
}

fn round_cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn batch(schema: &SchemaRef, columns: Vec<ArrayRef>) -> Result<RecordBatch, DatasetsError> {
    RecordBatch::try_new(schema.clone(), columns).map_err(|e| DatasetsError::Write(e.to_string()))
}

/// Visits of one chunk of persons, without their `visit_id` (assigned in write order).
pub(crate) struct VisitColumns {
    person_id: ArrayRef,
    visit_date: ArrayRef,
    hospital: ArrayRef,
    department: ArrayRef,
    cost: ArrayRef,
    rows: u64,
}

impl VisitColumns {
    /// Number of visits.
    pub(crate) fn rows(&self) -> u64 {
        self.rows
    }

    /// The record batch, numbering visits from `first_visit_id`.
    pub(crate) fn into_batch(
        self,
        schema: &SchemaRef,
        first_visit_id: i64,
    ) -> Result<RecordBatch, DatasetsError> {
        let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(
            first_visit_id..first_visit_id + self.rows as i64,
        ));
        batch(
            schema,
            vec![
                ids,
                self.person_id,
                self.visit_date,
                self.hospital,
                self.department,
                self.cost,
            ],
        )
    }
}

/// One chunk of persons: their `residents` rows and their `medical_visits` rows.
pub(crate) struct PersonChunk {
    pub(crate) residents: RecordBatch,
    pub(crate) visits: VisitColumns,
}

/// What the visits generator needs to know of a person.
struct Person {
    district: usize,
    male: bool,
    age: i64,
    birth_day: i64,
}

/// Generates persons `first..first+count` (1-based ids) of chunk `chunk`.
pub(crate) fn person_chunk(
    ctx: &Context,
    chunk: u64,
    first: u64,
    count: u64,
    residents_schema: &SchemaRef,
) -> Result<PersonChunk, DatasetsError> {
    let n = count as usize;
    let mut rs = Stream::new(ctx.seed, TAG_RESIDENTS, chunk);
    let mut person_id = Int64Builder::with_capacity(n);
    let mut name = StringBuilder::with_capacity(n, n * 9);
    let mut id_number = StringBuilder::with_capacity(n, n * 18);
    let mut district = StringBuilder::with_capacity(n, n * 9);
    let mut gender = StringBuilder::with_capacity(n, n * 3);
    let mut age_b = Int64Builder::with_capacity(n);
    let mut income_b = Float64Builder::with_capacity(n);
    let mut employed_b = BooleanBuilder::with_capacity(n);
    let mut persons = Vec::with_capacity(n);
    let mut text = String::with_capacity(32);

    for i in 0..count {
        let id = first + i;
        let d = ctx.resident_districts.sample(&mut rs);
        let male = rs.chance(0.5);
        let age = (40.0 + 22.0 * rs.normal()).round().clamp(0.0, 100.0) as i64;
        let birth_year = REFERENCE_YEAR - age;
        let year_start = days_from_civil(birth_year, 1, 1);
        let year_len = days_from_civil(birth_year + 1, 1, 1) - year_start;
        let birth_day = year_start + rs.below(year_len as u64) as i64;

        // Name: surname and one or two given-name characters.
        text.clear();
        text.push_str(SURNAMES[ctx.surnames.sample(&mut rs)].0);
        let given = if male { GIVEN_MALE } else { GIVEN_FEMALE };
        let two = rs.chance(if age < 40 { 0.8 } else { 0.6 });
        text.push_str(given[rs.below(given.len() as u64) as usize]);
        if two {
            text.push_str(given[rs.below(given.len() as u64) as usize]);
        }
        name.append_value(&text);

        // Identity number: region, birth date, sequence (odd for men), check character.
        let (y, m, dd) = civil_from_days(birth_day);
        let seq = rs.below(500) * 2 + u64::from(male);
        text.clear();
        let _ = write!(text, "{}{y:04}{m:02}{dd:02}{seq:03}", DISTRICT_CODES[d]);
        let check = id_check_char(text.as_bytes());
        text.push(check);
        id_number.append_value(&text);

        // Work and income.
        let employed = (18..=67).contains(&age) && rs.chance(0.72);
        let income = if employed {
            rs.log_normal(42_000.0, 0.6)
        } else if age < 16 || rs.chance(0.5) {
            0.0
        } else {
            rs.log_normal(6_000.0, 0.8)
        };
        let income = round_cents(income.clamp(0.0, 200_000.0));

        person_id.append_value(id as i64);
        district.append_value(DISTRICTS[d]);
        gender.append_value(GENDERS[usize::from(!male)]);
        age_b.append_value(age);
        income_b.append_value(income);
        employed_b.append_value(employed);
        persons.push(Person {
            district: d,
            male,
            age,
            birth_day,
        });
    }

    let residents = batch(
        residents_schema,
        vec![
            Arc::new(person_id.finish()),
            Arc::new(name.finish()),
            Arc::new(id_number.finish()),
            Arc::new(district.finish()),
            Arc::new(gender.finish()),
            Arc::new(age_b.finish()),
            Arc::new(income_b.finish()),
            Arc::new(employed_b.finish()),
        ],
    )?;
    let visits = visits_of(ctx, chunk, first, &persons);
    Ok(PersonChunk { residents, visits })
}

/// Mean number of visits per year of age band (before the per-person frailty factor).
fn visit_rate(age: i64) -> f64 {
    match age {
        0..=5 => 4.0,
        6..=17 => 2.0,
        18..=44 => 2.0,
        45..=64 => 3.2,
        _ => 5.5,
    }
}

fn visits_of(ctx: &Context, chunk: u64, first: u64, persons: &[Person]) -> VisitColumns {
    let mut vs = Stream::new(ctx.seed, TAG_VISITS, chunk);
    let cap = persons.len() * 3 + 1024;
    let mut person_id = Int64Builder::with_capacity(cap);
    let mut visit_date = Date32Builder::with_capacity(cap);
    let mut hospital = StringBuilder::with_capacity(cap, cap * 21);
    let mut department = StringBuilder::with_capacity(cap, cap * 6);
    let mut cost = Float64Builder::with_capacity(cap);
    let (window_start, window_end) = (visits_first_day(), visits_last_day());
    let mut days: Vec<i64> = Vec::new();
    let mut rows = 0u64;

    for (i, p) in persons.iter().enumerate() {
        let id = first + i as u64;
        let heavy = vs.chance(HEAVY_VISITOR_RATE) || id == 1;
        let n = if heavy {
            vs.range(200, 500) as u64
        } else {
            let frailty = 0.4 + vs.exponential(0.6);
            vs.poisson(visit_rate(p.age) * frailty).min(60)
        };
        if n == 0 {
            continue;
        }
        let start = window_start.max(p.birth_day);
        days.clear();
        days.extend((0..n).map(|_| vs.range(start, window_end)));
        days.sort_unstable();
        let local = &ctx.hospitals_local[p.district];
        let departments = if p.age < 14 {
            &ctx.departments_child
        } else if p.male {
            &ctx.departments_male
        } else {
            &ctx.departments_female
        };
        for &day in &days {
            let h = if !local.is_empty() && vs.chance(0.4) {
                local[vs.below(local.len() as u64) as usize]
            } else {
                ctx.hospitals_global.sample(&mut vs)
            };
            let dep = departments.sample(&mut vs);
            let dep_name = DEPARTMENTS[dep];
            let raw = if vs.chance(DIRTY_COST_RATE) {
                // Dirty data: a value above the declared bound the engine must clamp.
                COST_UPPER + 0.01 + vs.unit() * COST_UPPER
            } else {
                let inpatient = if matches!(dep_name, "外科" | "骨科" | "妇产科") {
                    0.15
                } else {
                    0.05
                };
                let c = if vs.chance(inpatient) {
                    vs.log_normal(12_000.0, 0.7)
                } else {
                    let scale = if dep_name == "急诊科" { 1.6 } else { 1.0 };
                    vs.log_normal(260.0 * scale, 0.9)
                };
                c.clamp(5.0, COST_UPPER)
            };
            person_id.append_value(id as i64);
            visit_date.append_value(day as i32);
            hospital.append_value(HOSPITALS[h].0);
            department.append_value(dep_name);
            cost.append_value(round_cents(raw));
            rows += 1;
        }
    }
    VisitColumns {
        person_id: Arc::new(person_id.finish()),
        visit_date: Arc::new(visit_date.finish()),
        hospital: Arc::new(hospital.finish()),
        department: Arc::new(department.finish()),
        cost: Arc::new(cost.finish()),
        rows,
    }
}

/// Generates enterprises `first..first+count` (0-based index) of chunk `chunk`.
pub(crate) fn enterprise_chunk(
    ctx: &Context,
    chunk: u64,
    first: u64,
    count: u64,
    schema: &SchemaRef,
) -> Result<RecordBatch, DatasetsError> {
    let n = count as usize;
    let mut es = Stream::new(ctx.seed, TAG_ENTERPRISES, chunk);
    let mut credit_code = StringBuilder::with_capacity(n, n * 18);
    let mut name = StringBuilder::with_capacity(n, n * 30);
    let mut district = StringBuilder::with_capacity(n, n * 9);
    let mut industry = StringBuilder::with_capacity(n, n * 15);
    let mut capital = Float64Builder::with_capacity(n);
    let mut employees = Int64Builder::with_capacity(n);
    let mut founded = Int64Builder::with_capacity(n);
    let mut text = String::with_capacity(64);

    for i in 0..count {
        let index = first + i;
        let d = ctx.enterprise_districts.sample(&mut es);
        let ind = ctx.industries.sample(&mut es);
        let words = INDUSTRY_WORDS[ind];
        let business = words[es.below(words.len() as u64) as usize];
        let cooperative = business.ends_with("合作社");

        // Unified social credit code: authority and type, region, organisation code, check.
        // The 8-digit organisation body is a bijection of the index, so codes are unique.
        let body_num = (index.wrapping_mul(48_271) + ctx.code_offset) % 100_000_000;
        let mut body = [0u8; 8];
        let digits = format!("{body_num:08}");
        body.copy_from_slice(digits.as_bytes());
        text.clear();
        text.push_str(if cooperative { "93" } else { "91" });
        text.push_str(DISTRICT_CODES[d]);
        text.push_str(&digits);
        text.push(org_check_char(&body));
        let check = uscc_check_char(text.as_bytes()).unwrap_or('0');
        text.push(check);
        credit_code.append_value(&text);

        // Registered name.
        text.clear();
        text.push_str(if es.chance(0.7) {
            "长春"
        } else {
            "吉林省"
        });
        text.push_str(TRADE_WORDS[es.below(TRADE_WORDS.len() as u64) as usize]);
        text.push_str(business);
        if !cooperative {
            text.push_str(if es.chance(0.05) {
                "股份有限公司"
            } else {
                "有限公司"
            });
        }
        name.append_value(&text);

        // Size: heavy-tailed staff, capital growing with staff, founding year skewed recent.
        let staff = if es.chance(0.05) {
            0
        } else {
            (es.pareto(3.0, 1.1).floor() as i64 - 2).clamp(1, 10_000)
        };
        let median = 500_000.0 * ((staff + 1) as f64).sqrt();
        let cap = es.log_normal(median, 1.2).clamp(10_000.0, 100_000_000.0);
        let cap = ((cap / 1000.0).round() * 1000.0).min(100_000_000.0);
        let year = if es.chance(0.03) {
            es.range(1949, 1995)
        } else {
            (2026 - es.exponential(9.0).floor() as i64).max(1949)
        };

        district.append_value(DISTRICTS[d]);
        industry.append_value(INDUSTRIES[ind]);
        capital.append_value(cap);
        employees.append_value(staff);
        founded.append_value(year);
    }
    batch(
        schema,
        vec![
            Arc::new(credit_code.finish()),
            Arc::new(name.finish()),
            Arc::new(district.finish()),
            Arc::new(industry.finish()),
            Arc::new(capital.finish()),
            Arc::new(employees.finish()),
            Arc::new(founded.finish()),
        ],
    )
}

/// The 12 rows of `districts`.
pub(crate) fn districts_batch(schema: &SchemaRef) -> Result<RecordBatch, DatasetsError> {
    let mut name = StringBuilder::new();
    let mut area = Float64Builder::new();
    let mut population = Int64Builder::new();
    for (i, d) in DISTRICTS.iter().enumerate() {
        name.append_value(d);
        area.append_value(DISTRICT_AREA_KM2[i]);
        population.append_value(DISTRICT_POPULATION_2020[i]);
    }
    batch(
        schema,
        vec![
            Arc::new(name.finish()),
            Arc::new(area.finish()),
            Arc::new(population.finish()),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_round_trips() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2023, 1, 1), 19_358);
        assert_eq!(days_from_civil(2025, 12, 31), 20_453);
        for z in [-50_000, -1, 0, 59, 60, 19_358, 20_453, 40_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(civil_from_days(days_from_civil(2000, 2, 29)), (2000, 2, 29));
    }

    #[test]
    fn check_characters_match_known_codes() {
        // GB 11643 example: 11010519491231002X.
        assert_eq!(id_check_char(b"11010519491231002"), 'X');
        // A published unified social credit code: 91350100M000100Y43.
        assert_eq!(uscc_check_char(b"91350100M000100Y4"), Some('3'));
        assert_eq!(uscc_check_char(b"9135010IM000100Y4"), None);
    }

    #[test]
    fn lookup_tables_are_consistent() {
        assert_eq!(DISTRICT_CODES.len(), DISTRICTS.len());
        assert_eq!(DISTRICT_POPULATION_2020.iter().sum::<i64>(), 9_066_906);
        let (max, min) = (
            DISTRICT_RESIDENT_WEIGHTS.iter().max().copied().unwrap_or(0),
            DISTRICT_RESIDENT_WEIGHTS.iter().min().copied().unwrap_or(1),
        );
        assert_eq!(max / min, 10);
        assert_eq!(HOSPITALS.len(), 40);
        assert!(HOSPITALS
            .iter()
            .all(|(_, d)| d.is_none_or(|d| d < DISTRICTS.len())));
    }
}
