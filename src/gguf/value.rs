//! GGUF metadata values: the value types, typed arrays, and the ordered key/value map
//! with typed accessors whose errors name the key and the expected vs found type.

use crate::error::{Error, Result};

/// The type tags GGUF stores before each metadata value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum ValueType {
    U8 = 0,
    I8 = 1,
    U16 = 2,
    I16 = 3,
    U32 = 4,
    I32 = 5,
    F32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    U64 = 10,
    I64 = 11,
    F64 = 12,
}

impl ValueType {
    pub fn from_id(id: u32) -> Option<ValueType> {
        use ValueType::*;
        const ALL: [ValueType; 13] =
            [U8, I8, U16, I16, U32, I32, F32, Bool, String, Array, U64, I64, F64];
        ALL.get(id as usize).copied()
    }

    pub fn name(self) -> &'static str {
        use ValueType::*;
        match self {
            U8 => "u8",
            I8 => "i8",
            U16 => "u16",
            I16 => "i16",
            U32 => "u32",
            I32 => "i32",
            F32 => "f32",
            Bool => "bool",
            String => "string",
            Array => "array",
            U64 => "u64",
            I64 => "i64",
            F64 => "f64",
        }
    }

    /// Bytes of one value of a fixed-size type; `None` for strings and arrays.
    pub fn fixed_size(self) -> Option<usize> {
        use ValueType::*;
        match self {
            U8 | I8 | Bool => Some(1),
            U16 | I16 => Some(2),
            U32 | I32 | F32 => Some(4),
            U64 | I64 | F64 => Some(8),
            String | Array => None,
        }
    }
}

/// One metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    String(String),
    Array(Array),
    U64(u64),
    I64(i64),
    F64(f64),
}

/// A metadata array, stored as a vector of its element type (arrays may nest).
#[derive(Debug, Clone, PartialEq)]
pub enum Array {
    U8(Vec<u8>),
    I8(Vec<i8>),
    U16(Vec<u16>),
    I16(Vec<i16>),
    U32(Vec<u32>),
    I32(Vec<i32>),
    F32(Vec<f32>),
    Bool(Vec<bool>),
    String(Vec<String>),
    Array(Vec<Array>),
    U64(Vec<u64>),
    I64(Vec<i64>),
    F64(Vec<f64>),
}

macro_rules! for_each_array {
    ($self:expr, $v:ident => $e:expr) => {
        match $self {
            Array::U8($v) => $e,
            Array::I8($v) => $e,
            Array::U16($v) => $e,
            Array::I16($v) => $e,
            Array::U32($v) => $e,
            Array::I32($v) => $e,
            Array::F32($v) => $e,
            Array::Bool($v) => $e,
            Array::String($v) => $e,
            Array::Array($v) => $e,
            Array::U64($v) => $e,
            Array::I64($v) => $e,
            Array::F64($v) => $e,
        }
    };
}

impl Array {
    /// The elements as integers, when they are integers (or bools, as 0 and 1) that fit
    /// an i64.
    pub fn as_ints(&self) -> Option<Vec<i64>> {
        fn all<T: Copy>(v: &[T], f: impl Fn(T) -> Option<i64>) -> Option<Vec<i64>> {
            v.iter().map(|&x| f(x)).collect()
        }
        match self {
            Array::U8(v) => all(v, |x| Some(x.into())),
            Array::I8(v) => all(v, |x| Some(x.into())),
            Array::U16(v) => all(v, |x| Some(x.into())),
            Array::I16(v) => all(v, |x| Some(x.into())),
            Array::U32(v) => all(v, |x| Some(x.into())),
            Array::I32(v) => all(v, |x| Some(x.into())),
            Array::U64(v) => all(v, |x| i64::try_from(x).ok()),
            Array::I64(v) => all(v, Some),
            Array::Bool(v) => all(v, |x| Some(x.into())),
            Array::F32(_) | Array::F64(_) | Array::String(_) | Array::Array(_) => None,
        }
    }

