// Which arguments of a command line name files under the recipe folder (and so join the key).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useTempDir } from '../../tests/helpers/temp.ts';
import { namedPaths } from './index.ts';

describe('command: files named by the command line', () => {
  const dir = useTempDir();
  mkdirSync(join(dir, 'tools', 'lib'), { recursive: true });
  mkdirSync(join(dir, '.qrun'), { recursive: true });
  writeFileSync(join(dir, 'tools', 'measure.py'), 'print(1)');
  writeFileSync(join(dir, 'config.yaml'), 'a: 1');

  it('keeps arguments that name an existing file or folder under the recipe folder', () => {
    expect(namedPaths(['python3', 'tools/measure.py', '--config=config.yaml', '{recipeDir}/tools/lib', '{inputs.model}', '-v'], dir)).toEqual({
      'tools/measure.py': join(dir, 'tools/measure.py'),
      'config.yaml': join(dir, 'config.yaml'),
      'tools/lib': join(dir, 'tools/lib'),
    });
  });

  it('leaves out the recipe folder itself, its cache, paths outside it and words that are not files', () => {
    expect(namedPaths(['.', './', '.qrun', '..', '/etc/hostname', 'python3', 'tools/missing.py', '{outputs.stats}'], dir)).toEqual({});
  });
});
