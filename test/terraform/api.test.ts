import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildWeb } from '../../scripts/build-web.ts';
import { API_CORS, UPLOAD_THROTTLE } from '../../src/cli/local-api.ts';
import { API_SETTINGS, ENV } from '../../src/config/settings.ts';
import { ROUTES } from '../../src/handlers/http.ts';
import { type Body, blocks, DOLLAR, documentOf, loadTerraform, statements, type TfDir } from './hcl.ts';

// terraform/modules/api, the HTTP API (issue #12), read with HashiCorp's HCL parser and held to the
// code it deploys: the routes index.api dispatches on, the settings it reads, the page it publishes.
// terraform test (modules/api/tests/api.tftest.hcl) evaluates the same module against a mocked
// provider: the refusal to deploy without authentication, CORS, the custom domain, the page.

let api: TfDir;
let bucket: TfDir;
let kmsKey: TfDir;
let root: TfDir;
let bootstrap: TfDir;

const TOGGLE = 'local.web_enabled ? 1 : 0';
// HCL interpolations in expected values, without a `${` in a plain string literal.

beforeAll(async () => {
  const dirs = await loadTerraform();
  api = dirs.get('modules/api')!;
  bucket = dirs.get('modules/imgpipe/modules/s3-bucket')!;
  kmsKey = dirs.get('modules/imgpipe/modules/kms-key')!;
  root = dirs.get('deployment')!;
  bootstrap = dirs.get('bootstrap')!;
  expect(api, 'terraform/modules/api').toBeDefined();
});

const fn = () => api.resource.aws_lambda_function!.this!;
/** The grants of the API function's role: sorted actions and resources, by sid. */
function grants(): Record<string, { actions: string[]; resources: string[] }> {
  const policy = documentOf(api, api.resource.aws_iam_role_policy!.this!.policy);
  return Object.fromEntries(
    statements(policy).map((s) => [s.sid, { actions: [...s.actions].sort(), resources: s.resources }]),
  );
}

