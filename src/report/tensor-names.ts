// Node and tensor names as charts and tables show them: without the prefix every name shares.

/**
 * Tensor names share a long graph prefix ("/m/bert/"): drop it and the "_output_0" suffix. A name
 * still too long keeps its first two path segments (the layer) and as many last ones (the op) as fit.
 */
export function shortTensorNames(names: string[], maxLength = 46): string[] {
  let prefix = names.length > 1 ? names[0]! : '';
  for (const n of names) while (prefix && !n.startsWith(prefix)) prefix = prefix.slice(0, -1);
  prefix = prefix.slice(0, prefix.lastIndexOf('/') + 1);
  return names.map((n) => {
    const s = n.slice(prefix.length).replace(/_output_0$/, '') || n;
    if (s.length <= maxLength) return s;
    const parts = s.split('/');
    for (let keep = parts.length - 3; keep >= 1; keep--) {
      const t = [...parts.slice(0, 2), '…', ...parts.slice(-keep)].join('/');
      if (t.length <= maxLength) return t;
    }
    return `…${s.slice(-(maxLength - 1))}`;
  });
}