    pub fn elem_type(&self) -> ValueType {
        match self {
            Array::U8(_) => ValueType::U8,
            Array::I8(_) => ValueType::I8,
            Array::U16(_) => ValueType::U16,
            Array::I16(_) => ValueType::I16,
            Array::U32(_) => ValueType::U32,
            Array::I32(_) => ValueType::I32,
            Array::F32(_) => ValueType::F32,
            Array::Bool(_) => ValueType::Bool,
            Array::String(_) => ValueType::String,
            Array::Array(_) => ValueType::Array,
            Array::U64(_) => ValueType::U64,
            Array::I64(_) => ValueType::I64,
            Array::F64(_) => ValueType::F64,
        }
    }

    pub fn len(&self) -> usize {
        for_each_array!(self, v => v.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A readable type name such as `array[string]` or `array[array[u32]]`.
    pub fn type_name(&self) -> String {
        match self {
            Array::Array(inner) => match inner.first() {
                Some(a) => format!("array[{}]", a.type_name()),
                None => "array[array]".to_string(),
            },
            other => format!("array[{}]", other.elem_type().name()),
        }
    }

    /// The array as JSON (numbers, strings, booleans, nested arrays).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Array::Array(v) => v.iter().map(Array::to_json).collect(),
            Array::String(v) => v.iter().map(|s| serde_json::Value::from(s.as_str())).collect(),
            Array::F32(v) => v.iter().map(|&x| json_f32(x)).collect(),
            Array::F64(v) => v.iter().map(|&x| json_f64(x)).collect(),
            Array::Bool(v) => v.iter().map(|&b| serde_json::Value::from(b)).collect(),
            Array::U8(v) => v.iter().map(|&x| serde_json::Value::from(x)).collect(),
            Array::I8(v) => v.iter().map(|&x| serde_json::Value::from(x)).collect(),
            Array::U16(v) => v.iter().map(|&x| serde_json::Value::from(x)).collect(),
            Array::I16(v) => v.iter().map(|&x| serde_json::Value::from(x)).collect(),
            Array::U32(v) => v.iter().map(|&x| serde_json::Value::from(x)).collect(),
            Array::I32(v) => v.iter().map(|&x| serde_json::Value::from(x)).collect(),
            Array::U64(v) => v.iter().map(|&x| serde_json::Value::from(x)).collect(),
            Array::I64(v) => v.iter().map(|&x| serde_json::Value::from(x)).collect(),
        }
    }
}

/// An f32 as the shortest decimal that reads back as the same f32 (1e-6, not
/// 9.999999974752427e-7).
fn json_f32(x: f32) -> serde_json::Value {
    json_f64(x.to_string().parse().unwrap_or(f64::NAN))
}

/// JSON has no NaN or infinity: those become null.
fn json_f64(x: f64) -> serde_json::Value {
    serde_json::Number::from_f64(x).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

impl Value {
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::U8(_) => ValueType::U8,
            Value::I8(_) => ValueType::I8,
            Value::U16(_) => ValueType::U16,
            Value::I16(_) => ValueType::I16,
            Value::U32(_) => ValueType::U32,
            Value::I32(_) => ValueType::I32,
            Value::F32(_) => ValueType::F32,
            Value::Bool(_) => ValueType::Bool,
            Value::String(_) => ValueType::String,
            Value::Array(_) => ValueType::Array,
            Value::U64(_) => ValueType::U64,
            Value::I64(_) => ValueType::I64,
            Value::F64(_) => ValueType::F64,
        }
    }

    /// A readable type name (`u32`, `string`, `array[f32]`).
    pub fn type_name(&self) -> String {
        match self {
            Value::Array(a) => a.type_name(),
            other => other.value_type().name().to_string(),
        }
    }

    /// Any integer value as i128 (wide enough for every GGUF integer type).
    pub fn as_int(&self) -> Option<i128> {
        Some(match *self {
            Value::U8(x) => x as i128,
            Value::I8(x) => x as i128,
            Value::U16(x) => x as i128,
            Value::I16(x) => x as i128,
            Value::U32(x) => x as i128,
            Value::I32(x) => x as i128,
            Value::U64(x) => x as i128,
            Value::I64(x) => x as i128,
            _ => return None,
        })
    }

    /// Any float value as f64.
    pub fn as_float(&self) -> Option<f64> {
        match *self {
            Value::F32(x) => Some(x as f64),
            Value::F64(x) => Some(x),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::String(s) => s.as_str().into(),
            Value::Bool(b) => (*b).into(),
            Value::F32(x) => json_f32(*x),
            Value::F64(x) => json_f64(*x),
            Value::Array(a) => a.to_json(),
            // Every integer type fits i128; serde_json holds u64 and i64.
            other => match other.as_int() {
                Some(i) if i >= 0 => serde_json::Value::from(i as u64),
                Some(i) => serde_json::Value::from(i as i64),
                None => serde_json::Value::Null,
            },
        }
    }

    /// A short human rendering: scalars in full, long strings and arrays abbreviated.
    pub fn summary(&self, max_chars: usize) -> String {
        match self {
            Value::String(s) => abbreviate(&format!("{s:?}"), max_chars),
            Value::Array(a) => array_summary(a, max_chars),
            other => abbreviate(&other.to_json().to_string(), max_chars),
        }
    }
}

