//! The accumulator of [`super::bound_by_unit`]: interns keys, sums each run of a unit's
//! rows, clamps and samples a finished unit's keys, keeps the runs that touch a batch
//! boundary open, and checks the clustering property on every batch.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Int64Array, Int64Builder, ListArray, StructArray};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, FieldRef, Int64Type};
use arrow::row::{OwnedRow, RowConverter, SortField};
use datafusion::common::{DataFusionError, HashMap, Result, ScalarValue};
use datafusion::logical_expr::Accumulator;
use datafusion::physical_plan::aggregates::group_values::{new_group_values, GroupValues};
use datafusion::physical_plan::aggregates::order::GroupOrdering;
use rand::seq::index::sample;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::{not_clustered, BoundParams, BoundingOrder, PartialInput};

/// Per-key sums of one unit, not yet clamped.
#[derive(Debug, Default, Clone)]
struct UnitSums {
    keys: Vec<u32>,
    /// `keys.len()` rows of `partials.len()` sums.
    sums: Vec<i64>,
}

impl UnitSums {
    fn slot(&mut self, key: u32, width: usize) -> usize {
        match self.keys.iter().position(|k| *k == key) {
            Some(i) => i * width,
            None => {
                self.keys.push(key);
                self.sums.resize(self.sums.len() + width, 0);
                (self.keys.len() - 1) * width
            }
        }
    }

    fn clear(&mut self) {
        self.keys.clear();
        self.sums.clear();
    }
}

pub(super) struct BoundAccumulator {
    params: Arc<BoundParams>,
    item: FieldRef,
    key_types: Vec<DataType>,
    converter: Option<RowConverter>,
    /// DataFusion's vectorised interning of a batch's keys (specialised per key type).
    /// (In a mutex only to be `Sync`, as accumulators must be; reached with `get_mut`.)
    groups: Option<std::sync::Mutex<Box<dyn GroupValues>>>,
    /// Group id of `groups` → key id.
    group_keys: Vec<u32>,
    group_buf: Vec<usize>,
    key_index: HashMap<Box<[u8]>, u32>,
    key_rows: Vec<OwnedRow>,
    /// Per key: kept units, then each partial's bounded sum.
    totals: Vec<i64>,
    /// Units whose runs touch a batch boundary, merged at the end.
    open: HashMap<i64, UnitSums>,
    /// `[first, last]` unit of every batch seen.
    intervals: Vec<(i64, i64)>,
    run: UnitSums,
    ids: Vec<u32>,
}

impl std::fmt::Debug for BoundAccumulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundAccumulator").field("keys", &self.key_rows.len()).field("open", &self.open.len()).finish()
    }
}

impl BoundAccumulator {
    pub(super) fn new(params: Arc<BoundParams>, key_types: Vec<DataType>, item: FieldRef) -> Result<Self> {
        let (converter, groups) = if params.key_count == 0 {
            (None, None)
        } else {
            let sort = arrow::compute::SortOptions { descending: false, nulls_first: false };
            let converter = RowConverter::new(key_types.iter().map(|t| SortField::new_with_options(t.clone(), sort)).collect())?;
            let schema = arrow::datatypes::Schema::new(key_types.iter().enumerate().map(|(i, t)| Field::new(format!("k{i}"), t.clone(), true)).collect::<Vec<_>>());
            (Some(converter), Some(std::sync::Mutex::new(new_group_values(Arc::new(schema), &GroupOrdering::None)?)))
        };
        let mut acc = BoundAccumulator {
            params,
            item,
            key_types,
            converter,
            groups,
            group_keys: Vec::new(),
            group_buf: Vec::new(),
            key_index: HashMap::default(),
            key_rows: Vec::new(),
            totals: Vec::new(),
            open: HashMap::default(),
            intervals: Vec::new(),
            run: UnitSums::default(),
            ids: Vec::new(),
        };
        if acc.params.key_count == 0 {
            acc.totals.resize(acc.params.stride(), 0);
        }
        Ok(acc)
    }

    fn key_id(&mut self, row: arrow::row::Row<'_>) -> u32 {
        if let Some(id) = self.key_index.get(row.as_ref()) {
            return *id;
        }
        let id = self.key_rows.len() as u32;
        self.key_index.insert(row.as_ref().into(), id);
        self.key_rows.push(row.owned());
        self.totals.resize(self.totals.len() + self.params.stride(), 0);
        id
    }

