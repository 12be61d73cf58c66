// Maps a JSON path inside a parsed YAML document back to line:col, so every recipe error points at
// the exact key or value the user wrote.
import { isMap, isPair, isScalar, isSeq, LineCounter, type Document, type Node } from 'yaml';

export interface Position {
  line: number;
  col: number;
}

export class YamlLocator {
  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  private pos(offset: number): Position {
    const p = this.lines.linePos(offset);
    return { line: p.line, col: p.col };
  }

  /**
   * Position of the value at `path`; with `key: true`, of the key that holds it. Falls back to the
   * deepest existing ancestor when the path does not exist (e.g. a missing required property).
   */
  locate(path: (string | number)[], opts: { key?: boolean } = {}): Position | undefined {
    let node: unknown = this.doc.contents;
    let best: Position | undefined = node && (node as Node).range ? this.pos((node as Node).range![0]) : undefined;
    for (let i = 0; i < path.length; i++) {
      const seg = path[i]!;
      const last = i === path.length - 1;
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
        if (!pair) return best;
        const keyNode = pair.key as Node;
        if (last && opts.key && keyNode.range) return this.pos(keyNode.range[0]);
        node = pair.value;
        const range = (node as Node | null)?.range ?? keyNode.range;
        if (range) best = this.pos(range[0]);
      } else if (isSeq(node)) {
        const item = node.items[Number(seg)] as Node | undefined;
        if (!item) return best;
        node = item;
        if (item.range) best = this.pos(item.range[0]);
      } else return best;
    }
    return best;
  }
}
