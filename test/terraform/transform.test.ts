import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TRANSFORM_SETTINGS } from '../../src/config/settings.ts';
import { SIGNING_KEYS_PLACEHOLDER } from '../../src/handlers/transform.ts';
import { TRANSFORM_PARAMS } from '../../src/handlers/transform-request.ts';
import { blocks, loadTerraform, TERRAFORM_DIR } from './hcl.ts';

/**
 * terraform/modules/transform held to the code: every setting of TRANSFORM_SETTINGS that names a
 * module variable is declared there and reaches the function's environment; the cache key carries
 * exactly the parameters the handler reads.
 */
const dir = join(TERRAFORM_DIR, 'modules/transform');
const variables = readFileSync(join(dir, 'variables.tf'), 'utf8');
const main = readFileSync(join(dir, 'main.tf'), 'utf8');

describe('modules/transform and TRANSFORM_SETTINGS', () => {
  it('declares each setting’s variable and sets its environment variable from it', () => {
    for (const setting of Object.values(TRANSFORM_SETTINGS)) {
      if (!('terraform' in setting)) continue;
      expect(variables, setting.terraform).toContain(`variable "${setting.terraform}" {`);
      expect(main, setting.env).toMatch(new RegExp(`\\b${setting.env}\\s*=`));
    }
  });

  it('keys the cache on the parameters the handler reads', () => {
    const listed = /query_parameters = \[(.*)\]/
      .exec(main)![1]!
      .split(',')
      .map((p) => p.trim().replaceAll('"', ''));
    expect(listed).toEqual([...TRANSFORM_PARAMS]);
    // The README names them (wm, forwarded, was missing: a reader took it to be dropped at the edge).
    const readme = readFileSync(join(dir, 'README.md'), 'utf8');
    const cacheKey = /\*\*Cache key\*\*: the \w+ parameters \(`([^`]*)`/.exec(readme)?.[1]?.split(' ');
    expect(cacheKey).toEqual([...TRANSFORM_PARAMS]);
    expect(readme).toContain(`/t/<key>?${TRANSFORM_PARAMS.map((name) => `${name}=`).join('&')} `);
  });

  it('creates the keys’ parameter with the placeholder the function refuses as a key', () => {
    const resource = main.slice(main.indexOf('resource "aws_ssm_parameter" "this"'));
    const value = /^\s*value\s*=\s*"([^"]*)"/m.exec(resource)?.[1];
    expect(value).toBe(SIGNING_KEYS_PLACEHOLDER);
  });

  it('sends the function no viewer header besides the cache key’s, not If-None-Match', async () => {
    const module = (await loadTerraform()).get('modules/transform')!;
    const policy = module.resource.aws_cloudfront_origin_request_policy!.this!;
    expect(blocks(policy, 'headers_config')).toEqual([{ header_behavior: 'none' }]);
  });
});
