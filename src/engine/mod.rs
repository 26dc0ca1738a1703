//! The inference engine around a model: sessions (prefill, decode, KV reuse), sampling,
//! stop conditions and streaming.

pub mod gbnf;
pub mod generate;
pub mod grammar;
pub mod lookup;
pub mod sampler;
pub mod session;
pub mod snapshot;
pub mod stop;
pub mod stream;
