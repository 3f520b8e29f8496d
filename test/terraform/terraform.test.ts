import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from '@cdktf/hcl2json';
import { beforeAll, describe, expect, it } from 'vitest';
import { MAX_TIMEOUT_SECONDS } from '../../bench/sweep/derive.ts';
import { buildTfvars, TFVARS_KEYS } from '../../bench/sweep/tfvars.ts';
import type { Derived } from '../../bench/sweep/types.ts';
import { ENV, parsePipelineConfig, SETTINGS } from '../../src/config/index.ts';
import { resolveMemory } from '../../src/config/memory.ts';
import { INPUT_FORMATS } from '../../src/core/formats.ts';
import {
  BucketLayout,
  DEFAULT_KEY_TEMPLATE,
  DEFAULT_QUARANTINE_PREFIX,
  findTemplateProblem,
  RELEASE_CHECK_OBJECTS,
  RELEASE_CHECK_PREFIX,
} from '../../src/core/layout.ts';
import { parseS3Event } from '../../src/handlers/events.ts';
import { STATUS_METRIC, VERSION_DIMENSION, VERSIONED_OUTCOMES } from '../../src/handlers/objects.ts';
import { REPORT_MARGIN_MS } from '../../src/handlers/release-check.ts';
import type { ChromaLayout } from '../../src/image/av1.ts';
import type { PixelLayout } from '../../src/image/probe.ts';
import { lambdaVcpus, workersForCpus } from '../../src/pipeline/cpus.ts';
import { checkMemoryBudget } from '../../src/pipeline/memory-budget.ts';
import { planSteps } from '../../src/pipeline/plan.ts';
import { loadShrink } from '../../src/pipeline/process-image.ts';
import { REPO_ROOT } from '../support/cli.ts';
import { stillHeader } from '../support/header.ts';
import {
  allows,
  type Body,
  blocks,
  concrete,
  DOLLAR,
  documentOf,
  loadAttributes,
  loadTerraform,
  onPath,
  statements,
  TERRAFORM_DIR,
  type TfDir,
} from './hcl.ts';
import { runWithStandIns } from './stand-ins.ts';

const ENVIRONMENTS = ['dev', 'staging', 'prod'];
/** The one root every environment applies, with the value files under envs/<environment>. */
const ROOT = 'deployment';
/** What envs/<environment> holds: values only, passed to the root at init, plan and apply. */
const ENV_FILES = ['backend.s3.tfbackend', 'terraform.tfvars.json', 'tuning.tfvars.json'];
/** What the memory sweep writes to envs/<environment>/tuning.tfvars.json. */
const TUNING_KEYS: readonly string[] = TFVARS_KEYS;
/** A choice of the memory sweep, for what its tuning file would hold. */
const TUNED: Derived = {
  memoryMb: 1024,
  architecture: 'arm64',
  strategy: 'cost',
  timeoutSeconds: 20,
  timeoutBasisMs: 6400,
  provisionedConcurrency: 0,
  maxInputPixels: 24_000_000,
  pixelFit: { kind: 'fallback', reason: 'test' },
};

let dirs: Map<string, TfDir>;
let imgpipe: TfDir;
let bootstrap: TfDir;
let root: TfDir;

const envFile = (env: string, file: string) => join(TERRAFORM_DIR, 'envs', env, file);
const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;

function dir(path: string): TfDir {
  const found = dirs.get(path);
  if (!found) throw new Error(`no Terraform files in terraform/${path}`);
  return found;
}

beforeAll(async () => {
  dirs = await loadTerraform();
  imgpipe = dir('modules/imgpipe');
  bootstrap = dir('bootstrap');
  root = dir(ROOT);
});

describe('terraform fmt', () => {
  // The single exception to IMGPIPE_REQUIRE_TOOLS: the terraform CLI is not in Debian's archive and
  // HashiCorp's download site is unreachable from CI, so .ci/run cannot install it. A missing CLI
  // skips this check even when tools are required; ci.yml runs `terraform fmt -check` on GitHub.
  const terraform = onPath('terraform');
  if (!terraform) console.warn('[skip] terraform is not installed: `terraform fmt -check` is skipped');

  it.skipIf(!terraform)('finds every file formatted', () => {
    const result = spawnSync('terraform', ['fmt', '-check', '-recursive', '-diff', 'terraform'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    });
    expect(result.stdout, 'run `terraform fmt -recursive terraform`').toBe('');
    expect(result.status).toBe(0);
  });
});

