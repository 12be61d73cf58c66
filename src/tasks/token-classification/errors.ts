// Token classification's failures, in the form of src/errors.ts (a stable code, the file and line
// where known, a hint), kept beside the task as src/tasks/errors.ts asks.
import { EXIT, QrunError } from '../../errors.ts';

const FORMAT = 'each line is {"tokens": ["Open", "/etc/passwd"], "tags": ["O", "B-PATH"]}: one tag per word, BIO (IOB2) tags such as B-PER / I-PER / O (IOB1 and IOBES are read too)';

const at = (code: string, file: string, line: number, message: string, hint: string) =>
  new QrunError([{ code, message: `${file}:${line}: ${message}`, location: { file, line, col: 1 }, hint }], EXIT.usage);

export const tokenClassificationErrors = {
  /** A line that is not a words + tags record. */
  dataInvalid: (file: string, line: number, message: string) => at('DATA_INVALID', file, line, message, FORMAT),
  /** Tags of a scheme the entity scoring cannot read (BILOU), or no scheme at all. */
  tagScheme: (file: string, line: number, tag: string, why: string) =>
    at(
      'NER_TAG_SCHEME',
      file,
      line,
      `tag "${tag}" ${why}`,
      'write BIO (IOB2) tags: B-TYPE on the first word of an entity, I-TYPE on the others, O outside (BILOU: L- → I-, U- → B-); IOB1 and IOBES (E-, S-) are read as seqeval reads them',
    ),
  /** Gold tags whose entity type the model does not predict: almost always a naming mismatch. */
  unknownType: (file: string, line: number, type: string, known: string[]) =>
    at(
      'NER_TAG_UNKNOWN',
      file,
      line,
      `entity type "${type}" is not one the model predicts (config.json id2label has ${known.length ? known.join(', ') : 'no entity types'})`,
      'rename the tags to the model’s (id2label in config.json), or use a model trained for these types',
    ),
  /** A tag given as a number beyond id2label. */
  tagIndex: (file: string, line: number, index: number, count: number) =>
    at('NER_TAG_UNKNOWN', file, line, `tag index ${index} is not a label of the model (id2label has ${count})`, 'numbers are indices into config.json id2label (as Hugging Face datasets write ner_tags); write the tag names instead'),
  /** Tags on some rows only. */
  tagsPartial: (file: string, withTags: number, without: number, firstWithout: number) =>
    at('DATA_INVALID', file, firstWithout, `${withTags} rows have tags and ${without} do not (first: this line)`, 'give every row its tags, or none (a calibration set needs none)'),
  /** The model's id2label is not a tag set (no B-/I-/O labels). */
  notTagLabels: (where: string, labels: string[]) =>
    new QrunError(
      [
        {
          code: 'NER_LABELS',
          message: `${where}: id2label (${labels.slice(0, 8).join(', ')}${labels.length > 8 ? ', …' : ''}) are not entity tags (O, B-TYPE, I-TYPE…)`,
          hint: 'token classification scores entities from BIO tags; a model with other labels (part-of-speech tags) needs its own scoring',
        },
      ],
      EXIT.usage,
    ),
};
