// `exclude.nodes` patterns are regular expressions tested against node names. A pattern that matches
// nothing is almost always a typo or a name from another exporter (`/classifier/Gemm` vs
// `classifier.dense`): accepting it silently would quantize the very layer the user meant to keep in
// float, so it is an error that names the pattern and the nearest real names.
import { errors } from '../errors.ts';
import { editDistance } from '../recipe/suggest.ts';
import type { NodeProto } from '../onnx/types.ts';

/** The node's name as placement sees it (unnamed nodes go by their first output). */
export function nodeLabel(node: NodeProto): string {
  return node.name || node.output[0] || '';
}

/**
 * Throws EXCLUDE_NO_MATCH for the first pattern that matches no node name. Closest names are taken
 * from `preferred` nodes first (the quantizable ones, what an exclusion is for), by edit distance of
 * the pattern's literal text to the name and to each "/"- or "."-separated part of it.
 */
export function checkExcludePatterns(patterns: string[], nodes: NodeProto[], preferred: (n: NodeProto) => boolean): void {
  const names = nodes.map(nodeLabel).filter(Boolean);
  for (const pattern of patterns) {
    const re = new RegExp(pattern);
    if (names.some((n) => re.test(n))) continue;
    const literal = pattern.replace(/[\\^$.*+?()[\]{}|]/g, '');
    const score = (name: string) => Math.min(editDistance(literal, name), ...name.split(/[/.]/).filter(Boolean).map((p) => editDistance(literal, p) + 1));
    const pool = nodes.filter(preferred).map(nodeLabel);
    const candidates = [...new Set(pool.length ? pool : names)];
    const closest = candidates
      .map((n) => ({ n, d: score(n) }))
      .sort((a, b) => a.d - b.d || (a.n < b.n ? -1 : 1))
      .slice(0, 3)
      .map((c) => c.n);
    throw errors.excludeMatchesNothing(pattern, closest);
  }
}