describe('the HTTP API module', () => {
  it('declares exactly the routes index.api dispatches on', () => {
    const routes = String(api.locals.routes)
      .match(/"([^"]+)"/g)!
      .map((r) => r.slice(1, -1));
    expect(routes.sort()).toEqual([...ROUTES].sort());
    const route = api.resource.aws_apigatewayv2_route!.this!;
    expect(route).toMatchObject({
      for_each: 'local.routes',
      route_key: 'each.value',
      authorization_type: 'local.auth_configured ? "JWT" : "NONE"',
      authorizer_id: 'local.auth_configured ? aws_apigatewayv2_authorizer.this[0].id : null',
    });
    // The routes route_throttling accepts are the same ones.
    const accepted = String(api.variable.route_throttling!.validation[0].condition);
    for (const key of ROUTES) expect(accepted).toContain(`"${key}"`);
  });

  it('runs the processing image with the command index.api, behind an AWS_PROXY payload 2.0 integration', () => {
    expect(fn()).toMatchObject({ package_type: 'Image', image_uri: 'var.image_uri' });
    expect(fn().image_config).toEqual([{ command: ['index.api'] }]);
    const entry = readFileSync(join(import.meta.dirname, '../../src/handlers/index.ts'), 'utf8');
    expect(entry).toMatch(/^export const api = /m);
    expect(api.resource.aws_apigatewayv2_integration!.this).toMatchObject({
      integration_type: 'AWS_PROXY',
      integration_uri: 'aws_lambda_function.this.invoke_arn',
      payload_format_version: '2.0',
    });
  });

  it('lets only this API invoke the function', () => {
    expect(api.resource.aws_lambda_permission!.this).toMatchObject({
      action: 'lambda:InvokeFunction',
      principal: 'apigateway.amazonaws.com',
      source_arn: `${DOLLAR}{aws_apigatewayv2_api.this.execution_arn}/*/*`,
    });
  });

  it('verifies tokens with a JWT authorizer from the user pool or the given issuer', () => {
    const authorizer = api.resource.aws_apigatewayv2_authorizer!.this!;
    expect(authorizer).toMatchObject({
      count: 'local.auth_configured ? 1 : 0',
      authorizer_type: 'JWT',
      identity_sources: ['$request.header.Authorization'],
    });
    expect(authorizer.jwt_configuration[0]).toEqual({
      issuer: 'local.jwt_issuer',
      audience: 'local.jwt_audience',
    });
    expect(api.locals.auth_configured).toBe('var.create_cognito_user_pool || var.jwt_issuer != null');
  });

  it('refuses to deploy without authentication unless allow_anonymous is true', () => {
    const conditions = (api.resource.aws_apigatewayv2_api!.this!.lifecycle[0].precondition as Body[]).map(
      (p) => String(p.condition),
    );
    expect(conditions).toContain('local.auth_configured || var.allow_anonymous');
    expect(api.variable.allow_anonymous).toMatchObject({ type: 'bool', default: false, nullable: false });
    // The function is told, and acts as the owner "anonymous" only then.
    expect(String(api.locals.environment)).toMatch(
      new RegExp(
        `${API_SETTINGS.anonymous.env}\\s+= tostring\\(var\\.allow_anonymous && !local\\.auth_configured\\)`,
      ),
    );
  });

  it('refuses a page that would not know where to sign in: web_dir with jwt_issuer and no web_auth', () => {
    const conditions = (api.resource.aws_apigatewayv2_api!.this!.lifecycle[0].precondition as Body[]).map(
      (p) => String(p.condition),
    );
    expect(conditions).toContain('!(local.web_enabled && var.jwt_issuer != null && var.web_auth == null)');
    // Which config.json would otherwise give the page: auth null, "No sign-in needed".
    expect(String(api.locals.web_auth)).toMatch(/: var\.web_auth == null \? null :/);
  });

  it("tells the page another issuer's URL, whose discovery document names where Sign out ends its session", () => {
    // Without it Sign out forgot the page's token alone: the issuer's session signed the next
    // person at the browser in as the previous user, without a prompt.
    expect(String(api.locals.web_auth)).toMatch(
      /: var\.web_auth == null \? null : \{[^}]*\bissuer\s*=\s*var\.jwt_issuer\b/,
    );
  });

  it('refuses * with credentials, and lets API Gateway answer preflights', () => {
    const conditions = (api.resource.aws_apigatewayv2_api!.this!.lifecycle[0].precondition as Body[]).map(
      (p) => String(p.condition),
    );
    expect(conditions).toContain('!(var.cors_allow_credentials && contains(var.cors_allowed_origins, "*"))');
    const cors = blocks(api.resource.aws_apigatewayv2_api!.this!, 'cors_configuration')[0]!;
    // imgpipe dev --cors-origin answers as this configuration does (src/cli/local-api.ts API_CORS).
    expect(cors).toMatchObject({
      allow_origins: 'local.cors_origins',
      allow_credentials: 'var.cors_allow_credentials',
      allow_methods: [...API_CORS.methods],
      allow_headers: [...API_CORS.headers],
      expose_headers: [...API_CORS.exposeHeaders],
      max_age: API_CORS.maxAgeSeconds,
    });
    expect(api.variable.cors_allow_credentials!.default).toBe(false);
  });

  it('throttles the stage and single routes from variables, and logs every request as JSON', () => {
    const stage = api.resource.aws_apigatewayv2_stage!.this!;
    expect(stage.default_route_settings[0]).toEqual({
      throttling_rate_limit: 'var.throttling_rate_limit',
      throttling_burst_limit: 'var.throttling_burst_limit',
    });
    expect(stage.dynamic.route_settings[0].for_each).toBe('local.route_throttling');
    // imgpipe dev holds uploads to the same default (src/cli/local-api.ts UPLOAD_THROTTLE).
    expect(String(api.locals.route_throttling).replace(/\s+/g, ' ')).toContain(
      `"POST /uploads" = { rate_limit = ${UPLOAD_THROTTLE.rate}, burst_limit = ${UPLOAD_THROTTLE.burst} }`,
    );
    const format = String(stage.access_log_settings[0].format);
    for (const variable of ['requestId', 'status', 'routeKey', 'responseLatency', 'authorizer.error'])
      expect(format).toContain(`$context.${variable}`);
    expect(format).toMatch(/^jsonencode\(/);
    expect(stage.access_log_settings[0].destination_arn).toBe('aws_cloudwatch_log_group.access.arn');
  });

  it('sets only settings index.api reads, each from the variable the settings table names', () => {
    const environment = String(api.locals.environment);
    for (const setting of Object.values(API_SETTINGS)) {
      expect(environment, setting.env).toContain(`${setting.env} `);
      if ('terraform' in setting) expect(environment, setting.env).toContain(`var.${setting.terraform}`);
    }
    const known = new Set<string>([...Object.values(ENV), ...Object.values(API_SETTINGS).map((s) => s.env)]);
    for (const [, name] of environment.matchAll(/\b(IMGPIPE_[A-Z_]+)\b/g))
      expect(known, name).toContain(name);
    // What the processing function has and the API must not do: put events. It keeps
    // IMGPIPE_DELETE_OUTPUTS, which DELETE /images reports (the API itself deletes no output).
    expect(environment).toContain('!contains(["IMGPIPE_EVENT_BUS",');
    expect(environment).not.toContain('"IMGPIPE_DELETE_OUTPUTS"');
    for (const [name, setting] of Object.entries(API_SETTINGS)) {
      if (!('min' in setting)) continue;
      const condition = String(api.variable[setting.terraform]!.validation[0].condition);
      expect(condition, name).toContain(`>= ${setting.min}`);
      expect(condition, name).toContain(`<= ${setting.max}`);
    }
  });

  it('grants the function what index.api does, on named resources', () => {
    const g = grants();
    expect(g.SignUploadsUnderTheUploadsPrefix).toEqual({
      actions: ['s3:PutObject'],
      resources: [`${DOLLAR}{var.source_bucket_arn}/${DOLLAR}{var.upload_prefix}*`],
    });
    expect(g.ReadAndDeleteSources!.actions).toEqual(['s3:DeleteObject', 's3:GetObject']);
    expect(g.ReadOutputsAndManifests).toEqual({
      actions: ['s3:GetObject'],
      resources: [`${DOLLAR}{var.output_bucket_arn}/${DOLLAR}{local.output_prefix}*`],
    });
    // A missing source or manifest is then 404 (S3 answers 403 without ListBucket), which the
    // function tells apart: a processed image whose manifest is gone is answered without outputs.
    expect(g.TellMissingKeysApart).toEqual({
      actions: ['s3:ListBucket'],
      resources: ['var.source_bucket_arn', 'var.output_bucket_arn'],
    });
    expect(g.ReadTheStatusTable!.actions).toEqual(['dynamodb:GetItem', 'dynamodb:Query']);
    expect(g.UseTheDeploymentKey).toEqual({
      actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
      resources: ['var.kms_key_arn'],
    });
    // Nothing writes to the output bucket or the table, nothing puts events.
    for (const grant of Object.values(g)) {
      for (const action of grant.actions)
        expect(action).not.toMatch(/^(dynamodb:(Put|Update|Delete)|events:)/);
      if (grant.actions.includes('s3:PutObject') || grant.actions.includes('s3:DeleteObject'))
        for (const resource of grant.resources) expect(resource).toMatch(/^\$\{var\.source_bucket_arn\}/);
      if (grant.resources.includes('*')) expect(grant.actions.every((a) => a.startsWith('xray:'))).toBe(true);
    }
  });
});

