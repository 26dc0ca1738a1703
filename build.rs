//! Compiles the GLSL compute kernels of `kernels/` to SPIR-V with glslang (when the
//! `vulkan` feature is on) and writes `kernels.rs` into OUT_DIR: one `(name, words)` entry
//! per kernel variant, embedded in the binary.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "vulkan")]
    kernels::build();
}

#[cfg(feature = "vulkan")]
mod kernels {
    use std::collections::BTreeMap;
    use std::fmt::Write as _;
    use std::path::{Path, PathBuf};

    use glslang::include::{IncludeHandler, IncludeResult, IncludeType};
    use glslang::{
        Compiler, CompilerOptions, ShaderInput, ShaderSource, ShaderStage, SpirvVersion, Target,
        VulkanVersion,
    };

    /// Weight types with a `DATA_A_<TYPE>` variant of the matrix kernels.
    const WEIGHT_TYPES: &[&str] = &[
        "F32", "F16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K",
        "Q6_K", "IQ4_NL", "IQ4_XS",
    ];

    /// Cache types: `KV_<TYPE>` variants of the store kernel, `K_<TYPE>` × `V_<TYPE>`
    /// variants of attention.
    const KV_TYPES: &[&str] = &["F32", "F16", "Q8_0"];

    /// (variant name, source file, defines)
    fn variants() -> Vec<(String, String, Vec<String>)> {
        let mut v = Vec::new();
        for ty in WEIGHT_TYPES {
            let lower = ty.to_lowercase();
            let data = format!("DATA_A_{ty}");
            v.push((format!("mul_mat_{lower}"), "mul_mat.comp".into(), vec![data.clone()]));
            v.push((
                format!("mul_mat_id_{lower}"),
                "mul_mat.comp".into(),
                vec![data.clone(), "MUL_MAT_ID".into()],
            ));
            v.push((format!("get_rows_{lower}"), "get_rows.comp".into(), vec![data]));
        }
        for ty in KV_TYPES {
            let lower = ty.to_lowercase();
            let kv = format!("KV_{ty}");
            v.push((format!("kv_store_{lower}"), "kv_store.comp".into(), vec![kv]));
            for tv in KV_TYPES {
                let defines = vec![format!("K_{ty}"), format!("V_{tv}")];
                let name = format!("attention_{lower}_{}", tv.to_lowercase());
                v.push((name, "attention.comp".into(), defines));
            }
        }
        for ty in ["F16", "Q8_0", "Q8_K"] {
            let lower = ty.to_lowercase();
            v.push((
                format!("round_acts_{lower}"),
                "round_acts.comp".into(),
                vec![format!("ACT_{ty}")],
            ));
        }
        for name in [
            "rms_norm",
            "rope",
            "binary",
            "gather_rows",
            "sum_groups",
            "topk",
            "build_tiles",
            "slice_cols",
            "ssm_conv",
            "delta_net",
        ] {
            v.push((name.to_string(), format!("{name}.comp"), vec![]));
        }
        v
    }

    /// Resolves `#include "x.glsl"` against `kernels/`.
    struct Includes {
        dir: PathBuf,
    }

    impl IncludeHandler for Includes {
        fn include(
            &mut self,
            _ty: IncludeType,
            name: &str,
            _includer: &str,
            _depth: usize,
        ) -> Option<IncludeResult> {
            let path = self.dir.join(name);
            let data = std::fs::read_to_string(&path).ok()?;
            Some(IncludeResult { name: path.display().to_string(), data })
        }
    }

    fn compile(compiler: &Compiler, dir: &Path, file: &str, defines: &[String]) -> Vec<u32> {
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("kernels: cannot read {}: {e}", path.display()));
        let source = ShaderSource::from(text);
        let options = CompilerOptions {
            target: Target::Vulkan {
                version: VulkanVersion::Vulkan1_1,
                spirv_version: SpirvVersion::SPIRV1_3,
            },
            ..CompilerOptions::default()
        };
        let defs: Vec<(&str, Option<&str>)> = defines.iter().map(|d| (d.as_str(), None)).collect();
        let mut includes = Includes { dir: dir.to_path_buf() };
        let input = ShaderInput::new(
            &source,
            ShaderStage::Compute,
            &options,
            Some(&defs[..]),
            Some(&mut includes),
        )
        .unwrap_or_else(|e| panic!("kernels: {file} {defines:?}: {e}"));
        let shader = compiler
            .create_shader(input)
            .unwrap_or_else(|e| panic!("kernels: {file} {defines:?}: {e}"));
        shader.compile().unwrap_or_else(|e| panic!("kernels: {file} {defines:?}: {e}"))
    }

    pub fn build() {
        let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("kernels");
        println!("cargo:rerun-if-changed={}", dir.display());
        for entry in std::fs::read_dir(&dir).expect("kernels/ exists").flatten() {
            println!("cargo:rerun-if-changed={}", entry.path().display());
        }
        let compiler = Compiler::acquire().expect("glslang initializes");
        let mut out = String::from(
            "/// (kernel variant, SPIR-V words)\npub const KERNELS: &[(&str, &[u32])] = &[\n",
        );
        let mut seen = BTreeMap::new();
        for (name, file, defines) in variants() {
            let words = compile(compiler, &dir, &file, &defines);
            assert!(seen.insert(name.clone(), ()).is_none(), "kernels: {name} twice");
            writeln!(out, "    ({name:?}, &{words:?}),").unwrap();
        }
        out.push_str("];\n");
        let dest = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("kernels.rs");
        std::fs::write(dest, out).expect("OUT_DIR is writable");
    }
}
