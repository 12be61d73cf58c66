// Falling back to float: the fewest most-sensitive nodes whose removal from quantization meets the
// target. Counts are tried 1, 2, 4, … until the target holds, then the gap to the last failing
// count is bisected (assuming, as sensitivity ranking does, that falling back more nodes does not
// make the model worse). `linear` tries 1, 2, 3, … instead: more evaluations, never fewer nodes
// than needed even where that assumption breaks.

export interface FallbackSearch {
  /** How many of the ranked nodes fall back. */
  count: number;
  /** Every count evaluated, in order, with whether the target held. */
  tried: { count: number; ok: boolean }[];
}

export async function searchFallback(total: number, meets: (count: number) => Promise<boolean>, strategy: 'doubling' | 'linear'): Promise<FallbackSearch> {
  const tried: { count: number; ok: boolean }[] = [];
  const test = async (count: number) => {
    const ok = await meets(count);
    tried.push({ count, ok });
    return ok;
  };
  if (strategy === 'linear') {
    for (let k = 1; k <= total; k++) if (await test(k)) return { count: k, tried };
    return { count: total, tried };
  }
  let fail = 0;
  let pass = -1;
  for (let k = 1; ; k = Math.min(total, k * 2)) {
    if (await test(k)) {
      pass = k;
      break;
    }
    fail = k;
    if (k === total) return { count: total, tried };
  }
  while (pass - fail > 1) {
    const mid = Math.floor((pass + fail) / 2);
    if (await test(mid)) pass = mid;
    else fail = mid;
  }
  return { count: pass, tried };
}
