import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SETTINGS, type Setting } from '../../src/config/settings.ts';
import { TERRAFORM_DIR } from './hcl.ts';

/**
 * The settings table (src/config/settings.ts) names, for each setting, the Terraform variable of
 * the module that sets it. The module must do exactly that, with the range the function accepts.
 */
const MODULE = join(TERRAFORM_DIR, 'modules/imgpipe');
const main = readFileSync(join(MODULE, 'main.tf'), 'utf8');
const variables = readFileSync(join(MODULE, 'variables.tf'), 'utf8');
const settings = Object.entries(SETTINGS) as [string, Setting & Partial<{ min: number; max: number }>][];

function variableBlock(name: string): string {
  const start = variables.indexOf(`variable "${name}" {`);
  expect(start, `variables.tf declares ${name}`).toBeGreaterThanOrEqual(0);
  const next = variables.indexOf('\nvariable "', start + 1);
  return variables.slice(start, next === -1 ? undefined : next);
}

describe('the settings table and the Terraform module', () => {
  // local.<name>: the variable with a default derived from others (service_name: the deployment's name).
  it('sets each environment variable from the Terraform variable the table names', () => {
    const mapped = settings.filter(([, setting]) => setting.terraform !== undefined);
    expect(mapped.length).toBeGreaterThan(0);
    for (const [name, setting] of mapped) {
      const line = new RegExp(
        `^\\s*${setting.env}\\s*=\\s*(tostring\\()?(var|local)\\.${setting.terraform}\\)?\\s*$`,
        'm',
      );
      expect(main, `${name}: ${setting.env} = var.${setting.terraform}`).toMatch(line);
    }
  });

  it('sets no IMGPIPE_ variable the table does not know', () => {
    const known = new Set(settings.map(([, setting]) => setting.env));
    const set = [...main.matchAll(/^\s*(IMGPIPE_[A-Z_]+)\s*=/gm)].map((match) => match[1]!);
    expect(set.length).toBeGreaterThan(0);
    for (const env of set) expect(known, env).toContain(env);
  });

  it("validates each numeric variable with the function's own range", () => {
    for (const [name, setting] of settings) {
      if (setting.terraform === undefined || setting.min === undefined) continue;
      const block = variableBlock(setting.terraform);
      const variable = `var.${setting.terraform}`;
      expect(block, name).toContain(`${variable} >= ${setting.min}`);
      expect(block, name).toContain(`${variable} <= ${setting.max}`);
    }
  });

  it('refuses, in environment_variables, every variable the module sets itself', () => {
    const deny = variableBlock('environment_variables');
    for (const [, setting] of settings.filter(([, s]) => s.terraform !== undefined))
      expect(deny, setting.env).toContain(`"${setting.env}"`);
  });
});
