// The kernel family from /proc/cpuinfo. Fixtures: the first processor blocks of an AMD EPYC (Zen 4,
// this project's development machine), an AWS Xeon E5-2686 v4 (Broadwell, AVX2) and an AWS
// Graviton3 (Neoverse V1, arm64).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cpuKernelFamily, kernelFamilyFromCpuinfo } from './cpu-kernels.ts';

const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url).pathname;
const flags = (list: string) => `processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: ${list}\n`;
const AVX2 = 'fpu sse sse2 ssse3 fma sse4_1 sse4_2 avx avx2';
const AVX512 = `${AVX2} avx512f avx512dq avx512cd avx512bw avx512vl`;

describe('CPU kernel family', () => {
  it('reads the tier MLAS dispatches on from real /proc/cpuinfo text', () => {
    expect(kernelFamilyFromCpuinfo(readFileSync(fixture('cpuinfo-epyc-zen4-avx512vnni.txt'), 'utf8'))).toBe('x64/avx512vnni');
    expect(kernelFamilyFromCpuinfo(readFileSync(fixture('cpuinfo-xeon-broadwell-avx2.txt'), 'utf8'))).toBe('x64/avx2');
    expect(kernelFamilyFromCpuinfo(readFileSync(fixture('cpuinfo-graviton3-arm64.txt'), 'utf8'))).toBe('arm64/i8mm');
  });

  it('follows MLAS: each tier needs the ones below it, and the kernel-swapping extras are named', () => {
    expect(kernelFamilyFromCpuinfo(flags('fpu sse sse2 ssse3'))).toBe('x64/sse');
    expect(kernelFamilyFromCpuinfo(flags('fpu sse sse2 avx'))).toBe('x64/avx');
    expect(kernelFamilyFromCpuinfo(flags('fpu sse sse2 avx avx2'))).toBe('x64/avx'); // AVX2 without FMA3: MLAS stays on AVX
    expect(kernelFamilyFromCpuinfo(flags(`${AVX2} avx_vnni`))).toBe('x64/avx2+avxvnni'); // Alder Lake
    expect(kernelFamilyFromCpuinfo(flags(`${AVX2} avx512f`))).toBe('x64/avx512f');
    expect(kernelFamilyFromCpuinfo(flags(AVX512))).toBe('x64/avx512core'); // Skylake-SP
    expect(kernelFamilyFromCpuinfo(flags(`${AVX512} avx512_vnni`))).toBe('x64/avx512vnni'); // Cascade Lake, Ice Lake
    expect(kernelFamilyFromCpuinfo(flags(`${AVX512} avx512_vnni avx_vnni amx_bf16 amx_tile amx_int8`))).toBe('x64/avx512vnni+amx+avxvnni'); // Sapphire Rapids
    expect(kernelFamilyFromCpuinfo('processor\t: 0\nFeatures\t: fp asimd asimddp\n')).toBe('arm64/dot');
    expect(kernelFamilyFromCpuinfo('processor\t: 0\nFeatures\t: fp asimd\n')).toBe('arm64/neon');
  });

  it('QRUN_CPUINFO_FILE reads another machine\'s cpuinfo', () => {
    expect(cpuKernelFamily({ QRUN_CPUINFO_FILE: fixture('cpuinfo-xeon-broadwell-avx2.txt') })).toBe('x64/avx2');
    expect(cpuKernelFamily({})).toMatch(/^(x64|arm64)\/|^[a-z0-9]+$/);
  });
});
