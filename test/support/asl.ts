import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './cli.ts';

/**
 * The state machine definitions as Terraform deploys them: the same files
 * (terraform/modules/workflow/definitions/*.asl.json), rendered the way `templatefile` renders them
 * (every `${name}` replaced by its value, and no other template syntax in the files).
 */
export const DEFINITIONS_DIR = join(REPO_ROOT, 'terraform/modules/workflow/definitions');

export type Definition = 'upload' | 'reprocess';

export function definitionText(name: Definition): string {
  return readFileSync(join(DEFINITIONS_DIR, `${name}.asl.json`), 'utf8');
}

/** The `${...}` names a definition file uses. */
export function placeholders(name: Definition): string[] {
  return [...new Set([...definitionText(name).matchAll(/\$\{([a-z_]+)\}/g)].map((m) => m[1]!))].sort();
}

export function renderDefinition(name: Definition, values: Record<string, string>): Record<string, unknown> {
  const text = definitionText(name);
  if (/%\{|\$\{(?![a-z_]+\})/.test(text)) throw new Error(`${name}: template syntax other than \${name}`);
  const rendered = text.replace(/\$\{([a-z_]+)\}/g, (_, key: string) => {
    const value = values[key];
    if (value === undefined) throw new Error(`${name}: no value for \${${key}}`);
    return value;
  });
  return JSON.parse(rendered) as Record<string, unknown>;
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
};