describe('the permissions boundary the deployment puts on the API function’s role', () => {
  const boundary = () => statements(bootstrap.data.aws_iam_policy_document!.function_boundary!);

  it('allows every action the module grants the API function', () => {
    const allowed = new Set(boundary().flatMap((s) => s.actions as string[]));
    for (const grant of Object.values(grants()))
      for (const action of grant.actions) expect([...allowed], action).toContain(action);
    expect(root.module.api!.role_permissions_boundary).toBe('local.role_permissions_boundary');
  });

  it('allows deleting sources, which DELETE /images does, in the deployments’ source buckets only', () => {
    const deletes = boundary()
      .filter((s) => s.actions.includes('s3:DeleteObject'))
      .flatMap((s) => s.resources as string[]);
    expect(deletes).toContain(
      `${DOLLAR}{local.arn}:s3:::${DOLLAR}{each.value.name}-source-${DOLLAR}{local.account_id}/*`,
    );
    // Besides sources and outputs, only the workflow's signature database (modules/workflow) and
    // the release check's quarantine record (modules/imgpipe, codedeploy.tf).
    const allowed =
      /-(source|output)-\$\{local\.account_id\}\/\*$|-workflow-\$\{local\.account_id\}\/clamav\/\*$|-quarantine-\$\{local\.account_id\}\/reasons\/imgpipe-release-check\/\*$/;
    expect(deletes.filter((r) => !allowed.test(r))).toEqual([]);
  });
});