/// The first elements of an array that fit in about `max_chars`, then the count.
fn array_summary(a: &Array, max_chars: usize) -> String {
    let json = a.to_json();
    let items = json.as_array().map(Vec::as_slice).unwrap_or_default();
    let mut shown = String::from("[");
    for (i, item) in items.iter().enumerate() {
        let text = item.to_string();
        if shown.chars().count() + text.chars().count() > max_chars {
            shown.push_str(if i == 0 { "…" } else { ", …" });
            break;
        }
        if i > 0 {
            shown.push_str(", ");
        }
        shown.push_str(&text);
    }
    format!("{shown}] ({} items)", a.len())
}

fn abbreviate(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        return s.to_string();
    }
    let cut: String = s.chars().take(max_chars.saturating_sub(1)).collect();
    format!("{cut}…")
}

/// Metadata in file order, with lookup by key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metadata {
    entries: Vec<(String, Value)>,
    index: std::collections::HashMap<String, usize>,
}

fn type_error(key: &str, expected: &str, found: &Value) -> Error {
    Error::bad_input(format!("expected {expected}, found {}", found.type_name())).with_key(key)
}

fn missing(key: &str) -> Error {
    Error::bad_input("missing metadata key").with_key(key)
}

macro_rules! int_getter {
    ($name:ident, $opt:ident, $t:ty) => {
        #[doc = concat!("The value of `key` as ", stringify!($t), "; any integer type that fits is accepted.")]
        pub fn $name(&self, key: &str) -> Result<$t> {
            self.$opt(key)?.ok_or_else(|| missing(key))
        }

        #[doc = concat!("Like `", stringify!($name), "`, but `None` when the key is absent.")]
        pub fn $opt(&self, key: &str) -> Result<Option<$t>> {
            let Some(v) = self.get(key) else { return Ok(None) };
            let i = v.as_int().ok_or_else(|| type_error(key, stringify!($t), v))?;
            <$t>::try_from(i).map(Some).map_err(|_| {
                Error::bad_input(format!("value {i} does not fit {}", stringify!($t))).with_key(key)
            })
        }
    };
}

macro_rules! array_getter {
    ($name:ident, $opt:ident, $variant:ident, $t:ty, $expected:expr) => {
        #[doc = concat!("The value of `key` as an ", $expected, ".")]
        pub fn $name(&self, key: &str) -> Result<&[$t]> {
            self.$opt(key)?.ok_or_else(|| missing(key))
        }

        #[doc = concat!("Like `", stringify!($name), "`, but `None` when the key is absent.")]
        pub fn $opt(&self, key: &str) -> Result<Option<&[$t]>> {
            match self.get(key) {
                None => Ok(None),
                Some(Value::Array(Array::$variant(v))) => Ok(Some(v)),
                Some(v) => Err(type_error(key, $expected, v)),
            }
        }
    };
}

impl Metadata {
    pub fn new() -> Metadata {
        Metadata::default()
    }

