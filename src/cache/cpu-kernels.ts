// The CPU kernel family: which code paths onnxruntime's MLAS (and PyTorch's oneDNN/FBGEMM) pick on
// this CPU. They choose GEMM and activation kernels by instruction set, and the kernels do not
// round alike: the shipped model's calibration gave max |Δ logit| 0.3115 on an AVX2 machine and
// 0.3274 on an AVX-512 VNNI one, same commit (measured before Softmax ranges were fixed at [0, 1]). A cache shared between machines must not serve one
// family's numbers to another, so the family joins the keys of steps whose outputs come from those
// kernels (src/cache/fingerprint.ts says which).
//
// x64 tiers follow MLAS's dispatch (onnxruntime/core/mlas/lib/platform.cpp, MLAS_PLATFORM): SSE
// baseline → AVX → AVX2+FMA3 → AVX-512F → AVX-512 core (BW/DQ/VL) → AVX-512 VNNI, and beside the tier
// the features that swap individual kernels: AVX-VNNI (int8 GEMM on AVX2 machines), AVX-VNNI-INT8
// (u8u8/s8s8 GEMM) and AMX (int8 GEMM on tiles). arm64: NEON baseline, dot product (SDOT/UDOT),
// I8MM (SMMLA). Linux reports what the CPU and the kernel both support in /proc/cpuinfo; elsewhere
// the family is the architecture alone.
import { readFileSync } from 'node:fs';
import { arch, platform } from 'node:os';

/**
 * The family from /proc/cpuinfo text, e.g. `x64/avx512vnni`, `x64/avx2+avxvnni`, `arm64/i8mm`. The
 * architecture comes from the text itself (x86 lists `flags`, arm64 `Features`), so another
 * machine's cpuinfo gives that machine's family.
 */
export function kernelFamilyFromCpuinfo(cpuinfo: string): string {
  const cpuArch = /^flags\s*:/m.test(cpuinfo) ? 'x64' : /^Features\s*:/m.test(cpuinfo) ? 'arm64' : arch();
  // Every processor of a machine lists the same flags; the first block is enough.
  const field = (name: string) => new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(cpuinfo)?.[1]?.trim().split(/\s+/) ?? [];
  if (cpuArch === 'x64') {
    const f = new Set(field('flags'));
    const has = (...names: string[]) => names.every((n) => f.has(n));
    let tier = 'sse';
    if (has('avx')) tier = 'avx';
    if (has('avx', 'avx2', 'fma')) tier = 'avx2';
    if (tier === 'avx2' && has('avx512f')) tier = 'avx512f';
    if (tier === 'avx512f' && has('avx512bw', 'avx512dq', 'avx512vl')) tier = 'avx512core';
    if (tier === 'avx512core' && has('avx512_vnni')) tier = 'avx512vnni';
    const extras: string[] = [];
    if (tier !== 'sse' && tier !== 'avx') {
      if (has('amx_tile', 'amx_int8')) extras.push('amx');
      if (has('avx_vnni')) extras.push('avxvnni');
      if (has('avx_vnni_int8')) extras.push('avxvnniint8');
    }
    return [`${cpuArch}/${tier}`, ...extras].join('+');
  }
  if (cpuArch === 'arm64') {
    const f = new Set(field('Features'));
    return `arm64/${f.has('i8mm') ? 'i8mm' : f.has('asimddp') ? 'dot' : 'neon'}`;
  }
  return cpuArch;
}

let cached: string | undefined;

/**
 * This machine's kernel family. `QRUN_CPUINFO_FILE` reads another machine's /proc/cpuinfo instead:
 * what a test uses to see the key another CPU would get, and a way to ask which entries of a shared
 * cache another machine could reuse.
 */
export function cpuKernelFamily(env: NodeJS.ProcessEnv = process.env): string {
  const file = env.QRUN_CPUINFO_FILE;
  if (file) return kernelFamilyFromCpuinfo(readFileSync(file, 'utf8'));
  if (cached === undefined) {
    let text: string | undefined;
    if (platform() === 'linux') {
      try {
        text = readFileSync('/proc/cpuinfo', 'utf8');
      } catch {
        // A sandbox without /proc: the architecture alone.
      }
    }
    cached = text === undefined ? arch() : kernelFamilyFromCpuinfo(text);
  }
  return cached;
}
