// A lint for the test files vitest runs: no focused test (`.only`) may land, and no test may be
// skipped without saying why. A stray `.only` turns the rest of a file's tests off silently; a bare
// skip is a test that passes without running. Both read as green in `npm test`.
//
// It parses each file with the TypeScript compiler (a devDependency already), so a sample such as
// 'it.only(' inside a string or a comment is not a finding, and a real call is found however it is
// formatted.
//
// Rejected (code TEST_ONLY), always:
//   describe/it/test/suite/bench .only (anywhere in the chain: it.concurrent.only, describe.only.each),
//   fit(…), fdescribe(…), and an options object `{ only: … }` given to one of them.
// Rejected unless a reason is stated (code TEST_SKIP_NO_REASON):
//   .skip .skipIf .runIf .todo on describe/it/test/suite/bench; xit/xtest/xdescribe(…);
//   an options object `{ skip: … }` / `{ todo: … }`; the test context's skip (`ctx.skip()`,
//   `t.skip(cond)`, a destructured `skip()`).
// A stated reason is, precisely, either
//   (a) a line comment `// skip-reason: <text>` (text not blank) on the line of the skip, or among the
//       unbroken run of `//` lines directly above the line where the statement holding it starts; or
//   (b) for the test context's skip only: a non-blank string or template literal as its note argument
//       (`ctx.skip('no GPU')`, `ctx.skip(!ok, 'why')`), which vitest prints in its report.
//
// Run it: `npx tsx scripts/lint-tests.ts [files…]` (no files: every file vitest.config.ts includes).
// tests/lint-tests.test.ts runs it over the repository, so it is part of `npm test`.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { glob } from 'tinyglobby';

export type TestLintCode = 'TEST_ONLY' | 'TEST_SKIP_NO_REASON';

export interface TestLintFinding {
  file: string;
  /** 1-based, as editors and `file:line:col` links count. */
  line: number;
  column: number;
  code: TestLintCode;
  message: string;
  hint: string;
}

/** vitest's test and suite functions, the roots of the chains (`it.concurrent.skip`) we look at. */
const TEST_APIS = new Set(['describe', 'it', 'test', 'suite', 'bench']);
/** Jasmine/Jest spellings: vitest does not define them, but a file that calls them means it. */
const FOCUS_CALLS = new Set(['fit', 'fdescribe']);
const SKIP_CALLS = new Set(['xit', 'xtest', 'xdescribe']);
const SKIP_MODIFIERS = new Set(['skip', 'skipIf', 'runIf', 'todo']);

const REASON_COMMENT = /\/\/\s*skip-reason:\s*\S/;
const ONLY_HINT = 'remove the .only before committing: it silently turns off every other test in the file';
const SKIP_HINT = 'state why on the line, or in the comment lines directly above it: `// skip-reason: <why>` (for ctx.skip, a note argument also does)';

