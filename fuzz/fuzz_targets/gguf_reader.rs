//! Fuzz target: the GGUF reader must turn any bytes into a file or an error, never a
//! panic, an out-of-bounds view or an allocation the input cannot back.
//!
//! Run with `cargo fuzz run gguf_reader` from `fuzz/` (needs a nightly toolchain).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = hearth::gguf::GgufFile::from_bytes("fuzz.gguf", data.to_vec()) {
        let mut total = 0u64;
        for t in file.tensors() {
            total += file.tensor_data(t).len() as u64;
            let _ = file.metadata().get_u32(&t.name);
        }
        assert!(total <= file.file_size());
        let _ = file.architecture();
    }
});
