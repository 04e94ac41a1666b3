//! The linear tier's ciphertexts: blocks of packed values ([`LinearBlock`]), a column of
//! them with its origin and bound ([`LinearColumn`], [`LinearOrigin`]).

use super::{
    mask_from_seed, Ring, CONVERTED_SCALE_LOG2, LWE_DIMENSION, MAX_CONVERTED_ROWS_PER_AGGREGATE, MAX_ROWS_PER_AGGREGATE, PACKED_RING, SCALE_LOG2,
    SEEDED_RING,
};
use crate::error::{CryptoError, Result};

/// Where a block's GLWE mask comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BlockMask {
    /// Expanded from a public seed (custodian encryption with the secret key).
    Seeded(u128),
    /// Stored in full (one polynomial of 4096 coefficients, [`super::PACKED_RING`]): blocks the
    /// domain packs itself ([`super::ConversionKey`]), whose masks come out of a keyswitch.
    Explicit(Vec<u128>),
}

/// Flag in the serialized value count of a block with an explicit mask.
const EXPLICIT_MASK_FLAG: u32 = 1 << 31;

/// One block of encrypted values: the GLWE mask (a public seed, for up to 2048 values the
/// custodian encrypted; or the full mask of up to 4096 values the domain packed) and one body
/// coefficient per value (`16` bytes per value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinearBlock {
    pub(crate) mask: BlockMask,
    pub(crate) body: Vec<u128>,
}

impl LinearBlock {
    /// A block packed by the domain: its full mask and the first `rows` body coefficients.
    pub(crate) fn packed(mask: Vec<u128>, body: Vec<u128>) -> Self {
        debug_assert_eq!(mask.len(), LWE_DIMENSION);
        debug_assert!(body.len() <= PACKED_RING.n);
        LinearBlock { mask: BlockMask::Explicit(mask), body }
    }

    /// The ring of the block's GLWE ciphertext.
    pub(crate) fn ring(&self) -> Ring {
        match self.mask {
            BlockMask::Seeded(_) => SEEDED_RING,
            BlockMask::Explicit(_) => PACKED_RING,
        }
    }

    /// Number of values in the block.
    pub fn rows(&self) -> usize {
        self.body.len()
    }

    /// The block's GLWE mask, `k` polynomials of `N` coefficients (4096 coefficients in all).
    pub(crate) fn mask(&self) -> std::borrow::Cow<'_, [u128]> {
        match &self.mask {
            BlockMask::Seeded(seed) => std::borrow::Cow::Owned(mask_from_seed(*seed)),
            BlockMask::Explicit(mask) => std::borrow::Cow::Borrowed(mask),
        }
    }

    pub(crate) fn body(&self) -> &[u128] {
        &self.body
    }

    /// Serialized size in bytes.
    pub fn byte_len(&self) -> usize {
        let mask = match self.mask {
            BlockMask::Seeded(_) => 0,
            BlockMask::Explicit(_) => 16 * LWE_DIMENSION,
        };
        20 + 16 * self.body.len() + mask
    }

    /// Serializes the block: seed (16 bytes LE, zero for an explicit mask), value count (u32 LE,
    /// its top bit set for an explicit mask), bodies (16 bytes LE each), then an explicit mask.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let (seed, flag) = match self.mask {
            BlockMask::Seeded(seed) => (seed, 0),
            BlockMask::Explicit(_) => (0, EXPLICIT_MASK_FLAG),
        };
        out.extend_from_slice(&seed.to_le_bytes());
        out.extend_from_slice(&(self.body.len() as u32 | flag).to_le_bytes());
        for b in &self.body {
            out.extend_from_slice(&b.to_le_bytes());
        }
        if let BlockMask::Explicit(mask) = &self.mask {
            for m in mask {
                out.extend_from_slice(&m.to_le_bytes());
            }
        }
    }

    /// Reads one block from the front of `bytes`; returns it and the bytes consumed.
    pub fn read_from(bytes: &[u8]) -> Result<(Self, usize)> {
        let bad = || CryptoError::malformed("linear block", "truncated");
        let u128s = |range: std::ops::Range<usize>| -> Result<Vec<u128>> {
            Ok(bytes
                .get(range)
                .ok_or_else(bad)?
                .chunks_exact(16)
                .map(|c| u128::from_le_bytes(c.try_into().expect("16-byte chunk")))
                .collect())
        };
        let seed = u128::from_le_bytes(bytes.get(..16).ok_or_else(bad)?.try_into().map_err(|_| bad())?);
        let count = u32::from_le_bytes(bytes.get(16..20).ok_or_else(bad)?.try_into().map_err(|_| bad())?);
        let explicit = count & EXPLICIT_MASK_FLAG != 0;
        let rows = (count & !EXPLICIT_MASK_FLAG) as usize;
        let capacity = if explicit { PACKED_RING.n } else { SEEDED_RING.n };
        if rows == 0 || rows > capacity {
            return Err(CryptoError::malformed("linear block", format!("value count outside 1..={capacity}")));
        }
        let end = 20 + 16 * rows;
        let body = u128s(20..end)?;
        if !explicit {
            return Ok((LinearBlock { mask: BlockMask::Seeded(seed), body }, end));
        }
        let mask_end = end + 16 * LWE_DIMENSION;
        Ok((LinearBlock { mask: BlockMask::Explicit(u128s(end..mask_end)?), body }, mask_end))
    }
}

