import { cumsumIntToFloat } from './cumsum-int-to-float.ts';
import { foldBatchnorm } from './fold-batchnorm.ts';
import { int64InputsToInt32 } from './int64-inputs-to-int32.ts';
import { removeIdentity } from './remove-identity.ts';
import { removeNoopCast } from './remove-noop-cast.ts';
import type { GraphRule } from './rule.ts';

/** Every built-in rule, in the order they run when a recipe asks for all of them. */
export const RULES: GraphRule[] = [removeIdentity, removeNoopCast, foldBatchnorm, cumsumIntToFloat, int64InputsToInt32];
export const RULE_NAMES = RULES.map((r) => r.name);
export type { GraphRule, RuleOutcome } from './rule.ts';
