// Where a command writes: lines for the user (stdout) and for problems (stderr). src/cli.ts passes
// the process's streams; tests pass arrays.
export interface Output {
  out(line: string): void;
  err(line: string): void;
}
