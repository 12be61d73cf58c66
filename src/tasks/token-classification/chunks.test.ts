// The chunking and scoring against seqeval's own documented examples (its README and the docstrings
// of get_entities, f1_score, precision_score, recall_score and classification_report, seqeval 1.2),
// plus the conlleval rules those examples do not reach (IOB1-style I- starts, IOBES).
import { describe, expect, it } from 'vitest';
import { entitiesOf, scoreEntities, splitTag } from './chunks.ts';

const tuples = (tags: string[]) => entitiesOf(tags).map((e) => [e.type, e.start, e.end]);

describe('entity chunking as seqeval reads tags (default mode = conlleval)', () => {
  it("get_entities' docstring: ['B-PER', 'I-PER', 'O', 'B-LOC'] → PER 0–1, LOC 3–3", () => {
    expect(tuples(['B-PER', 'I-PER', 'O', 'B-LOC'])).toEqual([
      ['PER', 0, 1],
      ['LOC', 3, 3],
    ]);
  });

  it('an I- tag after O or another type starts an entity; B- after I- of the same type starts a new one', () => {
    expect(tuples(['I-PER', 'I-PER', 'O', 'I-LOC', 'B-LOC', 'I-ORG'])).toEqual([
      ['PER', 0, 1],
      ['LOC', 3, 3],
      ['LOC', 4, 4],
      ['ORG', 5, 5],
    ]);
  });

  it('IOBES: S- is an entity alone, E- ends one; an entity running to the end is closed', () => {
    expect(tuples(['S-PER', 'B-LOC', 'E-LOC', 'O', 'B-MISC', 'I-MISC'])).toEqual([
      ['PER', 0, 0],
      ['LOC', 1, 2],
      ['MISC', 4, 5],
    ]);
  });

  it('reads a tag as seqeval does', () => {
    expect(splitTag('B-PER')).toEqual(['B', 'PER']);
    expect(splitTag('I-B-X')).toEqual(['I', 'B-X']);
    expect(splitTag('O')).toEqual(['O', '_']);
    expect(splitTag('B')).toEqual(['B', '_']);
  });
});

describe('entity precision, recall and F1 (seqeval micro average)', () => {
  // seqeval README / f1_score docstring
  const yTrue = [
    ['O', 'O', 'O', 'B-MISC', 'I-MISC', 'I-MISC', 'O'],
    ['B-PER', 'I-PER', 'O'],
  ];
  const yPred = [
    ['O', 'O', 'B-MISC', 'I-MISC', 'I-MISC', 'I-MISC', 'O'],
    ['B-PER', 'I-PER', 'O'],
  ];

  it("the README's example: f1 0.50, precision 0.50, recall 0.50; MISC 0.00 and PER 1.00 with support 1 each", () => {
    const s = scoreEntities(yTrue, yPred);
    expect([s.f1, s.precision, s.recall, s.support]).toEqual([0.5, 0.5, 0.5, 2]);
    expect(s.perType.MISC).toMatchObject({ precision: 0, recall: 0, f1: 0, support: 1 });
    expect(s.perType.PER).toMatchObject({ precision: 1, recall: 1, f1: 1, support: 1 });
  });

  it("the README's default-vs-strict example: I-NP I-NP against B-NP I-NP is a match by default (f1 1.00)", () => {
    expect(scoreEntities([['B-NP', 'I-NP', 'O']], [['I-NP', 'I-NP', 'O']]).f1).toBe(1);
  });

  it('an entity must match in type and both ends; the same span in another sentence does not count', () => {
    const s = scoreEntities(
      [
        ['B-A', 'O'],
        ['O', 'B-A'],
      ],
      [
        ['O', 'B-A'],
        ['B-A', 'O'],
      ],
    );
    expect([s.correct, s.predicted, s.support, s.f1]).toEqual([0, 2, 2, 0]);
    expect(scoreEntities([['B-A', 'I-A']], [['B-B', 'I-B']]).f1).toBe(0);
  });

  it('counts pool over types (micro): 3 of 4 gold found with 1 spurious → P 0.75, R 0.75', () => {
    const s = scoreEntities([['B-A', 'O', 'B-B', 'O', 'B-A', 'B-B']], [['B-A', 'O', 'B-B', 'B-A', 'B-A', 'O']]);
    expect([s.correct, s.predicted, s.support]).toEqual([3, 4, 4]);
    expect(s.precision).toBeCloseTo(0.75, 12);
    expect(s.recall).toBeCloseTo(0.75, 12);
    expect(s.perType.A).toMatchObject({ correct: 2, predicted: 3, support: 2 });
  });

  it('no entities anywhere: 0, not NaN (zero_division)', () => {
    expect(scoreEntities([['O']], [['O']])).toMatchObject({ precision: 0, recall: 0, f1: 0 });
  });
});