    /// Key ids of a batch's rows (none without keys). Keys are interned per batch with
    /// DataFusion's vectorised group values; only a key seen for the first time is converted
    /// to its row form (the form states are merged and ordered by).
    fn key_ids(&mut self, keys: &[ArrayRef]) -> Result<()> {
        self.ids.clear();
        let (Some(conv), Some(groups)) = (&self.converter, self.groups.as_mut()) else {
            return Ok(());
        };
        let groups = groups.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner());
        let before = groups.len();
        groups.intern(keys, &mut self.group_buf)?;
        let after = groups.len();
        if after > before {
            let mut first = vec![u32::MAX; after - before];
            for (r, g) in self.group_buf.iter().enumerate() {
                if *g >= before && first[*g - before] == u32::MAX {
                    first[*g - before] = r as u32;
                }
            }
            let at = arrow::array::UInt32Array::from(first);
            let taken = keys.iter().map(|k| arrow::compute::take(k.as_ref(), &at, None)).collect::<std::result::Result<Vec<_>, _>>()?;
            let rows = conv.convert_columns(&taken)?;
            for r in rows.iter() {
                let id = self.key_id(r);
                self.group_keys.push(id);
            }
        }
        let group_keys = &self.group_keys;
        self.ids.extend(self.group_buf.iter().map(|g| group_keys[*g]));
        Ok(())
    }

    /// Clamps, selects and adds one whole unit's (`id`'s) sums to the totals.
    fn close(&mut self, id: i64, unit: &mut UnitSums) {
        let width = self.params.partials.len();
        let stride = self.params.stride();
        for (i, _) in unit.keys.iter().enumerate() {
            for (p, (_, lo, hi)) in self.params.partials.iter().enumerate() {
                let s = &mut unit.sums[i * width + p];
                *s = (*s).clamp(*lo, *hi);
            }
        }
        let n = unit.keys.len();
        let keep = self.params.max_groups.unwrap_or(n).min(n);
        let add = |acc: &mut Vec<i64>, i: usize| {
            let base = unit.keys[i] as usize * stride;
            acc[base] += 1;
            for p in 0..width {
                acc[base + 1 + p] += unit.sums[i * width + p];
            }
        };
        if keep == n {
            for i in 0..n {
                add(&mut self.totals, i);
            }
        } else {
            // The unit's keys in key order: what is kept then depends only on the unit's
            // data (and the seed), not on the order its rows and states arrived in.
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_by(|a, b| self.key_rows[unit.keys[*a] as usize].cmp(&self.key_rows[unit.keys[*b] as usize]));
            match self.params.order {
                BoundingOrder::Random => {
                    let mut rng = unit_rng(&self.params.seed, id);
                    for i in sample(&mut rng, n, keep) {
                        add(&mut self.totals, order[i]);
                    }
                }
                BoundingOrder::ByKey => {
                    for i in order.into_iter().take(keep) {
                        add(&mut self.totals, i);
                    }
                }
            }
        }
        unit.clear();
    }

    fn merge_open(&mut self, unit: i64, sums: &UnitSums) {
        let width = self.params.partials.len();
        let entry = self.open.entry(unit).or_default();
        for (i, k) in sums.keys.iter().enumerate() {
            let at = entry.slot(*k, width);
            for p in 0..width {
                entry.sums[at + p] += sums.sums[i * width + p];
            }
        }
    }

    fn check_intervals(&mut self) -> Result<()> {
        self.intervals.sort_unstable();
        if self.intervals.windows(2).any(|w| w[0].1 > w[1].0) {
            return Err(not_clustered());
        }
        Ok(())
    }

    fn encode(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let put = |out: &mut Vec<u8>, v: u64| out.extend_from_slice(&v.to_le_bytes());
        put(&mut out, self.key_rows.len() as u64);
        for r in &self.key_rows {
            let bytes = r.row();
            put(&mut out, bytes.as_ref().len() as u64);
            out.extend_from_slice(bytes.as_ref());
        }
        for t in &self.totals {
            put(&mut out, *t as u64);
        }
        put(&mut out, self.open.len() as u64);
        for (unit, s) in &self.open {
            put(&mut out, *unit as u64);
            put(&mut out, s.keys.len() as u64);
            for k in &s.keys {
                put(&mut out, *k as u64);
            }
            for v in &s.sums {
                put(&mut out, *v as u64);
            }
        }
        put(&mut out, self.intervals.len() as u64);
        for (a, b) in &self.intervals {
            put(&mut out, *a as u64);
            put(&mut out, *b as u64);
        }
        Ok(out)
    }

    fn merge_encoded(&mut self, bytes: &[u8]) -> Result<()> {
        let mut r = Reader { bytes, at: 0 };
        let width = self.params.partials.len();
        let stride = self.params.stride();
        let nkeys = r.usize()?;
        let mut remap = Vec::with_capacity(nkeys);
        for _ in 0..nkeys {
            let len = r.usize()?;
            let row = r.take(len)?;
            let id = match self.key_index.get(row) {
                Some(id) => *id,
                None => {
                    let conv = self.converter.as_ref().ok_or_else(|| DataFusionError::Internal("bound_by_unit: keys without converter".into()))?;
                    let parser = conv.parser();
                    let parsed = parser.parse(row);
                    self.key_id(parsed)
                }
            };
            remap.push(id as usize);
        }
        let own_keys = if self.params.key_count == 0 { 1 } else { nkeys };
        for k in 0..own_keys {
            let base = if self.params.key_count == 0 { 0 } else { remap[k] * stride };
            for j in 0..stride {
                self.totals[base + j] += r.i64()?;
            }
        }
        let nopen = r.usize()?;
        for _ in 0..nopen {
            let unit = r.i64()?;
            let n = r.usize()?;
            let mut s = UnitSums::default();
            for _ in 0..n {
                let k = r.usize()?;
                s.keys.push(if self.params.key_count == 0 { 0 } else { remap[k] as u32 });
            }
            for _ in 0..n * width {
                s.sums.push(r.i64()?);
            }
            self.merge_open(unit, &s);
        }
        let nint = r.usize()?;
        for _ in 0..nint {
            let a = r.i64()?;
            let b = r.i64()?;
            self.intervals.push((a, b));
        }
        Ok(())
    }
}