describe('the web page on S3 behind CloudFront', () => {
  it('goes through the shared s3-bucket module, readable by its distribution alone', () => {
    const web = api.module.web_bucket!;
    expect(web).toMatchObject({
      source: '../imgpipe/modules/s3-bucket',
      count: TOGGLE,
      kms_key_arn: 'module.kms.key_arn',
      cloudfront_distribution_arns: ['aws_cloudfront_distribution.this[0].arn'],
    });
    const grant = statements(bucket.data.aws_iam_policy_document!.this!).find(
      (s) => s.sid === 'CloudFrontReadsThroughOriginAccessControl',
    )!;
    expect(grant.actions).toEqual(['s3:GetObject']);
    expect(grant.principals[0]).toEqual({ type: 'Service', identifiers: ['cloudfront.amazonaws.com'] });
    expect(grant.condition[0]).toEqual({
      test: 'StringEquals',
      variable: 'AWS:SourceArn',
      values: 'statement.value',
    });
  });

  it('lets the distribution, through origin access control, decrypt the page with the API key', () => {
    const distribution = api.resource.aws_cloudfront_distribution!.this!;
    expect(distribution.origin[0]).toMatchObject({
      domain_name: 'module.web_bucket[0].s3_bucket_regional_domain_name',
      origin_access_control_id: 'aws_cloudfront_origin_access_control.this[0].id',
    });
    expect(distribution.default_cache_behavior[0].viewer_protocol_policy).toBe('redirect-to-https');
    expect(api.resource.aws_cloudfront_origin_access_control!.this).toMatchObject({
      origin_access_control_origin_type: 's3',
      signing_behavior: 'always',
      signing_protocol: 'sigv4',
    });
    // The API's key goes through the shared kms-key module (rotation, administration).
    const key = api.module.kms!;
    expect(key.source).toBe('../imgpipe/modules/kms-key');
    expect(kmsKey.resource.aws_kms_key!.this!.enable_key_rotation).toBe(true);
    const decrypt = statements(documentOf(api, (key.policy_documents as string[])[0])).find(
      (s) => s.sid === 'TheWebDistributionDecryptsThePage',
    )!;
    expect(decrypt.actions).toEqual(['kms:Decrypt']);
    expect(decrypt.principals[0].identifiers).toEqual(['cloudfront.amazonaws.com']);
    expect(decrypt.condition[0]).toMatchObject({ test: 'StringEquals', variable: 'AWS:SourceArn' });
    // In the policy from the key's creation on: the distribution exists before the key.
    expect(key.late_policy_documents).toBeUndefined();
  });

  it('publishes what npm run build:web writes, each file with a content type', async () => {
    const outdir = join(mkdtempSync(join(tmpdir(), 'imgpipe-web-')), 'dist-web');
    const names = await buildWeb(outdir);
    expect(readdirSync(outdir).sort()).toEqual([...names].sort());
    expect(names).toContain('index.html');
    const types = api.locals.content_types as Record<string, string>;
    for (const name of names) expect(types[extname(name).slice(1)], name).toMatch(/^[a-z]+\/[a-z]+/);
    expect(readFileSync(join(outdir, 'app.js'), 'utf8')).toContain('config.json');
    // The module's config.json carries what the page reads.
    const config = String(api.resource.aws_s3_object!.web_config!.content);
    expect(config).toBe(
      'jsonencode({ apiUrl = local.api_url, auth = local.web_auth, failedIsFinal = var.failed_is_final })',
    );
  });

  it('empties only a new, empty or earlier build of the page, since it removes the folder whole', async () => {
    // `--outdir .` removed the repository, sources and .git, before it wrote the page there.
    const own = mkdtempSync(join(tmpdir(), 'imgpipe-not-web-'));
    try {
      writeFileSync(join(own, 'notes.txt'), 'mine');
      await expect(buildWeb(own)).rejects.toThrow(
        `--outdir ${own} holds notes.txt, which no build of the page writes: a build empties its folder, so give a new, empty or earlier build's folder`,
      );
      expect(readFileSync(join(own, 'notes.txt'), 'utf8')).toBe('mine');
    } finally {
      rmSync(own, { recursive: true, force: true });
    }
    // An earlier build's folder is built again.
    const outdir = join(mkdtempSync(join(tmpdir(), 'imgpipe-web-')), 'dist-web');
    const names = await buildWeb(outdir);
    expect((await buildWeb(outdir)).sort()).toEqual([...names].sort());
    expect(readdirSync(outdir).sort()).toEqual([...names].sort());
  });
});

