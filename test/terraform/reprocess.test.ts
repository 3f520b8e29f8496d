import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { TIME_RESERVE_MS } from '../../src/handlers/reprocess.ts';
import { REPO_ROOT } from '../support/cli.ts';
import { type Body, documentOf, loadTerraform, statements, type TfDir } from './hcl.ts';

// The module's optional second function: the same image with the command `index.reprocess`, for
// objects that were in the source bucket before the S3 notification (README: "Processing objects
// that are already there").

const TOGGLE = 'var.create_reprocess_function ? 1 : 0';
// HCL interpolations in expected values, without a `${` in a plain string literal.
const DOLLAR = '$';

let dirs: Map<string, TfDir>;
let imgpipe: TfDir;
let bootstrap: TfDir;

function dir(path: string): TfDir {
  const found = dirs.get(path);
  if (!found) throw new Error(`no Terraform files in terraform/${path}`);
  return found;
}

const reprocess = () => imgpipe.resource.aws_lambda_function!.reprocess!;
const main = () => imgpipe.resource.aws_lambda_function!.this!;

beforeAll(async () => {
  dirs = await loadTerraform();
  imgpipe = dir('modules/imgpipe');
  bootstrap = dir('bootstrap');
});

describe('the backfill function (index.reprocess)', () => {
  it('runs the main function’s image, by digest and for its architecture, with the command index.reprocess', () => {
    const fn = reprocess();
    for (const key of ['package_type', 'image_uri', 'architectures'])
      expect(fn[key], `${key} as the main function's`).toEqual(main()[key]);
    expect(fn.image_uri).toBe('local.image_uri');
    expect(fn.image_config).toEqual([{ command: ['index.reprocess'] }]);
    // The main function runs the image's CMD; nothing overrides it.
    expect(main().image_config).toBeUndefined();
    // Same guard as the main function: no image for the architecture is a plan error, not an
    // invalid-argument error from the provider.
    expect(fn.lifecycle[0].precondition[0].condition).toBe(main().lifecycle[0].precondition[0].condition);
  });

  it('names a handler the image exports: index.mjs is built from src/handlers/index.ts, which exports reprocess', () => {
    const build = readFileSync(join(REPO_ROOT, 'scripts/build.ts'), 'utf8');
    expect(build).toMatch(/\bindex: join\(root, 'src\/handlers\/index\.ts'\)/);
    const entry = readFileSync(join(REPO_ROOT, 'src/handlers/index.ts'), 'utf8');
    expect(entry).toMatch(/^export const reprocess = createReprocessHandler\(/m);
  });

  it('takes its memory from the tuning variable and a timeout of its own, 900 s by default', () => {
    const fn = reprocess();
    expect(fn.memory_size).toBe('var.memory_size');
    expect(fn.memory_size).toBe(main().memory_size);
    expect(fn.ephemeral_storage[0].size).toBe('var.ephemeral_storage_size');
    expect(fn.timeout).toBe('var.reprocess_timeout');
    const timeout = imgpipe.variable.reprocess_timeout!;
    expect(timeout).toMatchObject({ type: 'number', default: 900, nullable: false });
    const conditions = (timeout.validation as Body[]).map((v) => String(v.condition));
    expect(conditions).toContain(
      'floor(var.reprocess_timeout) == var.reprocess_timeout && var.reprocess_timeout >= 1 && var.reprocess_timeout <= 900',
    );
    // The handler stops taking objects when less than TIME_RESERVE_MS is left: a timeout at or
    // under it would return at once, without `continueAfter`, as if there were nothing to do.
    expect(conditions).toContain(`var.reprocess_timeout > ${TIME_RESERVE_MS / 1000}`);
  });

  it('writes where the main function writes: the same environment, only its cold-start metric names it', () => {
    expect(reprocess().environment[0].variables).toBe('local.reprocess_environment');
    const merged = String(imgpipe.locals.reprocess_environment).replace(/\s+/g, ' ');
    expect(merged).toBe(
      'merge(local.environment, { POWERTOOLS_METRICS_FUNCTION_NAME = local.reprocess_function_name })',
    );
    expect(imgpipe.locals.reprocess_function_name).toMatch(/^\$\{var\.name\}-reprocess$/);
  });

  it('logs JSON to a log group of its own, with the same retention and key, and traces with X-Ray', () => {
    const fn = reprocess();
    expect(fn.logging_config[0]).toEqual({
      ...main().logging_config[0],
      log_group: 'aws_cloudwatch_log_group.reprocess[0].name',
    });
    expect(fn.logging_config[0].log_format).toBe('JSON');
    expect(fn.tracing_config).toEqual(main().tracing_config);
    expect(fn.tracing_config[0].mode).toBe('local.tracing_mode');
    const group = imgpipe.resource.aws_cloudwatch_log_group!.reprocess!;
    expect(group).toMatchObject({
      name: 'local.reprocess_log_group_name',
      retention_in_days: 'var.log_retention_in_days',
      kms_key_id: 'aws_kms_key.this.arn',
    });
    expect(imgpipe.locals.reprocess_log_group_name).toMatch(
      /^\/aws\/lambda\/\$\{local\.reprocess_function_name\}$/,
    );
    // CloudWatch Logs may use the key for that log group too (the key policy names log groups).
    const logs = statements(imgpipe.data.aws_iam_policy_document!.kms!).find((s) =>
      s.principals?.some((p: Body) => String(p.identifiers).includes('logs.')),
    )!;
    expect(logs.condition[0]).toMatchObject({
      test: 'ArnEquals',
      variable: 'kms:EncryptionContext:aws:logs:arn',
      values: 'local.log_group_arns',
    });
    expect(imgpipe.locals.log_group_arns).toBe(
      'concat([local.log_group_arn], var.create_reprocess_function ? [local.reprocess_log_group_arn] : [])',
    );
  });

  it('is invoked by hand only: no S3 notification or permission, alias, provisioned concurrency or async config', () => {
    expect(reprocess().publish).toBe(false);
    for (const type of [
      'aws_lambda_permission',
      'aws_s3_bucket_notification',
      'aws_lambda_alias',
      'aws_lambda_provisioned_concurrency_config',
      'aws_lambda_function_event_invoke_config',
    ]) {
      const named = imgpipe.resource[type] ?? {};
      expect(Object.keys(named), `${type}: only the main function's`).toEqual(['this']);
      expect(JSON.stringify(named), type).not.toContain('aws_lambda_function.reprocess');
    }
    // Nothing but its alarm refers to the function at all.
    const referrers = Object.entries(imgpipe.resource).flatMap(([type, named]) =>
      Object.entries(named)
        .filter(([, body]) => JSON.stringify(body).includes('aws_lambda_function.reprocess'))
        .map(([name]) => `${type}.${name}`),
    );
    expect(referrers).toEqual(['aws_cloudwatch_metric_alarm.reprocess_errors']);
  });

  it('is toggled by create_reprocess_function (a bool, true by default), with everything that belongs to it', () => {
    expect(imgpipe.variable.create_reprocess_function).toMatchObject({
      type: 'bool',
      default: true,
      nullable: false,
    });
    const owned = [
      ['aws_lambda_function', 'reprocess'],
      ['aws_cloudwatch_log_group', 'reprocess'],
      ['aws_iam_role', 'reprocess'],
      ['aws_iam_role_policy', 'reprocess'],
      ['aws_cloudwatch_metric_alarm', 'reprocess_errors'],
    ];
    for (const [type, name] of owned)
      expect(imgpipe.resource[type!]?.[name!]?.count, `${type}.${name}`).toBe(TOGGLE);
    expect(imgpipe.data.aws_iam_policy_document!.reprocess!.count).toBe(TOGGLE);
    // Every other resource exists whatever the toggle says.
    const toggled = Object.entries(imgpipe.resource).flatMap(([type, named]) =>
      Object.entries(named)
        .filter(([, body]) => String(body.count ?? body.for_each ?? '').includes('create_reprocess_function'))
        .map(([name]) => [type, name]),
    );
    expect(toggled.sort()).toEqual([...owned].sort());
    expect(imgpipe.output.reprocess_function_name!.value).toBe(
      'one(aws_lambda_function.reprocess[*].function_name)',
    );
    expect(imgpipe.output.reprocess_function_arn!.value).toBe('one(aws_lambda_function.reprocess[*].arn)');
    for (const name of ['reprocess_function_name', 'reprocess_function_arn'])
      expect(imgpipe.output[name]!.description, name).toMatch(/null when create_reprocess_function is false/);
  });

  it('has a role of its own: the main role’s statements without the dead-letter queue, on its own log group', () => {
    const role = imgpipe.resource.aws_iam_role!.reprocess!;
    const mainRole = imgpipe.resource.aws_iam_role!.this!;
    expect(role.assume_role_policy).toBe(mainRole.assume_role_policy);
    expect(role.permissions_boundary).toBe('var.role_permissions_boundary');
    expect(role.name).toMatch(/^\$\{local\.reprocess_function_name\}-function$/);
    expect(reprocess().role).toBe('aws_iam_role.reprocess[0].arn');
    expect(reprocess().depends_on).toEqual(['aws_iam_role_policy.reprocess']);
    const policy = imgpipe.resource.aws_iam_role_policy!.reprocess!;
    expect(policy.role).toBe('aws_iam_role.reprocess[0].id');

    // Kept in step with the main role: any change there must be made here too (or be the DLQ).
    const grants = (document: Body) =>
      statements(document)
        .map((s) => JSON.stringify({ actions: [...s.actions].sort(), resources: s.resources }))
        .sort();
    const mainGrants = statements(documentOf(imgpipe, imgpipe.resource.aws_iam_role_policy!.this!.policy))
      .filter((s) => !s.actions.includes('sqs:SendMessage'))
      .map((s) => ({
        ...s,
        resources: (s.resources as string[]).map((r) =>
          r.replace(/\$\{local\.log_group_arn\}/, `${DOLLAR}{local.reprocess_log_group_arn}`),
        ),
      }));
    const own = documentOf(imgpipe, policy.policy);
    expect(grants(own)).toEqual(grants({ statement: mainGrants }));
    const actions = statements(own).flatMap((s) => s.actions as string[]);
    expect(actions).not.toContain('sqs:SendMessage');
    expect(actions).toContain('s3:ListBucket');
    expect(JSON.stringify(own)).not.toContain('local.log_group_arn}');
  });

  it('alarms on invocations that failed as a whole, outside the canary alarms', () => {
    const alarm = imgpipe.resource.aws_cloudwatch_metric_alarm!.reprocess_errors!;
    expect(alarm).toMatchObject({
      alarm_name: expect.stringMatching(/^\$\{var\.name\}-reprocess-errors$/),
      namespace: 'AWS/Lambda',
      metric_name: 'Errors',
      dimensions: { FunctionName: 'aws_lambda_function.reprocess[0].function_name' },
      statistic: 'Sum',
      threshold: 0,
      alarm_actions: 'local.alarm_actions',
      ok_actions: 'local.alarm_actions',
    });
    // A backfill running during a release must not roll the release back.
    expect(String(imgpipe.output.canary_alarm_names!.value)).not.toContain('reprocess');
    expect(imgpipe.output.cloudwatch_metric_alarm_names!.value.reprocess_errors).toBe(
      'one(aws_cloudwatch_metric_alarm.reprocess_errors[*].alarm_name)',
    );
  });
});

describe('the backfill function in the bootstrap and the environments', () => {
  it('may be managed by the deploy role, by its exact name, with its log group', () => {
    // The module names it <name>-reprocess; the deployment root passes name = imgpipe-<environment>, which
    // is what the bootstrap calls a deployment.
    const suffix = String(imgpipe.locals.reprocess_function_name).replace(/^\$\{var\.name\}/, '');
    expect(suffix).toBe('-reprocess');
    expect(bootstrap.locals.function_names).toBe(
      `flatten([for name in local.deployments : [name, "\${name}${suffix}"]])`,
    );
    expect(String(bootstrap.locals.function_arns)).toMatch(/for name in local\.function_names :/);
    expect(String(bootstrap.locals.log_group_arns)).toMatch(/for name in local\.function_names :/);
    expect(String(bootstrap.locals.log_group_arns)).toMatch(/log-group:\/aws\/lambda\/\$\{name\}"/);
    const deploy = statements(bootstrap.data.aws_iam_policy_document!.deploy!);
    const sid = (name: string) => deploy.find((s) => s.sid === name)!;
    expect(sid('Function').resources).toBe('local.function_arns');
    expect(sid('LogGroups').resources).toBe('local.log_group_arns');
    for (const action of ['lambda:CreateFunction', 'lambda:UpdateFunctionCode', 'lambda:DeleteFunction'])
      expect(sid('Function').actions).toContain(action);
    for (const action of ['logs:CreateLogGroup', 'logs:AssociateKmsKey', 'logs:PutRetentionPolicy'])
      expect(sid('LogGroups').actions).toContain(action);
    // Its role and alarm fall under the deployment's existing <deployment>-* patterns.
    expect(bootstrap.locals.function_role_arns).toMatch(/:role\/\$\{name\}-\*"\]$/);
    expect(sid('Alarms').resources).toMatch(/:alarm:\$\{name\}-\*"\]$/);
    expect(imgpipe.resource.aws_iam_role!.reprocess!.name).toMatch(/^\$\{local\.reprocess_function_name\}-/);
    // The deploy role does not invoke it: backfills run with an operator's credentials.
    expect(JSON.stringify(deploy)).not.toContain('lambda:InvokeFunction');
  });

  it('is passed through and exposed by the deployment root, which every environment applies', () => {
    const root = dir('deployment');
    expect(root.module.imgpipe!.create_reprocess_function).toBe('var.create_reprocess_function');
    expect(root.variable.create_reprocess_function).toMatchObject({ type: 'bool', default: true });
    expect(root.output.reprocess_function_name!.value).toBe('module.imgpipe.reprocess_function_name');
    expect(root.output.reprocess_function_arn!.value).toBe('module.imgpipe.reprocess_function_arn');
  });
});