/// The random stream of one unit: ChaCha20 keyed by the job's seed, on the unit's own
/// stream, so every unit's draw is independent and reproducible.
fn unit_rng(seed: &[u8; 32], unit: i64) -> ChaCha20Rng {
    let mut rng = ChaCha20Rng::from_seed(*seed);
    rng.set_stream(unit as u64);
    rng
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let s = self.bytes.get(self.at..self.at + n).ok_or_else(|| DataFusionError::Internal("bound_by_unit: truncated state".into()))?;
        self.at += n;
        Ok(s)
    }
    fn i64(&mut self) -> Result<i64> {
        let b = self.take(8)?;
        Ok(i64::from_le_bytes(b.try_into().expect("eight bytes")))
    }
    fn usize(&mut self) -> Result<usize> {
        usize::try_from(self.i64()?).map_err(|_| DataFusionError::Internal("bound_by_unit: corrupt state".into()))
    }
}

impl BoundAccumulator {
    /// The no-key case. The runs touching the batch's edges stay open (they may continue in
    /// another batch); every run strictly inside is a whole unit, clamped and added.
    ///
    /// Clamping a run changes nothing when the run is short enough: a run of `k` rows whose
    /// values lie in the batch's `[min, max]` sums into `[k·min, k·max]`, inside the clamp
    /// range `[l, h]` for every `k ≤ k_ok` (computed per partial from the batch's own
    /// minimum and maximum, so nothing is assumed about the values). Since units are sorted,
    /// a run longer than `k_ok` exists exactly where `u[i] == u[i + k_ok]`. So the interior
    /// is summed with whole-slice kernels, and only the rare long runs are summed apart,
    /// clamped, and put in place of their raw sums.
    fn update_global(&mut self, u: &[i64], cols: &[Column<'_>]) {
        let n = u.len();
        let width = cols.len();
        // First run [0, a), last run [b, n); interior [a, b).
        let a = u.partition_point(|x| *x <= u[0]);
        let b = if a == n { n } else { u.partition_point(|x| *x < u[n - 1]) };
        let first: Vec<i64> = cols.iter().map(|c| c.sum(0, a)).collect();
        self.merge_open(u[0], &UnitSums { keys: vec![0], sums: first });
        if a == n {
            return;
        }
        let last: Vec<i64> = cols.iter().map(|c| c.sum(b, n)).collect();
        self.merge_open(u[n - 1], &UnitSums { keys: vec![0], sums: last });
        if a >= b {
            return;
        }
        let inner = &u[a..b];
        let units = 1 + inner.iter().zip(&inner[1..]).filter(|(x, y)| x != y).count() as i64;
        let bounds: Vec<(i64, i64)> = self.params.partials.iter().map(|(_, lo, hi)| (*lo, *hi)).collect();
        let k_ok = cols.iter().zip(&bounds).map(|(c, (l, h))| c.safe_run_length(a, b, *l, *h)).min().unwrap_or(usize::MAX);
        let mut totals: Vec<i64> = cols.iter().map(|c| c.sum(a, b)).collect();
        if k_ok < inner.len() {
            // Long runs: replace each one's raw sums by its clamped sums.
            let mut i = 0;
            while let Some(off) = if k_ok == 0 { (i < inner.len()).then_some(0) } else { first_equal(&inner[i..], &inner[i + k_ok..]) } {
                let unit = inner[i + off];
                let s = a + inner.partition_point(|x| *x < unit);
                let e = a + inner.partition_point(|x| *x <= unit);
                for (p, c) in cols.iter().enumerate() {
                    let raw = c.sum(s, e);
                    totals[p] += raw.clamp(bounds[p].0, bounds[p].1) - raw;
                }
                i = e - a;
                if k_ok > 0 && i + k_ok >= inner.len() {
                    break;
                }
            }
        }
        self.totals[0] += units;
        for (t, d) in self.totals[1..].iter_mut().zip(totals) {
            *t += d;
        }
        debug_assert_eq!(width + 1, self.totals.len());
    }
}

/// The first `i` with `a[i] == b[i]`, scanning 64 pairs at a time with a branch-free
/// comparison (vectorised), then locating the hit inside the block.
fn first_equal(a: &[i64], b: &[i64]) -> Option<usize> {
    let n = a.len().min(b.len());
    let mut at = 0;
    while at < n {
        let end = (at + 64).min(n);
        let mask = a[at..end].iter().zip(&b[at..end]).enumerate().fold(0u64, |m, (j, (x, y))| m | (u64::from(x == y) << j));
        if mask != 0 {
            return Some(at + mask.trailing_zeros() as usize);
        }
        at = end;
    }
    None
}

/// A partial's argument, resolved once per batch.
enum Column<'a> {
    Rows,
    Where(&'a BooleanArray),
    Value(&'a Int64Array),
}

impl Column<'_> {
    /// The sum of rows `[s, e)` (nulls and false conditions add nothing).
    fn sum(&self, s: usize, e: usize) -> i64 {
        match self {
            Column::Rows => (e - s) as i64,
            Column::Where(b) => BooleanArray::slice(b, s, e - s).true_count() as i64,
            Column::Value(v) => {
                let part = Int64Array::slice(v, s, e - s);
                if part.null_count() == 0 {
                    part.values().iter().sum()
                } else {
                    arrow::compute::sum(&part).unwrap_or(0)
                }
            }
        }
    }

    /// The longest run length `k` for which any `k` rows of `[s, e)` sum into `[l, h]`
    /// (0 when even one row may not).
    fn safe_run_length(&self, s: usize, e: usize, l: i64, h: i64) -> usize {
        let (mn, mx) = match self {
            Column::Rows => (1, 1),
            Column::Where(_) => (0, 1),
            Column::Value(v) => {
                // Over all slots, nulls included: a null's slot holds some value, so this may
                // only widen the range (a null itself adds 0, hence 0 is included then).
                let (mn, mx) = v.values()[s..e].iter().fold((i64::MAX, i64::MIN), |(a, b), x| (a.min(*x), b.max(*x)));
                if v.null_count() > 0 { (mn.min(0), mx.max(0)) } else { (mn, mx) }
            }
        };
        // k rows sum into [k·mn, k·mx]: for mx > 0 that stays ≤ h while k ≤ h / mx, for
        // mx ≤ 0 it is largest at k = 1; the same, mirrored, for the lower side.
        let up = if mx <= 0 {
            if mx <= h { usize::MAX } else { 0 }
        } else if h < mx {
            0
        } else {
            (h / mx) as usize
        };
        let down = if mn >= 0 {
            if mn >= l { usize::MAX } else { 0 }
        } else if l > mn {
            0
        } else {
            (l / mn) as usize
        };
        up.min(down)
    }

    #[inline]
    fn at(&self, r: usize) -> i64 {
        match self {
            Column::Rows => 1,
            Column::Where(b) => i64::from(b.is_valid(r) && b.value(r)),
            Column::Value(v) => {
                if v.is_valid(r) {
                    v.value(r)
                } else {
                    0
                }
            }
        }
    }
}

impl Accumulator for BoundAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let n = values.first().map(|a| a.len()).unwrap_or(0);
        if n == 0 {
            return Ok(());
        }
        let units = values[0].as_primitive_opt::<Int64Type>().ok_or_else(not_clustered)?;
        if units.null_count() > 0 {
            return Err(not_clustered());
        }
        let u = units.values();
        // A branch-free fold the compiler vectorises: this check runs on every row.
        if u.iter().zip(&u[1..]).fold(false, |acc, (x, y)| acc | (x > y)) {
            return Err(not_clustered());
        }
        self.intervals.push((u[0], u[n - 1]));
        let kc = self.params.key_count;
        self.key_ids(&values[1..1 + kc])?;
        let mut args = values[1 + kc..].iter();
        let mut cols = Vec::with_capacity(self.params.partials.len());
        for (input, _, _) in &self.params.partials {
            cols.push(match input {
                PartialInput::Rows => Column::Rows,
                PartialInput::Where => Column::Where(
                    args.next().and_then(|a| a.as_boolean_opt()).ok_or_else(|| DataFusionError::Internal("bound_by_unit: condition argument".into()))?,
                ),
                PartialInput::Value => Column::Value(
                    args.next()
                        .and_then(|a| a.as_primitive_opt::<Int64Type>())
                        .ok_or_else(|| DataFusionError::Internal("bound_by_unit: value argument".into()))?,
                ),
            });
        }
        let width = cols.len();
        if kc == 0 {
            self.update_global(u, &cols);
            return Ok(());
        }
        let mut run = std::mem::take(&mut self.run);
        let mut start = 0;
        for end in 1..=n {
            if end < n && u[end] == u[start] {
                continue;
            }
            {
                for r in start..end {
                    let at = run.slot(self.ids[r], width);
                    for (p, c) in cols.iter().enumerate() {
                        run.sums[at + p] += c.at(r);
                    }
                }
            }
            if start == 0 || end == n {
                self.merge_open(u[start], &run);
                run.clear();
            } else {
                self.close(u[start], &mut run);
            }
            start = end;
        }
        self.run = run;
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let Some(arr) = states.first() else { return Ok(()) };
        let bin: &BinaryArray = arr.as_binary_opt().ok_or_else(|| DataFusionError::Internal("bound_by_unit: state type".into()))?;
        for i in 0..bin.len() {
            if bin.is_valid(i) {
                self.merge_encoded(bin.value(i))?;
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Binary(Some(self.encode()?))])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.check_intervals()?;
        let open: Vec<(i64, UnitSums)> = self.open.drain().collect();
        for (unit, mut s) in open {
            self.close(unit, &mut s);
        }
        let stride = self.params.stride();
        // Keys no kept unit has are not output: their existence came from dropped rows.
        let kept: Vec<usize> = if self.params.key_count == 0 {
            vec![0]
        } else {
            (0..self.key_rows.len()).filter(|k| self.totals[k * stride] > 0).collect()
        };
        let mut columns: Vec<ArrayRef> = Vec::new();
        if let Some(conv) = &self.converter {
            let rows: Vec<_> = kept.iter().map(|k| self.key_rows[*k].row()).collect();
            columns.extend(conv.convert_rows(rows)?);
        }
        let column = |j: usize| -> ArrayRef {
            let mut b = Int64Builder::with_capacity(kept.len());
            for k in &kept {
                b.append_value(self.totals[k * stride + j]);
            }
            Arc::new(b.finish())
        };
        if self.params.units_column.is_some() {
            columns.push(column(0));
        }
        for p in 0..self.params.partials.len() {
            columns.push(column(p + 1));
        }
        let DataType::Struct(fields) = self.item.data_type() else {
            return Err(DataFusionError::Internal("bound_by_unit: item type".into()));
        };
        debug_assert_eq!(self.key_types.len(), self.params.key_count);
        let items = StructArray::try_new(fields.clone(), columns, None)?;
        let list = ListArray::try_new(self.item.clone(), OffsetBuffer::from_lengths([kept.len()]), Arc::new(items), None)?;
        Ok(ScalarValue::List(Arc::new(list)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self.totals.capacity() * 8
            + self.key_rows.iter().map(|r| r.as_ref().len() * 2 + 48).sum::<usize>()
            + self.open.len() * 64
            + self.intervals.capacity() * 16
    }
}
