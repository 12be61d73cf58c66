// What the command step reports (src/engine/plugin.ts MetricsDeclaration). Plain data, so the reports,
// the gate check and docs/recipe-reference.md read it without loading the plugin.
import type { MetricsDeclaration } from '../../src/engine/plugin.ts';

export const commandMetrics: MetricsDeclaration = {
  exitCode: { unit: 'number', better: 'none', description: 'The command\'s exit code (a step whose command fails fails; this is 0).' },
};