/// How a linear column's ciphertexts were made, which decides what its bound is worth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinearOrigin {
    /// Encrypted by the custodian with the secret key: the domain cannot check the values
    /// against the declared bound, so releases over such a column are refused.
    Custodian,
    /// Converted by the domain from proven, clamped bootstrapped-tier values
    /// ([`super::ConversionKey`]): every value is at most the bound. Scale `2^70`.
    Converted,
}

impl LinearOrigin {
    /// `log2` of the scale the values sit at.
    pub fn scale_log2(self) -> u32 {
        match self {
            LinearOrigin::Custodian => SCALE_LOG2,
            LinearOrigin::Converted => CONVERTED_SCALE_LOG2,
        }
    }

    /// Most rows one aggregate of such a column may sum and stay exact.
    pub fn max_rows_per_aggregate(self) -> u64 {
        match self {
            LinearOrigin::Custodian => MAX_ROWS_PER_AGGREGATE,
            LinearOrigin::Converted => MAX_CONVERTED_ROWS_PER_AGGREGATE,
        }
    }
}

/// An encrypted column of the linear tier: full blocks of `N` values, the last one possibly
/// shorter, the declared bound of its values and how they were encrypted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinearColumn {
    blocks: Vec<LinearBlock>,
    bound: u32,
    origin: LinearOrigin,
}

impl LinearColumn {
    /// Assembles a column the custodian encrypted; refuses a short block anywhere but at the
    /// end.
    pub fn new(blocks: Vec<LinearBlock>, bound: u32) -> Result<Self> {
        Self::with_origin(blocks, bound, LinearOrigin::Custodian)
    }

    /// Assembles a column of the given origin. Only the domain's own conversion, or the
    /// domain's store reading back what the conversion wrote, may claim
    /// [`LinearOrigin::Converted`]. All blocks share one ring, and all but the last are full.
    pub fn with_origin(blocks: Vec<LinearBlock>, bound: u32, origin: LinearOrigin) -> Result<Self> {
        let ring = match origin {
            LinearOrigin::Custodian => blocks.first().map_or(SEEDED_RING, LinearBlock::ring),
            LinearOrigin::Converted => PACKED_RING,
        };
        if blocks.iter().any(|b| b.ring() != ring) {
            return Err(CryptoError::InvalidInput(
                "a linear column mixes seeded and packed blocks, or a converted column holds seeded ones".into(),
            ));
        }
        if let Some(i) = blocks.iter().rev().skip(1).position(|b| b.rows() != ring.n) {
            return Err(CryptoError::InvalidInput(format!(
                "block {} of a linear column holds fewer than {} values; only the last block may",
                blocks.len() - 2 - i,
                ring.n
            )));
        }
        Ok(LinearColumn { blocks, bound, origin })
    }

    /// The ring of the column's blocks.
    pub(crate) fn ring(&self) -> Ring {
        match self.origin {
            LinearOrigin::Custodian => self.blocks.first().map_or(SEEDED_RING, LinearBlock::ring),
            LinearOrigin::Converted => PACKED_RING,
        }
    }

    /// The blocks, in row order.
    pub fn blocks(&self) -> &[LinearBlock] {
        &self.blocks
    }

    /// The declared upper bound of every value.
    pub fn bound(&self) -> u32 {
        self.bound
    }

    /// How the column's ciphertexts were made.
    pub fn origin(&self) -> LinearOrigin {
        self.origin
    }

    /// Number of values.
    pub fn rows(&self) -> u64 {
        self.blocks.iter().map(|b| b.rows() as u64).sum()
    }

    /// Serialized size of all blocks in bytes.
    pub fn byte_len(&self) -> usize {
        self.blocks.iter().map(LinearBlock::byte_len).sum()
    }

    /// Serializes the column: its blocks' frames, one after the other ([`LinearBlock::write_to`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.byte_len());
        for block in &self.blocks {
            block.write_to(&mut out);
        }
        out
    }

    /// Reads a column written by [`LinearColumn::to_bytes`], of the given bound and origin, and
    /// checks it holds `rows` values.
    pub fn from_bytes(bytes: &[u8], bound: u32, origin: LinearOrigin, rows: u64) -> Result<Self> {
        let mut blocks = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let (block, used) = LinearBlock::read_from(rest)?;
            blocks.push(block);
            rest = &rest[used..];
        }
        let column = Self::with_origin(blocks, bound, origin)?;
        if column.rows() != rows {
            return Err(CryptoError::malformed("linear column", "row count differs from the import's"));
        }
        Ok(column)
    }
}
