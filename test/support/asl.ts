import { join } from 'node:path';
import { definitionText } from '../../src/cli/local-stepfunctions.ts';
import { REPO_ROOT } from './cli.ts';

/**
 * The state machine definitions as Terraform deploys them: the same files
 * (terraform/modules/workflow/definitions/*.asl.json), rendered the way `templatefile` renders them
 * (every `${name}` replaced by its value, and no other template syntax in the files).
 */
export const DEFINITIONS_DIR = join(REPO_ROOT, 'terraform/modules/workflow/definitions');

export type Definition = 'upload' | 'reprocess';

export { definitionText, renderDefinition } from '../../src/cli/local-stepfunctions.ts';

/** The `${...}` names a definition file uses. */
export function placeholders(name: Definition): string[] {
  return [...new Set([...definitionText(name).matchAll(/\$\{([a-z_]+)\}/g)].map((m) => m[1]!))].sort();
}

/** Lambda ARNs of the shape Terraform passes, named after the task. */
export const arn = (name: string) => `arn:aws:lambda:eu-west-1:123456789012:function:imgpipe-test-${name}`;

export const UPLOAD_VALUES = {
  inspect_function_arn: arn('inspect'),
  scan_function_arn: arn('scan'),
  moderate_function_arn: arn('moderate'),
  process_function_arn: arn('process'),
  quarantine_function_arn: arn('quarantine'),
  fail_function_arn: arn('fail'),
  malware_scan: 'true',
  moderation: 'true',
};

export const REPROCESS_VALUES = {
  plan_function_arn: arn('reprocess-plan'),
  batch_function_arn: arn('reprocess-batch'),
  summarize_function_arn: arn('reprocess-summarize'),
  results_bucket: 'imgpipe-test-workflow-123456789012',
  // Empty: the direct mode, no per-upload workflow to go through.
  upload_state_machine_arn: '',
};
