// Entity-level scoring of tag sequences, as seqeval scores them by default (its `f1_score`,
// `precision_score`, `recall_score` and `classification_report` without `mode="strict"`), which is
// conlleval's: tags are read as chunks by conlleval's start/end rules, an entity counts as found
// only when a predicted chunk has exactly its type and its first and last word, and the counts are
// pooled over every sentence and type (micro average).
//
// The chunk rules (seqeval/metrics/sequence_labeling.py end_of_chunk / start_of_chunk) cover IOB2
// (BIO), IOB1, IOE and IOBES: an I- tag after O or after another type starts an entity (IOB1, and a
// model's stray I-), B- and S- always start one, E- and S- end one. BILOU's L-/U- are not read by
// them (seqeval's default mode would take L-PER as its own type "PER" with an unknown prefix), so
// the data reader refuses them with a hint rather than score them wrongly.
export interface Entity {
  type: string;
  /** First and last word, inclusive, in the sequence. */
  start: number;
  end: number;
}

/** 'B-PER' → ['B', 'PER']; 'O' → ['O', '_']; 'B' → ['B', '_'] (seqeval's reading of a tag). */
export function splitTag(tag: string): [prefix: string, type: string] {
  const rest = tag.slice(1);
  const dash = rest.indexOf('-');
  return [tag.charAt(0), (dash >= 0 ? rest.slice(dash + 1) : rest) || '_'];
}

function endOfChunk(prevTag: string, tag: string, prevType: string, type: string): boolean {
  if (prevTag === 'E' || prevTag === 'S') return true;
  if ((prevTag === 'B' || prevTag === 'I') && (tag === 'B' || tag === 'S' || tag === 'O')) return true;
  return prevTag !== 'O' && prevTag !== '.' && prevType !== type;
}

function startOfChunk(prevTag: string, tag: string, prevType: string, type: string): boolean {
  if (tag === 'B' || tag === 'S') return true;
  if ((prevTag === 'E' || prevTag === 'S' || prevTag === 'O') && (tag === 'E' || tag === 'I')) return true;
  return tag !== 'O' && tag !== '.' && prevType !== type;
}

/** The entities of one tag sequence, in order (seqeval's get_entities on one sentence). */
export function entitiesOf(tags: readonly string[]): Entity[] {
  const out: Entity[] = [];
  let prevTag = 'O';
  let prevType = '';
  let begin = 0;
  for (let i = 0; i <= tags.length; i++) {
    const [tag, type] = i < tags.length ? splitTag(tags[i]!) : ['O', '_'];
    if (endOfChunk(prevTag, tag, prevType, type)) out.push({ type: prevType, start: begin, end: i - 1 });
    if (startOfChunk(prevTag, tag, prevType, type)) begin = i;
    prevTag = tag;
    prevType = type;
  }
  return out;
}

export interface PrecisionRecall {
  precision: number;
  recall: number;
  f1: number;
  /** Entities in the gold sequences (seqeval's support). */
  support: number;
  predicted: number;
  correct: number;
}

export interface EntityScores extends PrecisionRecall {
  /** Per entity type (in the gold or the predictions), sorted by name. */
  perType: Record<string, PrecisionRecall>;
}

/** precision, recall and F1 from counts; 0 where a denominator is 0 (seqeval's zero_division default, without the warning). */
function prf(correct: number, predicted: number, support: number): PrecisionRecall {
  const precision = predicted > 0 ? correct / predicted : 0;
  const recall = support > 0 ? correct / support : 0;
  const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return { precision, recall, f1, support, predicted, correct };
}

const key = (sentence: number, e: Entity) => `${sentence}\u0000${e.type}\u0000${e.start}\u0000${e.end}`;

/**
 * Micro-averaged entity precision, recall and F1 of `predicted` against `gold` (one tag sequence
 * per sentence, the same lengths), with the same per type: seqeval's f1_score(gold, predicted).
 */
export function scoreEntities(gold: readonly (readonly string[])[], predicted: readonly (readonly string[])[]): EntityScores {
  if (gold.length !== predicted.length) throw new Error(`scoreEntities: ${gold.length} gold sequences but ${predicted.length} predicted`);
  const goldKeys = new Map<string, string>();
  const predKeys = new Map<string, string>();
  gold.forEach((tags, s) => {
    if (tags.length !== predicted[s]!.length) throw new Error(`scoreEntities: sentence ${s} has ${tags.length} gold tags but ${predicted[s]!.length} predicted`);
    for (const e of entitiesOf(tags)) goldKeys.set(key(s, e), e.type);
    for (const e of entitiesOf(predicted[s]!)) predKeys.set(key(s, e), e.type);
  });
  const types = [...new Set([...goldKeys.values(), ...predKeys.values()])].sort();
  const count = (m: Map<string, string>, type?: string) => [...m.values()].filter((t) => type === undefined || t === type).length;
  const hits = (type?: string) => [...predKeys].filter(([k, t]) => (type === undefined || t === type) && goldKeys.has(k)).length;
  const perType = Object.fromEntries(types.map((t) => [t, prf(hits(t), count(predKeys, t), count(goldKeys, t))]));
  return { ...prf(hits(), count(predKeys), count(goldKeys)), perType };
}