/** Lints one file's text; `file` is only used to name it in findings. */
export function lintTestSource(source: string, file: string): TestLintFinding[] {
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const lines = source.split(/\r?\n/);
  const apis = new Set(TEST_APIS);
  const findings: TestLintFinding[] = [];

  // `const myTest = test.extend({...})` makes another test function with the same modifiers.
  const collectExtends = (node: ts.Node): void => {
    if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) && node.initializer && ts.isCallExpression(node.initializer)) {
      const callee = node.initializer.expression;
      if (ts.isPropertyAccessExpression(callee) && callee.name.text === 'extend' && isTestApiChain(callee.expression, apis)) apis.add(node.name.text);
    }
    ts.forEachChild(node, collectExtends);
  };
  collectExtends(sf);

  const report = (at: ts.Node, code: TestLintCode, message: string): void => {
    const { line, character } = sf.getLineAndCharacterOfPosition(at.getStart(sf));
    findings.push({ file, line: line + 1, column: character + 1, code, message, hint: code === 'TEST_ONLY' ? ONLY_HINT : SKIP_HINT });
  };
  const skipWithoutReason = (at: ts.Node, what: string): void => {
    if (!hasReasonComment(sf, lines, at)) report(at, 'TEST_SKIP_NO_REASON', `${what} without a stated reason`);
  };

  const visit = (node: ts.Node): void => {
    if (ts.isPropertyAccessExpression(node)) {
      const name = node.name.text;
      if (isTestApiChain(node.expression, apis)) {
        if (name === 'only') report(node.name, 'TEST_ONLY', `${node.getText(sf)} focuses this test and turns the others off`);
        else if (SKIP_MODIFIERS.has(name)) skipWithoutReason(node.name, node.getText(sf));
      } else if (name === 'skip' && ts.isCallExpression(node.parent) && node.parent.expression === node) {
        // The test context's skip: ctx.skip(), t.skip(condition), context.skip('note').
        if (!hasNote(node.parent)) skipWithoutReason(node.name, `${node.getText(sf)}()`);
      }
    } else if (ts.isCallExpression(node)) {
      const callee = node.expression;
      if (ts.isIdentifier(callee)) {
        if (FOCUS_CALLS.has(callee.text)) report(callee, 'TEST_ONLY', `${callee.text}() focuses this test and turns the others off`);
        else if (SKIP_CALLS.has(callee.text)) skipWithoutReason(callee, `${callee.text}()`);
        // `async ({ skip }) => { skip() }`: the context's skip, destructured.
        else if (callee.text === 'skip' && !hasNote(node)) skipWithoutReason(callee, 'skip()');
      }
      // it('title', { skip: true }, fn) / describe('title', { only: true }, fn)
      if (isTestApiChain(callee, apis)) {
        for (const arg of node.arguments) {
          if (!ts.isObjectLiteralExpression(arg)) continue;
          for (const prop of arg.properties) {
            const key = prop.name && (ts.isIdentifier(prop.name) || ts.isStringLiteral(prop.name)) ? prop.name.text : undefined;
            if (!key || !['only', 'skip', 'todo'].includes(key)) continue;
            if (ts.isPropertyAssignment(prop) && prop.initializer.kind === ts.SyntaxKind.FalseKeyword) continue;
            if (key === 'only') report(prop, 'TEST_ONLY', `option { only } focuses this test and turns the others off`);
            else skipWithoutReason(prop, `option { ${key} }`);
          }
        }
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return findings.sort((a, b) => a.line - b.line || a.column - b.column);
}

/** True when `expr` is a test API or a chain that starts at one: it, it.concurrent, it.each([...]). */
function isTestApiChain(expr: ts.Expression, apis: ReadonlySet<string>): boolean {
  let e: ts.Expression = expr;
  for (;;) {
    if (ts.isIdentifier(e)) return apis.has(e.text);
    if (ts.isPropertyAccessExpression(e) || ts.isElementAccessExpression(e)) e = e.expression;
    else if (ts.isCallExpression(e)) e = e.expression;
    else if (ts.isParenthesizedExpression(e) || ts.isNonNullExpression(e)) e = e.expression;
    else return false;
  }
}

/** The test context's skip with a note vitest will print: skip('why') or skip(condition, 'why'). */
function hasNote(call: ts.CallExpression): boolean {
  const note = call.arguments.length >= 2 ? call.arguments[1] : call.arguments[0];
  if (!note) return false;
  if (ts.isStringLiteral(note) || ts.isNoSubstitutionTemplateLiteral(note)) return note.text.trim() !== '';
  if (ts.isTemplateExpression(note)) return true;
  return false;
}

/** Rule (a): `// skip-reason: …` on the line of `at`, or in the comment run above its statement. */
function hasReasonComment(sf: ts.SourceFile, lines: string[], at: ts.Node): boolean {
  const ownLine = sf.getLineAndCharacterOfPosition(at.getStart(sf)).line;
  if (REASON_COMMENT.test(lines[ownLine] ?? '')) return true;
  let statement: ts.Node = at;
  while (statement.parent && !ts.isSourceFile(statement.parent) && !ts.isBlock(statement.parent) && !ts.isModuleBlock(statement.parent)) statement = statement.parent;
  const firstLine = sf.getLineAndCharacterOfPosition(statement.getStart(sf)).line;
  if (REASON_COMMENT.test(lines[firstLine] ?? '')) return true;
  for (let l = firstLine - 1; l >= 0 && /^\s*\/\//.test(lines[l]!); l--) {
    if (REASON_COMMENT.test(lines[l]!)) return true;
  }
  return false;
}

/** The files vitest runs (vitest.config.ts's `include`), relative to `root`. */
export async function testFiles(root: string): Promise<string[]> {
  const { default: config } = (await import('../vitest.config.ts')) as { default: { test?: { include?: string[] } } };
  const include = config.test?.include;
  if (!include?.length) throw new Error('vitest.config.ts has no test.include: the lint would check nothing');
  return (await glob(include, { cwd: root, ignore: ['**/node_modules/**'] })).sort();
}

/** Lints `files` (paths relative to `root`), or every test file vitest runs. */
export async function lintTestFiles(root: string, files?: string[]): Promise<{ files: string[]; findings: TestLintFinding[] }> {
  const list = files ?? (await testFiles(root));
  const findings = list.flatMap((f) => lintTestSource(readFileSync(resolve(root, f), 'utf8'), f));
  return { files: list, findings };
}

/** `file:line:col: error CODE: message` and the hint, as qrun prints its own diagnostics. */
export function formatFinding(f: TestLintFinding): string {
  return `${f.file}:${f.line}:${f.column}: error ${f.code}: ${f.message}\n  hint: ${f.hint}`;
}

const REPO = fileURLToPath(new URL('..', import.meta.url));

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  // Files named on the command line are reported as they were given; the default set relative to the repository.
  const args = process.argv.slice(2);
  const { files, findings } = args.length ? await lintTestFiles(process.cwd(), args) : await lintTestFiles(REPO);
  for (const f of findings) console.error(formatFinding(f));
  if (findings.length) {
    console.error(`lint-tests: ${findings.length} problem(s) in ${new Set(findings.map((f) => f.file)).size} file(s)`);
    process.exitCode = 1;
  } else {
    console.log(`lint-tests: ${files.length} test file(s), no .only, every skip states its reason`);
  }
}
