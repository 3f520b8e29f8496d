import { SETTINGS } from '../../src/config/settings.ts';
import { writeFileAtomically } from '../lib/write-atomic.ts';
import { MAX_PROVISIONED_CONCURRENCY, MAX_TIMEOUT_SECONDS } from './derive.ts';
import type { Derived } from './types.ts';

/** The pixel limit's Terraform name, from the settings table (it sets IMGPIPE_MAX_PIXELS). */
const MAX_PIXELS = SETTINGS.maxPixels.terraform;

/**
 * The Terraform variables the sweep decides, in the order and with the names the deployment root
 * declares (terraform/deployment/variables.tf). The file is terraform/envs/<env>/tuning.tfvars.json,
 * which every plan and apply of that environment passes with `-var-file`.
 */
export interface TuningTfvars {
  /** MB, integer. */
  readonly lambda_memory_size: number;
  /** Seconds, integer, at most MAX_TIMEOUT_SECONDS (the workflow module's 110, below Lambda's 900). */
  readonly lambda_timeout: number;
  /** Integer, 0-MAX_PROVISIONED_CONCURRENCY (the module's limit). */
  readonly lambda_provisioned_concurrency: number;
  /** Largest width x height the function accepts. */
  readonly [MAX_PIXELS]: number;
}

export const TFVARS_KEYS = [
  'lambda_memory_size',
  'lambda_timeout',
  'lambda_provisioned_concurrency',
  MAX_PIXELS,
] as const satisfies readonly (keyof TuningTfvars)[];

export function buildTfvars(derived: Derived): TuningTfvars {
  const integer = (name: string, value: number, min: number, max: number) => {
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new RangeError(`${name} must be an integer between ${min} and ${max}, not ${value}`);
    }
    return value;
  };
  return {
    lambda_memory_size: integer('lambda_memory_size', derived.memoryMb, 512, 10240),
    lambda_timeout: integer('lambda_timeout', derived.timeoutSeconds, 1, MAX_TIMEOUT_SECONDS),
    lambda_provisioned_concurrency: integer(
      'lambda_provisioned_concurrency',
      derived.provisionedConcurrency,
      0,
      MAX_PROVISIONED_CONCURRENCY,
    ),
    [MAX_PIXELS]: integer(MAX_PIXELS, derived.maxInputPixels, SETTINGS.maxPixels.min, SETTINGS.maxPixels.max),
  };
}

export function renderTfvars(vars: TuningTfvars): string {
  const ordered = Object.fromEntries(TFVARS_KEYS.map((key) => [key, vars[key]]));
  return `${JSON.stringify(ordered, null, 2)}\n`;
}

/** Atomically: a sweep stopped or failing while it writes leaves the previous file whole. */
export async function writeTfvars(path: string, vars: TuningTfvars): Promise<void> {
  await writeFileAtomically(path, renderTfvars(vars));
}