describe('Terraform files', () => {
  it('parse with HashiCorp HCL parser, in the expected roots and modules', () => {
    // No .tf file under envs/: an environment is values for the one root, not a root of its own.
    expect([...dirs.keys()].sort()).toEqual([
      'bootstrap',
      'deployment',
      'modules/api',
      'modules/imgpipe',
      'modules/imgpipe/modules/ecr-repository',
      'modules/imgpipe/modules/kms-key',
      'modules/imgpipe/modules/s3-bucket',
      'modules/transform',
      'modules/workflow',
    ]);
    for (const path of [
      'modules/api',
      'modules/imgpipe',
      'modules/imgpipe/modules/s3-bucket',
      'modules/imgpipe/modules/ecr-repository',
      'modules/imgpipe/modules/kms-key',
      'modules/workflow',
      'modules/transform',
    ]) {
      for (const file of ['main.tf', 'variables.tf', 'outputs.tf', 'versions.tf', 'README.md'])
        expect(existsSync(join(TERRAFORM_DIR, path, file)), `${path}/${file}`).toBe(true);
    }
    for (const file of ['main.tf', 'variables.tf', 'outputs.tf', 'versions.tf', 'backend.tf'])
      expect(root.files, `${ROOT}/${file}`).toContain(`${ROOT}/${file}`);
    expect(root.module.imgpipe!.source).toBe('../modules/imgpipe');
  });

  it('type and describe every variable, and describe every output', () => {
    for (const tf of dirs.values()) {
      for (const [name, variable] of Object.entries(tf.variable)) {
        expect(variable.type, `${tf.path}: variable ${name} has no type`).toBeTruthy();
        expect(
          String(variable.description ?? '').length,
          `${tf.path}: variable ${name} has no description`,
        ).toBeGreaterThan(10);
      }
      for (const [name, output] of Object.entries(tf.output))
        expect(
          String(output.description ?? '').length,
          `${tf.path}: output ${name} has no description`,
        ).toBeGreaterThan(10);
    }
  });

  it('validate every module input and state the valid range of every number', () => {
    for (const tf of [...dirs.values()].filter(
      (d) => d.path.startsWith('modules/') || d.path === 'bootstrap',
    )) {
      for (const [name, variable] of Object.entries(tf.variable)) {
        if (variable.type === 'bool') continue;
        expect(
          variable.validation?.length ?? 0,
          `${tf.path}: variable ${name} has no validation block`,
        ).toBeGreaterThan(0);
        if (variable.type === 'number')
          expect(variable.description, `${tf.path}: variable ${name} states no range`).toMatch(
            /\d\s?-\s?\d|one of|between/,
          );
      }
    }
  });

  it('name a module resource `this` when it is the only one of its type', () => {
    for (const tf of [...dirs.values()].filter((d) => d.path.startsWith('modules/'))) {
      for (const [type, named] of Object.entries(tf.resource)) {
        const names = Object.keys(named);
        if (names.length === 1) expect(names, `${tf.path}: ${type}`).toEqual(['this']);
      }
    }
  });

  it('pin Terraform and the AWS provider 6.x, and lock state in S3 per environment', () => {
    for (const tf of dirs.values()) {
      const settings = tf.terraform.find((block) => block.required_providers);
      expect(settings?.required_version, `${tf.path}: required_version`).toMatch(/>= 1\.1\d/);
      const aws = settings?.required_providers[0].aws;
      expect(aws.source).toBe('hashicorp/aws');
      expect(aws.version, `${tf.path}: AWS provider constraint`).toMatch(/^(~> 6\.\d+|>= 6\.0, < 7\.0)$/);
    }
    // The root's backend is partial and empty: the state key is the environment's, the bucket and
    // region the account's, all given to `terraform init`.
    const backends = root.terraform.filter((block) => block.backend);
    expect(backends).toHaveLength(1);
    expect(backends[0]!.backend).toEqual({ s3: [{}] });
    for (const tf of dirs.values())
      if (tf !== root)
        expect(
          tf.terraform.some((block) => block.backend),
          `${tf.path}: backend block`,
        ).toBe(false);
  });

  it('keep each environment’s state where it always was, encrypted and locked with an S3 lock file', async () => {
    for (const env of ENVIRONMENTS) {
      // Exactly these: bucket and region belong to the account and are given at init, and a key
      // other than the one the separate roots used would start an empty state.
      expect(await loadAttributes(envFile(env, 'backend.s3.tfbackend')), env).toEqual({
        key: `imgpipe/${env}/terraform.tfstate`,
        encrypt: true,
        use_lockfile: true,
      });
    }
  });

  it('have module READMEs whose tables match variables.tf and outputs.tf', () => {
    const result = spawnSync(process.execPath, [join(TERRAFORM_DIR, 'scripts/module-docs.mjs'), '--check'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });
});

describe('IAM', () => {
  it('grants no action with a wildcard', () => {
    for (const tf of dirs.values()) {
      for (const [name, document] of Object.entries(tf.data.aws_iam_policy_document ?? {})) {
        for (const statement of statements(document)) {
          expect(statement.not_actions, `${tf.path}: ${name} uses not_actions`).toBeUndefined();
          // Deny statements may use s3:* (deny everything without TLS): they take rights away.
          if (statement.effect === 'Deny') continue;
          // A list kept in a local (the KMS key's actions) is checked where it is written.
          const local = String(statement.actions).match(/^local\.(\w+)$/)?.[1];
          const actions = local ? tf.locals[local] : statement.actions;
          expect(Array.isArray(actions), `${tf.path}: ${name} actions are not a list`).toBe(true);
          for (const action of actions)
            expect(String(action), `${tf.path}: ${name} ${statement.sid ?? ''}`).toMatch(
              /^[a-z0-9-]+:[A-Za-z0-9]+$/,
            );
        }
      }
    }
  });

  it('writes every policy as an aws_iam_policy_document, where it can be checked', () => {
    const policyArguments: Record<string, string> = {
      aws_iam_role: 'assume_role_policy',
      aws_iam_role_policy: 'policy',
      aws_iam_policy: 'policy',
      aws_s3_bucket_policy: 'policy',
      aws_sns_topic_policy: 'policy',
      aws_ecr_repository_policy: 'policy',
      aws_kms_key: 'policy',
      aws_kms_key_policy: 'policy',
    };
    let checked = 0;
    for (const tf of dirs.values()) {
      for (const [type, argument] of Object.entries(policyArguments)) {
        for (const [name, body] of Object.entries(tf.resource[type] ?? {})) {
          expect(() => documentOf(tf, body[argument]), `${tf.path}: ${type}.${name}`).not.toThrow();
          checked++;
        }
      }
      for (const queue of Object.values(tf.resource.aws_sqs_queue ?? {}))
        expect(queue.policy).toBeUndefined();
    }
    expect(checked).toBeGreaterThan(10);
  });

  it('gives the function exactly the access the pipeline needs, on named ARNs', () => {
    const role = imgpipe.resource.aws_iam_role_policy!.this!;
    const grants = statements(documentOf(imgpipe, role.policy)).map((s) => ({
      actions: [...s.actions].sort(),
      resources: s.resources as string[],
    }));
    const grant = (action: string, resource: string | RegExp) =>
      grants.some(
        (g) =>
          g.actions.includes(action) &&
          g.resources.some((r) => (typeof resource === 'string' ? r.includes(resource) : resource.test(r))),
      );
    const underOutputPrefix = /^\$\{module\.output_bucket\.s3_bucket_arn\}\/\$\{var\.output_prefix\}\*$/;
    for (const action of [
      's3:GetObject',
      's3:GetObjectVersion',
      's3:GetObjectTagging',
      's3:GetObjectVersionTagging',
    ])
      expect(grant(action, 'module.source_bucket.s3_bucket_arn}/*'), action).toBe(true);
    expect(grant('s3:ListBucket', 'module.source_bucket.s3_bucket_arn')).toBe(true);
    expect(grant('s3:ListBucket', 'module.output_bucket.s3_bucket_arn')).toBe(true);
    expect(grant('s3:GetObject', underOutputPrefix)).toBe(true);
    expect(grant('s3:PutObject', underOutputPrefix)).toBe(true);
    expect(grant('s3:PutObject', 'module.quarantine_bucket.s3_bucket_arn}/*')).toBe(true);
    // Outputs of a source replaced by an invalid one are withdrawn: deletes, only under the output
    // prefix, and the on-demand results with them, only under their prefix.
    expect(grant('s3:DeleteObject', underOutputPrefix)).toBe(true);
    const underResultsPrefix =
      /^\$\{module\.output_bucket\.s3_bucket_arn\}\/\$\{var\.transform_results_prefix\}\*$/;
    expect(grants.filter((g) => g.actions.some((a) => a.startsWith('s3:Delete')))).toEqual([
      expect.objectContaining({ resources: [expect.stringMatching(underOutputPrefix)] }),
      { actions: ['s3:DeleteObject'], resources: [expect.stringMatching(underResultsPrefix)] },
    ]);
    expect(grant('kms:GenerateDataKey', 'module.kms.key_arn')).toBe(true);
    expect(grant('sqs:SendMessage', 'aws_sqs_queue.this.arn')).toBe(true);
    expect(grant('logs:PutLogEvents', 'local.log_group_arn')).toBe(true);
    // Nothing writes to the source bucket.
    expect(grant('s3:PutObject', 'module.source_bucket')).toBe(false);
    for (const g of grants) {
      if (g.resources.includes('*'))
        expect(g.actions, 'only X-Ray has no resource-level permissions').toEqual([
          'xray:PutTelemetryRecords',
          'xray:PutTraceSegments',
        ]);
    }
  });

  it('lets only this repository’s environments assume the deploy role, without wildcards', () => {
    // One trust document per role (deploy-<env>, plan-<env>, bench), from one for_each.
    const trust = statements(bootstrap.data.aws_iam_policy_document!.trust!)[0]!;
    expect(trust.actions).toEqual(['sts:AssumeRoleWithWebIdentity']);
    const conditions = Object.fromEntries(trust.condition.map((c: Body) => [c.variable, c]));
    expect(conditions['token.actions.githubusercontent.com:aud']).toMatchObject({
      test: 'StringEquals',
      values: ['sts.amazonaws.com'],
    });
    expect(conditions['token.actions.githubusercontent.com:sub'].test).toBe('StringEquals');
    // One subject per role: the role of the environment it is for (bootstrap tests render them).
    expect(conditions['token.actions.githubusercontent.com:sub'].values).toBe('each.value');
    expect(bootstrap.data.aws_iam_policy_document!.trust!.for_each).toBe('local.trust_subjects');
    expect(String(bootstrap.locals.trust_subjects)).toMatch(
      /for environment, subject in local\.deploy_subjects : "deploy-\$\{environment\}" => \[subject\]/,
    );
    expect(String(bootstrap.locals.deploy_subjects)).toMatch(
      /environment => "repo:\$\{var\.github_repository\}:environment:\$\{environment\}"/,
    );
    expect(bootstrap.variable.github_branches).toBeUndefined();
  });

  it('lets each deploy role create and remove what the VPC and trail options declare, only with its environment tag', () => {
    const deploy = ['deploy', 'deploy_platform', 'deploy_extensions', 'deploy_network'].flatMap((name) =>
      statements(bootstrap.data.aws_iam_policy_document![name]!),
    );
    const granted = (action: string) => deploy.some((s) => (s.actions as string[]).includes(action));
    // Create and delete of every resource type in modules/imgpipe's vpc.tf and trail.tf.
    const needs: Record<string, string[]> = {
      aws_vpc: ['ec2:CreateVpc', 'ec2:DeleteVpc'],
      aws_subnet: ['ec2:CreateSubnet', 'ec2:DeleteSubnet'],
      aws_route_table: ['ec2:CreateRouteTable', 'ec2:DeleteRouteTable'],
      aws_route_table_association: ['ec2:AssociateRouteTable', 'ec2:DisassociateRouteTable'],
      aws_vpc_endpoint: ['ec2:CreateVpcEndpoint', 'ec2:DeleteVpcEndpoints'],
      aws_security_group: ['ec2:CreateSecurityGroup', 'ec2:DeleteSecurityGroup'],
      aws_vpc_security_group_egress_rule: [
        'ec2:AuthorizeSecurityGroupEgress',
        'ec2:RevokeSecurityGroupEgress',
      ],
      aws_vpc_security_group_ingress_rule: [
        'ec2:AuthorizeSecurityGroupIngress',
        'ec2:RevokeSecurityGroupIngress',
      ],
      aws_cloudtrail: ['cloudtrail:CreateTrail', 'cloudtrail:DeleteTrail', 'cloudtrail:PutEventSelectors'],
    };
    const declared = Object.keys(imgpipe.resource ?? {}).filter((type) =>
      /^aws_(vpc|subnet|route_table|security_group|cloudtrail)/.test(type),
    );
    expect(declared.length).toBeGreaterThan(5);
    for (const type of declared) {
      expect(needs[type], `${type}: add it to this test and to the deploy roles`).toBeDefined();
      for (const action of needs[type]!) expect(granted(action), `${type}: ${action}`).toBe(true);
    }
    // Network resources have no names: created only with, changed only carrying, the environment's tag.
    for (const s of deploy.filter((s) =>
      (s.actions as string[]).some((a) => /^ec2:(Create(?!Tags)|Delete)/.test(a)),
    )) {
      const variables = (s.condition ?? []).map((c: Body) => c.variable);
      expect(variables, s.sid).toEqual([expect.stringMatching(/^aws:(Request|Resource)Tag\/Environment$/)]);
    }
  });

  it('lets each deploy role create and remove what the transformation module declares, us-east-1 included', () => {
    const deploy = ['deploy', 'deploy_platform', 'deploy_extensions', 'deploy_network', 'deploy_transform']
      .map((name) => bootstrap.data.aws_iam_policy_document![name])
      .filter((document) => document !== undefined)
      .flatMap((document) => statements(document));
    const granted = (action: string) => deploy.some((s) => (s.actions as string[]).includes(action));
    // Create and delete of every resource type modules/transform declares (transform.enabled).
    const needs: Record<string, string[]> = {
      aws_cloudfront_cache_policy: ['cloudfront:CreateCachePolicy', 'cloudfront:DeleteCachePolicy'],
      aws_cloudfront_distribution: ['cloudfront:CreateDistribution', 'cloudfront:DeleteDistribution'],
      aws_cloudfront_function: [
        'cloudfront:CreateFunction',
        'cloudfront:PublishFunction',
        'cloudfront:DeleteFunction',
      ],
      aws_cloudfront_monitoring_subscription: [
        'cloudfront:CreateMonitoringSubscription',
        'cloudfront:DeleteMonitoringSubscription',
      ],
      aws_cloudfront_origin_access_control: [
        'cloudfront:CreateOriginAccessControl',
        'cloudfront:DeleteOriginAccessControl',
      ],
      aws_cloudfront_origin_request_policy: [
        'cloudfront:CreateOriginRequestPolicy',
        'cloudfront:DeleteOriginRequestPolicy',
      ],
      aws_cloudwatch_log_group: ['logs:CreateLogGroup', 'logs:DeleteLogGroup'],
      aws_cloudwatch_metric_alarm: ['cloudwatch:PutMetricAlarm', 'cloudwatch:DeleteAlarms'],
      aws_iam_role: ['iam:CreateRole', 'iam:DeleteRole'],
      aws_iam_role_policy: ['iam:PutRolePolicy', 'iam:DeleteRolePolicy'],
      aws_lambda_function: ['lambda:CreateFunction', 'lambda:DeleteFunction'],
      aws_lambda_function_url: ['lambda:CreateFunctionUrlConfig', 'lambda:DeleteFunctionUrlConfig'],
      aws_lambda_permission: ['lambda:AddPermission', 'lambda:RemovePermission'],
      aws_sns_topic: ['sns:CreateTopic', 'sns:DeleteTopic'],
      // A topic policy is set and, on removal, set back to SNS's default: SetTopicAttributes both ways.
      aws_sns_topic_policy: ['sns:SetTopicAttributes', 'sns:GetTopicAttributes'],
      aws_sns_topic_subscription: ['sns:Subscribe', 'sns:Unsubscribe'],
      aws_ssm_parameter: ['ssm:PutParameter', 'ssm:GetParameter', 'ssm:DeleteParameter'],
    };
    const transform = dir('modules/transform');
    const declared = Object.keys(transform.resource ?? {});
    expect(declared.length).toBeGreaterThan(10);
    for (const type of declared) {
      expect(needs[type], `${type}: add it to this test and to the deploy roles`).toBeDefined();
      for (const action of needs[type]!) expect(granted(action), `${type}: ${action}`).toBe(true);
    }
    // CloudFront's alarms, their topic and its key are in us-east-1, whatever the deployment's region.
    const inUsEast1 = (action: string, service: string) =>
      deploy.some(
        (s) =>
          (s.actions as string[]).includes(action) &&
          ([s.resources].flat() as string[]).some((r) => r.includes(`:${service}:us-east-1:`)),
      );
    expect(inUsEast1('cloudwatch:PutMetricAlarm', 'cloudwatch'), 'alarms in us-east-1').toBe(true);
    expect(inUsEast1('sns:CreateTopic', 'sns'), 'topic in us-east-1').toBe(true);
    expect(inUsEast1('kms:PutKeyPolicy', 'kms'), 'key in us-east-1').toBe(true);
  });

  it('bounds each environment’s function roles to that environment: the dev deploy role, unreviewed, cannot reach prod', () => {
    // The deploy role may create roles only with its environment's boundary (FunctionRoleWithBoundary),
    // and may create and invoke functions with them: what that boundary allows, a job of the
    // environment can do. In one shared account, dev's must reach none of prod's.
    const account = '123456789012';
    const values = (env: string): Record<string, string> => ({
      'local.arn': 'arn:aws',
      'local.region_account': `eu-west-1:${account}`,
      'local.account_id': account,
      'var.name_prefix': 'imgpipe',
      'each.value.name': `imgpipe-${env}`,
    });
    const boundary = statements(bootstrap.data.aws_iam_policy_document!.function_boundary!);
    const reaches = (env: string, action: string, arn: string) => allows(boundary, action, arn, values(env));
    const prod = {
      'lambda:UpdateAlias': `arn:aws:lambda:eu-west-1:${account}:function:imgpipe-prod:live`,
      'lambda:InvokeFunction': `arn:aws:lambda:eu-west-1:${account}:function:imgpipe-prod-process:live`,
      's3:DeleteObject': `arn:aws:s3:::imgpipe-prod-source-${account}/photos/a.jpg`,
      's3:GetObject': `arn:aws:s3:::imgpipe-prod-output-${account}/manifests/a.jpg.json`,
      'ssm:GetParameter': `arn:aws:ssm:eu-west-1:${account}:parameter/imgpipe-prod/transform/signing-keys`,
      'states:StartExecution': `arn:aws:states:eu-west-1:${account}:stateMachine:imgpipe-prod-reprocess`,
    };
    for (const [action, arn] of Object.entries(prod)) {
      expect(reaches('dev', action, arn), `dev: ${action} on ${arn}`).toBe(false);
      expect(reaches('prod', action, arn), `prod: ${action} on ${arn}`).toBe(true);
    }
    // Each deploy role's condition names its own environment's boundary, one policy per environment.
    const deploy = statements(bootstrap.data.aws_iam_policy_document!.deploy!);
    const withBoundary = deploy.find((s) => s.sid === 'FunctionRoleWithBoundary')!;
    expect(withBoundary.condition[0]).toMatchObject({
      variable: 'iam:PermissionsBoundary',
      values: ['local.boundary_arns[each.key]'],
    });
    expect(bootstrap.locals.boundary_arns).toContain(
      'policy/$' + '{var.name_prefix}-$' + '{environment}-function-boundary',
    );
    const policy = bootstrap.resource.aws_iam_policy!.function_boundaries!;
    expect(policy).toMatchObject({
      for_each: 'local.scoped',
      name: '$' + '{each.value.name}-function-boundary',
    });
    // And the deployment root gives its roles that environment's boundary by default.
    expect(root.variable.permissions_boundary_policy_name!.default).toBeNull();
    expect(root.locals.permissions_boundary_name).toContain(
      '"imgpipe-$' + '{var.environment}-function-boundary"',
    );
  });

  it('lets the bench role delete only the versions it published, never the function', () => {
    const bench = statements(bootstrap.data.aws_iam_policy_document!.bench!);
    const deletes = bench.filter((s) => s.actions.includes('lambda:DeleteFunction'));
    expect(deletes).toHaveLength(1);
    expect(deletes[0]!.actions).toEqual(['lambda:DeleteFunction']);
    expect(String(deletes[0]!.resources)).toMatch(
      /:function:\$\{var\.name_prefix\}-\$\{environment\}:\*"?\]?\}?$/,
    );
    const sweep = bench.find((s) => s.actions.includes('lambda:UpdateFunctionConfiguration'));
    expect([...sweep!.actions].sort()).toEqual([
      'lambda:GetFunctionConfiguration',
      'lambda:InvokeFunction',
      'lambda:PublishVersion',
      'lambda:UpdateFunctionConfiguration',
    ]);
  });
});

describe('S3', () => {
  it('blocks public access, encrypts and requires TLS on every bucket', () => {
    let buckets = 0;
    for (const tf of dirs.values()) {
      for (const name of Object.keys(tf.resource.aws_s3_bucket ?? {})) {
        buckets++;
        const ref = `aws_s3_bucket.${name}.id`;
        const on = (type: string) =>
          Object.values(tf.resource[type] ?? {}).filter((body) => body.bucket === ref);
        const [block] = on('aws_s3_bucket_public_access_block');
        expect(block, `${tf.path}: ${name} public access block`).toMatchObject({
          block_public_acls: true,
          block_public_policy: true,
          ignore_public_acls: true,
          restrict_public_buckets: true,
        });
        expect(
          on('aws_s3_bucket_server_side_encryption_configuration'),
          `${tf.path}: ${name} encryption`,
        ).toHaveLength(1);
        const [policy] = on('aws_s3_bucket_policy');
        const denials = statements(documentOf(tf, policy?.policy)).filter((s) => s.effect === 'Deny');
        expect(
          denials.some((s) =>
            s.condition?.some((c: Body) => c.variable === 'aws:SecureTransport' && c.values[0] === 'false'),
          ),
          `${tf.path}: ${name} TLS-only policy`,
        ).toBe(true);
      }
    }
    // One bucket resource, in the s3-bucket module that every bucket goes through.
    expect(buckets).toBe(1);
    const callers = [...dirs.values()].flatMap((tf) =>
      Object.entries(tf.module)
        .filter(([, m]) => String(m.source).endsWith('modules/s3-bucket'))
        .map(([name]) => `${tf.path}:${name}`),
    );
    expect(callers.sort()).toEqual([
      'bootstrap:state_bucket',
      'modules/api:web_bucket',
      'modules/imgpipe:output_bucket',
      'modules/imgpipe:quarantine_bucket',
      'modules/imgpipe:source_bucket',
      'modules/imgpipe:trail_bucket',
      'modules/workflow:bucket',
    ]);
    // The output bucket's policy is attached outside the module (it names the transformation
    // distribution, created after the bucket), on top of the module's own TLS rules.
    expect(imgpipe.module.output_bucket!.attach_policy).toBe(false);
    expect(imgpipe.resource.aws_s3_bucket_policy!.this).toMatchObject({
      bucket: 'module.output_bucket.s3_bucket_id',
      policy: 'data.aws_iam_policy_document.output_bucket.json',
    });
    expect(imgpipe.data.aws_iam_policy_document!.output_bucket!.source_policy_documents).toEqual([
      'module.output_bucket.s3_bucket_policy_json',
    ]);
    // The optional trail's bucket: the module's key, versions kept, written by the trail alone.
    expect(imgpipe.module.trail_bucket).toMatchObject({
      kms_key_arn: 'module.kms.key_arn',
      versioning_enabled: true,
      cloudtrail_trail_arns: ['local.trail_arn'],
    });
  });

  it('versions sources, expires old versions, quarantine and incomplete uploads, and moves outputs to IA', () => {
    const bucket = (name: string) => imgpipe.module[name]!;
    expect(bucket('source_bucket').versioning_enabled).toBe(true);
    expect(bucket('source_bucket').kms_key_arn).toBe('module.kms.key_arn');
    const rules = (name: string) => bucket(name).lifecycle_rules as Body[];
    expect(rules('source_bucket')[0]).toMatchObject({
      noncurrent_version_expiration_days: 'var.source_noncurrent_version_expiration_days',
      abort_incomplete_multipart_upload_days: 'var.abort_incomplete_multipart_upload_days',
    });
    expect(rules('quarantine_bucket')[0]).toMatchObject({
      expiration_days: 'var.quarantine_expiration_days',
    });
    // The output bucket's rules are a concat(): the transformation results' expiry joins them when set.
    const output = String(bucket('output_bucket').lifecycle_rules).replace(/\s+/g, ' ');
    expect(output).toContain('transition_to_standard_ia_days = var.output_transition_to_ia_days');
    expect(output).toContain(
      'var.transform_results_prefix == null ? [] : [ { id = "expire-transform-results" prefix = var.transform_results_prefix expiration_days = var.transform_results_expiration_days }, ]',
    );
    const encryption = dir('modules/imgpipe/modules/s3-bucket').resource
      .aws_s3_bucket_server_side_encryption_configuration!.this!;
    expect(encryption.rule[0].bucket_key_enabled).toBe('var.kms_key_arn != null');
  });

  it('has one notification per bucket, on the source bucket only, created after the permission', () => {
    const notifications = [...dirs.values()].flatMap((tf) =>
      Object.values(tf.resource.aws_s3_bucket_notification ?? {}).map((body) => ({ tf, body })),
    );
    const buckets = notifications.map(({ tf, body }) => `${tf.path}:${body.bucket}`);
    expect(new Set(buckets).size, 'one notification resource per bucket').toBe(buckets.length);
    expect(notifications).toHaveLength(1);
    const { body } = notifications[0]!;
    expect(body.bucket).toBe('module.source_bucket.s3_bucket_id');
    expect(body.depends_on).toEqual(['aws_lambda_permission.this']);
    const targets = blocks(body, 'lambda_function');
    expect(targets[0]).toMatchObject({
      lambda_function_arn: 'aws_lambda_alias.this.arn',
      // Removals too: the function records them and deletes the outputs (IMGPIPE_DELETE_OUTPUTS).
      events: ['s3:ObjectCreated:*', 's3:ObjectRemoved:*'],
    });
    expect(targets[0]!.filter_prefix).toContain('lambda_function.value.prefix');
    expect(targets[0]!.filter_suffix).toContain('lambda_function.value.suffix');
    const permission = imgpipe.resource.aws_lambda_permission!.this!;
    expect(permission).toMatchObject({
      principal: 's3.amazonaws.com',
      source_arn: 'module.source_bucket.s3_bucket_arn',
      qualifier: 'aws_lambda_alias.this.name',
    });
  });
});

describe('Lambda', () => {
  it('runs the image by digest, arm64 by default, published, with JSON logs and X-Ray', () => {
    const fn = imgpipe.resource.aws_lambda_function!.this!;
    expect(fn).toMatchObject({
      package_type: 'Image',
      image_uri: 'local.image_uri',
      architectures: 'var.architectures',
      publish: true,
      reserved_concurrent_executions: 'var.reserved_concurrent_executions',
    });
    expect(fn.ephemeral_storage[0].size).toBe('var.ephemeral_storage_size');
    expect(fn.logging_config[0]).toMatchObject({
      log_format: 'JSON',
      log_group: 'aws_cloudwatch_log_group.this.name',
    });
    expect(fn.tracing_config[0].mode).toBe('local.tracing_mode');
    expect(imgpipe.locals.tracing_mode).toBe('var.tracing_enabled ? "Active" : "PassThrough"');
    expect(imgpipe.variable.tracing_enabled).toMatchObject({ type: 'bool', default: true });
    expect(imgpipe.variable.architectures!.default).toEqual(['arm64']);
    expect(imgpipe.locals.image_uri).toMatch(
      /"\$\{module\.ecr\.ecr_repository_url\}@\$\{local\.image_digest\}"/,
    );
    const logGroup = imgpipe.resource.aws_cloudwatch_log_group!.this!;
    expect(logGroup).toMatchObject({
      retention_in_days: 'var.log_retention_in_days',
      kms_key_id: 'module.kms.key_arn',
    });
  });

  it('takes memory, timeout, provisioned concurrency and the pixel limit from the tuning variables', () => {
    const fn = imgpipe.resource.aws_lambda_function!.this!;
    expect(fn.memory_size).toBe('var.memory_size');
    expect(fn.timeout).toBe('var.timeout');
    expect(imgpipe.locals.environment).toMatch(/IMGPIPE_MAX_PIXELS\s*=\s*tostring\(var\.max_input_pixels\)/);
    const concurrency = imgpipe.resource.aws_lambda_provisioned_concurrency_config!.this!;
    expect(concurrency.provisioned_concurrent_executions).toBe('var.provisioned_concurrent_executions');
    expect(root.module.imgpipe).toMatchObject({
      memory_size: 'var.lambda_memory_size',
      timeout: 'var.lambda_timeout',
      max_input_pixels: 'var.max_input_pixels',
    });
    // Provisioned concurrency goes to the function that processes the uploads: the imgpipe
    // function in the direct mode, the workflow's Process function in the workflow mode, where
    // the imgpipe function receives no upload (modes.tftest.hcl plans both).
    expect(root.module.imgpipe!.provisioned_concurrent_executions).toBe(
      'var.mode == "workflow" ? 0 : var.lambda_provisioned_concurrency',
    );
    expect(root.module.workflow).toMatchObject({
      memory_size: 'var.lambda_memory_size',
      timeout: 'var.lambda_timeout',
      process_provisioned_concurrent_executions:
        'var.mode == "workflow" ? var.lambda_provisioned_concurrency : 0',
    });
    for (const key of TUNING_KEYS) {
      expect(root.variable[key]?.type, `${ROOT}: variable ${key}`).toBe('number');
      // No default: an environment without a value for it fails at plan instead of taking one.
      expect(root.variable[key], `${ROOT}: variable ${key}`).not.toHaveProperty('default');
    }
  });

  it('sets the environment the function reads, and only variables it knows', () => {
    const environment = String(imgpipe.locals.environment);
    const names = [...environment.matchAll(/\b((?:IMGPIPE|POWERTOOLS)_[A-Z_]+)\s*=/g)].map((m) => m[1]!);
    expect(names.sort()).toEqual(
      [
        'IMGPIPE_CONFIG',
        'IMGPIPE_CONFIG_PARAMETER',
        'IMGPIPE_DELETE_OUTPUTS',
        'IMGPIPE_EVENT_BUS',
        'IMGPIPE_MAX_PIXELS',
        'IMGPIPE_OUTPUT_BUCKET',
        'IMGPIPE_OUTPUT_PREFIX',
        'IMGPIPE_QUARANTINE_BUCKET',
        'IMGPIPE_QUARANTINE_PREFIX',
        'IMGPIPE_SOURCE_BUCKETS',
        'IMGPIPE_STATUS_TABLE',
        'POWERTOOLS_LOG_LEVEL',
        'POWERTOOLS_METRICS_FUNCTION_NAME',
        'POWERTOOLS_METRICS_NAMESPACE',
        'POWERTOOLS_SERVICE_NAME',
        'POWERTOOLS_TRACE_ENABLED',
      ].sort(),
    );
    const known: string[] = Object.values(ENV);
    for (const name of names.filter((n) => n.startsWith('IMGPIPE_'))) expect(known, name).toContain(name);
    // The quarantine bucket is separate, so its keys need no prefix.
    expect(environment).toMatch(/IMGPIPE_QUARANTINE_PREFIX\s*=\s*""/);
    // A record of any other bucket fails naming it (handlers/README.md, "Other buckets").
    expect(environment).toMatch(/IMGPIPE_SOURCE_BUCKETS\s*=\s*module\.source_bucket\.s3_bucket_id/);
  });

  it('creates the live alias once and leaves its version and weights to CodeDeploy', () => {
    const alias = imgpipe.resource.aws_lambda_alias!.this!;
    expect(alias.name).toBe('live');
    expect(alias.function_version).toBe('local.published_version');
    expect(alias.lifecycle[0].ignore_changes).toEqual(['function_version', 'routing_config']);
    expect(blocks(alias, 'routing_config')).toEqual([]);
    const concurrency = imgpipe.resource.aws_lambda_provisioned_concurrency_config!.this!;
    expect(concurrency.qualifier, 'the version CodeDeploy shifts to, not the alias').toBe(
      'local.published_version',
    );
    expect(concurrency.count).toBe('var.provisioned_concurrent_executions > 0 ? 1 : 0');
    expect(imgpipe.locals.published_version).toBe('aws_lambda_function.this.version');
    expect(imgpipe.variable.live_version).toBeUndefined();
    expect(imgpipe.variable.canary_weight).toBeUndefined();
  });

  it('releases through a CodeDeploy Lambda deployment group that rolls back on AWS’s side', () => {
    expect(imgpipe.resource.aws_codedeploy_app!.this!.compute_platform).toBe('Lambda');
    const group = imgpipe.resource.aws_codedeploy_deployment_group!.this!;
    expect(group.deployment_config_name).toBe('var.release_deployment_config');
    expect(group.auto_rollback_configuration[0]).toEqual({
      enabled: true,
      events: ['DEPLOYMENT_FAILURE', 'DEPLOYMENT_STOP_ON_ALARM', 'DEPLOYMENT_STOP_ON_REQUEST'],
    });
    expect(group.alarm_configuration[0]).toMatchObject({
      enabled: true,
      alarms: 'local.release_alarm_names',
    });
    expect(group.deployment_style[0]).toEqual({
      deployment_option: 'WITH_TRAFFIC_CONTROL',
      deployment_type: 'BLUE_GREEN',
    });
    const hooks = imgpipe.locals.release_hooks;
    expect(Object.keys(hooks).sort()).toEqual(['AfterAllowTraffic', 'BeforeAllowTraffic']);
    expect(hooks.BeforeAllowTraffic.command).toBe('index.releaseCheck');
    expect(hooks.AfterAllowTraffic.command).toBe('index.releaseCheckAfter');
    expect(imgpipe.locals.release_check_prefix).toBe(RELEASE_CHECK_PREFIX);
    // What BeforeAllowTraffic deletes before each check (release-check.ts), so that the version
    // under test judges both objects again: the photo's manifest and the bad file's reason record.
    const grants = statements(imgpipe.data.aws_iam_policy_document!.release_check!);
    const deletes = grants.filter((s) => s.actions.includes('s3:DeleteObject')).flatMap((s) => s.resources);
    expect(deletes.sort()).toEqual([
      `${DOLLAR}{module.output_bucket.s3_bucket_arn}/${DOLLAR}{var.output_prefix}*${DOLLAR}{local.release_check_prefix}*`,
      `${DOLLAR}{module.quarantine_bucket.s3_bucket_arn}/reasons/${DOLLAR}{local.release_check_prefix}*`,
    ]);
    // The check photo's manifest, whatever valid template names it, and nothing of the users'.
    const output = 'arn:aws:s3:::imgpipe-prod-output-123456789012';
    const values = {
      'module.output_bucket.s3_bucket_arn': output,
      'module.quarantine_bucket.s3_bucket_arn': 'arn:aws:s3:::imgpipe-prod-quarantine-123456789012',
      'var.output_prefix': 'out/',
      'local.release_check_prefix': RELEASE_CHECK_PREFIX,
    };
    const photo = RELEASE_CHECK_OBJECTS[0]!.key;
    for (const manifest of [
      'manifests/{key}.json',
      '{dir}{name}.manifest.json',
      'm/{dir}{name}/index.json',
    ]) {
      const spec = {
        keys: { prefix: 'out/', output: DEFAULT_KEY_TEMPLATE, manifest },
        variants: [{ name: 'thumb' }],
        formats: ['webp' as const],
      };
      expect(findTemplateProblem(spec), manifest).toBeUndefined();
      const key = new BucketLayout(spec, DEFAULT_QUARANTINE_PREFIX).manifestKey(photo);
      expect(allows(grants, 's3:DeleteObject', `${output}/${key}`, values), key).toBe(true);
    }
    for (const key of ['out/manifests/uploads/alice/1/a.jpg.json', 'out/uploads/alice/1/a-640.webp'])
      expect(allows(grants, 's3:DeleteObject', `${output}/${key}`, values), key).toBe(false);
  });

  it('gives the release hooks time for one run of the function, the checks around it and the report', () => {
    const expression = String(imgpipe.resource.aws_lambda_function!.release_check!.timeout);
    expect(expression).toBe('min(900, var.timeout + 90)');
    const slack = Number(/^min\(900, var\.timeout \+ (\d+)\)$/.exec(expression)![1]);
    const hookTimeout = (timeout: number) => Math.min(900, timeout + slack);
    // The check objects run at once: one function run, at most its timeout, must fit before the
    // check's deadline (REPORT_MARGIN_MS before the hook's end), with time for S3 and CodeDeploy.
    for (const timeout of [3, 60, 420, 421, 810])
      expect(hookTimeout(timeout) - REPORT_MARGIN_MS / 1000, `timeout ${timeout}`).toBeGreaterThanOrEqual(
        timeout + 60,
      );
    // Past 810 s no hook can wait that long (900 s at most): the deadline reports Failed instead.
    expect(hookTimeout(900)).toBe(900);
  });

  it("keeps every S3 grant of the pipeline's roles inside the deployment's permissions boundary", () => {
    // The module's roles (the function, the release hook) get the bootstrap's boundary
    // (role_permissions_boundary): an action the boundary does not allow is denied in AWS however
    // the role's own policy reads. Both are made concrete for one environment and compared.
    const account = '123456789012';
    const values: Record<string, string> = {
      'module.source_bucket.s3_bucket_arn': `arn:aws:s3:::imgpipe-prod-source-${account}`,
      'module.output_bucket.s3_bucket_arn': `arn:aws:s3:::imgpipe-prod-output-${account}`,
      'module.quarantine_bucket.s3_bucket_arn': `arn:aws:s3:::imgpipe-prod-quarantine-${account}`,
      'var.output_prefix': '',
      'var.transform_results_prefix': 'transforms/',
      'local.release_check_prefix': RELEASE_CHECK_PREFIX,
      'local.arn': 'arn:aws',
      'var.name_prefix': 'imgpipe',
      // The prod environment's boundary (one per environment, bootstrap/iam.tf).
      'each.value.name': 'imgpipe-prod',
      'local.account_id': account,
    };
    const boundary = statements(bootstrap.data.aws_iam_policy_document!.function_boundary!);
    let checked = 0;
    for (const name of ['this', 'release_check']) {
      const policy = imgpipe.resource.aws_iam_role_policy![name]!.policy;
      for (const statement of statements(documentOf(imgpipe, policy))) {
        for (const action of (statement.actions as string[]).filter((a) => a.startsWith('s3:'))) {
          for (const resource of statement.resources as string[]) {
            const sample = concrete(resource, values).replaceAll('*', 'photos/a.jpg');
            expect(sample, `${name}: ${resource}`).not.toContain(DOLLAR);
            const allowed = allows(boundary, action, sample, values);
            expect(allowed, `${name}: ${action} on ${resource} (${sample})`).toBe(true);
            checked++;
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(10);
  });

  it('sends exhausted asynchronous events to the KMS-encrypted dead-letter queue', () => {
    const invoke = imgpipe.resource.aws_lambda_function_event_invoke_config!.this!;
    expect(invoke).toMatchObject({
      qualifier: 'aws_lambda_alias.this.name',
      maximum_retry_attempts: 'var.maximum_retry_attempts',
      maximum_event_age_in_seconds: 'var.maximum_event_age_in_seconds',
    });
    expect(invoke.destination_config[0].on_failure[0].destination).toBe('aws_sqs_queue.this.arn');
    expect(imgpipe.resource.aws_sqs_queue!.this!.kms_master_key_id).toBe('module.kms.key_arn');
  });
});

describe('Environments', () => {
  const envDirs = () =>
    readdirSync(join(TERRAFORM_DIR, 'envs'), { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name);
  const settings = (env: string) => readJson(envFile(env, 'terraform.tfvars.json'));
  const tuning = (env: string) => readJson(envFile(env, 'tuning.tfvars.json'));

  it('are the folders under envs/ and the values the root’s environment variable accepts', () => {
    expect(envDirs().sort()).toEqual([...ENVIRONMENTS].sort());
    const condition = String(root.variable.environment!.validation[0].condition);
    const accepted = JSON.parse(condition.match(/^contains\((\[[^\]]*\]), var\.environment\)$/)![1]!);
    expect([...accepted].sort()).toEqual([...ENVIRONMENTS].sort());
  });

  it('hold the same value files each, and nothing Terraform would load by itself or ignore', () => {
    for (const env of envDirs()) {
      const files = readdirSync(join(TERRAFORM_DIR, 'envs', env)).filter(
        // Written per apply and git-ignored (terraform/.gitignore).
        (name) => name !== 'image.tfvars.json',
      );
      // A *.auto.tfvars(.json) here would not be loaded: only the working directory's are, and
      // that is the root. Every file here is passed by name.
      expect(files.sort(), `envs/${env}`).toEqual([...ENV_FILES].sort());
    }
    const ignored = readFileSync(join(TERRAFORM_DIR, '.gitignore'), 'utf8');
    expect(ignored).toMatch(/^envs\/\*\/image\.tfvars\.json$/m);
    expect(ignored).toMatch(/^deployment\/\.terraform-\*\/$/m);
  });

  it('take from the memory sweep no timeout a module given lambda_timeout refuses', () => {
    // Every module the root passes var.lambda_timeout to validates it; the sweep's ceiling must be
    // at or below the lowest of their upper bounds (the workflow's Process function: 110 s).
    const bounds: number[] = [];
    for (const [name, call] of Object.entries(root.module)) {
      for (const [input, value] of Object.entries(call as Body)) {
        if (value !== 'var.lambda_timeout') continue;
        const module = dir(String((call as Body).source).replace(/^\.\.\//, ''));
        const condition = String(module.variable[input]!.validation[0].condition);
        const bound = new RegExp(`var\\.${input} <= (\\d+)`).exec(condition);
        expect(bound, `module ${name}: ${input}: ${condition}`).not.toBeNull();
        bounds.push(Number(bound![1]));
      }
    }
    expect(bounds.length).toBeGreaterThanOrEqual(2);
    expect(MAX_TIMEOUT_SECONDS).toBe(Math.min(...bounds));
    expect(() => buildTfvars({ ...TUNED, timeoutSeconds: Math.min(...bounds) + 1 })).toThrow(
      /lambda_timeout/,
    );
  });

  it('commit a tuning file with exactly the memory sweep’s keys, in range', () => {
    for (const env of ENVIRONMENTS) {
      const values = tuning(env) as Record<string, number>;
      expect(Object.keys(values).sort(), env).toEqual([...TUNING_KEYS].sort());
      for (const key of TUNING_KEYS) expect(Number.isInteger(values[key]), `${env}: ${key}`).toBe(true);
      expect(values.lambda_memory_size).toBeGreaterThanOrEqual(512);
      expect(values.lambda_memory_size).toBeLessThanOrEqual(10240);
      expect(values.lambda_timeout).toBeGreaterThanOrEqual(1);
      expect(values.lambda_timeout).toBeLessThanOrEqual(MAX_TIMEOUT_SECONDS);
      expect(values.lambda_provisioned_concurrency).toBeGreaterThanOrEqual(0);
      expect(values.max_input_pixels).toBeGreaterThanOrEqual(1);
      expect(values.max_input_pixels).toBeLessThanOrEqual(SETTINGS.maxPixels.max);
    }
  });

  it('give the function memory enough for every input their max_input_pixels admits', () => {
    // The function refuses as over-memory-budget an image whose estimated peak is above its
    // memory (pipeline/memory-budget.ts), whatever max_input_pixels says: a limit the memory
    // cannot hold refuses inputs it claims to accept (24 MP at 1024 MB, a 10-bit 4:4:4 AVIF with
    // alpha). Checked as the function checks it: its memory from AWS_LAMBDA_FUNCTION_MEMORY_SIZE
    // (config/memory.ts), the encoder threads Lambda's vCPUs give (cpus.ts), the environment's
    // pipeline document, every layout the decoders cost differently, at the limit's pixels.
    const layouts: [(typeof INPUT_FORMATS)[number], PixelLayout][] = [];
    const chromas: ChromaLayout[] = ['4:0:0', '4:2:0', '4:2:2', '4:4:4'];
    for (const format of INPUT_FORMATS.filter((f) => f !== 'jpeg')) {
      for (const bitDepth of [8, 10, 12, 16]) {
        for (const channels of [1, 2, 3, 4]) {
          for (const chroma of chromas) {
            for (const lossless of [false, true])
              layouts.push([format, { bitDepth, channels, chroma, lossless }]);
          }
        }
      }
    }
    // JPEG: gray, colour and CMYK, sequential or progressive (which holds every coefficient at
    // full size, whatever scale it is decoded at); never alpha.
    for (const channels of [1, 3, 4]) layouts.push(['jpeg', { bitDepth: 8, channels }]);
    for (const sampling of [
      [
        [1, 1],
        [1, 1],
        [1, 1],
      ],
      [
        [1, 1],
        [1, 1],
        [1, 1],
        [1, 1],
      ],
      [
        [2, 2],
        [1, 1],
        [1, 1],
      ],
    ] as const) {
      layouts.push(['jpeg', { bitDepth: 8, channels: sampling.length, scans: 10, sampling }]);
    }
    for (const env of ENVIRONMENTS) {
      const values = tuning(env) as Record<string, number>;
      const memoryMb = values.lambda_memory_size!;
      const maxPixels = values.max_input_pixels!;
      const document = settings(env).pipeline_config;
      const { variants } = parsePipelineConfig(typeof document === 'string' ? JSON.parse(document) : {});
      const budget = resolveMemory(
        { AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(memoryMb) },
        '/nonexistent',
        '/nonexistent',
        Number.MAX_SAFE_INTEGER,
      );
      expect(budget.mb, env).toBe(memoryMb);
      const workers = workersForCpus(lambdaVcpus(memoryMb));
      // Photos' shapes, both ways round. (An image narrower than the largest variant is that
      // variant at full size, which costs more than its decode: the function refuses such a one
      // by its estimate whatever the pixel limit; src/pipeline/README.md, "Limits".)
      const shapes = [1, 4 / 3, 3 / 2, 16 / 9].flatMap((ratio) => {
        const width = Math.floor(Math.sqrt(maxPixels * ratio));
        const height = Math.floor(maxPixels / width);
        return [
          [width, height],
          [height, width],
        ] as const;
      });
      for (const [format, layout] of layouts) {
        for (const [width, height] of shapes) {
          const header = stillHeader(format, width, height, layout);
          const steps = planSteps({ width, height }, variants);
          const shrink = loadShrink(header, steps);
          const decoded = { width: Math.ceil(width / shrink), height: Math.ceil(height / shrink) };
          expect(
            () => checkMemoryBudget(header, decoded, steps, workers, budget),
            `envs/${env}/tuning.tfvars.json: max_input_pixels ${maxPixels} at lambda_memory_size ${memoryMb}`,
          ).not.toThrow();
        }
      }
    }
  });

  it('set only variables the root declares, with values of their type, each in one file', () => {
    const fits = (type: string, value: unknown) => {
      if (value === null) return true;
      if (type === 'string') return typeof value === 'string';
      if (type === 'number') return typeof value === 'number';
      if (type === 'bool') return typeof value === 'boolean';
      if (/^(list|set)\(/.test(type)) return Array.isArray(value);
      if (/^(map|object)\(/.test(type)) return typeof value === 'object' && !Array.isArray(value);
      throw new Error(`no check for type ${type}`);
    };
    for (const env of ENVIRONMENTS) {
      const files = { 'terraform.tfvars.json': settings(env), 'tuning.tfvars.json': tuning(env) };
      expect(files['terraform.tfvars.json'].environment, env).toBe(env);
      for (const [file, values] of Object.entries(files)) {
        for (const [key, value] of Object.entries(values)) {
          const declared = root.variable[key];
          expect(declared, `envs/${env}/${file}: ${key} is not a variable of ${ROOT}`).toBeDefined();
          expect(
            fits(String(declared!.type), value),
            `envs/${env}/${file}: ${key} = ${JSON.stringify(value)}`,
          ).toBe(true);
        }
      }
      // With several -var-file, the last one wins silently: no key may be in both.
      const both = Object.keys(files['terraform.tfvars.json']).filter(
        (key) => key in files['tuning.tfvars.json'],
      );
      expect(both, env).toEqual([]);
    }
  });

  it('set every variable of the root that has no default', () => {
    const required = Object.entries(root.variable)
      .filter(([, variable]) => !('default' in variable))
      .map(([name]) => name);
    expect(required).toEqual(
      expect.arrayContaining(['environment', 'aws_account_id', 'region', ...TUNING_KEYS]),
    );
    for (const env of ENVIRONMENTS) {
      const set = { ...settings(env), ...tuning(env) };
      for (const name of required) expect(set, `envs/${env}: ${name}`).toHaveProperty(name);
    }
  });
});

describe('terraform/README.md', () => {
  const readme = readFileSync(join(TERRAFORM_DIR, 'README.md'), 'utf8');
  const headings = [...readme.matchAll(/^#{2,4} (.+)$/gm)].map((m) => m[1]!);
  /** GitHub's anchor of a heading. */
  const slug = (heading: string) =>
    heading
      .toLowerCase()
      .replace(/[^\p{L}\p{N} _-]/gu, '')
      .replace(/ /g, '-');
  const shellBlocks = () => [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);

  it('names in the table of value files only variables the root declares', () => {
    // A variable file's undeclared key is only a warning: a setting the table promises but the root
    // lacks would be silently ignored.
    for (const row of readme.matchAll(
      /^\| `(terraform|tuning|image)\.tfvars\.json` \|[^|]*\| ([^|]*) \|/gm,
    )) {
      const names = [...row[2]!.matchAll(/`([a-z][a-z0-9_]*)`/g)].map((m) => m[1]!);
      expect(names.length, row[1]).toBeGreaterThan(0);
      for (const name of names) expect(root.variable, `${row[1]}.tfvars.json: ${name}`).toHaveProperty(name);
    }
  });

  it('links only to its own headings and to files that exist', () => {
    const anchors = new Set(headings.map(slug));
    const links = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
    expect(links.length).toBeGreaterThan(5);
    for (const link of links) {
      if (/^https?:/.test(link)) continue;
      const [path, hash] = link.split('#') as [string, string | undefined];
      if (path) expect(existsSync(join(TERRAFORM_DIR, path)), link).toBe(true);
      if (hash !== undefined && !path) expect([...anchors], link).toContain(hash);
    }
    // The anchor the bootstrap's README links to.
    expect(readFileSync(join(TERRAFORM_DIR, 'bootstrap', 'README.md'), 'utf8')).toContain(
      `../README.md#${slug(headings.find((h) => /Bootstrap each account/.test(h))!)}`,
    );
  });

  it('has the headings that workflows, the module and the Dockerfile point operators to', () => {
    const titles = headings.map((h) => h.replace(/^\d+\. /, ''));
    const sources = [
      ...readdirSync(join(REPO_ROOT, '.github', 'workflows')).map((f) =>
        join(REPO_ROOT, '.github', 'workflows', f),
      ),
      ...[
        'bootstrap/versions.tf',
        'modules/imgpipe/lambda.tf',
        'modules/imgpipe/monitoring.tf',
        'modules/imgpipe/sqs.tf',
        ...readdirSync(join(TERRAFORM_DIR, 'modules', 'workflow'))
          .filter((f) => f.endsWith('.tf'))
          .map((f) => `modules/workflow/${f}`),
      ].map((f) => join(TERRAFORM_DIR, f)),
      join(REPO_ROOT, 'Dockerfile'),
    ];
    let references = 0;
    for (const source of sources) {
      const text = readFileSync(source, 'utf8');
      for (const [, quoted, plain] of text.matchAll(
        /terraform\/README\.md(?:, \\?"([^"\\]+)\\?"|: ([^)"]+)\))/g,
      )) {
        references++;
        expect(titles, `${source}: ${quoted ?? plain}`).toContain(quoted ?? plain);
      }
    }
    expect(references).toBeGreaterThanOrEqual(8);
  });

  it('selects an environment the way deploy.yml does: data directory, backend file, var files', () => {
    const block = shellBlocks().find((b) => b.includes('export TF_DATA_DIR='))!;
    expect(block).toContain('cd "$(git rev-parse --show-toplevel)/terraform/deployment"');
    expect(block).toContain('export TF_DATA_DIR=.terraform-$env');
    expect(block).toContain('terraform init -backend-config=../envs/$env/backend.s3.tfbackend');
    expect(block).toContain(
      '-backend-config="bucket=imgpipe-tfstate-$account-$region" -backend-config="region=$region"',
    );
    for (const file of ['terraform.tfvars.json', 'tuning.tfvars.json', 'image.tfvars.json'])
      expect(block).toContain(`-var-file="../envs/$env/${file}"`);
    for (const file of ENV_FILES) expect(readme, file).toContain(`\`${file}\``);
    // Every plan, apply and destroy of the deployment root (all but the bootstrap's) passes the
    // environment's var files.
    const vars = '"$' + '{vars[@]}"';
    const commands = shellBlocks()
      .filter((b) => !b.includes('cd terraform/bootstrap'))
      .flatMap((b) => b.replace(/\\\n\s*/g, '').split('\n'))
      .filter((line) => /^\s*terraform (plan|apply|destroy)\b/.test(line));
    expect(commands.length).toBeGreaterThanOrEqual(2);
    for (const line of commands) expect(line, line).toContain(vars);
  });
});

describe('terraform/README.md, the alarms table', () => {
  it('names only alarms the deployment creates', () => {
    // The imgpipe module's (its three maps and the status table's) and the workflow module's: named
    // "${var.name}-<suffix>", or "${var.name}-${each.key}" over "<state machine>-failed" and
    // "-timed-out" (modules/workflow/monitoring.tf) for each state machine of main.tf.
    const workflowDir = join(TERRAFORM_DIR, 'modules', 'workflow');
    const monitoring = readFileSync(join(workflowDir, 'monitoring.tf'), 'utf8');
    const machines = [
      ...readFileSync(join(workflowDir, 'main.tf'), 'utf8').matchAll(
        /\b(\w+) = \{ type = "(?:EXPRESS|STANDARD)" \}/g,
      ),
    ].map((m) => m[1]!);
    expect(machines.sort()).toEqual(['reprocess', 'upload']);
    const perMachine = [...monitoring.matchAll(/"\$\{key\}(-[a-z-]+)" =>/g)].map((m) => m[1]!);
    expect(perMachine.sort()).toEqual(['-failed', '-timed-out']);
    const known = new Set([
      ...Object.keys(imgpipe.locals.alarms),
      ...Object.keys(imgpipe.locals.canary_alarms),
      ...Object.keys(imgpipe.locals.source_deleted_alarms),
      ...Object.keys(imgpipe.locals.ratio_alarms),
      ...[
        ...readFileSync(join(TERRAFORM_DIR, 'modules', 'imgpipe', 'monitoring.tf'), 'utf8').matchAll(
          /alarm_name\s+= "\$\{var\.name\}-([a-z-]+)"/g,
        ),
      ].map((m) => m[1]!),
      ...[...monitoring.matchAll(/alarm_name\s+= "\$\{var\.name\}-([a-z-]+)"/g)].map((m) => m[1]!),
      ...machines.flatMap((machine) => perMachine.map((suffix) => machine + suffix)),
    ]);
    expect(known).toContain('status-throttles');
    const readme = readFileSync(join(TERRAFORM_DIR, 'README.md'), 'utf8');
    const table = readme.slice(
      readme.indexOf('| Alarm | Fires when |'),
      readme.indexOf('The dashboard `imgpipe-<env>`'),
    );
    const named = [...table.matchAll(/`(?:imgpipe-<env>|…)-([a-z0-9-]+)`/g)].map((m) => m[1]!);
    expect(named.length).toBeGreaterThan(15);
    for (const name of named) expect([...known], `imgpipe-<env>-${name}`).toContain(name);
  });
});

describe('terraform/README.md, moving the bootstrap state into its bucket', () => {
  const readme = readFileSync(join(TERRAFORM_DIR, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('Keep it, or move it into the bucket it created'));
  const migrate = /```sh\n([\s\S]*?)```/.exec(section)![1]!;

  /**
   * The README's commands, run by bash with a `terraform` stand-in (no AWS here) that answers
   * `output -raw` for the bootstrap's outputs alone and records `init`'s arguments, one a line.
   * With `IFS=` bash splits no variable into words, as zsh (macOS's shell) does not.
   */
  function runMigrate(splitsWords: boolean) {
    const outputs: Record<string, string> = {
      state_bucket_name: 'imgpipe-tfstate-123456789012-eu-west-1',
      region: 'eu-west-1',
    };
    for (const name of Object.keys(outputs)) expect(Object.keys(bootstrap.output)).toContain(name);
    const run = runWithStandIns(
      `${splitsWords ? '' : 'IFS=\n'}${migrate}`,
      (state) => ({
        terraform: `case "$1 $2 $3" in
${Object.entries(outputs)
  .map(([name, value]) => `  "output -raw ${name}") printf %s ${value} ;;`)
  .join('\n')}
  init*) printf '%s\\n' "$@" > "${state}/init" ;;
  *) echo "unexpected: $*" >&2; exit 2 ;;
esac
`,
      }),
      { bashFlags: ['-e'] },
    );
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    return {
      init: run.files.init!.trimEnd().split('\n'),
      override: run.files['backend_override.tf']!,
      outputs,
    };
  }

  for (const splitsWords of [true, false]) {
    it(`writes the bucket, region and key into the backend and migrates (${splitsWords ? 'bash' : 'a shell that splits no variable, as zsh'})`, async () => {
      const { init, override, outputs } = runMigrate(splitsWords);
      expect(init).toEqual(['init', '-migrate-state']);
      const parsed = await parse('backend_override.tf', override);
      expect(parsed.terraform[0].backend.s3[0]).toEqual({
        bucket: outputs.state_bucket_name,
        region: outputs.region,
        key: 'imgpipe/bootstrap/terraform.tfstate',
        use_lockfile: true,
      });
    });
  }
});

describe('terraform/README.md, redriving the dead-letter queue', () => {
  const readme = readFileSync(join(TERRAFORM_DIR, 'README.md'), 'utf8');
  const section = readme.slice(
    readme.indexOf('### Dead-letter queue'),
    readme.indexOf('### Reprocessing existing objects'),
  );
  const redrive = /```sh\n([\s\S]*?)```/.exec(section)![1]!;

  /**
   * The README's loop, run by bash with `aws` and `terraform` stand-ins on PATH: there is no local
   * SQS or Lambda server, so the AWS CLI is replaced by a script that serves one dead-lettered
   * event (invisible once received, as SQS's visibility timeout makes it), answers invoke with
   * success or an error, and records deletions. Returns what was invoked and deleted.
   */
  function runRedrive(invokeFails: boolean): { invoked: string; deleted: string } {
    const body = JSON.stringify({ requestPayload: { Records: [{ s3: { object: { key: 'a.jpg' } } }] } });
    const run = runWithStandIns(
      redrive,
      (state) => ({
        terraform: 'echo "fake-$3"\n',
        aws: `state=${state}
case "$1 $2" in
  "sqs receive-message") if [ -e "$state/received" ]; then echo null; else touch "$state/received"; cat "$state/message.json"; fi ;;
  "lambda invoke") echo "$*" >> "$state/invoked"; ${invokeFails ? 'echo "An error occurred (TooManyRequestsException) when calling the Invoke operation: Rate exceeded" >&2; exit 254' : 'exit 0'} ;;
  "sqs delete-message") echo "$*" >> "$state/deleted" ;;
  *) echo "unexpected: $*" >&2; exit 2 ;;
esac
`,
      }),
      { files: { 'message.json': JSON.stringify({ MessageId: 'm-1', ReceiptHandle: 'rh-1', Body: body }) } },
    );
    expect(run.stderr).not.toContain('unexpected');
    return { invoked: run.files.invoked ?? '', deleted: run.files.deleted ?? '' };
  }

  it('deletes a message once its event was handed back to the function', () => {
    const { invoked, deleted } = runRedrive(false);
    expect(invoked).toContain('--function-name fake-lambda_alias_arn');
    expect(deleted).toContain('--receipt-handle rh-1');
  });

  it('keeps a message in the queue when the invocation is refused', () => {
    const { invoked, deleted } = runRedrive(true);
    expect(invoked).toContain('--function-name fake-lambda_alias_arn');
    expect(deleted).toBe('');
  });
});

describe('terraform/README.md, handing back deletions the source-deleted rule could not deliver', () => {
  const readme = readFileSync(join(TERRAFORM_DIR, 'README.md'), 'utf8');
  const section = readme.slice(
    readme.indexOf('### Dead-letter queue'),
    readme.indexOf('### Reprocessing existing objects'),
  );
  const snippet = [...section.matchAll(/```sh\n([\s\S]*?)```/g)]
    .map((match) => match[1]!)
    .find((block) => block.includes('source_deleted_dlq_url'));
  // What EventBridge puts in the rule's dead-letter queue: the event itself (its id and the
  // attributes of the failure are message attributes, not part of the body).
  const deletion = {
    version: '0',
    id: '17793124-05d4-b198-2fde-7ededc63b103',
    'detail-type': 'Object Deleted',
    source: 'aws.s3',
    account: '123456789012',
    time: '2026-12-03T17:00:00Z',
    region: 'eu-west-1',
    resources: ['arn:aws:s3:::imgpipe-prod-source-123456789012'],
    detail: {
      version: '0',
      bucket: { name: 'imgpipe-prod-source-123456789012' },
      object: { key: 'uploads/a b.jpg', sequencer: '00617F08299329D189' },
      'request-id': 'N4N7GDK58NMKJ12R',
      requester: '123456789012',
      reason: 'DeleteObject',
      'deletion-type': 'Permanently Deleted',
    },
  };

  /**
   * The README's loop, run by bash with `aws` and `terraform` stand-ins on PATH (no local SQS or
   * Lambda server): the AWS CLI is a script that serves one dead-lettered message (invisible once
   * received), keeps the payload it is asked to invoke with, answers invoke with success or an
   * error, and records deletions.
   */
  function runHandBack(body: string, invokeFails = false) {
    expect(
      snippet,
      "terraform/README.md should show how to hand back the source-deleted rule's dead-lettered events",
    ).toBeDefined();
    const run = runWithStandIns(
      snippet!,
      (state) => ({
        terraform: 'echo "fake-$3"\n',
        aws: `state=${state}
case "$1 $2" in
  "sqs receive-message") echo "$*" >> "$state/received"; if [ -e "$state/served" ]; then echo null; else touch "$state/served"; cat "$state/message.json"; fi ;;
  "lambda invoke") echo "$*" >> "$state/invoked"; for arg; do case "$arg" in file://*) cp "\${arg#file://}" "$state/payload.json" ;; esac; done
    ${invokeFails ? 'echo "An error occurred (TooManyRequestsException) when calling the Invoke operation: Rate exceeded" >&2; exit 254' : 'exit 0'} ;;
  "sqs delete-message") echo "$*" >> "$state/deleted" ;;
  *) echo "unexpected: $*" >&2; exit 2 ;;
esac
`,
      }),
      { files: { 'message.json': JSON.stringify({ MessageId: 'm-1', ReceiptHandle: 'rh-1', Body: body }) } },
    );
    expect(run.stderr).not.toContain('unexpected');
    return {
      received: run.files.received ?? '',
      invoked: run.files.invoked ?? '',
      payload: run.files['payload.json'],
      deleted: run.files.deleted ?? '',
    };
  }

  it('hands the event itself back to the live alias, which takes it as the removal, then deletes the message', () => {
    const { received, invoked, payload, deleted } = runHandBack(JSON.stringify(deletion));
    expect(received).toContain('--queue-url fake-source_deleted_dlq_url');
    expect(invoked).toContain('--function-name fake-lambda_alias_arn');
    expect(invoked).toContain('--invocation-type Event');
    expect(JSON.parse(payload!)).toEqual(deletion);
    const parsed = parseS3Event(JSON.parse(payload!));
    expect(parsed.kind).toBe('records');
    expect(
      parsed.kind === 'records' &&
        parsed.changes.map((change) => [change.kind, change.object.bucket, change.object.key]),
    ).toEqual([['removed', 'imgpipe-prod-source-123456789012', 'uploads/a b.jpg']]);
    expect(deleted).toContain('--receipt-handle rh-1');
  });

  it('keeps the message in the queue when the invocation is refused', () => {
    const { invoked, deleted } = runHandBack(JSON.stringify(deletion), true);
    expect(invoked).toContain('--function-name fake-lambda_alias_arn');
    expect(deleted).toBe('');
  });

  it('stops at a message that is not an Object Deleted event (a Lambda invocation record), leaving it in the queue', () => {
    const { invoked, deleted } = runHandBack(JSON.stringify({ requestPayload: deletion }));
    expect(invoked).toBe('');
    expect(deleted).toBe('');
  });

  it('reads outputs the deployment has', () => {
    const outputs = Object.keys(dir(ROOT).output);
    const used = [...snippet!.matchAll(/terraform output -raw (\w+)/g)].map((match) => match[1]!);
    expect(used).toEqual(['source_deleted_dlq_url', 'lambda_alias_arn']);
    for (const name of used) expect(outputs, name).toContain(name);
  });
});

describe('modules/workflow: pointers to its own README', () => {
  it('name a heading or a paragraph title of modules/workflow/README.md', () => {
    // `(README.md, "Sizing")` in an alarm's description, an error message or a comment: the place an
    // operator is sent to must exist (a `terraform/README.md, "..."` pointer is checked above).
    const workflowDir = join(TERRAFORM_DIR, 'modules', 'workflow');
    const readme = readFileSync(join(workflowDir, 'README.md'), 'utf8');
    const titles = [
      ...[...readme.matchAll(/^#{2,4} (.+)$/gm)].map((m) => m[1]!),
      ...[...readme.matchAll(/\*\*([^*]+?)\.\*\*/g)].map((m) => m[1]!),
    ];
    let pointers = 0;
    for (const file of readdirSync(workflowDir).filter((f) => f.endsWith('.tf'))) {
      const text = readFileSync(join(workflowDir, file), 'utf8');
      for (const [, title] of text.matchAll(/(?<![\w/.])README\.md, \\?"([^"\\]+)\\?"/g)) {
        pointers++;
        expect(titles, `${file}: README.md, "${title}"`).toContain(title);
      }
    }
    expect(pointers).toBeGreaterThanOrEqual(5);
  });
});

describe('terraform/README.md, starting the uploads the upload rule could not deliver', () => {
  const readme = readFileSync(join(TERRAFORM_DIR, 'README.md'), 'utf8');
  const section = readme.slice(
    readme.indexOf('### Dead-letter queue'),
    readme.indexOf('### Reprocessing existing objects'),
  );
  const snippet = [...section.matchAll(/```sh\n([\s\S]*?)```/g)]
    .map((match) => match[1]!)
    .find((block) => block.includes('upload_state_machine_arn'));
  const machine = 'arn:aws:states:eu-west-1:123456789012:stateMachine:imgpipe-prod-upload';
  // What EventBridge puts in the rule's dead-letter queue: the event itself.
  const upload = {
    version: '0',
    id: '2ba3e2f5-cd54-4c33-8a0e-e7a2a1f0b0a1',
    'detail-type': 'Object Created',
    source: 'aws.s3',
    account: '123456789012',
    time: '2026-12-03T17:00:00Z',
    region: 'eu-west-1',
    resources: ['arn:aws:s3:::imgpipe-prod-source-123456789012'],
    detail: {
      version: '0',
      bucket: { name: 'imgpipe-prod-source-123456789012' },
      object: {
        key: 'uploads/a b.jpg',
        size: 1024,
        etag: 'd41d8cd98f00b204e9800998ecf8427e',
        sequencer: '00617F08299329D189',
      },
      'request-id': 'N4N7GDK58NMKJ12R',
      requester: '123456789012',
      reason: 'PutObject',
    },
  };

  /**
   * The README's loop, run by bash with real jq and `aws` and `terraform` stand-ins on PATH (no
   * local SQS server; Step Functions' StartExecution is answered by the stand-in, which keeps the
   * input it was given): one dead-lettered message, invisible once received.
   */
  function runStart(body: string, startFails = false) {
    expect(
      snippet,
      "terraform/README.md should show how to start the upload rule's dead-lettered events",
    ).toBeDefined();
    const run = runWithStandIns(
      snippet!,
      (state) => ({
        terraform: `case "$1 $2 $3" in
  "output -raw upload_state_machine_arn") printf %s ${machine} ;;
  *) echo "unexpected: terraform $*" >&2; exit 2 ;;
esac
`,
        aws: `state=${state}
case "$1 $2" in
  "sqs get-queue-url") echo "$*" >> "$state/queue-url"; echo https://sqs.eu-west-1.amazonaws.com/123456789012/imgpipe-prod-upload-dlq ;;
  "sqs receive-message") echo "$*" >> "$state/received"; if [ -e "$state/served" ]; then echo null; else touch "$state/served"; cat "$state/message.json"; fi ;;
  "stepfunctions start-execution") echo "$*" >> "$state/started"; for arg; do case "$arg" in file://*) cp "\${arg#file://}" "$state/input.json" ;; esac; done
    ${startFails ? 'echo "An error occurred (ThrottlingException) when calling the StartExecution operation: Rate exceeded" >&2; exit 254' : 'echo \'{"executionArn": "x", "startDate": 0}\''} ;;
  "sqs delete-message") echo "$*" >> "$state/deleted" ;;
  *) echo "unexpected: $*" >&2; exit 2 ;;
esac
`,
      }),
      { files: { 'message.json': JSON.stringify({ MessageId: 'm-1', ReceiptHandle: 'rh-1', Body: body }) } },
    );
    expect(run.stderr).not.toContain('unexpected');
    return {
      queueUrl: run.files['queue-url'] ?? '',
      received: run.files.received ?? '',
      started: run.files.started ?? '',
      input: run.files['input.json'],
      deleted: run.files.deleted ?? '',
    };
  }

  it("finds the module's queue, starts the upload state machine with the event itself, as the rule does, then deletes the message", () => {
    const { queueUrl, received, started, input, deleted } = runStart(JSON.stringify(upload));
    // The queue's name, as the module makes it from the state machine's.
    const workflow = dir('modules/workflow');
    expect(readFileSync(join(TERRAFORM_DIR, 'modules', 'workflow', 'main.tf'), 'utf8')).toMatch(
      /state_machine_names\s*= \{ for key in keys\(local\.state_machines\) : key => "\$\{var\.name\}-\$\{key\}" \}/,
    );
    expect(workflow.resource.aws_sqs_queue!.this!.name).toBe(`${DOLLAR}{var.name}-upload-dlq`);
    expect(queueUrl).toContain('--queue-name imgpipe-prod-upload-dlq');
    expect(received).toContain(
      '--queue-url https://sqs.eu-west-1.amazonaws.com/123456789012/imgpipe-prod-upload-dlq',
    );
    expect(started).toContain(`--state-machine-arn ${machine}`);
    // The rule's target passes the event whole (no input, input path or transformer), so the
    // execution gets the same input.
    const target = workflow.resource.aws_cloudwatch_event_target!.this!;
    for (const key of ['input', 'input_path', 'input_transformer']) expect(target).not.toHaveProperty(key);
    expect(JSON.parse(input!)).toEqual(upload);
    const parsed = parseS3Event(JSON.parse(input!));
    expect(
      parsed.kind === 'records' &&
        parsed.changes.map((change) => [change.kind, change.object.bucket, change.object.key]),
    ).toEqual([['created', 'imgpipe-prod-source-123456789012', 'uploads/a b.jpg']]);
    expect(deleted).toContain('--receipt-handle rh-1');
  });

  it('keeps the message in the queue when the start is refused', () => {
    const { started, deleted } = runStart(JSON.stringify(upload), true);
    expect(started).toContain(`--state-machine-arn ${machine}`);
    expect(deleted).toBe('');
  });

  it('stops at a message that is not an Object Created event, leaving it in the queue', () => {
    const { started, deleted } = runStart(JSON.stringify({ requestPayload: upload }));
    expect(started).toBe('');
    expect(deleted).toBe('');
  });

  it('reads outputs the deployment has', () => {
    const used = [...snippet!.matchAll(/terraform output -raw (\w+)/g)].map((match) => match[1]!);
    expect(used).toEqual(['upload_state_machine_arn']);
    for (const name of used) expect(Object.keys(dir(ROOT).output), name).toContain(name);
  });
});

describe('terraform/README.md, rolling back by hand', () => {
  const readme = readFileSync(join(TERRAFORM_DIR, 'README.md'), 'utf8');
  const section = readme.slice(
    readme.indexOf('**Rolling back by hand**'),
    readme.indexOf('### Changing architecture'),
  );
  const block = /```sh\n([\s\S]*?)```/.exec(section)![1]!;
  // The completed release's part (the first command needs a deployment ID), for version 6.
  const completed = block.slice(block.indexOf('fn=imgpipe-$env')).replace('<previous version>', '6');

  /**
   * The README's commands, run by bash with real jq and an `aws` stand-in (no local CodeDeploy or
   * Lambda): get-alias answers version 7, create-deployment records its arguments, one a line.
   */
  function runRollback(): string[] {
    const run = runWithStandIns(
      completed,
      (state) => ({
        aws: `case "$1 $2" in
  "lambda get-alias") echo 7 ;;
  "deploy create-deployment") printf '%s\\n' "$@" > "${state}/created" ;;
  *) echo "unexpected: $*" >&2; exit 2 ;;
esac
`,
      }),
      { bashFlags: ['-e'], env: { env: 'prod' } },
    );
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    return run.files.created!.split('\n');
  }

  it('moves the live alias back from the live version to the one named', () => {
    const args = runRollback();
    const revision = JSON.parse(args[args.indexOf('--revision') + 1]!);
    expect(revision.revisionType).toBe('AppSpecContent');
    expect(JSON.parse(revision.appSpecContent.content).Resources[0].imgpipe.Properties).toEqual({
      Name: 'imgpipe-prod',
      Alias: 'live',
      CurrentVersion: '7',
      TargetVersion: '6',
    });
  });

  it('is not stopped by the alarms the rolled-back version set off, and moves all traffic at once', () => {
    // The group's alarms (errors, failure ratio, the newest version's canary alarms) are in ALARM
    // because of the version being left: with them on, CodeDeploy stops the rollback at once and
    // routes the alias back to it. The group's canary steps would leave it 90% of the traffic.
    const args = runRollback();
    const value = (flag: string) => (args.includes(flag) ? args[args.indexOf(flag) + 1] : undefined);
    expect(value('--override-alarm-configuration')).toBe('enabled=false');
    expect(value('--deployment-config-name')).toBe('CodeDeployDefault.LambdaAllAtOnce');
  });
});

describe('Monitoring', () => {
  it('alarms from one map: errors, throttles, p99 near the timeout, lost events, old events, the new version', () => {
    const alarm = imgpipe.resource.aws_cloudwatch_metric_alarm!.this!;
    expect(alarm.for_each).toBe(
      'merge(local.alarms, { for key, alarm in local.source_deleted_alarms : key => alarm if var.source_events_to_eventbridge })',
    );
    expect(alarm.alarm_name).toBe('$' + '{var.name}-$' + '{each.key}');
    const alarms = imgpipe.locals.alarms;
    const metric = (key: string) => [alarms[key].namespace, alarms[key].metric];
    expect(metric('errors')).toEqual(['AWS/Lambda', 'Errors']);
    expect(metric('throttles')).toEqual(['AWS/Lambda', 'Throttles']);
    expect(alarms['duration-p99']).toMatchObject({
      metric: 'Duration',
      extended_statistic: 'p99',
      threshold: 'local.duration_threshold_ms',
    });
    expect(imgpipe.locals.duration_threshold_ms).toBe(
      'var.timeout * 1000 * var.alarm_duration_percent_of_timeout / 100',
    );
    expect(imgpipe.variable.alarm_duration_percent_of_timeout!.default).toBe(80);
    expect(metric('dead-letter-queue')).toEqual(['AWS/SQS', 'ApproximateNumberOfMessagesVisible']);
    expect(metric('async-event-age')).toEqual(['AWS/Lambda', 'AsyncEventAge']);
    expect(metric('async-events-dropped')).toEqual(['AWS/Lambda', 'AsyncEventsDropped']);
    expect(metric('destination-delivery-failures')).toEqual(['AWS/Lambda', 'DestinationDeliveryFailures']);
    // Every alarm waits for 3 of 5 datapoints, but those counting lost events, where one is a loss.
    expect(imgpipe.locals.alarm_evaluation).toEqual({
      noisy: { evaluation_periods: 5, datapoints_to_alarm: 3 },
      loss: { evaluation_periods: 1, datapoints_to_alarm: 1 },
    });
    const loss = Object.keys(alarms).filter((key) => alarms[key].evaluation === 'loss');
    expect(loss.sort()).toEqual([
      'async-events-dropped',
      'dead-letter-queue',
      'destination-delivery-failures',
      'events-failed',
      'image-alerts-failed',
    ]);
    for (const key of Object.keys(alarms)) expect(['noisy', 'loss'], key).toContain(alarms[key].evaluation);
    expect(alarm.alarm_actions).toBe('each.value.notify ? local.alarm_actions : []');
    for (const key of ['errors', 'throttles', 'duration-p99', 'dead-letter-queue', 'async-event-age'])
      expect(alarms[key].notify, key).toBe(true);
    const ratio = imgpipe.resource.aws_cloudwatch_metric_alarm!.ratio!;
    expect([ratio.evaluation_periods, ratio.datapoints_to_alarm]).toEqual([5, 3]);
    expect(imgpipe.resource.aws_cloudwatch_metric_alarm!.status_throttles).toMatchObject({
      evaluation_periods: 5,
      datapoints_to_alarm: 3,
    });
    // No alarm block repeated by hand: one map, two metric-math maps, the status table's.
    expect(Object.keys(imgpipe.resource.aws_cloudwatch_metric_alarm!).sort()).toEqual([
      'canary',
      'ratio',
      'status_throttles',
      'this',
    ]);
  });

  it('keeps, in the workflow mode, deletions the source-deleted rule could not deliver, and alarms on them', () => {
    // A delivery failed for good (refused, or throttled past the retry policy) is a removal not
    // recorded, the outputs left published: the rule's own dead-letter queue keeps the event.
    const rule = imgpipe.resource.aws_cloudwatch_event_rule!.source_deleted!;
    expect(rule.count).toBe('var.source_events_to_eventbridge ? 1 : 0');
    expect(rule.name).toBe('local.source_deleted_rule_name');
    expect(imgpipe.locals.source_deleted_rule_name).toBe(`${DOLLAR}{var.name}-source-deleted`);
    // On the default bus.
    expect(rule.event_bus_name).toBeUndefined();
    const target = imgpipe.resource.aws_cloudwatch_event_target!.source_deleted!;
    expect(blocks(target, 'dead_letter_config')).toEqual([{ arn: 'aws_sqs_queue.source_deleted[0].arn' }]);
    expect(blocks(target, 'retry_policy')).toHaveLength(1);
    const queue = imgpipe.resource.aws_sqs_queue!.source_deleted!;
    // Encrypted by SQS: a customer managed key would need a key policy letting EventBridge use it.
    expect(queue.sqs_managed_sse_enabled).toBe(true);
    expect(queue.kms_master_key_id).toBeUndefined();
    expect(queue.name).toBe('local.source_deleted_dlq_name');
    const alarms = imgpipe.locals.source_deleted_alarms;
    const loss = { evaluation: 'loss', threshold: 0, release: false, notify: true };
    expect(alarms['source-deleted-failed']).toMatchObject({
      ...loss,
      namespace: 'AWS/Events',
      metric: 'FailedInvocations',
      dimensions: { RuleName: 'local.source_deleted_rule_name' },
    });
    expect(alarms['source-deleted-dead-letter-queue']).toMatchObject({
      ...loss,
      namespace: 'AWS/SQS',
      metric: 'ApproximateNumberOfMessagesVisible',
      dimensions: { QueueName: 'local.source_deleted_dlq_name' },
    });
    expect(alarms['source-deleted-dead-letter-failed']).toMatchObject({
      ...loss,
      namespace: 'AWS/Events',
      metric: 'InvocationsFailedToBeSentToDlq',
      dimensions: { RuleName: 'local.source_deleted_rule_name' },
    });
  });

  it('has CodeDeploy act on the new version’s own alarms alone, never on one over the whole function', () => {
    // A function-wide alarm counts mostly the version being replaced: during its incident (errors,
    // throttling, failures) it stays in ALARM, and CodeDeploy stops at once, and rolls back, the
    // release that fixes it; during a canary it rolls a healthy version back for the old one's faults.
    const single = imgpipe.locals.alarms;
    const canary = imgpipe.locals.canary_alarms;
    const ratios = imgpipe.locals.ratio_alarms;
    const released = [
      ...Object.keys(single).filter((key) => single[key].release === true),
      ...Object.keys(canary).filter((key) => canary[key].release === true),
      ...Object.keys(ratios).filter((key) => ratios[key].release === true),
    ].sort();
    expect(released).toEqual([
      'canary-duration-p99',
      'canary-errors',
      'canary-failure-ratio',
      'canary-quarantine-ratio',
    ]);
    for (const key of released) {
      expect(key in single, key).toBe(false);
      if (key in canary) continue;
      expect(ratios[key].dimensions[VERSION_DIMENSION], key).toBe(
        `${DOLLAR}{var.name}:${DOLLAR}{local.published_version}`,
      );
    }
    const codedeploy = imgpipe.locals.release_alarm_names as string;
    for (const map of ['alarms', 'canary_alarms', 'ratio_alarms'])
      expect(codedeploy).toContain(`local.${map} :`);
  });

  it('has the canary errors and p99 alarms see the new version however a release invokes it: behind the alias and as its version', () => {
    // Lambda publishes a metric under the qualifier invoked (Resource), and ExecutedVersion only
    // for an alias's invocations. The release checks (BeforeAllowTraffic) and deploy.yml's synthetic
    // traffic invoke TargetVersion itself, so that they reach it whatever its weight: alarms on the
    // alias's dimensions alone never saw them, and a version failing every one of them passed.
    const fn = 'aws_lambda_function.this.function_name';
    expect(imgpipe.locals.canary_dimensions).toEqual({
      alias: {
        FunctionName: fn,
        Resource: `${DOLLAR}{${fn}}:${DOLLAR}{aws_lambda_alias.this.name}`,
        ExecutedVersion: 'local.published_version',
      },
      version: { FunctionName: fn, Resource: `${DOLLAR}{${fn}}:${DOLLAR}{local.published_version}` },
    });
    const alarm = imgpipe.resource.aws_cloudwatch_metric_alarm!.canary!;
    expect(alarm.for_each).toBe('local.canary_alarms');
    const [series] = alarm.dynamic.metric_query;
    expect(series.for_each).toBe('local.canary_dimensions');
    expect(series.content[0].id).toBe('metric_query.key');
    expect(series.content[0].metric[0]).toMatchObject({
      namespace: 'AWS/Lambda',
      metric_name: 'each.value.metric',
      dimensions: 'metric_query.value',
      stat: 'each.value.stat',
    });
    expect(alarm.metric_query).toEqual([
      expect.objectContaining({ expression: 'each.value.expression', return_data: true }),
    ]);
    const canary = imgpipe.locals.canary_alarms;
    expect(canary['canary-errors']).toMatchObject({ metric: 'Errors', stat: 'Sum', threshold: 0 });
    expect(canary['canary-duration-p99']).toMatchObject({
      metric: 'Duration',
      stat: 'p99',
      threshold: 'local.duration_threshold_ms',
    });
    // Every expression reads both series, by the ids the dynamic block gives them.
    for (const [key, { expression }] of Object.entries<{ expression: string }>(canary))
      for (const id of Object.keys(imgpipe.locals.canary_dimensions))
        expect(expression, key).toMatch(new RegExp(`\\b${id}\\b`));
    expect([alarm.evaluation_periods, alarm.datapoints_to_alarm]).toEqual([
      'local.alarm_evaluation.noisy.evaluation_periods',
      'local.alarm_evaluation.noisy.datapoints_to_alarm',
    ]);
    // Who invokes the version itself: the BeforeAllowTraffic check (TargetVersion), and deploy.yml.
    const deploy = readFileSync(join(REPO_ROOT, '.github', 'workflows', 'deploy.yml'), 'utf8');
    expect(deploy).toContain('aws lambda invoke --function-name "$FUNCTION" --qualifier "$TARGET"');
    const check = readFileSync(join(REPO_ROOT, 'src', 'handlers', 'release-check.ts'), 'utf8');
    expect(check).toContain('let qualifier = spec.targetVersion;');
  });

  it('judges the new version by its quarantine and failure ratios (outcome metrics with a version dimension)', () => {
    const ratios = imgpipe.locals.ratio_alarms;
    expect(Object.keys(ratios).sort()).toEqual([
      'canary-failure-ratio',
      'canary-quarantine-ratio',
      'failure-ratio',
      'quarantine-ratio',
    ]);
    expect(ratios['canary-quarantine-ratio'].dimensions).toEqual({
      service: 'local.service_name',
      [VERSION_DIMENSION]: `${DOLLAR}{var.name}:${DOLLAR}{local.published_version}`,
    });
    expect(ratios['canary-quarantine-ratio'].release).toBe(true);
    expect(ratios['canary-failure-ratio'].release).toBe(true);
    const metrics = Object.values(imgpipe.locals.outcome_metrics).sort();
    const versioned = [...VERSIONED_OUTCOMES].map((status) => STATUS_METRIC[status]).sort();
    expect(metrics).toEqual(versioned);
  });

  it('charts the pipeline’s EMF metrics on the dashboard', () => {
    const widgets = JSON.stringify(imgpipe.locals.dashboard_widgets);
    for (const metric of [
      // Every outcome's count, as the handler names it (ObjectsDeleted was left off the chart).
      ...Object.values(STATUS_METRIC),
      'BytesIn',
      'BytesOut',
      'ReadTime',
      'DecodeTime',
      'ResizeTime',
      'EncodeTime',
      'WriteTime',
      'ProcessingTime',
      'ColdStart',
      'ConcurrentExecutions',
      'Invocations',
    ])
      expect(widgets, metric).toContain(metric);
  });

  it('notifies at 80% and 95% of actual spend and on a forecast above the budget, per environment', () => {
    const budget = imgpipe.resource.aws_budgets_budget!.this!;
    expect(budget).toMatchObject({ budget_type: 'COST', time_unit: 'MONTHLY' });
    expect(budget.dynamic.notification[0].for_each).toBe('local.budget_notifications');
    expect(imgpipe.locals.budget_notifications).toEqual([
      { type: 'ACTUAL', threshold: 80 },
      { type: 'ACTUAL', threshold: 95 },
      { type: 'FORECASTED', threshold: 100 },
    ]);
    expect(budget.dynamic.notification[0].content[0]).toMatchObject({
      threshold_type: 'PERCENTAGE',
      threshold: 'notification.value.threshold',
      notification_type: 'notification.value.type',
    });
    // Each environment's root passes its own tag, so no budget counts the whole account.
    const root = dirs.get('deployment')!;
    expect(root.module.imgpipe!.budget_cost_filter_tag).toEqual({
      key: 'Environment',
      value: 'var.environment',
    });
  });
});

describe('ECR and KMS', () => {
  it('keeps immutable, scanned images and only the last N of them', () => {
    const ecr = dir('modules/imgpipe/modules/ecr-repository');
    const repository = ecr.resource.aws_ecr_repository!.this!;
    expect(repository.image_tag_mutability).toBe('IMMUTABLE');
    expect(repository.image_scanning_configuration[0].scan_on_push).toBe(true);
    expect(ecr.resource.aws_ecr_lifecycle_policy!.this!.policy).toContain('imageCountMoreThan');
    expect(imgpipe.module.ecr!.max_image_count).toBe('var.ecr_max_image_count');
  });

  it('lets the accounts that copy the builds pull the scanner image too, as the function image', () => {
    // release.yml pushes both to dev; deploy.yml copies both, with the staging or prod deploy role.
    expect(imgpipe.module.ecr!.pull_account_ids).toBe('var.ecr_pull_account_ids');
    expect(root.module.workflow!.ecr_pull_account_ids).toBe('var.ecr_pull_account_ids');
    expect(dir('modules/workflow').module.scanner_ecr!.pull_account_ids).toBe('var.ecr_pull_account_ids');
  });

  it('lets the transformation distribution alone decrypt outputs, by the ARN the root passes', () => {
    expect(root.module.imgpipe!.output_cloudfront_distribution_arn).toBe(
      'var.transform.enabled ? module.transform[0].cloudfront_distribution_arn : null',
    );
    // The key is created with the statements that name nothing created after it; the key policy
    // resource adds the distribution's and owns the policy from then on.
    const kms = dir('modules/imgpipe/modules/kms-key');
    const key = kms.resource.aws_kms_key!.this!;
    expect(key.policy).toBe('data.aws_iam_policy_document.at_creation.json');
    expect(key.lifecycle[0].ignore_changes).toEqual(['policy']);
    expect(kms.resource.aws_kms_key_policy!.this).toMatchObject({
      key_id: 'aws_kms_key.this.id',
      policy: 'data.aws_iam_policy_document.complete.json',
    });
    expect(imgpipe.module.kms).toMatchObject({
      source: './modules/kms-key',
      policy_documents: ['data.aws_iam_policy_document.kms.json'],
      late_policy_documents: ['data.aws_iam_policy_document.kms_cloudfront.json'],
    });
    const decrypt = statements(
      documentOf(imgpipe, 'data.aws_iam_policy_document.kms_cloudfront.json'),
    ).filter((s) => s.principals?.[0]?.identifiers?.includes('cloudfront.amazonaws.com'));
    expect(decrypt).toHaveLength(1);
    expect(decrypt[0]!.actions).toEqual(['kms:Decrypt']);
    expect(decrypt[0]!.condition).toEqual([
      { test: 'StringEquals', variable: 'AWS:SourceArn', values: ['statement.value'] },
    ]);
  });

  it('encrypts every log group with a key of the deployment, and keeps it for a set time', () => {
    const groups: string[] = [];
    for (const [path, tf] of dirs) {
      for (const [name, group] of Object.entries(tf.resource.aws_cloudwatch_log_group ?? {})) {
        groups.push(`${path}: ${name}`);
        expect(group.kms_key_id, `${path} aws_cloudwatch_log_group.${name}`).toMatch(
          /^(var\.kms_key_arn|module\.kms\.key_arn)$/,
        );
        expect(group.retention_in_days, `${path} aws_cloudwatch_log_group.${name}`).toBe(
          'var.log_retention_in_days',
        );
      }
    }
    expect(groups).toContain('modules/transform: this');
    // The transformation function's log group, /aws/lambda/<name>-transform, uses the deployment's
    // key, whose policy lets CloudWatch Logs use it for /aws/lambda/<name>-* (modules/imgpipe).
    const transform = dir('modules/transform');
    expect(transform.locals.function_name).toBe(`${DOLLAR}{var.name}-transform`);
    expect(root.module.transform).toMatchObject({
      name: 'local.name',
      kms_key_arn: 'module.imgpipe.kms_key_arn',
    });
    expect(root.module.imgpipe!.name).toBe('local.name');
    expect(imgpipe.locals.log_group_arns).toContain(`${DOLLAR}{local.log_group_arn}-*`);
  });

  it('rotates the key that encrypts the buckets, logs, queue and topic', () => {
    expect(dir('modules/imgpipe/modules/kms-key').resource.aws_kms_key!.this!.enable_key_rotation).toBe(true);
    expect(imgpipe.module.kms!.source).toBe('./modules/kms-key');
    expect(imgpipe.resource.aws_sns_topic!.this!.kms_master_key_id).toBe('module.kms.key_arn');
  });
});

describe('the workflows’ view of the bootstrap', () => {
  const workflow = (name: string) => readFileSync(join(REPO_ROOT, '.github', 'workflows', name), 'utf8');

  it('assumes the roles and uses the state bucket the bootstrap names', () => {
    const prefix = bootstrap.variable.name_prefix!.default;
    expect(prefix).toBe('imgpipe');
    expect(bootstrap.resource.aws_iam_role!.deploy!.name).toMatch(
      /^\$\{var\.name_prefix\}-github-deploy-\$\{each\.key\}$/,
    );
    expect(bootstrap.resource.aws_iam_role!.plan!.name).toMatch(
      /^\$\{var\.name_prefix\}-github-plan-\$\{each\.key\}$/,
    );
    expect(bootstrap.resource.aws_iam_role!.bench!.name).toMatch(/^\$\{var\.name_prefix\}-github-bench$/);
    expect(bootstrap.locals.state_bucket_name).toMatch(
      /^coalesce\(var\.state_bucket_name, "\$\{var\.name_prefix\}-tfstate-\$\{local\.account_id\}-\$\{var\.region\}"\)$/,
    );
    // Each environment's job assumes that environment's role, and only it.
    expect(workflow('release.yml')).toContain(`role/${prefix}-github-deploy-dev`);
    expect(workflow('deploy.yml')).toContain(`role/${prefix}-github-deploy-$ENVIRONMENT`);
    expect(workflow('deploy.yml')).toContain(`role/${prefix}-github-plan-$ENVIRONMENT`);
    expect(workflow('ci.yml')).toContain(`role/${prefix}-github-plan-$ENVIRONMENT`);
    expect(workflow('bench.yml')).toContain(`role/${prefix}-github-bench`);
    expect(workflow('deploy.yml')).toContain(`state_bucket=${prefix}-tfstate-$account-$region`);
    // The root names each environment's deployment as the bootstrap's policies expect.
    expect(root.locals.name).toBe(`${prefix}-\${var.environment}`);
  });
});
