import { cumsumIntToFloat } from './cumsum-int-to-float.ts';
import { removeIdentity } from './remove-identity.ts';
import type { GraphRule } from './rule.ts';

/** Every built-in rule, in the order they run when a recipe asks for all of them. */
export const RULES: GraphRule[] = [removeIdentity, cumsumIntToFloat];
export const RULE_NAMES = RULES.map((r) => r.name);
export type { GraphRule, RuleOutcome } from './rule.ts';