describe('alarms and dashboard', () => {
  it('alarm on 5xx, the 4xx share and p99 latency, and chart them', () => {
    const alarms = api.resource.aws_cloudwatch_metric_alarm!;
    expect(alarms.server_errors).toMatchObject({ namespace: 'AWS/ApiGateway', metric_name: '5xx' });
    expect(alarms.latency).toMatchObject({ metric_name: 'Latency', extended_statistic: 'p99' });
    const queries = (alarms.client_errors!.metric_query as Body[]).map((q) => q.metric?.[0]?.metric_name);
    expect(queries).toEqual(expect.arrayContaining(['4xx', 'Count']));
    for (const alarm of Object.values(alarms)) expect(alarm.alarm_actions).toBe('local.alarm_actions');
    const dashboard = String(api.resource.aws_cloudwatch_dashboard!.this!.dashboard_body);
    for (const metric of ['"4xx"', '"5xx"', '"Latency"', '"IntegrationLatency"', '"Count"'])
      expect(dashboard).toContain(metric);
  });
});

describe('the deployment', () => {
  it('calls the module only when api.enabled, off by default, with the processing function’s outputs', () => {
    const call = root.module.api!;
    expect(call).toMatchObject({
      source: '../modules/api',
      count: 'var.api.enabled ? 1 : 0',
      image_uri: 'module.imgpipe.lambda_function_image_uri',
      function_environment: 'module.imgpipe.lambda_environment',
      status_table_arn: 'module.imgpipe.status_table_arn',
      alarm_topic_arn: 'module.imgpipe.sns_topic_arn',
      allow_anonymous: 'var.api.allow_anonymous',
    });
    expect(root.variable.api!.default).toEqual({});
    expect(String(root.variable.api!.type)).toMatch(/enabled\s*=\s*optional\(bool, false\)/);
    expect(String(root.variable.api!.type)).toMatch(/allow_anonymous\s*=\s*optional\(bool, false\)/);
    // Every key of the api object reaches the module (or decides whether it is called).
    const keys = [...String(root.variable.api!.type).matchAll(/^\s{4}(\w+)\s*=/gm)].map((m) => m[1]!);
    for (const key of keys.filter((k) => k !== 'enabled'))
      expect(JSON.stringify(call), key).toContain(`var.api.${key}`);
  });
});
