//! Whether this CPU has bfloat16 instructions, and what `--precision bf16` does when it has not.
//!
//! The choice: say so once and keep working. Without native bf16 instructions oneDNN and
//! libtorch still compute bf16 correctly (converting through fp32, or on their reference
//! kernels), so the run is right, only slower than fp32: measured here with oneDNN held to
//! older instruction sets (`ONEDNN_MAX_CPU_ISA`, ResNet-20, one thread), a bf16 step took 2× the
//! fp32 step with AVX-512 but no AVX512-BF16, and 10× with AVX2 only, where with AVX512-BF16 it
//! takes 0.6×. It remains useful on such a machine for checking that a bf16 configuration
//! behaves before it goes to a faster one, and PyTorch's own CPU autocast behaves the same way.
//! Refusing would also make the same config file fail on one machine and run on the next; the
//! warning at the start of the run says what to expect and what to use instead.

use std::sync::Once;

/// The /proc/cpuinfo flags of native bf16 arithmetic: AVX512-BF16 and AMX-BF16 (x86),
/// AVX-NE-CONVERT (x86 client cores), BF16 (Arm's `Features` line).
const BF16_FLAGS: &[&str] = &["avx512_bf16", "amx_bf16", "avx_ne_convert", "bf16"];

/// Whether a /proc/cpuinfo text announces bf16 instructions on its first processor; None when
/// the text has no flags line at all (not Linux's format: unknown).
pub fn has_bf16(cpuinfo: &str) -> Option<bool> {
    let line = cpuinfo.lines().find(|l| {
        let key = l.split(':').next().unwrap_or("").trim();
        key == "flags" || key == "Features"
    })?;
    let flags = line.split_once(':').map_or("", |(_, v)| v);
    Some(flags.split_whitespace().any(|f| BF16_FLAGS.contains(&f)))
}

/// This machine's answer (None where /proc/cpuinfo cannot be read or parsed).
pub fn this_cpu_has_bf16() -> Option<bool> {
    std::fs::read_to_string("/proc/cpuinfo").ok().as_deref().and_then(has_bf16)
}

/// The warning printed when bf16 runs on a CPU without bf16 instructions.
pub const WARNING: &str = "warning: --precision bf16 on a CPU without bf16 instructions (no avx512_bf16, amx_bf16, \
                           avx_ne_convert or bf16 in /proc/cpuinfo): libtorch emulates bf16, which is correct but \
                           2 to 10 times slower than --precision fp32 here";

/// Say once per process, on stderr, that bf16 will be slow here (nothing where the CPU has bf16
/// instructions or cannot tell).
pub fn warn_if_emulated() {
    static ONCE: Once = Once::new();
    if this_cpu_has_bf16() == Some(false) {
        ONCE.call_once(|| eprintln!("{WARNING}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_flags_of_x86_and_arm() {
        let epyc = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu avx2 avx512f avx512_bf16 avx512_vnni\n";
        assert_eq!(has_bf16(epyc), Some(true));
        let spr = "flags\t\t: fpu avx512f amx_bf16 amx_tile\n";
        assert_eq!(has_bf16(spr), Some(true));
        let skylake = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512bw avx512_vnni\nbugs\t\t: spectre\n";
        assert_eq!(has_bf16(skylake), Some(false), "AVX-512 alone is not bf16");
        let graviton3 = "processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\n";
        assert_eq!(has_bf16(graviton3), Some(true));
        let graviton2 = "processor\t: 0\nFeatures\t: fp asimd asimddp\n";
        assert_eq!(has_bf16(graviton2), Some(false));
        assert_eq!(has_bf16("flags : sse2 xavx512_bf16y\n"), Some(false), "whole flags only");
        assert_eq!(has_bf16("no such format\n"), None);
    }

    #[test]
    fn this_machine_is_read() {
        if std::path::Path::new("/proc/cpuinfo").exists() {
            assert!(this_cpu_has_bf16().is_some());
        }
    }
}
