//! The table of ggml tensor types: id, name, elements per block, bytes per block.

use std::fmt;

/// A ggml tensor type, with the numeric id GGUF files store.
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u32)]
pub enum GgmlType {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    IQ2_XXS = 16,
    IQ2_XS = 17,
    IQ3_XXS = 18,
    IQ1_S = 19,
    IQ4_NL = 20,
    IQ3_S = 21,
    IQ2_S = 22,
    IQ4_XS = 23,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    IQ1_M = 29,
    BF16 = 30,
    TQ1_0 = 34,
    TQ2_0 = 35,
    MXFP4 = 39,
}

/// One row of the type table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeInfo {
    pub ty: GgmlType,
    pub name: &'static str,
    /// Elements encoded by one block.
    pub block_elems: usize,
    /// Bytes taken by one block.
    pub block_bytes: usize,
    /// Whether `quant::reference` can dequantize this type.
    pub dequantizable: bool,
}

const fn row(
    ty: GgmlType,
    name: &'static str,
    block_elems: usize,
    block_bytes: usize,
    dequantizable: bool,
) -> TypeInfo {
    TypeInfo { ty, name, block_elems, block_bytes, dequantizable }
}

use GgmlType::*;

/// Every type hearth knows, in id order.
pub const TYPE_TABLE: &[TypeInfo] = &[
    row(F32, "F32", 1, 4, true),
    row(F16, "F16", 1, 2, true),
    row(Q4_0, "Q4_0", 32, 18, true),
    row(Q4_1, "Q4_1", 32, 20, true),
    row(Q5_0, "Q5_0", 32, 22, true),
    row(Q5_1, "Q5_1", 32, 24, true),
    row(Q8_0, "Q8_0", 32, 34, true),
    row(Q8_1, "Q8_1", 32, 36, true),
    row(Q2_K, "Q2_K", 256, 84, true),
    row(Q3_K, "Q3_K", 256, 110, true),
    row(Q4_K, "Q4_K", 256, 144, true),
    row(Q5_K, "Q5_K", 256, 176, true),
    row(Q6_K, "Q6_K", 256, 210, true),
    row(Q8_K, "Q8_K", 256, 292, true),
    row(IQ2_XXS, "IQ2_XXS", 256, 66, false),
    row(IQ2_XS, "IQ2_XS", 256, 74, false),
    row(IQ3_XXS, "IQ3_XXS", 256, 98, false),
    row(IQ1_S, "IQ1_S", 256, 50, false),
    row(IQ4_NL, "IQ4_NL", 32, 18, true),
    row(IQ3_S, "IQ3_S", 256, 110, false),
    row(IQ2_S, "IQ2_S", 256, 82, false),
    row(IQ4_XS, "IQ4_XS", 256, 136, true),
    row(I8, "I8", 1, 1, false),
    row(I16, "I16", 1, 2, false),
    row(I32, "I32", 1, 4, false),
    row(I64, "I64", 1, 8, false),
    row(F64, "F64", 1, 8, false),
    row(IQ1_M, "IQ1_M", 256, 56, false),
    row(BF16, "BF16", 1, 2, true),
    row(TQ1_0, "TQ1_0", 256, 54, false),
    row(TQ2_0, "TQ2_0", 256, 66, false),
    row(MXFP4, "MXFP4", 32, 17, true),
];

impl GgmlType {
    /// The type with this GGUF id, or `None` for an id hearth does not know.
    pub fn from_id(id: u32) -> Option<GgmlType> {
        TYPE_TABLE.iter().find(|t| t.ty as u32 == id).map(|t| t.ty)
    }

    /// The type with this name (case-insensitive), as printed by `hearth inspect`.
    pub fn from_name(name: &str) -> Option<GgmlType> {
        TYPE_TABLE.iter().find(|t| t.name.eq_ignore_ascii_case(name)).map(|t| t.ty)
    }

    pub fn id(self) -> u32 {
        self as u32
    }

    pub fn info(self) -> &'static TypeInfo {
        // The table holds every variant; the test `table_covers_every_variant` checks it.
        TYPE_TABLE.iter().find(|t| t.ty == self).expect("type table covers every GgmlType")
    }

    pub fn name(self) -> &'static str {
        self.info().name
    }

    pub fn block_elems(self) -> usize {
        self.info().block_elems
    }

    pub fn block_bytes(self) -> usize {
        self.info().block_bytes
    }

    /// Whether the type packs elements into blocks (anything but plain scalars).
    pub fn is_quantized(self) -> bool {
        self.block_elems() > 1
    }

    /// Bytes of `n_elems` elements, or `None` when `n_elems` is not a whole number of
    /// blocks or the size overflows.
    pub fn bytes_for(self, n_elems: u64) -> Option<u64> {
        let info = self.info();
        if !n_elems.is_multiple_of(info.block_elems as u64) {
            return None;
        }
        (n_elems / info.block_elems as u64).checked_mul(info.block_bytes as u64)
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_covers_every_variant_once() {
        for (i, t) in TYPE_TABLE.iter().enumerate() {
            assert_eq!(GgmlType::from_id(t.ty.id()), Some(t.ty));
            assert_eq!(GgmlType::from_name(t.name), Some(t.ty));
            assert!(TYPE_TABLE[..i].iter().all(|u| u.ty != t.ty), "{} twice", t.name);
        }
        assert_eq!(GgmlType::Q4_K.info().block_bytes, 144);
    }

    #[test]
    fn unknown_ids_are_none() {
        for id in [4, 5, 31, 32, 33, 36, 37, 38, 40, 1000, u32::MAX] {
            assert_eq!(GgmlType::from_id(id), None, "id {id}");
        }
    }

    #[test]
    fn bytes_for_checks_whole_blocks_and_overflow() {
        assert_eq!(GgmlType::Q8_0.bytes_for(64), Some(68));
        assert_eq!(GgmlType::Q8_0.bytes_for(33), None);
        assert_eq!(GgmlType::F32.bytes_for(u64::MAX), None);
    }
}
