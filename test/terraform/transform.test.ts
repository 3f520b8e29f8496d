import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TRANSFORM_SETTINGS } from '../../src/config/settings.ts';
import { DEFAULT_QUARANTINE_PREFIX } from '../../src/core/layout.ts';
import { TRANSFORM_PARAMS } from '../../src/handlers/transform-request.ts';
import { type Body, blocks, DOLLAR, documentOf, loadTerraform, statements, TERRAFORM_DIR } from './hcl.ts';

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

  it('refuses a results_prefix with *, a wildcard in the path pattern and the policies made of it', async () => {
    // /<results_prefix>* is the results behaviour's path pattern, and <bucket>/<results_prefix>* the
    // bucket policy's and the roles' resources: "*/" took /t/ from the function and let the
    // distribution read every output and manifest.
    const tf = await loadTerraform();
    const condition = String(tf.get('modules/transform')!.variable.results_prefix!.validation[0].condition);
    const pattern = new RegExp(/regex\("([^"]*)"/.exec(condition)![1]!);
    expect(condition).toContain('!startswith(var.results_prefix, "t/")');
    for (const accepted of ['transforms/', 'on-demand/v2/', "a_b.c'(1)!/"])
      expect(pattern.test(accepted), accepted).toBe(true);
    for (const refused of ['*/', 'transforms*/', 'a/*/', '/transforms/', 'transforms'])
      expect(pattern.test(refused), refused).toBe(false);
    const behaviour =
      tf.get('modules/transform')!.resource.aws_cloudfront_distribution!.this!.ordered_cache_behavior[0];
    expect(behaviour.path_pattern).toBe(`/${DOLLAR}{var.results_prefix}*`);
  });

  it('tells the operator to delete, after a leak, the results named with the leaked key', () => {
    // Their names are an HMAC with the newest key, and the results behaviour serves the bucket
    // unsigned: whoever holds a key taken out still works out and reads them (wm=0 included).
    const readme = readFileSync(join(dir, 'README.md'), 'utf8');
    const signing = readme.slice(readme.indexOf('- **Signing**'), readme.indexOf('- **Access**'));
    expect(signing).toContain(
      'Taking a leaked key out stops its URLs, not the results stored while it was the newest',
    );
    expect(signing).toContain('aws s3 rm "s3://<output bucket>/<results_prefix>" --recursive');
    expect(signing).toContain("--paths '/<results_prefix>*'");
  });

  it('leaves the keys’ parameter out of Terraform, forgetting without deleting the one it made before', async () => {
    // As a resource, every plan's refresh read it decrypted (the AWS provider's read of
    // aws_ssm_parameter always asks WithDecryption), so the plan roles, which same-repository pull
    // requests assume, could not be denied the keys without breaking every plan.
    const module = (await loadTerraform()).get('modules/transform')!;
    expect(module.resource.aws_ssm_parameter).toBeUndefined();
    expect(module.data.aws_ssm_parameter).toBeUndefined();
    expect(module.removed.map((r) => [r.from, r.lifecycle[0].destroy])).toEqual([
      ['aws_ssm_parameter.this', false],
    ]);
    expect(module.locals.environment).toContain(
      'IMGPIPE_TRANSFORM_KEYS_PARAMETER           = local.parameter_name',
    );
  });

  it('lets the function read the manifests and quarantine reasons it checks sources by, in the workflow mode', async () => {
    const tf = await loadTerraform();
    const module = tf.get('modules/transform')!;
    const document = module.data.aws_iam_policy_document!.function!;
    const policy = statements(document);
    const granted = (sid: string) =>
      document.dynamic.statement.filter((d: Body) => d.content[0].sid === sid).map((d: Body) => d.for_each);
    expect(granted('ReadManifests')).toEqual([
      `var.checked_sources_only ? ["${DOLLAR}{var.output_bucket_arn}/${DOLLAR}{local.output_prefix}*"] : []`,
    ]);
    // Manifests are under the output prefix the imgpipe module always sets (core/layout.ts).
    expect(module.locals.output_prefix).toBe('lookup(var.function_environment, "IMGPIPE_OUTPUT_PREFIX", "")');
    expect(granted('ReadQuarantineReasons')).toEqual([
      `var.checked_sources_only ? ["${DOLLAR}{var.quarantine_bucket_arn}/${DOLLAR}{local.quarantine_prefix}reasons/*"] : []`,
    ]);
    expect(module.locals.environment).toContain(
      'IMGPIPE_TRANSFORM_CHECKED_ONLY             = tostring(var.checked_sources_only)',
    );
    // A missing record is a 404 to the function, not a 403 (then a 500 for every request).
    const list = policy.find((s) => s.sid === 'TellMissingSourcesApart');
    expect(list?.resources).toContain('var.quarantine_bucket_arn');
    // The prefix the pipeline writes under: the imgpipe module's (empty), else the code's default.
    expect(module.locals.quarantine_prefix).toMatch(
      new RegExp(
        `lookup\\(var\\.function_environment, "IMGPIPE_QUARANTINE_PREFIX", "${DEFAULT_QUARANTINE_PREFIX}"\\)`,
      ),
    );
    const deployment = tf.get('deployment')!;
    expect(deployment.module.transform!.quarantine_bucket_arn).toBe('module.imgpipe.quarantine_bucket_arn');
    expect(deployment.module.transform!.checked_sources_only).toBe('var.mode == "workflow"');
  });

  it('lets the distribution read only the results of the output bucket, the path its results behaviour serves', async () => {
    const tf = await loadTerraform();
    const imgpipe = tf.get('modules/imgpipe')!;
    const grant = statements(imgpipe.data.aws_iam_policy_document!.output_bucket!).find(
      (s) => s.sid === 'CloudFrontReadsThroughOriginAccessControl',
    );
    // Not every output and manifest (`/*`): the prefix the deployment gives both modules.
    expect(grant?.resources).toHaveLength(1);
    expect(grant?.resources[0]).toMatch(
      /^\$\{module\.output_bucket\.s3_bucket_arn\}\/.*\$\{var\.transform_results_prefix\}.*\*$/,
    );
    const deployment = tf.get('deployment')!;
    expect(deployment.module.imgpipe!.transform_results_prefix).toMatch(/local\.transform_results_prefix/);
    expect(deployment.module.transform!.results_prefix).toBe('local.transform_results_prefix');
    const behaviour = blocks(
      tf.get('modules/transform')!.resource.aws_cloudfront_distribution!.this!,
      'ordered_cache_behavior',
    );
    expect(behaviour.map((b) => b.path_pattern)).toEqual([`/${DOLLAR}{var.results_prefix}*`]);
  });

  it('alarms on the function’s throttles, which no 5xx alarm counts', async () => {
    const module = (await loadTerraform()).get('modules/transform')!;
    const alarms = module.locals.alarms as Record<string, Record<string, unknown>>;
    expect(Object.keys(alarms).sort()).toEqual(['5xx', 'errors', 'origin-latency', 'throttles']);
    expect(alarms.throttles).toMatchObject({
      namespace: 'AWS/Lambda',
      metric: 'Throttles',
      statistic: 'Sum',
      threshold: 'var.alarm_throttles_threshold',
      comparison: 'GreaterThanOrEqualToThreshold',
    });
    expect(alarms.throttles!.dimensions).toEqual({ FunctionName: 'aws_lambda_function.this.function_name' });
    expect(module.variable.alarm_throttles_threshold).toBeDefined();
  });

  it('lets only its own CloudFront alarms publish to the us-east-1 topic it creates, as the alarm topic does', async () => {
    // Without a policy of its own the topic had SNS's default one: any principal acting for the
    // account (every service principal on its behalf too) could publish and subscribe, where
    // modules/imgpipe's alarm topic lets CloudWatch publish for the deployment's alarms alone.
    const module = (await loadTerraform()).get('modules/transform')!;
    const topicPolicy = module.resource.aws_sns_topic_policy?.this;
    expect(topicPolicy, 'aws_sns_topic_policy.this').toBeDefined();
    expect(topicPolicy!.count).toBe(module.resource.aws_sns_topic!.this!.count);
    expect(String(topicPolicy!.provider)).toContain('aws.us_east_1');
    expect(topicPolicy!.arn).toBe('aws_sns_topic.this[0].arn');
    const policy = statements(documentOf(module, topicPolicy!.policy));
    const cloudwatch = policy.filter((s) =>
      (s.principals ?? []).some((p: Body) =>
        (p.identifiers as string[]).includes('cloudwatch.amazonaws.com'),
      ),
    );
    expect(cloudwatch).toHaveLength(1);
    expect(cloudwatch[0]!.actions).toEqual(['sns:Publish']);
    expect(cloudwatch[0]!.condition).toEqual([
      {
        test: 'ArnLike',
        variable: 'aws:SourceArn',
        values: [
          `arn:${DOLLAR}{local.partition}:cloudwatch:us-east-1:${DOLLAR}{local.account_id}:alarm:${DOLLAR}{var.name}-transform-cloudfront-*`,
        ],
      },
    ]);
    // The alarms it names are the CloudFront ones, in us-east-1.
    const alarms = module.resource.aws_cloudwatch_metric_alarm!.cloudfront!;
    expect(alarms.alarm_name).toBe(`${DOLLAR}{var.name}-transform-${DOLLAR}{each.key}`);
    expect(
      Object.keys(module.locals.cloudfront_alarms as Body).every((key) => key.startsWith('cloudfront-')),
    ).toBe(true);
    // No one else but the account, through its own IAM policies.
    for (const statement of policy)
      for (const principal of statement.principals as Body[])
        expect(principal.identifiers, statement.sid).not.toContain('*');
  });

  it('sends the function no viewer header besides the cache key’s, not If-None-Match', async () => {
    const module = (await loadTerraform()).get('modules/transform')!;
    const policy = module.resource.aws_cloudfront_origin_request_policy!.this!;
    expect(blocks(policy, 'headers_config')).toEqual([{ header_behavior: 'none' }]);
  });
});