    /// Inserts or replaces `key`, keeping the first position of a replaced key.
    pub fn insert(&mut self, key: impl Into<String>, value: Value) {
        let key = key.into();
        match self.index.get(&key) {
            Some(&i) => self.entries[i].1 = value,
            None => {
                self.index.insert(key.clone(), self.entries.len());
                self.entries.push((key, value));
            }
        }
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.index.get(key).map(|&i| &self.entries[i].1)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.index.contains_key(key)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries in file order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    int_getter!(get_u8, get_u8_opt, u8);
    int_getter!(get_u32, get_u32_opt, u32);
    int_getter!(get_i32, get_i32_opt, i32);
    int_getter!(get_u64, get_u64_opt, u64);
    int_getter!(get_i64, get_i64_opt, i64);
    int_getter!(get_usize, get_usize_opt, usize);

    /// The value of `key` as f32; f64 values are narrowed, integers are not accepted.
    pub fn get_f32(&self, key: &str) -> Result<f32> {
        self.get_f32_opt(key)?.ok_or_else(|| missing(key))
    }

    pub fn get_f32_opt(&self, key: &str) -> Result<Option<f32>> {
        let Some(v) = self.get(key) else { return Ok(None) };
        v.as_float().map(|x| Some(x as f32)).ok_or_else(|| type_error(key, "f32", v))
    }

    pub fn get_bool(&self, key: &str) -> Result<bool> {
        self.get_bool_opt(key)?.ok_or_else(|| missing(key))
    }

    pub fn get_bool_opt(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(type_error(key, "bool", v)),
        }
    }

    pub fn get_str(&self, key: &str) -> Result<&str> {
        self.get_str_opt(key)?.ok_or_else(|| missing(key))
    }

    pub fn get_str_opt(&self, key: &str) -> Result<Option<&str>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(type_error(key, "string", v)),
        }
    }

    pub fn get_array(&self, key: &str) -> Result<&Array> {
        match self.get(key) {
            None => Err(missing(key)),
            Some(Value::Array(a)) => Ok(a),
            Some(v) => Err(type_error(key, "array", v)),
        }
    }

    array_getter!(get_str_array, get_str_array_opt, String, String, "array[string]");
    array_getter!(get_f32_array, get_f32_array_opt, F32, f32, "array[f32]");
    array_getter!(get_i32_array, get_i32_array_opt, I32, i32, "array[i32]");
    array_getter!(get_u32_array, get_u32_array_opt, U32, u32, "array[u32]");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Metadata {
        let mut m = Metadata::new();
        m.insert("general.architecture", Value::String("qwen2".into()));
        m.insert("qwen2.block_count", Value::U32(24));
        m.insert("neg", Value::I32(-1));
        m.insert("eps", Value::F32(1e-6));
        m.insert("tokens", Value::Array(Array::String(vec!["a".into(), "b".into()])));
        m
    }

    #[test]
    fn typed_getters_convert_integers_that_fit() {
        let m = sample();
        assert_eq!(m.get_u32("qwen2.block_count").unwrap(), 24);
        assert_eq!(m.get_u64("qwen2.block_count").unwrap(), 24);
        assert_eq!(m.get_i32("neg").unwrap(), -1);
        assert_eq!(m.get_str("general.architecture").unwrap(), "qwen2");
        assert_eq!(m.get_str_array("tokens").unwrap().len(), 2);
        assert_eq!(m.get_u32_opt("absent").unwrap(), None);
    }

    #[test]
    fn errors_name_key_and_types() {
        let m = sample();
        let e = m.get_u32("general.architecture").unwrap_err();
        assert_eq!(e.to_string(), "key 'general.architecture': expected u32, found string");
        let e = m.get_u32("neg").unwrap_err();
        assert_eq!(e.to_string(), "key 'neg': value -1 does not fit u32");
        let e = m.get_f32_array("tokens").unwrap_err();
        assert_eq!(e.to_string(), "key 'tokens': expected array[f32], found array[string]");
        let e = m.get_str("nope").unwrap_err();
        assert_eq!(e.to_string(), "key 'nope': missing metadata key");
    }

    #[test]
    fn insert_replaces_in_place() {
        let mut m = sample();
        m.insert("qwen2.block_count", Value::U32(2));
        assert_eq!(m.iter().nth(1).unwrap(), ("qwen2.block_count", &Value::U32(2)));
        assert_eq!(m.len(), 5);
    }
}
